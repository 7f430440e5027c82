// likelihood.cpp — see likelihood.h. Each row is one call of a multiversioned inner loop.
#include "likelihood.h"


#include <algorithm>
#include <cmath>

#include "fast_math.h"
#include "threads.h"
#include "special.h"

namespace lk {

namespace {
// Count likelihoods cost ~50 ns per element (lgamma, digamma, exp in double): worth a parallel region much sooner.
constexpr int64_t kCountParallelMin = int64_t(1) << 14;
constexpr float kLog2 = 0.6931471805599453f;

// `omp simd reduction` lets the compiler reorder the float sum, which it needs to vectorise these row loops.
LK_TARGET_CLONES float bernoulli_row(float* probs, const float* l, const float* x, int64_t D) {
  float s = 0.f;
  if (probs) {
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < D; ++d) {
      const float v = l[d];
      const float e = fast_exp(v < 0.f ? v : -v);  // exp(−|l|) ∈ (0, 1]
      const float one_e = 1.0f + e;
      s += (v > 0.f ? v : 0.f) - x[d] * v + fast_log(one_e);
      probs[d] = (v >= 0.f ? 1.0f : e) / one_e;
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t d = 0; d < D; ++d) {
      const float v = l[d];
      s += (v > 0.f ? v : 0.f) - x[d] * v + fast_log(1.0f + fast_exp(v < 0.f ? v : -v));
    }
  }
  return s;
}

LK_TARGET_CLONES void bernoulli_grad_row(float* dl, float g, const float* p, const float* x, int64_t D) {
  for (int64_t d = 0; d < D; ++d) dl[d] += g * (p[d] - x[d]);
}

// The location-scale families: Gaussian with s = log σ², Laplace with s = log b. lv_stride is 0 for a scalar
// log-scale and 1 for a per-feature or per-element row.
enum class Family { Gaussian, Laplace };

template <Family F>
LK_TARGET_CLONES float location_scale_row(const float* m, const float* lv, int64_t lv_stride, const float* x,
                                          int64_t D) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < D; ++d) {
    const float v = lv[d * lv_stride];
    const float r = x[d] - m[d];
    if constexpr (F == Family::Gaussian)
      s += r * r * fast_exp(-v) + v;
    else
      s += (r < 0.f ? -r : r) * fast_exp(-v) + v;
  }
  if constexpr (F == Family::Gaussian) return 0.5f * (s + static_cast<float>(D) * kLog2Pi);
  return s + static_cast<float>(D) * kLog2;
}

template <Family F>
LK_TARGET_CLONES void location_scale_grad_row(float* dm, float* dlv, int64_t lv_stride, float g, const float* m,
                                              const float* lv, const float* x, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    const float iv = fast_exp(-lv[d * lv_stride]);
    const float r = x[d] - m[d];
    if constexpr (F == Family::Gaussian) {
      dm[d] -= g * r * iv;
      if (dlv) dlv[d * lv_stride] += g * 0.5f * (1.0f - r * r * iv);
    } else {
      const float a = r < 0.f ? -r : r;
      dm[d] -= g * (r > 0.f ? iv : r < 0.f ? -iv : 0.f);
      if (dlv) dlv[d * lv_stride] += g * (1.0f - a * iv);
    }
  }
}

template <Family F>
Status location_scale_forward(float* nll, const float* mean, const float* log_scale, LogVarShape shape,
                              const float* x, int64_t B, int64_t D) {
  const int64_t stride = shape == LogVarShape::Scalar ? 0 : 1;
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const float* lv = shape == LogVarShape::Element ? log_scale + b * D : log_scale;
    nll[b] = location_scale_row<F>(mean + b * D, lv, stride, x + b * D, D);
  }
  return Status::Ok();
}

template <Family F>
Status location_scale_backward(float* d_mean, float* d_log_scale, const float* d_nll, const float* mean,
                               const float* log_scale, LogVarShape shape, const float* x, int64_t B, int64_t D) {
  const int64_t stride = shape == LogVarShape::Scalar ? 0 : 1;
  if (shape == LogVarShape::Element || d_log_scale == nullptr) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t lo = shape == LogVarShape::Element ? b * D : 0;
      location_scale_grad_row<F>(d_mean + b * D, d_log_scale ? d_log_scale + lo : nullptr, stride, d_nll[b],
                                 mean + b * D, log_scale + lo, x + b * D, D);
    }
    return Status::Ok();
  }
  // A shared (scalar or per-feature) log-scale is reduced over rows: serial over rows keeps the sum order fixed.
  if (shape == LogVarShape::Scalar) {
    float acc = 0.f;
    for (int64_t b = 0; b < B; ++b) {
      float local = 0.f;
      location_scale_grad_row<F>(d_mean + b * D, &local, 0, d_nll[b], mean + b * D, log_scale, x + b * D, D);
      acc += local;
    }
    d_log_scale[0] += acc;
  } else {
    for (int64_t b = 0; b < B; ++b)
      location_scale_grad_row<F>(d_mean + b * D, d_log_scale, stride, d_nll[b], mean + b * D, log_scale, x + b * D, D);
  }
  return Status::Ok();
}

// One count element's log-likelihood and, with grads, its derivatives with respect to the log-mean η, the log
// inverse dispersion t = log θ and the dropout logit h (double precision: lgamma differences cancel).
struct CountTerms {
  double ll, d_eta, d_log_theta, d_logit;
};

CountTerms nb_element(double x, double eta, double t, const float* logit, bool grads) {
  const double theta = std::exp(t);
  const double lsum = log_add_exp(t, eta);               // log(θ + μ)
  const double p_theta = std::exp(t - lsum);            // θ / (θ + μ)
  CountTerms c{0, 0, 0, 0};
  const double nb0 = theta * (t - lsum);                // log NB(0)
  c.ll = nb0 + x * (eta - lsum);
  if (x > 0.0) c.ll += log_gamma(x + theta) - log_gamma(theta) - log_gamma(x + 1.0);
  if (grads) {
    c.d_eta = x * p_theta - theta * (1.0 - p_theta);
    c.d_log_theta = theta * (digamma(x + theta) - digamma(theta) + t - lsum + 1.0 - p_theta - x * std::exp(-lsum));
  }
  if (!logit) return c;
  const double h = *logit;
  const double log_pi = -softplus(-h), log_not_pi = -softplus(h);
  if (x > 0.0) {
    c.ll += log_not_pi;
    if (grads) c.d_logit = -std::exp(log_pi);
    return c;
  }
  const double ll = log_add_exp(log_pi, log_not_pi + nb0);
  if (grads) {
    const double w_zero = std::exp(log_pi - ll), w_nb = 1.0 - w_zero;  // posterior of the two ways to a zero
    c.d_logit = w_zero * std::exp(log_not_pi) - w_nb * std::exp(log_pi);
    c.d_eta *= w_nb;
    c.d_log_theta *= w_nb;
  }
  c.ll = ll;
  return c;
}

double offset_of(const float* offset, int64_t b) { return offset ? offset[b] : 0.0; }

// Column blocks for backward passes that reduce over rows into a per-feature gradient: each thread owns whole
// columns, so the sums are race-free and their order is fixed.
constexpr int64_t kColumnBlock = 32;
}  // namespace

Status bernoulli_logits_nll_forward(float* nll, float* probs, const float* logits, const float* x, int64_t B,
                                    int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) nll[b] = bernoulli_row(probs ? probs + b * D : nullptr, logits + b * D, x + b * D, D);
  return Status::Ok();
}

Status bernoulli_logits_nll_backward(float* d_logits, const float* d_nll, const float* probs, const float* x,
                                     int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) bernoulli_grad_row(d_logits + b * D, d_nll[b], probs + b * D, x + b * D, D);
  return Status::Ok();
}

Status gaussian_nll_forward(float* nll, const float* mean, const float* log_var, LogVarShape lv_shape, const float* x,
                            int64_t B, int64_t D) {
  return location_scale_forward<Family::Gaussian>(nll, mean, log_var, lv_shape, x, B, D);
}

Status gaussian_nll_backward(float* d_mean, float* d_log_var, const float* d_nll, const float* mean,
                             const float* log_var, LogVarShape lv_shape, const float* x, int64_t B, int64_t D) {
  return location_scale_backward<Family::Gaussian>(d_mean, d_log_var, d_nll, mean, log_var, lv_shape, x, B, D);
}

Status laplace_nll_forward(float* nll, const float* mean, const float* log_scale, LogVarShape shape, const float* x,
                           int64_t B, int64_t D) {
  return location_scale_forward<Family::Laplace>(nll, mean, log_scale, shape, x, B, D);
}

Status laplace_nll_backward(float* d_mean, float* d_log_scale, const float* d_nll, const float* mean,
                            const float* log_scale, LogVarShape shape, const float* x, int64_t B, int64_t D) {
  return location_scale_backward<Family::Laplace>(d_mean, d_log_scale, d_nll, mean, log_scale, shape, x, B, D);
}

LK_TARGET_CLONES void floored_log_span(float* out, const float* raw, float floor, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = raw[i] - floor;
    out[i] = (d > 0.f ? raw[i] : floor) + fast_log(1.0f + fast_exp(d > 0.f ? -d : d));
  }
}

LK_TARGET_CLONES void floored_log_grad_span(float* d_raw, const float* d_out, const float* raw, float floor,
                                            int64_t n) {
  for (int64_t i = 0; i < n; ++i) d_raw[i] += d_out[i] * fast_sigmoid(raw[i] - floor);
}

Status floored_log_forward(float* out, const float* raw, float floor, int64_t n) {
  floored_log_span(out, raw, floor, n);  // serial: the elementwise-between-GEMMs rule of kElementwiseParallelMin
  return Status::Ok();
}

Status floored_log_backward(float* d_raw, const float* d_out, const float* raw, float floor, int64_t n) {
  floored_log_grad_span(d_raw, d_out, raw, floor, n);
  return Status::Ok();
}

Status poisson_nll_forward(float* nll, const float* log_rate, const float* offset, const float* x, int64_t B,
                           int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kCountParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const float* lr = log_rate + b * D;
    const float* xb = x + b * D;
    const double off = offset_of(offset, b);
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      const double eta = lr[d] + off;
      s += std::exp(eta) - xb[d] * eta + (xb[d] > 0.f ? log_gamma(xb[d] + 1.0) : 0.0);
    }
    nll[b] = static_cast<float>(s);
  }
  return Status::Ok();
}

Status poisson_nll_backward(float* d_log_rate, const float* d_nll, const float* log_rate, const float* offset,
                            const float* x, int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kCountParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const double off = offset_of(offset, b);
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      d_log_rate[i] += static_cast<float>(d_nll[b] * (std::exp(log_rate[i] + off) - x[i]));
    }
  }
  return Status::Ok();
}

Status nb_nll_forward(float* nll, const float* log_mean, const float* log_theta, const float* dropout_logits,
                      const float* offset, const float* x, int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kCountParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const double off = offset_of(offset, b);
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      s -= nb_element(x[i], log_mean[i] + off, log_theta[d], dropout_logits ? dropout_logits + i : nullptr, false).ll;
    }
    nll[b] = static_cast<float>(s);
  }
  return Status::Ok();
}

Status nb_nll_backward(float* d_log_mean, float* d_log_theta, float* d_dropout_logits, const float* d_nll,
                       const float* log_mean, const float* log_theta, const float* dropout_logits,
                       const float* offset, const float* x, int64_t B, int64_t D) {
  const int64_t blocks = (D + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (B * D > kCountParallelMin)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t d0 = blk * kColumnBlock, d1 = std::min(D, d0 + kColumnBlock);
    for (int64_t d = d0; d < d1; ++d) {
      double acc_theta = 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t i = b * D + d;
        const CountTerms c = nb_element(x[i], log_mean[i] + offset_of(offset, b), log_theta[d],
                                        dropout_logits ? dropout_logits + i : nullptr, true);
        const double g = d_nll[b];
        d_log_mean[i] -= static_cast<float>(g * c.d_eta);
        if (dropout_logits) d_dropout_logits[i] -= static_cast<float>(g * c.d_logit);
        acc_theta -= g * c.d_log_theta;
      }
      if (d_log_theta) d_log_theta[d] += static_cast<float>(acc_theta);
    }
  }
  return Status::Ok();
}

}  // namespace lk
