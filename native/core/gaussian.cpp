// gaussian.cpp — see gaussian.h. Latent widths are small, so rows are the unit of parallel work.
#include "gaussian.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fast_math.h"
#include "threads.h"

namespace lk {

Status gaussian_reparameterize_forward(float* z, const float* mean, const float* log_var, const float* eps, int64_t B,
                                       int64_t D, int64_t K) {
#pragma omp parallel for schedule(static) if (B * K * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < K; ++s) {
      const int64_t r = (b * K + s) * D;
      for (int64_t d = 0; d < D; ++d) z[r + d] = mean[b * D + d] + fast_exp(0.5f * log_var[b * D + d]) * eps[r + d];
    }
  return Status::Ok();
}

Status gaussian_reparameterize_backward(float* d_mean, float* d_log_var, const float* d_z, const float* log_var,
                                        const float* eps, int64_t B, int64_t D, int64_t K) {
#pragma omp parallel for schedule(static) if (B * K * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < K; ++s) {
      const int64_t r = (b * K + s) * D;
      for (int64_t d = 0; d < D; ++d) {
        d_mean[b * D + d] += d_z[r + d];
        d_log_var[b * D + d] += d_z[r + d] * 0.5f * fast_exp(0.5f * log_var[b * D + d]) * eps[r + d];
      }
    }
  return Status::Ok();
}

Status gaussian_kl_std_normal_forward(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const float* m = mean + b * D;
    const float* lv = log_var + b * D;
    float s = 0.f;
    for (int64_t d = 0; d < D; ++d) s += fast_exp(lv[d]) + m[d] * m[d] - 1.0f - lv[d];
    kl[b] = 0.5f * s;
  }
  return Status::Ok();
}

Status gaussian_kl_std_normal_backward(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                       const float* log_var, int64_t B, int64_t D, const float* dim_scale) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t d = 0; d < D; ++d) {
      const float g = dim_scale ? d_kl[b] * dim_scale[d] : d_kl[b];
      const int64_t i = b * D + d;
      d_mean[i] += g * mean[i];
      d_log_var[i] += g * 0.5f * (fast_exp(log_var[i]) - 1.0f);
    }
  }
  return Status::Ok();
}

Status gaussian_kl_std_normal_dims_forward(float* kl_dims, const float* mean, const float* log_var, int64_t B,
                                           int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    double s = 0.0;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t i = b * D + d;
      s += 0.5 * (std::exp(static_cast<double>(log_var[i])) + static_cast<double>(mean[i]) * mean[i] - 1.0 - log_var[i]);
    }
    kl_dims[d] = static_cast<float>(s);
  }
  return Status::Ok();
}

Status std_normal_log_ratio_forward(float* ratio, const float* z, const float* eps, const float* log_var, int64_t B,
                                    int64_t D, int64_t K) {
#pragma omp parallel for schedule(static) if (B * K * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    float lv_sum = 0.f;
    for (int64_t d = 0; d < D; ++d) lv_sum += log_var[b * D + d];
    for (int64_t s = 0; s < K; ++s) {
      const int64_t r = b * K + s;
      float q = 0.f;
      for (int64_t d = 0; d < D; ++d) q += eps[r * D + d] * eps[r * D + d] - z[r * D + d] * z[r * D + d];
      ratio[r] = 0.5f * (q + lv_sum);
    }
  }
  return Status::Ok();
}

Status std_normal_log_ratio_backward(float* d_z, float* d_log_var, const float* d_ratio, const float* z, int64_t B,
                                     int64_t D, int64_t K) {
#pragma omp parallel for schedule(static) if (B * K * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    float g_sum = 0.f;
    for (int64_t s = 0; s < K; ++s) {
      const int64_t r = b * K + s;
      g_sum += d_ratio[r];
      for (int64_t d = 0; d < D; ++d) d_z[r * D + d] -= d_ratio[r] * z[r * D + d];
    }
    for (int64_t d = 0; d < D; ++d) d_log_var[b * D + d] += 0.5f * g_sum;
  }
  return Status::Ok();
}

namespace {
// log π_c = logits_c − logsumexp(logits).  log_pi: (C)
void log_softmax(double* log_pi, const float* logits, int64_t C) {
  double m = -HUGE_VAL, s = 0;
  for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(logits[c]));
  for (int64_t c = 0; c < C; ++c) s += std::exp(logits[c] - m);
  for (int64_t c = 0; c < C; ++c) log_pi[c] = logits[c] - m - std::log(s);
}
}  // namespace

Status mixture_log_ratio_forward(float* ratio, float* resp, const float* z, const float* eps, const float* log_var,
                                 const float* logits, const float* means, const float* log_vars, int64_t B, int64_t D,
                                 int64_t K, int64_t C) {
  std::vector<double> log_pi(static_cast<size_t>(C));
  log_softmax(log_pi.data(), logits, C);
#pragma omp parallel for schedule(static) if (B * K * D * C > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    double neg_log_q_const = 0;  // ½ Σ_d (lv_b + log 2π); each draw adds ½ Σ eps²
    for (int64_t d = 0; d < D; ++d) neg_log_q_const += 0.5 * (log_var[b * D + d] + kLog2Pi);
    for (int64_t s = 0; s < K; ++s) {
      const int64_t r = b * K + s;
      const float* zr = z + r * D;
      float* rr = resp + r * C;
      double m = -HUGE_VAL, eps2 = 0;
      for (int64_t c = 0; c < C; ++c) {
        double q = 0;
        for (int64_t d = 0; d < D; ++d) {
          const double lv = log_vars[c * D + d], diff = zr[d] - means[c * D + d];
          q += diff * diff * std::exp(-lv) + lv + kLog2Pi;
        }
        const double lc = log_pi[c] - 0.5 * q;
        rr[c] = static_cast<float>(lc);
        m = std::max(m, lc);
      }
      double sum = 0;
      for (int64_t c = 0; c < C; ++c) sum += std::exp(rr[c] - m);
      const double log_p = m + std::log(sum);
      for (int64_t c = 0; c < C; ++c) rr[c] = static_cast<float>(std::exp(rr[c] - log_p));
      for (int64_t d = 0; d < D; ++d) eps2 += static_cast<double>(eps[r * D + d]) * eps[r * D + d];
      ratio[r] = static_cast<float>(log_p + neg_log_q_const + 0.5 * eps2);
    }
  }
  return Status::Ok();
}

Status mixture_log_ratio_backward(float* d_z, float* d_log_var, float* d_logits, float* d_means, float* d_log_vars,
                                  const float* d_ratio, const float* resp, const float* z, const float* logits,
                                  const float* means, const float* log_vars, int64_t B, int64_t D, int64_t K,
                                  int64_t C) {
  std::vector<double> log_pi(static_cast<size_t>(C)), g_logits(static_cast<size_t>(C), 0.0);
  std::vector<double> g_means(static_cast<size_t>(C * D), 0.0), g_log_vars(static_cast<size_t>(C * D), 0.0);
  std::vector<double> inv_var(static_cast<size_t>(C * D));
  log_softmax(log_pi.data(), logits, C);
  for (int64_t i = 0; i < C * D; ++i) inv_var[i] = std::exp(-static_cast<double>(log_vars[i]));
  for (int64_t b = 0; b < B; ++b) {
    double g_sum = 0;
    for (int64_t s = 0; s < K; ++s) {
      const int64_t r = b * K + s;
      const double g = d_ratio[r];
      g_sum += g;
      const float* zr = z + r * D;
      for (int64_t c = 0; c < C; ++c) {
        const double w = g * resp[r * C + c];
        g_logits[c] += w - g * std::exp(log_pi[c]);
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = c * D + d;
          const double u = (zr[d] - means[i]) * inv_var[i];  // (z − μ) / σ²
          d_z[r * D + d] -= static_cast<float>(w * u);
          g_means[i] += w * u;
          g_log_vars[i] += w * 0.5 * ((zr[d] - means[i]) * u - 1.0);
        }
      }
    }
    for (int64_t d = 0; d < D; ++d) d_log_var[b * D + d] += static_cast<float>(0.5 * g_sum);
  }
  for (int64_t c = 0; c < C; ++c) d_logits[c] += static_cast<float>(g_logits[c]);
  for (int64_t i = 0; i < C * D; ++i) {
    d_means[i] += static_cast<float>(g_means[i]);
    d_log_vars[i] += static_cast<float>(g_log_vars[i]);
  }
  return Status::Ok();
}

Status gaussian_diag_log_density_forward(float* log_prob, const float* x, const float* mean, const float* log_var,
                                         int64_t B, int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    float s = 0.f;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      const float r = x[i] - mean[i];
      s += kLog2Pi + log_var[i] + r * r * fast_exp(-log_var[i]);
    }
    log_prob[b] = -0.5f * s;
  }
  return Status::Ok();
}

Status gaussian_diag_log_density_backward(float* d_x, float* d_mean, float* d_log_var, const float* d_log_prob,
                                          const float* x, const float* mean, const float* log_var, int64_t B,
                                          int64_t D) {
#pragma omp parallel for schedule(static) if (B * D > kElementwiseParallelMin)
  for (int64_t b = 0; b < B; ++b) {
    const float g = d_log_prob[b];
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = b * D + d;
      const float inv_var = fast_exp(-log_var[i]);
      const float r = x[i] - mean[i];
      if (d_x) d_x[i] -= g * r * inv_var;
      if (d_mean) d_mean[i] += g * r * inv_var;
      if (d_log_var) d_log_var[i] += g * 0.5f * (r * r * inv_var - 1.0f);
    }
  }
  return Status::Ok();
}

}  // namespace lk
