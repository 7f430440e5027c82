// mapped_file.h — a file mapped into memory (mmap, copy-on-write: a write through the mapping changes this process's
// copy only, never the file), and the registry of live mappings by address, so that the binding can tell that a JS
// typed array lies inside one and borrow it (keeping the mapping alive) instead of copying it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../core/status.h"

namespace lk {

class MappedFile {
 public:
  // Maps the whole of `path` (refused for an empty file or a folder, naming the reason).
  static Status Open(const std::string& path, std::shared_ptr<MappedFile>* out);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Asks the kernel to read [offset, offset + bytes) ahead (madvise WILLNEED); a hint, failures ignored.
  void will_need(size_t offset, size_t bytes) const;

 private:
  MappedFile(std::string path, uint8_t* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  uint8_t* data_;
  size_t size_;
};

// The live mapping that holds all of [p, p + bytes), or null.
std::shared_ptr<MappedFile> find_mapping(const void* p, size_t bytes);

}  // namespace lk
