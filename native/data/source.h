// source.h — rows of a data set as a model reads them, whatever their storage: dense float32, dense uint8 read as
// v / 255 (images as bytes, 4× smaller), or sparse CSR (indptr (rows + 1), indices and values (nnz)), each held in
// memory the source owns or borrowed from a memory-mapped file (mapped_file.h), and a subset of another source's rows.
// Every read densifies into float32 (rows, cols) buffers of the caller: a set is never densified whole. A source is
// immutable once made and may be read from many threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/status.h"

namespace lk {

// The values a likelihood can score: any finite value, values in [0, 1] (Bernoulli), values >= 0 (counts).
enum class Support { Real, Unit, NonNegative };

class RowSource {
 public:
  RowSource(std::string name, int64_t rows, int64_t cols) : name_(std::move(name)), rows_(rows), cols_(cols) {}
  virtual ~RowSource() = default;
  const std::string& name() const { return name_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

  // Row r densified into out (cols).
  virtual Status read_row(float* out, int64_t r) const = 0;
  // Rows idx[0 … B) into out (B, cols); rows [r0, r0 + B) into out (B, cols).
  Status gather(float* out, const int64_t* idx, int64_t B) const;
  Status read(float* out, int64_t r0, int64_t B) const;
  // Rows from r0 on as stored float32 when they are so stored and need no check (no copy), else null.
  virtual const float* view(int64_t r0) const { (void)r0; return nullptr; }
  // A hint that rows [r0, r1) are read soon (a mapped file reads them ahead).
  virtual void will_need(int64_t r0, int64_t r1) const { (void)r0; (void)r1; }
  // Before many passes in shuffled order (training): a mapped file that fits in memory is mapped whole now
  // (MappedFile::populate).
  virtual void prepare() const {}

 protected:
  // OK, or the error for a value at (r, c) that is not finite or not inside `support`.
  Status check_value(float v, Support support, int64_t r, int64_t c) const;

 private:
  std::string name_;
  int64_t rows_, cols_;
};

class MappedFile;

// What holds a dense source's values alive: an owned buffer, or the mapping they lie in (then also `mapping`, which
// `keep` keeps alive, so that reads ahead can be asked of it).
struct Storage {
  std::shared_ptr<const void> keep;
  const MappedFile* mapping = nullptr;
};

// `checked`: the values were checked already (in-memory data, by the TypeScript layer); a float32 source that was not
// checks each row as it reads it: finite, and inside `support`.
std::shared_ptr<const RowSource> dense_f32_source(std::string name, const float* data, int64_t rows, int64_t cols,
                                                  Storage storage, bool checked, Support support);
std::shared_ptr<const RowSource> dense_u8_source(std::string name, const uint8_t* data, int64_t rows, int64_t cols,
                                                 Storage storage);
// Checks the structure (indptr from 0, non-decreasing, to nnz; indices in [0, cols)) and the values (finite, inside
// `support`); takes ownership of the arrays.
Status csr_source(std::string name, int64_t rows, int64_t cols, std::vector<int64_t> indptr,
                  std::vector<int32_t> indices, std::vector<float> values, Support support,
                  std::shared_ptr<const RowSource>* out);
// Rows base[idx[0]], base[idx[1]], …; each index checked in [0, base rows).
Status subset_source(std::shared_ptr<const RowSource> base, std::vector<int64_t> idx,
                     std::shared_ptr<const RowSource>* out);

}  // namespace lk
