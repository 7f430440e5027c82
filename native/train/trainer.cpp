// trainer.cpp — see trainer.h.
#include "trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../core/memory.h"
#include "../core/rng.h"
#include "../models/vae_workspace.h"

namespace lk {

VaeTrainer::VaeTrainer(VaeModel* model, const TrainOptions& options, int64_t rows)
    : model_(model), options_(options), rows_(rows) {}
VaeTrainer::~VaeTrainer() = default;

Status VaeTrainer::Create(VaeModel* model, std::shared_ptr<const RowSource> data, const float* cond,
                          const TrainOptions& options, std::unique_ptr<VaeTrainer>* out) {
  const VaeConfig& c = model->config();
  const int64_t local = data->rows();
  LK_RETURN_IF_ERROR(model->check_width(*data));
  LK_RETURN_IF_ERROR(model->check_condition(cond, local));
  if (local < 1) return Status::Error(Code::InvalidArgument, "the training set is empty");
  if (options.batch_size < 1) return Status::Error(Code::InvalidArgument, "batchSize must be >= 1");
  if (options.shuffle_block_rows < 0) return Status::Error(Code::InvalidArgument, "shuffleBlockRows must be >= 0");
  LK_RETURN_IF_ERROR(check_step(options.step));
  if (c.prior_components > 0 && options.step.free_bits > 0.f)
    return Status::Error(Code::InvalidArgument, "freeBits needs prior 'normal' (a closed-form KL per dimension)");
  const bool sharded = options.comm && options.sharded;
  if (sharded && options.shuffle_block_rows > 0)  // a batch from one block would lie in one rank's shard
    return Status::Error(Code::InvalidArgument, "shuffle 'blocks' with sharded data: each batch would come from one "
                                                "rank's shard, leaving the others idle; use shuffle 'global'");
  Shard shard{options.comm, 0, local};
  if (sharded) LK_RETURN_IF_ERROR(make_shard(options.comm, local, &shard));  // (a collective)
  const int64_t rows = shard.total, batch = std::min(options.batch_size, rows);
  // The conditions, the gradient and Adam's two moments, the orders and a rank's part of a batch (the workspace
  // checks its own size).
  const int64_t N = model->num_params(), Q = c.condition_dim;
  const int64_t floats = checked_add(checked_product({local, Q}), checked_mul(3, N));
  reserve_bytes(checked_add(floats, checked_add(checked_mul(4, rows), checked_mul(4, batch))), sizeof(float),
                "the training state");
  std::unique_ptr<VaeTrainer> t(new VaeTrainer(model, options, rows));
  t->shard_ = shard;
  t->data_ = std::move(data);
  if (Q > 0) t->cond_.assign(cond, cond + local * Q);
  if (options.precision == Precision::Bf16) t->params16_.resize(static_cast<size_t>(N));
  t->workspace_.reset(new VaeWorkspace(*model, batch, options.step.samples, true, VaeWorkspace::shadow(t->params16_)));
  t->grad_.assign(static_cast<size_t>(N), 0.f);
  t->adam_m_.assign(static_cast<size_t>(N), 0.f);
  t->adam_v_.assign(static_cast<size_t>(N), 0.f);
  t->perm_.resize(static_cast<size_t>(rows));
  t->inner_perm_.resize(static_cast<size_t>(rows));
  if (options.comm) {
    t->part_rows_.reserve(static_cast<size_t>(batch));
    t->part_positions_.reserve(static_cast<size_t>(batch));
  }
  // The encoder group, then the generative model's (decoder, likelihood, prior): contiguous, in that order.
  const ParamGroup enc = model->group("encoder");
  t->encoder_ = {enc.begin, enc.end, 0};
  t->generative_ = {enc.end, N, 0};
  *out = std::move(t);
  return Status::Ok();
}

int64_t VaeTrainer::steps_per_epoch() const {
  const int64_t bs = workspace_->capacity;
  return (rows_ + bs - 1) / bs;
}

Status VaeTrainer::gather(const int64_t* idx, const int64_t* positions, int64_t B, uint64_t binarize_step) {
  const int64_t D = model_->config().input_dim, Q = model_->config().condition_dim;
  VaeWorkspace& ws = *workspace_;
  LK_RETURN_IF_ERROR(data_->gather(ws.x, idx, B));
  for (int64_t b = 0; b < B && Q > 0; ++b) std::memcpy(ws.cond + b * Q, cond_.data() + idx[b] * Q, sizeof(float) * Q);
  if (options_.binarize)
    return rng_binarize_rows_in_place(ws.x, ws.probs, positions, B, D, options_.seed,
                                      rng_stream(RngPurpose::Binarize, binarize_step));
  return Status::Ok();
}

namespace {
// Draws for inner (encoder-only) steps come from streams numbered past any outer step.
constexpr uint64_t kInnerStreams = uint64_t(1) << 40;
}  // namespace

Status VaeTrainer::batch_step(const int64_t* order, int64_t B, uint64_t stream, float kl_weight, float lr,
                              Part part, EpochResult* sums) {
  Communicator* c = options_.comm;
  if (!c) return step(order, nullptr, B, B, stream, kl_weight, lr, part, sums);
  part_rows_.clear();
  part_positions_.clear();
  if (options_.sharded) {  // the batch's rows that lie in this rank's shard
    const int64_t lo = shard_.offset, hi = lo + data_->rows();
    for (int64_t j = 0; j < B; ++j)
      if (order[j] >= lo && order[j] < hi) {
        part_rows_.push_back(order[j] - lo);
        part_positions_.push_back(j);
      }
  } else {  // every rank holds the set: rank r takes positions [⌊B r / n⌋, ⌊B (r + 1) / n⌋)
    for (int64_t j = B * c->rank() / c->size(); j < B * (c->rank() + 1) / c->size(); ++j) {
      part_rows_.push_back(order[j]);
      part_positions_.push_back(j);
    }
  }
  return step(part_rows_.data(), part_positions_.data(), static_cast<int64_t>(part_rows_.size()), B, stream,
              kl_weight, lr, part, sums);
}

Status VaeTrainer::step(const int64_t* rows, const int64_t* positions, int64_t b, int64_t B, uint64_t stream,
                        float kl_weight, float lr, Part part, EpochResult* sums) {
  StepOptions st = options_.step;
  st.kl_weight = kl_weight;
  VaeWorkspace& ws = *workspace_;
  Communicator* c = options_.comm;
  ObjectiveResult batch;
  BatchShare share;
  share.positions = positions;
  share.batch_rows = B;
  // Free bits' floor is on the whole batch's mean KL per dimension: every rank sums its rows' into the others' once
  // per step, also a rank that holds none of the batch or failed before it got there.
  bool dims_reduced = false;
  if (c && st.free_bits > 0.f)
    share.reduce_kl_dims = [&](float* kl_dims, int64_t n) {
      dims_reduced = true;
      return c->all_reduce_sum(kl_dims, n);
    };
  Status local;
  if (cancel_ && cancel_->load()) {
    local = Status::Error(Code::Cancelled, "training was cancelled");
    if (!c) return local;
  } else if (b > 0) {  // (a rank may have no row of a batch)
    local = gather(rows, positions, b, stream);
    if (local.ok())
      local = model_->forward_backward(ws, ws.x, model_->config().condition_dim > 0 ? ws.cond : nullptr, b,
                                       options_.seed, rng_stream(RngPurpose::Eps, stream), st, grad_.data(), &batch,
                                       share);
  }
  if (share.reduce_kl_dims && !dims_reduced) {
    std::vector<float> none(static_cast<size_t>(model_->config().latent_dim), 0.f);
    LK_RETURN_IF_ERROR(share.reduce_kl_dims(none.data(), static_cast<int64_t>(none.size())));
  }
  double batch_sums[4] = {batch.loss, batch.reconstruction, batch.kl, local.ok() ? 0.0 : 1.0};
  if (c) {
    // The loss sums next, with how many ranks failed: a failure stops every rank at this step (none is left
    // waiting in a collective), the failed rank with its own error.
    LK_RETURN_IF_ERROR(c->all_reduce_sum(batch_sums, 4));
    if (!local.ok()) {
      local.message += " (on rank " + std::to_string(c->rank()) + ")";
      return local;
    }
    if (batch_sums[3] > 0)
      return Status::Error(Code::Distributed, "distributed training: " + std::to_string(static_cast<int>(batch_sums[3])) +
                                                  " other rank(s) failed or were cancelled at this step (their error "
                                                  "is theirs to report); training stopped on every rank");
    // The gradient of the whole batch's mean: each rank's mean weighted by its share b / B, summed over the ranks.
    const float share_of_batch = static_cast<float>(static_cast<double>(b) / static_cast<double>(B));
    float* g = grad_.data();
    const int64_t n = model_->num_params();
    for (int64_t i = 0; i < n; ++i) g[i] *= share_of_batch;
    LK_RETURN_IF_ERROR(c->all_reduce_sum(g, n));
  }
  LK_RETURN_IF_ERROR(local);
  sums->loss_sum += batch_sums[0];
  sums->reconstruction_sum += batch_sums[1];
  sums->kl_sum += batch_sums[2];
  return apply_gradient(part, lr, sums);
}

Status VaeTrainer::apply_gradient(Part part, float lr, EpochResult* sums) {
  float *p = model_->params(), *g = grad_.data(), *m = adam_m_.data(), *v = adam_v_.data();
  auto updates = [&](const Group* grp) { return part == Part::All || (part == Part::Encoder) == (grp == &encoder_); };
  float scale = 1.f;
  if (options_.clip_grad_norm > 0.f) {
    double sq = 0.0;
    for (const Group* grp : {&encoder_, &generative_})
      if (updates(grp)) sq += squared_norm(g + grp->begin, grp->end - grp->begin);
    const double norm = std::sqrt(sq);
    sums->grad_norm_max = std::max(sums->grad_norm_max, norm);
    if (norm > options_.clip_grad_norm) {
      scale = static_cast<float>(options_.clip_grad_norm / (norm + 1e-6));
      sums->clipped_steps += 1;
    }
  }
  AdamHyper h = options_.adam;
  h.lr = lr;
  // adam_step also clears the gradient: the one zero-fill of the parameter gradient per step.
  for (Group* grp : {&encoder_, &generative_}) {
    const int64_t b = grp->begin, n = grp->end - grp->begin;
    if (!updates(grp))
      std::memset(g + b, 0, sizeof(float) * n);
    else
      LK_RETURN_IF_ERROR(adam_step(p + b, m + b, v + b, g + b, n, h, ++grp->adam_steps, true,
                                   params16_.empty() ? nullptr : params16_.data() + b, scale));
  }
  return Status::Ok();
}

Status VaeTrainer::order_epoch(int64_t epoch) {
  const int64_t N = rows_, block = options_.shuffle_block_rows;
  const uint64_t e = static_cast<uint64_t>(epoch);
  block_order_.clear();
  if (block <= 0 || block >= N) return rng_permutation(perm_.data(), N, options_.seed, rng_stream(RngPurpose::Permutation, e));
  const int64_t blocks = (N + block - 1) / block;
  block_order_.resize(static_cast<size_t>(blocks));
  block_end_.resize(static_cast<size_t>(blocks));
  blocks_ahead_ = 0;
  LK_RETURN_IF_ERROR(rng_block_permutation(perm_.data(), block_order_.data(), N, block, options_.seed,
                                           rng_stream(RngPurpose::BlockOrder, e), rng_stream(RngPurpose::BlockRows, e)));
  for (int64_t k = 0, end = 0; k < blocks; ++k) {  // where each block of the order ends in perm_
    end += std::min(block, N - block_order_[static_cast<size_t>(k)] * block);
    block_end_[static_cast<size_t>(k)] = end;
  }
  return Status::Ok();
}

void VaeTrainer::read_ahead(int64_t p0, int64_t B) {
  const int64_t blocks = static_cast<int64_t>(block_order_.size()), block = options_.shuffle_block_rows;
  // Blocks asked for so far: through the one after the block that the batch ends in.
  while (blocks_ahead_ < blocks && (blocks_ahead_ < 2 || block_end_[static_cast<size_t>(blocks_ahead_ - 2)] < p0 + B)) {
    const int64_t r0 = block_order_[static_cast<size_t>(blocks_ahead_)] * block;
    data_->will_need(r0, std::min(rows_, r0 + block));
    ++blocks_ahead_;
  }
}

Status VaeTrainer::shuffle_inner() {
  return rng_permutation(inner_perm_.data(), rows_, options_.seed,
                         rng_stream(RngPurpose::Permutation, kInnerStreams + inner_shuffles_++));
}

TrainingState VaeTrainer::state() const {
  TrainingState s;
  s.adam_m = adam_m_;
  s.adam_v = adam_v_;
  s.encoder_adam_steps = encoder_.adam_steps;
  s.generative_adam_steps = generative_.adam_steps;
  s.inner_cursor = inner_cursor_;
  s.inner_shuffles = inner_shuffles_;
  s.inner_steps = inner_steps_;
  return s;
}

Status VaeTrainer::restore(const TrainingState& s) {
  const size_t N = static_cast<size_t>(model_->num_params());
  if (s.adam_m.size() != N || s.adam_v.size() != N)
    return Status::Error(Code::InvalidArgument, "the optimiser state has " + std::to_string(s.adam_m.size()) +
                                                    " moments for a model of " + std::to_string(N) + " parameters");
  if (s.encoder_adam_steps < 0 || s.generative_adam_steps < 0 || s.inner_shuffles < 0 || s.inner_steps < 0 ||
      s.inner_cursor < 0 || s.inner_cursor > rows_ || (s.inner_shuffles == 0 && s.inner_cursor != 0))
    return Status::Error(Code::InvalidArgument, "the training state's step counts are inconsistent");
  adam_m_ = s.adam_m;
  adam_v_ = s.adam_v;
  encoder_.adam_steps = s.encoder_adam_steps;
  generative_.adam_steps = s.generative_adam_steps;
  inner_steps_ = s.inner_steps;
  // The inner pass in use is the permutation of the last shuffle: drawn again from its stream.
  inner_shuffles_ = s.inner_shuffles > 0 ? s.inner_shuffles - 1 : 0;
  if (s.inner_shuffles > 0) LK_RETURN_IF_ERROR(shuffle_inner());
  inner_cursor_ = s.inner_cursor;
  return Status::Ok();
}

Status VaeTrainer::train_epoch(int64_t epoch, const float* kl_weights, const float* learning_rates, bool aggressive,
                               EpochResult* result, const std::atomic<bool>* cancel, const ProgressFn& progress) {
  const int64_t N = rows_, bs = workspace_->capacity;
  const int64_t steps = steps_per_epoch();
  cancel_ = cancel;  // checked by each step (distributed: by every rank at once, trainer.h)
  const bool solo = !options_.comm;
  if (!prepared_) {  // a mapped file that fits in memory is mapped whole before the first shuffled pass
    data_->prepare();
    prepared_ = true;
  }
  if (options_.comm && !synced_) {  // every rank starts from rank 0's parameters
    LK_RETURN_IF_ERROR(options_.comm->broadcast(model_->params(), model_->num_params() * static_cast<int64_t>(sizeof(float)), 0));
    synced_ = true;
  }
  LK_RETURN_IF_ERROR(order_epoch(epoch));
  *result = EpochResult{};
  // The shadow starts each epoch from the master weights (they may have been set between epochs); Adam keeps it.
  if (!params16_.empty()) to_bf16(params16_.data(), model_->params(), model_->num_params());
  auto annotate = [&](Status st, int64_t s) {
    if (st.code == Code::NonFiniteLoss)
      st.message += " at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(s + 1) + " of " +
                    std::to_string(steps) + "; parameters were left as they were before that step";
    return st;
  };
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t r0 = s * bs, B = std::min(bs, N - r0);
    const int64_t global_step = epoch * steps + s;
    const float w = kl_weights ? kl_weights[s] : options_.step.kl_weight;
    const float lr = learning_rates ? learning_rates[s] : options_.adam.lr;
    if (aggressive) {
      double previous = HUGE_VAL, window = 0.0;
      int64_t window_rows = 0;
      for (int64_t i = 1; i <= 100; ++i) {
        if (solo && cancel && cancel->load()) return Status::Error(Code::Cancelled, "training was cancelled");
        if (inner_shuffles_ == 0 || inner_cursor_ + bs > N) {  // (re)shuffle the inner pass
          LK_RETURN_IF_ERROR(shuffle_inner());
          inner_cursor_ = 0;
        }
        const uint64_t inner = kInnerStreams + static_cast<uint64_t>(inner_steps_++);
        EpochResult inner_sums;
        inner_sums.grad_norm_max = result->grad_norm_max;
        Status st = batch_step(inner_perm_.data() + inner_cursor_, bs, inner, w, lr, Part::Encoder, &inner_sums);  // bs ≤ N: full batches
        inner_cursor_ += bs;
        if (!st.ok()) return annotate(st, s);
        result->encoder_steps += 1;
        result->clipped_steps += inner_sums.clipped_steps;
        result->grad_norm_max = inner_sums.grad_norm_max;
        window += inner_sums.loss_sum;
        window_rows += bs;
        if (i % 10 == 0) {  // stop once the mean loss of the last 10 inner steps no longer falls
          const double current = window / static_cast<double>(window_rows);
          if (current >= previous) break;
          previous = current;
          window = 0.0;
          window_rows = 0;
        }
      }
    }
    if (solo && cancel && cancel->load()) return Status::Error(Code::Cancelled, "training was cancelled");
    read_ahead(r0, B);
    Status st = batch_step(perm_.data() + r0, B, static_cast<uint64_t>(global_step), w, lr,
                           aggressive ? Part::Decoder : Part::All, result);
    if (!st.ok()) return annotate(st, s);
    result->examples += B;
    result->steps += 1;
    if (progress) progress(result->steps, result->examples, result->loss_sum);
  }
  return Status::Ok();
}

}  // namespace lk
