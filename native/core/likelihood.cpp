// likelihood.cpp — see likelihood.h. Each row is one call of a multiversioned inner loop.
#include "likelihood.h"


#include "fast_math.h"

namespace lk {

namespace {
// Below this many elements a parallel region between GEMMs costs more than it saves: it parks and wakes the
// OpenMP team that oneDNN uses (measured on the VAE step at 2 threads: 35k → 56k examples/s).
constexpr int64_t kParallelMin = int64_t(1) << 20;

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

// lv_stride is 0 for a scalar log-variance and 1 for a per-feature or per-element row.
LK_TARGET_CLONES float gaussian_row(const float* m, const float* lv, int64_t lv_stride, const float* x, int64_t D) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < D; ++d) {
    const float v = lv[d * lv_stride];
    const float r = x[d] - m[d];
    s += r * r * fast_exp(-v) + v;
  }
  return 0.5f * (s + static_cast<float>(D) * kLog2Pi);
}

LK_TARGET_CLONES void gaussian_grad_row(float* dm, float* dlv, int64_t lv_stride, float g, const float* m,
                                        const float* lv, const float* x, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    const float iv = fast_exp(-lv[d * lv_stride]);
    const float r = x[d] - m[d];
    dm[d] -= g * r * iv;
    if (dlv) dlv[d * lv_stride] += g * 0.5f * (1.0f - r * r * iv);
  }
}
}  // namespace

Status bernoulli_logits_nll_forward(float* nll, float* probs, const float* logits, const float* x, int64_t B,
                                    int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kParallelMin)
  for (int64_t b = 0; b < B; ++b) nll[b] = bernoulli_row(probs ? probs + b * D : nullptr, logits + b * D, x + b * D, D);
  return Status::Ok();
}

Status bernoulli_logits_nll_backward(float* d_logits, const float* d_nll, const float* probs, const float* x,
                                     int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kParallelMin)
  for (int64_t b = 0; b < B; ++b) bernoulli_grad_row(d_logits + b * D, d_nll[b], probs + b * D, x + b * D, D);
  return Status::Ok();
}

Status gaussian_nll_forward(float* nll, const float* mean, const float* log_var, LogVarShape lv_shape, const float* x,
                            int64_t B, int64_t D) {
  const int64_t stride = lv_shape == LogVarShape::Scalar ? 0 : 1;
#pragma omp parallel for schedule(static) if (B * D > kParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const float* lv = lv_shape == LogVarShape::Element ? log_var + b * D : log_var;
    nll[b] = gaussian_row(mean + b * D, lv, stride, x + b * D, D);
  }
  return Status::Ok();
}

Status gaussian_nll_backward(float* d_mean, float* d_log_var, const float* d_nll, const float* mean,
                             const float* log_var, LogVarShape lv_shape, const float* x, int64_t B, int64_t D) {
  if (lv_shape == LogVarShape::Element || d_log_var == nullptr) {
    const int64_t stride = lv_shape == LogVarShape::Scalar ? 0 : 1;
#pragma omp parallel for schedule(static) if (B * D > kParallelMin)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t lo = lv_shape == LogVarShape::Element ? b * D : 0;
      gaussian_grad_row(d_mean + b * D, d_log_var ? d_log_var + lo : nullptr, stride, d_nll[b], mean + b * D,
                        log_var + lo, x + b * D, D);
    }
    return Status::Ok();
  }
  // A shared (scalar or per-feature) log-variance is reduced over rows: serial over rows keeps the sum order fixed.
  const int64_t stride = lv_shape == LogVarShape::Scalar ? 0 : 1;
  if (lv_shape == LogVarShape::Scalar) {
    float acc = 0.f;
    for (int64_t b = 0; b < B; ++b) {
      float local = 0.f;
      gaussian_grad_row(d_mean + b * D, &local, 0, d_nll[b], mean + b * D, log_var, x + b * D, D);
      acc += local;
    }
    d_log_var[0] += acc;
  } else {
    for (int64_t b = 0; b < B; ++b)
      gaussian_grad_row(d_mean + b * D, d_log_var, stride, d_nll[b], mean + b * D, log_var, x + b * D, D);
  }
  return Status::Ok();
}

}  // namespace lk
