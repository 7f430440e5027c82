// shard.cpp — see shard.h.
#include "shard.h"

#include <cstring>

namespace lk {

Status make_shard(Communicator* comm, int64_t rows, Shard* out) {
  *out = Shard{comm, 0, rows};
  if (!comm) return Status::Ok();
  std::vector<uint8_t> all;
  LK_RETURN_IF_ERROR(comm->all_gather(&rows, sizeof rows, &all));
  out->total = 0;
  for (int r = 0; r < comm->size(); ++r) {
    int64_t n = 0;
    std::memcpy(&n, all.data() + r * sizeof n, sizeof n);
    if (r < comm->rank()) out->offset += n;
    out->total += n;
  }
  return Status::Ok();
}

}  // namespace lk
