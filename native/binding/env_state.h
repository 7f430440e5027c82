// env_state.h — what the addon keeps per JavaScript environment (the main thread and each worker thread): the
// environment's job registry (async_job.h), the class of mapped files (data_binding.cpp) and the class native errors are made with (lib/native.ts passes
// LatentkitError, so a native LATENTKIT_* error is a LatentkitError like the TypeScript layer's own).
#pragma once
#include <napi.h>

namespace lk {

class JobRegistry;

struct EnvState {
  JobRegistry* jobs = nullptr;        // owned; made by init_jobs
  Napi::FunctionReference error_class;  // new (code, message); empty until setErrorClass
  Napi::FunctionReference mapping_class;  // data.mapFile's Mapping (data_binding.cpp)
  ~EnvState();
};

// The calling environment's state (made at module load).
EnvState& env_state(Napi::Env env);

}  // namespace lk
