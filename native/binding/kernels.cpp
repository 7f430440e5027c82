// kernels.cpp — direct, synchronous bindings of the core kernels (one JS function per kernel, same name and
// argument order as native/core), used by the tests and by bench/. Sizes are checked against every array.
#include <napi.h>

#include <chrono>
#include <cmath>
#include <vector>

#include "../core/conv.h"
#include "../core/dense.h"
#include "../core/gaussian.h"
#include "../core/gemm.h"
#include "../core/likelihood.h"
#include "../core/memory.h"
#include "../core/optim.h"
#include "../core/reduce.h"
#include "../core/rng.h"
#include "args.h"
#include "executor.h"

namespace lk {

namespace {

int g_kernel_threads = 0;  // set by set_threads
constexpr double kMaxBenchmarkFlops = 2e12;

// Runs kernel(args...) on the compute thread (executor.h). The arguments are evaluated here, on the JS thread,
// before the call, so no N-API call happens off the JS thread.
template <typename F, typename... A>
void run(const Args& a, F kernel, A... args) {
  Status s = run_on_compute_thread(g_kernel_threads, HUGE_VAL, [&] { return kernel(args...); });
  if (!s.ok()) throw_status(a.env(), s);
}

Status gemm_dense(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
                  float beta, float* C) {
  return gemm(ta, tb, M, N, K, alpha, A, B, beta, C);
}

Activation activation_arg(const Args& a, size_t i) {
  return static_cast<Activation>(a.enumeration(i, "activation", {"identity", "relu", "tanh", "leaky_relu", "softplus"}));
}

// (B, D) sizes at positions i, i + 1 and their product.
struct Dims {
  int64_t B, D, n;
};
Dims dims(const Args& a, size_t i) {
  Dims d;
  d.B = a.integer(i, "B", 0);
  d.D = a.integer(i + 1, "D", 0);
  d.n = a.product({d.B, d.D}, "B·D");
  return d;
}

// (B, D) at positions i, i + 1 and an optional samples-per-row K at position k (default 1).
struct SampleDims {
  int64_t B, D, K, n, nk;  // n = B·D (per-row arrays), nk = B·K·D (per-draw arrays)
};
SampleDims sample_dims(const Args& a, size_t i, size_t k) {
  SampleDims d;
  d.B = a.integer(i, "B", 0);
  d.D = a.integer(i + 1, "D", 0);
  d.K = a.at(k).IsUndefined() ? 1 : a.integer(k, "K", 1);
  d.n = a.product({d.B, d.D}, "B·D");
  d.nk = a.product({d.B, d.K, d.D}, "B·K·D");
  return d;
}

Napi::Value ReparamForward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_reparameterize_forward");
  SampleDims d = sample_dims(a, 4, 6);
  run(a, gaussian_reparameterize_forward, a.f32(0, "z", d.nk), a.f32(1, "mean", d.n), a.f32(2, "logVar", d.n),
      a.f32(3, "eps", d.nk), d.B, d.D, d.K);
  return a.env().Undefined();
}

Napi::Value ReparamBackward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_reparameterize_backward");
  SampleDims d = sample_dims(a, 5, 7);
  run(a, gaussian_reparameterize_backward, a.f32(0, "dMean", d.n), a.f32(1, "dLogVar", d.n), a.f32(2, "dZ", d.nk),
      a.f32(3, "logVar", d.n), a.f32(4, "eps", d.nk), d.B, d.D, d.K);
  return a.env().Undefined();
}

Napi::Value LogRatioForward(const Napi::CallbackInfo& info) {
  Args a(info, "std_normal_log_ratio_forward");
  SampleDims d = sample_dims(a, 4, 6);
  run(a, std_normal_log_ratio_forward, a.f32(0, "ratio", d.B * d.K), a.f32(1, "z", d.nk), a.f32(2, "eps", d.nk),
      a.f32(3, "logVar", d.n), d.B, d.D, d.K);
  return a.env().Undefined();
}

Napi::Value LogRatioBackward(const Napi::CallbackInfo& info) {
  Args a(info, "std_normal_log_ratio_backward");
  SampleDims d = sample_dims(a, 4, 6);
  run(a, std_normal_log_ratio_backward, a.f32(0, "dZ", d.nk), a.f32(1, "dLogVar", d.n), a.f32(2, "dRatio", d.B * d.K),
      a.f32(3, "z", d.nk), d.B, d.D, d.K);
  return a.env().Undefined();
}

Napi::Value KlDimsForward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_kl_std_normal_dims_forward");
  Dims d = dims(a, 3);
  run(a, gaussian_kl_std_normal_dims_forward, a.f32(0, "klDims", d.D), a.f32(1, "mean", d.n), a.f32(2, "logVar", d.n),
      d.B, d.D);
  return a.env().Undefined();
}

Napi::Value KlForward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_kl_std_normal_forward");
  Dims d = dims(a, 3);
  run(a, gaussian_kl_std_normal_forward, a.f32(0, "kl", d.B), a.f32(1, "mean", d.n), a.f32(2, "logVar", d.n),
                                                d.B, d.D);
  return a.env().Undefined();
}

Napi::Value KlBackward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_kl_std_normal_backward");
  Dims d = dims(a, 5);
  run(a, gaussian_kl_std_normal_backward, a.f32(0, "dMean", d.n), a.f32(1, "dLogVar", d.n),
                                                 a.f32(2, "dKl", d.B), a.f32(3, "mean", d.n), a.f32(4, "logVar", d.n),
                                                 d.B, d.D, a.f32(7, "dimScale", d.D, true));
  return a.env().Undefined();
}

Napi::Value DiagLogDensityForward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_diag_log_density_forward");
  Dims d = dims(a, 4);
  run(a, gaussian_diag_log_density_forward, a.f32(0, "logProb", d.B), a.f32(1, "x", d.n), a.f32(2, "mean", d.n),
                                                   a.f32(3, "logVar", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value DiagLogDensityBackward(const Napi::CallbackInfo& info) {
  Args a(info, "gaussian_diag_log_density_backward");
  Dims d = dims(a, 7);
  run(a, gaussian_diag_log_density_backward, a.f32(0, "dX", d.n, true), a.f32(1, "dMean", d.n, true),
                                                    a.f32(2, "dLogVar", d.n, true), a.f32(3, "dLogProb", d.B),
                                                    a.f32(4, "x", d.n), a.f32(5, "mean", d.n), a.f32(6, "logVar", d.n),
                                                    d.B, d.D);
  return a.env().Undefined();
}

// (B, D, K, C) at positions i … i + 3: rows, latent width, draws per row, prior components.
struct MixtureDims {
  int64_t B, D, K, C, R, RD, CD;
};
MixtureDims mixture_dims(const Args& a, size_t i) {
  MixtureDims m;
  m.B = a.integer(i, "B", 0);
  m.D = a.integer(i + 1, "D", 0);
  m.K = a.integer(i + 2, "K", 1);
  m.C = a.integer(i + 3, "C", 1);
  m.R = a.product({m.B, m.K}, "B·K");
  m.RD = a.product({m.R, m.D}, "B·K·D");
  m.CD = a.product({m.C, m.D}, "C·D");
  return m;
}

Napi::Value MixtureRatioForward(const Napi::CallbackInfo& info) {
  Args a(info, "mixture_log_ratio_forward");
  MixtureDims m = mixture_dims(a, 8);
  run(a, mixture_log_ratio_forward, a.f32(0, "ratio", m.R), a.f32(1, "resp", a.product({m.R, m.C}, "B·K·C")),
      a.f32(2, "z", m.RD), a.f32(3, "eps", m.RD), a.f32(4, "logVar", m.B * m.D), a.f32(5, "logits", m.C),
      a.f32(6, "means", m.CD), a.f32(7, "logVars", m.CD), m.B, m.D, m.K, m.C);
  return a.env().Undefined();
}

Napi::Value MixtureRatioBackward(const Napi::CallbackInfo& info) {
  Args a(info, "mixture_log_ratio_backward");
  MixtureDims m = mixture_dims(a, 11);
  run(a, mixture_log_ratio_backward, a.f32(0, "dZ", m.RD), a.f32(1, "dLogVar", m.B * m.D), a.f32(2, "dLogits", m.C),
      a.f32(3, "dMeans", m.CD), a.f32(4, "dLogVars", m.CD), a.f32(5, "dRatio", m.R),
      a.f32(6, "resp", a.product({m.R, m.C}, "B·K·C")), a.f32(7, "z", m.RD), a.f32(8, "logits", m.C),
      a.f32(9, "means", m.CD), a.f32(10, "logVars", m.CD), m.B, m.D, m.K, m.C);
  return a.env().Undefined();
}

Napi::Value BernoulliForward(const Napi::CallbackInfo& info) {
  Args a(info, "bernoulli_logits_nll_forward");
  Dims d = dims(a, 4);
  run(a, bernoulli_logits_nll_forward, a.f32(0, "nll", d.B), a.f32(1, "probs", d.n, true),
                                              a.f32(2, "logits", d.n), a.f32(3, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value BernoulliBackward(const Napi::CallbackInfo& info) {
  Args a(info, "bernoulli_logits_nll_backward");
  Dims d = dims(a, 4);
  run(a, bernoulli_logits_nll_backward, a.f32(0, "dLogits", d.n), a.f32(1, "dNll", d.B), a.f32(2, "probs", d.n),
                                               a.f32(3, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

int64_t log_var_length(LogVarShape s, const Dims& d) {
  return s == LogVarShape::Scalar ? 1 : s == LogVarShape::Feature ? d.D : d.n;
}

// The location-scale NLLs (Gaussian, Laplace) share one argument list: (nll, mean, logScale, shape, x, B, D).
using LocationScaleForward = Status (*)(float*, const float*, const float*, LogVarShape, const float*, int64_t,
                                        int64_t);
using LocationScaleBackward = Status (*)(float*, float*, const float*, const float*, const float*, LogVarShape,
                                         const float*, int64_t, int64_t);

// Kernel names for error messages (template arguments: static storage).
constexpr char kGaussianForward[] = "gaussian_nll_forward", kGaussianBackward[] = "gaussian_nll_backward";
constexpr char kLaplaceForward[] = "laplace_nll_forward", kLaplaceBackward[] = "laplace_nll_backward";

template <LocationScaleForward Kernel, const char* Name>
Napi::Value LocationScaleNllForward(const Napi::CallbackInfo& info) {
  Args a(info, Name);
  Dims d = dims(a, 5);
  auto shape = static_cast<LogVarShape>(a.enumeration(3, "logScaleShape", {"scalar", "feature", "element"}));
  run(a, Kernel, a.f32(0, "nll", d.B), a.f32(1, "mean", d.n), a.f32(2, "logScale", log_var_length(shape, d)), shape,
      a.f32(4, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

template <LocationScaleBackward Kernel, const char* Name>
Napi::Value LocationScaleNllBackward(const Napi::CallbackInfo& info) {
  Args a(info, Name);
  Dims d = dims(a, 7);
  auto shape = static_cast<LogVarShape>(a.enumeration(5, "logScaleShape", {"scalar", "feature", "element"}));
  const int64_t nlv = log_var_length(shape, d);
  run(a, Kernel, a.f32(0, "dMean", d.n), a.f32(1, "dLogScale", nlv, true), a.f32(2, "dNll", d.B),
      a.f32(3, "mean", d.n), a.f32(4, "logScale", nlv), shape, a.f32(6, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value FlooredLogForward(const Napi::CallbackInfo& info) {
  Args a(info, "floored_log_forward");
  const int64_t n = a.integer(3, "n", 0);
  run(a, floored_log_forward, a.f32(0, "out", n), a.f32(1, "raw", n), static_cast<float>(a.number(2, "floor")), n);
  return a.env().Undefined();
}

Napi::Value FlooredLogBackward(const Napi::CallbackInfo& info) {
  Args a(info, "floored_log_backward");
  const int64_t n = a.integer(4, "n", 0);
  run(a, floored_log_backward, a.f32(0, "dRaw", n), a.f32(1, "dOut", n), a.f32(2, "raw", n),
      static_cast<float>(a.number(3, "floor")), n);
  return a.env().Undefined();
}

Napi::Value PoissonForward(const Napi::CallbackInfo& info) {
  Args a(info, "poisson_nll_forward");
  Dims d = dims(a, 4);
  run(a, poisson_nll_forward, a.f32(0, "nll", d.B), a.f32(1, "logRate", d.n), a.f32(2, "offset", d.B, true),
      a.f32(3, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value PoissonBackward(const Napi::CallbackInfo& info) {
  Args a(info, "poisson_nll_backward");
  Dims d = dims(a, 5);
  run(a, poisson_nll_backward, a.f32(0, "dLogRate", d.n), a.f32(1, "dNll", d.B), a.f32(2, "logRate", d.n),
      a.f32(3, "offset", d.B, true), a.f32(4, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value NbForward(const Napi::CallbackInfo& info) {
  Args a(info, "nb_nll_forward");
  Dims d = dims(a, 6);
  run(a, nb_nll_forward, a.f32(0, "nll", d.B), a.f32(1, "logMean", d.n), a.f32(2, "logTheta", d.D),
      a.f32(3, "dropoutLogits", d.n, true), a.f32(4, "offset", d.B, true), a.f32(5, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value NbBackward(const Napi::CallbackInfo& info) {
  Args a(info, "nb_nll_backward");
  Dims d = dims(a, 9);
  run(a, nb_nll_backward, a.f32(0, "dLogMean", d.n), a.f32(1, "dLogTheta", d.D, true),
      a.f32(2, "dDropoutLogits", d.n, true), a.f32(3, "dNll", d.B), a.f32(4, "logMean", d.n),
      a.f32(5, "logTheta", d.D), a.f32(6, "dropoutLogits", d.n, true), a.f32(7, "offset", d.B, true),
      a.f32(8, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value DenseForward(const Napi::CallbackInfo& info) {
  Args a(info, "dense_forward");
  const int64_t B = a.integer(4, "B", 0), I = a.integer(5, "I", 0), O = a.integer(6, "O", 0);
  run(a, dense_forward, a.f32(0, "y", a.product({B, O}, "y")), a.f32(1, "x", a.product({B, I}, "x")),
                               a.f32(2, "W", a.product({I, O}, "W")), a.f32(3, "b", O), B, I, O, activation_arg(a, 7));
  return a.env().Undefined();
}

Napi::Value DenseBackward(const Napi::CallbackInfo& info) {
  Args a(info, "dense_backward");
  const int64_t B = a.integer(7, "B", 0), I = a.integer(8, "I", 0), O = a.integer(9, "O", 0);
  const int64_t nx = a.product({B, I}, "x"), nw = a.product({I, O}, "W"), ny = a.product({B, O}, "y");
  run(a, dense_backward, a.f32(0, "dX", nx, true), a.f32(1, "dW", nw), a.f32(2, "dB", O), a.f32(3, "dY", ny),
                                a.f32(4, "x", nx), a.f32(5, "W", nw), a.f32(6, "y", ny), B, I, O, activation_arg(a, 10),
                                a.boolean(11, "accumulateDx"));
  return a.env().Undefined();
}

// { inC, inH, inW, outC, kernel, stride, padding, outputPadding, transposed } → a checked ConvGeometry.
ConvGeometry conv_geometry_of(const Args& a, const Napi::Object& o) {
  ConvGeometry g;
  g.in_c = option_integer(a, o, "inC", 0, 1, 1 << 16);
  g.in_h = option_integer(a, o, "inH", 0, 1, 1 << 16);
  g.in_w = option_integer(a, o, "inW", 0, 1, 1 << 16);
  g.out_c = option_integer(a, o, "outC", 0, 1, 1 << 16);
  g.kernel = option_integer(a, o, "kernel", 1, 1, 64);
  g.stride = option_integer(a, o, "stride", 1, 1, 64);
  g.padding = option_integer(a, o, "padding", 0, 0, 63);
  g.output_padding = option_integer(a, o, "outputPadding", 0, 0, 63);
  g.transposed = option_bool(a, o, "transposed", false);
  Status st = g.check();
  if (!st.ok()) throw_status(a.env(), st);
  return g;
}
ConvGeometry conv_geometry(const Args& a, size_t i) { return conv_geometry_of(a, a.object(i, "geometry")); }

// conv2d_forward(y, x, w, b, geometry, rows): y (rows, outC, outH, outW) = conv(x) + b (see core/conv.h).
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2d_forward");
  const ConvGeometry g = conv_geometry(a, 4);
  const int64_t rows = a.integer(5, "rows", 1, 1 << 24);
  float* y = a.f32(0, "y", a.product({rows, g.out_c, g.out_h(), g.out_w()}, "y"));
  const float* x = a.f32(1, "x", a.product({rows, g.in_c, g.in_h, g.in_w}, "x"));
  const float* w = a.f32(2, "w", g.weight_count());
  const float* b = a.f32(3, "b", g.out_c);
  run(a, [&] {
    ConvKernel kernel(g);
    return kernel.forward(y, x, w, b, rows);
  });
  return a.env().Undefined();
}

// conv2d_backward(dX | null, dW, dB, dY, x, w, geometry, rows, accumulateDx): dW = ∂, dB = ∂, dX = (or +=) ∂ of
// Σ dY ⊙ conv(x). Runs the forward first, as a training step does (the backward reuses its reordered inputs).
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info) {
  Args a(info, "conv2d_backward");
  const ConvGeometry g = conv_geometry(a, 6);
  const int64_t rows = a.integer(7, "rows", 1, 1 << 24);
  const int64_t nx = a.product({rows, g.in_c, g.in_h, g.in_w}, "x");
  const int64_t ny = a.product({rows, g.out_c, g.out_h(), g.out_w()}, "dY");
  float* dx = a.f32(0, "dX", nx, true);
  float* dw = a.f32(1, "dW", g.weight_count());
  float* db = a.f32(2, "dB", g.out_c);
  const float* dy = a.f32(3, "dY", ny);
  const float* x = a.f32(4, "x", nx);
  const float* w = a.f32(5, "w", g.weight_count());
  const bool accumulate = a.boolean(8, "accumulateDx");
  std::unique_ptr<float[]> y = allocate_array<float>(ny, "the convolution's output");
  std::vector<float> zero_bias(static_cast<size_t>(g.out_c), 0.f);
  run(a, [&] {
    ConvKernel kernel(g);
    LK_RETURN_IF_ERROR(kernel.forward(y.get(), x, w, zero_bias.data(), rows));
    return kernel.backward(dx, dw, db, dy, x, w, rows, accumulate);
  });
  return a.env().Undefined();
}

// conv_benchmark([{ ...geometry, inputGrad }], rows, repeats, warmup, precision) → seconds per pass over the listed
// convolutions' primitives (forward, backward weights, backward data when inputGrad), run on the compute thread.
Napi::Value ConvBenchmark(const Napi::CallbackInfo& info) {
  Args a(info, "conv_benchmark");
  Napi::Value v = a.at(0);
  if (!v.IsArray()) a.type_error("layers", "an array of convolution geometries", v);
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 64) a.range_error("layers", "at most 64 convolutions", v);
  const int64_t rows = a.integer(1, "rows", 1, 4096);
  const int64_t repeats = a.integer(2, "repeats", 1, 1000);
  const int64_t warmup = a.integer(3, "warmup", 0, 1000);
  const bool bf16 = a.precision(4) == Precision::Bf16;
  std::vector<ConvGeometry> geoms;
  std::vector<bool> input_grad;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) a.type_error("layers", "an array of convolution geometries", e);
    geoms.push_back(conv_geometry_of(a, e.As<Napi::Object>()));
    input_grad.push_back(option_bool(a, e.As<Napi::Object>(), "inputGrad", true));
  }
  std::vector<double> seconds(static_cast<size_t>(repeats), 0.0);
  run(a, [&]() -> Status {
    std::vector<double> each(static_cast<size_t>(repeats));
    for (size_t i = 0; i < geoms.size(); ++i) {
      ConvKernel kernel(geoms[i], bf16);
      LK_RETURN_IF_ERROR(kernel.time_primitives(rows, input_grad[i], warmup, repeats, each.data()));
      for (int64_t r = 0; r < repeats; ++r) seconds[r] += each[r];
    }
    return Status::Ok();
  });
  Napi::Array out = Napi::Array::New(a.env(), seconds.size());
  for (size_t i = 0; i < seconds.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(a.env(), seconds[i]));
  return out;
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Args a(info, "adam_step");
  const int64_t n = a.integer(4, "n", 0);
  Napi::Object o = a.object(5, "hyper");
  AdamHyper h;
  h.lr = static_cast<float>(option_number(a, o, "lr", h.lr));
  h.beta1 = static_cast<float>(option_number(a, o, "beta1", h.beta1));
  h.beta2 = static_cast<float>(option_number(a, o, "beta2", h.beta2));
  h.eps = static_cast<float>(option_number(a, o, "eps", h.eps));
  h.weight_decay = static_cast<float>(option_number(a, o, "weightDecay", h.weight_decay));
  const float grad_scale = a.at(8).IsUndefined() ? 1.f : static_cast<float>(a.number(8, "gradScale"));
  run(a, adam_step, a.f32(0, "params", n), a.f32(1, "m", n), a.f32(2, "v", n), a.f32(3, "grad", n), n, h,
      a.integer(6, "step", 1), a.boolean(7, "zeroGrad"), static_cast<uint16_t*>(nullptr), grad_scale);
  return a.env().Undefined();
}

Napi::Value NormalFill(const Napi::CallbackInfo& info) {
  Args a(info, "rng_normal_fill");
  const int64_t n = a.integer(1, "n", 0);
  run(a, rng_normal_fill, a.f32(0, "out", n), n, a.seed(2, "seed"), a.seed(3, "stream"), a.seed(4, "offset"));
  return a.env().Undefined();
}

Napi::Value UniformFill(const Napi::CallbackInfo& info) {
  Args a(info, "rng_uniform_fill");
  const int64_t n = a.integer(1, "n", 0);
  run(a, rng_uniform_fill, a.f32(0, "out", n), n, a.seed(2, "seed"), a.seed(3, "stream"), a.seed(4, "offset"));
  return a.env().Undefined();
}

Napi::Value Permutation(const Napi::CallbackInfo& info) {
  Args a(info, "rng_permutation");
  const int64_t n = a.integer(1, "n", 0);
  run(a, rng_permutation, a.i64_array(0, "perm", n), n, a.seed(2, "seed"), a.seed(3, "stream"));
  return a.env().Undefined();
}

// rng_block_permutation(perm, blockOrder, n, block, seed, orderStream, rowsStream)
Napi::Value BlockPermutation(const Napi::CallbackInfo& info) {
  Args a(info, "rng_block_permutation");
  const int64_t n = a.integer(2, "n", 0);
  const int64_t block = a.integer(3, "block", 1);
  run(a, rng_block_permutation, a.i64_array(0, "perm", n), a.i64_array(1, "blockOrder", (n + block - 1) / block), n, block,
      a.seed(4, "seed"), a.seed(5, "orderStream"), a.seed(6, "rowsStream"));
  return a.env().Undefined();
}

Napi::Value LogsumexpForward(const Napi::CallbackInfo& info) {
  Args a(info, "logsumexp_rows_forward");
  Dims d = dims(a, 2);
  run(a, logsumexp_rows_forward, a.f32(0, "out", d.B), a.f32(1, "x", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value LogsumexpBackward(const Napi::CallbackInfo& info) {
  Args a(info, "logsumexp_rows_backward");
  Dims d = dims(a, 4);
  run(a, logsumexp_rows_backward, a.f32(0, "dX", d.n), a.f32(1, "dOut", d.B), a.f32(2, "x", d.n),
                                         a.f32(3, "out", d.B), d.B, d.D);
  return a.env().Undefined();
}

// gemm(transA, transB, M, N, K, alpha, A, B, beta, C) on dense row-major operands.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args a(info, "gemm");
  const bool ta = a.boolean(0, "transA"), tb = a.boolean(1, "transB");
  const int64_t M = a.integer(2, "M", 0), N = a.integer(3, "N", 0), K = a.integer(4, "K", 0);
  const float alpha = static_cast<float>(a.number(5, "alpha")), beta = static_cast<float>(a.number(8, "beta"));
  run(a, gemm_dense, ta, tb, M, N, K, alpha, a.f32(6, "A", a.product({M, K}, "A")),
                      a.f32(7, "B", a.product({K, N}, "B")), beta, a.f32(9, "C", a.product({M, N}, "C")));
  return a.env().Undefined();
}

// gemm_bf16(transA, transB, M, N, K, A, B, beta, C): A and B (fp32 arrays) rounded to bf16, then C = op(A)·op(B) +
// beta·C (beta 0 or 1) through Bf16Gemm with fp32 accumulation — for the kernel's own tests.
Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  Args a(info, "gemm_bf16");
  const bool ta = a.boolean(0, "transA"), tb = a.boolean(1, "transB");
  const int64_t M = a.integer(2, "M", 0, 4096), N = a.integer(3, "N", 0, 4096), K = a.integer(4, "K", 0, 4096);
  const float* A = a.f32(5, "A", a.product({M, K}, "A"));
  const float* B = a.f32(6, "B", a.product({K, N}, "B"));
  const float beta = static_cast<float>(a.number(7, "beta"));
  float* C = a.f32(8, "C", a.product({M, N}, "C"));
  std::vector<bf16_t> A16(static_cast<size_t>(M * K)), B16(static_cast<size_t>(K * N));
  to_bf16(A16.data(), A, M * K);
  to_bf16(B16.data(), B, K * N);
  Bf16Gemm g;
  run(a, [&] { return g.run(ta, tb, M, N, K, A16.data(), B16.data(), beta, C); });
  return a.env().Undefined();
}

// round_bf16(out, x, n): out[i] = x[i] rounded to bf16 (to_bf16), as a float.
Napi::Value RoundBf16(const Napi::CallbackInfo& info) {
  Args a(info, "round_bf16");
  const int64_t n = a.integer(2, "n", 0, int64_t(1) << 28);
  float* out = a.f32(0, "out", n);
  const float* x = a.f32(1, "x", n);
  std::vector<bf16_t> h(static_cast<size_t>(n));
  to_bf16(h.data(), x, n);
  for (int64_t i = 0; i < n; ++i) out[i] = from_bf16(h[static_cast<size_t>(i)]);
  return a.env().Undefined();
}

// gemm_benchmark(shapes: [transA, transB, M, N, K][], repeats, warmup, precision) → seconds per pass over all
// shapes, one entry per repeat (bf16: bf16 operands, fp32 results, through Bf16Gemm). Buffers are allocated once;
// every pass runs on the compute thread with no JS in between, so it times what a fused training step's GEMMs cost.
Napi::Value GemmBenchmark(const Napi::CallbackInfo& info) {
  Args a(info, "gemm_benchmark");
  Napi::Value v = info.Length() > 0 ? info[0] : info.Env().Undefined();
  if (!v.IsArray()) a.type_error("shapes", "an array of [transA, transB, M, N, K]", v);
  struct Shape { bool ta, tb; int64_t M, N, K; };
  std::vector<Shape> shapes;
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsArray() || e.As<Napi::Array>().Length() != 5) a.type_error("shapes", "an array of [transA, transB, M, N, K]", e);
    Napi::Array t = e.As<Napi::Array>();
    auto dim = [&](uint32_t j) {
      Napi::Value d = t.Get(j);
      double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 1 && x <= 65536 && x == std::floor(x))) a.range_error("shapes", "sizes in [1, 65536]", d);
      return static_cast<int64_t>(x);
    };
    shapes.push_back({t.Get(0u).ToBoolean().Value(), t.Get(1u).ToBoolean().Value(), dim(2), dim(3), dim(4)});
  }
  const int64_t repeats = a.integer(1, "repeats", 1, 100000);
  const int64_t warmup = a.integer(2, "warmup", 0, 100000);
  const bool bf16 = a.precision(3) == Precision::Bf16;
  // A synchronous call: bound its work (about 10 s of sgemm on one core) rather than block the JS thread for hours.
  double flops = 0;
  for (const Shape& sh : shapes) flops += 2.0 * sh.M * sh.N * sh.K;
  if (flops * static_cast<double>(repeats + warmup) > kMaxBenchmarkFlops)
    a.range_error("repeats", "at most 2e12 floating-point operations over all passes (shapes × (repeats + warmup))",
                  info[1]);
  std::vector<double> seconds(static_cast<size_t>(repeats));
  Status st = run_on_compute_thread(g_kernel_threads, HUGE_VAL, [&]() -> Status {
    std::vector<std::vector<float>> bufs;
    std::vector<std::vector<bf16_t>> halves;  // bf16: A and B of each shape
    for (const Shape& sh : shapes) {
      bufs.emplace_back(static_cast<size_t>(sh.M * sh.K), 0.01f);
      bufs.emplace_back(static_cast<size_t>(sh.K * sh.N), 0.01f);
      bufs.emplace_back(static_cast<size_t>(sh.M * sh.N), 0.0f);
      for (int j = 3; bf16 && j >= 2; --j) {
        halves.emplace_back(bufs[bufs.size() - j].size());
        to_bf16(halves.back().data(), bufs[bufs.size() - j].data(), static_cast<int64_t>(halves.back().size()));
      }
    }
    Bf16Gemm bf16_gemm;
    auto pass = [&]() -> Status {
      for (size_t j = 0; j < shapes.size(); ++j) {
        const Shape& sh = shapes[j];
        if (bf16)
          LK_RETURN_IF_ERROR(bf16_gemm.run(sh.ta, sh.tb, sh.M, sh.N, sh.K, halves[2 * j].data(), halves[2 * j + 1].data(),
                                           0.0f, bufs[3 * j + 2].data()));
        else
          LK_RETURN_IF_ERROR(gemm(sh.ta, sh.tb, sh.M, sh.N, sh.K, 1.0f, bufs[3 * j].data(), bufs[3 * j + 1].data(),
                                  0.0f, bufs[3 * j + 2].data()));
      }
      return Status::Ok();
    };
    for (int64_t r = 0; r < warmup; ++r) LK_RETURN_IF_ERROR(pass());
    for (int64_t r = 0; r < repeats; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      LK_RETURN_IF_ERROR(pass());
      seconds[static_cast<size_t>(r)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return Status::Ok();
  });
  if (!st.ok()) throw_status(info.Env(), st);
  Napi::Array out = Napi::Array::New(info.Env(), seconds.size());
  for (size_t i = 0; i < seconds.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), seconds[i]));
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "set_threads");
  g_kernel_threads = static_cast<int>(a.integer(0, "threads", 0, 1024));
  return a.env().Undefined();
}

}  // namespace

Napi::Object init_kernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    k.Set(name, guarded_function(env, name, fn));
  };
  add("gaussian_reparameterize_forward", ReparamForward);
  add("gaussian_reparameterize_backward", ReparamBackward);
  add("gaussian_kl_std_normal_forward", KlForward);
  add("gaussian_kl_std_normal_backward", KlBackward);
  add("gaussian_kl_std_normal_dims_forward", KlDimsForward);
  add("std_normal_log_ratio_forward", LogRatioForward);
  add("std_normal_log_ratio_backward", LogRatioBackward);
  add("gaussian_diag_log_density_forward", DiagLogDensityForward);
  add("gaussian_diag_log_density_backward", DiagLogDensityBackward);
  add("bernoulli_logits_nll_forward", BernoulliForward);
  add("bernoulli_logits_nll_backward", BernoulliBackward);
  add(kGaussianForward, LocationScaleNllForward<gaussian_nll_forward, kGaussianForward>);
  add(kGaussianBackward, LocationScaleNllBackward<gaussian_nll_backward, kGaussianBackward>);
  add("mixture_log_ratio_forward", MixtureRatioForward);
  add("mixture_log_ratio_backward", MixtureRatioBackward);
  add(kLaplaceForward, LocationScaleNllForward<laplace_nll_forward, kLaplaceForward>);
  add(kLaplaceBackward, LocationScaleNllBackward<laplace_nll_backward, kLaplaceBackward>);
  add("floored_log_forward", FlooredLogForward);
  add("floored_log_backward", FlooredLogBackward);
  add("poisson_nll_forward", PoissonForward);
  add("poisson_nll_backward", PoissonBackward);
  add("nb_nll_forward", NbForward);
  add("nb_nll_backward", NbBackward);
  add("dense_forward", DenseForward);
  add("dense_backward", DenseBackward);
  add("conv2d_forward", Conv2dForward);
  add("conv2d_backward", Conv2dBackward);
  add("conv_benchmark", ConvBenchmark);
  add("adam_step", AdamStep);
  add("rng_normal_fill", NormalFill);
  add("rng_uniform_fill", UniformFill);
  add("rng_permutation", Permutation);
  add("rng_block_permutation", BlockPermutation);
  add("logsumexp_rows_forward", LogsumexpForward);
  add("logsumexp_rows_backward", LogsumexpBackward);
  add("gemm", Gemm);
  add("gemm_benchmark", GemmBenchmark);
  add("gemm_bf16", GemmBf16);
  add("round_bf16", RoundBf16);
  add("set_threads", SetThreads);
  return k;
}

}  // namespace lk

// --- CUDA twins on host arrays (for the CPU-vs-CUDA tests; they report "no device" without a GPU) -----------
#include "../cuda/device.h"

namespace lk {
namespace {

Napi::Value CudaReparamForward(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.gaussian_reparameterize_forward");
  Dims d = dims(a, 4);
  run(a, gaussian_reparameterize_forward_host, a.f32(0, "z", d.n), a.f32(1, "mean", d.n),
                                                      a.f32(2, "logVar", d.n), a.f32(3, "eps", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value CudaKlForward(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.gaussian_kl_std_normal_forward");
  Dims d = dims(a, 3);
  run(a, gaussian_kl_std_normal_forward_host, a.f32(0, "kl", d.B), a.f32(1, "mean", d.n),
                                                     a.f32(2, "logVar", d.n), d.B, d.D);
  return a.env().Undefined();
}

Napi::Value CudaKlBackward(const Napi::CallbackInfo& info) {
  Args a(info, "cuda.gaussian_kl_std_normal_backward");
  Dims d = dims(a, 5);
  run(a, gaussian_kl_std_normal_backward_host, a.f32(0, "dMean", d.n), a.f32(1, "dLogVar", d.n),
                                                      a.f32(2, "dKl", d.B), a.f32(3, "mean", d.n),
                                                      a.f32(4, "logVar", d.n), d.B, d.D);
  return a.env().Undefined();
}

}  // namespace

Napi::Object init_cuda_kernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("gaussian_reparameterize_forward", guarded_function(env, "gaussian_reparameterize_forward", CudaReparamForward));
  k.Set("gaussian_kl_std_normal_forward", guarded_function(env, "gaussian_kl_std_normal_forward", CudaKlForward));
  k.Set("gaussian_kl_std_normal_backward", guarded_function(env, "gaussian_kl_std_normal_backward", CudaKlBackward));
  return k;
}

}  // namespace lk
