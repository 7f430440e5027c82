// gemm.h — the only entry point to a BLAS in latentkit. Row-major GEMM:
//   C (M, N) = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ as trans_a / trans_b say.
// A is (M, K) or, transposed, stored (K, M); B is (K, N) or stored (N, K); lda/ldb/ldc are row strides.
// fp32: oneDNN's dnnl_sgemm. bf16: bf16 A and B, fp32 C (fp32 accumulation) through oneDNN's matmul primitive
// (its C API has no bf16 GEMM), created once per shape and cached by the caller's Bf16Gemm. Both run on the OpenMP
// team of the calling thread (threads.h).
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>

#include "status.h"

namespace lk {

Status gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Convenience for dense row-major operands with no padding.
inline Status gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   const float* B, float beta, float* C) {
  return gemm(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N);
}

// The arithmetic of a pass: fp32 throughout, or bf16 products (bf16 inputs, fp32 accumulation and outputs).
enum class Precision { Fp32, Bf16 };

// bfloat16: the top 16 bits of an IEEE float (8 exponent bits, 7 mantissa bits), stored as its bit pattern.
using bf16_t = uint16_t;

// x rounded to the nearest bf16: ties to even on the bit pattern; a NaN keeps its sign and becomes a quiet NaN.
inline bf16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return static_cast<bf16_t>(nan ? ((u >> 16) | 0x40u) : rounded);
}
// dst[i] = to_bf16(src[i]), on the calling thread (the sizes it converts are a layer's activations: a parallel
// region would cost more than it saves).  dst, src: (n)
void to_bf16(bf16_t* dst, const float* src, int64_t n);
inline float from_bf16(bf16_t v) {
  union { uint32_t u; float f; } b{static_cast<uint32_t>(v) << 16};
  return b.f;
}

// What a bf16 GEMM may apply to its fp32 result before writing it, in the same pass (oneDNN post-ops):
// C = f(op(A)·op(B) + bias) with bias (N) broadcast over rows, f = identity, relu (leaky with slope alpha), tanh or
// softplus. Only with beta = 0.
struct GemmEpilogue {
  enum class Fn { Identity, Relu, Tanh, Softplus };
  const float* bias = nullptr;
  Fn fn = Fn::Identity;
  float alpha = 0.f;
};

// bf16 GEMMs of one caller (a layer's state, a benchmark): C = op(A)·op(B) + beta·C with beta 0 or 1, bf16 A and B,
// fp32 C. The matmul primitive of each distinct shape is created on first use and kept (oneDNN picks its bf16
// kernels: brg:avx512_core_bf16, or AMX). Not shared between threads.
class Bf16Gemm {
 public:
  Bf16Gemm();
  ~Bf16Gemm();
  Bf16Gemm(const Bf16Gemm&) = delete;
  Bf16Gemm& operator=(const Bf16Gemm&) = delete;
  Status run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda,
             const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& epilogue);
  Status run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const bf16_t* A, const bf16_t* B,
             float beta, float* C, const GemmEpilogue& epilogue = GemmEpilogue()) {
    return run(trans_a, trans_b, M, N, K, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N, epilogue);
  }

 private:
  struct Product;
  // trans_a, trans_b, M, N, K, lda, ldb, ldc, accumulate, bias, epilogue fn, its alpha, the block (−1: whole)
  using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int, float, int>;
  static constexpr int kMaxParts = 256;
  Product* product(const Key& key);  // the cached primitive of one shape (created on first use)
  std::map<Key, std::unique_ptr<Product>> products_;
};

// oneDNN's effective CPU ISA (what its kernels use on this machine): "avx512_core_amx", "avx512_core_bf16", "avx2", …
const char* gemm_effective_isa();
// Whether the CPU computes bf16 natively (AVX512-BF16 or AMX, in oneDNN's effective ISA). Elsewhere oneDNN emulates
// bf16 at 3–4× the cost of fp32, so precision 'bf16' is refused there.
bool bf16_native();

}  // namespace lk
