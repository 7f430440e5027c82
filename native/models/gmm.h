// gmm.h — Gaussian mixture models fitted by EM, in scikit-learn's parameterisation: weights (K), means (K, d) and,
// by covariance type, covariances / precision Cholesky factors of shape full (K, d, d), tied (d, d), diag (K, d) or
// spherical (K). A precision Cholesky factor P satisfies Σ⁻¹ = P Pᵀ (P triangular). Data x (n, d) is a row
// source (data/source.h: dense, bytes, CSR, mapped), read a chunk of rows at a time, centred, in float32 and never
// densified whole; parameters and responsibilities (n, K) are float64. The E-step for all rows × components is one batched
// computation per chunk of rows (one GEMM against every component's P for full/tied, a fused loop for diag/
// spherical); the M-step is GEMMs (means, covariances) plus LAPACK Cholesky per component.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "../core/progress.h"
#include "../core/status.h"
#include "../data/source.h"
#include "../distributed/shard.h"

namespace lk {

enum class CovarianceType { Full = 0, Tied = 1, Diag = 2, Spherical = 3 };
enum class GmmInit { KMeans = 0, KMeansPlusPlus = 1, Random = 2, RandomFromData = 3 };

// Elements of the covariance (or precision Cholesky) tensor; −1 when the count overflows int64.
int64_t covariance_size(CovarianceType type, int64_t K, int64_t d);


struct GmmParams {
  int64_t K = 0, d = 0;
  CovarianceType type = CovarianceType::Full;
  std::vector<double> weights, means, covariances, precisions_cholesky;
  void resize(int64_t K_, int64_t d_, CovarianceType t);  // throws AllocationError past physical memory
};

// Every field is set by the caller (TypeScript resolves the defaults, models/mixture.ts).
struct GmmFitOptions {
  int64_t components = 0;
  CovarianceType type = CovarianceType::Full;
  double tol = 0;
  int64_t max_iter = 0;
  int64_t n_init = 0;
  GmmInit init = GmmInit::KMeans;
  double reg_covar = 0;
  uint64_t seed = 0;
  // Optional user initial parameters (scikit-learn's weights_init / means_init / precisions_init); nullptr = none.
  const double* weights_init = nullptr;
  const double* means_init = nullptr;
  const double* precisions_init = nullptr;  // precisions (not their Cholesky factors), shaped by type
};

struct GmmFitReport {
  bool converged = false;
  int64_t n_iter = 0;
  double lower_bound = 0;            // mean log-likelihood per row at the last E-step of the best initialisation
  std::vector<double> lower_bounds;  // per iteration, of the best initialisation
};

// Per row: log_norm[i] = log Σ_k w_k N(x_i | μ_k, Σ_k); resp (n, K, optional) = posterior probability of each
// component (the responsibilities).
Status gmm_log_prob(const GmmParams& p, const RowSource& x, double* resp, double* log_norm);

// EM from the initialisation `o.init` (or the given initial parameters), best of o.n_init by final lower bound.
// `control` (optional) is polled for cancellation and told each iteration's lower bound.
// k-means initialisation runs k-means++ seeding then Lloyd's iterations (scikit-learn's KMeans, at most 300). With a
// shard (distributed/shard.h), x is one rank's rows and the fit is the whole set's, every initialisation included
// (k-means++ finds each candidate in the rank that holds it; Lloyd's sums, like EM's, are summed over the ranks).
Status gmm_fit(const RowSource& x, const GmmFitOptions& o, GmmParams* best, GmmFitReport* report,
               const JobControl& control = {}, const Shard& shard = {});

}  // namespace lk
