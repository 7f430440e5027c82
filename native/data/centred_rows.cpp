// centred_rows.cpp — see centred_rows.h.
#include "centred_rows.h"

#include <algorithm>

#include "../core/memory.h"
#include "../core/reduce.h"

namespace lk {

namespace {
constexpr int64_t kRowsPerRead = 1024;  // rows densified at a time when column means read a non-dense source
}

Status column_means(const RowSource& x, std::vector<double>* out, const Shard& shard) {
  const int64_t n = x.rows(), d = x.cols();
  out->assign(static_cast<size_t>(d), 0.0);
  std::vector<float> buf;
  for (int64_t r0 = 0; r0 < n; r0 += kRowsPerRead) {
    const int64_t B = std::min(kRowsPerRead, n - r0);
    const float* rows = x.view(r0);
    if (!rows) {
      buf.resize(static_cast<size_t>(kRowsPerRead * d));
      LK_RETURN_IF_ERROR(x.read(buf.data(), r0, B));
      rows = buf.data();
    }
    for (int64_t i = 0; i < B; ++i)
      for (int64_t j = 0; j < d; ++j) (*out)[j] += rows[i * d + j];
  }
  LK_RETURN_IF_ERROR(shard.sum(out));
  for (double& v : *out) v /= static_cast<double>(shard.total_rows(n));
  return Status::Ok();
}

CentredRows::CentredRows(const RowSource& x, const std::vector<double>& shift)
    : x_(x), shift_(shift.begin(), shift.end()) {}

Status CentredRows::keep_centred_copy() {
  const float* all = x_.view(0);
  if (!all || copy_ || rows() == 0) return Status::Ok();
  copy_memory_ = allocate_large(checked_product({rows(), cols(), int64_t(sizeof(float))}), "the centred copy of the data");
  float* copy = reinterpret_cast<float*>(copy_memory_.get());
  centre_rows(copy, all, 0, rows(), cols(), shift_.data());
  copy_ = copy;
  return Status::Ok();
}

Status CentredRows::read(int64_t r0, int64_t B, float* scratch, const float** out) const {
  if (copy_) {
    *out = copy_ + r0 * cols();
    return Status::Ok();
  }
  const float* rows = x_.view(r0);
  if (!rows) {
    LK_RETURN_IF_ERROR(x_.read(scratch, r0, B));
    rows = scratch;
  }
  centre_rows(scratch, rows, 0, B, cols(), shift_.data());
  *out = scratch;
  return Status::Ok();
}

Status CentredRows::gather(float* out, const int64_t* idx, int64_t T) const {
  if (copy_) {
    for (int64_t t = 0; t < T; ++t) std::copy_n(copy_ + idx[t] * cols(), cols(), out + t * cols());
    return Status::Ok();
  }
  LK_RETURN_IF_ERROR(x_.gather(out, idx, T));
  centre_rows(out, out, 0, T, cols(), shift_.data());
  return Status::Ok();
}

}  // namespace lk
