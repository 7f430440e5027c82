// dense.h — fully connected layer with fused bias and activation:  y = act(x · W + b).
// x: (B, I), W: (I, O) row-major (input-major, so the forward is a plain NN GEMM), b: (O), y: (B, O).
// Every activation's derivative is computed from its output y, so y is the only saved buffer.
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

enum class Activation { Identity = 0, Relu = 1, Tanh = 2, LeakyRelu = 3, Softplus = 4 };
constexpr float kLeakyReluSlope = 0.01f;

// y = act(x·W + b).  y: (B, O); x: (B, I); W: (I, O); b: (O)
Status dense_forward(float* y, const float* x, const float* W, const float* b, int64_t B, int64_t I, int64_t O,
                     Activation act);

// Given d_y (B, O), which is overwritten with the pre-activation gradient d_a = d_y ⊙ act'(·):
//   d_W (I, O) += xᵀ·d_a;  d_b (O) += Σ_rows d_a;  d_x (B, I) += d_a·Wᵀ, or = when accumulate_dx is false
//   (d_x may be null when the input needs no gradient).
Status dense_backward(float* d_x, float* d_W, float* d_b, float* d_y, const float* x, const float* W, const float* y,
                      int64_t B, int64_t I, int64_t O, Activation act, bool accumulate_dx);

// In place y = act(y), and d_y *= act'(from y), exposed for the kernels' own tests and for fused plans.
Status activation_forward(float* y, int64_t n, Activation act);
Status activation_backward(float* d_y, const float* y, int64_t n, Activation act);

}  // namespace lk
