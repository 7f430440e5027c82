// gaussian.cuh — CUDA twins of core/gaussian.h: same names, same argument order, plus a stream. Device pointers.
// z, mean, log_var, eps, d_mean, d_log_var: (B, D); kl, d_kl: (B).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace lk {
namespace cuda {

cudaError_t gaussian_reparameterize_forward(float* z, const float* mean, const float* log_var, const float* eps,
                                            int64_t B, int64_t D, cudaStream_t stream);
cudaError_t gaussian_kl_std_normal_forward(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D,
                                           cudaStream_t stream);
cudaError_t gaussian_kl_std_normal_backward(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                            const float* log_var, int64_t B, int64_t D, cudaStream_t stream);

}  // namespace cuda
}  // namespace lk
