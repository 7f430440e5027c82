// vae.cpp — see vae.h. One forward_backward = encoder → reparameterise → decoder → likelihood, the prior's terms →
// objective → backward through all of them into the flat gradient (the trainer, train/trainer.h, gathers batches
// and runs the optimiser).
#include "vae.h"
#include "vae_workspace.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/gaussian.h"
#include "../core/memory.h"
#include "../core/rng.h"
#include "../core/threads.h"

namespace lk {

namespace {

int64_t product_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

}  // namespace

VaeModel::VaeModel(const VaeConfig& config) : config_(config) {}
VaeModel::~VaeModel() = default;

Status VaeModel::Create(const VaeConfig& c, std::unique_ptr<VaeModel>* out, bool allocate) {
  if (c.input_dim < 1) return Status::Error(Code::InvalidArgument, "inputDim must be >= 1");
  if (c.latent_dim < 1) return Status::Error(Code::InvalidArgument, "latentDim must be >= 1");
  if (c.condition_dim < 0 || c.condition_dim > (1 << 20))
    return Status::Error(Code::InvalidArgument, "conditionDim must be in [0, 1048576]");
  if (c.input_shape.numel() != c.input_dim)
    return Status::Error(Code::InvalidArgument, "inputShape " + c.input_shape.str() + " does not hold inputDim = " +
                                                    std::to_string(c.input_dim) + " values");
  if (c.decoder.empty()) return Status::Error(Code::InvalidArgument, "decoder: needs at least its output layer");
  std::unique_ptr<VaeModel> m(new VaeModel(c));
  LK_RETURN_IF_ERROR(Likelihood::Make(c, &m->likelihood_));
  LK_RETURN_IF_ERROR(Prior::Make(c.prior_components, c.latent_dim, &m->prior_));
  std::vector<LayerSpec> encoder = c.encoder;
  LayerSpec head;
  head.name = "encoder.mean";
  head.where = "encoder.mean";
  head.units = c.latent_dim;
  encoder.push_back(head);
  LK_RETURN_IF_ERROR(Sequential::Build(encoder, c.input_shape, c.condition_dim, "encoder.log_var", &m->encoder_));
  const LayerSpec& head_spec = c.decoder.back();
  LK_RETURN_IF_ERROR(Sequential::Build(c.decoder, FeatureShape::vector(c.latent_dim), c.condition_dim,
                                       m->likelihood_->twin_head(), &m->decoder_));
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
  plan.open_group("likelihood");
  m->likelihood_->declare(plan);
  plan.open_group("prior");  // generative-model parameters: after the decoder's, in its Adam group
  m->prior_->declare(plan);
  const int64_t total = plan.total();
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
  likelihood_->init(params_.data());
  prior_->init(params_.data(), seed, rng_stream(RngPurpose::Init, 2 * all.size()));
}

Status VaeModel::log_ratio_forward(VaeWorkspace& ws, int64_t B, int64_t K) const {
  return prior_->log_ratio_forward(ws.ratio, ws.resp, ws.z, ws.eps, ws.log_var, params_.data(), B, K);
}

Status VaeModel::log_ratio_backward(VaeWorkspace& ws, int64_t B, int64_t K, float* g) const {
  return prior_->log_ratio_backward(ws.d_z, ws.d_log_var, g, ws.d_log_w, ws.resp, ws.z, params_.data(), B, K);
}

const float* VaeModel::decoder_log_scale(int64_t* count) const { return likelihood_->log_scale(params_.data(), count); }

Status VaeModel::check_width(const RowSource& x) const {
  if (x.cols() == config_.input_dim) return Status::Ok();
  return Status::Error(Code::InvalidArgument, x.name() + " has rows of " + std::to_string(x.cols()) +
                                                  " values; the model takes " + std::to_string(config_.input_dim));
}

Status VaeModel::check_condition(const float* cond, int64_t rows) const {
  if (config_.condition_dim > 0 && rows > 0 && cond == nullptr)
    return Status::Error(Code::InvalidArgument, "this conditional VAE needs a condition (conditionDim = " +
                                                    std::to_string(config_.condition_dim) + ")");
  return Status::Ok();
}

Status VaeModel::encode_batch(VaeWorkspace& ws, const float* x, const float* cond, int64_t B) const {
  return encoder_->forward(ws.enc, x, cond, B, 1, ws.view(params_.data()));
}

Status VaeModel::decode_batch(VaeWorkspace& ws, const float* z, const float* cond, int64_t B, int64_t K) const {
  return decoder_->forward(ws.dec, z, cond, B * K, K, ws.view(params_.data()));
}

LikelihoodIo VaeModel::likelihood_io(VaeWorkspace& ws) const {
  LikelihoodIo io;
  io.out = ws.out(), io.twin = ws.aux, io.d_out = ws.d_out, io.d_twin = ws.d_aux, io.nll = ws.nll, io.d_nll = ws.rows;
  io.probs = ws.probs, io.scale = ws.scale, io.d_scale = ws.d_scale, io.lib = ws.lib;
  return io;
}

Status VaeModel::likelihood_forward(VaeWorkspace& ws, const float* x, int64_t B, bool for_backward) const {
  return likelihood_->forward(likelihood_io(ws), x, B, params_.data(), for_backward);
}

Status VaeModel::likelihood_backward(VaeWorkspace& ws, const float* x, int64_t B, float* g) const {
  return likelihood_->backward(likelihood_io(ws), x, B, params_.data(), g);
}

std::vector<bf16_t> VaeModel::params_bf16(Precision precision) const {
  std::vector<bf16_t> copy;
  if (precision == Precision::Fp32) return copy;
  copy.resize(params_.size());
  to_bf16(copy.data(), params_.data(), num_params_);
  return copy;
}

Status VaeModel::encode(float* mean, float* log_var, const RowSource& x, const float* cond,
                        Precision precision) const {
  const int64_t rows = x.rows();
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  LK_RETURN_IF_ERROR(check_width(x));
  const int64_t L = config_.latent_dim, Q = config_.condition_dim;
  const std::vector<bf16_t> p16 = params_bf16(precision);
  VaeWorkspace ws(*this, std::min(rows, kInferenceRows), 1, false, VaeWorkspace::shadow(p16));
  for (int64_t r0 = 0; r0 < rows; r0 += kInferenceRows) {
    const int64_t B = std::min(kInferenceRows, rows - r0);
    const float* xb = x.view(r0);  // stored float32 is read in place, anything else densified into the workspace
    if (!xb) {
      LK_RETURN_IF_ERROR(x.read(ws.x, r0, B));
      xb = ws.x;
    }
    LK_RETURN_IF_ERROR(encode_batch(ws, xb, Q > 0 ? cond + r0 * Q : nullptr, B));
    std::memcpy(mean + r0 * L, ws.mean, sizeof(float) * B * L);
    std::memcpy(log_var + r0 * L, ws.log_var, sizeof(float) * B * L);
  }
  return Status::Ok();
}

Status VaeModel::decode(float* mean, float* aux, const float* z, const float* cond, int64_t rows,
                        Precision precision) const {
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  const int64_t L = config_.latent_dim, D = config_.input_dim, Q = config_.condition_dim;
  const std::vector<bf16_t> p16 = params_bf16(precision);
  VaeWorkspace ws(*this, std::min(rows, kInferenceRows), 1, false, VaeWorkspace::shadow(p16));
  for (int64_t r0 = 0; r0 < rows; r0 += kInferenceRows) {
    const int64_t B = std::min(kInferenceRows, rows - r0);
    LK_RETURN_IF_ERROR(decode_batch(ws, z + r0 * L, Q > 0 ? cond + r0 * Q : nullptr, B, 1));
    LK_RETURN_IF_ERROR(likelihood_->decoded_mean(mean + r0 * D, aux ? aux + r0 * D : nullptr, ws.out(), ws.aux, B,
                                                 params_.data()));
  }
  return Status::Ok();
}

namespace {
// dst (B·K, D): row b·K + s = src row b.
void replicate_rows(float* dst, const float* src, int64_t B, int64_t K, int64_t D) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < K; ++s) std::memcpy(dst + (b * K + s) * D, src + b * D, sizeof(float) * D);
}

// Decoder rows per evaluation pass: large enough that the GEMMs and the likelihood use every core.
constexpr int64_t kEvalRows = 2048;
}  // namespace

Status VaeModel::evaluate(const EvalTerms& out, const RowSource& x, const float* cond, int64_t samples,
                          bool analytic_kl, uint64_t seed, bool binarize, Precision precision,
                          const std::atomic<bool>* cancel, int64_t row_offset) const {
  const int64_t rows = x.rows();
  if (samples < 1) return Status::Error(Code::InvalidArgument, "samples must be >= 1");
  LK_RETURN_IF_ERROR(check_width(x));
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  if (analytic_kl && out.kl && !prior_->closed_form_kl())
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
  const std::vector<bf16_t> p16 = params_bf16(precision);  // one copy, read by every thread's workspace
  const uint64_t stream = rng_stream(RngPurpose::Eval, 0);
  LK_RETURN_IF_ERROR(parallel_items(chunks * blocks, [&](int64_t item, int t) -> Status {
    if (cancel && cancel->load()) return Status::Error(Code::Cancelled, "evaluation was cancelled");
    const int64_t r0 = (item / blocks) * Bc, j = item % blocks, s0 = j * Kb;
    const int64_t B = std::min(Bc, rows - r0), K = std::min(Kb, samples - s0), R = B * K;
    if (!workspaces[t]) workspaces[t].reset(new VaeWorkspace(*this, Bc, Kb, false, VaeWorkspace::shadow(p16)));
    VaeWorkspace& ws = *workspaces[t];
    LK_RETURN_IF_ERROR(x.read(ws.x, r0, B));
    if (binarize)  // a fixed binarisation of the evaluation data (probs is free until the likelihood runs)
      LK_RETURN_IF_ERROR(rng_binarize_in_place(ws.x, ws.probs, B * D, seed, rng_stream(RngPurpose::Binarize, ~0ull),
                                               (row_offset + r0) * D));
    const float* cb = Q > 0 ? cond + r0 * Q : nullptr;
    LK_RETURN_IF_ERROR(encode_batch(ws, ws.x, cb, B));
    if (j == 0 && out.kl && analytic_kl)
      LK_RETURN_IF_ERROR(gaussian_kl_std_normal_forward(out.kl + r0, ws.mean, ws.log_var, B, L));
    for (int64_t b = 0; b < B; ++b)
      LK_RETURN_IF_ERROR(rng_normal_fill(ws.eps + b * K * L, K * L, seed, stream, ((row_offset + r0 + b) * samples + s0) * L));
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

Status VaeModel::forward_backward(VaeWorkspace& ws, const float* xb, const float* cb, int64_t B, uint64_t seed,
                                  uint64_t eps_stream, const StepOptions& o, float* g, ObjectiveResult* sums,
                                  const BatchShare& share) const {
  const int64_t L = config_.latent_dim, D = config_.input_dim, K = o.samples, R = B * K;
  const ParamView p = ws.view(params_.data());

  // Forward: B examples through the encoder, K draws each through the decoder (ε row-major: row, draw, dimension).
  LK_RETURN_IF_ERROR(encode_batch(ws, xb, cb, B));
  LK_RETURN_IF_ERROR(rng_normal_fill_rows(ws.eps, share.positions, B, K * L, seed, eps_stream));
  LK_RETURN_IF_ERROR(gaussian_reparameterize_forward(ws.z, ws.mean, ws.log_var, ws.eps, B, L, K));
  LK_RETURN_IF_ERROR(decode_batch(ws, ws.z, cb, B, K));
  const float* xr = xb;
  if (K > 1) {
    replicate_rows(ws.x_rep, xb, B, K, D);
    xr = ws.x_rep;
  }
  LK_RETURN_IF_ERROR(likelihood_forward(ws, xr, R, true));
  // The prior's terms: a closed-form KL (normal), and log ratios where the objective or a mixture's KL needs them.
  const bool mc_kl = !prior_->closed_form_kl(), iwae = o.objective == Objective::Iwae;
  if (iwae || mc_kl) LK_RETURN_IF_ERROR(log_ratio_forward(ws, B, K));
  if (!mc_kl) LK_RETURN_IF_ERROR(gaussian_kl_std_normal_forward(ws.kl, ws.mean, ws.log_var, B, L));
  if (o.free_bits > 0.f) {
    LK_RETURN_IF_ERROR(gaussian_kl_std_normal_dims_forward(ws.kl_dims, ws.mean, ws.log_var, B, L));
    if (share.reduce_kl_dims) LK_RETURN_IF_ERROR(share.reduce_kl_dims(ws.kl_dims, L));
  }
  ObjectiveTerms terms;
  terms.nll = ws.nll, terms.ratio = iwae || mc_kl ? ws.ratio : nullptr, terms.kl = mc_kl ? nullptr : ws.kl;
  terms.kl_dims = o.free_bits > 0.f ? ws.kl_dims : nullptr, terms.B = B, terms.K = K, terms.L = L;
  terms.kl_dims_rows = share.batch_rows;
  ObjectiveResult obj;
  ws.zero_grads(B, L, D);
  LK_RETURN_IF_ERROR(objective_forward_backward(&obj, ws.rows, iwae || mc_kl ? ws.d_log_w : nullptr, ws.dim_scale,
                                                terms, o, ws.log_w, ws.bound, ws.d_row));
  *sums = obj;

  // Backward, accumulated into g: ws.rows = ∂loss/∂nll per draw, ws.d_log_w = ∂loss/∂ratio.
  LK_RETURN_IF_ERROR(likelihood_backward(ws, xr, R, g));
  LK_RETURN_IF_ERROR(decoder_->backward(ws.dec, ws.d_z, g, p, R));
  if (iwae || mc_kl) {
    LK_RETURN_IF_ERROR(log_ratio_backward(ws, B, K, g));
  } else {
    for (int64_t b = 0; b < B; ++b) ws.d_row[b] = obj.d_kl;
    LK_RETURN_IF_ERROR(gaussian_kl_std_normal_backward(ws.d_mean, ws.d_log_var, ws.d_row, ws.mean, ws.log_var, B, L,
                                                       o.free_bits > 0.f ? ws.dim_scale : nullptr));
  }
  LK_RETURN_IF_ERROR(gaussian_reparameterize_backward(ws.d_mean, ws.d_log_var, ws.d_z, ws.log_var, ws.eps, B, L, K));
  return encoder_->backward(ws.enc, nullptr, g, p, B);
}

Status VaeModel::loss_and_gradient(float* grad, double* loss, const float* x, const float* cond, int64_t rows,
                                   uint64_t seed, const StepOptions& step, Precision precision) const {
  LK_RETURN_IF_ERROR(check_condition(cond, rows));
  if (rows < 1) return Status::Error(Code::InvalidArgument, "rows must be >= 1");
  LK_RETURN_IF_ERROR(check_step(step));
  if (!prior_->closed_form_kl() && step.free_bits > 0.f)
    return Status::Error(Code::InvalidArgument, "freeBits needs prior 'normal' (a closed-form KL per dimension)");
  const std::vector<bf16_t> p16 = params_bf16(precision);
  VaeWorkspace ws(*this, rows, step.samples, true, VaeWorkspace::shadow(p16));
  std::memset(grad, 0, sizeof(float) * params_.size());
  ObjectiveResult sums;
  LK_RETURN_IF_ERROR(forward_backward(ws, x, config_.condition_dim > 0 ? cond : nullptr, rows, seed,
                                      rng_stream(RngPurpose::Eps, 0), step, grad, &sums));
  *loss = sums.loss / static_cast<double>(rows);
  return Status::Ok();
}

}  // namespace lk
