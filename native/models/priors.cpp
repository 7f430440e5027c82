// priors.cpp — see priors.h.
#include "priors.h"

#include <algorithm>

#include "../core/gaussian.h"
#include "../core/rng.h"

namespace lk {

namespace {

class StandardNormal final : public Prior {
 public:
  using Prior::Prior;
  bool closed_form_kl() const override { return true; }
  Status log_ratio_forward(float* ratio, float*, const float* z, const float* eps, const float* log_var, const float*,
                           int64_t B, int64_t K) const override {
    return std_normal_log_ratio_forward(ratio, z, eps, log_var, B, L_, K);
  }
  Status log_ratio_backward(float* d_z, float* d_log_var, float*, const float* d_ratio, const float*, const float* z,
                            const float*, int64_t B, int64_t K) const override {
    return std_normal_log_ratio_backward(d_z, d_log_var, d_ratio, z, B, L_, K);
  }
};

// p(z) = Σ_c π_c N(z; μ_c, diag exp(lv_c)), π = softmax(logits): generative-model parameters, trained with the decoder.
class Mixture final : public Prior {
 public:
  Mixture(int64_t C, int64_t L) : Prior(L), C_(C) {}
  bool closed_form_kl() const override { return false; }
  int64_t components() const override { return C_; }
  void declare(ParamPlan& plan) override {
    logits_ = plan.add("prior.logits", {C_});
    means_ = plan.add("prior.mean", {C_, L_});
    log_vars_ = plan.add("prior.log_var", {C_, L_});
  }
  void init(float* p, uint64_t seed, uint64_t stream) const override {
    std::fill_n(p + logits_, C_, 0.f);
    std::fill_n(p + log_vars_, C_ * L_, 0.f);
    float* mu = p + means_;  // distinct means, so the components can separate
    rng_uniform_fill(mu, C_ * L_, seed, stream, 0);
    for (int64_t i = 0; i < C_ * L_; ++i) mu[i] = 2.0f * mu[i] - 1.0f;
  }
  Status log_ratio_forward(float* ratio, float* resp, const float* z, const float* eps, const float* log_var,
                           const float* p, int64_t B, int64_t K) const override {
    return mixture_log_ratio_forward(ratio, resp, z, eps, log_var, p + logits_, p + means_, p + log_vars_, B, L_, K, C_);
  }
  Status log_ratio_backward(float* d_z, float* d_log_var, float* g, const float* d_ratio, const float* resp,
                            const float* z, const float* p, int64_t B, int64_t K) const override {
    return mixture_log_ratio_backward(d_z, d_log_var, g + logits_, g + means_, g + log_vars_, d_ratio, resp, z,
                                      p + logits_, p + means_, p + log_vars_, B, L_, K, C_);
  }

 private:
  int64_t C_;
  int64_t logits_ = -1, means_ = -1, log_vars_ = -1;  // (C), (C, L), (C, L) in the flat buffer
};

}  // namespace

Status Prior::Make(int64_t components, int64_t latent_dim, std::unique_ptr<Prior>* out) {
  if (components < 0 || components > 4096)
    return Status::Error(Code::InvalidArgument, "prior mixture components must be in [1, 4096]");
  if (components == 0)
    out->reset(new StandardNormal(latent_dim));
  else
    out->reset(new Mixture(components, latent_dim));
  return Status::Ok();
}

}  // namespace lk
