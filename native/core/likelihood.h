// likelihood.h — negative log-likelihoods of data x under the decoder's output, per row, with their backward.
// x, logits, mean: (B, D) row-major; nll and d_nll: (B). Backward kernels accumulate into their outputs.
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

}  // namespace lk
