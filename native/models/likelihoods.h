// likelihoods.h — each likelihood p(x | z) of the VAE in one place: the decoder heads it reads (the output head and,
// for a per-element scale or ZINB's dropout, a twin head), the learned parameters it owns (in the 'likelihood'
// group: log σ² / log b, or log θ), its per-row NLL with the backward (kernels in core/likelihood.h), the decoder's
// mean E[x | z] with its per-element log-scale or dropout logits, and the scale or dispersion it reports.
// Shapes: R rows of D features; out, twin, x, probs, scale: (R, D); nll, d_nll, lib: (R).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "../core/status.h"
#include "../nn/plan.h"

namespace lk {

struct VaeConfig;

// The buffers a likelihood works on, for R rows (any pointer may be null when the likelihood does not use it).
struct LikelihoodIo {
  const float* out = nullptr;   // the output head: logits, mean, or log-mean
  const float* twin = nullptr;  // the twin head: a raw log-scale (σ(z)) or dropout logits (ZINB)
  float* d_out = nullptr;       // ∂loss/∂out (accumulated)
  float* d_twin = nullptr;      // ∂loss/∂twin (accumulated)
  float* nll = nullptr;         // −log p(x | z) per row
  const float* d_nll = nullptr; // ∂loss/∂nll per row
  float* probs = nullptr;       // Bernoulli: sigmoid(logits), saved for backward
  float* scale = nullptr;       // σ(z): the floored log-scale, saved for backward
  float* d_scale = nullptr;     // … and its gradient
  float* lib = nullptr;         // count models: log library size per row, saved for backward
};

class Likelihood {
 public:
  static Status Make(const VaeConfig& c, std::unique_ptr<Likelihood>* out);
  virtual ~Likelihood() = default;

  // The decoder's twin head ("decoder.scale", "decoder.dropout"), or "" when the likelihood reads one head.
  virtual std::string twin_head() const { return {}; }
  // Whether forward saves a per-element log-scale (LikelihoodIo::scale, d_scale).
  virtual bool element_scale() const { return false; }
  // Declares the learned parameters (into the plan's current group) and, after allocation, sets their initial value.
  virtual void declare(ParamPlan& plan) {}
  virtual void init(float* params) const {}
  // nll[r] = −log p(x_r | heads_r); with for_backward, what backward needs is saved in io.
  virtual Status forward(const LikelihoodIo& io, const float* x, int64_t R, const float* params,
                         bool for_backward) const = 0;
  // Given io.d_nll: io.d_out (and io.d_twin) += ∂, the learned parameters' gradient into grads.
  virtual Status backward(const LikelihoodIo& io, const float* x, int64_t R, const float* params,
                          float* grads) const = 0;
  // The decoder's mean E[x | z] (at library size 1 for counts) into mean; aux (nullable): the per-element log-scale
  // of a location-scale likelihood, or ZINB's dropout logits (left alone for the others).  mean, aux: (rows, D)
  virtual Status decoded_mean(float* mean, float* aux, const float* out, const float* twin, int64_t rows,
                              const float* params) const = 0;
  // The learned or fixed log-scale (log σ², log b) or log θ: count values (1 or D); null and 0 when none.
  virtual const float* log_scale(const float* params, int64_t* count) const {
    *count = 0;
    return nullptr;
  }

 protected:
  explicit Likelihood(int64_t D) : D_(D) {}
  int64_t D_;
};

}  // namespace lk
