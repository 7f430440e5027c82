// gaussian.h — diagonal-Gaussian kernels, forward/backward pairs. Rows are examples (B), columns latent dims (D);
// every buffer is row-major (B, D) unless noted. Variance is always carried as log_var. Backward kernels accumulate.
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

// K draws per row: z[b·K + s] = mean[b] + exp(0.5 * log_var[b]) * eps[b·K + s].
// z, eps: (B·K, D); mean, log_var: (B, D). K = 1 is the plain elementwise form.
Status gaussian_reparameterize_forward(float* z, const float* mean, const float* log_var, const float* eps, int64_t B,
                                       int64_t D, int64_t K = 1);
// d_mean[b] += Σ_s d_z[b·K + s];  d_log_var[b] += Σ_s d_z · 0.5 · exp(0.5 · log_var[b]) · eps.  shapes as above
Status gaussian_reparameterize_backward(float* d_mean, float* d_log_var, const float* d_z, const float* log_var,
                                        const float* eps, int64_t B, int64_t D, int64_t K = 1);

// kl[b] = KL(N(mean_b, diag exp(log_var_b)) || N(0, I)) = 0.5 Σ_d (exp(lv) + mean² − 1 − lv).
// kl: (B); mean, log_var: (B, D)
Status gaussian_kl_std_normal_forward(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D);
// d_mean += d_kl[b] · s_d · mean;  d_log_var += d_kl[b] · s_d · 0.5 · (exp(lv) − 1), with s_d = dim_scale[d] or 1
// when dim_scale is null (free bits zero the dimensions under their floor).  d_kl: (B); dim_scale: (D); others: (B, D)
Status gaussian_kl_std_normal_backward(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                       const float* log_var, int64_t B, int64_t D, const float* dim_scale = nullptr);
// The KL summed over rows, per dimension: kl_dims[d] = Σ_b 0.5 (exp(lv) + mean² − 1 − lv) (accumulated in double).
// kl_dims: (D); mean, log_var: (B, D)
Status gaussian_kl_std_normal_dims_forward(float* kl_dims, const float* mean, const float* log_var, int64_t B,
                                           int64_t D);

// The Monte-Carlo KL integrand's negative at reparameterised draws: ratio[r] = log N(z_r; 0, I) − log q(z_r | x_b)
// = Σ_d (−z²/2 + eps²/2 + log_var_b/2), for r = b·K + s and z = mean + σ·eps (the eps form of log q is exact).
// ratio: (B·K); z, eps: (B·K, D); log_var: (B, D)
Status std_normal_log_ratio_forward(float* ratio, const float* z, const float* eps, const float* log_var, int64_t B,
                                    int64_t D, int64_t K);
// The total derivative along z = mean + σ·eps (log q's μ-dependence cancels):  d_z[r] −= d_ratio[r] · z[r];
// d_log_var[b] += 0.5 Σ_s d_ratio[b·K + s].  d_z: (B·K, D); d_log_var: (B, D); d_ratio: (B·K)
Status std_normal_log_ratio_backward(float* d_z, float* d_log_var, const float* d_ratio, const float* z, int64_t B,
                                     int64_t D, int64_t K);

// The same ratio for a learned mixture-of-Gaussians prior p(z) = Σ_c π_c N(z; μ_c, diag exp(lv_c)), π = softmax(logits):
// ratio[r] = log p(z_r) − log q(z_r | x_b), with the prior's responsibilities resp[r, c] = π_c N(z_r; c) / p(z_r)
// saved for the backward.  ratio: (B·K); resp: (B·K, C); z, eps: (B·K, D); log_var: (B, D); logits: (C);
// means, log_vars: (C, D)
Status mixture_log_ratio_forward(float* ratio, float* resp, const float* z, const float* eps, const float* log_var,
                                 const float* logits, const float* means, const float* log_vars, int64_t B, int64_t D,
                                 int64_t K, int64_t C);
// The total derivative along z = mean + σ·eps, and the prior's own gradients:
//   d_z[r] += d_ratio[r] · Σ_c resp · (μ_c − z) / σ_c²;  d_log_var[b] += 0.5 Σ_s d_ratio[b·K + s];
//   d_logits[c] += Σ_r d_ratio · (resp − π_c);  d_means[c] += Σ_r d_ratio · resp · (z − μ_c) / σ_c²;
//   d_log_vars[c] += Σ_r d_ratio · resp · 0.5 ((z − μ_c)² / σ_c² − 1).  (Rows reduce serially: a fixed sum order.)
Status mixture_log_ratio_backward(float* d_z, float* d_log_var, float* d_logits, float* d_means, float* d_log_vars,
                                  const float* d_ratio, const float* resp, const float* z, const float* logits,
                                  const float* means, const float* log_vars, int64_t B, int64_t D, int64_t K,
                                  int64_t C);

// log_prob[b] = Σ_d log N(x_bd; mean_bd, exp(lv_bd)).  log_prob: (B); x, mean, log_var: (B, D)
Status gaussian_diag_log_density_forward(float* log_prob, const float* x, const float* mean, const float* log_var,
                                         int64_t B, int64_t D);
// Gradients of the above; any of d_x, d_mean, d_log_var may be null.  d_log_prob: (B); others: (B, D)
Status gaussian_diag_log_density_backward(float* d_x, float* d_mean, float* d_log_var, const float* d_log_prob,
                                          const float* x, const float* mean, const float* log_var, int64_t B,
                                          int64_t D);

}  // namespace lk
