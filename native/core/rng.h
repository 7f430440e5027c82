// rng.h — counter-based Philox4x32-10 (Salmon et al., SC'11). A draw is a pure function of (seed, stream, index),
// so a stream is identical for any thread count and on CPU and GPU. Streams name a purpose × step, e.g.
// stream = (purpose << 48) | step. Normal draws use Box–Muller on pairs of 24-bit uniforms.
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

struct Philox4 { uint32_t v[4]; };

// One block of four 32-bit words for counter (index, stream) under key seed.
Philox4 philox4x32_10(uint64_t seed, uint64_t stream, uint64_t index);

// out[i] = N(0, 1) draw number (offset + i) of (seed, stream). out: (n)
Status rng_normal_fill(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);
// out[i] = U[0, 1) draw number (offset + i) of (seed, stream). out: (n)
Status rng_uniform_fill(float* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);
// Dynamic binarisation in place: x_i ~ Bernoulli(x_i), with the uniforms of (seed, stream) from draw `offset` drawn
// into `scratch`.  x, scratch: (n)
Status rng_binarize_in_place(float* x, float* scratch, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);
// Rows of a batch whose draws are numbered by their positions in a larger batch (a data-parallel rank holds some rows
// of each batch, train/trainer.h): row b's `width` draws are draws positions[b]·width … of (seed, stream); positions
// null: row b is position b. Each run of consecutive positions is one fill.  out, x, scratch: (rows, width)
Status rng_normal_fill_rows(float* out, const int64_t* positions, int64_t rows, int64_t width, uint64_t seed,
                            uint64_t stream);
Status rng_binarize_rows_in_place(float* x, float* scratch, const int64_t* positions, int64_t rows, int64_t width,
                                  uint64_t seed, uint64_t stream);
// A uniformly random permutation of 0..n-1 (Fisher–Yates driven by the stream; _at: from draw `offset` on). perm: (n)
Status rng_permutation(int64_t* perm, int64_t n, uint64_t seed, uint64_t stream);
Status rng_permutation_at(int64_t* perm, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);
// A block shuffle of 0..n-1: the blocks [b·block, (b + 1)·block) (the last one shorter) in the order
// block_order = a permutation of the blocks drawn from order_stream, and the rows of block b in the order of a
// permutation drawn from rows_stream at offset b·block. perm: (n); block_order: (⌈n / block⌉)
Status rng_block_permutation(int64_t* perm, int64_t* block_order, int64_t n, int64_t block, uint64_t seed,
                             uint64_t order_stream, uint64_t rows_stream);

// Purposes that make up a stream id.
// DataSplit, DataBinarize and MixtureSample are drawn from the TypeScript layer (lib/rng.ts mirrors this list).
// ClusterInit: k-means++ / random initialisations; LatentSample: z ~ p(z | x) of Monte-Carlo EM; BlockOrder and
// BlockRows: a block shuffle's order of blocks and its order of rows within each block.
enum class RngPurpose : uint64_t {
  Init = 1, Eps = 2, Binarize = 3, Permutation = 4, Sample = 5, Eval = 6, DataSplit = 7, DataBinarize = 8,
  ClusterInit = 9, LatentSample = 10, MixtureSample = 11, BlockOrder = 12, BlockRows = 13
};
inline uint64_t rng_stream(RngPurpose p, uint64_t step) { return (static_cast<uint64_t>(p) << 48) ^ step; }

}  // namespace lk
