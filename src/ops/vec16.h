// Sixteen floats as one value, by GCC vector extensions: one AVX-512 register each (two
// AVX2 ones), for the f32 loops of attention and activations.
#pragma once

#include <bit>
#include <cstdint>

namespace sluice::ops {

using Vec16 = float __attribute__((vector_size(64)));
using Int16 = int32_t __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

inline Vec16 load(const float* p) {
  Vec16 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline void store(float* p, Vec16 v) { __builtin_memcpy(p, &v, sizeof(v)); }

inline Vec16 splat(float x) { return Vec16{} + x; }

// Keeps v in a register from here on. GCC otherwise folds a loaded vector into every
// multiply-add that uses it as a memory operand, one load per use where one in all does,
// and on Zen 4 a core loads one 512-bit vector per cycle. (A Vec16 is one register only
// with AVX-512.)
inline void keep_in_register(Vec16& v) {
#if defined(__AVX512F__)
  asm("" : "+v"(v));
#else
  (void)v;
#endif
}

// e^x in every lane: Cephes' expf (x = n ln 2 + r with ln 2 split in two parts, a degree-5
// polynomial for e^r), close to 1 ulp of e^x on [-87, 88] (test_ops checks 2) and e^0 = 1
// exactly. Results below FLT_MIN become 0, which also maps -inf (a masked score) to exactly
// 0; inputs above 88 give e^88.
inline Vec16 exp_vec(Vec16 x) {
  constexpr float kMin = -87.0f, kMax = 88.0f;
  // Adding 1.5 * 2^23 rounds to an integer held in the low bits of the mantissa.
  constexpr float kRound = 12582912.0f;
  const Int16 underflow = x < splat(kMin);
  x = x < splat(kMin) ? splat(kMin) : x;
  x = x > splat(kMax) ? splat(kMax) : x;
  const Vec16 shifted = x * 1.44269504088896341f + kRound;
  const Vec16 n = shifted - kRound;
  Vec16 r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  Vec16 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const Int16 two_to_n = ((Int16)shifted - std::bit_cast<int32_t>(kRound) + 127) << 23;
  return underflow ? splat(0.0f) : p * (Vec16)two_to_n;
}

}  // namespace sluice::ops
