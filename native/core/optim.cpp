// optim.cpp — see optim.h. One fused pass: moments, bias-corrected update, decoupled decay, grad reset.
#include "optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fast_math.h"
#include "gemm.h"

namespace lk {

namespace {
// With p16, the updated parameter is also written rounded to bf16 (gemm.h's to_bf16), in the same pass.
template <bool kShadow>
LK_TARGET_CLONES void adam_span(float* p, float* m, float* v, float* g, uint16_t* p16, int64_t n, float lr_t, float b1,
                                float b2, float eps_t, float decay, bool zero_grad, float scale) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * scale;
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float pi = p[i] * decay - lr_t * mi / (std::sqrt(vi) + eps_t);
    p[i] = pi;
    if (kShadow) p16[i] = to_bf16(pi);
    if (zero_grad) g[i] = 0.f;
  }
}
}  // namespace

Status adam_step(float* params, float* m, float* v, float* grad, int64_t n, const AdamHyper& h, int64_t step,
                 bool zero_grad, uint16_t* params16, float grad_scale) {
  if (step < 1) return Status::Error(Code::InvalidArgument, "adam step must be >= 1");
  // PyTorch's formulation: p −= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps) == (lr·sqrt(bc2)/bc1) · m / (sqrt(v) + eps·sqrt(bc2)).
  const double bc1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(step));
  const float lr_t = static_cast<float>(h.lr * std::sqrt(bc2) / bc1);
  const float eps_t = static_cast<float>(h.eps * std::sqrt(bc2));
  const float decay = 1.0f - h.lr * h.weight_decay;
  const int64_t chunk = 16384;
  const int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * chunk;
    const int64_t len = (n - lo) < chunk ? (n - lo) : chunk;
    if (params16)
      adam_span<true>(params + lo, m + lo, v + lo, grad + lo, params16 + lo, len, lr_t, h.beta1, h.beta2, eps_t, decay,
                      zero_grad, grad_scale);
    else
      adam_span<false>(params + lo, m + lo, v + lo, grad + lo, nullptr, len, lr_t, h.beta1, h.beta2, eps_t, decay,
                       zero_grad, grad_scale);
  }
  return Status::Ok();
}

double squared_norm(const float* g, int64_t n) {
  const int64_t chunk = 16384;
  const int64_t nchunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(static_cast<size_t>(nchunks), 0.0);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * chunk, hi = std::min(n, lo + chunk);
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += static_cast<double>(g[i]) * g[i];
    partial[static_cast<size_t>(c)] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace lk
