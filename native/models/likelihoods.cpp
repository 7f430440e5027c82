// likelihoods.cpp — see likelihoods.h: Bernoulli (logits), the location-scale family (Gaussian, Laplace; σ fixed,
// shared, per feature or from the decoder, floored), and the count family (Poisson, NB, ZINB; observed library).
#include "likelihoods.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/fast_math.h"
#include "../core/likelihood.h"
#include "../core/threads.h"
#include "vae.h"

namespace lk {

namespace {

LK_TARGET_CLONES void sigmoid_span(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = fast_sigmoid(x[i]);
}

void sigmoid_in_place(float* x, int64_t n) {
  const int64_t chunk = 1 << 16;
#pragma omp parallel for schedule(static) if (n > kElementwiseParallelMin)
  for (int64_t c = 0; c < (n + chunk - 1) / chunk; ++c) sigmoid_span(x + c * chunk, std::min(chunk, n - c * chunk));
}

class Bernoulli final : public Likelihood {
 public:
  using Likelihood::Likelihood;
  Status forward(const LikelihoodIo& io, const float* x, int64_t R, const float*, bool for_backward) const override {
    return bernoulli_logits_nll_forward(io.nll, for_backward ? io.probs : nullptr, io.out, x, R, D_);
  }
  Status backward(const LikelihoodIo& io, const float* x, int64_t R, const float*, float*) const override {
    return bernoulli_logits_nll_backward(io.d_out, io.d_nll, io.probs, x, R, D_);
  }
  Status decoded_mean(float* mean, float*, const float* out, const float*, int64_t rows, const float*) const override {
    std::memcpy(mean, out, sizeof(float) * rows * D_);
    sigmoid_in_place(mean, rows * D_);
    return Status::Ok();
  }
};

// Gaussian (scale carried as log σ²) or Laplace (log b).
class LocationScale final : public Likelihood {
 public:
  LocationScale(const VaeConfig& c)
      : Likelihood(c.input_dim), gaussian_(c.likelihood == VaeLikelihood::Gaussian), mode_(c.sigma_mode),
        fixed_((gaussian_ ? 2.0f : 1.0f) * std::log(c.sigma)),
        floor_(c.sigma_mode == SigmaMode::Decoder ? (gaussian_ ? 2.0f : 1.0f) * std::log(c.min_sigma) : 0.f) {}
  std::string twin_head() const override { return mode_ == SigmaMode::Decoder ? "decoder.scale" : ""; }
  bool element_scale() const override { return mode_ == SigmaMode::Decoder; }
  void declare(ParamPlan& plan) override {
    if (mode_ != SigmaMode::Shared && mode_ != SigmaMode::Feature) return;
    count_ = mode_ == SigmaMode::Feature ? D_ : 1;
    offset_ = plan.add(gaussian_ ? "decoder.log_var" : "decoder.log_scale", {count_});
  }
  void init(float* params) const override {  // a learned scale starts at the configured σ (or b)
    if (offset_ >= 0) std::fill_n(params + offset_, count_, fixed_);
  }
  Status forward(const LikelihoodIo& io, const float* x, int64_t R, const float* params, bool) const override {
    LogVarShape shape;
    const float* ls = scales(io, params, &shape);
    if (element_scale()) LK_RETURN_IF_ERROR(floored_log_forward(io.scale, io.twin, floor_, R * D_));
    return gaussian_ ? gaussian_nll_forward(io.nll, io.out, ls, shape, x, R, D_)
                     : laplace_nll_forward(io.nll, io.out, ls, shape, x, R, D_);
  }
  Status backward(const LikelihoodIo& io, const float* x, int64_t R, const float* params, float* grads) const override {
    LogVarShape shape;
    const float* ls = scales(io, params, &shape);
    float* d_ls = element_scale() ? io.d_scale : offset_ >= 0 ? grads + offset_ : nullptr;
    LK_RETURN_IF_ERROR(gaussian_ ? gaussian_nll_backward(io.d_out, d_ls, io.d_nll, io.out, ls, shape, x, R, D_)
                                 : laplace_nll_backward(io.d_out, d_ls, io.d_nll, io.out, ls, shape, x, R, D_));
    return element_scale() ? floored_log_backward(io.d_twin, io.d_scale, io.twin, floor_, R * D_) : Status::Ok();
  }
  Status decoded_mean(float* mean, float* aux, const float* out, const float* twin, int64_t rows,
                      const float* params) const override {
    const int64_t n = rows * D_;
    std::memcpy(mean, out, sizeof(float) * n);
    if (!aux) return Status::Ok();
    if (element_scale()) return floored_log_forward(aux, twin, floor_, n);
    int64_t count = 0;
    const float* ls = log_scale(params, &count);
    for (int64_t i = 0; i < n; ++i) aux[i] = ls[count == 1 ? 0 : i % D_];
    return Status::Ok();
  }
  const float* log_scale(const float* params, int64_t* count) const override {
    if (element_scale()) return Likelihood::log_scale(params, count);
    *count = offset_ >= 0 ? count_ : 1;
    return offset_ >= 0 ? params + offset_ : &fixed_;
  }

 private:
  // The log-scale the NLL kernels read, and its layout.
  const float* scales(const LikelihoodIo& io, const float* params, LogVarShape* shape) const {
    if (element_scale()) {
      *shape = LogVarShape::Element;
      return io.scale;
    }
    int64_t count = 0;
    const float* ls = log_scale(params, &count);
    *shape = count == D_ ? LogVarShape::Feature : LogVarShape::Scalar;
    return ls;
  }
  bool gaussian_;
  SigmaMode mode_;
  float fixed_, floor_;  // the fixed log-scale (or the learned one's start), and σ(z)'s floor
  int64_t offset_ = -1, count_ = 0;
};

// Poisson, negative binomial (learned log θ per feature) and zero-inflated NB (a twin head of dropout logits), with
// the mean optionally scaled by the row's observed library size.
class Counts final : public Likelihood {
 public:
  Counts(const VaeConfig& c)
      : Likelihood(c.input_dim), kind_(c.likelihood), observed_library_(c.observed_library) {}
  std::string twin_head() const override { return zero_inflated() ? "decoder.dropout" : ""; }
  void declare(ParamPlan& plan) override {
    if (kind_ != VaeLikelihood::Poisson) offset_ = plan.add("decoder.log_theta", {D_});
  }
  void init(float* params) const override {  // θ = 1
    if (offset_ >= 0) std::fill_n(params + offset_, D_, 0.f);
  }
  Status forward(const LikelihoodIo& io, const float* x, int64_t R, const float* params, bool) const override {
    const float* offset = nullptr;
    if (observed_library_) {  // log max(1, Σ_d x): empty rows stay finite
      for (int64_t r = 0; r < R; ++r) {
        double s = 0;
        for (int64_t d = 0; d < D_; ++d) s += x[r * D_ + d];
        io.lib[r] = static_cast<float>(std::log(std::max(1.0, s)));
      }
      offset = io.lib;
    }
    if (kind_ == VaeLikelihood::Poisson) return poisson_nll_forward(io.nll, io.out, offset, x, R, D_);
    return nb_nll_forward(io.nll, io.out, params + offset_, zero_inflated() ? io.twin : nullptr, offset, x, R, D_);
  }
  Status backward(const LikelihoodIo& io, const float* x, int64_t R, const float* params, float* grads) const override {
    const float* offset = observed_library_ ? io.lib : nullptr;  // as forward left it
    if (kind_ == VaeLikelihood::Poisson) return poisson_nll_backward(io.d_out, io.d_nll, io.out, offset, x, R, D_);
    const bool zi = zero_inflated();
    return nb_nll_backward(io.d_out, grads + offset_, zi ? io.d_twin : nullptr, io.d_nll, io.out, params + offset_,
                           zi ? io.twin : nullptr, offset, x, R, D_);
  }
  Status decoded_mean(float* mean, float* aux, const float* out, const float* twin, int64_t rows,
                      const float*) const override {
    const int64_t n = rows * D_;
    for (int64_t i = 0; i < n; ++i)  // E[x | z] = (1 − π) · exp(log-mean), π = 0 without zero inflation
      mean[i] = std::exp(out[i]) * (zero_inflated() ? fast_sigmoid(-twin[i]) : 1.0f);
    if (aux && zero_inflated()) std::memcpy(aux, twin, sizeof(float) * n);
    return Status::Ok();
  }
  const float* log_scale(const float* params, int64_t* count) const override {
    *count = offset_ >= 0 ? D_ : 0;
    return offset_ >= 0 ? params + offset_ : nullptr;
  }

 private:
  bool zero_inflated() const { return kind_ == VaeLikelihood::ZeroInflatedNB; }
  VaeLikelihood kind_;
  bool observed_library_;
  int64_t offset_ = -1;
};

}  // namespace

Status Likelihood::Make(const VaeConfig& c, std::unique_ptr<Likelihood>* out) {
  const bool loc_scale = c.likelihood == VaeLikelihood::Gaussian || c.likelihood == VaeLikelihood::Laplace;
  if (loc_scale && !(c.sigma > 0.f && std::isfinite(c.sigma)))
    return Status::Error(Code::InvalidArgument, "sigma must be a finite number > 0");
  if (loc_scale && c.sigma_mode == SigmaMode::Decoder && !(c.min_sigma > 0.f && std::isfinite(c.min_sigma)))
    return Status::Error(Code::InvalidArgument, "minSigma must be a finite number > 0");
  if (!loc_scale && c.sigma_mode != SigmaMode::Fixed)
    return Status::Error(Code::InvalidArgument, "sigma applies to the gaussian and laplace likelihoods only");
  switch (c.likelihood) {
    case VaeLikelihood::Bernoulli: out->reset(new Bernoulli(c.input_dim)); break;
    case VaeLikelihood::Gaussian:
    case VaeLikelihood::Laplace: out->reset(new LocationScale(c)); break;
    case VaeLikelihood::Poisson:
    case VaeLikelihood::NegativeBinomial:
    case VaeLikelihood::ZeroInflatedNB: out->reset(new Counts(c)); break;
    default: return Status::Error(Code::InvalidArgument, "unknown likelihood");
  }
  return Status::Ok();
}

}  // namespace lk
