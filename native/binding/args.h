// args.h — argument checks for every binding function, so that no call from JS can crash the process: each check
// throws a TypeError/RangeError "fn: Expected <what> for <name> but received <value>", and a failed Status
// becomes an Error with code "LATENTKIT_<CODE>".
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>

#include "../core/gemm.h"
#include "../core/status.h"

namespace lk {

// Largest element count a binding accepts for one array (keeps size products far from int64 overflow).
constexpr int64_t kMaxElements = int64_t(1) << 40;

std::string describe(const Napi::Value& v);
Napi::Error status_error(Napi::Env env, const Status& s);
[[noreturn]] void throw_status(Napi::Env env, const Status& s);

// Runs the body of a binding call, turning C++ exceptions other than Napi::Error into coded JS errors (an allocation
// failure: LATENTKIT_OUT_OF_MEMORY, saying how much was asked): any other exception leaving a binding call would
// abort the process.
Napi::Value guard(Napi::Env env, const std::function<Napi::Value()>& body);
// A JS function over `fn`, guarded.
Napi::Function guarded_function(Napi::Env env, const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&));

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}
  Napi::Env env() const { return info_.Env(); }

  // A Float32Array of exactly `length` elements (length < 0: any length); nullable allows null/undefined → nullptr.
  float* f32(size_t i, const char* name, int64_t length, bool nullable = false) const;
  double* f64(size_t i, const char* name, int64_t length, bool nullable = false) const;
  int64_t f32_length(size_t i, const char* name) const;
  int64_t* i64_array(size_t i, const char* name, int64_t length) const;
  int64_t integer(size_t i, const char* name, int64_t min, int64_t max = kMaxElements) const;
  uint64_t seed(size_t i, const char* name) const;  // a non-negative safe integer
  double number(size_t i, const char* name) const;  // any finite number
  bool boolean(size_t i, const char* name) const;
  Napi::Object object(size_t i, const char* name) const;
  Napi::Function function(size_t i, const char* name, bool optional) const;
  // An enum given as a string: its index in `names` (an error lists the valid names).
  int enumeration(size_t i, const char* name, std::initializer_list<const char*> names) const;
  // 'fp32' | 'bf16' (TypeScript resolves 'auto'); 'bf16' is refused, naming oneDNN's ISA, where the CPU has no
  // native bf16 (oneDNN would emulate it at several times the cost of fp32).
  Precision precision(size_t i) const;
  // Product of sizes, refused if it passes kMaxElements (with sizes of 0 counted as 1, so that B rows of width 0
  // cannot ask for 2^80 loop iterations).
  int64_t product(std::initializer_list<int64_t> sizes, const char* what) const;

  [[noreturn]] void type_error(const char* name, const std::string& what, const Napi::Value& got) const;
  [[noreturn]] void range_error(const char* name, const std::string& what, const Napi::Value& got) const;

  // Argument i, or undefined past the end (for optional trailing arguments).
  Napi::Value at(size_t i) const { return i < info_.Length() ? info_[i] : info_.Env().Undefined(); }

 private:
  const Napi::CallbackInfo& info_;
  const char* fn_;
};

// Reads an optional numeric property of an options object, checked like a positional argument.
double option_number(const Args& a, const Napi::Object& o, const char* key, double fallback);
int64_t option_integer(const Args& a, const Napi::Object& o, const char* key, int64_t fallback, int64_t min,
                       int64_t max);
bool option_bool(const Args& a, const Napi::Object& o, const char* key, bool fallback);
// Required options: TypeScript resolves every default (each defined once, there) and passes the value; a missing one
// is a TypeError naming it.
int64_t required_integer(const Args& a, const Napi::Object& o, const char* key, int64_t min, int64_t max);
double required_number(const Args& a, const Napi::Object& o, const char* key);
bool required_bool(const Args& a, const Napi::Object& o, const char* key);
int required_enum(const Args& a, const Napi::Object& o, const char* key, std::initializer_list<const char*> names);
Precision required_precision(const Args& a, const Napi::Object& o);  // the property `precision`, as Args::precision
// An enum crossing as a string: the index of the property's value in `names` (fallback when absent); any other
// value is an error that lists the valid names.
int option_enum(const Args& a, const Napi::Object& o, const char* key, int fallback,
                std::initializer_list<const char*> names);
// An optional Float64Array property of exactly `length` elements; nullptr when absent.
double* option_f64(const Args& a, const Napi::Object& o, const char* key, int64_t length);

}  // namespace lk
