// vae.h — the native VAE, composed from nn/ networks: encoder network (nn/sequential: the spec's layers, then the
// dense mean head with its log-variance twin) → reparameterisation → decoder network (the spec's layers, the last
// being the output head, with a twin for σ(z) or ZINB's dropout) → likelihood, and the prior's KL or log ratio.
// Parameters live in ONE flat float buffer in groups encoder, decoder, likelihood, prior (nn/plan.h); tensors()
// names each slice (dense weights (in, out); convolution weights in PyTorch's layouts).
// Shapes: x (B, input_dim) with input_dim = input_shape.numel() (an image row in C·H·W order); mean, log_var, eps,
// z (B, latent_dim); decoder output (B, input_dim); condition (B, condition_dim) — a conditional VAE's covariates,
// joined to the input of the first dense layer of each network as [h | c] (every `cond` argument below may be null
// only when condition_dim is 0).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/dense.h"
#include "../core/likelihood.h"
#include "../core/optim.h"
#include "../core/status.h"
#include "../data/source.h"
#include "../nn/plan.h"
#include "likelihoods.h"
#include "objective.h"
#include "priors.h"
#include "../nn/sequential.h"

namespace lk {

// A data-parallel rank's rows of a batch (train/trainer.h): row b's draws are numbered by positions[b], its position
// in the whole batch (null: b); with free bits, the per-dimension KL sums of these rows are summed over the ranks by
// reduce_kl_dims (called once per step, on every rank) and the floor is on the mean over batch_rows rows.
struct BatchShare {
  const int64_t* positions = nullptr;
  int64_t batch_rows = 0;  // the whole batch's rows (0: these rows are the whole batch)
  std::function<Status(float* kl_dims, int64_t n)> reduce_kl_dims;
};

// The decoder's likelihood p(x | z). Its main output head gives logits (Bernoulli), the mean (Gaussian, Laplace) or
// the log-mean (Poisson, NB, ZINB); a second head gives σ(z) (sigma mode Decoder) or ZINB's dropout logits.
enum class VaeLikelihood { Bernoulli = 0, Gaussian = 1, Laplace = 2, Poisson = 3, NegativeBinomial = 4, ZeroInflatedNB = 5 };
// The scale of a Gaussian (σ) or Laplace (b): fixed, one learned value, one per feature, or output by the decoder.
enum class SigmaMode { Fixed = 0, Shared = 1, Feature = 2, Decoder = 3 };

struct VaeConfig {
  int64_t input_dim = 0, latent_dim = 0;
  FeatureShape input_shape;  // input_dim values: a vector, or an image [c, h, w]
  // The encoder's layers before its heads, and the decoder's layers ending with its output head (named
  // "decoder.out": no activation, input_dim outputs, the input's image shape when it ends in a convolution).
  std::vector<LayerSpec> encoder, decoder;
  VaeLikelihood likelihood = VaeLikelihood::Bernoulli;
  SigmaMode sigma_mode = SigmaMode::Fixed;
  // Defaults live in TypeScript (models/vae/options.ts); the binding requires what applies.
  float sigma = 0.f;      // Gaussian / Laplace: the fixed scale, or the initial scale when learned
  float min_sigma = 0.f;  // SigmaMode::Decoder: the scale's floor
  bool observed_library = false;  // count likelihoods: the mean is exp(head) · Σ_d x_d (the row's library size)
  int64_t prior_components = 0;   // 0: p(z) = N(0, I); C > 0: a learned mixture of C diagonal Gaussians
  int64_t condition_dim = 0;      // > 0: a conditional VAE
};

// Limits on what a caller may ask for: parameters of one model, and draws per example in evaluate (the
// literature's importance-sampled log-likelihood uses 5,000).
constexpr int64_t kMaxParams = int64_t(1) << 30;
constexpr int64_t kMaxEvalSamples = int64_t(1) << 20;

class VaeWorkspace;

// Per-example evaluation outputs over K draws z_k ~ q(z | x); any pointer may be null.  each: (rows)
struct EvalTerms {
  float* reconstruction = nullptr;  // (1/K) Σ_k −log p(x | z_k)
  float* kl = nullptr;              // KL(q(z | x) || p(z)): closed form, or the Monte-Carlo mean of log q − log p
  float* log_likelihood = nullptr;  // log (1/K) Σ_k p(x | z_k) p(z_k) / q(z_k | x): the importance-sampled log p(x)
};

// Rows per pass of encode / decode (bounds their workspace memory); a row's result does not depend on the others, and
// inputs split at multiples of it give the same bits as one call (lib/models/vae/inference.ts splits async jobs so).
constexpr int64_t kInferenceRows = 1024;

class VaeModel {
 public:
  // allocate = false lays the parameters out (num_params(), tensors()) without allocating them: for checking a
  // checkpoint's tensors against its options before anything large is allocated. Such a model only describes.
  static Status Create(const VaeConfig& config, std::unique_ptr<VaeModel>* out, bool allocate = true);
  ~VaeModel();

  const VaeConfig& config() const { return config_; }
  int64_t num_params() const { return num_params_; }
  const std::vector<ParamTensor>& tensors() const { return plan_.tensors(); }
  float* params() { return params_.data(); }

  // PyTorch's default nn.Linear initialisation: W, b ~ U(−1/√fan_in, 1/√fan_in); log σ² = log(sigma²).
  void init_params(uint64_t seed);

  // The parameters in bf16 for a pass in bf16 precision (empty in fp32).
  std::vector<bf16_t> params_bf16(Precision precision) const;

  // Inference on any number of rows, in chunks (one workspace per call), in `precision` (nn/layer.h). x: the rows of
  // any source (data/source.h), densified a chunk at a time.  mean, log_var: (x.rows(), latent_dim)
  Status encode(float* mean, float* log_var, const RowSource& x, const float* cond, Precision precision) const;
  // The decoder's mean E[x | z]: probabilities for Bernoulli, the mean for Gaussian and Laplace, the mean at library
  // size 1 for count likelihoods. aux (nullable): the per-element log-scale (log σ², log b) of a location-scale
  // likelihood, or ZINB's dropout logits.  mean, aux: (rows, input_dim)
  Status decode(float* mean, float* aux, const float* z, const float* cond, int64_t rows, Precision precision) const;
  // The learned or fixed log-scale (log σ², log b) or log θ (NB, ZINB): 1 value or input_dim (0 when none).
  const float* decoder_log_scale(int64_t* count) const;
  // Per-example terms over `samples` draws of z per row, in chunks of bounded memory. Draw s of row i uses the
  // normal numbers at offset (i·samples + s)·latent_dim of stream (Eval, 0), so results do not depend on chunking
  // and the k = 1 log-likelihood equals the ELBO with a Monte-Carlo KL; row_offset > 0: row i draws as row
  // row_offset + i (x is a part, from that row on, of a set evaluated by several processes).  x: (rows, input_dim)
  // of any source
  Status evaluate(const EvalTerms& out, const RowSource& x, const float* cond, int64_t samples,
                  bool analytic_kl, uint64_t seed, bool binarize, Precision precision,
                  const std::atomic<bool>* cancel, int64_t row_offset = 0) const;

  // The batch-mean objective over x (rows, input_dim) with ε drawn from (seed, step 0), and its gradient with
  // respect to every parameter (grad: num_params()). For gradient checks; training uses the same code path.
  Status loss_and_gradient(float* grad, double* loss, const float* x, const float* cond, int64_t rows, uint64_t seed,
                           const StepOptions& step, Precision precision) const;

  // Training's use of the model (train/trainer.h): the parameter groups, and one forward and backward of the
  // batch-mean objective on a workspace of at least B examples (x: (B, input_dim), cond: (B, condition_dim) or
  // null) with ε drawn from (seed, eps_stream) — the gradient added to g, the batch sums into *sums. `share`: these
  // B rows are a data-parallel rank's part of a larger batch (BatchShare).
  ParamGroup group(const std::string& name) const { return plan_.group(name); }
  Status forward_backward(VaeWorkspace& ws, const float* xb, const float* cb, int64_t B, uint64_t seed,
                          uint64_t eps_stream, const StepOptions& step, float* g, ObjectiveResult* sums,
                          const BatchShare& share = {}) const;
  Status check_condition(const float* cond, int64_t rows) const;  // a conditional model needs cond for rows > 0
  Status check_width(const RowSource& x) const;                   // x.cols() == input_dim

 private:
  explicit VaeModel(const VaeConfig& config);
  friend class VaeWorkspace;

  // ws.ratio[r] = log p(z_r) − log q(z_r | x) for the B·K draws in ws, under the model's prior.
  Status log_ratio_forward(VaeWorkspace& ws, int64_t B, int64_t K) const;
  // Given ws.d_log_w = ∂loss/∂ratio: into ws.d_z and ws.d_log_var, and the mixture prior's gradient into g.
  Status log_ratio_backward(VaeWorkspace& ws, int64_t B, int64_t K, float* g) const;
  // Forward pieces on a workspace of at least B examples (× K draws): the encoder on x, or on [x | c] built in ws;
  // the decoder on the B·K rows of z, or on [z | c] with example b's condition repeated for its K draws.
  Status encode_batch(VaeWorkspace& ws, const float* x, const float* cond, int64_t B) const;
  Status decode_batch(VaeWorkspace& ws, const float* z, const float* cond, int64_t B, int64_t K) const;
  LikelihoodIo likelihood_io(VaeWorkspace& ws) const;
  // NLL per row of x under the decoder output in ws (with for_backward, what the backward needs is saved in ws).
  Status likelihood_forward(VaeWorkspace& ws, const float* x, int64_t B, bool for_backward) const;
  // Given ws.rows = ∂loss/∂nll per row: the gradients of the output heads (ws.d_out, ws.d_aux) and of a learned
  // scale or dispersion (into g).
  Status likelihood_backward(VaeWorkspace& ws, const float* x, int64_t B, float* g) const;
  VaeConfig config_;
  std::vector<float> params_;
  int64_t num_params_ = 0;
  ParamPlan plan_;
  std::unique_ptr<Sequential> encoder_, decoder_;  // the decoder's twin head: σ(z) or dropout logits, if any
  std::unique_ptr<Likelihood> likelihood_;
  std::unique_ptr<Prior> prior_;
};

}  // namespace lk
