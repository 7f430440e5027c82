// objective.h — what one VAE training step optimises, as a pure function of per-row terms: the loss (batch sums)
// and its gradient with respect to each term, for the batch MEAN of the loss. Shapes: B examples × K draws, draw k
// of example b at row b·K + k; nll, ratio: (B·K); kl: (B); kl_dims: (L).
//   Elbo: (1/K) Σ_k −log p(x | z_k) + w · KL, the KL closed-form (kl), or when kl is null its Monte-Carlo estimate
//         −(1/K) Σ_k ratio_k at the same draws (a mixture prior); with free_bits λ > 0 the KL term is
//         Σ_d max(λ, batch-mean KL_d) (Kingma et al. 2016) — a batch-level objective (needs kl_dims);
//   Iwae: −log (1/K) Σ_k exp(−nll_k + w · ratio_k)  (Burda et al. 2016; w = 1 is IWAE).
// ratio_k = log p(z_k) − log q(z_k | x); w is the step's KL weight (β × warm-up).
#pragma once
#include <cstdint>

#include "../core/status.h"

namespace lk {

enum class Objective { Elbo = 0, Iwae = 1 };
struct StepOptions {
  Objective objective = Objective::Elbo;
  int64_t samples = 1;  // K: decoder rows per example
  float kl_weight = 1.f;
  float free_bits = 0.f;
};

// samples ≥ 1, free bits ≥ 0 and ELBO-only, a finite KL weight ≥ 0.
Status check_step(const StepOptions& o);

struct ObjectiveTerms {
  const float* nll = nullptr;      // (B·K) −log p(x | z)
  const float* ratio = nullptr;    // (B·K) log p(z) − log q(z | x); needed by IWAE and by a Monte-Carlo KL
  const float* kl = nullptr;       // (B) closed-form KL, or null: the KL is Monte Carlo from ratio
  const float* kl_dims = nullptr;  // (L) Σ_b KL_{b,d} — free bits only
  int64_t B = 0, K = 1, L = 0;
  // The rows kl_dims sums over (0: B): a data-parallel rank's B rows are part of a batch of kl_dims_rows whose
  // sums it was given, so the floor is on the whole batch's mean; the loss is still this rank's B rows' share.
  int64_t kl_dims_rows = 0;
};

struct ObjectiveResult {
  double loss = 0, reconstruction = 0, kl = 0;  // sums over the batch's examples
  float d_kl = 0;  // ∂(mean loss)/∂kl[b] (the same for every b; with free bits, per dimension × dim_scale[d])
};

// Writes d_nll (B·K) = ∂(mean loss)/∂nll and, when terms.ratio is given, d_ratio (B·K) = ∂/∂ratio; with free
// bits, dim_scale (L) = 1 where the dimension's batch-mean KL is above λ, else 0. Scratch: log_w (B·K) and
// bound, d_row (B). A non-finite loss is LATENTKIT_NON_FINITE_LOSS.
Status objective_forward_backward(ObjectiveResult* out, float* d_nll, float* d_ratio, float* dim_scale,
                                  const ObjectiveTerms& terms, const StepOptions& o, float* log_w, float* bound,
                                  float* d_row);

}  // namespace lk
