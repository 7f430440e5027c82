// linear_gaussian.h — linear Gaussian latent-variable models x = W z + μ + ε, z ~ N(0, I_q), ε ~ N(0, diag ψ):
// probabilistic PCA (ψ isotropic, σ²) and factor analysis (ψ per feature), plus the closed-form PCA they start
// from. Data x (n, d) is a row source (data/source.h: dense, bytes, CSR, mapped) read a chunk of rows at a time,
// centred, in float32 and never densified whole; μ (d), W (d, q) row-major and ψ (d) are float64. Every pass over
// the data is GEMMs on chunks of centred rows, accumulated in float64, with q×q and d×q algebra in float64.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "../core/progress.h"
#include "../core/status.h"
#include "../data/source.h"
#include "../distributed/shard.h"

namespace lk {

struct LinearGaussian {
  int64_t d = 0, q = 0;
  std::vector<double> mean, W, psi;  // (d), (d, q), (d)
};

// Closed-form PCA (scikit-learn's conventions: covariance with denominator n − 1): the q leading eigenvectors of
// the sample covariance as rows of components (q, d), their eigenvalues explained_variance (q), the mean (d), the
// average of the remaining min(n, d) − q eigenvalues as noise_variance (0 when none remain) and the total variance.
// Each component's sign makes its largest-magnitude entry positive.
struct PcaResult {
  std::vector<double> mean, components, explained_variance;
  double noise_variance = 0, total_variance = 0;
};
// Every fit takes an optional shard (distributed/shard.h): x is then one rank's rows of the set, and the fit is the
// whole set's (its sums reduced over the ranks).
Status pca_fit(const RowSource& x, int64_t q, PcaResult* out, const Shard& shard = {});

// out (n, q) float32 = (x_i − mean) Vᵀ: the projection on PCA's components V (q, d) row-major.
Status linear_projection(const RowSource& x, const std::vector<double>& mean, const std::vector<double>& components,
                         int64_t q, float* out);

// log N(x_i | μ, W Wᵀ + diag ψ) per row, through the matrix inversion lemma (G = I + Wᵀ Ψ⁻¹ W, q × q). out (n).
Status linear_gaussian_log_density(const LinearGaussian& m, const RowSource& x, double* out);

// Posterior mean E[z | x_i] = G⁻¹ Wᵀ Ψ⁻¹ (x_i − μ). out (n, q).
Status linear_gaussian_posterior_mean(const LinearGaussian& m, const RowSource& x, double* out);

// The user-facing fields are set by the caller (TypeScript resolves the defaults, models/linear.ts).
struct LinearGaussianEmOptions {
  int64_t q = 0;
  bool isotropic = false;     // PPCA: one σ² for every feature
  int64_t ddof = 0;           // the sample covariance's denominator is n − ddof (PPCA 1, as PCA; FA 0)
  double tol = 0;             // stop when the total log-likelihood (n × mean) changes by less
  int64_t max_iter = 0;
  uint64_t seed = 0;          // initial W (and the draws of the sampling E-step)
  bool sample_estep = false;  // Monte-Carlo EM: complete the data with z ~ p(z | x) instead of its moments
  int64_t samples = 1;        // draws of z per row per iteration (sampling E-step)
  double min_psi = 1e-12;     // floor of every noise variance
};

struct LinearGaussianEmReport {
  bool converged = false;
  int64_t n_iter = 0;
  std::vector<double> loglike;  // mean log-likelihood per row before each iteration's M-step
};

// EM from a random W (N(0, 1) scaled by each feature's standard deviation / √q) and ψ = the feature variances.
// The sampling E-step runs all max_iter iterations (its likelihood moves by Monte-Carlo noise, so tol does not apply).
Status linear_gaussian_em(const RowSource& x, const LinearGaussianEmOptions& o, LinearGaussian* out,
                          LinearGaussianEmReport* report, const JobControl& control = {}, const Shard& shard = {});

// Factor analysis by scikit-learn's SVD-based fixed point (Barber 2012, algorithm 21.1; sklearn's FactorAnalysis):
// each iteration takes the top q eigenpairs (s_k, v_k) of Ψ^-½ S Ψ^-½ (S: the sample covariance, denominator n),
// sets W = Ψ^½ V diag(√max(s_k − 1, 0)) and ψ_j = max(S_jj − Σ_k W_jk², 1e-12), and stops when the total log-likelihood
// rises by less than tol. Unlike plain EM it does not crawl along flat directions. loglike in the report is per row.
struct FactorAnalysisSvdOptions {  // set by the caller, as LinearGaussianEmOptions
  int64_t q = 0;
  double tol = 0;  // on the total log-likelihood, as scikit-learn
  int64_t max_iter = 0;
};
Status factor_analysis_svd(const RowSource& x, const FactorAnalysisSvdOptions& o, LinearGaussian* out,
                           LinearGaussianEmReport* report, const JobControl& control = {}, const Shard& shard = {});

}  // namespace lk
