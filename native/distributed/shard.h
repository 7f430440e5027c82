// shard.h — the rows a classical fit holds may be one rank's shard of the whole set (rank r holds the set's rows
// offset … offset + rows − 1, the shards in rank order): every sum over rows then goes through sum(), an all-reduce
// over the ranks, and every count uses the whole set's rows. In one process (comm null) sum() does nothing and the
// shard is the whole set. Used by models/gmm.cpp and models/linear_gaussian.cpp.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/status.h"
#include "communicator.h"

namespace lk {

struct Shard {
  Communicator* comm = nullptr;
  int64_t offset = 0;  // the whole set's index of this shard's row 0
  int64_t total = 0;   // the whole set's rows
  Status sum(double* v, int64_t n) const { return comm ? comm->all_reduce_sum(v, n) : Status::Ok(); }
  Status sum(float* v, int64_t n) const { return comm ? comm->all_reduce_sum(v, n) : Status::Ok(); }
  Status sum(std::vector<double>* v) const { return sum(v->data(), static_cast<int64_t>(v->size())); }
  // The whole set's rows, for a shard of `local` rows.
  int64_t total_rows(int64_t local) const { return comm ? total : local; }
};

// A per-rank value's sum over the ranks before this one (rank order) and over all of them — an all-gather, on every
// rank at once; alone (comm null) 0 and the value.
template <typename T>
Status ranks_before_and_total(Communicator* comm, T mine, T* before, T* total) {
  *before = 0;
  *total = mine;
  if (!comm) return Status::Ok();
  std::vector<uint8_t> all;
  LK_RETURN_IF_ERROR(comm->all_gather(&mine, sizeof mine, &all));
  *total = 0;
  for (int r = 0; r < comm->size(); ++r) {
    T v = 0;
    std::memcpy(&v, all.data() + r * sizeof v, sizeof v);
    if (r < comm->rank()) *before += v;
    *total += v;
  }
  return Status::Ok();
}

// The shard of `rows` local rows: alone (comm null) the whole set; else the ranks' row counts are gathered (a
// collective: every rank calls it) for the offset and the total.
Status make_shard(Communicator* comm, int64_t rows, Shard* out);

}  // namespace lk
