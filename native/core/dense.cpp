// dense.cpp — see dense.h. The bias is broadcast into y and the GEMM accumulates onto it (beta = 1); the
// activation then runs in one pass over y.
#include "dense.h"

#include <algorithm>

#include "fast_math.h"
#include "threads.h"
#include "gemm.h"

namespace lk {

namespace {

LK_TARGET_CLONES void act_forward_span(float* y, int64_t n, Activation act) {
  switch (act) {
    case Activation::Identity: break;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.f ? y[i] : 0.f;
      break;
    case Activation::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.f ? y[i] : kLeakyReluSlope * y[i];
      break;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = fast_tanh(y[i]);
      break;
    case Activation::Softplus:
      for (int64_t i = 0; i < n; ++i) y[i] = fast_softplus(y[i]);
      break;
  }
}

// d_y *= act'(a), written in terms of y = act(a).
LK_TARGET_CLONES void act_backward_span(float* dy, const float* y, int64_t n, Activation act) {
  switch (act) {
    case Activation::Identity: break;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) dy[i] = y[i] > 0.f ? dy[i] : 0.f;
      break;
    case Activation::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) dy[i] = y[i] > 0.f ? dy[i] : kLeakyReluSlope * dy[i];
      break;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) dy[i] *= 1.0f - y[i] * y[i];
      break;
    case Activation::Softplus:  // sigmoid(a) = 1 − exp(−softplus(a))
      for (int64_t i = 0; i < n; ++i) dy[i] *= 1.0f - fast_exp(-y[i]);
      break;
  }
}

// d16 = bf16(d_y ⊙ act'(from y)) and d_b += its column sums, row by row.
LK_TARGET_CLONES void act_backward_bf16_rows(bf16_t* d16, float* d_b, const float* dy, const float* y, int64_t B,
                                             int64_t O, Activation act, float* scratch) {
  for (int64_t r = 0; r < B; ++r) {
    const float* dyr = dy + r * O;
    const float* yr = y + r * O;
    for (int64_t o = 0; o < O; ++o) scratch[o] = dyr[o];
    act_backward_span(scratch, yr, O, act);
    for (int64_t o = 0; o < O; ++o) d_b[o] += scratch[o];
    to_bf16(d16 + r * O, scratch, O);
  }
}

LK_TARGET_CLONES void add_rows(float* acc, const float* rows, int64_t B, int64_t O) {
  for (int64_t r = 0; r < B; ++r)
    for (int64_t o = 0; o < O; ++o) acc[o] += rows[r * O + o];
}

template <typename F>
void parallel_spans(int64_t n, F&& f) {
  const int64_t chunk = 4096;
  const int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > kElementwiseParallelMin)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * chunk;
    f(lo, (n - lo) < chunk ? (n - lo) : chunk);
  }
}
}  // namespace

Status activation_forward(float* y, int64_t n, Activation act) {
  if (act == Activation::Identity) return Status::Ok();
  parallel_spans(n, [&](int64_t lo, int64_t len) { act_forward_span(y + lo, len, act); });
  return Status::Ok();
}

Status activation_backward(float* d_y, const float* y, int64_t n, Activation act) {
  if (act == Activation::Identity) return Status::Ok();
  parallel_spans(n, [&](int64_t lo, int64_t len) { act_backward_span(d_y + lo, y + lo, len, act); });
  return Status::Ok();
}

Status dense_forward(float* y, const float* x, const float* W, const float* b, int64_t B, int64_t I, int64_t O,
                     Activation act) {
  for (int64_t r = 0; r < B; ++r)
    for (int64_t o = 0; o < O; ++o) y[r * O + o] = b[o];
  LK_RETURN_IF_ERROR(gemm(false, false, B, O, I, 1.0f, x, W, 1.0f, y));
  return activation_forward(y, B * O, act);
}

Status dense_backward(float* d_x, float* d_W, float* d_b, float* d_y, const float* x, const float* W, const float* y,
                      int64_t B, int64_t I, int64_t O, Activation act, bool accumulate_dx) {
  LK_RETURN_IF_ERROR(activation_backward(d_y, y, B * O, act));
  LK_RETURN_IF_ERROR(gemm(true, false, I, O, B, 1.0f, x, d_y, 0.0f, d_W));
  std::fill_n(d_b, O, 0.f);
  add_rows(d_b, d_y, B, O);
  if (d_x) LK_RETURN_IF_ERROR(gemm(false, true, B, I, O, 1.0f, d_y, W, accumulate_dx ? 1.0f : 0.0f, d_x));
  return Status::Ok();
}

Status dense_forward_bf16(float* y, bf16_t* x16, const float* x, const bf16_t* W16, const float* b, int64_t B,
                          int64_t I, int64_t O, Activation act, Bf16Gemm& gemm) {
  if (x) parallel_spans(B * I, [&](int64_t lo, int64_t len) { to_bf16(x16 + lo, x + lo, len); });
  GemmEpilogue e;
  e.bias = b;
  switch (act) {
    case Activation::Identity: break;
    case Activation::Relu: e.fn = GemmEpilogue::Fn::Relu; break;
    case Activation::LeakyRelu: e.fn = GemmEpilogue::Fn::Relu, e.alpha = kLeakyReluSlope; break;
    case Activation::Tanh: e.fn = GemmEpilogue::Fn::Tanh; break;
    case Activation::Softplus: e.fn = GemmEpilogue::Fn::Softplus; break;
  }
  return gemm.run(false, false, B, O, I, x16, W16, 0.0f, y, e);
}

int64_t dense_backward_bf16_scratch(int64_t O) { return checked_mul(2 * static_cast<int64_t>(max_compute_threads()), O); }

Status dense_backward_bf16(float* d_x, float* d_W, float* d_b, bf16_t* d16, const float* d_y, const bf16_t* x16,
                           const bf16_t* W16, const float* y, int64_t B, int64_t I, int64_t O, Activation act,
                           bool accumulate_dx, Bf16Gemm& gemm, float* scratch) {
  // Row blocks over the team when the pass is large, each with its own row scratch and partial bias sums, added in
  // thread order (the same bits for the same threads).
  const int T = B * O > kElementwiseParallelMin ? std::min<int>(omp_get_max_threads(), max_compute_threads()) : 1;
  float* partial = scratch + static_cast<int64_t>(T) * O;
  std::fill_n(partial, static_cast<int64_t>(T) * O, 0.f);
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1)
  for (int t = 0; t < T; ++t) {
    const int64_t lo = B * t / T, hi = B * (t + 1) / T;
    act_backward_bf16_rows(d16 + lo * O, partial + t * O, d_y + lo * O, y + lo * O, hi - lo, O, act, scratch + t * O);
  }
  std::fill_n(d_b, O, 0.f);
  for (int t = 0; t < T; ++t)
    for (int64_t o = 0; o < O; ++o) d_b[o] += partial[t * O + o];
  LK_RETURN_IF_ERROR(gemm.run(true, false, I, O, B, x16, d16, 0.0f, d_W));
  if (d_x) LK_RETURN_IF_ERROR(gemm.run(false, true, B, I, O, d16, W16, accumulate_dx ? 1.0f : 0.0f, d_x));
  return Status::Ok();
}

}  // namespace lk
