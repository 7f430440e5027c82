// plan.h — the planner's two ledgers. ParamPlan lays out a model's parameters in ONE flat float buffer: named
// tensors in declaration order, inside named groups (encoder, decoder, likelihood, prior) that are contiguous
// ranges, so an optimiser can update one group and a checkpoint or an all-reduce is one buffer. ArenaPlan carves the
// activation and gradient buffers of one workspace out of one allocation: each request names the pointer it fills.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/memory.h"

namespace lk {

struct ParamTensor {
  std::string name;
  int64_t offset;
  std::vector<int64_t> shape;
};

struct ParamGroup {
  std::string name;
  int64_t begin = 0, end = 0;  // [begin, end) in the flat buffer
};

class ParamPlan {
 public:
  // Tensors added from now on belong to group `name` (groups are opened in order and never reopened).
  void open_group(const std::string& name) {
    groups_.push_back({name, total_ < 0 ? 0 : total_, total_ < 0 ? 0 : total_});
  }
  // The tensor's offset; once the total overflows int64 it is −1 and stays so (the model is then refused).
  int64_t add(const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto s : shape) n = checked_mul(n, s);
    const int64_t off = total_;
    total_ = n < 0 || total_ < 0 ? -1 : checked_add(total_, n);
    tensors_.push_back({name, off, std::move(shape)});
    if (!groups_.empty() && total_ >= 0) groups_.back().end = total_;
    return off;
  }
  int64_t total() const { return total_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  // The range of group `name`, or an empty one at the end when the model has no such group.
  ParamGroup group(const std::string& name) const {
    for (const auto& g : groups_)
      if (g.name == name) return g;
    return {name, total_, total_};
  }

 private:
  int64_t total_ = 0;
  std::vector<ParamTensor> tensors_;
  std::vector<ParamGroup> groups_;
};

class ArenaPlan {
 public:
  // Asks for n floats (rounded up to 64 bytes) that *target will point at after allocate(); returns the offset.
  int64_t add(float** target, int64_t n) {
    const int64_t off = total_;
    total_ = n < 0 || total_ < 0 ? -1 : checked_add(total_, (n + 15) / 16 * 16);
    if (target) slots_.push_back({target, off});
    return off;
  }
  int64_t size() const { return total_; }
  // One allocation for every request (AllocationError naming `what` when it cannot be had); fills the targets.
  std::unique_ptr<float[]> allocate(const char* what) {
    std::unique_ptr<float[]> arena = allocate_array<float>(total_, what);
    for (auto& s : slots_) *s.first = arena.get() + s.second;
    return arena;
  }

 private:
  int64_t total_ = 0;
  std::vector<std::pair<float**, int64_t>> slots_;
};

}  // namespace lk
