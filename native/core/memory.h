// memory.h — sizes that cannot overflow and allocations that say what they asked for. Every buffer whose size comes
// from a caller (model widths, batch sizes, sample counts, rows) is sized with checked_product and allocated through
// allocate_array / reserve_bytes: a size that overflows int64, or asks more than the machine's physical memory (with
// overcommit such an allocation "succeeds" and the OOM killer ends the process when it is touched), throws
// AllocationError, which the executor and the binding turn into a LATENTKIT_OUT_OF_MEMORY error naming the bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include "status.h"

namespace lk {

// Thrown (never across an OpenMP region: parallel_items catches it) when an allocation cannot be made.
class AllocationError : public std::bad_alloc {
 public:
  AllocationError(double bytes, std::string what);
  const char* what() const noexcept override { return message_.c_str(); }
  double bytes() const { return bytes_; }

 private:
  double bytes_;
  std::string message_;
};

// The machine's physical memory in bytes (sysconf), the ceiling of any one allocation.
int64_t physical_memory_bytes();

// a · b with overflow reported as −1 (sizes are non-negative).
inline int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return -1;
  return r;
}
inline int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) return -1;
  return r;
}
// Product of sizes, −1 on overflow.
inline int64_t checked_product(std::initializer_list<int64_t> sizes) {
  int64_t p = 1;
  for (int64_t s : sizes) {
    p = checked_mul(p, s);
    if (p < 0) return -1;
  }
  return p;
}

// Throws AllocationError unless `count` elements of `element_bytes` fit in physical memory (count < 0: overflowed).
void reserve_bytes(int64_t count, int64_t element_bytes, const char* what);

// An uninitialised array of `count` T, or AllocationError (naming `what` and the bytes asked).
template <typename T>
std::unique_ptr<T[]> allocate_array(int64_t count, const char* what) {
  reserve_bytes(count, static_cast<int64_t>(sizeof(T)), what);
  T* p = new (std::nothrow) T[static_cast<size_t>(count)];
  if (!p) throw AllocationError(static_cast<double>(count) * sizeof(T), what);
  return std::unique_ptr<T[]>(p);
}

// `bytes` of zeroed memory for a large buffer that is filled at once (a job's copy of a data set, a centred copy):
// anonymous memory mapped whole, asked for transparent huge pages (MADV_HUGEPAGE) and populated in one call
// (MADV_POPULATE_WRITE; both hints). Filled page by page instead, a 160 MB copy took about 0.8 s of 4 KB page faults
// on a 2-core VM — more than ten EM iterations of a 10-component mixture over it. Below 4 MiB, operator new. Freed
// with its last owner; AllocationError as allocate_array.
std::shared_ptr<uint8_t> allocate_large(int64_t bytes, const char* what);

// The Status of a caught allocation failure (AllocationError says how much; a bare bad_alloc cannot).
Status out_of_memory_status(const std::bad_alloc& e);

}  // namespace lk
