// gmm.cpp — see gmm.h. Float32 data are centred (by the data mean for fitting, by the weighted mean of the
// component means for scoring) before any GEMM, so float32 products never cancel large offsets; sums over rows are
// accumulated in float64 per chunk.
#include "gmm.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <omp.h>

#include "../core/fast_math.h"
#include "../core/gemm.h"
#include "../core/linalg.h"
#include "../core/memory.h"
#include "../core/rng.h"
#include "../core/threads.h"
#include "../data/centred_rows.h"

namespace lk {

namespace {

constexpr int64_t kChunk = 2048;
constexpr double kLogTwoPi = 1.8378770664093453;
constexpr int64_t kParallelMin = int64_t(1) << 18;  // elementwise work below this stays serial (see dense.cpp)

const char* const kIllDefined =
    "some components have an ill-defined covariance (for instance from singleton or collapsed samples); decrease "
    "nComponents or increase regCovar";

// Σ_j (y_j − b_j)²: the full/tied quadratic form once y = x̃ᵀP is known.
LK_TARGET_CLONES float sq_dist(const float* y, const float* b, int64_t d) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < d; ++j) {
    const float e = y[j] - b[j];
    s += e * e;
  }
  return s;
}

// x_i ← exp(x_i) (fast_exp: vectorised, relative error ~1e-7)
LK_TARGET_CLONES void exp_in_place(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = fast_exp(x[i]);
}

// out_j = w (x_j − m_j)
LK_TARGET_CLONES void scaled_diff(float* out, const float* x, const float* m, float w, int64_t d) {
  for (int64_t j = 0; j < d; ++j) out[j] = w * (x[j] - m[j]);
}

bool per_component_matrix(CovarianceType t) { return t == CovarianceType::Full || t == CovarianceType::Tied; }

// Σ_j log P_jj of each component's precision Cholesky factor (= ½ log det Σ⁻¹).
std::vector<double> log_det_precision_cholesky(const GmmParams& p) {
  const int64_t K = p.K, d = p.d;
  std::vector<double> out(static_cast<size_t>(K), 0.0);
  for (int64_t k = 0; k < K; ++k) {
    double s = 0;
    switch (p.type) {
      case CovarianceType::Full:
        for (int64_t j = 0; j < d; ++j) s += std::log(p.precisions_cholesky[(k * d + j) * d + j]);
        break;
      case CovarianceType::Tied:
        for (int64_t j = 0; j < d; ++j) s += std::log(p.precisions_cholesky[j * d + j]);
        break;
      case CovarianceType::Diag:
        for (int64_t j = 0; j < d; ++j) s += std::log(p.precisions_cholesky[k * d + j]);
        break;
      case CovarianceType::Spherical:
        s = static_cast<double>(d) * std::log(p.precisions_cholesky[k]);
        break;
    }
    out[static_cast<size_t>(k)] = s;
  }
  return out;
}

// precisions_cholesky from covariances (scikit-learn's _compute_precision_cholesky): P = (L⁻¹)ᵀ with Σ = L Lᵀ.
Status precisions_from_covariances(GmmParams& p) {
  const int64_t d = p.d;
  if (per_component_matrix(p.type)) {
    const int64_t mats = p.type == CovarianceType::Full ? p.K : 1;
    std::vector<double> l(static_cast<size_t>(d * d));
    for (int64_t k = 0; k < mats; ++k) {
      std::copy_n(p.covariances.data() + k * d * d, d * d, l.data());
      Status s = cholesky_lower(l.data(), d);
      if (s.code == Code::NotPositiveDefinite)
        return Status::Error(Code::NotPositiveDefinite, std::string("GaussianMixture: ") + kIllDefined);
      LK_RETURN_IF_ERROR(s);
      LK_RETURN_IF_ERROR(inverse_lower_triangular(l.data(), d));
      double* P = p.precisions_cholesky.data() + k * d * d;
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) P[i * d + j] = l[j * d + i];
    }
  } else {
    for (size_t i = 0; i < p.covariances.size(); ++i) {
      if (!(p.covariances[i] > 0))
        return Status::Error(Code::NotPositiveDefinite, std::string("GaussianMixture: ") + kIllDefined);
      p.precisions_cholesky[i] = 1.0 / std::sqrt(p.covariances[i]);
    }
  }
  return Status::Ok();
}

// precisions_cholesky from user precisions (scikit-learn: Cholesky of each precision for full/tied, sqrt otherwise).
Status precisions_from_precisions(GmmParams& p, const double* precisions) {
  const int64_t d = p.d;
  const int64_t size = covariance_size(p.type, p.K, d);
  std::copy_n(precisions, size, p.precisions_cholesky.data());
  if (per_component_matrix(p.type)) {
    const int64_t mats = p.type == CovarianceType::Full ? p.K : 1;
    for (int64_t k = 0; k < mats; ++k) {
      Status s = cholesky_lower(p.precisions_cholesky.data() + k * d * d, d);
      if (!s.ok()) return Status::Error(Code::InvalidArgument, "precisionsInit must be symmetric positive definite");
    }
  } else {
    for (int64_t i = 0; i < size; ++i) {
      if (!(p.precisions_cholesky[i] > 0)) return Status::Error(Code::InvalidArgument, "precisionsInit must be positive");
      p.precisions_cholesky[i] = std::sqrt(p.precisions_cholesky[i]);
    }
  }
  return Status::Ok();
}

int team_size() { return omp_get_max_threads(); }

// The M-step: weights, means, covariances and precision Cholesky factors from responsibilities resp (n, K).
// xc: the data centred by `mean`, their column mean.
Status m_step(const CentredRows& xc, const std::vector<double>& mean, const double* resp, double reg, GmmParams& p,
              const Shard& shard) {
  const int64_t n = xc.rows(), K = p.K, d = p.d;
  const bool diagonal = p.type == CovarianceType::Diag || p.type == CovarianceType::Spherical;
  // One pass over the data: n_k, Σ_i r_ik x̃_i and, for diagonal types, Σ_i r_ik x̃_i² (x̃ = x − m) — one GEMM
  // rᵀ [x̃, x̃²] per chunk in float32, accumulated across chunks in float64.
  const int64_t w = diagonal ? 2 * d : d;
  const int T = team_size();
  std::vector<std::vector<double>> t_nk(T, std::vector<double>(static_cast<size_t>(K), 0.0)),
      t_sums(T, std::vector<double>(static_cast<size_t>(K * w), 0.0));
  std::vector<std::vector<float>> t_xc(T), t_z(T), t_rf(T), t_mf(T);
  LK_RETURN_IF_ERROR(for_each_chunk(n, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
    std::vector<float>&z = t_z[t], &rf = t_rf[t], &mf = t_mf[t];
    t_xc[t].resize(static_cast<size_t>(kChunk * d));
    rf.resize(static_cast<size_t>(kChunk * K));
    mf.resize(static_cast<size_t>(K * w));
    const float* c = nullptr;  // x̃ (B, d)
    LK_RETURN_IF_ERROR(xc.read(r0, B, t_xc[t].data(), &c));
    const float* zs = c;       // the GEMM's right side: x̃, or [x̃, x̃²] per row for diagonal types
    if (diagonal) {
      z.resize(static_cast<size_t>(kChunk * w));
      for (int64_t i = 0; i < B; ++i)
        for (int64_t j = 0; j < d; ++j) {
          const float v = c[i * d + j];
          z[i * w + j] = v;
          z[i * w + d + j] = v * v;
        }
      zs = z.data();
    }
    for (int64_t i = 0; i < B; ++i) {
      for (int64_t k = 0; k < K; ++k) {
        const double r = resp[(r0 + i) * K + k];
        t_nk[t][k] += r;
        rf[i * K + k] = static_cast<float>(r);
      }
    }
    LK_RETURN_IF_ERROR(gemm(true, false, K, w, B, 1.f, rf.data(), zs, 0.f, mf.data()));
    for (int64_t i = 0; i < K * w; ++i) t_sums[t][i] += mf[i];
    return Status::Ok();
  }));
  std::vector<double> nk(static_cast<size_t>(K), 0.0), sums(static_cast<size_t>(K * w), 0.0);
  for (int t = 0; t < T; ++t) {
    for (int64_t k = 0; k < K; ++k) nk[k] += t_nk[t][k];
    for (int64_t i = 0; i < K * w; ++i) sums[i] += t_sums[t][i];
  }
  LK_RETURN_IF_ERROR(shard.sum(&nk));
  LK_RETURN_IF_ERROR(shard.sum(&sums));
  for (double& v : nk) v += 10 * DBL_EPSILON;
  std::vector<double> mc(static_cast<size_t>(K * d));  // centred means μ_k − m
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < d; ++j) mc[k * d + j] = sums[k * w + j];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < d; ++j) {
      mc[k * d + j] /= nk[k];
      p.means[k * d + j] = mc[k * d + j] + mean[j];
    }
  double total = 0;
  for (int64_t k = 0; k < K; ++k) total += nk[k];
  for (int64_t k = 0; k < K; ++k) p.weights[k] = nk[k] / total;

  std::fill(p.covariances.begin(), p.covariances.end(), 0.0);
  if (p.type == CovarianceType::Full || p.type == CovarianceType::Tied) {
    // Full: Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / n_k, rows scaled by √r_ik, one DᵀD GEMM per chunk and component.
    // Tied: (Σ_i x̃_i x̃_iᵀ − Σ_k n_k μ̃_k μ̃_kᵀ) / Σ n_k on centred data (x̃ = x − m), one GEMM per chunk.
    const bool full = p.type == CovarianceType::Full;
    const int64_t mats = full ? K : 1;
    std::vector<float> mcf(static_cast<size_t>(K * d));
    for (int64_t i = 0; i < K * d; ++i) mcf[i] = static_cast<float>(mc[i]);
    std::vector<std::vector<double>> t_cov(T, std::vector<double>(static_cast<size_t>(mats * d * d), 0.0));
    std::vector<std::vector<float>> t_d(T), t_cf(T);
    LK_RETURN_IF_ERROR(for_each_chunk(n, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
      std::vector<float>&D = t_d[t], &cf = t_cf[t];
      t_xc[t].resize(static_cast<size_t>(kChunk * d));
      D.resize(static_cast<size_t>(kChunk * d));
      cf.resize(static_cast<size_t>(d * d));
      const float* xcc = nullptr;
      LK_RETURN_IF_ERROR(xc.read(r0, B, t_xc[t].data(), &xcc));
      for (int64_t k = 0; k < mats; ++k) {
        const float* src = xcc;
        if (full) {
          for (int64_t i = 0; i < B; ++i)
            scaled_diff(D.data() + i * d, xcc + i * d, mcf.data() + k * d,
                        static_cast<float>(std::sqrt(resp[(r0 + i) * K + k])), d);
          src = D.data();
        }
        LK_RETURN_IF_ERROR(gemm(true, false, d, d, B, 1.f, src, src, 0.f, cf.data()));
        double* acc = t_cov[t].data() + k * d * d;
        for (int64_t i = 0; i < d * d; ++i) acc[i] += cf[i];
      }
      return Status::Ok();
    }));
    for (int t = 0; t < T; ++t)
      for (size_t i = 0; i < p.covariances.size(); ++i) p.covariances[i] += t_cov[t][i];
    LK_RETURN_IF_ERROR(shard.sum(&p.covariances));
    if (full) {
      for (int64_t k = 0; k < K; ++k) {
        double* C = p.covariances.data() + k * d * d;
        for (int64_t i = 0; i < d * d; ++i) C[i] /= nk[k];
        for (int64_t j = 0; j < d; ++j) C[j * d + j] += reg;
      }
    } else {
      double* C = p.covariances.data();
      for (int64_t k = 0; k < K; ++k)
        for (int64_t a = 0; a < d; ++a)
          for (int64_t b = 0; b < d; ++b) C[a * d + b] -= nk[k] * mc[k * d + a] * mc[k * d + b];
      for (int64_t i = 0; i < d * d; ++i) C[i] /= total;
      for (int64_t j = 0; j < d; ++j) C[j * d + j] += reg;
    }
  } else {
    // Diagonal: E_r[x̃²] − μ̃² per component (scikit-learn's formula, on centred data) + reg; spherical averages it.
    std::vector<double> diag(static_cast<size_t>(K * d));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < d; ++j)
        diag[k * d + j] = std::max(sums[k * w + d + j] / nk[k] - mc[k * d + j] * mc[k * d + j], 0.0) + reg;
    if (p.type == CovarianceType::Diag)
      p.covariances = diag;
    else
      for (int64_t k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += diag[k * d + j];
        p.covariances[k] = s / static_cast<double>(d);
      }
  }
  return precisions_from_covariances(p);
}

// Uniform [0, 1) draws offset … offset + n − 1 of the Philox stream (float draws, enough for sampling indices).
std::vector<float> uniforms(int64_t n, uint64_t seed, uint64_t stream, uint64_t offset = 0) {
  std::vector<float> u(static_cast<size_t>(n));
  (void)rng_uniform_fill(u.data(), n, seed, stream, offset);
  return u;
}

// Squared distances ‖x̃_i − c_t‖² of a chunk's centred rows xc (B, d) to T centred centres ct (T, d): one GEMM
// (‖x̃‖² − 2 x̃·c + ‖c‖²), clamped at 0 against float32 cancellation. xnorm: the rows' ‖x̃‖² (B); cnorm (T);
// dots, out: (B, T).
Status chunk_sq_distances(float* out, float* dots, const float* xc, const double* xnorm, const float* ct,
                          const float* cnorm, int64_t B, int64_t T, int64_t d) {
  LK_RETURN_IF_ERROR(gemm(false, true, B, T, d, 1.f, xc, ct, 0.f, dots));
  for (int64_t i = 0; i < B; ++i)
    for (int64_t t = 0; t < T; ++t)
      out[i * T + t] = std::max(0.f, static_cast<float>(xnorm[i]) + cnorm[t] - 2 * dots[i * T + t]);
  return Status::Ok();
}

// The data centred by their column mean for the k-means passes (x̃ = x − mean in float32, so GEMMs never cancel
// large offsets), read a chunk at a time, and ‖x̃_i‖² of every row in float64.
// With a shard, xc and norm are this rank's rows, and a row index below (a centre's, a candidate's) is the set's.
struct CentredData {
  CentredRows xc;
  std::vector<double> norm;
  Shard shard;
  CentredData(const RowSource& x, const std::vector<double>& mean, const Shard& s) : xc(x, mean), shard(s) {}
  Status compute_norms() {
    const int64_t n = xc.rows(), d = xc.cols();
    norm.resize(static_cast<size_t>(n));
    std::vector<std::vector<float>> t_rows(static_cast<size_t>(team_size()));
    return for_each_chunk(n, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
      t_rows[t].resize(static_cast<size_t>(kChunk * d));
      const float* rows = nullptr;
      LK_RETURN_IF_ERROR(xc.read(r0, B, t_rows[t].data(), &rows));
      for (int64_t i = 0; i < B; ++i) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += static_cast<double>(rows[i * d + j]) * rows[i * d + j];
        norm[r0 + i] = s;
      }
      return Status::Ok();
    });
  }
};

// Centres (the set's rows `idx` of x̃) as float32 (T, d) with their squared norms (norms computed); with a shard the
// rank that holds each row gives it to the others (a sum over the ranks of the rows each holds, zeros elsewhere).
Status gather_centres(const CentredData& c, const int64_t* idx, int64_t T, float* ct, float* cnorm) {
  if (!c.shard.comm) {
    LK_RETURN_IF_ERROR(c.xc.gather(ct, idx, T));
    for (int64_t t = 0; t < T; ++t) cnorm[t] = static_cast<float>(c.norm[idx[t]]);
    return Status::Ok();
  }
  const int64_t n = c.xc.rows(), d = c.xc.cols();
  std::fill(ct, ct + T * d, 0.f);
  std::vector<double> norms(static_cast<size_t>(T), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t local = idx[t] - c.shard.offset;
    if (local < 0 || local >= n) continue;
    LK_RETURN_IF_ERROR(c.xc.gather(ct + t * d, &local, 1));
    norms[t] = c.norm[local];
  }
  LK_RETURN_IF_ERROR(c.shard.sum(ct, T * d));
  LK_RETURN_IF_ERROR(c.shard.sum(&norms));
  for (int64_t t = 0; t < T; ++t) cnorm[t] = static_cast<float>(norms[t]);
  return Status::Ok();
}

// Greedy k-means++ (Arthur & Vassilvitskii 2007, with scikit-learn's 2 + ⌊log k⌋ local trials per centre): the first
// centre uniformly; then `trials` candidates drawn with probability ∝ the squared distance to the nearest centre so
// far, keeping the one that lowers the total most. Distances are GEMMs over chunks spread over the team (fixed
// slots: the same seeds give the same centres at any thread count).
std::vector<int64_t> kmeans_plus_plus(const CentredData& c, int64_t k, uint64_t seed, Status* status) {
  const int64_t n = c.xc.rows(), d = c.xc.cols(), total_rows = c.shard.total_rows(n), offset = c.shard.offset;
  const int64_t trials = 2 + static_cast<int64_t>(std::log(static_cast<double>(k)));
  const std::vector<float> u = uniforms(1 + (k - 1) * trials, seed, rng_stream(RngPurpose::ClusterInit, 1));
  std::vector<int64_t> idx{std::min<int64_t>(total_rows - 1, static_cast<int64_t>(u[0] * static_cast<double>(total_rows)))};
  std::vector<double> closest(static_cast<size_t>(n));
  const int T = team_size();
  std::vector<std::vector<float>> t_rows(T), t_dist(T), t_dots(T);
  std::vector<float> ct(static_cast<size_t>(trials * d)), cnorm(static_cast<size_t>(trials));
  // Pass over the data against centres ct (m of them): fn(i, distances of row i) per row.
  auto pass = [&](int64_t m, auto fn) {
    return for_each_chunk(n, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
      t_rows[t].resize(static_cast<size_t>(kChunk * d));
      t_dist[t].resize(static_cast<size_t>(kChunk * trials));
      t_dots[t].resize(static_cast<size_t>(kChunk * trials));
      const float* rows = nullptr;
      LK_RETURN_IF_ERROR(c.xc.read(r0, B, t_rows[t].data(), &rows));
      LK_RETURN_IF_ERROR(chunk_sq_distances(t_dist[t].data(), t_dots[t].data(), rows, c.norm.data() + r0,
                                            ct.data(), cnorm.data(), B, m, d));
      for (int64_t i = 0; i < B; ++i) fn(r0 + i, t_dist[t].data() + i * m, t);
      return Status::Ok();
    });
  };
  *status = gather_centres(c, idx.data(), 1, ct.data(), cnorm.data());
  if (!status->ok()) return idx;
  *status = pass(1, [&](int64_t i, const float* dist, int) { closest[i] = dist[0]; });
  if (!status->ok()) return idx;
  std::vector<std::vector<double>> t_pot(T, std::vector<double>(static_cast<size_t>(trials)));
  std::vector<int64_t> cand(static_cast<size_t>(trials));
  for (int64_t centre = 1; centre < k; ++centre) {
    // Candidates: searchsorted of the draws in the cumulative sum of the squared distances (over the shards in rank
    // order: each rank finds the first of its rows past each draw, and the first rank's find is the set's).
    double mine = 0, before = 0, total = 0;
    for (double v : closest) mine += v;
    *status = ranks_before_and_total(c.shard.comm, mine, &before, &total);
    if (!status->ok()) return idx;
    std::vector<std::pair<double, int64_t>> targets;
    for (int64_t t = 0; t < trials; ++t) targets.push_back({u[1 + (centre - 1) * trials + t] * total, t});
    std::sort(targets.begin(), targets.end());
    double run = before;
    size_t next = 0;
    std::fill(cand.begin(), cand.end(), total_rows - 1);  // a draw past every row's sum: the last row
    for (int64_t i = 0; i < n && next < targets.size(); ++i) {
      run += closest[i];
      while (next < targets.size() && run > targets[next].first) cand[targets[next++].second] = offset + i;
    }
    if (c.shard.comm) {  // the smallest row found by any rank (as the largest negated index)
      std::vector<double> neg(static_cast<size_t>(trials));
      for (int64_t t = 0; t < trials; ++t) neg[t] = -static_cast<double>(cand[t]);
      *status = c.shard.comm->all_reduce_max(neg.data(), trials);
      if (!status->ok()) return idx;
      for (int64_t t = 0; t < trials; ++t) cand[t] = static_cast<int64_t>(-neg[t]);
    }
    // The potential each candidate would leave; keep the lowest.
    *status = gather_centres(c, cand.data(), trials, ct.data(), cnorm.data());
    if (!status->ok()) return idx;
    for (auto& p : t_pot) std::fill(p.begin(), p.end(), 0.0);
    *status = pass(trials, [&](int64_t i, const float* dist, int t) {
      for (int64_t j = 0; j < trials; ++j) t_pot[t][j] += std::min<double>(closest[i], dist[j]);
    });
    if (!status->ok()) return idx;
    std::vector<double> pot(static_cast<size_t>(trials), 0.0);
    for (int t = 0; t < T; ++t)
      for (int64_t j = 0; j < trials; ++j) pot[j] += t_pot[t][j];
    *status = c.shard.sum(&pot);
    if (!status->ok()) return idx;
    const int64_t best = std::min_element(pot.begin(), pot.end()) - pot.begin();
    idx.push_back(cand[best]);
    *status = gather_centres(c, &cand[best], 1, ct.data(), cnorm.data());
    if (!status->ok()) return idx;
    *status = pass(1, [&](int64_t i, const float* dist, int) { closest[i] = std::min<double>(closest[i], dist[0]); });
    if (!status->ok()) return idx;
  }
  return idx;
}

}  // namespace

int64_t covariance_size(CovarianceType type, int64_t K, int64_t d) {
  switch (type) {
    case CovarianceType::Full: return checked_product({K, d, d});
    case CovarianceType::Tied: return checked_product({d, d});
    case CovarianceType::Diag: return checked_product({K, d});
    case CovarianceType::Spherical: return K;
  }
  return 0;
}

void GmmParams::resize(int64_t K_, int64_t d_, CovarianceType t) {
  K = K_;
  d = d_;
  type = t;
  const int64_t n_means = checked_product({K, d}), n_cov = covariance_size(t, K, d);
  reserve_bytes(checked_add(checked_add(K, n_means), checked_mul(n_cov, 2)), sizeof(double), "the mixture's parameters");
  weights.assign(static_cast<size_t>(K), 0.0);
  means.assign(static_cast<size_t>(n_means), 0.0);
  covariances.assign(static_cast<size_t>(n_cov), 0.0);
  precisions_cholesky.assign(covariances.size(), 0.0);
}

Status gmm_log_prob(const GmmParams& p, const RowSource& x, double* resp, double* log_norm) {
  const int64_t n = x.rows(), K = p.K, d = p.d;
  if (K < 1 || d < 1) return Status::Error(Code::InvalidArgument, "the mixture has no components");
  // Shift s = Σ_k w_k μ_k: every product below is on x − s and μ_k − s.
  std::vector<double> s(static_cast<size_t>(d), 0.0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < d; ++j) s[j] += p.weights[k] * p.means[k * d + j];
  const CentredRows xs(x, s);
  const std::vector<double> logdet = log_det_precision_cholesky(p);
  std::vector<double> bias(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k)
    bias[k] = -0.5 * static_cast<double>(d) * kLogTwoPi + logdet[k] + std::log(p.weights[k]);

  const bool gemm_path = per_component_matrix(p.type);
  const int64_t mats = p.type == CovarianceType::Full ? K : 1;
  std::vector<float> pcat, b, coef;
  std::vector<double> quad_const;
  if (gemm_path) {
    // pcat (d, mats·d) = [P_1 … P_mats]; b_k = (μ_k − s)ᵀ P_k, so (x − μ_k)ᵀ P_k = (x − s)ᵀ P_k − b_k.
    pcat.resize(static_cast<size_t>(d * mats * d));
    for (int64_t k = 0; k < mats; ++k)
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j)
          pcat[i * mats * d + k * d + j] = static_cast<float>(p.precisions_cholesky[(k * d + i) * d + j]);
    b.resize(static_cast<size_t>(K * d));
    for (int64_t k = 0; k < K; ++k) {
      const double* P = p.precisions_cholesky.data() + (p.type == CovarianceType::Full ? k : 0) * d * d;
      for (int64_t j = 0; j < d; ++j) {
        double v = 0;
        for (int64_t i = 0; i < d; ++i) v += (p.means[k * d + i] - s[i]) * P[i * d + j];
        b[k * d + j] = static_cast<float>(v);
      }
    }
  } else {
    // Diagonal precisions Λ_k = P_k²: Σ_j Λ_kj (x̃_j − m̃_kj)² = [x̃², x̃] · [Λ_k; −2 m̃_k Λ_k] + Σ_j Λ_kj m̃_kj², one GEMM
    // for all components (as scikit-learn; float32 on data centred by s, so the expansion stays well scaled).
    coef.assign(static_cast<size_t>(2 * d * K), 0.f);
    quad_const.assign(static_cast<size_t>(K), 0.0);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < d; ++j) {
        const double pc = p.precisions_cholesky[p.type == CovarianceType::Diag ? k * d + j : k];
        const double lam = pc * pc, mk = p.means[k * d + j] - s[j];
        coef[j * K + k] = static_cast<float>(lam);
        coef[(d + j) * K + k] = static_cast<float>(-2 * mk * lam);
        quad_const[k] += lam * mk * mk;
      }
  }
  const int T = team_size();
  std::vector<std::vector<float>> t_xc(T), t_y(T), t_z2(T);
  std::vector<std::vector<float>> t_e(T);
  std::vector<std::vector<double>> t_lp(T), t_mx(T);
  return for_each_chunk(n, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
    std::vector<float>&xc = t_xc[t], &y = t_y[t], &z2 = t_z2[t];
    std::vector<double>&lp = t_lp[t], &mx = t_mx[t];
    xc.resize(static_cast<size_t>(kChunk * d));
    y.resize(static_cast<size_t>(kChunk * (gemm_path ? mats * d : K)));
    lp.resize(static_cast<size_t>(kChunk * K));
    const float* xr = nullptr;  // x − s (B, d)
    LK_RETURN_IF_ERROR(xs.read(r0, B, xc.data(), &xr));
    if (gemm_path) {
      LK_RETURN_IF_ERROR(gemm(false, false, B, mats * d, d, 1.f, xr, pcat.data(), 0.f, y.data()));
    } else {
      z2.resize(static_cast<size_t>(kChunk * 2 * d));
      for (int64_t i = 0; i < B; ++i)
        for (int64_t j = 0; j < d; ++j) {
          const float v = xr[i * d + j];
          z2[i * 2 * d + j] = v * v;
          z2[i * 2 * d + d + j] = v;
        }
      LK_RETURN_IF_ERROR(gemm(false, false, B, K, 2 * d, 1.f, z2.data(), coef.data(), 0.f, y.data()));
    }
    // Weighted log-probabilities (float64), then exp(lp − row max) for the whole chunk in one vectorised float pass
    // (values ≤ 0, relative error ~1e-7), then each row's log-sum-exp and responsibilities.
    std::vector<float>& e = t_e[t];
    e.resize(static_cast<size_t>(kChunk * K));
    mx.resize(static_cast<size_t>(kChunk));
    for (int64_t i = 0; i < B; ++i) {
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < K; ++k) {
        const double quad = gemm_path ? sq_dist(y.data() + i * mats * d + (p.type == CovarianceType::Full ? k : 0) * d, b.data() + k * d, d)
                                      : std::max(static_cast<double>(y[i * K + k]) + quad_const[k], 0.0);
        lp[i * K + k] = bias[k] - 0.5 * quad;
        m = std::max(m, lp[i * K + k]);
      }
      mx[i] = m;
      for (int64_t k = 0; k < K; ++k) e[i * K + k] = static_cast<float>(lp[i * K + k] - m);
    }
    exp_in_place(e.data(), B * K);
    for (int64_t i = 0; i < B; ++i) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += e[i * K + k];
      log_norm[r0 + i] = std::isfinite(mx[i]) ? mx[i] + std::log(sum) : mx[i];
      if (resp)
        for (int64_t k = 0; k < K; ++k) resp[(r0 + i) * K + k] = e[i * K + k] / sum;
    }
    return Status::Ok();
  });
}

namespace {

// The set's row (its index) farthest from its centre, the first of the largest, over the shards; its distance in
// *best (this rank's rows) set to 0 where it lies.
Status farthest_row(const Shard& shard, std::vector<double>* best, int64_t* far) {
  const int64_t local = std::max_element(best->begin(), best->end()) - best->begin();
  double mine[2] = {best->empty() ? -HUGE_VAL : (*best)[local], static_cast<double>(shard.offset + local)};
  *far = shard.offset + local;
  if (shard.comm) {
    std::vector<uint8_t> all;
    LK_RETURN_IF_ERROR(shard.comm->all_gather(mine, sizeof mine, &all));
    double top = -HUGE_VAL;
    for (int r = 0; r < shard.comm->size(); ++r) {  // rank order: the first of equal distances is the lowest row
      double v[2];
      std::memcpy(v, all.data() + r * sizeof v, sizeof v);
      if (v[0] > top) top = v[0], *far = static_cast<int64_t>(v[1]);
    }
  }
  const int64_t at = *far - shard.offset;
  if (at >= 0 && at < static_cast<int64_t>(best->size())) (*best)[at] = 0;
  return Status::Ok();
}

// k-means (k-means++ seeding, then Lloyd's iterations until no label changes, the centres move by at most
// scikit-learn's tol, or max_iter) on the centred data c: labels (n).
Status kmeans(const CentredData& c, int64_t k, uint64_t seed, int64_t max_iter, int32_t* labels) {
  const int64_t n = c.xc.rows(), d = c.xc.cols(), total_rows = c.shard.total_rows(n);
  if (k < 1 || k > total_rows) return Status::Error(Code::InvalidArgument, "k-means needs 1 <= k <= rows");
  Status st;
  const std::vector<int64_t> init = kmeans_plus_plus(c, k, seed, &st);
  LK_RETURN_IF_ERROR(st);
  // Centres are kept centred (x̃ space) during Lloyd's iterations.
  std::vector<double> cen(static_cast<size_t>(k * d));
  std::vector<float> row(static_cast<size_t>(k * d));
  std::vector<float> ct(static_cast<size_t>(k * d)), cnorm(static_cast<size_t>(k));
  LK_RETURN_IF_ERROR(gather_centres(c, init.data(), k, row.data(), cnorm.data()));
  for (int64_t i = 0; i < k * d; ++i) cen[i] = row[i];
  // scikit-learn's stopping rule: the centres moved by at most tol = 1e-4 × the mean feature variance (squared
  // Frobenius shift), or no label changed.
  double mean_var = 0;
  for (int64_t i = 0; i < n; ++i) mean_var += c.norm[i];
  LK_RETURN_IF_ERROR(c.shard.sum(&mean_var, 1));
  const double tol = 1e-4 * mean_var / static_cast<double>(total_rows * d);
  const int T = team_size();
  std::vector<std::vector<float>> t_rows(T), t_dist(T), t_dots(T);
  std::vector<std::vector<double>> t_sums(T), t_count(T);
  std::vector<double> best(static_cast<size_t>(n));
  std::vector<int64_t> changed_by(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t) {
    t_rows[t].resize(static_cast<size_t>(kChunk * d));
    t_dist[t].resize(static_cast<size_t>(kChunk * k));
    t_dots[t].resize(static_cast<size_t>(kChunk * k));
  }
  // One pass: each row's nearest centre (labels, best) and the per-slot sums and counts of the new centres (slots:
  // deterministic at any thread count). Returns how many labels changed.
  auto assign = [&](int64_t* changed) -> Status {
    for (int64_t t = 0; t < k; ++t) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) {
        ct[t * d + j] = static_cast<float>(cen[t * d + j]);
        s += static_cast<double>(ct[t * d + j]) * ct[t * d + j];
      }
      cnorm[t] = static_cast<float>(s);
    }
    for (int t = 0; t < T; ++t) {
      t_sums[t].assign(static_cast<size_t>(k * d), 0.0);
      t_count[t].assign(static_cast<size_t>(k), 0.0);
      changed_by[t] = 0;
    }
    LK_RETURN_IF_ERROR(for_each_chunk(n, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
      float* dist = t_dist[t].data();
      const float* rows = nullptr;
      LK_RETURN_IF_ERROR(c.xc.read(r0, B, t_rows[t].data(), &rows));
      LK_RETURN_IF_ERROR(chunk_sq_distances(dist, t_dots[t].data(), rows, c.norm.data() + r0, ct.data(), cnorm.data(),
                                            B, k, d));
      for (int64_t i = 0; i < B; ++i) {
        const float* di = dist + i * k;
        const int32_t arg = static_cast<int32_t>(std::min_element(di, di + k) - di);
        best[r0 + i] = di[arg];
        if (labels[r0 + i] != arg) ++changed_by[t], labels[r0 + i] = arg;
        t_count[t][arg] += 1;
        const float* xi = rows + i * d;
        double* sum = t_sums[t].data() + arg * d;
        for (int64_t j = 0; j < d; ++j) sum[j] += xi[j];
      }
      return Status::Ok();
    }));
    double all_changed = 0;
    for (int t = 0; t < T; ++t) all_changed += static_cast<double>(changed_by[t]);
    LK_RETURN_IF_ERROR(c.shard.sum(&all_changed, 1));
    *changed = static_cast<int64_t>(all_changed);
    return Status::Ok();
  };
  std::fill(labels, labels + n, -1);
  for (int64_t it = 0; it < max_iter; ++it) {
    int64_t changed = 0;
    LK_RETURN_IF_ERROR(assign(&changed));
    if (changed == 0) break;
    std::vector<double> sums(static_cast<size_t>(k * d), 0.0), counts(static_cast<size_t>(k), 0.0);
    for (int t = 0; t < T; ++t) {
      for (int64_t i = 0; i < k * d; ++i) sums[i] += t_sums[t][i];
      for (int64_t i = 0; i < k; ++i) counts[i] += t_count[t][i];
    }
    LK_RETURN_IF_ERROR(c.shard.sum(&sums));
    LK_RETURN_IF_ERROR(c.shard.sum(&counts));
    double shift = 0;
    for (int64_t t = 0; t < k; ++t) {
      if (counts[t] == 0) {  // an empty cluster takes the point farthest from its centre
        int64_t far = 0;
        LK_RETURN_IF_ERROR(farthest_row(c.shard, &best, &far));
        LK_RETURN_IF_ERROR(gather_centres(c, &far, 1, row.data(), cnorm.data()));
        for (int64_t j = 0; j < d; ++j) cen[t * d + j] = row[j];
        shift = HUGE_VAL;
        continue;
      }
      for (int64_t j = 0; j < d; ++j) {
        const double v = sums[t * d + j] / counts[t];
        shift += (v - cen[t * d + j]) * (v - cen[t * d + j]);
        cen[t * d + j] = v;
      }
    }
    if (shift <= tol) {  // converged: labels of the final centres (scikit-learn's last E-step)
      LK_RETURN_IF_ERROR(assign(&changed));
      break;
    }
  }
  return Status::Ok();
}

}  // namespace

Status gmm_fit(const RowSource& x, const GmmFitOptions& o, GmmParams* best, GmmFitReport* report,
               const JobControl& control, const Shard& shard) {
  const int64_t n = x.rows(), total = shard.total_rows(n), d = x.cols(), K = o.components;  // this shard's rows, the set's
  if (K < 1 || K > total)
    return Status::Error(Code::InvalidArgument, "nComponents must be in [1, rows] (" + std::to_string(total) + " rows)");
  std::vector<double> mean;
  LK_RETURN_IF_ERROR(column_means(x, &mean, shard));
  CentredData centred(x, mean, shard);  // every EM iteration's M-step (and k-means) passes over it
  LK_RETURN_IF_ERROR(centred.xc.keep_centred_copy());
  if (o.init == GmmInit::KMeans || o.init == GmmInit::KMeansPlusPlus) LK_RETURN_IF_ERROR(centred.compute_norms());
  std::vector<double> resp(static_cast<size_t>(n * K)), log_norm(static_cast<size_t>(n));
  double best_bound = -std::numeric_limits<double>::infinity();
  bool have_best = false;
  for (int64_t init = 0; init < o.n_init; ++init) {
    const uint64_t seed = o.seed * 1000003ull + static_cast<uint64_t>(init);
    // Initial responsibilities (scikit-learn's _initialize_parameters), then one M-step.
    std::fill(resp.begin(), resp.end(), 0.0);
    if (o.init == GmmInit::KMeans) {
      std::vector<int32_t> labels(static_cast<size_t>(n));
      LK_RETURN_IF_ERROR(kmeans(centred, K, seed, 300, labels.data()));
      for (int64_t i = 0; i < n; ++i) resp[i * K + labels[i]] = 1;
    } else if (o.init == GmmInit::Random) {
      const std::vector<float> u = uniforms(n * K, seed, rng_stream(RngPurpose::ClusterInit, 2), static_cast<uint64_t>(shard.offset * K));
      for (int64_t i = 0; i < n; ++i) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += u[i * K + k];
        for (int64_t k = 0; k < K; ++k) resp[i * K + k] = s > 0 ? u[i * K + k] / s : 1.0 / K;
      }
    } else {
      std::vector<int64_t> idx;
      if (o.init == GmmInit::KMeansPlusPlus) {
        Status st;
        idx = kmeans_plus_plus(centred, K, seed, &st);
        LK_RETURN_IF_ERROR(st);
      } else {  // random_from_data: K distinct rows
        std::vector<int64_t> perm(static_cast<size_t>(total));
        LK_RETURN_IF_ERROR(rng_permutation(perm.data(), total, seed, rng_stream(RngPurpose::ClusterInit, 3)));
        idx.assign(perm.begin(), perm.begin() + K);
      }
      for (int64_t k = 0; k < K; ++k)  // the set's rows idx: those in this shard
        if (idx[k] >= shard.offset && idx[k] < shard.offset + n) resp[(idx[k] - shard.offset) * K + k] = 1;
    }
    GmmParams p;
    p.resize(K, d, o.type);
    LK_RETURN_IF_ERROR(m_step(centred.xc, mean, resp.data(), o.reg_covar, p, shard));
    if (o.weights_init) std::copy_n(o.weights_init, K, p.weights.data());
    if (o.means_init) std::copy_n(o.means_init, K * d, p.means.data());
    if (o.precisions_init) LK_RETURN_IF_ERROR(precisions_from_precisions(p, o.precisions_init));

    GmmFitReport r;
    double bound = -std::numeric_limits<double>::infinity();
    for (int64_t it = 1; it <= o.max_iter; ++it) {
      if (control.stop()) return Status::Error(Code::Cancelled, "GaussianMixture.fit was cancelled");
      const double prev = bound;
      LK_RETURN_IF_ERROR(gmm_log_prob(p, x, resp.data(), log_norm.data()));
      double s = 0;
      for (double v : log_norm) s += v;
      LK_RETURN_IF_ERROR(shard.sum(&s, 1));
      bound = s / static_cast<double>(total);
      if (!std::isfinite(bound))
        return Status::Error(Code::NonFiniteLoss, "GaussianMixture: the log-likelihood became " +
                                                      std::string(std::isnan(bound) ? "NaN" : "infinite") +
                                                      " at EM iteration " + std::to_string(it) + " of initialisation " +
                                                      std::to_string(init + 1) + "; " + kIllDefined);
      r.lower_bounds.push_back(bound);
      r.n_iter = it;
      control.report(init, it, bound);
      LK_RETURN_IF_ERROR(m_step(centred.xc, mean, resp.data(), o.reg_covar, p, shard));
      if (std::abs(bound - prev) < o.tol) {
        r.converged = true;
        break;
      }
    }
    r.lower_bound = bound;
    if (!have_best || bound > best_bound) {
      best_bound = bound;
      have_best = true;
      *best = p;
      *report = r;
    }
  }
  return Status::Ok();
}

}  // namespace lk
