// vae_binding.cpp — the JS class VaeNative over lk::VaeModel. encode and decode are synchronous (run inline or on the
// compute thread, executor.h) and also AsyncJobs (encodeAsync, decodeAsync); evaluation and training epochs are
// AsyncJobs only (async_job.h: they copy what they read, run on the compute thread and settle on the JS thread,
// holding no libuv pool thread, and each holds a reference to the model's JS object).
// A training epoch has the model to itself: while it runs every other call throws LATENTKIT_BUSY. Jobs that only
// read the parameters (evaluate, encodeAsync, decodeAsync) may be many at once and beside synchronous reads (each
// call works in a workspace of its own); what changes the parameters or starts training waits for none of them but
// is refused while any runs.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <new>
#include <vector>

#include "../models/vae.h"
#include "../train/trainer.h"
#include "args.h"
#include "async_job.h"
#include "data_binding.h"
#include "executor.h"

namespace lk {

namespace {

// { objective: 'elbo' | 'iwae', samples, klWeight, freeBits } (each required: TypeScript's objective.ts resolves
// them) → StepOptions.
StepOptions step_options(const Args& a, const Napi::Object& o) {
  StepOptions st;
  st.objective = static_cast<Objective>(required_enum(a, o, "objective", {"elbo", "iwae"}));
  st.samples = required_integer(a, o, "samples", 1, 1 << 16);
  st.kl_weight = static_cast<float>(required_number(a, o, "klWeight"));
  st.free_bits = static_cast<float>(required_number(a, o, "freeBits"));
  return st;
}

// The optional condition argument at position i: (rows, conditionDim) values, or null / absent.
const float* condition_arg(const Args& a, size_t i, int64_t rows, int64_t condition_dim) {
  if (a.at(i).IsUndefined()) return nullptr;
  return a.f32(i, "condition", a.product({rows, condition_dim}, "condition"), true);
}

// A shape given as [n] or [c, h, w] of positive integers.
FeatureShape shape_arg(const Args& a, const Napi::Value& v, const char* name) {
  const char* what = "[n] or [channels, height, width] of integers in [1, 16777216]";
  if (!v.IsArray()) a.type_error(name, what, v);
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() != 1 && arr.Length() != 3) a.range_error(name, what, v);
  int64_t d[3] = {1, 1, 1};
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    const double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : 0;
    if (!(x >= 1 && x <= (1 << 24) && x == std::floor(x))) a.range_error(name, what, v);
    d[i] = static_cast<int64_t>(x);
  }
  return FeatureShape{d[0], d[1], d[2], arr.Length() == 3};
}

// [{ name, kind: 'dense' | 'conv' | 'convTranspose' | 'reshape', units, kernel, stride, padding, outputPadding,
//    shape, activation }] → LayerSpecs; `side` ("encoder" / "decoder") names them in errors.
std::vector<LayerSpec> layer_specs(const Args& a, const Napi::Object& o, const char* side) {
  Napi::Value v = o.Get(side);
  if (!v.IsArray()) a.type_error(side, "an array of layer objects", v);
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 256) a.range_error(side, "at most 256 layers", v);
  std::vector<LayerSpec> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) a.type_error(side, "an array of layer objects", e);
    Napi::Object l = e.As<Napi::Object>();
    LayerSpec s;
    Napi::Value name = l.Get("name");
    if (!name.IsString()) a.type_error("layer name", "a string", name);
    s.name = name.As<Napi::String>().Utf8Value();
    if (s.name.empty() || s.name.size() > 128) a.range_error("layer name", "1 to 128 characters", name);
    s.kind = static_cast<LayerKind>(option_enum(a, l, "kind", -1, {"dense", "conv", "convTranspose", "reshape"}));
    if (static_cast<int>(s.kind) < 0) a.type_error("kind", "'dense', 'conv', 'convTranspose' or 'reshape'", l.Get("kind"));
    s.where = std::string(side) + "[" + std::to_string(i) + "] (" + layer_kind_name(s.kind) + ", " + s.name + ")";
    s.units = option_integer(a, l, "units", 0, 0, 1 << 24);
    s.kernel = option_integer(a, l, "kernel", 1, 0, 1 << 16);
    s.stride = option_integer(a, l, "stride", 1, 0, 1 << 16);
    s.padding = option_integer(a, l, "padding", 0, 0, 1 << 16);
    s.output_padding = option_integer(a, l, "outputPadding", 0, 0, 1 << 16);
    if (s.kind == LayerKind::Reshape) s.shape = shape_arg(a, l.Get("shape"), "shape");
    s.activation = static_cast<Activation>(
        option_enum(a, l, "activation", 0, {"identity", "relu", "tanh", "leaky_relu", "softplus"}));
    out.push_back(s);
  }
  return out;
}

// The constructor's config object → VaeConfig, every field checked (Create checks how the layers chain).
VaeConfig vae_config(const Args& a, const Napi::Object& o) {
  VaeConfig c;
  c.input_dim = option_integer(a, o, "inputDim", 0, 1, 1 << 24);
  c.latent_dim = option_integer(a, o, "latentDim", 0, 1, 1 << 20);
  c.input_shape = o.Has("inputShape") && !o.Get("inputShape").IsUndefined()
                      ? shape_arg(a, o.Get("inputShape"), "inputShape")
                      : FeatureShape::vector(c.input_dim);
  c.encoder = layer_specs(a, o, "encoder");
  c.decoder = layer_specs(a, o, "decoder");
  c.likelihood = static_cast<VaeLikelihood>(
      required_enum(a, o, "likelihood", {"bernoulli", "gaussian", "laplace", "poisson", "nb", "zinb"}));
  c.sigma_mode = static_cast<SigmaMode>(required_enum(a, o, "sigmaMode", {"fixed", "shared", "feature", "decoder"}));
  const bool loc_scale = c.likelihood == VaeLikelihood::Gaussian || c.likelihood == VaeLikelihood::Laplace;
  if (loc_scale) c.sigma = static_cast<float>(required_number(a, o, "sigma"));
  if (c.sigma_mode == SigmaMode::Decoder) c.min_sigma = static_cast<float>(required_number(a, o, "minSigma"));
  c.observed_library = required_bool(a, o, "observedLibrary");
  c.prior_components = required_integer(a, o, "priorComponents", 0, 4096);
  c.condition_dim = required_integer(a, o, "conditionDim", 0, 1 << 20);
  return c;
}

// A model's tensors() as [{ name, offset, shape }].
Napi::Array tensors_to_js(Napi::Env env, const VaeModel& m) {
  const auto& ts = m.tensors();
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

class VaeNative : public Napi::ObjectWrap<VaeNative> {
 public:
  // The values the model's likelihood can score (for data the TypeScript layer has not checked, data_binding.h).
  Support support() const {
    switch (model_->config().likelihood) {
      case VaeLikelihood::Bernoulli: return Support::Unit;
      case VaeLikelihood::Gaussian:
      case VaeLikelihood::Laplace: return Support::Real;
      default: return Support::NonNegative;
    }
  }

  // The inputs of an encode (x: any source, data_binding.h; copied when `own`) or decode (z: a Float32Array) call: the
  // input at 0, rows at 1, the condition and the precision at `rest` and rest + 1 after `outputs` output arrays
  // (rest = 2 + outputs).
  struct InferenceInput {
    std::shared_ptr<const RowSource> x;  // encode
    const float* values = nullptr;       // decode
    int64_t rows;
    const float* condition;
    Precision precision;
  };
  InferenceInput inference_input(const Args& a, bool encode, size_t outputs, bool own) const {
    InferenceInput in;
    in.rows = a.integer(1, "rows", 0);
    if (encode) in.x = source_arg(a, 0, "x", in.rows, model_->config().input_dim, own, support());
    else in.values = a.f32(0, "z", a.product({in.rows, model_->config().latent_dim}, "z"));
    in.condition = condition_arg(a, 2 + outputs, in.rows, model_->config().condition_dim);
    in.precision = a.precision(3 + outputs);
    return in;
  }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VaeNative",
                       {InstanceMethod("numParams", &VaeNative::Guarded<&VaeNative::NumParams>),
                        InstanceMethod("tensors", &VaeNative::Guarded<&VaeNative::Tensors>),
                        InstanceMethod("initParams", &VaeNative::Guarded<&VaeNative::InitParams>),
                        InstanceMethod("getParams", &VaeNative::Guarded<&VaeNative::GetParams>),
                        InstanceMethod("setParams", &VaeNative::Guarded<&VaeNative::SetParams>),
                        InstanceMethod("setThreads", &VaeNative::Guarded<&VaeNative::SetThreads>),
                        InstanceMethod("encode", &VaeNative::Guarded<&VaeNative::Encode>),
                        InstanceMethod("decode", &VaeNative::Guarded<&VaeNative::Decode>),
                        InstanceMethod("encodeAsync", &VaeNative::Guarded<&VaeNative::EncodeAsync>),
                        InstanceMethod("decodeAsync", &VaeNative::Guarded<&VaeNative::DecodeAsync>),
                        InstanceMethod("decoderLogScale", &VaeNative::Guarded<&VaeNative::DecoderLogScale>),
                        InstanceMethod("evaluate", &VaeNative::Guarded<&VaeNative::Evaluate>),
                        InstanceMethod("lossAndGradient", &VaeNative::Guarded<&VaeNative::LossAndGradient>),
                        InstanceMethod("beginTraining", &VaeNative::Guarded<&VaeNative::BeginTraining>),
                        InstanceMethod("trainEpoch", &VaeNative::Guarded<&VaeNative::TrainEpoch>),
                        InstanceMethod("stepsPerEpoch", &VaeNative::Guarded<&VaeNative::StepsPerEpoch>),
                        InstanceMethod("trainingState", &VaeNative::Guarded<&VaeNative::TrainingStateOf>),
                        InstanceMethod("restoreTrainingState", &VaeNative::Guarded<&VaeNative::RestoreTrainingState>),
                        InstanceMethod("endTraining", &VaeNative::Guarded<&VaeNative::EndTraining>),
                        InstanceMethod("cancel", &VaeNative::Guarded<&VaeNative::Cancel>),
                        InstanceMethod("busy", &VaeNative::Guarded<&VaeNative::Busy>),
                        StaticMethod("layout", [](const Napi::CallbackInfo& info) {
                          return guard(info.Env(), [&] { return Layout(info); });
                        }),
                        StaticMethod("objective", [](const Napi::CallbackInfo& info) {
                          return guard(info.Env(), [&] { return ObjectiveCall(info); });
                        })});
  }

  // new VaeNative({ inputDim, latentDim, inputShape?, encoder: layer[], decoder: layer[], likelihood, sigmaMode, sigma,
  //                 minSigma, observedLibrary, priorComponents, conditionDim }) — enums as strings (vae_config)
  explicit VaeNative(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VaeNative>(info) {
    Args a(info, "VaeNative");
    const VaeConfig c = vae_config(a, a.object(0, "config"));
    guard(info.Env(), [&] {
      Status s = VaeModel::Create(c, &model_);
      if (!s.ok()) throw_status(info.Env(), s);
      return info.Env().Undefined();
    });
  }

  // VaeNative.layout(config) → { numParams, tensors }: the parameter layout of a model, without allocating it.
  static Napi::Value Layout(const Napi::CallbackInfo& info) {
    Args a(info, "VaeNative.layout");
    const VaeConfig c = vae_config(a, a.object(0, "config"));
    std::unique_ptr<VaeModel> m;
    Status s = VaeModel::Create(c, &m, false);
    if (!s.ok()) throw_status(info.Env(), s);
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("numParams", Napi::Number::New(info.Env(), static_cast<double>(m->num_params())));
    r.Set("tensors", tensors_to_js(info.Env(), *m));
    return r;
  }

  // VaeNative.objective(dNll, dRatio | null, dimScale | null, nll, ratio | null, kl | null, klDims | null, B, L,
  //                    { objective, samples (K), klWeight, freeBits }) → { loss, reconstruction, kl, dKl }: the pure objective
  // of models/objective.h on given terms, for its own tests.
  static Napi::Value ObjectiveCall(const Napi::CallbackInfo& info) {
    Args a(info, "VaeNative.objective");
    const int64_t B = a.integer(7, "B", 1, 1 << 20), L = a.integer(8, "L", 1, 1 << 20);
    const StepOptions st = step_options(a, a.object(9, "step"));
    const int64_t K = st.samples, R = a.product({B, K}, "nll");
    ObjectiveTerms t;
    t.nll = a.f32(3, "nll", R);
    t.ratio = a.f32(4, "ratio", R, true);
    t.kl = a.f32(5, "kl", B, true);
    t.kl_dims = a.f32(6, "klDims", L, true);
    t.B = B, t.K = K, t.L = L;
    float* d_nll = a.f32(0, "dNll", R);
    float* d_ratio = a.f32(1, "dRatio", R, true);
    float* dim_scale = a.f32(2, "dimScale", L, true);
    if ((t.ratio == nullptr) != (d_ratio == nullptr)) a.type_error("dRatio", "an array exactly when ratio is given", a.at(1));
    std::vector<float> scratch(static_cast<size_t>(R + 2 * B));
    ObjectiveResult r;
    Status s = objective_forward_backward(&r, d_nll, d_ratio, dim_scale, t, st, scratch.data(), scratch.data() + R,
                                          scratch.data() + R + B);
    if (!s.ok()) throw_status(info.Env(), s);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("loss", r.loss);
    o.Set("reconstruction", r.reconstruction);
    o.Set("kl", r.kl);
    o.Set("dKl", r.d_kl);
    return o;
  }

  // A method body, guarded (args.h): no C++ exception leaves a call.
  template <Napi::Value (VaeNative::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Guarded(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] { return (this->*Method)(info); });
  }

  VaeModel& model() { return *model_; }
  VaeTrainer& trainer() { return *trainer_; }
  // A job of the model: Exclusive (a training epoch: it changes the parameters) or Shared (it only reads them).
  enum class Access { Shared, Exclusive };
  void job_started(AsyncJob* job, Access access) {
    if (access == Access::Exclusive) job_ = job;
    else ++readers_;
  }
  void job_settled(Access access) {
    if (access == Access::Exclusive) job_ = nullptr;
    else --readers_;
  }

 private:
  // Before what changes the parameters or the training state: no job of either kind may be running.
  void require_idle(Napi::Env env, const char* what) {
    if (job_ || readers_ > 0)
      throw_status(env, Status::Error(Code::Busy, std::string("cannot ") + what +
                                                      " while a training or evaluation job is running on this model"));
  }
  // Before what only reads the parameters: no training epoch may be running (Adam is updating them).
  void require_not_training(Napi::Env env, const char* what) {
    if (job_)
      throw_status(env, Status::Error(Code::Busy, std::string("cannot ") + what +
                                                      " while a training job is running on this model"));
  }

  Napi::Value NumParams(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(model_->num_params()));
  }

  Napi::Value Tensors(const Napi::CallbackInfo& info) { return tensors_to_js(info.Env(), *model_); }

  Napi::Value InitParams(const Napi::CallbackInfo& info) {
    Args a(info, "initParams");
    require_idle(info.Env(), "initialise parameters");
    model_->init_params(a.seed(0, "seed"));
    return info.Env().Undefined();
  }

  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    Args a(info, "getParams");
    require_not_training(info.Env(), "copy the parameters");  // Adam is updating them
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

  // About the floating-point operations of encoding or decoding `rows` rows (each half of the parameters, 2 per
  // multiply-add), which decides whether a synchronous call runs inline (executor.h).
  double flops(int64_t rows) const { return static_cast<double>(rows) * static_cast<double>(model_->num_params()); }


  // encode(x, rows, mean, logVar, condition | null, precision): q(z | x) into the caller's arrays; x any source
  // (data_binding.h), read before the call returns.
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Args a(info, "encode");
    require_not_training(info.Env(), "encode");
    const InferenceInput in = inference_input(a, true, 2, false);
    const int64_t L = model_->config().latent_dim;
    float* mean = a.f32(2, "mean", a.product({in.rows, L}, "mean"));
    float* log_var = a.f32(3, "logVar", in.rows * L);
    Status s = run_on_compute_thread(threads_, flops(in.rows), [&] {
      return model_->encode(mean, log_var, *in.x, in.condition, in.precision);
    });
    if (!s.ok()) throw_status(info.Env(), s);
    return info.Env().Undefined();
  }

  // decode(z, rows, mean, aux | null, condition | null, precision): E[x | z] and, when asked, the per-element
  // log-scale or dropout logits.
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Args a(info, "decode");
    require_not_training(info.Env(), "decode");
    const InferenceInput in = inference_input(a, false, 2, false);
    const int64_t n = a.product({in.rows, model_->config().input_dim}, "out");
    float* mean = a.f32(2, "mean", n);
    float* aux = a.at(3).IsUndefined() ? nullptr : a.f32(3, "aux", n, true);
    Status s = run_on_compute_thread(threads_, flops(in.rows), [&] {
      return model_->decode(mean, aux, in.values, in.condition, in.rows, in.precision);
    });
    if (!s.ok()) throw_status(info.Env(), s);
    return info.Env().Undefined();
  }

  Napi::Value EncodeAsync(const Napi::CallbackInfo& info);
  Napi::Value DecodeAsync(const Napi::CallbackInfo& info);

  // The learned or fixed log-scale (log σ², log b) or log θ as a new Float32Array, or null when there is none.
  Napi::Value DecoderLogScale(const Napi::CallbackInfo& info) {
    require_not_training(info.Env(), "read the decoder's scale");
    int64_t n = 0;
    const float* v = model_->decoder_log_scale(&n);
    if (n == 0) return info.Env().Null();
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(n));
    std::copy(v, v + n, out.Data());
    return out;
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info);

  // lossAndGradient(x, rows, seed, grad, { objective, samples, klWeight, freeBits }?, condition?, precision?) → loss
  // (synchronous; for gradient checks on small batches; fp32 unless a precision is given)
  Napi::Value LossAndGradient(const Napi::CallbackInfo& info) {
    Args a(info, "lossAndGradient");
    require_not_training(info.Env(), "compute a gradient");
    const int64_t rows = a.integer(1, "rows", 1);
    const float* x = a.f32(0, "x", a.product({rows, model_->config().input_dim}, "x"));
    const uint64_t seed = a.seed(2, "seed");
    float* grad = a.f32(3, "grad", model_->num_params());
    const StepOptions step = a.at(4).IsUndefined() ? StepOptions{} : step_options(a, a.object(4, "step"));
    const float* cond = condition_arg(a, 5, rows, model_->config().condition_dim);
    const Precision precision = a.at(6).IsUndefined() ? Precision::Fp32 : a.precision(6);
    double loss = 0;
    Status s = run_on_compute_thread(threads_, HUGE_VAL, [&] {
      return model_->loss_and_gradient(grad, &loss, x, cond, rows, seed, step, precision);
    });
    if (!s.ok()) throw_status(info.Env(), s);
    return Napi::Number::New(info.Env(), loss);
  }
  Napi::Value BeginTraining(const Napi::CallbackInfo& info);
  Napi::Value TrainEpoch(const Napi::CallbackInfo& info);
  Napi::Value TrainingStateOf(const Napi::CallbackInfo& info);
  Napi::Value RestoreTrainingState(const Napi::CallbackInfo& info);

  Napi::Value StepsPerEpoch(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(trainer_ ? trainer_->steps_per_epoch() : 0));
  }

  Napi::Value EndTraining(const Napi::CallbackInfo& info) {
    require_not_training(info.Env(), "end training");
    trainer_.reset();
    return info.Env().Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (job_) job_->request_cancel();
    return info.Env().Undefined();
  }

  // Whether any job of the model (training, or one that reads it) is running.
  Napi::Value Busy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), job_ != nullptr || readers_ > 0);
  }

  std::unique_ptr<VaeModel> model_;
  std::unique_ptr<VaeTrainer> trainer_;  // between beginTraining and endTraining
  int threads_ = 0;
  AsyncJob* job_ = nullptr;  // the running training epoch (JS thread only)
  int readers_ = 0;          // running jobs that only read the parameters (JS thread only)
};

// An async job on a model (async_job.h): it keeps the model's JS object alive and counts as running on the model
// until it settles (Exclusive: a training epoch, which VaeNative::cancel() cancels; Shared: a job that reads it).
class ModelJob : public AsyncJob {
 protected:
  using Access = VaeNative::Access;
  ModelJob(Napi::Env env, VaeNative* owner, int threads, Access access)
      : AsyncJob(env, threads), owner_(owner), access_(access) {
    keep(owner->Value());
    owner->job_started(this, access);
  }
  void Settled() override { owner_->job_settled(access_); }

  VaeNative* owner_;
  Access access_;
};

// encodeAsync / decodeAsync: its own copies of the input (or the mapping it lies in) and condition, outputs into
// buffers of its own.
class InferenceJob : public ModelJob {
 public:
  InferenceJob(Napi::Env env, VaeNative* owner, int threads, bool encode, const VaeNative::InferenceInput& in,
               bool with_aux)
      : ModelJob(env, owner, threads, Access::Shared), encode_(encode), with_aux_(with_aux), rows_(in.rows),
        precision_(in.precision), x_(in.x) {
    if (!encode) values_.assign(in.values, in.values + in.rows * owner->model().config().latent_dim);
    if (in.condition) cond_.assign(in.condition, in.condition + in.rows * owner->model().config().condition_dim);
  }

 protected:
  // The outputs are allocated (and first touched) here, on the compute thread, and handed to JS without a copy.
  Status Work() override {
    const VaeConfig& c = owner_->model().config();
    first_.resize(static_cast<size_t>(rows_ * (encode_ ? c.latent_dim : c.input_dim)));
    if (encode_ || with_aux_) second_.resize(first_.size());
    const float* cond = cond_.empty() ? nullptr : cond_.data();
    if (encode_) return owner_->model().encode(first_.data(), second_.data(), *x_, cond, precision_);
    return owner_->model().decode(first_.data(), with_aux_ ? second_.data() : nullptr, values_.data(), cond, rows_,
                                  precision_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("mean", adopt_array(env, std::move(first_)));
    if (encode_) r.Set("logVar", adopt_array(env, std::move(second_)));
    else r.Set("aux", with_aux_ ? Napi::Value(adopt_array(env, std::move(second_))) : env.Null());
    return r;
  }

 private:
  bool encode_, with_aux_;
  int64_t rows_;
  Precision precision_;
  std::shared_ptr<const RowSource> x_;
  std::vector<float> values_, cond_, first_, second_;
};

// encodeAsync(x, rows, condition | null, precision) → Promise<{ mean, logVar }> (new Float32Arrays of rows × latentDim)
Napi::Value VaeNative::EncodeAsync(const Napi::CallbackInfo& info) {
  Args a(info, "encodeAsync");
  require_not_training(info.Env(), "encode");
  const InferenceInput in = inference_input(a, true, 0, true);
  return AsyncJob::Start(info.Env(), new InferenceJob(info.Env(), this, threads_, true, in, false));
}

// decodeAsync(z, rows, condition | null, precision, withAux) → Promise<{ mean, aux | null }> (rows × inputDim each)
Napi::Value VaeNative::DecodeAsync(const Napi::CallbackInfo& info) {
  Args a(info, "decodeAsync");
  require_not_training(info.Env(), "decode");
  const InferenceInput in = inference_input(a, false, 0, true);
  const bool with_aux = a.boolean(4, "withAux");
  return AsyncJob::Start(info.Env(), new InferenceJob(info.Env(), this, threads_, false, in, with_aux));
}

// Per-example terms into buffers of its own (outputs too: a detached output array would be freed under the job).
class EvaluateJob : public ModelJob {
 public:
  EvaluateJob(Napi::Env env, VaeNative* owner, int threads, std::shared_ptr<const RowSource> x,
              std::vector<float> cond, int64_t rows, int64_t samples, bool analytic_kl, uint64_t seed, bool binarize, Precision precision,
              int64_t row_offset, bool want_reconstruction, bool want_kl, bool want_log_likelihood)
      : ModelJob(env, owner, threads, Access::Shared), x_(std::move(x)), cond_(std::move(cond)), rows_(rows), samples_(samples),
        analytic_kl_(analytic_kl), seed_(seed), binarize_(binarize), precision_(precision), row_offset_(row_offset) {
    const size_t n = static_cast<size_t>(rows);
    if (want_reconstruction) reconstruction_.resize(n);
    if (want_kl) kl_.resize(n);
    if (want_log_likelihood) log_likelihood_.resize(n);
  }

 protected:
  Status Work() override {
    EvalTerms out;
    out.reconstruction = reconstruction_.empty() ? nullptr : reconstruction_.data();
    out.kl = kl_.empty() ? nullptr : kl_.data();
    out.log_likelihood = log_likelihood_.empty() ? nullptr : log_likelihood_.data();
    return owner_->model().evaluate(out, *x_, cond_.empty() ? nullptr : cond_.data(), samples_,
                                    analytic_kl_, seed_, binarize_, precision_, cancel_flag(), row_offset_);
  }

  Napi::Value Result(Napi::Env env) override {
    auto array = [&](std::vector<float>& v) -> Napi::Value {
      if (v.empty() && rows_ > 0) return env.Null();
      return adopt_array(env, std::move(v));
    };
    Napi::Object r = Napi::Object::New(env);
    r.Set("reconstruction", array(reconstruction_));
    r.Set("kl", array(kl_));
    r.Set("logLikelihood", array(log_likelihood_));
    return r;
  }

 private:
  std::shared_ptr<const RowSource> x_;
  std::vector<float> cond_;
  int64_t rows_, samples_;
  bool analytic_kl_;
  uint64_t seed_;
  bool binarize_;
  Precision precision_;
  int64_t row_offset_;
  std::vector<float> reconstruction_, kl_, log_likelihood_;
};

// evaluate(x, rows, samples, seed, binarize, analyticKl, { reconstruction, kl, logLikelihood }, condition | null,
// precision, rowOffset?) — rowOffset: the draws of row i are those of row rowOffset + i (a rank's part of a set)
// → Promise<{ reconstruction, kl, logLikelihood }> (each a new Float32Array of rows when asked for, else null)
Napi::Value VaeNative::Evaluate(const Napi::CallbackInfo& info) {
  Args a(info, "evaluate");
  require_not_training(info.Env(), "evaluate");
  const int64_t rows = a.integer(1, "rows", 0);
  std::shared_ptr<const RowSource> x = source_arg(a, 0, "x", rows, model_->config().input_dim, true, support());
  const int64_t samples = a.integer(2, "samples", 1, kMaxEvalSamples);
  const uint64_t seed = a.seed(3, "seed");
  const bool binarize = a.boolean(4, "binarize");
  const bool analytic_kl = a.boolean(5, "analyticKl");
  Napi::Object want = a.object(6, "want");
  const float* cond = condition_arg(a, 7, rows, model_->config().condition_dim);
  const Precision precision = a.precision(8);
  const int64_t row_offset = info.Length() > 9 && !info[9].IsUndefined() ? a.integer(9, "rowOffset", 0) : 0;
  const int64_t Q = model_->config().condition_dim;
  std::vector<float> cond_copy = cond ? std::vector<float>(cond, cond + rows * Q) : std::vector<float>();
  return AsyncJob::Start(info.Env(), new EvaluateJob(info.Env(), this, threads_, std::move(x), std::move(cond_copy),
                                                     rows, samples, analytic_kl, seed, binarize, precision, row_offset,
                                                     option_bool(a, want, "reconstruction", false),
                                                     option_bool(a, want, "kl", false),
                                                     option_bool(a, want, "logLikelihood", false)));
}

// beginTraining(data, rows, { batchSize, lr, beta1, beta2, eps, weightDecay, binarize, seed, objective, samples,
// klWeight, freeBits, precision, clipGradNorm?, shuffleBlockRows?, distributed?, sharded? }, condition?): data is any
// source
// (data_binding.h), copied into native memory once unless it lies in a mapped file; the conditions are copied; every
// training buffer is allocated.
Napi::Value VaeNative::BeginTraining(const Napi::CallbackInfo& info) {
  Args a(info, "beginTraining");
  require_idle(info.Env(), "begin training");
  const int64_t rows = a.integer(1, "rows", 1);
  std::shared_ptr<const RowSource> data = source_arg(a, 0, "x", rows, model_->config().input_dim, true, support());
  Napi::Object o = a.object(2, "options");
  TrainOptions t;
  t.batch_size = required_integer(a, o, "batchSize", 1, 1 << 24);
  t.adam.lr = static_cast<float>(required_number(a, o, "lr"));
  t.adam.beta1 = static_cast<float>(option_number(a, o, "beta1", t.adam.beta1));  // AdamHyper's (optim.h) unless given
  t.adam.beta2 = static_cast<float>(option_number(a, o, "beta2", t.adam.beta2));
  t.adam.eps = static_cast<float>(required_number(a, o, "eps"));
  t.adam.weight_decay = static_cast<float>(required_number(a, o, "weightDecay"));
  t.binarize = required_bool(a, o, "binarize");
  t.seed = static_cast<uint64_t>(required_integer(a, o, "seed", 0, (int64_t(1) << 53) - 1));
  t.step = step_options(a, o);
  t.precision = required_precision(a, o);
  t.clip_grad_norm = static_cast<float>(option_number(a, o, "clipGradNorm", 0.0));
  if (!(t.clip_grad_norm >= 0.f) || !std::isfinite(t.clip_grad_norm))
    a.range_error("clipGradNorm", "a finite number >= 0 (0: no clipping)", o.Get("clipGradNorm"));
  t.shuffle_block_rows = option_integer(a, o, "shuffleBlockRows", 0, 0, kMaxElements);
  if (option_bool(a, o, "distributed", false)) {  // data-parallel over MPI_COMM_WORLD (trainer.h)
    Status ws = Communicator::World(&t.comm);
    if (!ws.ok()) throw_status(info.Env(), ws);
    t.sharded = option_bool(a, o, "sharded", false);  // each rank holds its shard of the set (else all of it)
  }
  // Allocation and one copy, no parallel work: done here so a fit never waits behind another model's job.
  trainer_.reset();
  Status s = VaeTrainer::Create(model_.get(), std::move(data), condition_arg(a, 3, rows, model_->config().condition_dim),
                                t, &trainer_);
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

class TrainEpochJob : public ModelJob {
 public:
  TrainEpochJob(Napi::Env env, VaeNative* owner, int threads, int64_t epoch, std::vector<float> kl_weights,
                std::vector<float> learning_rates, bool aggressive, Napi::Function on_progress)
      : ModelJob(env, owner, threads, Access::Exclusive), epoch_(epoch), kl_weights_(std::move(kl_weights)),
        learning_rates_(std::move(learning_rates)), aggressive_(aggressive) {
    if (!on_progress.IsEmpty()) progress_fn_ = Napi::Persistent(on_progress);
    report_ = !on_progress.IsEmpty();
  }

 protected:
  Status Work() override {
    using clock = std::chrono::steady_clock;
    auto last = clock::now();
    ProgressFn fn = [&](int64_t steps, int64_t examples, double loss) {
      auto now = clock::now();
      if (!report_ || now - last < std::chrono::milliseconds(100)) return;
      last = now;
      notify(&progress_fn_, {static_cast<double>(steps), static_cast<double>(examples), loss});
    };
    return owner_->trainer().train_epoch(epoch_, kl_weights_.empty() ? nullptr : kl_weights_.data(),
                                         learning_rates_.empty() ? nullptr : learning_rates_.data(), aggressive_,
                                         &result_, cancel_flag(), fn);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("lossSum", Napi::Number::New(env, result_.loss_sum));
    r.Set("reconstructionSum", Napi::Number::New(env, result_.reconstruction_sum));
    r.Set("klSum", Napi::Number::New(env, result_.kl_sum));
    r.Set("encoderSteps", Napi::Number::New(env, static_cast<double>(result_.encoder_steps)));
    r.Set("examples", Napi::Number::New(env, static_cast<double>(result_.examples)));
    r.Set("steps", Napi::Number::New(env, static_cast<double>(result_.steps)));
    r.Set("clippedSteps", Napi::Number::New(env, static_cast<double>(result_.clipped_steps)));
    r.Set("gradNormMax", Napi::Number::New(env, result_.grad_norm_max));
    return r;
  }

 private:
  int64_t epoch_;
  std::vector<float> kl_weights_;      // a copy: (stepsPerEpoch) or empty
  std::vector<float> learning_rates_;  // likewise
  bool aggressive_;
  bool report_ = false;
  EpochResult result_;
  Napi::FunctionReference progress_fn_;
};

// trainEpoch(epoch, klWeights, learningRates, aggressive, onProgress?) → Promise<{ lossSum, reconstructionSum, klSum,
// examples, steps, encoderSteps, clippedSteps, gradNormMax }>. klWeights, learningRates: null, or a Float32Array
// with the KL weight / learning rate of each of the epoch's stepsPerEpoch() steps; aggressive: encoder-only inner
// updates before each decoder update (vae.h).
Napi::Value VaeNative::TrainEpoch(const Napi::CallbackInfo& info) {
  Args a(info, "trainEpoch");
  require_idle(info.Env(), "train");
  const int64_t epoch = a.integer(0, "epoch", 0, int64_t(1) << 40);
  if (!trainer_)
    throw_status(info.Env(), Status::Error(Code::InvalidArgument, "trainEpoch called before beginTraining"));
  const int64_t steps = trainer_->steps_per_epoch();
  const float* kl_weights = a.f32(1, "klWeights", steps, true);
  const float* lrs = a.f32(2, "learningRates", steps, true);
  for (int64_t s = 0; lrs && s < steps; ++s)
    if (!(lrs[s] > 0.f) || !std::isfinite(lrs[s]))
      a.range_error("learningRates", "finite learning rates > 0", Napi::Number::New(info.Env(), lrs[s]));
  const bool aggressive = a.boolean(3, "aggressive");
  Napi::Function fn = a.function(4, "onProgress", true);
  auto copy = [&](const float* v) { return v ? std::vector<float>(v, v + steps) : std::vector<float>(); };
  return AsyncJob::Start(info.Env(), new TrainEpochJob(info.Env(), this, threads_, epoch, copy(kl_weights), copy(lrs),
                                                       aggressive, fn));
}

// trainingState() → { adamM, adamV (new Float32Arrays of numParams), encoderAdamSteps, generativeAdamSteps,
// innerCursor, innerShuffles, innerSteps }: what a resumed run needs beyond the parameters (trainer.h).
Napi::Value VaeNative::TrainingStateOf(const Napi::CallbackInfo& info) {
  require_idle(info.Env(), "read the training state");
  if (!trainer_) throw_status(info.Env(), Status::Error(Code::InvalidArgument, "no training has begun"));
  TrainingState st = trainer_->state();
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("adamM", adopt_array(env, std::move(st.adam_m)));
  o.Set("adamV", adopt_array(env, std::move(st.adam_v)));
  o.Set("encoderAdamSteps", Napi::Number::New(env, static_cast<double>(st.encoder_adam_steps)));
  o.Set("generativeAdamSteps", Napi::Number::New(env, static_cast<double>(st.generative_adam_steps)));
  o.Set("innerCursor", Napi::Number::New(env, static_cast<double>(st.inner_cursor)));
  o.Set("innerShuffles", Napi::Number::New(env, static_cast<double>(st.inner_shuffles)));
  o.Set("innerSteps", Napi::Number::New(env, static_cast<double>(st.inner_steps)));
  return o;
}

// restoreTrainingState(state): a state as trainingState() gives it, after beginTraining on the same model and data size.
Napi::Value VaeNative::RestoreTrainingState(const Napi::CallbackInfo& info) {
  Args a(info, "restoreTrainingState");
  require_idle(info.Env(), "restore the training state");
  if (!trainer_) throw_status(info.Env(), Status::Error(Code::InvalidArgument, "restoreTrainingState called before beginTraining"));
  Napi::Object o = a.object(0, "state");
  const int64_t N = model_->num_params();
  auto moments = [&](const char* name) {
    Napi::Value v = o.Get(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        static_cast<int64_t>(v.As<Napi::Float32Array>().ElementLength()) != N)
      a.type_error(name, ("a Float32Array of " + std::to_string(N) + " values").c_str(), v);
    Napi::Float32Array f = v.As<Napi::Float32Array>();
    return std::vector<float>(f.Data(), f.Data() + N);
  };
  TrainingState st;
  st.adam_m = moments("adamM");
  st.adam_v = moments("adamV");
  const int64_t big = int64_t(1) << 50;
  st.encoder_adam_steps = required_integer(a, o, "encoderAdamSteps", 0, big);
  st.generative_adam_steps = required_integer(a, o, "generativeAdamSteps", 0, big);
  st.inner_cursor = required_integer(a, o, "innerCursor", 0, big);
  st.inner_shuffles = required_integer(a, o, "innerShuffles", 0, big);
  st.inner_steps = required_integer(a, o, "innerSteps", 0, big);
  Status s = trainer_->restore(st);
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

}  // namespace

Napi::Function init_vae(Napi::Env env) { return VaeNative::Define(env); }

}  // namespace lk
