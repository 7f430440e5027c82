// fast_math.h — branch-free float exp/log that GCC auto-vectorises (no -ffast-math needed, so NaN checks still
// work). exp: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-7 Taylor polynomial, scale by 2^n
// (relative error ≈ 1e-7). log: the classic split y = m·2^e, m ∈ [√½, √2), with a degree-9 minimax polynomial in
// (m − 1) (coefficients as published in Moshier's Cephes library, relative error ≈ 1e-7). NaN propagates; inputs are
// clamped to the finite float range, so exp never returns Inf or a denormal.
#pragma once
#include <cstdint>
#include <cstring>

namespace lk {

constexpr float kLog2Pi = 1.8378770664093453f;  // log(2π)

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float fast_exp(float x) {
  x = x > 88.0f ? 88.0f : x;    // NaN compares false and passes through both clamps
  x = x < -87.0f ? -87.0f : x;
  const float shifter = 12582912.0f;  // 1.5·2^23: adding and subtracting it rounds to the nearest integer
  float fn = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - fn * 0.693359375f;  // ln2 split into an exact high part and a small low part
  r = r + fn * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t n = static_cast<int32_t>(fn);
  return p * bits_to_float(static_cast<uint32_t>(n + 127) << 23);
}

// Natural log for positive normal x (log(0) gives a large negative number, not -Inf; callers never pass 0).
inline float fast_log(float x) {
  uint32_t u = float_to_bits(x);
  float e = static_cast<float>(static_cast<int32_t>((u >> 23) & 0xff) - 126);
  float m = bits_to_float((u & 0x807fffffu) | 0x3f000000u);  // m ∈ [0.5, 1)
  bool small = m < 0.70710678118654752f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;  // m − 1 with m now in [√½, √2)
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += e * -2.12194440e-4f;
  y += -0.5f * z;
  float r = m + y + e * 0.693359375f;
  return x != x ? x : r;  // keep NaN
}

// log(1 + exp(x)) without overflow.
inline float fast_softplus(float x) {
  float a = x < 0.f ? -x : x;
  return (x > 0.f ? x : 0.f) + fast_log(1.0f + fast_exp(-a));
}

inline float fast_sigmoid(float x) {
  float e = fast_exp(x < 0.f ? x : -x);  // exp(−|x|) ∈ (0, 1]
  float s = 1.0f / (1.0f + e);
  return x >= 0.f ? s : e * s;
}

inline float fast_tanh(float x) {
  float e = fast_exp(-2.0f * (x < 0.f ? -x : x));  // exp(−2|x|)
  float t = (1.0f - e) / (1.0f + e);
  return x < 0.f ? -t : t;
}

}  // namespace lk

// Hot row loops are compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and the best is picked at load time,
// so the shipped build needs no -march flag. Other architectures get the one portable version.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define LK_TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LK_TARGET_CLONES
#endif
