// vae.cpp — see vae.h. One training step = gather batch → encoder → reparameterise → decoder → likelihood + KL →
// backward → Adam, all on buffers allocated once in begin_training().
#include "vae.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/fast_math.h"
#include "../core/gaussian.h"
#include "../core/gemm.h"
#include "../core/memory.h"
#include "../core/reduce.h"
#include "../core/rng.h"
#include "../core/threads.h"

namespace lk {

namespace {
constexpr int64_t kInferenceChunk = 1024;  // rows per inference pass: bounds workspace memory

int64_t product_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

LK_TARGET_CLONES void sigmoid_span(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = fast_sigmoid(x[i]);
}

void sigmoid_in_place(float* x, int64_t n) {
  const int64_t chunk = 1 << 16;
#pragma omp parallel for schedule(static) if (n > (int64_t(1) << 20))
  for (int64_t c = 0; c < (n + chunk - 1) / chunk; ++c) sigmoid_span(x + c * chunk, std::min(chunk, n - c * chunk));
}
}  // namespace

// Every activation buffer of one forward (and, for training, backward) pass, carved out of one allocation: the
// encoder side holds `enc_rows` examples, the decoder side `dec_rows` = enc_rows × K draws (row b·K + s). The
// networks' buffers come from their Sequential::Run; the VAE's own ones are below.
class VaeWorkspace {
 public:
  VaeWorkspace(const VaeModel& m, int64_t enc_rows, int64_t samples, bool with_grads)
      : capacity(enc_rows), samples(samples) {
    const int64_t latent = m.config_.latent_dim, input = m.config_.input_dim;
    const bool element_scale = m.config_.sigma_mode == SigmaMode::Decoder;
    const int64_t C = m.config_.prior_components, Q = m.config_.condition_dim;
    const int64_t E = enc_rows, R = checked_mul(enc_rows, samples);
    ArenaPlan a;
    m.encoder_->reserve(a, E, with_grads, &enc);
    m.decoder_->reserve(a, R, with_grads, &dec);
    a.add(&eps, checked_mul(R, latent));
    a.add(&z, checked_mul(R, latent));
    a.add(&probs, checked_mul(R, input));
    a.add(&x, checked_mul(E, input));
    if (samples > 1) a.add(&x_rep, checked_mul(R, input));
    if (element_scale) a.add(&scale, checked_mul(R, input));
    for (float** p : {&nll, &rows, &ratio, &log_w, &lib}) a.add(p, R);
    if (C > 0) a.add(&resp, checked_mul(R, C));
    if (Q > 0) a.add(&cond, checked_mul(E, Q));
    for (float** p : {&kl, &bound, &d_row}) a.add(p, E);
    a.add(&kl_dims, latent);
    a.add(&dim_scale, latent);
    if (with_grads) {
      a.add(&d_log_w, R);
      a.add(&d_z, checked_mul(R, latent));
      if (element_scale) a.add(&d_scale, checked_mul(R, input));
    }
    arena = a.allocate("the VAE's activation buffers");  // uninitialised: written before read
    if (samples == 1) x_rep = x;
    mean = enc.y.back();
    log_var = enc.twin_y;
    aux = dec.twin_y;
    if (with_grads) {
      d_mean = enc.d_out();
      d_log_var = enc.twin_dy;
      d_out = dec.d_out();
      d_aux = dec.twin_dy;
    }
  }
  const float* out() const { return dec.out(); }
  // Clears the gradients that kernels accumulate into, for B examples (B · samples draws).
  void zero_grads(int64_t B, int64_t latent, int64_t input) {
    const int64_t R = B * samples;
    std::memset(d_mean, 0, sizeof(float) * B * latent);
    std::memset(d_log_var, 0, sizeof(float) * B * latent);
    std::memset(d_out, 0, sizeof(float) * R * input);
    std::memset(d_log_w, 0, sizeof(float) * R);
    if (d_aux) std::memset(d_aux, 0, sizeof(float) * R * input);
    if (d_scale) std::memset(d_scale, 0, sizeof(float) * R * input);
  }

  int64_t capacity, samples;  // examples, and draws per example
  Sequential::Run enc, dec;   // the encoder on `capacity` rows, the decoder on capacity × samples
  std::unique_ptr<float[]> arena;
  // Per example (capacity): mean, log_var (the encoder's heads), x (rows of input_dim), kl, bound, d_row; per draw
  // (capacity × samples): eps, z, probs, x_rep, nll, rows (the weight of each draw's NLL in the loss), ratio, log_w,
  // lib (the log library size of a count model's row); aux (the decoder's twin head) and scale (its floored
  // log-scale) are (capacity × samples, input_dim) when the model has them.
  float *mean = nullptr, *log_var = nullptr, *eps = nullptr, *z = nullptr, *probs = nullptr, *x = nullptr;
  float *x_rep = nullptr, *nll = nullptr, *rows = nullptr, *ratio = nullptr, *log_w = nullptr, *lib = nullptr;
  float *aux = nullptr, *scale = nullptr, *d_aux = nullptr, *d_scale = nullptr;
  float* resp = nullptr;  // mixture prior: (capacity × samples, components) responsibilities
  float* cond = nullptr;  // a conditional VAE's batch of conditions (capacity, Q)
  float *kl = nullptr, *bound = nullptr, *d_row = nullptr, *kl_dims = nullptr, *dim_scale = nullptr;
  float *d_mean = nullptr, *d_log_var = nullptr, *d_out = nullptr, *d_log_w = nullptr, *d_z = nullptr;
};

struct VaeModel::Trainer {
  Trainer(const VaeModel& m, const float* data, const float* cond, int64_t rows, const TrainOptions& o)
      : options(o), data(data, data + rows * m.config_.input_dim),
        cond(cond, cond ? cond + rows * m.config_.condition_dim : cond), rows(rows),
        workspace(m, std::min(o.batch_size, rows), o.step.samples, true),
        grad(m.params_.size(), 0.f), adam_m(m.params_.size(), 0.f), adam_v(m.params_.size(), 0.f),
        perm(static_cast<size_t>(rows)), inner_perm(static_cast<size_t>(rows)) {}
  TrainOptions options;
  std::vector<float> data, cond;  // (rows, input_dim), (rows, condition_dim)
  int64_t rows;
  VaeWorkspace workspace;
  std::vector<float> grad, adam_m, adam_v;
  std::vector<int64_t> perm;
  int64_t encoder_adam_steps = 0, decoder_adam_steps = 0;
  // Aggressive training's inner batches: a second shuffled pass over the data, reshuffled when used up.
  std::vector<int64_t> inner_perm;
  int64_t inner_cursor = 0, inner_shuffles = 0, inner_steps = 0;
};

VaeModel::VaeModel(const VaeConfig& config) : config_(config) {}
VaeModel::~VaeModel() = default;

Status VaeModel::Create(const VaeConfig& c, std::unique_ptr<VaeModel>* out, bool allocate) {
  if (c.input_dim < 1) return Status::Error(Code::InvalidArgument, "inputDim must be >= 1");
  if (c.latent_dim < 1) return Status::Error(Code::InvalidArgument, "latentDim must be >= 1");
  const bool loc_scale = c.likelihood == VaeLikelihood::Gaussian || c.likelihood == VaeLikelihood::Laplace;
  if (loc_scale && !(c.sigma > 0.f && std::isfinite(c.sigma)))
    return Status::Error(Code::InvalidArgument, "sigma must be a finite number > 0");
  if (loc_scale && c.sigma_mode == SigmaMode::Decoder && !(c.min_sigma > 0.f && std::isfinite(c.min_sigma)))
    return Status::Error(Code::InvalidArgument, "minSigma must be a finite number > 0");
  if (c.prior_components < 0 || c.prior_components > 4096)
    return Status::Error(Code::InvalidArgument, "prior mixture components must be in [1, 4096]");
  if (!loc_scale && c.sigma_mode != SigmaMode::Fixed)
    return Status::Error(Code::InvalidArgument, "sigma applies to the gaussian and laplace likelihoods only");
  if (c.condition_dim < 0 || c.condition_dim > (1 << 20))
    return Status::Error(Code::InvalidArgument, "conditionDim must be in [0, 1048576]");
  if (c.input_shape.numel() != c.input_dim)
    return Status::Error(Code::InvalidArgument, "inputShape " + c.input_shape.str() + " does not hold inputDim = " +
                                                    std::to_string(c.input_dim) + " values");
  if (c.decoder.empty()) return Status::Error(Code::InvalidArgument, "decoder: needs at least its output layer");
  std::unique_ptr<VaeModel> m(new VaeModel(c));
  std::vector<LayerSpec> encoder = c.encoder;
  LayerSpec head;
  head.name = "encoder.mean";
  head.where = "encoder.mean";
  head.units = c.latent_dim;
  encoder.push_back(head);
  LK_RETURN_IF_ERROR(Sequential::Build(encoder, c.input_shape, c.condition_dim, "encoder.log_var", &m->encoder_));
  const LayerSpec& head_spec = c.decoder.back();
  std::string aux;
  if (loc_scale && c.sigma_mode == SigmaMode::Decoder) aux = "decoder.scale";
  if (c.likelihood == VaeLikelihood::ZeroInflatedNB) aux = "decoder.dropout";
  m->has_aux_head_ = !aux.empty();
  LK_RETURN_IF_ERROR(Sequential::Build(c.decoder, FeatureShape::vector(c.latent_dim), c.condition_dim, aux, &m->decoder_));
  const FeatureShape& produced = m->decoder_->output();
  if (head_spec.kind == LayerKind::Reshape || head_spec.activation != Activation::Identity || produced.numel() != c.input_dim ||
      (produced.image && c.input_shape.image &&
       (produced.c != c.input_shape.c || produced.h != c.input_shape.h || produced.w != c.input_shape.w)))
    return Status::Error(Code::InvalidArgument,
                         head_spec.where + ": the decoder's last layer is its output head: a dense or convolution layer "
                         "without activation whose output is the input's shape " + c.input_shape.str() +
                         " (it gives " + produced.str() + ")");
  ParamPlan& plan = m->plan_;
  plan.open_group("encoder");
  m->encoder_->declare(plan);
  plan.open_group("decoder");
  m->decoder_->declare(plan);
  const bool gaussian = c.likelihood == VaeLikelihood::Gaussian;
  plan.open_group("likelihood");
  if (loc_scale && (c.sigma_mode == SigmaMode::Shared || c.sigma_mode == SigmaMode::Feature)) {
    m->scale_count_ = c.sigma_mode == SigmaMode::Feature ? c.input_dim : 1;
    m->scale_offset_ = plan.add(gaussian ? "decoder.log_var" : "decoder.log_scale", {m->scale_count_});
  } else if (c.likelihood == VaeLikelihood::NegativeBinomial || c.likelihood == VaeLikelihood::ZeroInflatedNB) {
    m->scale_count_ = c.input_dim;
    m->scale_offset_ = plan.add("decoder.log_theta", {c.input_dim});
  }
  plan.open_group("prior");
  if (c.prior_components > 0) {  // generative-model parameters: after the decoder's, in its Adam part
    m->prior_logits_ = plan.add("prior.logits", {c.prior_components});
    m->prior_means_ = plan.add("prior.mean", {c.prior_components, c.latent_dim});
    m->prior_log_vars_ = plan.add("prior.log_var", {c.prior_components, c.latent_dim});
  }
  const int64_t total = plan.total();
  // Gaussian scales are carried as log σ², Laplace ones as log b.
  m->fixed_log_scale_ = (gaussian ? 2.0f : 1.0f) * std::log(c.sigma);
  m->scale_floor_ = (gaussian ? 2.0f : 1.0f) * std::log(c.min_sigma);
  if (total < 0 || total > kMaxParams)
    return Status::Error(Code::InvalidArgument,
                         "the model would have " + (total < 0 ? std::string("more than 2^63") : std::to_string(total)) +
                             " parameters; latentkit's limit is " + std::to_string(kMaxParams) +
                             " (2^30): make inputDim, latentDim, the layers or conditionDim smaller");
  m->num_params_ = total;
  if (allocate) {
    reserve_bytes(total, sizeof(float), "the model's parameters");
    m->params_.assign(static_cast<size_t>(total), 0.f);
  }
  *out = std::move(m);
  return Status::Ok();
}

void VaeModel::init_params(uint64_t seed) {
  std::vector<const Layer*> all;  // every layer with parameters, in declaration order
  for (const Sequential* net : {encoder_.get(), decoder_.get()}) {
    for (const auto& l : net->layers())
      if (!l->params().empty()) all.push_back(l.get());
    if (net->twin()) all.push_back(net->twin());
  }
  for (size_t li = 0; li < all.size(); ++li) {
    const Layer& l = *all[li];
    const std::vector<ParamDecl> ps = l.params();
    const float bound = 1.0f / std::sqrt(static_cast<float>(l.fan_in()));
    const int64_t nw = product_of(ps[0].shape), nb = product_of(ps[1].shape);
    float* w = params_.data() + l.weight_offset();
    float* b = params_.data() + l.bias_offset();
    rng_uniform_fill(w, nw, seed, rng_stream(RngPurpose::Init, 2 * li), 0);
    rng_uniform_fill(b, nb, seed, rng_stream(RngPurpose::Init, 2 * li + 1), 0);
    for (int64_t i = 0; i < nw; ++i) w[i] = (2.0f * w[i] - 1.0f) * bound;
    for (int64_t i = 0; i < nb; ++i) b[i] = (2.0f * b[i] - 1.0f) * bound;
  }
  // A learned scale starts at the configured σ (or b); NB's inverse dispersion at θ = 1.
  if (scale_offset_ >= 0)
    std::fill_n(params_.begin() + scale_offset_, scale_count_, location_scale() ? fixed_log_scale_ : 0.f);
  // A mixture prior starts with equal weights, unit variances and means ~ U(−1, 1) (distinct, so they can separate).
  if (mixture_prior()) {
    const int64_t C = config_.prior_components, CL = C * config_.latent_dim;
    std::fill_n(params_.begin() + prior_logits_, C, 0.f);
    std::fill_n(params_.begin() + prior_log_vars_, CL, 0.f);
    float* mu = params_.data() + prior_means_;
    rng_uniform_fill(mu, CL, seed, rng_stream(RngPurpose::Init, 2 * all.size()), 0);
    for (int64_t i = 0; i < CL; ++i) mu[i] = 2.0f * mu[i] - 1.0f;
  }
}

Status VaeModel::log_ratio_forward(VaeWorkspace& ws, int64_t B, int64_t K) const {
  const int64_t L = config_.latent_dim;
  if (!mixture_prior()) return std_normal_log_ratio_forward(ws.ratio, ws.z, ws.eps, ws.log_var, B, L, K);
  const float* p = params_.data();
  return mixture_log_ratio_forward(ws.ratio, ws.resp, ws.z, ws.eps, ws.log_var, p + prior_logits_, p + prior_means_,
                                   p + prior_log_vars_, B, L, K, config_.prior_components);
}

Status VaeModel::log_ratio_backward(VaeWorkspace& ws, int64_t B, int64_t K, float* g) const {
  const int64_t L = config_.latent_dim;
  if (!mixture_prior()) return std_normal_log_ratio_backward(ws.d_z, ws.d_log_var, ws.d_log_w, ws.z, B, L, K);
  const float* p = params_.data();
  return mixture_log_ratio_backward(ws.d_z, ws.d_log_var, g + prior_logits_, g + prior_means_, g + prior_log_vars_,
                                    ws.d_log_w, ws.resp, ws.z, p + prior_logits_, p + prior_means_,
                                    p + prior_log_vars_, B, L, K, config_.prior_components);
}

bool VaeModel::location_scale() const {
  return config_.likelihood == VaeLikelihood::Gaussian || config_.likelihood == VaeLikelihood::Laplace;
}

bool VaeModel::counts() const {
  return config_.likelihood == VaeLikelihood::Poisson || config_.likelihood == VaeLikelihood::NegativeBinomial ||
         config_.likelihood == VaeLikelihood::ZeroInflatedNB;
}

const float* VaeModel::decoder_log_scale(int64_t* count) const {
  if (scale_offset_ >= 0) {
    *count = scale_count_;
    return params_.data() + scale_offset_;
  }
  const bool fixed = location_scale() && config_.sigma_mode == SigmaMode::Fixed;
  *count = fixed ? 1 : 0;
  return fixed ? &fixed_log_scale_ : nullptr;
}

Status VaeModel::check_condition(const float* cond, int64_t rows) const {
  if (config_.condition_dim > 0 && rows > 0 && cond == nullptr)
    return Status::Error(Code::InvalidArgument, "this conditional VAE needs a condition (conditionDim = " +
                                                    std::to_string(config_.condition_dim) + ")");
  return Status::Ok();
}

Status VaeModel::encode_batch(VaeWorkspace& ws, const float* x, const float* cond, int64_t B) const {
  return encoder_->forward(ws.enc, x, cond, B, 1, params_.data());
}

Status VaeModel::decode_batch(VaeWorkspace& ws, const float* z, const float* cond, int64_t B, int64_t K) const {
  return decoder_->forward(ws.dec, z, cond, B * K, K, params_.data());
}

namespace {
// lib[r] = log max(1, Σ_d x[r, d]): the observed library size of each row (at least 1, so empty rows stay finite).
void log_library(float* lib, const float* x, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; ++r) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) s += x[r * D + d];
    lib[r] = static_cast<float>(std::log(std::max(1.0, s)));
  }
}
}  // namespace

Status VaeModel::likelihood_forward(VaeWorkspace& ws, const float* x, int64_t B, bool for_backward) const {
  const int64_t D = config_.input_dim;
  int64_t n_scale = 0;
  const float* log_scale = decoder_log_scale(&n_scale);
  switch (config_.likelihood) {
    case VaeLikelihood::Bernoulli:
      return bernoulli_logits_nll_forward(ws.nll, for_backward ? ws.probs : nullptr, ws.out(), x, B, D);
    case VaeLikelihood::Gaussian:
    case VaeLikelihood::Laplace: {
      LogVarShape shape = n_scale == D ? LogVarShape::Feature : LogVarShape::Scalar;
      if (config_.sigma_mode == SigmaMode::Decoder) {
        LK_RETURN_IF_ERROR(floored_log_forward(ws.scale, ws.aux, scale_floor_, B * D));
        log_scale = ws.scale;
        shape = LogVarShape::Element;
      }
      return config_.likelihood == VaeLikelihood::Gaussian
                 ? gaussian_nll_forward(ws.nll, ws.out(), log_scale, shape, x, B, D)
                 : laplace_nll_forward(ws.nll, ws.out(), log_scale, shape, x, B, D);
    }
    default: {
      const float* offset = nullptr;
      if (config_.observed_library) {
        log_library(ws.lib, x, B, D);
        offset = ws.lib;
      }
      if (config_.likelihood == VaeLikelihood::Poisson) return poisson_nll_forward(ws.nll, ws.out(), offset, x, B, D);
      const float* dropout = config_.likelihood == VaeLikelihood::ZeroInflatedNB ? ws.aux : nullptr;
      return nb_nll_forward(ws.nll, ws.out(), log_scale, dropout, offset, x, B, D);
    }
  }
}

Status VaeModel::likelihood_backward(VaeWorkspace& ws, const float* x, int64_t B, float* g) const {
  const int64_t D = config_.input_dim;
  int64_t n_scale = 0;
  const float* log_scale = decoder_log_scale(&n_scale);
  float* d_scale = scale_offset_ >= 0 ? g + scale_offset_ : nullptr;
  const float* offset = config_.observed_library ? ws.lib : nullptr;  // as likelihood_forward left it
  switch (config_.likelihood) {
    case VaeLikelihood::Bernoulli:
      return bernoulli_logits_nll_backward(ws.d_out, ws.rows, ws.probs, x, B, D);
    case VaeLikelihood::Gaussian:
    case VaeLikelihood::Laplace: {
      LogVarShape shape = n_scale == D ? LogVarShape::Feature : LogVarShape::Scalar;
      const bool element = config_.sigma_mode == SigmaMode::Decoder;
      if (element) {
        log_scale = ws.scale;
        d_scale = ws.d_scale;
        shape = LogVarShape::Element;
      }
      LK_RETURN_IF_ERROR(config_.likelihood == VaeLikelihood::Gaussian
                             ? gaussian_nll_backward(ws.d_out, d_scale, ws.rows, ws.out(), log_scale, shape, x, B, D)
                             : laplace_nll_backward(ws.d_out, d_scale, ws.rows, ws.out(), log_scale, shape, x, B, D));
      return element ? floored_log_backward(ws.d_aux, ws.d_scale, ws.aux, scale_floor_, B * D) : Status::Ok();
    }
    case VaeLikelihood::Poisson:
      return poisson_nll_backward(ws.d_out, ws.rows, ws.out(), offset, x, B, D);
    default: {
      const bool zi = config_.likelihood == VaeLikelihood::ZeroInflatedNB;
      return nb_nll_backward(ws.d_out, d_scale, zi ? ws.d_aux : nullptr, ws.rows, ws.out(), log_scale,
                             zi ? ws.aux : nullptr, offset, x, B, D);
    }
  }
}

Status VaeModel::encode(float* mean, float* log_var, const float* x, const float* cond, int64_t rows) const {
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  const int64_t L = config_.latent_dim, D = config_.input_dim, Q = config_.condition_dim;
  VaeWorkspace ws(*this, std::min(rows, kInferenceChunk), 1, false);
  for (int64_t r0 = 0; r0 < rows; r0 += kInferenceChunk) {
    const int64_t B = std::min(kInferenceChunk, rows - r0);
    LK_RETURN_IF_ERROR(encode_batch(ws, x + r0 * D, Q > 0 ? cond + r0 * Q : nullptr, B));
    std::memcpy(mean + r0 * L, ws.mean, sizeof(float) * B * L);
    std::memcpy(log_var + r0 * L, ws.log_var, sizeof(float) * B * L);
  }
  return Status::Ok();
}

Status VaeModel::decode(float* mean, float* aux, const float* z, const float* cond, int64_t rows) const {
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  const int64_t L = config_.latent_dim, D = config_.input_dim, Q = config_.condition_dim;
  VaeWorkspace ws(*this, std::min(rows, kInferenceChunk), 1, false);
  int64_t n_scale = 0;
  const float* log_scale = decoder_log_scale(&n_scale);
  for (int64_t r0 = 0; r0 < rows; r0 += kInferenceChunk) {
    const int64_t B = std::min(kInferenceChunk, rows - r0), n = B * D;
    LK_RETURN_IF_ERROR(decode_batch(ws, z + r0 * L, Q > 0 ? cond + r0 * Q : nullptr, B, 1));
    float* m = mean + r0 * D;
    std::memcpy(m, ws.out(), sizeof(float) * n);
    if (config_.likelihood == VaeLikelihood::Bernoulli) sigmoid_in_place(m, n);
    if (counts())
      for (int64_t i = 0; i < n; ++i)  // E[x | z] = (1 − π) · exp(log-mean), π = 0 without zero inflation
        m[i] = std::exp(m[i]) * (has_aux_head_ ? fast_sigmoid(-ws.aux[i]) : 1.0f);
    if (!aux) continue;
    float* a = aux + r0 * D;
    if (config_.sigma_mode == SigmaMode::Decoder) {
      LK_RETURN_IF_ERROR(floored_log_forward(a, ws.aux, scale_floor_, n));
    } else if (has_aux_head_) {
      std::memcpy(a, ws.aux, sizeof(float) * n);
    } else if (location_scale()) {
      for (int64_t i = 0; i < n; ++i) a[i] = log_scale[n_scale == 1 ? 0 : i % D];
    }
  }
  return Status::Ok();
}

namespace {
// Dynamic binarisation in place: x_i ~ Bernoulli(x_i), the uniforms drawn into `scratch` (n floats) from
// (seed, stream) starting at draw number first_draw.
Status binarize_in_place(float* x, float* scratch, int64_t n, uint64_t seed, uint64_t stream, uint64_t first_draw) {
  LK_RETURN_IF_ERROR(rng_uniform_fill(scratch, n, seed, stream, first_draw));
  for (int64_t i = 0; i < n; ++i) x[i] = scratch[i] < x[i] ? 1.0f : 0.0f;
  return Status::Ok();
}

// dst (B·K, D): row b·K + s = src row b.
void replicate_rows(float* dst, const float* src, int64_t B, int64_t K, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < K; ++s) std::memcpy(dst + (b * K + s) * D, src + b * D, sizeof(float) * D);
}

Status check_step(const StepOptions& o) {
  if (o.samples < 1) return Status::Error(Code::InvalidArgument, "samples (k) must be >= 1");
  if (!(o.free_bits >= 0.f)) return Status::Error(Code::InvalidArgument, "freeBits must be >= 0");
  if (o.free_bits > 0.f && o.objective == Objective::Iwae)
    return Status::Error(Code::InvalidArgument, "freeBits applies to objective 'elbo' only");
  if (!(o.kl_weight >= 0.f) || !std::isfinite(o.kl_weight))
    return Status::Error(Code::InvalidArgument, "the KL weight (beta) must be a finite number >= 0");
  return Status::Ok();
}
// Decoder rows per evaluation pass: large enough that the GEMMs and the likelihood use every core.
constexpr int64_t kEvalRows = 2048;
}  // namespace

Status VaeModel::evaluate(const EvalTerms& out, const float* x, const float* cond, int64_t rows, int64_t samples,
                          bool analytic_kl, uint64_t seed, bool binarize, const std::atomic<bool>* cancel) const {
  if (samples < 1) return Status::Error(Code::InvalidArgument, "samples must be >= 1");
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  if (analytic_kl && out.kl && mixture_prior())
    return Status::Error(Code::InvalidArgument, "kl: a mixture prior has no closed-form KL; use the Monte-Carlo estimate");
  if (rows == 0) return Status::Ok();
  const int64_t L = config_.latent_dim, D = config_.input_dim, Q = config_.condition_dim;
  // Work items are (chunk of Bc examples, block of Kb draws) with about kEvalRows decoder rows each — fewer when
  // that would leave threads idle — spread over the team, each thread on its own workspace (threads.h).
  const int T = omp_get_max_threads();
  const int64_t per_thread = (rows * samples + T - 1) / T;
  const int64_t pass_rows = std::max<int64_t>(64, std::min(kEvalRows, per_thread));
  const int64_t Kb = std::min(samples, pass_rows);
  const int64_t Bc = std::min(rows, std::max<int64_t>(1, pass_rows / Kb));
  const int64_t chunks = (rows + Bc - 1) / Bc, blocks = (samples + Kb - 1) / Kb;
  const bool need_ratio = out.log_likelihood || (out.kl && !analytic_kl);
  // Per (row, block): Σ nll, Σ ratio, and the block's log-sum-exp of the log weights as (max, Σ exp(· − max)).
  struct Partial {
    double recon = 0, ratio = 0, max = -HUGE_VAL, sum = 0;
  };
  std::vector<Partial> partial(static_cast<size_t>(rows * blocks));
  std::vector<std::unique_ptr<VaeWorkspace>> workspaces(static_cast<size_t>(T));
  const uint64_t stream = rng_stream(RngPurpose::Eval, 0);
  LK_RETURN_IF_ERROR(parallel_items(chunks * blocks, [&](int64_t item, int t) -> Status {
    if (cancel && cancel->load()) return Status::Error(Code::Cancelled, "evaluation was cancelled");
    const int64_t r0 = (item / blocks) * Bc, j = item % blocks, s0 = j * Kb;
    const int64_t B = std::min(Bc, rows - r0), K = std::min(Kb, samples - s0), R = B * K;
    if (!workspaces[t]) workspaces[t].reset(new VaeWorkspace(*this, Bc, Kb, false));
    VaeWorkspace& ws = *workspaces[t];
    std::memcpy(ws.x, x + r0 * D, sizeof(float) * B * D);
    if (binarize)  // a fixed binarisation of the evaluation data (probs is free until the likelihood runs)
      LK_RETURN_IF_ERROR(binarize_in_place(ws.x, ws.probs, B * D, seed, rng_stream(RngPurpose::Binarize, ~0ull), r0 * D));
    const float* cb = Q > 0 ? cond + r0 * Q : nullptr;
    LK_RETURN_IF_ERROR(encode_batch(ws, ws.x, cb, B));
    if (j == 0 && out.kl && analytic_kl)
      LK_RETURN_IF_ERROR(gaussian_kl_std_normal_forward(out.kl + r0, ws.mean, ws.log_var, B, L));
    for (int64_t b = 0; b < B; ++b)
      LK_RETURN_IF_ERROR(rng_normal_fill(ws.eps + b * K * L, K * L, seed, stream, ((r0 + b) * samples + s0) * L));
    LK_RETURN_IF_ERROR(gaussian_reparameterize_forward(ws.z, ws.mean, ws.log_var, ws.eps, B, L, K));
    LK_RETURN_IF_ERROR(decode_batch(ws, ws.z, cb, B, K));
    const float* xr = ws.x;
    if (K > 1) {
      replicate_rows(ws.x_rep, ws.x, B, K, D);
      xr = ws.x_rep;
    }
    LK_RETURN_IF_ERROR(likelihood_forward(ws, xr, R, false));
    if (need_ratio) LK_RETURN_IF_ERROR(log_ratio_forward(ws, B, K));
    for (int64_t b = 0; b < B; ++b) {
      Partial& p = partial[static_cast<size_t>((r0 + b) * blocks + j)];
      const float* nll = ws.nll + b * K;
      const float* ratio = ws.ratio + b * K;
      for (int64_t s = 0; s < K; ++s) p.recon += nll[s];
      if (!need_ratio) continue;
      for (int64_t s = 0; s < K; ++s) {
        p.ratio += ratio[s];
        p.max = std::max(p.max, static_cast<double>(ratio[s]) - nll[s]);
      }
      for (int64_t s = 0; s < K; ++s) p.sum += std::exp(static_cast<double>(ratio[s]) - nll[s] - p.max);
    }
    return Status::Ok();
  }));
  for (int64_t r = 0; r < rows; ++r) {
    const Partial* p = &partial[static_cast<size_t>(r * blocks)];
    double recon = 0, ratio = 0, m = -HUGE_VAL, sum = 0;
    for (int64_t j = 0; j < blocks; ++j) {
      recon += p[j].recon;
      ratio += p[j].ratio;
      m = std::max(m, p[j].max);
    }
    for (int64_t j = 0; j < blocks; ++j) sum += p[j].sum * std::exp(p[j].max - m);
    if (out.reconstruction) out.reconstruction[r] = static_cast<float>(recon / samples);
    if (out.kl && !analytic_kl) out.kl[r] = static_cast<float>(-ratio / samples);
    if (out.log_likelihood) out.log_likelihood[r] = static_cast<float>(m + std::log(sum / samples));
  }
  return Status::Ok();
}

Status VaeModel::begin_training(const float* data, const float* cond, int64_t rows, const TrainOptions& options) {
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  if (rows < 1) return Status::Error(Code::InvalidArgument, "the training set is empty");
  if (options.batch_size < 1) return Status::Error(Code::InvalidArgument, "batchSize must be >= 1");
  LK_RETURN_IF_ERROR(check_step(options.step));
  if (mixture_prior() && options.step.free_bits > 0.f)
    return Status::Error(Code::InvalidArgument, "freeBits needs prior 'normal' (a closed-form KL per dimension)");
  // The data copy, the gradient and Adam's two moments, the permutations (the workspace checks its own size).
  const int64_t floats = checked_add(checked_product({rows, checked_add(config_.input_dim, config_.condition_dim)}),
                                     checked_mul(3, num_params()));
  reserve_bytes(checked_add(floats, checked_mul(4, rows)), sizeof(float), "the training set and optimiser state");
  trainer_.reset(new Trainer(*this, data, config_.condition_dim > 0 ? cond : nullptr, rows, options));
  return Status::Ok();
}

void VaeModel::end_training() { trainer_.reset(); }

Status VaeModel::forward_backward(VaeWorkspace& ws, const float* xb, const float* cb, int64_t B, uint64_t seed,
                                  uint64_t eps_stream, const StepOptions& o, float* g, EpochResult* sums) const {
  const int64_t L = config_.latent_dim, D = config_.input_dim, K = o.samples, R = B * K;
  const float* p = params_.data();
  const float w = o.kl_weight;
  const bool iwae = o.objective == Objective::Iwae;

  // Forward: B examples through the encoder, K draws each through the decoder.
  LK_RETURN_IF_ERROR(encode_batch(ws, xb, cb, B));
  LK_RETURN_IF_ERROR(rng_normal_fill(ws.eps, R * L, seed, eps_stream, 0));
  LK_RETURN_IF_ERROR(gaussian_reparameterize_forward(ws.z, ws.mean, ws.log_var, ws.eps, B, L, K));
  LK_RETURN_IF_ERROR(decode_batch(ws, ws.z, cb, B, K));
  const float* xr = xb;
  if (K > 1) {
    replicate_rows(ws.x_rep, xb, B, K, D);
    xr = ws.x_rep;
  }
  LK_RETURN_IF_ERROR(likelihood_forward(ws, xr, R, true));
  const bool mc_kl = mixture_prior();  // no closed form: the KL is (1/K) Σ_k log q − log p at the draws
  if (iwae || mc_kl) LK_RETURN_IF_ERROR(log_ratio_forward(ws, B, K));
  double recon = 0.0, kl = 0.0, loss = 0.0;
  for (int64_t r = 0; r < R; ++r) recon += ws.nll[r];
  recon /= static_cast<double>(K);
  if (mc_kl) {
    for (int64_t r = 0; r < R; ++r) kl -= ws.ratio[r];
    kl /= static_cast<double>(K);
  } else {
    LK_RETURN_IF_ERROR(gaussian_kl_std_normal_forward(ws.kl, ws.mean, ws.log_var, B, L));
    for (int64_t b = 0; b < B; ++b) kl += ws.kl[b];
  }
  if (iwae) {
    for (int64_t r = 0; r < R; ++r) ws.log_w[r] = -ws.nll[r] + w * ws.ratio[r];
    LK_RETURN_IF_ERROR(logsumexp_rows_forward(ws.bound, ws.log_w, B, K));
    for (int64_t b = 0; b < B; ++b) loss += std::log(static_cast<double>(K)) - ws.bound[b];
  } else if (o.free_bits > 0.f) {
    LK_RETURN_IF_ERROR(gaussian_kl_std_normal_dims_forward(ws.kl_dims, ws.mean, ws.log_var, B, L));
    double floored = 0.0;
    for (int64_t d = 0; d < L; ++d) {
      const float mean_kl = ws.kl_dims[d] / static_cast<float>(B);
      ws.dim_scale[d] = mean_kl > o.free_bits ? 1.0f : 0.0f;
      floored += std::max(mean_kl, o.free_bits);
    }
    loss = recon + w * static_cast<double>(B) * floored;
  } else {
    loss = recon + w * kl;
  }
  if (!std::isfinite(loss))
    return Status::Error(Code::NonFiniteLoss, "the loss became " + std::string(std::isnan(loss) ? "NaN" : "Inf"));
  sums->loss_sum += loss;
  sums->reconstruction_sum += recon;
  sums->kl_sum += kl;

  // Backward of the batch mean, accumulated into g. ws.rows = ∂loss/∂nll per draw.
  ws.zero_grads(B, L, D);
  const float inv_b = 1.0f / static_cast<float>(B);
  if (iwae) {  // ∂/∂log_w = −softmax_k(log_w) / B
    for (int64_t b = 0; b < B; ++b) ws.d_row[b] = -inv_b;
    LK_RETURN_IF_ERROR(logsumexp_rows_backward(ws.d_log_w, ws.d_row, ws.log_w, ws.bound, B, K));
    for (int64_t r = 0; r < R; ++r) {
      ws.rows[r] = -ws.d_log_w[r];
      ws.d_log_w[r] *= w;  // now ∂loss/∂ratio
    }
  } else {
    const float inv_r = 1.0f / static_cast<float>(R);
    for (int64_t r = 0; r < R; ++r) {
      ws.rows[r] = inv_r;
      if (mc_kl) ws.d_log_w[r] = -w * inv_r;  // ∂loss/∂ratio of the Monte-Carlo KL
    }
  }
  LK_RETURN_IF_ERROR(likelihood_backward(ws, xr, R, g));
  LK_RETURN_IF_ERROR(decoder_->backward(ws.dec, ws.d_z, g, p, R));
  if (iwae || mc_kl) {
    LK_RETURN_IF_ERROR(log_ratio_backward(ws, B, K, g));
  } else {
    for (int64_t b = 0; b < B; ++b) ws.d_row[b] = w * inv_b;
    LK_RETURN_IF_ERROR(gaussian_kl_std_normal_backward(ws.d_mean, ws.d_log_var, ws.d_row, ws.mean, ws.log_var, B, L,
                                                       o.free_bits > 0.f ? ws.dim_scale : nullptr));
  }
  LK_RETURN_IF_ERROR(gaussian_reparameterize_backward(ws.d_mean, ws.d_log_var, ws.d_z, ws.log_var, ws.eps, B, L, K));
  return encoder_->backward(ws.enc, nullptr, g, p, B);
}

Status VaeModel::loss_and_gradient(float* grad, double* loss, const float* x, const float* cond, int64_t rows,
                                   uint64_t seed, const StepOptions& step) const {
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  if (rows < 1) return Status::Error(Code::InvalidArgument, "rows must be >= 1");
  LK_RETURN_IF_ERROR(check_step(step));
  if (mixture_prior() && step.free_bits > 0.f)
    return Status::Error(Code::InvalidArgument, "freeBits needs prior 'normal' (a closed-form KL per dimension)");
  VaeWorkspace ws(*this, rows, step.samples, true);
  std::memset(grad, 0, sizeof(float) * params_.size());
  EpochResult sums;
  LK_RETURN_IF_ERROR(forward_backward(ws, x, config_.condition_dim > 0 ? cond : nullptr, rows, seed,
                                      rng_stream(RngPurpose::Eps, 0), step, grad, &sums));
  *loss = sums.loss_sum / static_cast<double>(rows);
  return Status::Ok();
}

Status VaeModel::train_step(Trainer& t, const float* xb, const float* cb, int64_t B, uint64_t eps_step,
                            float kl_weight, Part part, EpochResult* sums) {
  float* g = t.grad.data();
  StepOptions step = t.options.step;
  step.kl_weight = kl_weight;
  LK_RETURN_IF_ERROR(forward_backward(t.workspace, xb, cb, B, t.options.seed, rng_stream(RngPurpose::Eps, eps_step),
                                      step, g, sums));
  // adam_step also clears g: the one zero-fill of the parameter gradient per step; a part not updated is cleared.
  // The encoder group, then the generative model's (decoder, likelihood, prior): contiguous, in that order.
  const int64_t E = plan_.group("encoder").end, N = num_params();
  float *p = params_.data(), *m = t.adam_m.data(), *v = t.adam_v.data();
  if (part == Part::Decoder)
    std::memset(g, 0, sizeof(float) * E);
  else
    LK_RETURN_IF_ERROR(adam_step(p, m, v, g, E, t.options.adam, ++t.encoder_adam_steps, true));
  if (part == Part::Encoder)
    std::memset(g + E, 0, sizeof(float) * (N - E));
  else
    LK_RETURN_IF_ERROR(adam_step(p + E, m + E, v + E, g + E, N - E, t.options.adam, ++t.decoder_adam_steps, true));
  return Status::Ok();
}

int64_t VaeModel::steps_per_epoch() const {
  if (!trainer_) return 0;
  const int64_t bs = trainer_->workspace.capacity;
  return (trainer_->rows + bs - 1) / bs;
}

Status VaeModel::train_epoch(int64_t epoch, const float* kl_weights, bool aggressive, EpochResult* result,
                             const std::atomic<bool>* cancel, const ProgressFn& progress) {
  if (!trainer_) return Status::Error(Code::InvalidArgument, "train_epoch called before begin_training");
  Trainer& t = *trainer_;
  const int64_t D = config_.input_dim, N = t.rows, bs = t.workspace.capacity;
  const int64_t steps = steps_per_epoch();
  LK_RETURN_IF_ERROR(rng_permutation(t.perm.data(), N, t.options.seed, rng_stream(RngPurpose::Permutation, epoch)));
  *result = EpochResult{};
  const int64_t Q = config_.condition_dim;
  float* xb = t.workspace.x;
  float* cb = Q > 0 ? t.workspace.cond : nullptr;
  // Copies rows idx[0 … B − 1] of the data (and conditions) into xb (cb), binarised with the draws of
  // `binarize_step` when asked.
  auto gather = [&](const int64_t* idx, int64_t B, uint64_t binarize_step) -> Status {
    for (int64_t b = 0; b < B; ++b) std::memcpy(xb + b * D, t.data.data() + idx[b] * D, sizeof(float) * D);
    for (int64_t b = 0; b < B && Q > 0; ++b)
      std::memcpy(cb + b * Q, t.cond.data() + idx[b] * Q, sizeof(float) * Q);
    if (t.options.binarize)
      return binarize_in_place(xb, t.workspace.probs, B * D, t.options.seed,
                               rng_stream(RngPurpose::Binarize, binarize_step), 0);
    return Status::Ok();
  };
  // Draws for inner (encoder-only) steps come from streams numbered past any outer step.
  constexpr uint64_t kInnerStreams = uint64_t(1) << 40;
  auto annotate = [&](Status st, int64_t s) {
    if (st.code == Code::NonFiniteLoss)
      st.message += " at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(s + 1) + " of " +
                    std::to_string(steps) + "; parameters were left as they were before that step";
    return st;
  };
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t r0 = s * bs, B = std::min(bs, N - r0);
    const int64_t global_step = epoch * steps + s;
    const float w = kl_weights ? kl_weights[s] : t.options.step.kl_weight;
    if (aggressive) {
      double previous = HUGE_VAL, window = 0.0;
      int64_t window_rows = 0;
      for (int64_t i = 1; i <= 100; ++i) {
        if (cancel && cancel->load()) return Status::Error(Code::Cancelled, "training was cancelled");
        if (t.inner_cursor + bs > N) {  // reshuffle the inner pass
          LK_RETURN_IF_ERROR(rng_permutation(t.inner_perm.data(), N, t.options.seed,
                                             rng_stream(RngPurpose::Permutation, kInnerStreams + t.inner_shuffles++)));
          t.inner_cursor = 0;
        }
        const uint64_t inner = kInnerStreams + static_cast<uint64_t>(t.inner_steps++);
        LK_RETURN_IF_ERROR(gather(t.inner_perm.data() + t.inner_cursor, bs, inner));  // bs ≤ N: full batches
        t.inner_cursor += bs;
        EpochResult inner_sums;
        Status st = train_step(t, xb, cb, bs, inner, w, Part::Encoder, &inner_sums);
        if (!st.ok()) return annotate(st, s);
        result->encoder_steps += 1;
        window += inner_sums.loss_sum;
        window_rows += bs;
        if (i % 10 == 0) {  // stop once the mean loss of the last 10 inner steps no longer falls
          const double current = window / static_cast<double>(window_rows);
          if (current >= previous) break;
          previous = current;
          window = 0.0;
          window_rows = 0;
        }
      }
    }
    if (cancel && cancel->load()) return Status::Error(Code::Cancelled, "training was cancelled");
    LK_RETURN_IF_ERROR(gather(t.perm.data() + r0, B, static_cast<uint64_t>(global_step)));
    Status st = train_step(t, xb, cb, B, static_cast<uint64_t>(global_step), w,
                           aggressive ? Part::Decoder : Part::All, result);
    if (!st.ok()) return annotate(st, s);
    result->examples += B;
    result->steps += 1;
    if (progress) progress(result->steps, result->examples, result->loss_sum);
  }
  return Status::Ok();
}

}  // namespace lk
