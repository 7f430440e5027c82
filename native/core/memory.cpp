// memory.cpp — see memory.h.
#include "memory.h"

#include <unistd.h>

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

Status out_of_memory_status(const std::bad_alloc& e) {
  if (auto* a = dynamic_cast<const AllocationError*>(&e)) return Status::Error(Code::OutOfMemory, a->what());
  return Status::Error(Code::OutOfMemory, "out of memory: an allocation failed");
}

}  // namespace lk
