// classical_binding.cpp — the JS functions of the classical models (object `classical`): stateless calls on data x
// (rows × cols, in any form data_binding.h reads: dense float32, bytes, CSR, a mapped file, a row subset) and
// float64 parameters that the TypeScript classes own. Fits return Promises and run on the compute thread (their data
// owned by the job: in-memory arrays copied, mappings held); scoring calls are synchronous (small work runs inline,
// see executor.h).
// Each fit's options (pcaFit: its 6th argument) may say distributed: true — x is then this rank's shard of the set and
// the fit is the whole set's over MPI_COMM_WORLD (distributed/shard.h; every rank makes the same call).
//   gmmFit(x, rows, cols, options) → Promise<{ weights, means, covariances, precisionsCholesky, lowerBounds,
//                                               lowerBound, nIter, converged }>
//   gmmLogProb(x, rows, cols, params, resp | null, logNorm): responsibilities (rows × K) and log-densities
//   pcaFit(x, rows, cols, q) → Promise<{ mean, components, explainedVariance, noiseVariance, totalVariance }>
//   linearGaussianEm(x, rows, cols, options) → Promise<{ mean, W, psi, loglike, nIter, converged }>
//   factorAnalysisSvd(x, rows, cols, options) → the same (scikit-learn's SVD-based FactorAnalysis)
//   linearGaussianLogDensity(x, rows, cols, model, out) / linearGaussianPosteriorMean(x, rows, cols, model, out)
//   pcaTransform(x, rows, cols, { nComponents, mean, components }, out): (x − mean) componentsᵀ into out (Float32Array)
//   cholesky(a, d): lower Cholesky factor of a (d × d, Float64Array) in place; spdInverse(a, d) → log det, a ← a⁻¹;
//   symmetricEigen(a, d, w): eigenvalues (descending) into w, eigenvectors into the rows of a
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "../models/gmm.h"
#include "../models/linear_gaussian.h"
#include "../core/linalg.h"
#include "args.h"
#include "async_job.h"
#include "data_binding.h"
#include "executor.h"

namespace lk {

namespace {

Napi::Float64Array to_js(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Float64Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(double));
  return a;
}

// (x, rows, cols) at positions 0..2 (rows >= min_rows) as a row source; `own` for an async job (data_binding.h).
std::shared_ptr<const RowSource> data_args(const Args& a, int64_t min_rows, bool own) {
  const int64_t rows = a.integer(1, "rows", min_rows);
  const int64_t cols = a.integer(2, "cols", 1, 1 << 24);
  return source_arg(a, 0, "x", rows, cols, own, Support::Real);
}

// An optional Float64Array option copied into `dst` (left empty when absent); the pointer to pass on, or null.
const double* owned_option_f64(const Args& a, const Napi::Object& o, const char* key, int64_t length,
                               std::vector<double>* dst) {
  const double* src = option_f64(a, o, key, length);
  if (!src) return nullptr;
  dst->assign(src, src + length);
  return dst->data();
}

// The world communicator when `distributed` is true (throws LATENTKIT_DISTRIBUTED when MPI cannot start), else null.
Communicator* communicator(const Args& a, bool distributed) {
  if (!distributed) return nullptr;
  Communicator* c = nullptr;
  Status s = Communicator::World(&c);
  if (!s.ok()) throw_status(a.env(), s);
  return c;
}

int threads_option(const Args& a, const Napi::Object& o) {
  return static_cast<int>(required_integer(a, o, "threads", 0, 1024));
}

CovarianceType covariance_option(const Args& a, const Napi::Object& o) {
  return static_cast<CovarianceType>(required_enum(a, o, "covarianceType", {"full", "tied", "diag", "spherical"}));
}

// The optional onProgress(init, iteration, value) function of a fit's options (empty when absent).
Napi::Function progress_option(const Args& a, const Napi::Object& o) {
  Napi::Value v = o.Has("onProgress") ? o.Get("onProgress") : a.env().Undefined();
  if (v.IsUndefined() || v.IsNull()) return Napi::Function();
  if (!v.IsFunction()) a.type_error("onProgress", "a function", v);
  return v.As<Napi::Function>();
}

Napi::Value GmmFit(const Napi::CallbackInfo& info) {
  Args a(info, "gmmFit");
  const auto data = data_args(a, 1, true);
  Napi::Object o = a.object(3, "options");
  struct Fit {
    GmmFitOptions opt;
    std::vector<double> weights_init, means_init, precisions_init;  // copies of the optional initial parameters
    GmmParams params;
    GmmFitReport report;
  };
  auto fit = std::make_shared<Fit>();
  GmmFitOptions& opt = fit->opt;
  opt.components = required_integer(a, o, "nComponents", 1, data->rows());
  opt.type = covariance_option(a, o);
  opt.tol = required_number(a, o, "tol");
  opt.max_iter = required_integer(a, o, "maxIter", 1, 1 << 24);
  opt.n_init = required_integer(a, o, "nInit", 1, 1 << 16);
  opt.init = static_cast<GmmInit>(required_enum(a, o, "init", {"kmeans", "k-means++", "random", "random_from_data"}));
  opt.reg_covar = required_number(a, o, "regCovar");
  opt.seed = static_cast<uint64_t>(required_integer(a, o, "seed", 0, (int64_t(1) << 53) - 1));
  const int64_t K = opt.components, d = data->cols();
  const int64_t cov = covariance_size(opt.type, K, d);
  if (cov < 0 || cov > kMaxElements) a.range_error("nComponents", "a mixture whose covariances have at most 2^40 elements", o.Get("nComponents"));
  opt.weights_init = owned_option_f64(a, o, "weightsInit", K, &fit->weights_init);
  opt.means_init = owned_option_f64(a, o, "meansInit", a.product({K, d}, "meansInit"), &fit->means_init);
  opt.precisions_init = owned_option_f64(a, o, "precisionsInit", cov, &fit->precisions_init);
  Communicator* comm = communicator(a, option_bool(a, o, "distributed", false));
  return run_async(
      info.Env(), threads_option(a, o),
      [data, fit, comm](const JobControl& control) {
        Shard shard;  // made on the compute thread: a collective
        LK_RETURN_IF_ERROR(make_shard(comm, data->rows(), &shard));
        return gmm_fit(*data, fit->opt, &fit->params, &fit->report, control, shard);
      },
      [fit](Napi::Env env) -> Napi::Value {
        const GmmParams& params = fit->params;
        const GmmFitReport& report = fit->report;
        Napi::Object r = Napi::Object::New(env);
        r.Set("weights", to_js(env, params.weights));
        r.Set("means", to_js(env, params.means));
        r.Set("covariances", to_js(env, params.covariances));
        r.Set("precisionsCholesky", to_js(env, params.precisions_cholesky));
        r.Set("lowerBounds", to_js(env, report.lower_bounds));
        r.Set("lowerBound", Napi::Number::New(env, report.lower_bound));
        r.Set("nIter", Napi::Number::New(env, static_cast<double>(report.n_iter)));
        r.Set("converged", Napi::Boolean::New(env, report.converged));
        return r;
      },
      progress_option(a, o));
}

// gmmLogProb(x, rows, cols, { nComponents, covarianceType, weights, means, precisionsCholesky }, resp|null, logNorm)
Napi::Value GmmLogProb(const Napi::CallbackInfo& info) {
  Args a(info, "gmmLogProb");
  const auto data = data_args(a, 0, false);
  const int64_t rows = data->rows(), cols = data->cols();
  Napi::Object o = a.object(3, "params");
  GmmParams p;
  const int64_t components = required_integer(a, o, "nComponents", 1, 1 << 20);
  const CovarianceType type = covariance_option(a, o);
  const int64_t cov = covariance_size(type, components, cols);
  if (cov < 0 || cov > kMaxElements) a.range_error("nComponents", "a mixture whose covariances have at most 2^40 elements", o.Get("nComponents"));
  p.resize(components, cols, type);
  const int64_t K = p.K, d = p.d;
  auto copy = [&](const char* key, std::vector<double>& dst) {
    const double* src = option_f64(a, o, key, static_cast<int64_t>(dst.size()));
    if (!src) a.type_error(key, "a Float64Array of length " + std::to_string(dst.size()), o.Get(key));
    std::memcpy(dst.data(), src, dst.size() * sizeof(double));
  };
  copy("weights", p.weights);
  copy("means", p.means);
  copy("precisionsCholesky", p.precisions_cholesky);
  double* resp = a.f64(4, "resp", a.product({rows, K}, "resp"), true);
  double* log_norm = a.f64(5, "logNorm", rows);
  Status s = run_on_compute_thread(0, static_cast<double>(rows) * K * d * (d + 2), [&] {
    return gmm_log_prob(p, *data, resp, log_norm);
  });
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

Napi::Value PcaFit(const Napi::CallbackInfo& info) {
  Args a(info, "pcaFit");
  const auto data = data_args(a, 2, true);
  const int64_t q = a.integer(3, "nComponents", 1, std::min(data->rows(), data->cols()));
  const int threads = static_cast<int>(a.integer(4, "threads", 0, 1024));
  Communicator* comm = communicator(a, info.Length() > 5 && info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value());
  auto out = std::make_shared<PcaResult>();
  return run_async(
      info.Env(), threads,
      [data, q, out, comm](const std::atomic<bool>&) {
        Shard shard;
        LK_RETURN_IF_ERROR(make_shard(comm, data->rows(), &shard));
        return pca_fit(*data, q, out.get(), shard);
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("mean", to_js(env, out->mean));
        r.Set("components", to_js(env, out->components));
        r.Set("explainedVariance", to_js(env, out->explained_variance));
        r.Set("noiseVariance", Napi::Number::New(env, out->noise_variance));
        r.Set("totalVariance", Napi::Number::New(env, out->total_variance));
        return r;
      });
}

// A linear-Gaussian fit of `data` as an async job (threads, onProgress and distributed from its options) whose
// promise gives { mean, W, psi, loglike, nIter, converged }; `fit` gets the data's shard (distributed/shard.h).
using LinearFit = std::function<Status(const JobControl&, const Shard&, LinearGaussian*, LinearGaussianEmReport*)>;
Napi::Value linear_fit_job(const Args& a, const Napi::Object& o, std::shared_ptr<const RowSource> data, LinearFit fit) {
  auto model = std::make_shared<LinearGaussian>();
  auto report = std::make_shared<LinearGaussianEmReport>();
  Communicator* comm = communicator(a, option_bool(a, o, "distributed", false));
  return run_async(
      a.env(), threads_option(a, o),
      [fit, data, comm, model, report](const JobControl& control) {
        Shard shard;  // made on the compute thread: a collective
        LK_RETURN_IF_ERROR(make_shard(comm, data->rows(), &shard));
        return fit(control, shard, model.get(), report.get());
      },
      [model, report](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("mean", to_js(env, model->mean));
        r.Set("W", to_js(env, model->W));
        r.Set("psi", to_js(env, model->psi));
        r.Set("loglike", to_js(env, report->loglike));
        r.Set("nIter", Napi::Number::New(env, static_cast<double>(report->n_iter)));
        r.Set("converged", Napi::Boolean::New(env, report->converged));
        return r;
      },
      progress_option(a, o));
}

Napi::Value LinearGaussianEm(const Napi::CallbackInfo& info) {
  Args a(info, "linearGaussianEm");
  const auto data = data_args(a, 2, true);
  Napi::Object o = a.object(3, "options");
  auto opt = std::make_shared<LinearGaussianEmOptions>();
  opt->q = required_integer(a, o, "nComponents", 1, data->cols());
  opt->isotropic = required_bool(a, o, "isotropic");
  opt->ddof = required_integer(a, o, "ddof", 0, 1);
  opt->tol = required_number(a, o, "tol");
  opt->max_iter = required_integer(a, o, "maxIter", 1, 1 << 24);
  opt->seed = static_cast<uint64_t>(required_integer(a, o, "seed", 0, (int64_t(1) << 53) - 1));
  opt->sample_estep = required_bool(a, o, "sampleEstep");
  opt->samples = required_integer(a, o, "samples", 1, 1 << 16);
  return linear_fit_job(a, o, data, [data, opt](const JobControl& control, const Shard& shard, LinearGaussian* model,
                                                 LinearGaussianEmReport* report) {
    return linear_gaussian_em(*data, *opt, model, report, control, shard);
  });
}

// factorAnalysisSvd(x, rows, cols, { nComponents, tol, maxIter, threads }) → the same result as linearGaussianEm.
Napi::Value FactorAnalysisSvd(const Napi::CallbackInfo& info) {
  Args a(info, "factorAnalysisSvd");
  const auto data = data_args(a, 2, true);
  Napi::Object o = a.object(3, "options");
  if (data->cols() > (1 << 14)) a.range_error("cols", "at most 16384 columns (the method eigendecomposes a cols × cols matrix)", info[2]);
  auto opt = std::make_shared<FactorAnalysisSvdOptions>();
  opt->q = required_integer(a, o, "nComponents", 1, data->cols());
  opt->tol = required_number(a, o, "tol");
  opt->max_iter = required_integer(a, o, "maxIter", 1, 1 << 24);
  return linear_fit_job(a, o, data, [data, opt](const JobControl& control, const Shard& shard, LinearGaussian* model,
                                                 LinearGaussianEmReport* report) {
    return factor_analysis_svd(*data, *opt, model, report, control, shard);
  });
}

// (x, rows, cols, { nComponents, mean, W, psi }, out) of the two linear-Gaussian scoring calls.
template <typename F>
Napi::Value linear_gaussian_call(const Napi::CallbackInfo& info, const char* fn, bool per_latent, F call) {
  Args a(info, fn);
  const auto data = data_args(a, 0, false);
  const int64_t rows = data->rows();
  Napi::Object o = a.object(3, "model");
  LinearGaussian m;
  m.d = data->cols();
  m.q = option_integer(a, o, "nComponents", 1, 1, m.d);
  auto read = [&](const char* key, int64_t n, std::vector<double>& dst) {
    const double* src = option_f64(a, o, key, n);
    if (!src) a.type_error(key, "a Float64Array of length " + std::to_string(n), o.Get(key));
    dst.assign(src, src + n);
  };
  read("mean", m.d, m.mean);
  read("W", m.d * m.q, m.W);
  read("psi", m.d, m.psi);
  for (double v : m.psi)
    if (!(v > 0) || !std::isfinite(v)) a.range_error("psi", "positive finite noise variances", o.Get("psi"));
  double* out = a.f64(4, "out", per_latent ? a.product({rows, m.q}, "out") : rows);
  Status s = run_on_compute_thread(0, 4.0 * static_cast<double>(rows) * m.d * m.q, [&] { return call(m, *data, out); });
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

Napi::Value LinearGaussianLogDensity(const Napi::CallbackInfo& info) {
  return linear_gaussian_call(info, "linearGaussianLogDensity", false, linear_gaussian_log_density);
}

Napi::Value LinearGaussianPosteriorMean(const Napi::CallbackInfo& info) {
  return linear_gaussian_call(info, "linearGaussianPosteriorMean", true, linear_gaussian_posterior_mean);
}

// pcaTransform(x, rows, cols, { nComponents, mean, components }, out)
Napi::Value PcaTransform(const Napi::CallbackInfo& info) {
  Args a(info, "pcaTransform");
  const auto data = data_args(a, 0, false);
  const int64_t rows = data->rows(), d = data->cols();
  Napi::Object o = a.object(3, "model");
  const int64_t q = option_integer(a, o, "nComponents", 1, 1, d);
  const double* mean = option_f64(a, o, "mean", d);
  const double* components = option_f64(a, o, "components", a.product({q, d}, "components"));
  if (!mean) a.type_error("mean", "a Float64Array of length " + std::to_string(d), o.Get("mean"));
  if (!components) a.type_error("components", "a Float64Array of length " + std::to_string(q * d), o.Get("components"));
  float* out = a.f32(4, "out", a.product({rows, q}, "out"));
  const std::vector<double> mu(mean, mean + d), v(components, components + q * d);
  Status s = run_on_compute_thread(0, 2.0 * static_cast<double>(rows) * d * q,
                                   [&] { return linear_projection(*data, mu, v, q, out); });
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

Napi::Value Cholesky(const Napi::CallbackInfo& info) {
  Args a(info, "cholesky");
  const int64_t d = a.integer(1, "d", 1, 65536);
  double* m = a.f64(0, "a", a.product({d, d}, "a"));
  Status s = cholesky_lower(m, d);
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

// spdInverse(a, d) → log det a; a (d × d, Float64Array, symmetric positive definite) becomes a⁻¹.
Napi::Value SpdInverse(const Napi::CallbackInfo& info) {
  Args a(info, "spdInverse");
  const int64_t d = a.integer(1, "d", 1, 65536);
  double* m = a.f64(0, "a", a.product({d, d}, "a"));
  double logdet = 0;
  Status s = spd_inverse(m, d, &logdet);
  if (!s.ok()) throw_status(info.Env(), s);
  return Napi::Number::New(info.Env(), logdet);
}

// symmetricEigen(a, d, w): eigenvalues w (d) descending; row i of a becomes the eigenvector of w[i].
Napi::Value SymmetricEigen(const Napi::CallbackInfo& info) {
  Args a(info, "symmetricEigen");
  const int64_t d = a.integer(1, "d", 1, 65536);
  double* m = a.f64(0, "a", a.product({d, d}, "a"));
  double* w = a.f64(2, "w", d);
  Status s = symmetric_eigen(m, w, d);
  if (!s.ok()) throw_status(info.Env(), s);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object init_classical(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("gmmFit", guarded_function(env, "gmmFit", GmmFit));
  o.Set("gmmLogProb", guarded_function(env, "gmmLogProb", GmmLogProb));
  o.Set("pcaFit", guarded_function(env, "pcaFit", PcaFit));
  o.Set("linearGaussianEm", guarded_function(env, "linearGaussianEm", LinearGaussianEm));
  o.Set("factorAnalysisSvd", guarded_function(env, "factorAnalysisSvd", FactorAnalysisSvd));
  o.Set("linearGaussianLogDensity", guarded_function(env, "linearGaussianLogDensity", LinearGaussianLogDensity));
  o.Set("linearGaussianPosteriorMean", guarded_function(env, "linearGaussianPosteriorMean", LinearGaussianPosteriorMean));
  o.Set("pcaTransform", guarded_function(env, "pcaTransform", PcaTransform));
  o.Set("cholesky", guarded_function(env, "cholesky", Cholesky));
  o.Set("spdInverse", guarded_function(env, "spdInverse", SpdInverse));
  o.Set("symmetricEigen", guarded_function(env, "symmetricEigen", SymmetricEigen));
  return o;
}

}  // namespace lk
