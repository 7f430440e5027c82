// reduce.cpp — see reduce.h. Uses libm exp/log: these reductions are not on a hot path and want full accuracy.
#include "reduce.h"

#include "fast_math.h"

#include <cmath>
#include <limits>

namespace lk {

Status logsumexp_rows_forward(float* out, const float* x, int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > 65536)
  for (int64_t b = 0; b < B; ++b) {
    const float* r = x + b * D;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t d = 0; d < D; ++d) mx = r[d] > mx ? r[d] : mx;
    if (!std::isfinite(mx)) {  // all −Inf (or an Inf/NaN present): the plain formula gives the right answer
      double s = 0.0;
      for (int64_t d = 0; d < D; ++d) s += std::exp(static_cast<double>(r[d]));
      out[b] = static_cast<float>(std::log(s));
      continue;
    }
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) s += std::exp(static_cast<double>(r[d] - mx));
    out[b] = mx + static_cast<float>(std::log(s));
  }
  return Status::Ok();
}

Status logsumexp_rows_backward(float* d_x, const float* d_out, const float* x, const float* out, int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > 65536)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t d = 0; d < D; ++d) d_x[b * D + d] += d_out[b] * std::exp(x[b * D + d] - out[b]);
  return Status::Ok();
}

Status sum_rows_forward(float* out, const float* x, int64_t B, int64_t D) {
  for (int64_t b = 0; b < B; ++b) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) s += x[b * D + d];
    out[b] = static_cast<float>(s);
  }
  return Status::Ok();
}

LK_TARGET_CLONES void centre_rows(float* xc, const float* x, int64_t r0, int64_t rows, int64_t D, const float* shift) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < D; ++j) xc[i * D + j] = x[(r0 + i) * D + j] - shift[j];
}

}  // namespace lk
