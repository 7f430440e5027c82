// dense.h — fully connected layer with fused bias and activation:  y = act(x · W + b).
// x: (B, I), W: (I, O) row-major (input-major, so the forward is a plain NN GEMM), b: (O), y: (B, O).
// Every activation's derivative is computed from its output y, so y is the only saved buffer.
#pragma once
#include <cstdint>

#include "gemm.h"
#include "status.h"

namespace lk {

enum class Activation { Identity = 0, Relu = 1, Tanh = 2, LeakyRelu = 3, Softplus = 4 };
constexpr float kLeakyReluSlope = 0.01f;

// y = act(x·W + b).  y: (B, O); x: (B, I); W: (I, O); b: (O)
Status dense_forward(float* y, const float* x, const float* W, const float* b, int64_t B, int64_t I, int64_t O,
                     Activation act);

// Given d_y (B, O), which is overwritten with the pre-activation gradient d_a = d_y ⊙ act'(·):
//   d_W (I, O) = xᵀ·d_a;  d_b (O) = Σ_rows d_a;  d_x (B, I) += d_a·Wᵀ, or = when accumulate_dx is false
//   (d_x may be null when the input needs no gradient). A layer's weight and bias gradients are written, not
//   accumulated (each step's backward visits each layer once): accumulating through the GEMM's beta = 1 made oneDNN's
//   bf16 weight-gradient products 2× slower at batch 128 (the bf16 step 42k → 62k examples/s without it).
Status dense_backward(float* d_x, float* d_W, float* d_b, float* d_y, const float* x, const float* W, const float* y,
                      int64_t B, int64_t I, int64_t O, Activation act, bool accumulate_dx);

// bf16 products (gemm.h's Bf16Gemm, fp32 accumulation): x is converted into x16 (B, I), which backward reuses
// (x null: x16 already holds the input, converted by a layer that reads the same rows), and y = act(x16·W16 + b)
// comes out of one GEMM pass (bias and activation as its epilogue).  W16: (I, O) bf16
Status dense_forward_bf16(float* y, bf16_t* x16, const float* x, const bf16_t* W16, const float* b, int64_t B,
                          int64_t I, int64_t O, Activation act, Bf16Gemm& gemm);
// One pass over d_y and y gives the pre-activation gradient d_a in bf16 (d16: (B, O)) and d_b = Σ_rows d_a; then
// d_W (I, O) = x16ᵀ·d16 and d_x (B, I) = d16·W16ᵀ (+= when accumulate_dx; d_x nullable). d_y is left as it was.
// scratch: dense_backward_bf16_scratch(O) floats (per-thread rows and partial bias sums).
Status dense_backward_bf16(float* d_x, float* d_W, float* d_b, bf16_t* d16, const float* d_y, const bf16_t* x16,
                           const bf16_t* W16, const float* y, int64_t B, int64_t I, int64_t O, Activation act,
                           bool accumulate_dx, Bf16Gemm& gemm, float* scratch);
int64_t dense_backward_bf16_scratch(int64_t O);

// In place y = act(y), and d_y *= act'(from y), exposed for the kernels' own tests and for fused plans.
Status activation_forward(float* y, int64_t n, Activation act);
Status activation_backward(float* d_y, const float* y, int64_t n, Activation act);

}  // namespace lk
