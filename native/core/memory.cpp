// memory.cpp — see memory.h.
#include "memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lk {

namespace {
std::string format_bytes(double bytes) {
  char buf[64];
  if (!std::isfinite(bytes) || bytes >= 9.2e18)
    std::snprintf(buf, sizeof buf, "more than 2^63 bytes");
  else if (bytes >= 1073741824.0)
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / 1073741824.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  return buf;
}
}  // namespace

AllocationError::AllocationError(double bytes, std::string what) : bytes_(bytes) {
  message_ = "out of memory: " + what + " needs " + format_bytes(bytes) + " (this machine has " +
             format_bytes(static_cast<double>(physical_memory_bytes())) + ")";
}

int64_t physical_memory_bytes() {
  static const int64_t bytes = [] {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? static_cast<int64_t>(pages) * size : int64_t(1) << 40;
  }();
  return bytes;
}

void reserve_bytes(int64_t count, int64_t element_bytes, const char* what) {
  const int64_t bytes = checked_mul(count, element_bytes);
  if (bytes < 0) throw AllocationError(HUGE_VAL, what);
  if (bytes > physical_memory_bytes()) throw AllocationError(static_cast<double>(bytes), what);
}

std::shared_ptr<uint8_t> allocate_large(int64_t bytes, const char* what) {
  constexpr int64_t kMapped = int64_t(4) << 20;
  reserve_bytes(bytes, 1, what);
  if (bytes < kMapped) {
    auto* p = new (std::nothrow) uint8_t[static_cast<size_t>(std::max<int64_t>(bytes, 1))]();
    if (!p) throw AllocationError(static_cast<double>(bytes), what);
    return std::shared_ptr<uint8_t>(p, std::default_delete<uint8_t[]>());
  }
  const size_t size = static_cast<size_t>(bytes);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw AllocationError(static_cast<double>(bytes), what);
  ::madvise(p, size, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
  ::madvise(p, size, MADV_POPULATE_WRITE);  // kernels before 5.14: the pages fault in as they are filled
#endif
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [size](uint8_t* q) { ::munmap(q, size); });
}

Status out_of_memory_status(const std::bad_alloc& e) {
  if (auto* a = dynamic_cast<const AllocationError*>(&e)) return Status::Error(Code::OutOfMemory, a->what());
  return Status::Error(Code::OutOfMemory, "out of memory: an allocation failed");
}

}  // namespace lk
