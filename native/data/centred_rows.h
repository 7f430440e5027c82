// centred_rows.h — the rows of a source (source.h) minus a shift vector (cols), densified chunk by chunk into float32
// buffers of the caller: how the classical models (models/gmm.h, models/linear_gaussian.h) pass over their data.
// Data are centred before any float32 GEMM so that products never cancel large offsets. Dense float32 rows in memory
// are centred from where they lie; every other form (bytes, CSR, a mapped file, a row subset) is densified into the
// caller's buffer first, so no form is densified or copied whole. Every form of the same values gives the same
// floats, hence the same fit. Reads may run on many threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "../core/status.h"
#include "../distributed/shard.h"
#include "source.h"

namespace lk {

// The column means of x (cols) in float64, summed row by row in row order (over every rank's shard: shard.h).
Status column_means(const RowSource& x, std::vector<double>* out, const Shard& shard = {});

class CentredRows {
 public:
  CentredRows(const RowSource& x, const std::vector<double>& shift);
  const RowSource& source() const { return x_; }
  int64_t rows() const { return x_.rows(); }
  int64_t cols() const { return x_.cols(); }
  // Before many passes: when the rows already lie in memory as float32 (the source has a view), centre them once and
  // keep the copy (rows × cols floats, no more than the data), so that each pass reads them in place. Other forms
  // stay read a chunk at a time: a copy of them would be the dense set this class exists to avoid.
  Status keep_centred_copy();
  // Rows [r0, r0 + B) − shift, (B, cols) float32: *out points into the centred copy when one is kept, else into
  // `scratch` (B × cols floats), filled.
  Status read(int64_t r0, int64_t B, float* scratch, const float** out) const;
  // out (T, cols) = rows idx[0 … T) − shift.
  Status gather(float* out, const int64_t* idx, int64_t T) const;

 private:
  const RowSource& x_;
  std::vector<float> shift_;
  std::shared_ptr<uint8_t> copy_memory_;
  const float* copy_ = nullptr;  // null, or the centred rows (rows × cols)
};

}  // namespace lk
