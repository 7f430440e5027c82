// shard.cpp — see shard.h.
#include "shard.h"

namespace lk {

Status make_shard(Communicator* comm, int64_t rows, Shard* out) {
  *out = Shard{comm, 0, rows};
  return ranks_before_and_total(comm, rows, &out->offset, &out->total);
}

}  // namespace lk
