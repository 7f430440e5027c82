// communicator.h — the process group of data-parallel training: MPI_COMM_WORLD through the Open MPI plugin
// (mpi_api.h: latentkit_mpi.so beside the addon), loaded and started on first use. The addon never links libmpi, so
// it builds and loads without Open MPI; World() then fails with an error naming what to install. libmpi is loaded
// RTLD_GLOBAL before the plugin: Open MPI's own components (dlopen'ed by libmpi) resolve libmpi's symbols globally,
// which a library opened RTLD_LOCAL under Node's dlopen of the addon would hide (mpi4py does the same). Calls are
// serialised by a mutex (MPI_THREAD_SERIALIZED), whatever thread makes them; every collective is on every rank.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "../core/status.h"
#include "mpi_api.h"

namespace lk {

// True when this process was started by an MPI launcher (mpirun / mpiexec / srun: OMPI_COMM_WORLD_SIZE or
// PMI_SIZE / PMIX_RANK in the environment).
bool launched_by_mpi();

class Communicator {
 public:
  // The process's communicator, started on the first call (MPI_Init_thread); the same one afterwards.
  static Status World(Communicator** out);
  int rank() const { return rank_; }
  int size() const { return size_; }
  Status all_reduce_sum(float* data, int64_t n);
  Status all_reduce_sum(double* data, int64_t n);
  Status all_reduce_max(double* data, int64_t n);
  Status broadcast(void* data, int64_t bytes, int root);
  // Every rank's `bytes` bytes, in rank order, into *all (size × bytes).
  Status all_gather(const void* mine, int64_t bytes, std::vector<uint8_t>* all);
  Status barrier();
  // Ends every rank of the job with `code` (MPI_Abort): a rank that cannot go on must not leave the others waiting
  // in a collective.
  void abort(int code);
  // Seconds spent inside all_reduce_sum(float*) and the bytes it reduced, since the start (the bench's share).
  double reduce_seconds() const { return reduce_seconds_; }
  int64_t reduce_bytes() const { return reduce_bytes_; }

 private:
  Communicator() = default;
  Status check(int rc, const char* what) const;
  const LkMpiApi* api_ = nullptr;
  int rank_ = 0, size_ = 1;
  std::mutex mutex_;
  double reduce_seconds_ = 0;
  int64_t reduce_bytes_ = 0;
};

}  // namespace lk
