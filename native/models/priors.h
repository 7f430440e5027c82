// priors.h — each prior p(z) of the VAE in one place: the parameters it owns (in the 'prior' group), whether its
// KL to q(z | x) has a closed form (then gaussian_kl_std_normal_* in core/gaussian.h), and the log ratio
// log p(z) − log q(z | x) at the reparameterised draws with its backward (core/gaussian.h), which IWAE and a
// Monte-Carlo KL use. Shapes: B examples × K draws of L dimensions; z, eps, d_z: (B·K, L); log_var, d_log_var:
// (B, L); ratio, d_ratio: (B·K); resp: (B·K, components()).
#pragma once
#include <cstdint>
#include <memory>

#include "../core/status.h"
#include "../nn/plan.h"

namespace lk {

class Prior {
 public:
  // components = 0: N(0, I); C > 0: a learned mixture of C diagonal Gaussians.
  static Status Make(int64_t components, int64_t latent_dim, std::unique_ptr<Prior>* out);
  virtual ~Prior() = default;
  virtual bool closed_form_kl() const = 0;
  // Scratch per draw the log ratio needs (the mixture's responsibilities).
  virtual int64_t components() const { return 0; }
  virtual void declare(ParamPlan& plan) {}
  // Initial values from (seed, stream): equal weights, unit variances, means ~ U(−1, 1) for a mixture.
  virtual void init(float* params, uint64_t seed, uint64_t stream) const {}
  virtual Status log_ratio_forward(float* ratio, float* resp, const float* z, const float* eps, const float* log_var,
                                   const float* params, int64_t B, int64_t K) const = 0;
  // d_z, d_log_var += the total derivative along z = mean + σ·eps; the prior's own gradient into grads.
  virtual Status log_ratio_backward(float* d_z, float* d_log_var, float* grads, const float* d_ratio,
                                    const float* resp, const float* z, const float* params, int64_t B,
                                    int64_t K) const = 0;

 protected:
  explicit Prior(int64_t L) : L_(L) {}
  int64_t L_;
};

}  // namespace lk
