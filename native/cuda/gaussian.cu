// gaussian.cu — see gaussian.cuh. One thread per element; the KL forward reduces each row with one warp.
#include "gaussian.cuh"

namespace lk {
namespace cuda {

namespace {
__global__ void reparam_fwd(float* z, const float* mean, const float* log_var, const float* eps, int64_t n) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) z[i] = mean[i] + expf(0.5f * log_var[i]) * eps[i];
}

__global__ void kl_fwd(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D) {
  int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.y) + threadIdx.y;
  if (row >= B) return;
  float s = 0.f;
  for (int64_t d = threadIdx.x; d < D; d += 32) {
    float m = mean[row * D + d], lv = log_var[row * D + d];
    s += expf(lv) + m * m - 1.0f - lv;
  }
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
  if (threadIdx.x == 0) kl[row] = 0.5f * s;
}

__global__ void kl_bwd(float* d_mean, float* d_log_var, const float* d_kl, const float* mean, const float* log_var,
                       int64_t B, int64_t D) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * D) return;
  float g = d_kl[i / D];
  d_mean[i] += g * mean[i];
  d_log_var[i] += g * 0.5f * (expf(log_var[i]) - 1.0f);
}

unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }
}  // namespace

cudaError_t gaussian_reparameterize_forward(float* z, const float* mean, const float* log_var, const float* eps,
                                            int64_t B, int64_t D, cudaStream_t stream) {
  const int64_t n = B * D;
  if (n == 0) return cudaSuccess;
  reparam_fwd<<<blocks_for(n, 256), 256, 0, stream>>>(z, mean, log_var, eps, n);
  return cudaGetLastError();
}

cudaError_t gaussian_kl_std_normal_forward(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D,
                                           cudaStream_t stream) {
  if (B == 0) return cudaSuccess;
  dim3 block(32, 8);
  kl_fwd<<<blocks_for(B, 8), block, 0, stream>>>(kl, mean, log_var, B, D);
  return cudaGetLastError();
}

cudaError_t gaussian_kl_std_normal_backward(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                            const float* log_var, int64_t B, int64_t D, cudaStream_t stream) {
  const int64_t n = B * D;
  if (n == 0) return cudaSuccess;
  kl_bwd<<<blocks_for(n, 256), 256, 0, stream>>>(d_mean, d_log_var, d_kl, mean, log_var, B, D);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace lk
