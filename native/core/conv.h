// conv.h — 2-D convolution and transposed convolution through oneDNN's convolution / deconvolution primitives (the
// one file that calls them). Tensors are NCHW at this interface, one image per row: x (rows, in_c, in_h, in_w),
// y (rows, out_c, out_h, out_w); weights in PyTorch's (and ONNX's) layout — convolution (out_c, in_c, k, k),
// transposed convolution (in_c, out_c, k, k); bias (out_c). Inside, every primitive is created with
// format_tag::any, so oneDNN picks its jit kernels and blocked layouts (on plain nchw / oihw layouts the
// deconvolution falls to oneDNN's reference kernel); the reorders between the plain and the chosen layouts are
// created once per row count and cached with the primitives. One exception, measured: a transposed convolution to
// fewer than 16 channels (an image decoder's last layer) runs 10–15× slower in oneDNN 2.6's deconvolution kernels
// (they vectorise over output channels: 5.5 ms for 32 → 1 channels, 14 → 28, batch 128, one thread) than as
// GEMMs through gemm.h with an im2col / col2im pass (0.3 ms of GEMM), so that case takes the GEMM path.
// bf16: the primitives take bf16 inputs, weights and output gradients (converted by the same cached reorders that
// change layout, one pass each) and give fp32 outputs, input gradients, weight and bias gradients; the GEMM path
// stays fp32.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "status.h"

namespace lk {

struct ConvGeometry {
  int64_t in_c = 0, in_h = 0, in_w = 0, out_c = 0, kernel = 1, stride = 1, padding = 0, output_padding = 0;
  bool transposed = false;
  // The layout of x (src) and y (dst) at this interface: NCHW, or oneDNN's channel-blocked nChw16c (the layout its
  // jit kernels compute in; same size when channels are a multiple of 16) — between two convolutions the blocked
  // layout saves a reorder on each side of every pass.
  bool src_blocked = false, dst_blocked = false;
  // Output size: convolution ⌊(in + 2p − k) / s⌋ + 1; transposed (in − 1)·s − 2p + k + output_padding.
  int64_t out_h() const;
  int64_t out_w() const;
  int64_t weight_count() const { return out_c * in_c * kernel * kernel; }
  // Checks the sizes (positive, kernel within the padded input, output_padding < stride); names the problem.
  Status check() const;
};

// The executable state of one convolution for one caller (a workspace): primitives, reorders, internal buffers and
// a scratchpad for each row count it has been run with. Not shared between threads; creating it allocates nothing.
class ConvKernel {
 public:
  explicit ConvKernel(const ConvGeometry& g, bool bf16 = false);
  ~ConvKernel();
  ConvKernel(const ConvKernel&) = delete;
  // Whether this geometry runs on oneDNN's primitives (and so can exchange blocked layouts), not the GEMM path.
  static bool on_primitives(const ConvGeometry& g) { return !(g.transposed && g.out_c < 16); }
  ConvKernel& operator=(const ConvKernel&) = delete;

  // y = conv(x, w) + b.  y: (rows, out_c, out_h, out_w); x: (rows, in_c, in_h, in_w)
  Status forward(float* y, const float* x, const float* w, const float* b, int64_t rows);
  // d_w = ∂/∂w, d_b = ∂/∂b of Σ d_y ⊙ y (written, as dense.h's weight gradients); d_x (nullable) = ∂/∂x, or += when
  // accumulate_dx.
  Status backward(float* d_x, float* d_w, float* d_b, const float* d_y, const float* x, const float* w, int64_t rows,
                  bool accumulate_dx);
  // For benchmarks: executes the primitives alone (forward, backward weights and, with input_grad, backward data)
  // on their own layouts, no reorders: `passes` times after `warmup`, each pass's seconds into seconds[].
  Status time_primitives(int64_t rows, bool input_grad, int64_t warmup, int64_t passes, double* seconds);

 private:
  struct Plan;
  Status plan_for(int64_t rows, Plan** out);
  // The GEMM path of thin transposed convolutions, image by image: columns (out_c·k·k, H·W) = Wᵀ·x_n → col2im into
  // y_n; backward: im2col of d_y_n, d_W += x_n·columnsᵀ, d_x_n = W·columns.
  bool gemm_path() const { return !on_primitives(g_); }
  Status gemm_forward(float* y, const float* x, const float* w, const float* b, int64_t rows);
  Status gemm_backward(float* d_x, float* d_w, float* d_b, const float* d_y, const float* x, const float* w,
                       int64_t rows, bool accumulate_dx);
  ConvGeometry g_;
  bool bf16_;
  std::map<int64_t, std::unique_ptr<Plan>> plans_;
  std::vector<float> columns_;  // the GEMM path's (out_c·k·k, H·W) columns of one image
};

}  // namespace lk
