// mapped_file.h — a file mapped into memory (mmap, read-only and private: the file is never written through it),
// held by shared_ptr — by its JS Mapping object and by every source that reads it — so it
// is unmapped only when the last of them is gone.
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
  // When the file fits in half the machine's memory: maps every page now (madvise POPULATE_READ, else a read of one
  // byte per page), so that a shuffled pass pays no page fault per row — reading the file from disk in order if it
  // is not in the page cache. Larger files are left to faults and reads ahead. Returns whether it populated.
  bool populate() const;

 private:
  MappedFile(std::string path, uint8_t* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  uint8_t* data_;
  size_t size_;
};

}  // namespace lk
