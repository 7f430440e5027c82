// addon.cpp — module entry: { kernels, cudaKernels, VaeNative, classical, data, info(), shutdown(), setErrorClass() }; sets up the
// environment's job registry (async_job.h) first.
#include <napi.h>

#include "../core/gemm.h"
#include "../core/threads.h"
#include "../cuda/device.h"
#include "../models/vae.h"
#include "async_job.h"
#include "env_state.h"
#include "executor.h"

namespace lk {
Napi::Object init_kernels(Napi::Env env);
Napi::Function init_vae(Napi::Env env);
Napi::Object init_cuda_kernels(Napi::Env env);
Napi::Object init_classical(Napi::Env env);
Napi::Object init_data(Napi::Env env);
Napi::Object init_distributed(Napi::Env env);
}  // namespace lk

namespace {

// info() → { cores, isa (oneDNN's effective CPU ISA), bf16Native, autoPrecision, inferenceRows (vae.h), cuda: {
// compiled, devices, reason } }
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cores", Napi::Number::New(env, lk::max_compute_threads()));
  o.Set("isa", Napi::String::New(env, lk::gemm_effective_isa()));
  o.Set("bf16Native", Napi::Boolean::New(env, lk::bf16_native()));
  // What precision 'auto' runs here (lib/precision.ts): bf16 where it is native, else fp32.
  o.Set("autoPrecision", Napi::String::New(env, lk::bf16_native() ? "bf16" : "fp32"));
  o.Set("inferenceRows", Napi::Number::New(env, static_cast<double>(lk::kInferenceRows)));
  Napi::Object cuda = Napi::Object::New(env);
  lk::CudaInfo ci = lk::cuda_info();
  cuda.Set("compiled", Napi::Boolean::New(env, ci.compiled));
  cuda.Set("devices", Napi::Number::New(env, ci.devices));
  cuda.Set("reason", Napi::String::New(env, ci.reason));
  o.Set("cuda", cuda);
  return o;
}

// poolStats() → { budget, runningThreads, queued, workers }: the compute pool now (executor.h).
Napi::Value PoolStatsOf(const Napi::CallbackInfo& info) {
  const lk::PoolStats p = lk::pool_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("budget", p.budget);
  o.Set("runningThreads", p.running_threads);
  o.Set("queued", p.queued);
  o.Set("workers", p.workers);
  return o;
}

// shutdown(): cancels this environment's jobs and waits for them (lib/native.ts calls it on process 'exit').
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  lk::shutdown_jobs(info.Env());
  return info.Env().Undefined();
}

// setErrorClass(LatentkitError): native errors are made as new LatentkitError(code, message) from now on.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction())
    throw Napi::TypeError::New(info.Env(), "setErrorClass: Expected a class (constructor) for errorClass");
  lk::env_state(info.Env()).error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lk::init_jobs(env);
  exports.Set("kernels", lk::init_kernels(env));
  exports.Set("cudaKernels", lk::init_cuda_kernels(env));
  exports.Set("VaeNative", lk::init_vae(env));
  exports.Set("classical", lk::init_classical(env));
  exports.Set("data", lk::init_data(env));
  exports.Set("distributed", lk::init_distributed(env));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  exports.Set("poolStats", Napi::Function::New(env, PoolStatsOf, "poolStats"));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  return exports;
}

}  // namespace

NODE_API_MODULE(latentkit, Init)
