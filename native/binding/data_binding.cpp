// data_binding.cpp — the JS object `data`: files mapped into memory, and the rows a call reads (data_binding.h).
//   mapFile(path) → ArrayBuffer over the whole file (copy-on-write; unmapped when the buffer and every source over
//                   it are gone)
//   isMapped(typedArray) → whether its bytes lie in a mapped file
#include "data_binding.h"

#include <cstring>
#include <string>
#include <vector>

#include "../core/memory.h"
#include "../data/mapped_file.h"

namespace lk {

namespace {

struct Bytes {
  const void* data = nullptr;
  int64_t length = 0;  // elements
  std::shared_ptr<MappedFile> mapping;
};

Bytes typed_bytes(const Napi::TypedArray& t) {
  Bytes b;
  b.data = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  b.length = static_cast<int64_t>(t.ElementLength());
  if (t.ByteLength() > 0) b.mapping = find_mapping(b.data, t.ByteLength());
  return b;
}

template <typename T>
std::vector<T> copy_typed(const Args& a, const Napi::Object& o, const char* key, napi_typedarray_type kind,
                          const char* what, const std::string& name) {
  Napi::Value v = o.Get(key);
  const std::string field = name + "." + key;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind) a.type_error(field.c_str(), what, v);
  auto t = v.As<Napi::TypedArrayOf<T>>();
  if (static_cast<int64_t>(t.ElementLength()) > kMaxElements) a.range_error(field.c_str(), "at most 2^40 values", v);
  reserve_bytes(static_cast<int64_t>(t.ElementLength()), sizeof(T), field.c_str());
  return std::vector<T>(t.Data(), t.Data() + t.ElementLength());
}

std::shared_ptr<const RowSource> source_of(const Args& a, const Napi::Value& v, const std::string& name, int64_t cols,
                                           bool own, Support support, int64_t expected_rows) {
  const char* what =
      "a Float32Array, a Uint8Array, a CSR matrix { indptr, indices, values } or a row subset { base, rows }";
  auto check_rows = [&](int64_t rows) {
    if (expected_rows >= 0 && rows != expected_rows)
      a.range_error(name.c_str(), std::to_string(expected_rows) + " rows of " + std::to_string(cols) + " values", v);
  };
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    const napi_typedarray_type kind = t.TypedArrayType();
    if (kind != napi_float32_array && kind != napi_uint8_array) a.type_error(name.c_str(), what, v);
    Bytes b = typed_bytes(t);
    if (b.length % cols != 0)
      a.range_error(name.c_str(), "a whole number of rows of " + std::to_string(cols) + " values", v);
    const int64_t rows = b.length / cols;
    check_rows(rows);
    Storage storage;
    const size_t bytes = t.ByteLength();
    if (b.mapping) {
      storage.mapping = b.mapping.get();
      storage.keep = b.mapping;
    } else if (own) {
      reserve_bytes(static_cast<int64_t>(bytes), 1, name.c_str());
      auto copy = std::make_shared<std::vector<uint8_t>>(static_cast<const uint8_t*>(b.data),
                                                         static_cast<const uint8_t*>(b.data) + bytes);
      b.data = copy->data();
      storage.keep = copy;
    }
    if (kind == napi_uint8_array)
      return dense_u8_source(name, static_cast<const uint8_t*>(b.data), rows, cols, std::move(storage));
    return dense_f32_source(name, static_cast<const float*>(b.data), rows, cols, std::move(storage),
                            /*checked=*/!b.mapping, support);
  }
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) a.type_error(name.c_str(), what, v);
  Napi::Object o = v.As<Napi::Object>();
  std::shared_ptr<const RowSource> out;
  Status s;
  if (o.Has("base")) {
    std::vector<int64_t> idx = copy_typed<int64_t>(a, o, "rows", napi_bigint64_array, "a BigInt64Array", name);
    check_rows(static_cast<int64_t>(idx.size()));
    s = subset_source(source_of(a, o.Get("base"), name, cols, own, support, -1), std::move(idx), &out);
  } else if (o.Has("indptr")) {
    std::vector<int64_t> indptr = copy_typed<int64_t>(a, o, "indptr", napi_bigint64_array, "a BigInt64Array", name);
    if (indptr.empty()) a.range_error((name + ".indptr").c_str(), "rows + 1 entries", o.Get("indptr"));
    const int64_t rows = static_cast<int64_t>(indptr.size()) - 1;
    check_rows(rows);
    s = csr_source(name, rows, cols, std::move(indptr),
                   copy_typed<int32_t>(a, o, "indices", napi_int32_array, "an Int32Array", name),
                   copy_typed<float>(a, o, "values", napi_float32_array, "a Float32Array", name), support, &out);
  } else {
    a.type_error(name.c_str(), what, v);
  }
  if (!s.ok()) throw_status(a.env(), s);
  return out;
}

// mapFile(path) → ArrayBuffer
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "mapFile: Expected a file path (string) for path");
  std::shared_ptr<MappedFile> m;
  Status s = MappedFile::Open(info[0].As<Napi::String>().Utf8Value(), &m);
  if (!s.ok()) throw_status(env, s);
  auto* hold = new std::shared_ptr<MappedFile>(m);
  return Napi::ArrayBuffer::New(env, m->data(), m->size(),
                                [](Napi::Env, void*, std::shared_ptr<MappedFile>* h) { delete h; }, hold);
}

// isMapped(typedArray) → boolean
Napi::Value IsMapped(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray())
    throw Napi::TypeError::New(env, "isMapped: Expected a typed array for array");
  auto t = info[0].As<Napi::TypedArray>();
  return Napi::Boolean::New(env, t.ByteLength() > 0 && typed_bytes(t).mapping != nullptr);
}

}  // namespace

std::shared_ptr<const RowSource> source_arg(const Args& a, size_t i, const char* name, int64_t rows, int64_t cols,
                                            bool own, Support support) {
  return source_of(a, a.at(i), name, cols, own, support, rows);
}

Napi::Object init_data(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("mapFile", guarded_function(env, "mapFile", MapFile));
  o.Set("isMapped", guarded_function(env, "isMapped", IsMapped));
  return o;
}

}  // namespace lk
