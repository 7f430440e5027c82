// gaussian.h — diagonal-Gaussian kernels, forward/backward pairs. Rows are examples (B), columns latent dims (D);
// every buffer is row-major (B, D) unless noted. Variance is always carried as log_var. Backward kernels accumulate.
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

// z = mean + exp(0.5 * log_var) * eps.  z, mean, log_var, eps: (B, D)
Status gaussian_reparameterize_forward(float* z, const float* mean, const float* log_var, const float* eps, int64_t B,
                                       int64_t D);
// d_mean += d_z;  d_log_var += d_z * 0.5 * exp(0.5 * log_var) * eps.  all: (B, D)
Status gaussian_reparameterize_backward(float* d_mean, float* d_log_var, const float* d_z, const float* log_var,
                                        const float* eps, int64_t B, int64_t D);

// kl[b] = KL(N(mean_b, diag exp(log_var_b)) || N(0, I)) = 0.5 Σ_d (exp(lv) + mean² − 1 − lv).
// kl: (B); mean, log_var: (B, D)
Status gaussian_kl_std_normal_forward(float* kl, const float* mean, const float* log_var, int64_t B, int64_t D);
// d_mean += d_kl[b] * mean;  d_log_var += d_kl[b] * 0.5 * (exp(lv) − 1).  d_kl: (B); others: (B, D)
Status gaussian_kl_std_normal_backward(float* d_mean, float* d_log_var, const float* d_kl, const float* mean,
                                       const float* log_var, int64_t B, int64_t D);

// log_prob[b] = Σ_d log N(x_bd; mean_bd, exp(lv_bd)).  log_prob: (B); x, mean, log_var: (B, D)
Status gaussian_diag_log_density_forward(float* log_prob, const float* x, const float* mean, const float* log_var,
                                         int64_t B, int64_t D);
// Gradients of the above; any of d_x, d_mean, d_log_var may be null.  d_log_prob: (B); others: (B, D)
Status gaussian_diag_log_density_backward(float* d_x, float* d_mean, float* d_log_var, const float* d_log_prob,
                                          const float* x, const float* mean, const float* log_var, int64_t B,
                                          int64_t D);

}  // namespace lk
