// likelihood.h — negative log-likelihoods of data x under the decoder's output, per row, with their backward.
// x and every per-element decoder output (logits, mean, log-rate, dropout logits): (B, D) row-major; nll and d_nll:
// (B); per-row offsets (the log library size of count models): (B). Backward kernels accumulate into their outputs.
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

// nll[b] = Σ_d softplus(l) − x·l (= −log Bernoulli(x | sigmoid(l)), also for x ∈ [0, 1]); stable for any |l|.
// probs (nullable, saved for backward): sigmoid(logits).  nll: (B); probs, logits, x: (B, D)
Status bernoulli_logits_nll_forward(float* nll, float* probs, const float* logits, const float* x, int64_t B,
                                    int64_t D);
// d_logits += d_nll[b] · (probs − x).  d_logits, probs, x: (B, D); d_nll: (B)
Status bernoulli_logits_nll_backward(float* d_logits, const float* d_nll, const float* probs, const float* x,
                                     int64_t B, int64_t D);

// How a Gaussian's log-variance is laid out: one value, one per feature (D), or one per element (B, D).
enum class LogVarShape { Scalar = 0, Feature = 1, Element = 2 };

// nll[b] = 0.5 Σ_d [ (x − mean)² · exp(−lv) + lv + log 2π ].  nll: (B); mean, x: (B, D); log_var per lv_shape.
Status gaussian_nll_forward(float* nll, const float* mean, const float* log_var, LogVarShape lv_shape, const float* x,
                            int64_t B, int64_t D);
// d_mean += d_nll[b] · (mean − x) · exp(−lv);  d_log_var (nullable, same shape as log_var, reduced over the
// broadcast axes) += d_nll[b] · 0.5 · (1 − (x − mean)² · exp(−lv)).
Status gaussian_nll_backward(float* d_mean, float* d_log_var, const float* d_nll, const float* mean,
                             const float* log_var, LogVarShape lv_shape, const float* x, int64_t B, int64_t D);

// Laplace with log-scale s = log b laid out per lv_shape: nll[b] = Σ_d [ |x − mean| · exp(−s) + s + log 2 ].
Status laplace_nll_forward(float* nll, const float* mean, const float* log_scale, LogVarShape shape, const float* x,
                           int64_t B, int64_t D);
// d_mean += d_nll[b] · sign(mean − x) · exp(−s);  d_log_scale (nullable) += d_nll[b] · (1 − |x − mean| · exp(−s)).
Status laplace_nll_backward(float* d_mean, float* d_log_scale, const float* d_nll, const float* mean,
                            const float* log_scale, LogVarShape shape, const float* x, int64_t B, int64_t D);

// A decoder-output log-scale with a floor: out = log(exp(raw) + exp(floor)), so the scale never falls below
// exp(floor) (the guard against the Gaussian likelihood's singularity at σ → 0).  out, raw: (n)
Status floored_log_forward(float* out, const float* raw, float floor, int64_t n);
// d_raw += d_out · sigmoid(raw − floor)
Status floored_log_backward(float* d_raw, const float* d_out, const float* raw, float floor, int64_t n);

// Poisson with log-rate η = log_rate + offset[b] (offset nullable: 0):
//   nll[b] = Σ_d exp(η) − x·η + lgamma(x + 1).
Status poisson_nll_forward(float* nll, const float* log_rate, const float* offset, const float* x, int64_t B,
                           int64_t D);
// d_log_rate += d_nll[b] · (exp(η) − x)
Status poisson_nll_backward(float* d_log_rate, const float* d_nll, const float* log_rate, const float* offset,
                            const float* x, int64_t B, int64_t D);

// Negative binomial with mean μ = exp(log_mean + offset[b]) and inverse dispersion θ_d = exp(log_theta[d]) (D),
// NB(x; μ, θ) = Γ(x + θ) / (Γ(θ) x!) · (θ / (θ + μ))^θ · (μ / (θ + μ))^x, so Var x = μ + μ²/θ. With dropout_logits
// (nullable, (B, D)) it is zero-inflated (ZINB, as scVI): p(x) = π·[x = 0] + (1 − π)·NB(x), π = sigmoid(dropout).
Status nb_nll_forward(float* nll, const float* log_mean, const float* log_theta, const float* dropout_logits,
                      const float* offset, const float* x, int64_t B, int64_t D);
// Accumulates ∂(Σ_b d_nll[b] · nll[b]) into d_log_mean (B, D), d_log_theta (D, nullable) and d_dropout_logits
// (B, D; used when dropout_logits is given).
Status nb_nll_backward(float* d_log_mean, float* d_log_theta, float* d_dropout_logits, const float* d_nll,
                       const float* log_mean, const float* log_theta, const float* dropout_logits,
                       const float* offset, const float* x, int64_t B, int64_t D);

}  // namespace lk
