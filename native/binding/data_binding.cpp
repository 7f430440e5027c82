// data_binding.cpp — the JS object `data`: files mapped into memory, and the rows a call reads (data_binding.h).
//   mapFile(path) → a Mapping { byteLength(), read(offset, length) → Buffer (a copy) }: the whole file mapped
//                   copy-on-write, unmapped when the Mapping and every source over it are gone. (Not an ArrayBuffer:
//                   Node 20 aborts on an external ArrayBuffer over 4 GB, and JS only ever reads a few rows of one.)
//   gather(x, rows, cols, indices, out): rows `indices` (BigInt64Array) of any source densified into out (Float32Array
//                   of indices.length × cols), values not checked against a likelihood
#include "data_binding.h"

#include <cstring>
#include <string>
#include <vector>

#include "../core/memory.h"
#include "../data/mapped_file.h"
#include "env_state.h"

namespace lk {

namespace {

Napi::FunctionReference& mapping_class(Napi::Env env) { return env_state(env).mapping_class; }

// A mapped file as a JS object.
class Mapping : public Napi::ObjectWrap<Mapping> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Mapping", {InstanceMethod("byteLength", &Mapping::ByteLength), InstanceMethod("read", &Mapping::Read)});
  }
  explicit Mapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Mapping>(info) {}
  std::shared_ptr<MappedFile> file;

 private:
  Napi::Value ByteLength(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), file ? static_cast<double>(file->size()) : 0);
  }
  // read(offset, length) → a Buffer copy of those bytes (clipped to the file)
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Args a(info, "Mapping.read");
    const int64_t size = file ? static_cast<int64_t>(file->size()) : 0;
    const int64_t offset = a.integer(0, "offset", 0, size);
    const int64_t length = std::min<int64_t>(a.integer(1, "length", 0, int64_t(1) << 30), size - offset);
    return Napi::Buffer<uint8_t>::Copy(info.Env(), file ? file->data() + offset : nullptr, static_cast<size_t>(length));
  }
};

Mapping* as_mapping(Napi::Env env, const Napi::Value& v) {
  const Napi::FunctionReference& cls = mapping_class(env);
  if (!v.IsObject() || cls.IsEmpty() || !v.As<Napi::Object>().InstanceOf(cls.Value())) return nullptr;
  return Napi::ObjectWrap<Mapping>::Unwrap(v.As<Napi::Object>());
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
      "a Float32Array, a Uint8Array, a mapped file { mapping, offset, dtype }, a CSR matrix { indptr, indices, values } or a row subset { base, rows }";
  auto check_rows = [&](int64_t rows) {
    if (expected_rows >= 0 && rows != expected_rows)
      a.range_error(name.c_str(), std::to_string(expected_rows) + " rows of " + std::to_string(cols) + " values", v);
  };
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    const napi_typedarray_type kind = t.TypedArrayType();
    if (kind != napi_float32_array && kind != napi_uint8_array) a.type_error(name.c_str(), what, v);
    const auto* data = static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
    const int64_t length = static_cast<int64_t>(t.ElementLength());
    if (length % cols != 0)
      a.range_error(name.c_str(), "a whole number of rows of " + std::to_string(cols) + " values", v);
    const int64_t rows = length / cols;
    check_rows(rows);
    Storage storage;
    if (own) {
      const size_t bytes = t.ByteLength();
      std::shared_ptr<uint8_t> copy = allocate_large(static_cast<int64_t>(bytes), name.c_str());
      if (bytes > 0) std::memcpy(copy.get(), data, bytes);
      data = copy.get();
      storage.keep = std::move(copy);
    }
    if (kind == napi_uint8_array) return dense_u8_source(name, data, rows, cols, std::move(storage));
    return dense_f32_source(name, reinterpret_cast<const float*>(data), rows, cols, std::move(storage),
                            /*checked=*/true, support);
  }
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) a.type_error(name.c_str(), what, v);
  Napi::Object o = v.As<Napi::Object>();
  std::shared_ptr<const RowSource> out;
  Status s;
  if (o.Has("mapping")) {  // { mapping, offset, dtype: 'float32' | 'uint8' }: rows read in place, never copied
    Mapping* m = as_mapping(a.env(), o.Get("mapping"));
    if (!m || !m->file) a.type_error((name + ".mapping").c_str(), "a Mapping from data.mapFile", o.Get("mapping"));
    const int dtype = required_enum(a, o, "dtype", {"float32", "uint8"});
    const int64_t size = static_cast<int64_t>(m->file->size());
    const int64_t offset = required_integer(a, o, "offset", 0, size);
    const int64_t width = dtype == 0 ? 4 : 1;
    if (dtype == 0 && offset % 4 != 0) a.range_error((name + ".offset").c_str(), "a multiple of 4 (float32 values)", o.Get("offset"));
    const int64_t rows = expected_rows >= 0 ? expected_rows : (size - offset) / (width * cols);
    if (checked_product({rows, cols, width}) < 0 || checked_product({rows, cols, width}) > size - offset)
      a.range_error(name.c_str(), std::to_string(rows) + " rows of " + std::to_string(cols) + " values inside the file", v);
    Storage storage;
    storage.keep = m->file;
    storage.mapping = m->file.get();
    const uint8_t* data = m->file->data() + offset;
    if (dtype == 1) return dense_u8_source(name, data, rows, cols, std::move(storage));
    return dense_f32_source(name, reinterpret_cast<const float*>(data), rows, cols, std::move(storage),
                            /*checked=*/false, support);
  }
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

// mapFile(path) → Mapping
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "mapFile: Expected a file path (string) for path");
  std::shared_ptr<MappedFile> m;
  Status s = MappedFile::Open(info[0].As<Napi::String>().Utf8Value(), &m);
  if (!s.ok()) throw_status(env, s);
  Napi::Object o = mapping_class(env).New({});
  Napi::ObjectWrap<Mapping>::Unwrap(o)->file = std::move(m);
  return o;
}

// gather(x, rows, cols, indices, out)
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Args a(info, "gather");
  const int64_t rows = a.integer(1, "rows", 0);
  const int64_t cols = a.integer(2, "cols", 1, 1 << 24);
  std::shared_ptr<const RowSource> x = source_arg(a, 0, "x", rows, cols, false, Support::Real);
  Napi::Value iv = a.at(3);
  if (!iv.IsTypedArray() || iv.As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array)
    a.type_error("indices", "a BigInt64Array", iv);
  auto idx = iv.As<Napi::TypedArrayOf<int64_t>>();
  const int64_t n = static_cast<int64_t>(idx.ElementLength());
  float* out = a.f32(4, "out", a.product({n, cols}, "out"));
  const int64_t* rows_asked = idx.Data();
  for (int64_t i = 0; i < n; ++i)
    if (rows_asked[i] < 0 || rows_asked[i] >= rows)
      a.range_error("indices", "row indices in [0, " + std::to_string(rows) + ")",
                    Napi::Number::New(a.env(), static_cast<double>(rows_asked[i])));
  Status s = n > 0 ? x->gather(out, rows_asked, n) : Status::Ok();
  if (!s.ok()) throw_status(a.env(), s);
  return a.env().Undefined();
}

}  // namespace

std::shared_ptr<const RowSource> source_arg(const Args& a, size_t i, const char* name, int64_t rows, int64_t cols,
                                            bool own, Support support) {
  return source_of(a, a.at(i), name, cols, own, support, rows);
}

Napi::Object init_data(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  mapping_class(env) = Napi::Persistent(Mapping::Define(env));
  o.Set("mapFile", guarded_function(env, "mapFile", MapFile));
  o.Set("gather", guarded_function(env, "gather", Gather));
  return o;
}

}  // namespace lk
