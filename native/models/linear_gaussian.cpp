// linear_gaussian.cpp — see linear_gaussian.h. The E-step for all rows is U = X̃ A with A = Ψ⁻¹ W (one GEMM),
// whose Gram matrices X̃ᵀU and UᵀU carry everything the M-step and the log-likelihood need:
//   E[z|x] = G⁻¹ u,  Σ E[z] x̃ᵀ = G⁻¹ Uᵀ X̃,  Σ E[zzᵀ] = n G⁻¹ + G⁻¹ UᵀU G⁻¹,
//   mean x̃ᵀ C⁻¹ x̃ = (Σ_j Σ_i x̃_ij² / ψ_j − tr(G⁻¹ UᵀU)) / n,  log det C = Σ log ψ + log det G.
// The M-step (Ghahramani & Hinton 1996; Tipping & Bishop 1999 for the isotropic case) with N = n − ddof:
//   W ← S_xz S_zz⁻¹,  ψ_j ← S_jj − (W S_xzᵀ)_jj  (σ² ← the mean of ψ for PPCA),
// S_xz = X̃ᵀ U G⁻¹ / N, S_zz = G⁻¹ + G⁻¹ UᵀU G⁻¹ / N; the sampling E-step replaces them by X̃ᵀZ / N, ZᵀZ / N
// with Z = U G⁻¹ + E Lᵀ (L Lᵀ = G⁻¹, E standard normal).
#include "linear_gaussian.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../core/gemm.h"
#include "../core/linalg.h"
#include "../core/rng.h"
#include "../core/threads.h"
#include "../data/centred_rows.h"

namespace lk {

namespace {

constexpr int64_t kChunk = 4096;
constexpr double kLog2Pi = 1.8378770664093453;

// What every E-step needs from (W, ψ): A = Ψ⁻¹W (float, for the GEMM), G⁻¹ and log det G, Σ log ψ.
struct Posterior {
  std::vector<float> A;
  std::vector<double> g_inv, inv_psi;
  double log_det_g = 0, sum_log_psi = 0;
};

Status posterior(const LinearGaussian& m, double min_psi, Posterior* p) {
  const int64_t d = m.d, q = m.q;
  p->A.assign(static_cast<size_t>(d * q), 0.f);
  p->inv_psi.resize(static_cast<size_t>(d));
  p->sum_log_psi = 0;
  for (int64_t j = 0; j < d; ++j) {
    const double psi = std::max(m.psi[j], min_psi);
    if (!std::isfinite(psi)) return Status::Error(Code::InvalidArgument, "noise variances must be finite");
    p->inv_psi[j] = 1.0 / psi;
    p->sum_log_psi += std::log(psi);
  }
  p->g_inv.assign(static_cast<size_t>(q * q), 0.0);
  for (int64_t a = 0; a < q; ++a) p->g_inv[a * q + a] = 1.0;
  // G from the float32-rounded A that the GEMMs use (G = I + Σ_j ψ_j A_ja A_jb), so that G and U = X̃A describe the
  // same model: the likelihood's difference Σ x̃²/ψ − tr(G⁻¹UᵀU) then carries no systematic rounding error.
  for (int64_t j = 0; j < d; ++j)
    for (int64_t a = 0; a < q; ++a) p->A[j * q + a] = static_cast<float>(m.W[j * q + a] * p->inv_psi[j]);
  for (int64_t j = 0; j < d; ++j) {
    const double psi = 1.0 / p->inv_psi[j];
    for (int64_t a = 0; a < q; ++a)
      for (int64_t b = 0; b < q; ++b)
        p->g_inv[a * q + b] += psi * static_cast<double>(p->A[j * q + a]) * static_cast<double>(p->A[j * q + b]);
  }
  return spd_inverse(p->g_inv.data(), q, &p->log_det_g);
}

// ez (B, q) = u (B, q) G⁻¹ in float64.
void times_g_inv(const float* u, int64_t B, int64_t q, const std::vector<double>& g_inv, double* ez) {
  for (int64_t i = 0; i < B; ++i)
    for (int64_t b = 0; b < q; ++b) {
      double s = 0;
      for (int64_t a = 0; a < q; ++a) s += static_cast<double>(u[i * q + a]) * g_inv[a * q + b];
      ez[i * q + b] = s;
    }
}

// gram (q, q) += uᵀu in float64 for u (n, q) float32: the likelihood subtracts tr(G⁻¹ UᵀU) from a sum of similar
// size, so float32 accumulation over the rows would show up as noise in it.
void add_gram_f64(const float* u, int64_t n, int64_t q, double* gram) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < q; ++a) {
      const double ua = u[i * q + a];
      for (int64_t b = 0; b < q; ++b) gram[a * q + b] += ua * u[i * q + b];
    }
}

// The slots' accumulators (for_each_chunk) summed in slot order: the same total on every run.
std::vector<double> sum_slots(const std::vector<std::vector<double>>& t) {
  std::vector<double> s(t[0].size(), 0.0);
  for (const auto& v : t)
    for (size_t i = 0; i < s.size(); ++i) s[i] += v[i];
  return s;
}

Status check_model(const LinearGaussian& m) {
  if (m.d < 1 || m.q < 1 || static_cast<int64_t>(m.W.size()) != m.d * m.q ||
      static_cast<int64_t>(m.psi.size()) != m.d || static_cast<int64_t>(m.mean.size()) != m.d)
    return Status::Error(Code::InvalidArgument, "inconsistent linear Gaussian model sizes");
  return Status::Ok();
}

}  // namespace

namespace {
// cov (d, d) = Σ_i x̃_i x̃_iᵀ / denominator for the centred rows xc: one GEMM (on the whole team: d × d is large) per
// chunk, summed in float64 (and over the ranks' shards).
Status centred_covariance(const CentredRows& x, double denominator, std::vector<double>* cov, const Shard& shard) {
  const int64_t n = x.rows(), d = x.cols();
  cov->assign(static_cast<size_t>(d * d), 0.0);
  std::vector<float> xc(static_cast<size_t>(std::min(kChunk, n) * d)), cf(static_cast<size_t>(d * d));
  for (int64_t r0 = 0; r0 < n; r0 += kChunk) {
    const int64_t B = std::min(kChunk, n - r0);
    const float* rows = nullptr;
    LK_RETURN_IF_ERROR(x.read(r0, B, xc.data(), &rows));
    LK_RETURN_IF_ERROR(gemm(true, false, d, d, B, 1.f, rows, rows, 0.f, cf.data()));
    for (int64_t i = 0; i < d * d; ++i) (*cov)[i] += cf[i];
  }
  LK_RETURN_IF_ERROR(shard.sum(cov));
  for (double& v : *cov) v /= denominator;
  return Status::Ok();
}
}  // namespace

Status pca_fit(const RowSource& x, int64_t q, PcaResult* out, const Shard& shard) {
  const int64_t n = shard.total_rows(x.rows()), d = x.cols();
  if (n < 2) return Status::Error(Code::InvalidArgument, "PCA needs at least 2 rows");
  if (q < 1 || q > std::min(n, d))
    return Status::Error(Code::InvalidArgument, "nComponents must be in [1, min(rows, columns)]");
  LK_RETURN_IF_ERROR(column_means(x, &out->mean, shard));
  std::vector<double> cov;
  LK_RETURN_IF_ERROR(centred_covariance(CentredRows(x, out->mean), static_cast<double>(n - 1), &cov, shard));
  double trace = 0;
  for (int64_t j = 0; j < d; ++j) trace += cov[j * d + j];
  std::vector<double> w(static_cast<size_t>(d));
  LK_RETURN_IF_ERROR(symmetric_eigen(cov.data(), w.data(), d));
  out->components.assign(cov.begin(), cov.begin() + q * d);
  out->explained_variance.assign(w.begin(), w.begin() + q);
  for (int64_t k = 0; k < q; ++k) {
    double* c = out->components.data() + k * d;
    const int64_t big = std::max_element(c, c + d, [](double a, double b) { return std::abs(a) < std::abs(b); }) - c;
    if (c[big] < 0)
      for (int64_t j = 0; j < d; ++j) c[j] = -c[j];
    out->explained_variance[k] = std::max(out->explained_variance[k], 0.0);
  }
  double kept = 0;
  for (int64_t k = 0; k < q; ++k) kept += out->explained_variance[k];
  const int64_t rest = std::min(n, d) - q;
  out->total_variance = trace;
  out->noise_variance = rest > 0 ? std::max(trace - kept, 0.0) / static_cast<double>(rest) : 0.0;
  return Status::Ok();
}

Status linear_projection(const RowSource& x, const std::vector<double>& mean, const std::vector<double>& components,
                         int64_t q, float* out) {
  const int64_t n = x.rows(), d = x.cols();
  if (static_cast<int64_t>(mean.size()) != d || static_cast<int64_t>(components.size()) != q * d)
    return Status::Error(Code::InvalidArgument, "inconsistent PCA model sizes");
  const CentredRows centred(x, mean);
  const std::vector<float> v(components.begin(), components.end());
  std::vector<float> xc(static_cast<size_t>(std::min(kChunk, n) * d));
  for (int64_t r0 = 0; r0 < n; r0 += kChunk) {
    const int64_t B = std::min(kChunk, n - r0);
    const float* rows = nullptr;
    LK_RETURN_IF_ERROR(centred.read(r0, B, xc.data(), &rows));
    LK_RETURN_IF_ERROR(gemm(false, true, B, q, d, 1.f, rows, v.data(), 0.f, out + r0 * q));
  }
  return Status::Ok();
}

namespace {

// The per-chunk work both scoring calls share: x̃ = x − μ (float) and E[z | x] = G⁻¹ Aᵀ x̃ (float64) for chunks of
// rows, handed to body(r0, B, x̃, E[z]).
template <typename Body>
Status for_each_posterior_chunk(const LinearGaussian& m, const Posterior& p, const RowSource& x, Body body) {
  const int64_t n = x.rows(), d = m.d, q = m.q;
  const CentredRows centred(x, m.mean);
  const int64_t chunk = std::min(kChunk, n);
  std::vector<float> xc(static_cast<size_t>(chunk * d)), u(static_cast<size_t>(chunk * q));
  std::vector<double> ez(static_cast<size_t>(chunk * q));
  for (int64_t r0 = 0; r0 < n; r0 += kChunk) {
    const int64_t B = std::min(kChunk, n - r0);
    const float* rows = nullptr;
    LK_RETURN_IF_ERROR(centred.read(r0, B, xc.data(), &rows));
    LK_RETURN_IF_ERROR(gemm(false, false, B, q, d, 1.f, rows, p.A.data(), 0.f, u.data()));
    times_g_inv(u.data(), B, q, p.g_inv, ez.data());
    LK_RETURN_IF_ERROR(body(r0, B, rows, ez.data()));
  }
  return Status::Ok();
}

}  // namespace

Status linear_gaussian_log_density(const LinearGaussian& m, const RowSource& x, double* out) {
  LK_RETURN_IF_ERROR(check_model(m));
  const int64_t n = x.rows(), d = m.d, q = m.q;
  Posterior p;
  LK_RETURN_IF_ERROR(posterior(m, 0.0, &p));
  // quad = min_z (x̃ − Wz)ᵀΨ⁻¹(x̃ − Wz) + zᵀz, attained at z = E[z|x]: a sum of squares, stable when ψ is small.
  std::vector<float> wt(static_cast<size_t>(d * q));
  for (int64_t i = 0; i < d * q; ++i) wt[i] = static_cast<float>(m.W[i]);
  const int64_t chunk = std::min(kChunk, n);
  std::vector<float> recon(static_cast<size_t>(chunk * d)), ezf(static_cast<size_t>(chunk * q));
  const double constant = -0.5 * (static_cast<double>(d) * kLog2Pi + p.sum_log_psi + p.log_det_g);
  return for_each_posterior_chunk(m, p, x, [&](int64_t r0, int64_t B, const float* xc, const double* ez) -> Status {
    for (int64_t i = 0; i < B * q; ++i) ezf[i] = static_cast<float>(ez[i]);
    LK_RETURN_IF_ERROR(gemm(false, true, B, d, q, 1.f, ezf.data(), wt.data(), 0.f, recon.data()));
    for (int64_t i = 0; i < B; ++i) {
      double quad = 0;
      for (int64_t a = 0; a < q; ++a) quad += ez[i * q + a] * ez[i * q + a];
      for (int64_t j = 0; j < d; ++j) {
        const double e = static_cast<double>(xc[i * d + j]) - recon[i * d + j];
        quad += e * e * p.inv_psi[j];
      }
      out[r0 + i] = constant - 0.5 * quad;
    }
    return Status::Ok();
  });
}

Status linear_gaussian_posterior_mean(const LinearGaussian& m, const RowSource& x, double* out) {
  LK_RETURN_IF_ERROR(check_model(m));
  Posterior p;
  LK_RETURN_IF_ERROR(posterior(m, 0.0, &p));
  return for_each_posterior_chunk(m, p, x, [&](int64_t r0, int64_t B, const float*, const double* ez) -> Status {
    std::copy_n(ez, B * m.q, out + r0 * m.q);
    return Status::Ok();
  });
}

Status linear_gaussian_em(const RowSource& x, const LinearGaussianEmOptions& o, LinearGaussian* out,
                          LinearGaussianEmReport* report, const JobControl& control, const Shard& shard) {
  const int64_t rows = x.rows(), n = shard.total_rows(rows), d = x.cols(), q = o.q;  // this shard's rows, the set's
  if (n <= o.ddof + 1) return Status::Error(Code::InvalidArgument, "EM needs at least " + std::to_string(o.ddof + 2) + " rows");
  if (q < 1 || q > d) return Status::Error(Code::InvalidArgument, "nComponents must be in [1, columns]");
  const double N = static_cast<double>(n - o.ddof);
  LinearGaussian& m = *out;
  m.d = d;
  m.q = q;
  LK_RETURN_IF_ERROR(column_means(x, &m.mean, shard));
  CentredRows centred(x, m.mean);
  LK_RETURN_IF_ERROR(centred.keep_centred_copy());  // every iteration passes over it
  // Every pass runs chunks of rows in the team's slots (for_each_chunk), each slot with its own buffers and float64
  // accumulators, its GEMMs on its own thread.
  const int T = omp_get_max_threads();
  std::vector<std::vector<float>> t_xc(T), t_u(T), t_z(T), t_e(T), t_f(T), t_g(T);
  auto slots = [T](int64_t size) { return std::vector<std::vector<double>>(T, std::vector<double>(static_cast<size_t>(size), 0.0)); };
  // The centred rows [r0, r0 + B) of slot t.
  auto read_chunk = [&](int64_t r0, int64_t B, int t, const float** rows) -> Status {
    t_xc[t].resize(static_cast<size_t>(kChunk * d));
    return centred.read(r0, B, t_xc[t].data(), rows);
  };
  std::vector<double> ss;  // Σ_i x̃_ij²
  {
    auto t_ss = slots(d);
    LK_RETURN_IF_ERROR(for_each_chunk(rows, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
      const float* xc = nullptr;
      LK_RETURN_IF_ERROR(read_chunk(r0, B, t, &xc));
      for (int64_t i = 0; i < B; ++i)
        for (int64_t j = 0; j < d; ++j) t_ss[t][j] += static_cast<double>(xc[i * d + j]) * xc[i * d + j];
      return Status::Ok();
    }));
    ss = sum_slots(t_ss);
    LK_RETURN_IF_ERROR(shard.sum(&ss));
  }
  // Initial W: N(0, 1) × √(S_jj / q); ψ = S_jj.
  {
    std::vector<float> e(static_cast<size_t>(d * q));
    LK_RETURN_IF_ERROR(rng_normal_fill(e.data(), d * q, o.seed, rng_stream(RngPurpose::Init, 0), 0));
    m.W.resize(static_cast<size_t>(d * q));
    m.psi.resize(static_cast<size_t>(d));
    double mean_var = 0;
    for (int64_t j = 0; j < d; ++j) mean_var += ss[j] / N / static_cast<double>(d);
    for (int64_t j = 0; j < d; ++j) {
      const double var = ss[j] / N;
      m.psi[j] = std::max(o.isotropic ? mean_var : var, o.min_psi);
      for (int64_t a = 0; a < q; ++a) m.W[j * q + a] = e[j * q + a] * std::sqrt(var / static_cast<double>(q));
    }
  }
  std::vector<double> sxz(static_cast<size_t>(d * q)), szz(static_cast<size_t>(q * q)), tmp(static_cast<size_t>(q * q));
  double prev = -HUGE_VAL;
  report->loglike.clear();
  report->converged = false;
  for (int64_t it = 1; it <= o.max_iter; ++it) {
    if (control.stop()) return Status::Error(Code::Cancelled, "the fit was cancelled");
    Posterior p;
    Status ps = posterior(m, o.min_psi, &p);
    if (!ps.ok()) return Status::Error(Code::NonFiniteLoss, "EM broke down at iteration " + std::to_string(it) + ": " + ps.message);
    const std::vector<double>& gi = p.g_inv;
    std::vector<double> l;  // L Lᵀ = G⁻¹ (sampling E-step)
    if (o.sample_estep) {
      l = gi;
      LK_RETURN_IF_ERROR(cholesky_lower(l.data(), q));
    }
    // One pass: U = X̃A per chunk, UᵀU, and X̃ᵀU (expectation) or X̃ᵀZ, ZᵀZ with Z = U G⁻¹ + E Lᵀ (sampling; E's
    // draws numbered by row, so they do not depend on the chunking).
    auto t_uu = slots(q * q), t_xz = slots(d * q), t_zz = slots(o.sample_estep ? q * q : 0);
    const double scale = 1.0 / (N * static_cast<double>(o.samples));
    LK_RETURN_IF_ERROR(for_each_chunk(rows, kChunk, [&](int64_t r0, int64_t B, int t) -> Status {
      const float* xc = nullptr;
      LK_RETURN_IF_ERROR(read_chunk(r0, B, t, &xc));
      std::vector<float>&u = t_u[t], &f = t_f[t];
      u.resize(static_cast<size_t>(kChunk * q));
      f.resize(static_cast<size_t>(d * q));
      LK_RETURN_IF_ERROR(gemm(false, false, B, q, d, 1.f, xc, p.A.data(), 0.f, u.data()));
      add_gram_f64(u.data(), B, q, t_uu[t].data());
      if (!o.sample_estep) {
        LK_RETURN_IF_ERROR(gemm(true, false, d, q, B, 1.f, xc, u.data(), 0.f, f.data()));
        for (int64_t i = 0; i < d * q; ++i) t_xz[t][i] += f[i];
        return Status::Ok();
      }
      std::vector<float>&z = t_z[t], &e = t_e[t], &g = t_g[t];
      z.resize(static_cast<size_t>(kChunk * q));
      e.resize(static_cast<size_t>(kChunk * q));
      g.resize(static_cast<size_t>(q * q));
      for (int64_t s = 0; s < o.samples; ++s) {
        LK_RETURN_IF_ERROR(rng_normal_fill(e.data(), B * q, o.seed,
                                           rng_stream(RngPurpose::LatentSample, static_cast<uint64_t>(it * o.samples + s)),
                                           static_cast<uint64_t>((shard.offset + r0) * q)));
        for (int64_t i = 0; i < B; ++i)
          for (int64_t b = 0; b < q; ++b) {
            double v = 0;
            for (int64_t a = 0; a < q; ++a) v += static_cast<double>(u[i * q + a]) * gi[a * q + b];
            for (int64_t a = 0; a <= b; ++a) v += l[b * q + a] * e[i * q + a];
            z[i * q + b] = static_cast<float>(v);
          }
        LK_RETURN_IF_ERROR(gemm(true, false, d, q, B, 1.f, xc, z.data(), 0.f, f.data()));
        LK_RETURN_IF_ERROR(gemm(true, false, q, q, B, 1.f, z.data(), z.data(), 0.f, g.data()));
        for (int64_t i = 0; i < d * q; ++i) t_xz[t][i] += f[i] * scale;
        for (int64_t i = 0; i < q * q; ++i) t_zz[t][i] += g[i] * scale;
      }
      return Status::Ok();
    }));
    std::vector<double> utu = sum_slots(t_uu), xz = sum_slots(t_xz);
    LK_RETURN_IF_ERROR(shard.sum(&utu));
    LK_RETURN_IF_ERROR(shard.sum(&xz));
    // The log-likelihood of the current parameters (mean per row).
    double quad = 0;
    for (int64_t j = 0; j < d; ++j) quad += ss[j] * p.inv_psi[j];
    for (int64_t a = 0; a < q; ++a)
      for (int64_t b = 0; b < q; ++b) quad -= gi[a * q + b] * utu[b * q + a];
    const double ll = -0.5 * (static_cast<double>(d) * kLog2Pi + p.sum_log_psi + p.log_det_g + quad / static_cast<double>(n));
    if (!std::isfinite(ll))
      return Status::Error(Code::NonFiniteLoss, "the log-likelihood became non-finite at EM iteration " + std::to_string(it));
    report->loglike.push_back(ll);
    report->n_iter = it;
    control.report(0, it, ll);
    // Sufficient statistics S_xz (d, q) and S_zz (q, q).
    if (!o.sample_estep) {
      for (int64_t j = 0; j < d; ++j)
        for (int64_t b = 0; b < q; ++b) {
          double s = 0;
          for (int64_t a = 0; a < q; ++a) s += xz[j * q + a] * gi[a * q + b];
          sxz[j * q + b] = s / N;
        }
      for (int64_t a = 0; a < q; ++a)  // tmp = UᵀU G⁻¹
        for (int64_t b = 0; b < q; ++b) {
          double s = 0;
          for (int64_t c = 0; c < q; ++c) s += utu[a * q + c] * gi[c * q + b];
          tmp[a * q + b] = s;
        }
      for (int64_t a = 0; a < q; ++a)
        for (int64_t b = 0; b < q; ++b) {
          double s = 0;
          for (int64_t c = 0; c < q; ++c) s += gi[a * q + c] * tmp[c * q + b];
          szz[a * q + b] = gi[a * q + b] + s / N;
        }
    } else {
      sxz = xz;
      szz = sum_slots(t_zz);
      LK_RETURN_IF_ERROR(shard.sum(&szz));
    }
    // M-step: W = S_xz S_zz⁻¹, ψ_j = S_jj − (W S_xzᵀ)_jj.
    Status si = spd_inverse(szz.data(), q);
    if (!si.ok()) return Status::Error(Code::NonFiniteLoss, "EM broke down at iteration " + std::to_string(it) + ": E[zzᵀ] is singular");
    double psi_mean = 0;
    for (int64_t j = 0; j < d; ++j) {
      double explained = 0;
      for (int64_t b = 0; b < q; ++b) {
        double w = 0;
        for (int64_t a = 0; a < q; ++a) w += sxz[j * q + a] * szz[a * q + b];
        m.W[j * q + b] = w;
        explained += w * sxz[j * q + b];
      }
      m.psi[j] = std::max(ss[j] / N - explained, o.min_psi);
      psi_mean += m.psi[j] / static_cast<double>(d);
    }
    if (o.isotropic) std::fill(m.psi.begin(), m.psi.end(), std::max(psi_mean, o.min_psi));
    if (!o.sample_estep && std::abs(ll - prev) * static_cast<double>(n) < o.tol) {
      report->converged = true;
      break;
    }
    prev = ll;
  }
  return Status::Ok();
}

Status factor_analysis_svd(const RowSource& x, const FactorAnalysisSvdOptions& o, LinearGaussian* out,
                           LinearGaussianEmReport* report, const JobControl& control, const Shard& shard) {
  const int64_t n = shard.total_rows(x.rows()), d = x.cols(), q = o.q;
  if (n < 2) return Status::Error(Code::InvalidArgument, "FactorAnalysis needs at least 2 rows");
  if (q < 1 || q > d) return Status::Error(Code::InvalidArgument, "nComponents must be in [1, columns]");
  constexpr double kSmall = 1e-12;  // scikit-learn's SMALL: the floor of ψ and of √ψ's offset
  LinearGaussian& m = *out;
  m.d = d;
  m.q = q;
  LK_RETURN_IF_ERROR(column_means(x, &m.mean, shard));
  std::vector<double> S;  // the sample covariance, denominator n (np.var)
  LK_RETURN_IF_ERROR(centred_covariance(CentredRows(x, m.mean), static_cast<double>(n), &S, shard));
  std::vector<double> variance(static_cast<size_t>(d)), sqrt_psi(static_cast<size_t>(d)), C(static_cast<size_t>(d * d));
  std::vector<double> w(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) variance[j] = S[j * d + j];
  m.psi.assign(static_cast<size_t>(d), 1.0);
  m.W.assign(static_cast<size_t>(d * q), 0.0);
  const double ll_const = static_cast<double>(d) * kLog2Pi + static_cast<double>(q);
  double old_ll = -HUGE_VAL;
  report->loglike.clear();
  report->converged = false;
  for (int64_t it = 1; it <= o.max_iter; ++it) {
    if (control.stop()) return Status::Error(Code::Cancelled, "the fit was cancelled");
    for (int64_t j = 0; j < d; ++j) sqrt_psi[j] = std::sqrt(m.psi[j]) + kSmall;
    double trace = 0;
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t j = 0; j < d; ++j) C[i * d + j] = S[i * d + j] / (sqrt_psi[i] * sqrt_psi[j]);
      trace += C[i * d + i];
    }
    LK_RETURN_IF_ERROR(symmetric_eigen(C.data(), w.data(), d));  // rows of C: the eigenvectors, w descending
    double kept = 0, sum_log_s = 0, sum_log_psi = 0;
    for (int64_t k = 0; k < q; ++k) {
      const double s = std::max(w[k], kSmall);
      kept += w[k];
      sum_log_s += std::log(s);
      const double scale = std::sqrt(std::max(w[k] - 1.0, 0.0));
      for (int64_t j = 0; j < d; ++j) m.W[j * q + k] = scale * C[k * d + j] * sqrt_psi[j];
    }
    for (int64_t j = 0; j < d; ++j) sum_log_psi += std::log(m.psi[j]);
    const double ll = -0.5 * static_cast<double>(n) * (ll_const + sum_log_s + (trace - kept) + sum_log_psi);
    if (!std::isfinite(ll))
      return Status::Error(Code::NonFiniteLoss, "the log-likelihood became non-finite at iteration " + std::to_string(it));
    report->loglike.push_back(ll / static_cast<double>(n));
    report->n_iter = it;
    control.report(0, it, ll / static_cast<double>(n));
    if (ll - old_ll < o.tol) {
      report->converged = true;
      break;
    }
    old_ll = ll;
    for (int64_t j = 0; j < d; ++j) {
      double explained = 0;
      for (int64_t k = 0; k < q; ++k) explained += m.W[j * q + k] * m.W[j * q + k];
      m.psi[j] = std::max(variance[j] - explained, kSmall);
    }
  }
  return Status::Ok();
}

}  // namespace lk
