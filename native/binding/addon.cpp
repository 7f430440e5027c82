// addon.cpp — module entry: { kernels, cudaKernels, VaeNative, classical, info() }.
#include <napi.h>

#include "../core/threads.h"
#include "../cuda/device.h"

namespace lk {
Napi::Object init_kernels(Napi::Env env);
Napi::Function init_vae(Napi::Env env);
Napi::Object init_cuda_kernels(Napi::Env env);
Napi::Object init_classical(Napi::Env env);
}  // namespace lk

namespace {

// info() → { cores, cuda: { compiled, devices, error } }
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cores", Napi::Number::New(env, lk::max_compute_threads()));
  Napi::Object cuda = Napi::Object::New(env);
  lk::CudaInfo ci = lk::cuda_info();
  cuda.Set("compiled", Napi::Boolean::New(env, ci.compiled));
  cuda.Set("devices", Napi::Number::New(env, ci.devices));
  cuda.Set("reason", Napi::String::New(env, ci.reason));
  o.Set("cuda", cuda);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kernels", lk::init_kernels(env));
  exports.Set("cudaKernels", lk::init_cuda_kernels(env));
  exports.Set("VaeNative", lk::init_vae(env));
  exports.Set("classical", lk::init_classical(env));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  return exports;
}

}  // namespace

NODE_API_MODULE(latentkit, Init)
