// device_stub.cpp — the CUDA entry points when the addon was built without nvcc.
#include "device.h"

namespace lk {

namespace {
Status not_built() { return Status::Error(Code::Backend, "latentkit was built without CUDA (nvcc was not found)"); }
}  // namespace

CudaInfo cuda_info() { return {false, 0, "built without CUDA: nvcc was not found at build time"}; }

Status gaussian_reparameterize_forward_host(float*, const float*, const float*, const float*, int64_t, int64_t) {
  return not_built();
}
Status gaussian_kl_std_normal_forward_host(float*, const float*, const float*, int64_t, int64_t) { return not_built(); }
Status gaussian_kl_std_normal_backward_host(float*, float*, const float*, const float*, const float*, int64_t,
                                            int64_t) {
  return not_built();
}

}  // namespace lk
