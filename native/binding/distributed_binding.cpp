// distributed_binding.cpp — the JS object `distributed` (distributed/communicator.h): the process group of data-parallel training.
//   launched() → whether an MPI launcher (mpirun, srun) started this process; makes no MPI call
//   init() → { rank, size }: starts MPI once per process (throws LATENTKIT_DISTRIBUTED, naming what to install,
//            when it cannot)
//   allGather(bytes: Uint8Array) → Promise<Buffer[]>: every rank's bytes (the same length on every rank), in rank order
//   allReduceSum(values: Float64Array) → Promise<Float64Array>: the elementwise sums over the ranks (a new array)
//   reduceStats() → { seconds, bytes }: time spent inside the gradient all-reduce, and the bytes it reduced, so far
//   abort(code): MPI_Abort — ends every rank of the job with `code`
// The collectives run as jobs on the compute thread: a rank waiting for the others never holds the event loop.
#include <napi.h>

#include <cstring>
#include <memory>
#include <vector>

#include "../distributed/communicator.h"
#include "args.h"
#include "async_job.h"

namespace lk {

namespace {

Communicator* world(const Args& a) {
  Communicator* c = nullptr;
  Status s = Communicator::World(&c);
  if (!s.ok()) throw_status(a.env(), s);
  return c;
}

Napi::Value Launched(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), launched_by_mpi()); }

Napi::Value Init(const Napi::CallbackInfo& info) {
  Args a(info, "distributed.init");
  Communicator* c = world(a);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("rank", c->rank());
  r.Set("size", c->size());
  return r;
}

Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Args a(info, "distributed.allGather");
  Communicator* c = world(a);
  Napi::Value v = a.at(0);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) a.type_error("bytes", "a Uint8Array", v);
  auto t = v.As<Napi::Uint8Array>();
  auto mine = std::make_shared<std::vector<uint8_t>>(t.Data(), t.Data() + t.ElementLength());
  auto all = std::make_shared<std::vector<uint8_t>>();
  return run_async(
      info.Env(), 1, [c, mine, all](const std::atomic<bool>&) { return c->all_gather(mine->data(), static_cast<int64_t>(mine->size()), all.get()); },
      [c, mine, all](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, c->size());
        for (int r = 0; r < c->size(); ++r)
          out.Set(r, Napi::Buffer<uint8_t>::Copy(env, all->data() + r * mine->size(), mine->size()));
        return out;
      });
}

Napi::Value AllReduceSum(const Napi::CallbackInfo& info) {
  Args a(info, "distributed.allReduceSum");
  Communicator* c = world(a);
  Napi::Value v = a.at(0);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) a.type_error("values", "a Float64Array", v);
  auto t = v.As<Napi::Float64Array>();
  auto values = std::make_shared<std::vector<double>>(t.Data(), t.Data() + t.ElementLength());
  return run_async(
      info.Env(), 1, [c, values](const std::atomic<bool>&) { return c->all_reduce_sum(values->data(), static_cast<int64_t>(values->size())); },
      [values](Napi::Env env) -> Napi::Value {
        auto out = Napi::Float64Array::New(env, values->size());
        if (!values->empty()) std::memcpy(out.Data(), values->data(), values->size() * sizeof(double));
        return out;
      });
}

Napi::Value ReduceStats(const Napi::CallbackInfo& info) {
  Args a(info, "distributed.reduceStats");
  Communicator* c = world(a);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("seconds", c->reduce_seconds());
  r.Set("bytes", static_cast<double>(c->reduce_bytes()));
  return r;
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  Args a(info, "distributed.abort");
  const int code = static_cast<int>(a.integer(0, "code", 1, 255));
  world(a)->abort(code);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object init_distributed(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("launched", guarded_function(env, "launched", Launched));
  o.Set("init", guarded_function(env, "init", Init));
  o.Set("allGather", guarded_function(env, "allGather", AllGather));
  o.Set("allReduceSum", guarded_function(env, "allReduceSum", AllReduceSum));
  o.Set("reduceStats", guarded_function(env, "reduceStats", ReduceStats));
  o.Set("abort", guarded_function(env, "abort", Abort));
  return o;
}

}  // namespace lk
