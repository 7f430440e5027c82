// gemm.h — the only entry point to a BLAS in latentkit. Row-major single-precision GEMM:
//   C (M, N) = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ as trans_a / trans_b say.
// A is (M, K) or, transposed, stored (K, M); B is (K, N) or stored (N, K); lda/ldb/ldc are row strides.
// Backed by oneDNN's dnnl_sgemm (OpenMP threads of the calling thread: see threads.h).
#pragma once
#include <cstdint>
#include "status.h"

namespace lk {

Status gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Convenience for dense row-major operands with no padding.
inline Status gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   const float* B, float beta, float* C) {
  return gemm(trans_a, trans_b, M, N, K, alpha, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N);
}

// oneDNN's effective CPU ISA (what its kernels use on this machine): "avx512_core_amx", "avx512_core_bf16", "avx2", …
const char* gemm_effective_isa();

}  // namespace lk
