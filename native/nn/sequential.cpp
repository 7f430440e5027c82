// sequential.cpp — see sequential.h.
#include "sequential.h"

#include <cstring>

namespace lk {

Status Sequential::Build(const std::vector<LayerSpec>& specs, const FeatureShape& input, int64_t condition_dim,
                         const std::string& twin, std::unique_ptr<Sequential>* out) {
  if (specs.empty()) return Status::Error(Code::InvalidArgument, "a network needs at least one layer");
  std::unique_ptr<Sequential> s(new Sequential);
  s->input_ = input;
  s->condition_dim_ = condition_dim;
  FeatureShape shape = input;
  for (size_t i = 0; i < specs.size(); ++i) {
    FeatureShape in = shape;
    if (condition_dim > 0 && s->concat_at_ < 0 && specs[i].kind == LayerKind::Dense) {
      s->concat_at_ = static_cast<int64_t>(i);
      in = FeatureShape::vector(checked_add(shape.numel(), condition_dim));
    }
    std::unique_ptr<Layer> layer;
    LK_RETURN_IF_ERROR(Layer::Make(specs[i], in, &layer));
    shape = layer->out_shape();
    s->layers_.push_back(std::move(layer));
  }
  if (s->layers_.back()->aliases_input())
    return Status::Error(Code::InvalidArgument, specs.back().where + ": a network cannot end with a reshape");
  if (condition_dim > 0 && s->concat_at_ < 0)
    return Status::Error(Code::InvalidArgument, specs.front().where.substr(0, specs.front().where.find('[')) +
                                                    ": a conditional model needs a dense layer on each side (the "
                                                    "condition joins the first one)");
  if (!twin.empty()) {
    LayerSpec t = specs.back();
    t.name = twin;
    LK_RETURN_IF_ERROR(Layer::Make(t, s->layers_.back()->in_shape(), &s->twin_));
  }
  // Neighbouring convolutions exchange oneDNN's blocked layout (the network's own input and output stay NCHW); the
  // twin head reads what the last layer reads, so it joins when that input is blocked.
  for (size_t i = 0; i + 1 < s->layers_.size(); ++i) {
    Layer& a = *s->layers_[i];
    Layer& b = *s->layers_[i + 1];
    const bool last = i + 2 == s->layers_.size();
    if (!a.can_block_output() || !b.can_block_input() || (last && s->twin_ && !s->twin_->can_block_input())) continue;
    a.use_blocked(false, true);
    b.use_blocked(true, false);
    if (last && s->twin_) s->twin_->use_blocked(true, false);
  }
  *out = std::move(s);
  return Status::Ok();
}

void Sequential::declare(ParamPlan& plan) {
  auto one = [&](Layer& l) {
    const std::vector<ParamDecl> ps = l.params();
    if (ps.empty()) return;
    const int64_t w = plan.add(ps[0].name, ps[0].shape);
    const int64_t b = plan.add(ps[1].name, ps[1].shape);
    l.set_offsets(w, b);
  };
  for (auto& l : layers_) one(*l);
  if (twin_) one(*twin_);
}

void Sequential::reserve(ArenaPlan& arena, int64_t rows, bool grads, Precision precision, Run* run) const {
  const size_t n = layers_.size();
  run->y.assign(n, nullptr);
  run->dy.assign(n, nullptr);
  run->in.assign(n, nullptr);
  run->states.clear();
  for (size_t i = 0; i < n; ++i) {
    const int64_t width = layers_[i]->out_shape().numel();
    if (!layers_[i]->aliases_input()) arena.add(&run->y[i], checked_mul(rows, width));
    run->states.push_back(layers_[i]->new_state(precision, arena, rows, grads));
  }
  if (concat_at_ >= 0) {
    const int64_t w = layers_[static_cast<size_t>(concat_at_)]->in_shape().numel();
    arena.add(&run->cat, checked_mul(rows, w));
    if (grads) arena.add(&run->d_cat, checked_mul(rows, w));
  }
  if (twin_) {
    arena.add(&run->twin_y, checked_mul(rows, twin_->out_shape().numel()));
    if (grads) arena.add(&run->twin_dy, checked_mul(rows, twin_->out_shape().numel()));
    run->twin_state = twin_->new_state(precision, arena, rows, grads, run->states.back().get());
  }
  if (grads)
    for (size_t i = 0; i < n; ++i) arena.add(&run->dy[i], checked_mul(rows, layers_[i]->out_shape().numel()));
}

Status Sequential::forward(Run& run, const float* x, const float* cond, int64_t rows, int64_t repeat,
                           const ParamView& params) const {
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (static_cast<int64_t>(i) == concat_at_) {  // [h | c], example r / repeat's condition for row r
      const int64_t wa = layers_[i]->in_shape().numel() - condition_dim_, wc = condition_dim_;
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(run.cat + r * (wa + wc), in + r * wa, sizeof(float) * wa);
        std::memcpy(run.cat + r * (wa + wc) + wa, cond + (r / repeat) * wc, sizeof(float) * wc);
      }
      in = run.cat;
    }
    run.in[i] = in;
    const Layer& l = *layers_[i];
    if (l.aliases_input()) continue;  // in stays the same memory
    LK_RETURN_IF_ERROR(l.forward(run.states[i].get(), run.y[i], in, params, rows));
    if (i + 1 == layers_.size() && twin_)  // after the last layer, whose state it may share (layer.h's new_state)
      LK_RETURN_IF_ERROR(twin_->forward(run.twin_state.get(), run.twin_y, in, params, rows));
    in = run.y[i];
  }
  return Status::Ok();
}

Status Sequential::backward(Run& run, float* d_x, float* grads, const ParamView& params, int64_t rows) const {
  for (size_t i = layers_.size(); i-- > 0;) {
    const Layer& l = *layers_[i];
    const bool joins = static_cast<int64_t>(i) == concat_at_;
    float* d_before = i == 0 ? d_x : run.dy[i - 1];  // the gradient of what precedes this layer
    float* d_in = joins ? (d_before ? run.d_cat : nullptr) : d_before;
    const float* y = l.aliases_input() ? nullptr : run.y[i];
    LK_RETURN_IF_ERROR(l.backward(run.states[i].get(), d_in, grads, run.dy[i], run.in[i], y, params, rows, false));
    if (i + 1 == layers_.size() && twin_)
      LK_RETURN_IF_ERROR(twin_->backward(run.twin_state.get(), d_in, grads, run.twin_dy, run.in[i], run.twin_y, params,
                                         rows, true));
    if (joins && d_before) {  // ∂/∂h is the h block of ∂/∂[h | c]
      const int64_t wa = l.in_shape().numel() - condition_dim_, w = l.in_shape().numel();
      for (int64_t r = 0; r < rows; ++r) std::memcpy(d_before + r * wa, run.d_cat + r * w, sizeof(float) * wa);
    }
  }
  return Status::Ok();
}

}  // namespace lk
