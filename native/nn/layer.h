// layer.h — networks as data: one layer of an encoder or decoder, built from a LayerSpec that TypeScript passes in.
// Every tensor between layers is (rows, features) row-major, the features of an image row in C·H·W (NCHW) order,
// so a vector and an image of the same size are the same memory and Reshape costs nothing. A layer declares the
// parameters it owns (weight then bias; the planner gives them offsets in the model's flat buffer), runs forward
// into its own output buffer, and backward from the gradient of its output (which it may overwrite).
// Precision: in bf16, dense and convolution layers multiply bf16 inputs and bf16 weights with fp32 accumulation and
// fp32 outputs (core/gemm.h, core/conv.h); biases, activations and every gradient stay fp32.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/dense.h"
#include "../core/gemm.h"
#include "../core/status.h"
#include "plan.h"

namespace lk {

// The shape of one row: an image (c, h, w), or a vector of c features (h = w = 1, image = false).
struct FeatureShape {
  int64_t c = 0, h = 1, w = 1;
  bool image = false;
  int64_t numel() const { return c * h * w; }
  std::string str() const;  // "[1, 28, 28]" or "[784]"
  static FeatureShape vector(int64_t n) { return {n, 1, 1, false}; }
};

enum class LayerKind { Dense, Conv2d, ConvTranspose2d, Reshape };
const char* layer_kind_name(LayerKind k);  // "dense", "conv", "convTranspose", "reshape" (the spec's names)

struct LayerSpec {
  std::string name;  // the prefix of its tensors: "encoder.0", "decoder.out"
  LayerKind kind = LayerKind::Dense;
  int64_t units = 0;  // dense: output width; convolutions: output channels
  int64_t kernel = 1, stride = 1, padding = 0, output_padding = 0;
  FeatureShape shape;  // reshape: the target shape
  Activation activation = Activation::Identity;
  std::string where;  // how errors name it, e.g. "encoder[2] (conv)"
};

// The parameters a pass reads: the fp32 master buffer, and in bf16 precision its bf16 copy (the same layout,
// refreshed after every optimiser step), which the dense layers' GEMMs read.
struct ParamView {
  const float* f32 = nullptr;
  const bf16_t* bf16 = nullptr;
};

struct ParamDecl {
  std::string name;
  std::vector<int64_t> shape;
};

// A layer's execution state for one workspace (oneDNN primitives, reorders); null for layers that need none.
class LayerState {
 public:
  virtual ~LayerState() = default;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // Checks the spec against its input shape (a dense layer takes any shape, flattened; a convolution needs an
  // image; a reshape keeps the size) and builds the layer; errors name spec.where and both shapes.
  static Status Make(const LayerSpec& spec, const FeatureShape& in, std::unique_ptr<Layer>* out);

  const LayerSpec& spec() const { return spec_; }
  const FeatureShape& in_shape() const { return in_; }
  const FeatureShape& out_shape() const { return out_; }
  // Weight then bias (empty for Reshape); PyTorch's initial bound 1/√fan_in applies to both.
  virtual std::vector<ParamDecl> params() const { return {}; }
  virtual int64_t fan_in() const { return 1; }
  // Reshape: the output is the input itself (no buffer, no work forward).
  virtual bool aliases_input() const { return false; }
  // The state of one workspace of up to `rows` rows, its buffers requested from the arena (gradients' too when
  // `grads`); they exist once the arena is allocated. `same_input` (nullable) is the state of a layer of the same
  // kind that reads the same input and runs forward just before this one (a twin head's main head): what it derives
  // from the input (a dense layer's bf16 copy) is shared, not made again.
  virtual std::unique_ptr<LayerState> new_state(Precision, ArenaPlan&, int64_t rows, bool grads,
                                                const LayerState* same_input = nullptr) const {
    return nullptr;
  }
  // Channel-blocked exchange between neighbouring convolutions (core/conv.h): whether this layer can read / write
  // oneDNN's nChw16c layout, and the request to do so (before any state is made). Others only take NCHW rows.
  virtual bool can_block_input() const { return false; }
  virtual bool can_block_output() const { return false; }
  virtual void use_blocked(bool input, bool output) {}
  // The planner's offsets of weight and bias in the flat parameter buffer.
  void set_offsets(int64_t weight, int64_t bias) { w_off_ = weight, b_off_ = bias; }
  int64_t weight_offset() const { return w_off_; }
  int64_t bias_offset() const { return b_off_; }

  // y (rows, out) = layer(x (rows, in)) with the parameters in `params` (the flat buffer).
  virtual Status forward(LayerState* state, float* y, const float* x, const ParamView& params, int64_t rows) const = 0;
  // Given d_y (rows, out), overwritten with the pre-activation gradient: the layer's slices of grads (flat, like
  // params) = ∂/∂θ (written: a step's backward visits each layer once; core/dense.h says why);
  // d_x (nullable) = ∂/∂x, or += when accumulate_dx. x and y are what forward read and wrote.
  virtual Status backward(LayerState* state, float* d_x, float* grads, float* d_y, const float* x, const float* y,
                          const ParamView& params, int64_t rows, bool accumulate_dx) const = 0;

 protected:
  Layer(const LayerSpec& spec, const FeatureShape& in, const FeatureShape& out) : spec_(spec), in_(in), out_(out) {}
  LayerSpec spec_;
  FeatureShape in_, out_;
  int64_t w_off_ = -1, b_off_ = -1;
};

}  // namespace lk
