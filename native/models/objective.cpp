// objective.cpp — see objective.h.
#include "objective.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../core/reduce.h"

namespace lk {

Status check_step(const StepOptions& o) {
  if (o.samples < 1) return Status::Error(Code::InvalidArgument, "samples (k) must be >= 1");
  if (!(o.free_bits >= 0.f)) return Status::Error(Code::InvalidArgument, "freeBits must be >= 0");
  if (o.free_bits > 0.f && o.objective == Objective::Iwae)
    return Status::Error(Code::InvalidArgument, "freeBits applies to objective 'elbo' only");
  if (!(o.kl_weight >= 0.f) || !std::isfinite(o.kl_weight))
    return Status::Error(Code::InvalidArgument, "the KL weight (beta) must be a finite number >= 0");
  return Status::Ok();
}

Status objective_forward_backward(ObjectiveResult* out, float* d_nll, float* d_ratio, float* dim_scale,
                                  const ObjectiveTerms& t, const StepOptions& o, float* log_w, float* bound,
                                  float* d_row) {
  const int64_t B = t.B, K = t.K, R = B * K;
  const float w = o.kl_weight;
  const bool iwae = o.objective == Objective::Iwae, mc_kl = t.kl == nullptr;
  if ((iwae || mc_kl) && !t.ratio) return Status::Error(Code::InvalidArgument, "the objective needs log ratios");
  if (o.free_bits > 0.f && (!t.kl_dims || !dim_scale))
    return Status::Error(Code::InvalidArgument, "free bits need the KL per dimension");
  double recon = 0.0, kl = 0.0, loss = 0.0;
  for (int64_t r = 0; r < R; ++r) recon += t.nll[r];
  recon /= static_cast<double>(K);
  if (mc_kl) {
    for (int64_t r = 0; r < R; ++r) kl -= t.ratio[r];
    kl /= static_cast<double>(K);
  } else {
    for (int64_t b = 0; b < B; ++b) kl += t.kl[b];
  }
  if (iwae) {
    for (int64_t r = 0; r < R; ++r) log_w[r] = -t.nll[r] + w * t.ratio[r];
    LK_RETURN_IF_ERROR(logsumexp_rows_forward(bound, log_w, B, K));
    for (int64_t b = 0; b < B; ++b) loss += std::log(static_cast<double>(K)) - bound[b];
  } else if (o.free_bits > 0.f) {
    double floored = 0.0;
    const float batch_rows = static_cast<float>(t.kl_dims_rows > 0 ? t.kl_dims_rows : B);
    for (int64_t d = 0; d < t.L; ++d) {
      const float mean_kl = t.kl_dims[d] / batch_rows;
      dim_scale[d] = mean_kl > o.free_bits ? 1.0f : 0.0f;
      floored += std::max(mean_kl, o.free_bits);
    }
    loss = recon + w * static_cast<double>(B) * floored;
  } else {
    loss = recon + w * kl;
  }
  if (!std::isfinite(loss))
    return Status::Error(Code::NonFiniteLoss, "the loss became " + std::string(std::isnan(loss) ? "NaN" : "Inf"));
  out->loss = loss;
  out->reconstruction = recon;
  out->kl = kl;

  // The gradient of the batch mean.
  const float inv_b = 1.0f / static_cast<float>(B);
  if (d_ratio) std::memset(d_ratio, 0, sizeof(float) * R);
  if (iwae) {  // ∂/∂log_w = −softmax_k(log_w) / B
    for (int64_t b = 0; b < B; ++b) d_row[b] = -inv_b;
    LK_RETURN_IF_ERROR(logsumexp_rows_backward(d_ratio, d_row, log_w, bound, B, K));
    for (int64_t r = 0; r < R; ++r) {
      d_nll[r] = -d_ratio[r];
      d_ratio[r] *= w;  // now ∂loss/∂ratio
    }
  } else {
    const float inv_r = 1.0f / static_cast<float>(R);
    for (int64_t r = 0; r < R; ++r) {
      d_nll[r] = inv_r;
      if (mc_kl) d_ratio[r] = -w * inv_r;  // ∂loss/∂ratio of the Monte-Carlo KL
    }
  }
  out->d_kl = mc_kl || iwae ? 0.f : w * inv_b;
  return Status::Ok();
}

}  // namespace lk
