// status.h — the result type of every kernel: a code plus a message. Kernels never throw, print or exit; the
// binding turns a failed Status into a JS Error whose `code` is "LATENTKIT_" + the code's name.
#pragma once
#include <string>
#include <utility>

namespace lk {

enum class Code {
  Ok = 0,
  InvalidArgument,   // a size or option the kernel cannot honour
  NonFiniteLoss,     // NaN/Inf in a loss or gradient
  NotPositiveDefinite,
  Backend,           // oneDNN / BLAS / CUDA reported an error
  Cancelled,         // an AbortSignal fired
  Busy,              // a model is training and cannot serve another call
  OutOfMemory,       // an allocation failed or would exceed the machine's memory (the message says how much)
  BadData,           // input data that cannot be used as given (a non-finite value read from a file, a bad file)
  Distributed,       // distributed training cannot run: no MPI, ranks that disagree, a failed collective
};

struct Status {
  Code code = Code::Ok;
  std::string message;
  bool ok() const { return code == Code::Ok; }
  static Status Ok() { return {}; }
  static Status Error(Code c, std::string m) { return {c, std::move(m)}; }
};

inline const char* code_name(Code c) {
  switch (c) {
    case Code::Ok: return "OK";
    case Code::InvalidArgument: return "INVALID_ARGUMENT";
    case Code::NonFiniteLoss: return "NON_FINITE_LOSS";
    case Code::NotPositiveDefinite: return "NOT_POSITIVE_DEFINITE";
    case Code::Backend: return "BACKEND";
    case Code::Cancelled: return "CANCELLED";
    case Code::Busy: return "BUSY";
    case Code::OutOfMemory: return "OUT_OF_MEMORY";
    case Code::BadData: return "BAD_DATA";
    case Code::Distributed: return "DISTRIBUTED";
  }
  return "UNKNOWN";
}

#define LK_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::lk::Status lk_status_ = (expr);       \
    if (!lk_status_.ok()) return lk_status_; \
  } while (0)

}  // namespace lk
