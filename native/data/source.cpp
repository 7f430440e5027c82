// source.cpp — see source.h.
#include "source.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "mapped_file.h"

namespace lk {

Status RowSource::gather(float* out, const int64_t* idx, int64_t B) const {
  for (int64_t b = 0; b < B; ++b) LK_RETURN_IF_ERROR(read_row(out + b * cols_, idx[b]));
  return Status::Ok();
}

Status RowSource::read(float* out, int64_t r0, int64_t B) const {
  for (int64_t b = 0; b < B; ++b) LK_RETURN_IF_ERROR(read_row(out + b * cols_, r0 + b));
  return Status::Ok();
}

Status RowSource::check_value(float v, Support support, int64_t r, int64_t c) const {
  const char* want = nullptr;
  if (!std::isfinite(v)) want = "finite values";
  else if (support == Support::Unit && !(v >= 0.f && v <= 1.f)) want = "values in [0, 1] (likelihood: 'bernoulli')";
  else if (support == Support::NonNegative && v < 0.f) want = "counts >= 0 (a count likelihood)";
  if (!want) return Status::Ok();
  std::ostringstream got;
  got.precision(9);
  if (std::isnan(v)) got << "NaN";
  else if (std::isinf(v)) got << (v > 0 ? "Infinity" : "-Infinity");
  else got << v;
  return Status::Error(Code::BadData, "Expected " + std::string(want) + " for " + name_ + " but received " + got.str() +
                                          " at row " + std::to_string(r) + ", column " + std::to_string(c));
}

namespace {

// The bytes of mapping m that rows [r0, r1) of `data` occupy, read ahead.
void will_need_rows(const MappedFile* m, const void* data, int64_t row_bytes, int64_t r0, int64_t r1) {
  if (!m) return;
  const auto* p = static_cast<const uint8_t*>(data) + r0 * row_bytes;
  m->will_need(static_cast<size_t>(p - m->data()), static_cast<size_t>((r1 - r0) * row_bytes));
}

class DenseF32 : public RowSource {
 public:
  DenseF32(std::string name, const float* data, int64_t rows, int64_t cols, Storage storage, bool checked,
           Support support)
      : RowSource(std::move(name), rows, cols), data_(data), storage_(std::move(storage)), checked_(checked),
        support_(support) {}
  Status read_row(float* out, int64_t r) const override {
    const int64_t C = cols();
    const float* src = data_ + r * C;
    std::memcpy(out, src, sizeof(float) * C);
    if (!checked_)
      for (int64_t c = 0; c < C; ++c) {
        const float v = out[c];
        const bool ok = v - v == 0.f && (support_ == Support::Real || (v >= 0.f && (support_ != Support::Unit || v <= 1.f)));
        if (!ok) return check_value(v, support_, r, c);
      }
    return Status::Ok();
  }
  const float* view(int64_t r0) const override { return checked_ ? data_ + r0 * cols() : nullptr; }
  void will_need(int64_t r0, int64_t r1) const override {
    will_need_rows(storage_.mapping, data_, cols() * 4, r0, r1);
  }
  void prepare() const override {
    if (storage_.mapping) storage_.mapping->populate();
  }

 private:
  const float* data_;
  Storage storage_;
  bool checked_;
  Support support_;
};

class DenseU8 : public RowSource {
 public:
  DenseU8(std::string name, const uint8_t* data, int64_t rows, int64_t cols, Storage storage)
      : RowSource(std::move(name), rows, cols), data_(data), storage_(std::move(storage)) {
    // v · (1/255) in double, rounded to float32: the same value as the TypeScript readers' v * BYTE_SCALE
    // (data/rows.ts), so bytes and the float32 set they came from train alike, bit for bit.
    for (int v = 0; v < 256; ++v) scale_[v] = static_cast<float>(v * (1.0 / 255.0));
  }
  Status read_row(float* out, int64_t r) const override {
    const uint8_t* src = data_ + r * cols();
    for (int64_t c = 0; c < cols(); ++c) out[c] = scale_[src[c]];
    return Status::Ok();
  }
  void will_need(int64_t r0, int64_t r1) const override {
    will_need_rows(storage_.mapping, data_, cols(), r0, r1);
  }
  void prepare() const override {
    if (storage_.mapping) storage_.mapping->populate();
  }

 private:
  const uint8_t* data_;
  Storage storage_;
  float scale_[256];
};

class Csr : public RowSource {
 public:
  Csr(std::string name, int64_t rows, int64_t cols, std::vector<int64_t> indptr, std::vector<int32_t> indices,
      std::vector<float> values)
      : RowSource(std::move(name), rows, cols), indptr_(std::move(indptr)), indices_(std::move(indices)),
        values_(std::move(values)) {}
  Status check_values(Support support) const {
    for (int64_t r = 0; r < rows(); ++r)
      for (int64_t k = indptr_[r]; k < indptr_[r + 1]; ++k) LK_RETURN_IF_ERROR(check_value(values_[k], support, r, indices_[k]));
    return Status::Ok();
  }
  // Duplicate column indices in a row add up (SciPy's convention).
  Status read_row(float* out, int64_t r) const override {
    std::memset(out, 0, sizeof(float) * cols());
    for (int64_t k = indptr_[r]; k < indptr_[r + 1]; ++k) out[indices_[k]] += values_[k];
    return Status::Ok();
  }

 private:
  std::vector<int64_t> indptr_;
  std::vector<int32_t> indices_;
  std::vector<float> values_;
};

class Subset : public RowSource {
 public:
  Subset(std::shared_ptr<const RowSource> base, std::vector<int64_t> idx)
      : RowSource(base->name(), static_cast<int64_t>(idx.size()), base->cols()), base_(std::move(base)),
        idx_(std::move(idx)) {}
  Status read_row(float* out, int64_t r) const override { return base_->read_row(out, idx_[r]); }
  // Reads ahead the span of the base's rows that rows [r0, r1) fall in, when that span is no longer than twice theirs
  // (a sorted subset, as a split gives).
  void will_need(int64_t r0, int64_t r1) const override {
    if (r1 <= r0) return;
    const int64_t lo = idx_[r0], hi = idx_[r1 - 1] + 1;
    if (hi > lo && hi - lo <= 2 * (r1 - r0)) base_->will_need(lo, hi);
  }
  void prepare() const override { base_->prepare(); }

 private:
  std::shared_ptr<const RowSource> base_;
  std::vector<int64_t> idx_;
};

}  // namespace

std::shared_ptr<const RowSource> dense_f32_source(std::string name, const float* data, int64_t rows, int64_t cols,
                                                  Storage storage, bool checked, Support support) {
  return std::make_shared<DenseF32>(std::move(name), data, rows, cols, std::move(storage), checked, support);
}

std::shared_ptr<const RowSource> dense_u8_source(std::string name, const uint8_t* data, int64_t rows, int64_t cols,
                                                 Storage storage) {
  return std::make_shared<DenseU8>(std::move(name), data, rows, cols, std::move(storage));
}

Status csr_source(std::string name, int64_t rows, int64_t cols, std::vector<int64_t> indptr,
                  std::vector<int32_t> indices, std::vector<float> values, Support support,
                  std::shared_ptr<const RowSource>* out) {
  auto bad = [&](const std::string& why) { return Status::Error(Code::BadData, name + " (CSR): " + why); };
  const int64_t nnz = static_cast<int64_t>(indices.size());
  if (static_cast<int64_t>(indptr.size()) != rows + 1)
    return bad("indptr has " + std::to_string(indptr.size()) + " entries; rows + 1 = " + std::to_string(rows + 1) +
               " are needed");
  if (static_cast<int64_t>(values.size()) != nnz)
    return bad("data has " + std::to_string(values.size()) + " values but indices has " + std::to_string(nnz));
  if (indptr[0] != 0) return bad("indptr[0] is " + std::to_string(indptr[0]) + "; it must be 0");
  for (int64_t r = 0; r < rows; ++r)
    if (indptr[r + 1] < indptr[r] || indptr[r + 1] > nnz)
      return bad("indptr[" + std::to_string(r + 1) + "] = " + std::to_string(indptr[r + 1]) +
                 " is not in [indptr[" + std::to_string(r) + "], nnz = " + std::to_string(nnz) + "]");
  if (indptr[rows] != nnz)
    return bad("indptr ends at " + std::to_string(indptr[rows]) + " but there are " + std::to_string(nnz) + " values");
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
      if (indices[k] < 0 || indices[k] >= cols)
        return bad("row " + std::to_string(r) + " has column index " + std::to_string(indices[k]) +
                   ", outside [0, " + std::to_string(cols) + ")");
    }
  auto csr = std::make_shared<Csr>(std::move(name), rows, cols, std::move(indptr), std::move(indices), std::move(values));
  LK_RETURN_IF_ERROR(csr->check_values(support));
  *out = std::move(csr);
  return Status::Ok();
}

Status subset_source(std::shared_ptr<const RowSource> base, std::vector<int64_t> idx,
                     std::shared_ptr<const RowSource>* out) {
  for (size_t i = 0; i < idx.size(); ++i)
    if (idx[i] < 0 || idx[i] >= base->rows())
      return Status::Error(Code::InvalidArgument, base->name() + ": row index " + std::to_string(idx[i]) +
                                                      " at position " + std::to_string(i) + " is not in [0, " +
                                                      std::to_string(base->rows()) + ")");
  *out = std::make_shared<Subset>(std::move(base), std::move(idx));
  return Status::Ok();
}

}  // namespace lk
