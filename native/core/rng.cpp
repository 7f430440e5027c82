// rng.cpp — Philox4x32-10 and the fills built on it. Fills parallelise over blocks of four draws.
#include "rng.h"

#include <algorithm>

#include <cmath>

#include "threads.h"

namespace lk {

namespace {
constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

inline void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

inline float to_unit_open_closed(uint32_t x) { return (static_cast<float>(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }
inline float to_unit(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

inline void box_muller(uint32_t a, uint32_t b, float* z0, float* z1) {
  float u1 = to_unit_open_closed(a);  // (0, 1]: log is finite
  float u2 = to_unit(b);
  float r = std::sqrt(-2.0f * std::log(u1));
  float t = 6.28318530717958648f * u2;
  *z0 = r * std::cos(t);
  *z1 = r * std::sin(t);
}
}  // namespace

Philox4 philox4x32_10(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c0, &hi0, &lo0);
    mulhilo(kMul1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

// Fills out[0..n) with draws offset..offset+n of (seed, stream): draw j lives in block j / 4, word j % 4; each block's
// four words become four floats through `convert` and the needed ones are copied.
template <typename Convert>
Status fill_draws(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset, Convert convert) {
  if (n < 0) return Status::Error(Code::InvalidArgument, "n must be >= 0");
  const int64_t first_block = static_cast<int64_t>(offset / 4);
  const int64_t last_block = static_cast<int64_t>((offset + n + 3) / 4);
#pragma omp parallel for schedule(static) if (n > kElementwiseParallelMin)
  for (int64_t blk = first_block; blk < last_block; ++blk) {
    float v[4];
    convert(philox4x32_10(seed, stream, static_cast<uint64_t>(blk)), v);
    for (int k = 0; k < 4; ++k) {
      const int64_t j = blk * 4 + k - static_cast<int64_t>(offset);
      if (j >= 0 && j < n) out[j] = v[k];
    }
  }
  return Status::Ok();
}

Status rng_normal_fill(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  return fill_draws(out, n, seed, stream, offset, [](const Philox4& w, float* v) {
    box_muller(w.v[0], w.v[1], &v[0], &v[1]);
    box_muller(w.v[2], w.v[3], &v[2], &v[3]);
  });
}

Status rng_uniform_fill(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  return fill_draws(out, n, seed, stream, offset, [](const Philox4& w, float* v) {
    for (int k = 0; k < 4; ++k) v[k] = to_unit(w.v[k]);
  });
}

Status rng_permutation(int64_t* perm, int64_t n, uint64_t seed, uint64_t stream) {
  return rng_permutation_at(perm, n, seed, stream, 0);
}

Status rng_permutation_at(int64_t* perm, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  if (n < 0) return Status::Error(Code::InvalidArgument, "n must be >= 0");
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    Philox4 w = philox4x32_10(seed, stream, offset + static_cast<uint64_t>(i));
    uint64_t r = (static_cast<uint64_t>(w.v[0]) << 32) | w.v[1];
    int64_t j = static_cast<int64_t>(r % static_cast<uint64_t>(i + 1));  // bias < 2^-32 for n < 2^32
    int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  return Status::Ok();
}

Status rng_block_permutation(int64_t* perm, int64_t* block_order, int64_t n, int64_t block, uint64_t seed,
                             uint64_t order_stream, uint64_t rows_stream) {
  if (n < 0 || block < 1) return Status::Error(Code::InvalidArgument, "n must be >= 0 and block >= 1");
  const int64_t blocks = (n + block - 1) / block;
  LK_RETURN_IF_ERROR(rng_permutation(block_order, blocks, seed, order_stream));
  int64_t* out = perm;
  for (int64_t k = 0; k < blocks; ++k) {
    const int64_t r0 = block_order[k] * block, m = std::min(block, n - r0);
    LK_RETURN_IF_ERROR(rng_permutation_at(out, m, seed, rows_stream, static_cast<uint64_t>(r0)));
    for (int64_t i = 0; i < m; ++i) out[i] += r0;
    out += m;
  }
  return Status::Ok();
}

Status rng_binarize_in_place(float* x, float* scratch, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  LK_RETURN_IF_ERROR(rng_uniform_fill(scratch, n, seed, stream, offset));
  for (int64_t i = 0; i < n; ++i) x[i] = scratch[i] < x[i] ? 1.0f : 0.0f;
  return Status::Ok();
}

namespace {
// fill(first row, rows, first position) over the runs of consecutive positions.
template <class Fill>
Status for_each_run(const int64_t* positions, int64_t rows, Fill fill) {
  if (!positions) return rows > 0 ? fill(0, rows, 0) : Status::Ok();
  for (int64_t b = 0; b < rows;) {
    int64_t e = b + 1;
    while (e < rows && positions[e] == positions[e - 1] + 1) ++e;
    LK_RETURN_IF_ERROR(fill(b, e - b, positions[b]));
    b = e;
  }
  return Status::Ok();
}
}  // namespace

Status rng_normal_fill_rows(float* out, const int64_t* positions, int64_t rows, int64_t width, uint64_t seed,
                            uint64_t stream) {
  return for_each_run(positions, rows, [&](int64_t b, int64_t n, int64_t p) {
    return rng_normal_fill(out + b * width, n * width, seed, stream, static_cast<uint64_t>(p * width));
  });
}

Status rng_binarize_rows_in_place(float* x, float* scratch, const int64_t* positions, int64_t rows, int64_t width,
                                  uint64_t seed, uint64_t stream) {
  return for_each_run(positions, rows, [&](int64_t b, int64_t n, int64_t p) {
    return rng_binarize_in_place(x + b * width, scratch + b * width, n * width, seed, stream,
                                 static_cast<uint64_t>(p * width));
  });
}

}  // namespace lk
