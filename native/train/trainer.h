// trainer.h — the training plan (scvi-tools' TrainingPlan), separate from the model it trains: the data (a row source,
// data/source.h: in memory or mapped, dense, bytes or sparse), the seeded order of each epoch (a global permutation, or
// a block shuffle for data read from disk) and batch gathering (with dynamic binarisation), the KL weight of each step, Adam's state per
// parameter group (the encoder's, and the generative model's: decoder, likelihood, prior), and the aggressive
// inference-network controller (He et al. 2019). Each step calls the model's forward_backward into the flat
// gradient; apply_gradient is the one place between backward and the optimiser (the gradient-norm clip is there, and
// a gradient all-reduce across processes plugs in there). The learning rate of each step comes from the caller (a
// schedule), else the options'. TrainingState is everything a resumed run needs beyond the parameters and the epoch
// number (every random stream is numbered by epoch and step). Shapes: data (rows, input_dim), cond (rows,
// condition_dim), rows being this process's (a shard's under sharded data-parallel training).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "../core/optim.h"
#include "../distributed/communicator.h"
#include "../distributed/shard.h"
#include "../data/source.h"
#include "../models/vae.h"

namespace lk {

struct TrainOptions {
  int64_t batch_size = 128;
  AdamHyper adam;
  bool binarize = false;
  uint64_t seed = 0;
  StepOptions step;  // kl_weight is the default when an epoch is given no per-step weights
  // bf16: mixed precision — fp32 master weights and Adam state, bf16 products (nn/layer.h) reading a bf16 shadow of
  // the parameters that each Adam step rewrites in its own pass.
  Precision precision = Precision::Fp32;
  // > 0: a block shuffle — the order of the blocks of this many consecutive rows is shuffled, and the order of the
  // rows within each block, so that an epoch reads a file in runs of a block (read ahead one block); 0: a global
  // permutation.
  int64_t shuffle_block_rows = 0;
  // > 0: each update's gradient is scaled by min(1, c / (‖g‖₂ + 1e-6)), ‖g‖₂ over the groups it updates (PyTorch's
  // clip_grad_norm_).
  float clip_grad_norm = 0.f;
  // Data-parallel training (distributed/communicator.h); null: one process. Every rank follows the same seeded order
  // of the whole set's rows, and takes a part of each batch: with the whole set on every rank (sharded false), rank
  // r of n takes batch positions [⌊B r / n⌋, ⌊B (r + 1) / n⌋); with sharded, each rank holds its shard of the set
  // (rank r: the set's rows offset_r …, the shards in rank order) and takes the batch's rows that lie in it. Each
  // row's random draws (ε, binarisation) are numbered by its position in the whole batch; the gradients are summed,
  // each weighted by its rank's share of the batch, before the clip and Adam, with the batch's loss sums (and free
  // bits' per-dimension KL sums before the floor): n ranks follow one process's trajectory up to float summation
  // order, whichever way the data is held. The first epoch starts from rank 0's parameters (broadcast).
  Communicator* comm = nullptr;
  bool sharded = false;
};

// Adam's moments and step counts per group, and the aggressive phase's inner pass position.
struct TrainingState {
  std::vector<float> adam_m, adam_v;  // (num_params) each
  int64_t encoder_adam_steps = 0, generative_adam_steps = 0;
  int64_t inner_cursor = 0, inner_shuffles = 0, inner_steps = 0;
};

// Sums over the examples of one epoch (nats).
struct EpochResult {
  double loss_sum = 0;            // the objective as optimised (with its KL weight and free bits)
  double reconstruction_sum = 0;  // (1/K) Σ_k −log p(x | z_k)
  double kl_sum = 0;              // KL(q(z | x) || p(z)): closed form, or its Monte-Carlo estimate (mixture prior)
  int64_t examples = 0, steps = 0;
  int64_t encoder_steps = 0;  // aggressive epochs: the encoder-only inner updates
  int64_t clipped_steps = 0;  // with clip_grad_norm: updates whose gradient was scaled down
  double grad_norm_max = 0;   // … the largest gradient norm before clipping
};

// progress(steps_done, examples_done, loss_sum_so_far) — called from the compute thread.
using ProgressFn = std::function<void(int64_t, int64_t, double)>;

class VaeTrainer {
 public:
  // Keeps the data source, copies the conditions (rows, condition_dim) and allocates every buffer of training
  // (refused, naming the bytes, past physical memory).
  static Status Create(VaeModel* model, std::shared_ptr<const RowSource> data, const float* cond,
                       const TrainOptions& options, std::unique_ptr<VaeTrainer>* out);
  ~VaeTrainer();

  int64_t steps_per_epoch() const;
  // One pass over the data in the seeded order of `epoch`. kl_weights, learning_rates (nullable): the KL weight and
  // the learning rate of each of the epoch's steps (a warm-up, a schedule). aggressive: before each step's
  // decoder-only update, encoder-only updates (at that step's learning rate) on fresh random batches until the
  // encoder's mean loss over the last 10 stops falling (at most 100).
  Status train_epoch(int64_t epoch, const float* kl_weights, const float* learning_rates, bool aggressive,
                     EpochResult* result, const std::atomic<bool>* cancel, const ProgressFn& progress);

  TrainingState state() const;
  // A state from state() of a trainer of the same model and data size.
  Status restore(const TrainingState& s);

 private:
  VaeTrainer(VaeModel* model, const TrainOptions& options, int64_t rows);
  // Which parameter groups a step updates (Adam keeps a bias-correction count per group, so alternating is Adam on each).
  enum class Part { All, Encoder, Decoder };
  struct Group {
    int64_t begin = 0, end = 0, adam_steps = 0;
  };
  // Local rows idx[0 … B − 1] of the data (and conditions) into the workspace's batch, binarised with the draws of
  // `binarize_step` when asked (row b numbered by positions[b] in the whole batch; null: b).
  Status gather(const int64_t* idx, const int64_t* positions, int64_t B, uint64_t binarize_step);
  // One update on the batch of the set's rows order[0 … B) (stream: its draws' number): this rank's part of it (all
  // of it in one process) gathered and stepped.
  Status batch_step(const int64_t* order, int64_t B, uint64_t stream, float kl_weight, float lr, Part part,
                    EpochResult* sums);
  // Local rows[0 … b) gathered as the batch's positions[0 … b) of B (b = B and positions null in one process),
  // forward and backward, the ranks' gradients and loss sums reduced, then apply_gradient.
  Status step(const int64_t* rows, const int64_t* positions, int64_t b, int64_t B, uint64_t stream,
              float kl_weight, float lr, Part part, EpochResult* sums);
  // Between backward and the optimiser: the clip, then Adam on each updated group at `lr` (clearing its gradient),
  // the others' gradient cleared.
  Status apply_gradient(Part part, float lr, EpochResult* sums);
  Status shuffle_inner();
  // perm_ ← the order of `epoch` (global permutation or block shuffle).
  Status order_epoch(int64_t epoch);
  // Block shuffle: before the batch at positions [p0, p0 + B) of perm_, the next block's rows are asked of the source.
  void read_ahead(int64_t p0, int64_t B);

  VaeModel* model_;
  TrainOptions options_;
  int64_t rows_;  // the whole set's rows (the order's length)
  Shard shard_;   // the rows this process holds: all of them, or (sharded) its shard
  std::vector<int64_t> part_rows_, part_positions_;  // distributed: this rank's local rows of a batch, their positions
  std::shared_ptr<const RowSource> data_;
  std::vector<float> cond_;
  std::unique_ptr<VaeWorkspace> workspace_;
  std::vector<float> grad_, adam_m_, adam_v_;
  std::vector<bf16_t> params16_;  // bf16 precision: the parameters' bf16 shadow that the workspace reads
  Group encoder_, generative_;
  std::vector<int64_t> perm_;
  // Block shuffle: the epoch's order of blocks, where each ends in perm_, and how many have been read ahead.
  std::vector<int64_t> block_order_, block_end_;
  int64_t blocks_ahead_ = 0;
  bool prepared_ = false;  // data_->prepare() done (the first epoch)
  bool synced_ = false;    // distributed: rank 0's parameters broadcast (the first epoch)
  const std::atomic<bool>* cancel_ = nullptr;  // the running epoch's cancel flag
  // Aggressive training's inner batches: a second shuffled pass over the data, reshuffled when used up.
  std::vector<int64_t> inner_perm_;
  int64_t inner_cursor_ = 0, inner_shuffles_ = 0, inner_steps_ = 0;
};

}  // namespace lk
