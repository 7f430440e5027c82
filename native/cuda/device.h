// device.h — what the CUDA side can do on this machine. Compiled from device.cu when nvcc is found, otherwise from
// device_stub.cpp; the addon loads either way, and a missing driver or GPU is reported, never fatal.
// The host-array wrappers (`*_host`) copy in, run the device kernel of gaussian.cuh and copy out: they exist so the
// tests can check every CUDA kernel against its CPU twin.
#pragma once
#include <cstdint>
#include <string>

#include "../core/status.h"

namespace lk {

struct CudaInfo {
  bool compiled = false;
  int devices = 0;
  std::string reason;  // why there is no usable device, when devices == 0
};

CudaInfo cuda_info();

// Same contracts as the CPU kernels in core/gaussian.h, on host arrays. kl: (B); others: (B, D)
Status gaussian_reparameterize_forward_host(float* z, const float* mean, const float* log_var, const float* eps,
                                            int64_t B, int64_t D);
Status gaussian_kl_std_normal_forward_host(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D);
Status gaussian_kl_std_normal_backward_host(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                            const float* log_var, int64_t B, int64_t D);

}  // namespace lk
