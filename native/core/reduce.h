// reduce.h — row and column reductions.  x: (B, D) row-major; out: (B) for rows, (D) for columns.
#pragma once
#include <cstdint>
#include <vector>

#include "status.h"

namespace lk {

// out[b] = log Σ_d exp(x_bd), computed as max + log Σ exp(x − max); a row of −Inf gives −Inf.
Status logsumexp_rows_forward(float* out, const float* x, int64_t B, int64_t D);
// d_x += d_out[b] · softmax(x_b).  d_x, x: (B, D); d_out, out: (B) (out from the forward)
Status logsumexp_rows_backward(float* d_x, const float* d_out, const float* x, const float* out, int64_t B, int64_t D);

// out[b] = Σ_d x_bd in double, rounded to float.
Status sum_rows_forward(float* out, const float* x, int64_t B, int64_t D);

// xc (rows, D) = x rows r0 … r0 + rows − 1 minus shift (D), in float32 (vectorised; exact to its rounding).
void centre_rows(float* xc, const float* x, int64_t r0, int64_t rows, int64_t D, const float* shift);

}  // namespace lk
