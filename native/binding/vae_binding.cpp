// vae_binding.cpp — the JS class VaeNative over lk::VaeModel. Short calls (encode, decode) are synchronous;
// evaluation and training epochs return Promises (a libuv pool thread waits while the one compute thread of
// executor.h does the work) (sharp's "baton" pattern: plain
// C++ state in, no V8 on the worker thread, Status out). While a job runs the model is busy: other calls throw
// LATENTKIT_BUSY, and the job holds references to the JS object and every array it reads or writes.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "../models/vae.h"
#include "args.h"
#include "executor.h"

namespace lk {

namespace {

class VaeNative : public Napi::ObjectWrap<VaeNative> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VaeNative",
                       {InstanceMethod("numParams", &VaeNative::NumParams),
                        InstanceMethod("tensors", &VaeNative::Tensors),
                        InstanceMethod("initParams", &VaeNative::InitParams),
                        InstanceMethod("getParams", &VaeNative::GetParams),
                        InstanceMethod("setParams", &VaeNative::SetParams),
                        InstanceMethod("setThreads", &VaeNative::SetThreads),
                        InstanceMethod("encode", &VaeNative::Encode),
                        InstanceMethod("decode", &VaeNative::Decode),
                        InstanceMethod("decodeRaw", &VaeNative::DecodeRaw),
                        InstanceMethod("decoderLogVar", &VaeNative::DecoderLogVar),
                        InstanceMethod("evaluate", &VaeNative::Evaluate),
                        InstanceMethod("lossAndGradient", &VaeNative::LossAndGradient),
                        InstanceMethod("beginTraining", &VaeNative::BeginTraining),
                        InstanceMethod("trainEpoch", &VaeNative::TrainEpoch),
                        InstanceMethod("endTraining", &VaeNative::EndTraining),
                        InstanceMethod("cancel", &VaeNative::Cancel),
                        InstanceMethod("busy", &VaeNative::Busy)});
  }

  // new VaeNative({ inputDim, latentDim, hidden: number[], activation, likelihood, sigmaMode, sigma })
  explicit VaeNative(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VaeNative>(info) {
    Args a(info, "VaeNative");
    Napi::Object o = a.object(0, "config");
    VaeConfig c;
    c.input_dim = option_integer(a, o, "inputDim", 0, 1, 1 << 24);
    c.latent_dim = option_integer(a, o, "latentDim", 0, 1, 1 << 20);
    Napi::Value h = o.Get("hidden");
    if (!h.IsArray()) a.type_error("hidden", "an array of positive integers", h);
    Napi::Array arr = h.As<Napi::Array>();
    if (arr.Length() > 64) a.range_error("hidden", "at most 64 hidden layers", h);
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value w = arr.Get(i);
      if (!w.IsNumber()) a.type_error("hidden", "an array of positive integers", w);
      double d = w.As<Napi::Number>().DoubleValue();
      if (!(d >= 1 && d <= (1 << 20) && d == std::floor(d))) a.range_error("hidden", "widths in [1, 1048576]", w);
      c.hidden.push_back(static_cast<int64_t>(d));
    }
    c.activation = static_cast<Activation>(option_integer(a, o, "activation", 1, 0, 4));
    c.likelihood = static_cast<VaeLikelihood>(option_integer(a, o, "likelihood", 0, 0, 1));
    c.sigma_mode = static_cast<SigmaMode>(option_integer(a, o, "sigmaMode", 0, 0, 1));
    c.sigma = static_cast<float>(option_number(a, o, "sigma", 1.0));
    Status s = VaeModel::Create(c, &model_);
    if (!s.ok()) throw_status(info.Env(), s);
  }

  VaeModel& model() { return *model_; }
  int threads() const { return threads_; }
  std::atomic<bool>& cancel_flag() { return cancel_; }
  void set_busy(bool b) { busy_ = b; }

 private:
  void require_idle(Napi::Env env, const char* what) {
    if (busy_)
      throw_status(env, Status::Error(Code::Busy, std::string("cannot ") + what +
                                                      " while a training or evaluation job is running on this model"));
  }

  Napi::Value NumParams(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(model_->num_params()));
  }

  Napi::Value Tensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& ts = model_->tensors();
    Napi::Array out = Napi::Array::New(env, ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("name", ts[i].name);
      t.Set("offset", Napi::Number::New(env, static_cast<double>(ts[i].offset)));
      Napi::Array shape = Napi::Array::New(env, ts[i].shape.size());
      for (size_t k = 0; k < ts[i].shape.size(); ++k)
        shape.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(ts[i].shape[k])));
      t.Set("shape", shape);
      out.Set(static_cast<uint32_t>(i), t);
    }
    return out;
  }

  Napi::Value InitParams(const Napi::CallbackInfo& info) {
    Args a(info, "initParams");
    require_idle(info.Env(), "initialise parameters");
    model_->init_params(a.seed(0, "seed"));
    return info.Env().Undefined();
  }

  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    Args a(info, "getParams");
    float* out = a.f32(0, "out", model_->num_params());
    std::copy(model_->params(), model_->params() + model_->num_params(), out);
    return info.Env().Undefined();
  }

  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Args a(info, "setParams");
    require_idle(info.Env(), "set parameters");
    const float* src = a.f32(0, "params", model_->num_params());
    std::copy(src, src + model_->num_params(), model_->params());
    return info.Env().Undefined();
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    Args a(info, "setThreads");
    threads_ = static_cast<int>(a.integer(0, "threads", 0, 1024));
    return info.Env().Undefined();
  }

  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Args a(info, "encode");
    require_idle(info.Env(), "encode");
    const int64_t rows = a.integer(1, "rows", 0);
    const int64_t L = model_->config().latent_dim;
    const float* x = a.f32(0, "x", a.product({rows, model_->config().input_dim}, "x"));
    float* mean = a.f32(2, "mean", a.product({rows, L}, "mean"));
    float* log_var = a.f32(3, "logVar", rows * L);
    Status s = run_on_compute_thread(threads_, [&] { return model_->encode(mean, log_var, x, rows); });
    if (!s.ok()) throw_status(info.Env(), s);
    return info.Env().Undefined();
  }

  Napi::Value DecodeImpl(const Napi::CallbackInfo& info, bool raw) {
    Args a(info, raw ? "decodeRaw" : "decode");
    require_idle(info.Env(), "decode");
    const int64_t rows = a.integer(1, "rows", 0);
    const float* z = a.f32(0, "z", a.product({rows, model_->config().latent_dim}, "z"));
    float* out = a.f32(2, "out", a.product({rows, model_->config().input_dim}, "out"));
    Status s = run_on_compute_thread(
        threads_, [&] { return raw ? model_->decode_raw(out, z, rows) : model_->decode(out, z, rows); });
    if (!s.ok()) throw_status(info.Env(), s);
    return info.Env().Undefined();
  }
  Napi::Value Decode(const Napi::CallbackInfo& info) { return DecodeImpl(info, false); }
  Napi::Value DecodeRaw(const Napi::CallbackInfo& info) { return DecodeImpl(info, true); }

  Napi::Value DecoderLogVar(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), model_->decoder_log_var());
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info);

  // lossAndGradient(x, rows, seed, grad) → loss (synchronous; for gradient checks on small batches)
  Napi::Value LossAndGradient(const Napi::CallbackInfo& info) {
    Args a(info, "lossAndGradient");
    require_idle(info.Env(), "compute a gradient");
    const int64_t rows = a.integer(1, "rows", 1);
    const float* x = a.f32(0, "x", a.product({rows, model_->config().input_dim}, "x"));
    const uint64_t seed = a.seed(2, "seed");
    float* grad = a.f32(3, "grad", model_->num_params());
    double loss = 0;
    Status s = run_on_compute_thread(threads_, [&] { return model_->loss_and_gradient(grad, &loss, x, rows, seed); });
    if (!s.ok()) throw_status(info.Env(), s);
    return Napi::Number::New(info.Env(), loss);
  }
  Napi::Value BeginTraining(const Napi::CallbackInfo& info);
  Napi::Value TrainEpoch(const Napi::CallbackInfo& info);

  Napi::Value EndTraining(const Napi::CallbackInfo& info) {
    require_idle(info.Env(), "end training");
    model_->end_training();
    return info.Env().Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    cancel_ = true;
    return info.Env().Undefined();
  }

  Napi::Value Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

  std::unique_ptr<VaeModel> model_;
  int threads_ = 0;
  bool busy_ = false;  // touched only on the JS thread
  std::atomic<bool> cancel_{false};
};

// The common shape of a job: a promise, the owner kept alive and marked busy, the arrays it touches kept alive.
class ModelJob {
 protected:
  ModelJob(Napi::Env env, VaeNative* owner, int threads)
      : deferred_(Napi::Promise::Deferred::New(env)), owner_(owner), threads_(threads) {
    owner_ref_ = Napi::Persistent(owner->Value());
    owner->set_busy(true);
    owner->cancel_flag() = false;
  }
  void keep(const Napi::Value& v) {
    if (v.IsObject()) kept_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  void settle(Napi::Env env, const Status& s, const std::function<Napi::Value()>& result) {
    owner_->set_busy(false);
    if (s.ok())
      deferred_.Resolve(result());
    else
      deferred_.Reject(status_error(env, s).Value());
  }
  Napi::Promise::Deferred deferred_;
  VaeNative* owner_;
  int threads_;
  Status status_;

 private:
  Napi::ObjectReference owner_ref_;
  std::vector<Napi::ObjectReference> kept_;
};

class EvaluateJob : public Napi::AsyncWorker, public ModelJob {
 public:
  EvaluateJob(Napi::Env env, VaeNative* owner, int threads, const Napi::CallbackInfo& info, const float* x,
              int64_t rows, int64_t samples, uint64_t seed, bool binarize, float* recon, float* kl)
      : Napi::AsyncWorker(env, "latentkit.evaluate"), ModelJob(env, owner, threads), x_(x), rows_(rows),
        samples_(samples), seed_(seed), binarize_(binarize), recon_(recon), kl_(kl) {
    keep(info[0]);
    keep(info[5]);
    keep(info[6]);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    VaeModel& m = owner_->model();
    status_ = run_on_compute_thread(threads_, [&] {
      return m.evaluate(ElboTerms{recon_, kl_}, x_, rows_, samples_, seed_, binarize_, &owner_->cancel_flag());
    });
  }
  void OnOK() override { settle(Env(), status_, [&] { return Env().Undefined(); }); }
  void OnError(const Napi::Error& e) override { settle(Env(), Status::Error(Code::Backend, e.Message()), nullptr); }

 private:
  const float* x_;
  int64_t rows_, samples_;
  uint64_t seed_;
  bool binarize_;
  float *recon_, *kl_;
};

// evaluate(x, rows, samples, seed, binarize, reconstruction, kl) → Promise<void>
Napi::Value VaeNative::Evaluate(const Napi::CallbackInfo& info) {
  Args a(info, "evaluate");
  require_idle(info.Env(), "evaluate");
  const int64_t rows = a.integer(1, "rows", 0);
  const float* x = a.f32(0, "x", a.product({rows, model_->config().input_dim}, "x"));
  const int64_t samples = a.integer(2, "samples", 1, 1 << 20);
  const uint64_t seed = a.seed(3, "seed");
  const bool binarize = a.boolean(4, "binarize");
  float* recon = a.f32(5, "reconstruction", rows);
  float* kl = a.f32(6, "kl", rows);
  auto* job = new EvaluateJob(info.Env(), this, threads_, info, x, rows, samples, seed, binarize, recon, kl);
  Napi::Promise p = job->promise();
  job->Queue();
  return p;
}

// beginTraining(data, rows, { batchSize, lr, beta1, beta2, eps, weightDecay, binarize, seed }): copies the data
// into native memory once and allocates every training buffer.
Napi::Value VaeNative::BeginTraining(const Napi::CallbackInfo& info) {
  Args a(info, "beginTraining");
  require_idle(info.Env(), "begin training");
  const int64_t rows = a.integer(1, "rows", 1);
  const float* data = a.f32(0, "data", a.product({rows, model_->config().input_dim}, "data"));
  Napi::Object o = a.object(2, "options");
  TrainOptions t;
  t.batch_size = option_integer(a, o, "batchSize", 128, 1, 1 << 24);
  t.adam.lr = static_cast<float>(option_number(a, o, "lr", 1e-3));
  t.adam.beta1 = static_cast<float>(option_number(a, o, "beta1", 0.9));
  t.adam.beta2 = static_cast<float>(option_number(a, o, "beta2", 0.999));
  t.adam.eps = static_cast<float>(option_number(a, o, "eps", 1e-8));
  t.adam.weight_decay = static_cast<float>(option_number(a, o, "weightDecay", 0));
  t.binarize = option_bool(a, o, "binarize", false);
  t.seed = static_cast<uint64_t>(option_integer(a, o, "seed", 0, 0, (int64_t(1) << 53) - 1));
  Status s = run_on_compute_thread(threads_, [&] { return model_->begin_training(data, rows, t); });
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

struct ProgressRecord {
  int64_t steps, examples;
  double loss_sum;
};

class TrainEpochJob : public Napi::AsyncProgressQueueWorker<ProgressRecord>, public ModelJob {
 public:
  TrainEpochJob(Napi::Env env, VaeNative* owner, int threads, int64_t epoch, Napi::Function on_progress)
      : Napi::AsyncProgressQueueWorker<ProgressRecord>(env, "latentkit.trainEpoch"), ModelJob(env, owner, threads),
        epoch_(epoch) {
    if (!on_progress.IsEmpty()) progress_fn_ = Napi::Persistent(on_progress);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    using clock = std::chrono::steady_clock;
    auto last = clock::now();
    const bool report = !progress_fn_.IsEmpty();
    ProgressFn fn = [&](int64_t steps, int64_t examples, double loss) {
      auto now = clock::now();
      if (report && now - last > std::chrono::milliseconds(100)) {
        last = now;
        ProgressRecord r{steps, examples, loss};
        progress.Send(&r, 1);
      }
    };
    status_ = run_on_compute_thread(
        threads_, [&] { return owner_->model().train_epoch(epoch_, &result_, &owner_->cancel_flag(), fn); });
  }

  void OnProgress(const ProgressRecord* data, size_t count) override {
    if (progress_fn_.IsEmpty() || count == 0 || callback_failed_) return;
    Napi::Env env = Env();
    const ProgressRecord& r = data[count - 1];
    try {
      progress_fn_.Call({Napi::Number::New(env, static_cast<double>(r.steps)),
                         Napi::Number::New(env, static_cast<double>(r.examples)), Napi::Number::New(env, r.loss_sum)});
    } catch (const Napi::Error& e) {  // a throwing callback stops the epoch; the promise rejects with its error
      callback_failed_ = true;
      callback_error_ = Napi::Persistent(e.Value());
      owner_->cancel_flag() = true;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (callback_failed_) {
      owner_->set_busy(false);
      deferred_.Reject(callback_error_.Value());
      return;
    }
    settle(env, status_, [&] {
      Napi::Object r = Napi::Object::New(env);
      r.Set("lossSum", Napi::Number::New(env, result_.loss_sum));
      r.Set("examples", Napi::Number::New(env, static_cast<double>(result_.examples)));
      r.Set("steps", Napi::Number::New(env, static_cast<double>(result_.steps)));
      return r;
    });
  }
  void OnError(const Napi::Error& e) override { settle(Env(), Status::Error(Code::Backend, e.Message()), nullptr); }

 private:
  int64_t epoch_;
  EpochResult result_;
  Napi::FunctionReference progress_fn_;
  bool callback_failed_ = false;
  Napi::ObjectReference callback_error_;
};

// trainEpoch(epoch, onProgress?) → Promise<{ lossSum, examples, steps }>
Napi::Value VaeNative::TrainEpoch(const Napi::CallbackInfo& info) {
  Args a(info, "trainEpoch");
  require_idle(info.Env(), "train");
  const int64_t epoch = a.integer(0, "epoch", 0, int64_t(1) << 40);
  Napi::Function fn = a.function(1, "onProgress", true);
  if (!model_->training())
    throw_status(info.Env(), Status::Error(Code::InvalidArgument, "trainEpoch called before beginTraining"));
  auto* job = new TrainEpochJob(info.Env(), this, threads_, epoch, fn);
  Napi::Promise p = job->promise();
  job->Queue();
  return p;
}

}  // namespace

Napi::Function init_vae(Napi::Env env) { return VaeNative::Define(env); }

}  // namespace lk
