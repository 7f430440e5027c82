// vae_workspace.h — the buffers of one VAE forward (and, for training, backward) pass over a batch: the networks'
// Sequential::Run buffers and the VAE's own (draws, likelihood terms, objective scratch), carved out of one
// allocation. Used by the model (models/vae.cpp) and by the trainer (train/trainer.cpp), which gathers its
// batches into `x` / `cond` and uses `probs` as the scratch of dynamic binarisation.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "vae.h"

namespace lk {

// Every activation buffer of one forward (and, for training, backward) pass, carved out of one allocation: the
// encoder side holds `enc_rows` examples, the decoder side `dec_rows` = enc_rows × K draws (row b·K + s). The
// networks' buffers come from their Sequential::Run; the VAE's own ones are below. Given `params16` (the bf16 copy
// of the parameters, num_params values, which the workspace's owner keeps current) the networks compute in bf16
// precision and their products read it; without, in fp32.
class VaeWorkspace {
 public:
  // A bf16 copy as the constructor takes it: null when empty (fp32 precision).
  static const bf16_t* shadow(const std::vector<bf16_t>& params16) { return params16.empty() ? nullptr : params16.data(); }
  VaeWorkspace(const VaeModel& m, int64_t enc_rows, int64_t samples, bool with_grads, const bf16_t* params16)
      : capacity(enc_rows), samples(samples), params16(params16) {
    const Precision precision = params16 ? Precision::Bf16 : Precision::Fp32;
    const int64_t latent = m.config_.latent_dim, input = m.config_.input_dim;
    const bool element_scale = m.likelihood_->element_scale();
    const int64_t C = m.prior_->components(), Q = m.config_.condition_dim;
    const int64_t E = enc_rows, R = checked_mul(enc_rows, samples);
    ArenaPlan a;
    m.encoder_->reserve(a, E, with_grads, precision, &enc);
    m.decoder_->reserve(a, R, with_grads, precision, &dec);
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
  ParamView view(const float* params) const { return {params, params16}; }
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
  const bf16_t* params16;  // null in fp32
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

}  // namespace lk
