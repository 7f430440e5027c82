// device.cu — device discovery and the host-array wrappers of device.h (copy in, launch, copy out).
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "device.h"
#include "gaussian.cuh"

namespace lk {

namespace {
Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return Status::Error(Code::Backend, std::string(what) + ": " + cudaGetErrorString(e));
}

// Device buffers freed on scope exit.
struct DeviceBuffers {
  std::vector<float*> ptrs;
  ~DeviceBuffers() {
    for (float* p : ptrs) cudaFree(p);
  }
  Status upload(float** out, const float* host, int64_t n) {
    LK_RETURN_IF_ERROR(alloc(out, n));
    return cuda_status(cudaMemcpy(*out, host, sizeof(float) * n, cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  Status alloc(float** out, int64_t n) {
    *out = nullptr;
    LK_RETURN_IF_ERROR(cuda_status(cudaMalloc(out, sizeof(float) * (n > 0 ? n : 1)), "cudaMalloc"));
    ptrs.push_back(*out);
    return Status::Ok();
  }
};

Status download(float* host, const float* dev, int64_t n) {
  return cuda_status(cudaMemcpy(host, dev, sizeof(float) * n, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

Status require_device() {
  CudaInfo i = cuda_info();
  if (i.devices == 0) return Status::Error(Code::Backend, "no CUDA device: " + i.reason);
  return Status::Ok();
}
}  // namespace

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {  // no driver (35), no device (100), …: all mean zero usable devices
    info.reason = cudaGetErrorString(e);
    cudaGetLastError();
    return info;
  }
  info.devices = n;
  if (n == 0) info.reason = "no CUDA device found";
  return info;
}

Status gaussian_reparameterize_forward_host(float* z, const float* mean, const float* log_var, const float* eps,
                                            int64_t B, int64_t D) {
  LK_RETURN_IF_ERROR(require_device());
  DeviceBuffers buf;
  float *dz, *dm, *dlv, *de;
  const int64_t n = B * D;
  LK_RETURN_IF_ERROR(buf.alloc(&dz, n));
  LK_RETURN_IF_ERROR(buf.upload(&dm, mean, n));
  LK_RETURN_IF_ERROR(buf.upload(&dlv, log_var, n));
  LK_RETURN_IF_ERROR(buf.upload(&de, eps, n));
  LK_RETURN_IF_ERROR(cuda_status(cuda::gaussian_reparameterize_forward(dz, dm, dlv, de, B, D, 0), "reparameterize"));
  return download(z, dz, n);
}

Status gaussian_kl_std_normal_forward_host(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D) {
  LK_RETURN_IF_ERROR(require_device());
  DeviceBuffers buf;
  float *dkl, *dm, *dlv;
  LK_RETURN_IF_ERROR(buf.alloc(&dkl, B));
  LK_RETURN_IF_ERROR(buf.upload(&dm, mean, B * D));
  LK_RETURN_IF_ERROR(buf.upload(&dlv, log_var, B * D));
  LK_RETURN_IF_ERROR(cuda_status(cuda::gaussian_kl_std_normal_forward(dkl, dm, dlv, B, D, 0), "kl forward"));
  return download(kl, dkl, B);
}

Status gaussian_kl_std_normal_backward_host(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                            const float* log_var, int64_t B, int64_t D) {
  LK_RETURN_IF_ERROR(require_device());
  DeviceBuffers buf;
  float *ddm, *ddlv, *ddkl, *dm, *dlv;
  const int64_t n = B * D;
  LK_RETURN_IF_ERROR(buf.upload(&ddm, d_mean, n));
  LK_RETURN_IF_ERROR(buf.upload(&ddlv, d_log_var, n));
  LK_RETURN_IF_ERROR(buf.upload(&ddkl, d_kl, B));
  LK_RETURN_IF_ERROR(buf.upload(&dm, mean, n));
  LK_RETURN_IF_ERROR(buf.upload(&dlv, log_var, n));
  LK_RETURN_IF_ERROR(cuda_status(cuda::gaussian_kl_std_normal_backward(ddm, ddlv, ddkl, dm, dlv, B, D, 0), "kl backward"));
  LK_RETURN_IF_ERROR(download(d_mean, ddm, n));
  return download(d_log_var, ddlv, n);
}

}  // namespace lk
