// args.cpp — see args.h.
#include "args.h"

#include <new>

#include "../core/memory.h"
#include "env_state.h"

namespace lk {

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::string s = std::to_string(d);
    if (d == std::floor(d) && std::fabs(d) < 1e15) s = std::to_string(static_cast<int64_t>(d));
    return s;
  }
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "…";
    return "\"" + s + "\"";
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsTypedArray()) {
    auto t = v.As<Napi::TypedArray>();
    const char* kind = t.TypedArrayType() == napi_float32_array ? "Float32Array" : "a typed array of another type";
    return std::string(kind) + " of length " + std::to_string(t.ElementLength());
  }
  if (v.IsArray()) return "an Array";
  if (v.IsFunction()) return "a function";
  if (v.IsBigInt()) return "a BigInt";
  return "an object";
}

Napi::Error status_error(Napi::Env env, const Status& s) {
  const std::string code = std::string("LATENTKIT_") + code_name(s.code);
  const Napi::FunctionReference& cls = env_state(env).error_class;
  if (!cls.IsEmpty()) return Napi::Error(env, cls.New({Napi::String::New(env, code), Napi::String::New(env, s.message)}));
  Napi::Error e = Napi::Error::New(env, s.message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

void throw_status(Napi::Env env, const Status& s) { throw status_error(env, s); }

Napi::Value guard(Napi::Env env, const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc& e) {
    throw status_error(env, out_of_memory_status(e));
  } catch (const std::exception& e) {
    throw status_error(env, Status::Error(Code::Backend, e.what()));
  }
}

Napi::Function guarded_function(Napi::Env env, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  return Napi::Function::New(
      env, [fn](const Napi::CallbackInfo& info) { return guard(info.Env(), [&] { return fn(info); }); }, name);
}

void Args::type_error(const char* name, const std::string& what, const Napi::Value& got) const {
  throw Napi::TypeError::New(env(), std::string(fn_) + ": Expected " + what + " for " + name + " but received " +
                                        describe(got));
}

void Args::range_error(const char* name, const std::string& what, const Napi::Value& got) const {
  throw Napi::RangeError::New(env(), std::string(fn_) + ": Expected " + what + " for " + name + " but received " +
                                         describe(got));
}

namespace {
// A typed array of element type T (napi type `kind`, JS name `type_name`) with exactly `length` elements.
template <typename T>
T* typed_array(const Args& a, const Napi::Value& v, const char* name, int64_t length, bool nullable,
               napi_typedarray_type kind, const char* type_name) {
  if (nullable && (v.IsNull() || v.IsUndefined())) return nullptr;
  std::string what = length >= 0 ? std::string("a ") + type_name + " of length " + std::to_string(length)
                                 : std::string("a ") + type_name;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind) a.type_error(name, what, v);
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (length >= 0 && static_cast<int64_t>(arr.ElementLength()) != length) a.range_error(name, what, v);
  if (arr.ElementLength() == 0) return nullptr;
  return arr.Data();
}
}  // namespace

float* Args::f32(size_t i, const char* name, int64_t length, bool nullable) const {
  return typed_array<float>(*this, at(i), name, length, nullable, napi_float32_array, "Float32Array");
}

double* Args::f64(size_t i, const char* name, int64_t length, bool nullable) const {
  return typed_array<double>(*this, at(i), name, length, nullable, napi_float64_array, "Float64Array");
}

int64_t Args::f32_length(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    type_error(name, "a Float32Array", v);
  return static_cast<int64_t>(v.As<Napi::Float32Array>().ElementLength());
}

int64_t* Args::i64_array(size_t i, const char* name, int64_t length) const {
  Napi::Value v = at(i);
  std::string what = "a BigInt64Array of length " + std::to_string(length);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array) type_error(name, what, v);
  auto a = v.As<Napi::TypedArrayOf<int64_t>>();
  if (static_cast<int64_t>(a.ElementLength()) != length) range_error(name, what, v);
  return a.ElementLength() ? a.Data() : nullptr;
}

int64_t Args::integer(size_t i, const char* name, int64_t min, int64_t max) const {
  Napi::Value v = at(i);
  std::string what = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!v.IsNumber()) type_error(name, what, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max))
    range_error(name, what, v);
  return static_cast<int64_t>(d);
}

uint64_t Args::seed(size_t i, const char* name) const {
  return static_cast<uint64_t>(integer(i, name, 0, (int64_t(1) << 53) - 1));
}

double Args::number(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsNumber()) type_error(name, "a finite number", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) range_error(name, "a finite number", v);
  return d;
}

bool Args::boolean(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsBoolean()) type_error(name, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

Napi::Object Args::object(size_t i, const char* name) const {
  Napi::Value v = at(i);
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) type_error(name, "an options object", v);
  return v.As<Napi::Object>();
}

Napi::Function Args::function(size_t i, const char* name, bool optional) const {
  Napi::Value v = at(i);
  if (optional && (v.IsUndefined() || v.IsNull())) return Napi::Function();
  if (!v.IsFunction()) type_error(name, "a function", v);
  return v.As<Napi::Function>();
}

int64_t Args::product(std::initializer_list<int64_t> sizes, const char* what) const {
  // The bound applies to the product of the non-zero sizes too: loops over B rows of zero width still run B times.
  int64_t p = 1, nonzero = 1;
  for (int64_t s : sizes) {
    const int64_t f = s > 0 ? s : 1;
    if (nonzero > kMaxElements / f)
      throw Napi::RangeError::New(env(), std::string(fn_) + ": " + what + " has more than 2^40 elements (counting " +
                                             "sizes of 0 as 1)");
    nonzero *= f;
    p *= s;
  }
  return p;
}

namespace {
Napi::Value prop(const Napi::Object& o, const char* key) { return o.Has(key) ? o.Get(key) : o.Env().Undefined(); }

}  // namespace

double option_number(const Args& a, const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = prop(o, key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) a.type_error(key, "a finite number", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) a.range_error(key, "a finite number", v);
  return d;
}

int64_t option_integer(const Args& a, const Napi::Object& o, const char* key, int64_t fallback, int64_t min,
                       int64_t max) {
  Napi::Value v = prop(o, key);
  if (v.IsUndefined()) return fallback;
  std::string what = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!v.IsNumber()) a.type_error(key, what, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max))
    a.range_error(key, what, v);
  return static_cast<int64_t>(d);
}

double* option_f64(const Args& a, const Napi::Object& o, const char* key, int64_t length) {
  Napi::Value v = prop(o, key);
  return typed_array<double>(a, v, key, length, true, napi_float64_array, "Float64Array");
}

bool option_bool(const Args& a, const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = prop(o, key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) a.type_error(key, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}

}  // namespace lk

namespace lk {

int option_enum(const Args& a, const Napi::Object& o, const char* key, int fallback,
                std::initializer_list<const char*> names) {
  Napi::Value v = prop(o, key);
  if (v.IsUndefined()) return fallback;
  std::string what = "one of";
  int i = 0;
  for (const char* n : names) what += std::string(i++ ? ", '" : " '") + n + "'";
  if (!v.IsString()) a.type_error(key, what, v);
  const std::string s = v.As<Napi::String>().Utf8Value();
  i = 0;
  for (const char* n : names) {
    if (s == n) return i;
    ++i;
  }
  a.range_error(key, what, v);
}

}  // namespace lk

namespace lk {

namespace {
std::string names_list(std::initializer_list<const char*> names) {
  std::string what = "one of";
  int i = 0;
  for (const char* n : names) what += std::string(i++ ? ", '" : " '") + n + "'";
  return what;
}
void require(const Args& a, const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) a.type_error(key, "a value (the caller resolves every option)", o.Env().Undefined());
}
}  // namespace

int Args::enumeration(size_t i, const char* name, std::initializer_list<const char*> names) const {
  Napi::Value v = at(i);
  const std::string what = names_list(names);
  if (!v.IsString()) type_error(name, what, v);
  const std::string s = v.As<Napi::String>().Utf8Value();
  int k = 0;
  for (const char* n : names) {
    if (s == n) return k;
    ++k;
  }
  range_error(name, what, v);
}

namespace {
Precision checked_precision(const Args& a, int index, const Napi::Value& v) {
  if (index == 1 && !bf16_native())
    a.range_error("precision",
                  std::string("'fp32' (this CPU has no native bf16: oneDNN's ISA is ") + gemm_effective_isa() +
                      "; bf16 needs AVX512-BF16 or AMX)",
                  v);
  return index == 1 ? Precision::Bf16 : Precision::Fp32;
}
}  // namespace

Precision Args::precision(size_t i) const { return checked_precision(*this, enumeration(i, "precision", {"fp32", "bf16"}), at(i)); }

Precision required_precision(const Args& a, const Napi::Object& o) {
  return checked_precision(a, required_enum(a, o, "precision", {"fp32", "bf16"}), o.Get("precision"));
}

int64_t required_integer(const Args& a, const Napi::Object& o, const char* key, int64_t min, int64_t max) {
  require(a, o, key);
  return option_integer(a, o, key, 0, min, max);
}
double required_number(const Args& a, const Napi::Object& o, const char* key) {
  require(a, o, key);
  return option_number(a, o, key, 0);
}
bool required_bool(const Args& a, const Napi::Object& o, const char* key) {
  require(a, o, key);
  return option_bool(a, o, key, false);
}
int required_enum(const Args& a, const Napi::Object& o, const char* key, std::initializer_list<const char*> names) {
  require(a, o, key);
  return option_enum(a, o, key, 0, names);
}

}  // namespace lk
