// optim.h — Adam / AdamW over one flat parameter buffer (params, grads and both moments share one layout).
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

struct AdamHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.f;  // decoupled (AdamW, Loshchilov & Hutter 2019): p −= lr·wd·p
};

// One Adam step number `step` (1-based, for bias correction) on the gradient grad · grad_scale (1: as it is; a
// gradient-norm clip passes its factor). Reads grad and, if zero_grad, clears it in the same pass (the one zero-fill
// per training step); params16 (nullable) receives the updated parameters in bf16 in that pass too (the bf16 shadow
// of mixed-precision training).  params, m, v, grad, params16: (n)
Status adam_step(float* params, float* m, float* v, float* grad, int64_t n, const AdamHyper& h, int64_t step,
                 bool zero_grad, uint16_t* params16, float grad_scale = 1.f);

// Σ g_i² in float64, the same bits at any thread count (fixed chunks summed in order).  g: (n)
double squared_norm(const float* g, int64_t n);

}  // namespace lk
