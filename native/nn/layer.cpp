// layer.cpp — the layer kinds of layer.h: Dense (core/dense: GEMM + bias + activation; in bf16 the input and the
// output gradient are converted once per pass into the state's bf16 buffers, which the GEMMs share, the input's also
// with a twin head), Conv2d and ConvTranspose2d (core/conv: oneDNN primitives, then the activation in one pass over
// the output), Reshape (a view).
#include "layer.h"

#include <cstring>

#include "../core/conv.h"

namespace lk {

std::string FeatureShape::str() const {
  if (!image) return "[" + std::to_string(c) + "]";
  return "[" + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]";
}

const char* layer_kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::Dense: return "dense";
    case LayerKind::Conv2d: return "conv";
    case LayerKind::ConvTranspose2d: return "convTranspose";
    case LayerKind::Reshape: return "reshape";
  }
  return "unknown";
}

namespace {

// bf16 products of a dense layer: x and d_a (the pre-activation gradient) in bf16, and the GEMMs' primitives.
// x16 is the state's own, or (`input_owner`) the one of the layer that reads the same input and converts it first.
struct DenseBf16State final : LayerState {
  Bf16Gemm gemm;
  float *x16 = nullptr, *d16 = nullptr;  // arena floats holding (rows, in) and (rows, out) bf16 values
  float* scratch = nullptr;              // backward's (core/dense.h)
  const DenseBf16State* input_owner = nullptr;
  bf16_t* x() const { return reinterpret_cast<bf16_t*>(input_owner ? input_owner->x16 : x16); }
  bf16_t* d() { return reinterpret_cast<bf16_t*>(d16); }
};

class DenseLayer final : public Layer {
 public:
  DenseLayer(const LayerSpec& s, const FeatureShape& in) : Layer(s, in, FeatureShape::vector(s.units)) {}
  std::vector<ParamDecl> params() const override {
    return {{spec_.name + ".weight", {in_.numel(), out_.c}}, {spec_.name + ".bias", {out_.c}}};
  }
  int64_t fan_in() const override { return in_.numel(); }
  std::unique_ptr<LayerState> new_state(Precision precision, ArenaPlan& arena, int64_t rows, bool grads,
                                        const LayerState* same_input) const override {
    if (precision == Precision::Fp32) return nullptr;
    std::unique_ptr<DenseBf16State> st(new DenseBf16State);
    st->input_owner = dynamic_cast<const DenseBf16State*>(same_input);
    if (!st->input_owner) arena.add(&st->x16, (checked_mul(rows, in_.numel()) + 1) / 2);
    if (grads) arena.add(&st->d16, (checked_mul(rows, out_.c) + 1) / 2);
    if (grads) arena.add(&st->scratch, dense_backward_bf16_scratch(out_.c));
    return std::unique_ptr<LayerState>(st.release());
  }
  Status forward(LayerState* state, float* y, const float* x, const ParamView& p, int64_t rows) const override {
    const int64_t I = in_.numel(), O = out_.c;
    if (!p.bf16) return dense_forward(y, x, p.f32 + w_off_, p.f32 + b_off_, rows, I, O, spec_.activation);
    DenseBf16State& st = *static_cast<DenseBf16State*>(state);
    return dense_forward_bf16(y, st.x(), st.input_owner ? nullptr : x, p.bf16 + w_off_, p.f32 + b_off_, rows, I, O,
                              spec_.activation, st.gemm);
  }
  Status backward(LayerState* state, float* d_x, float* g, float* d_y, const float* x, const float* y,
                  const ParamView& p, int64_t rows, bool accumulate_dx) const override {
    const int64_t I = in_.numel(), O = out_.c;
    if (!p.bf16)
      return dense_backward(d_x, g + w_off_, g + b_off_, d_y, x, p.f32 + w_off_, y, rows, I, O, spec_.activation,
                            accumulate_dx);
    DenseBf16State& st = *static_cast<DenseBf16State*>(state);
    return dense_backward_bf16(d_x, g + w_off_, g + b_off_, st.d(), d_y, st.x(), p.bf16 + w_off_, y, rows, I, O,
                               spec_.activation, accumulate_dx, st.gemm, st.scratch);
  }
};

struct ConvState final : LayerState {
  ConvState(const ConvGeometry& g, bool bf16) : kernel(g, bf16) {}
  ConvKernel kernel;
};

class ConvLayer final : public Layer {
 public:
  ConvLayer(const LayerSpec& s, const FeatureShape& in, const ConvGeometry& g)
      : Layer(s, in, FeatureShape{g.out_c, g.out_h(), g.out_w(), true}), g_(g) {}
  std::vector<ParamDecl> params() const override {
    const int64_t k = g_.kernel;
    // PyTorch's layouts: Conv2d (out, in, k, k); ConvTranspose2d (in, out, k, k).
    std::vector<int64_t> w = g_.transposed ? std::vector<int64_t>{g_.in_c, g_.out_c, k, k}
                                           : std::vector<int64_t>{g_.out_c, g_.in_c, k, k};
    return {{spec_.name + ".weight", w}, {spec_.name + ".bias", {g_.out_c}}};
  }
  // As PyTorch's default initialisation, which takes fan_in from the weight's second dimension.
  int64_t fan_in() const override { return (g_.transposed ? g_.out_c : g_.in_c) * g_.kernel * g_.kernel; }
  std::unique_ptr<LayerState> new_state(Precision precision, ArenaPlan&, int64_t, bool, const LayerState*) const override {
    return std::unique_ptr<LayerState>(new ConvState(g_, precision == Precision::Bf16));
  }
  bool can_block_input() const override { return ConvKernel::on_primitives(g_) && g_.in_c % 16 == 0; }
  bool can_block_output() const override { return ConvKernel::on_primitives(g_) && g_.out_c % 16 == 0; }
  void use_blocked(bool input, bool output) override {
    g_.src_blocked = g_.src_blocked || input;
    g_.dst_blocked = g_.dst_blocked || output;
  }
  Status forward(LayerState* st, float* y, const float* x, const ParamView& p, int64_t rows) const override {
    LK_RETURN_IF_ERROR(static_cast<ConvState*>(st)->kernel.forward(y, x, p.f32 + w_off_, p.f32 + b_off_, rows));
    return activation_forward(y, rows * out_.numel(), spec_.activation);
  }
  Status backward(LayerState* st, float* d_x, float* g, float* d_y, const float* x, const float* y,
                  const ParamView& p, int64_t rows, bool accumulate_dx) const override {
    LK_RETURN_IF_ERROR(activation_backward(d_y, y, rows * out_.numel(), spec_.activation));
    return static_cast<ConvState*>(st)->kernel.backward(d_x, g + w_off_, g + b_off_, d_y, x, p.f32 + w_off_, rows,
                                                        accumulate_dx);
  }

 private:
  ConvGeometry g_;
};

class ReshapeLayer final : public Layer {
 public:
  ReshapeLayer(const LayerSpec& s, const FeatureShape& in) : Layer(s, in, s.shape) {}
  bool aliases_input() const override { return true; }
  Status forward(LayerState*, float*, const float*, const ParamView&, int64_t) const override { return Status::Ok(); }
  Status backward(LayerState*, float* d_x, float*, float* d_y, const float*, const float*, const ParamView&,
                  int64_t rows, bool accumulate_dx) const override {
    if (!d_x) return Status::Ok();
    const int64_t n = rows * in_.numel();
    if (!accumulate_dx) {
      std::memcpy(d_x, d_y, sizeof(float) * n);
    } else {
      for (int64_t i = 0; i < n; ++i) d_x[i] += d_y[i];
    }
    return Status::Ok();
  }
};

}  // namespace

Status Layer::Make(const LayerSpec& s, const FeatureShape& in, std::unique_ptr<Layer>* out) {
  auto bad = [&](const std::string& why) {
    return Status::Error(Code::InvalidArgument, s.where + ": " + why + " (its input is " + in.str() + ")");
  };
  switch (s.kind) {
    case LayerKind::Dense:
      if (s.units < 1 || s.units > (1 << 24)) return bad("the width must be in [1, 16777216]");
      out->reset(new DenseLayer(s, in));
      return Status::Ok();
    case LayerKind::Conv2d:
    case LayerKind::ConvTranspose2d: {
      if (!in.image) return bad("a convolution needs an image input [channels, height, width]; reshape first");
      ConvGeometry g;
      g.in_c = in.c, g.in_h = in.h, g.in_w = in.w, g.out_c = s.units, g.kernel = s.kernel, g.stride = s.stride;
      g.padding = s.padding, g.output_padding = s.output_padding, g.transposed = s.kind == LayerKind::ConvTranspose2d;
      Status st = g.check();
      if (!st.ok()) return bad(st.message);
      out->reset(new ConvLayer(s, in, g));
      return Status::Ok();
    }
    case LayerKind::Reshape:
      if (s.shape.c < 1 || s.shape.h < 1 || s.shape.w < 1) return bad("every size of the shape must be >= 1");
      if (s.shape.numel() != in.numel())
        return bad("the shape " + s.shape.str() + " holds " + std::to_string(s.shape.numel()) + " values, not " +
                   std::to_string(in.numel()));
      out->reset(new ReshapeLayer(s, in));
      return Status::Ok();
  }
  return bad("unknown layer kind");
}

}  // namespace lk
