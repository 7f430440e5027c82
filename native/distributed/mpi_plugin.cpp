// mpi_plugin.cpp — latentkit_mpi.so: the MPI calls of distributed training (mpi_api.h) on MPI_COMM_WORLD, built only
// when CMake finds MPI and linked against libmpi. Collectives of more than INT_MAX elements are split into pieces.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "mpi_api.h"

namespace {

constexpr int64_t kPiece = int64_t(1) << 30;  // elements per MPI call (MPI counts are int)

int init(int* rank, int* size) {
  int started = 0;
  int rc = MPI_Initialized(&started);
  if (rc != MPI_SUCCESS) return rc;
  if (!started) {
    int provided = 0;
    rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    // Errors come back as codes (and become exceptions in JS), not as an abort from inside a collective.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
  return rc != MPI_SUCCESS ? rc : MPI_Comm_size(MPI_COMM_WORLD, size);
}

template <typename T>
int all_reduce(T* data, int64_t n, MPI_Datatype type, MPI_Op op) {
  for (int64_t i = 0; i < n; i += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, n - i));
    const int rc = MPI_Allreduce(MPI_IN_PLACE, data + i, count, type, op, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return rc;
  }
  return MPI_SUCCESS;
}

int all_reduce_sum_f32(float* data, int64_t n) { return all_reduce(data, n, MPI_FLOAT, MPI_SUM); }
int all_reduce_sum_f64(double* data, int64_t n) { return all_reduce(data, n, MPI_DOUBLE, MPI_SUM); }
int all_reduce_max_f64(double* data, int64_t n) { return all_reduce(data, n, MPI_DOUBLE, MPI_MAX); }

int broadcast(void* data, int64_t bytes, int root) {
  auto* p = static_cast<char*>(data);
  for (int64_t i = 0; i < bytes; i += kPiece) {
    const int rc = MPI_Bcast(p + i, static_cast<int>(std::min(kPiece, bytes - i)), MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return rc;
  }
  return MPI_SUCCESS;
}

int all_gather(const void* mine, int64_t bytes, void* all) {
  if (bytes > INT_MAX) return MPI_ERR_COUNT;
  return MPI_Allgather(mine, static_cast<int>(bytes), MPI_BYTE, all, static_cast<int>(bytes), MPI_BYTE, MPI_COMM_WORLD);
}

int barrier() { return MPI_Barrier(MPI_COMM_WORLD); }
int abort_job(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

void error_string(int code, char* buf, int length) {
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) n = std::snprintf(text, sizeof text, "MPI error %d", code);
  std::snprintf(buf, static_cast<size_t>(length), "%.*s", n, text);
}

int finalize() {
  int done = 0;
  MPI_Finalized(&done);
  return done ? MPI_SUCCESS : MPI_Finalize();
}

const LkMpiApi kApi = {kLkMpiApiVersion, init, all_reduce_sum_f32, all_reduce_sum_f64, all_reduce_max_f64, broadcast,
                       all_gather, barrier, abort_job, error_string, finalize};

}  // namespace

extern "C" __attribute__((visibility("default"))) const LkMpiApi* lk_mpi_api() { return &kApi; }
