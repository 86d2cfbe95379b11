// Quantizers of the 32-value formats Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (layouts in blocks.h).
//
// The scale comes straight from the block's extremes, as in llama.cpp's reference quantizers
// (ggml-quants.c, quantize_row_q4_0_ref ...): symmetric formats divide the value of largest
// magnitude by the most negative level (-8 or -16), so that value lands exactly on a level
// and the sign that gets the extra level is the one that needs it; Q8_0 uses max|x| / 127;
// the `_1` formats spread [min, max] over all levels. Values are then rounded to the nearest
// level with the unrounded scale, and the scale is stored as f16.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/quantize.h"

namespace sluice::quant {
namespace {

// The value of largest magnitude, with its sign (the first one on ties).
float signed_absmax(const float* x, int n) {
  float best = 0.0f, best_abs = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > best_abs) {
      best_abs = std::fabs(x[i]);
      best = x[i];
    }
  }
  return best;
}

void min_max(const float* x, int n, float& lo, float& hi) {
  lo = x[0];
  hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
}

float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// Levels 0 .. 2^bits - 1 of value (x - offset) * inverse_scale, rounded half up: the
// argument is >= -0.5 by construction, so truncation after adding 0.5 rounds.
template <int kBits>
int level_of(float x, float offset_plus_half_scaled, float inverse_scale) {
  const int level = static_cast<int>(x * inverse_scale + offset_plus_half_scaled);
  return std::clamp(level, 0, (1 << kBits) - 1);
}

// Writes 32 levels as 16 bytes of nibbles (value j low, j + 16 high) and, for 5-bit formats,
// the fifth bits into the 32-bit qh (bit j for value j).
void pack_nibbles(const int* levels, uint8_t* qs, uint8_t* qh) {
  uint32_t high_bits = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((levels[j] & 0x0f) | ((levels[j + 16] & 0x0f) << 4));
    high_bits |= static_cast<uint32_t>((levels[j] >> 4) & 1) << j;
    high_bits |= static_cast<uint32_t>((levels[j + 16] >> 4) & 1) << (j + 16);
  }
  if (qh != nullptr) std::memcpy(qh, &high_bits, sizeof(high_bits));
}

// Symmetric: d = extreme / -2^(bits-1), level = x / d + 2^(bits-1).
template <int kBits, class Block>
void quantize_symmetric(const float* x, Block& block, uint8_t* qh) {
  constexpr int kZero = 1 << (kBits - 1);
  const float d = signed_absmax(x, 32) / -static_cast<float>(kZero);
  const float inverse = inverse_or_zero(d);
  block.d = f32_to_f16_nearest(d);
  int levels[32];
  for (int j = 0; j < 32; ++j) levels[j] = level_of<kBits>(x[j], static_cast<float>(kZero) + 0.5f, inverse);
  pack_nibbles(levels, block.qs, qh);
}

// With minimum: d = (max - min) / (2^bits - 1), level = (x - min) / d.
template <int kBits, class Block>
void quantize_with_min(const float* x, Block& block, uint8_t* qh) {
  float lo = 0.0f, hi = 0.0f;
  min_max(x, 32, lo, hi);
  const float d = (hi - lo) / static_cast<float>((1 << kBits) - 1);
  const float inverse = inverse_or_zero(d);
  block.d = f32_to_f16_nearest(d);
  block.m = f32_to_f16_nearest(lo);
  int levels[32];
  for (int j = 0; j < 32; ++j) levels[j] = level_of<kBits>(x[j] - lo, 0.5f, inverse);
  pack_nibbles(levels, block.qs, qh);
}

}  // namespace

void quantize_blocks(const float* src, BlockQ4_0* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) quantize_symmetric<4>(src + 32 * b, dst[b], nullptr);
}

void quantize_blocks(const float* src, BlockQ5_0* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) quantize_symmetric<5>(src + 32 * b, dst[b], dst[b].qh);
}

void quantize_blocks(const float* src, BlockQ4_1* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) quantize_with_min<4>(src + 32 * b, dst[b], nullptr);
}

void quantize_blocks(const float* src, BlockQ5_1* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) quantize_with_min<5>(src + 32 * b, dst[b], dst[b].qh);
}

// Q8_0: d = max|x| / 127, q = round(x / d) (halves away from zero).
void quantize_blocks(const float* src, BlockQ8_0* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + 32 * b;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inverse = inverse_or_zero(d);
    dst[b].d = f32_to_f16_nearest(d);
    for (int j = 0; j < 32; ++j) dst[b].qs[j] = static_cast<int8_t>(std::round(x[j] * inverse));
  }
}

}  // namespace sluice::quant
