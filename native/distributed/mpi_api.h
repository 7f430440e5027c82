// mpi_api.h — the C table of functions the Open MPI plugin (mpi_plugin.cpp, built as latentkit_mpi.so and linked
// against libmpi when CMake finds MPI) hands to the addon (communicator.cpp loads it with dlopen on first use). The
// addon itself never links libmpi: it builds and loads without Open MPI, and only a distributed call needs it. Every
// function returns an MPI error code (0: success); counts are elements (any int64: the plugin splits them into
// MPI's int counts).
#pragma once
#include <cstdint>

extern "C" {

struct LkMpiApi {
  int version;  // kLkMpiApiVersion
  // MPI_Init_thread (MPI_THREAD_SERIALIZED) unless MPI is initialised already; rank and size of MPI_COMM_WORLD.
  int (*init)(int* rank, int* size);
  int (*all_reduce_sum_f32)(float* data, int64_t n);  // in place
  int (*all_reduce_sum_f64)(double* data, int64_t n);  // in place
  int (*all_reduce_max_f64)(double* data, int64_t n);  // in place
  int (*broadcast)(void* data, int64_t bytes, int root);
  int (*all_gather)(const void* mine, int64_t bytes, void* all);  // all: size × bytes, rank order
  int (*barrier)();
  // MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job.
  int (*abort)(int code);
  // MPI's text for an error code into buf.
  void (*error_string)(int code, char* buf, int length);
  // MPI_Finalize unless finalised already (at process exit).
  int (*finalize)();
};

constexpr int kLkMpiApiVersion = 1;

// The plugin's one exported symbol.
const LkMpiApi* lk_mpi_api();
}
