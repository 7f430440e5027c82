// mapped_file.cpp — see mapped_file.h.
#include "mapped_file.h"

#include "../core/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lk {

Status MappedFile::Open(const std::string& path, std::shared_ptr<MappedFile>* out) {
  auto fail = [&](const std::string& why) { return Status::Error(Code::BadData, "cannot map " + path + ": " + why); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno == ENOENT ? "no such file" : errno == EACCES ? "permission denied" : std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return fail(std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "it is a folder" : "it is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return fail("it is empty");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) return fail(std::strerror(e));
  out->reset(new MappedFile(path, static_cast<uint8_t*>(p), size));
  return Status::Ok();
}

MappedFile::~MappedFile() { ::munmap(data_, size_); }

bool MappedFile::populate() const {
  if (static_cast<int64_t>(size_) > physical_memory_bytes() / 2) return false;
#ifdef MADV_POPULATE_READ
  if (::madvise(data_, size_, MADV_POPULATE_READ) == 0) return true;
#endif
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < size_; i += page) sink ^= data_[i];
  (void)sink;
  return true;
}

void MappedFile::will_need(size_t offset, size_t bytes) const {
  if (offset >= size_) return;
  bytes = std::min(bytes, size_ - offset);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t begin = offset / page * page;
  ::madvise(data_ + begin, bytes + (offset - begin), MADV_WILLNEED);
}

}  // namespace lk
