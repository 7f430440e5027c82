// data_binding.h — the rows a binding call reads (data/source.h) from its JS argument.
#pragma once
#include <napi.h>

#include <memory>

#include "../data/source.h"
#include "args.h"

namespace lk {

// Argument i as `rows` rows of `cols` values, given as one of
//   Float32Array (rows × cols) | Uint8Array (rows × cols, read as v / 255)
//   { indptr: BigInt64Array (rows + 1), indices: Int32Array, values: Float32Array }  (CSR)
//   { base: <any of these>, rows: BigInt64Array }  (those rows of base, in that order)
// A dense array inside a mapped file (data.mapFile) is borrowed, the mapping kept alive by the source, and its
// float32 values are checked as they are read (finite, inside `support`: the TypeScript layer checks the values of
// in-memory arrays); any other array is copied when `own` (an async job reads it after the call returns), else
// borrowed for the call. CSR values are checked here.
std::shared_ptr<const RowSource> source_arg(const Args& a, size_t i, const char* name, int64_t rows, int64_t cols,
                                            bool own, Support support);

}  // namespace lk
