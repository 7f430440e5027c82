// sequential.h — an encoder or decoder network: layers applied in order to rows of `input` shape, optionally
// with a condition c (rows of condition_dim) joined to the input of the first dense layer as [h | c], and optionally
// a twin head — a second layer of the last layer's kind and shape under another name, reading the same input (the
// encoder's log-variance beside its mean; a decoder's σ(z) or dropout head beside its output).
// Shapes: x (R, input.numel()); outputs (R, output().numel()); cond (R / repeat, condition_dim): row r of the
// network uses condition row r / repeat (K draws of one example share its condition).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layer.h"
#include "plan.h"

namespace lk {

class Sequential {
 public:
  // Builds every layer, checking that the shapes chain; `twin` names the twin head ("" for none).
  static Status Build(const std::vector<LayerSpec>& specs, const FeatureShape& input, int64_t condition_dim,
                      const std::string& twin, std::unique_ptr<Sequential>* out);

  // Declares every parameter (layers in order, then the twin) into the plan and records the offsets.
  void declare(ParamPlan& plan);
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const Layer* twin() const { return twin_.get(); }
  const FeatureShape& input() const { return input_; }
  const FeatureShape& output() const { return layers_.back()->out_shape(); }

  // The buffers and layer states of one workspace of up to `rows` rows.
  struct Run {
    std::vector<float*> y, dy;        // per layer; y is null for a reshape (it reads its input)
    std::vector<const float*> in;     // what each layer read in the last forward
    float *cat = nullptr, *d_cat = nullptr;          // [h | c] and its gradient
    float *twin_y = nullptr, *twin_dy = nullptr;
    std::vector<std::unique_ptr<LayerState>> states;
    std::unique_ptr<LayerState> twin_state;
    const float* out() const { return y.back(); }
    float* d_out() const { return dy.back(); }  // the head's gradient: the caller zeroes and accumulates into it
  };
  // Requests the run's buffers from the arena (gradients too when `grads`); they exist once it is allocated. The
  // layers compute in `precision` (layer.h).
  void reserve(ArenaPlan& arena, int64_t rows, bool grads, Precision precision, Run* run) const;

  Status forward(Run& run, const float* x, const float* cond, int64_t rows, int64_t repeat,
                 const ParamView& params) const;
  // From run.d_out() (and run.twin_dy): grads += ∂/∂θ; d_x (nullable) = ∂/∂x.
  Status backward(Run& run, float* d_x, float* grads, const ParamView& params, int64_t rows) const;

 private:
  FeatureShape input_;
  int64_t condition_dim_ = 0;
  int64_t concat_at_ = -1;  // the layer that reads [h | c]
  std::vector<std::unique_ptr<Layer>> layers_;
  std::unique_ptr<Layer> twin_;
};

}  // namespace lk
