// The one-token AVX2 dot product of rows of 32-value blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// IQ4_NL, MXFP4), given each format's integer products of a block.
//
// Blocks go eight at a time: their int32 lanes are reduced together (lane_totals), so one
// conversion and one multiply-add scale eight blocks, with their scales (and minimums)
// converted in one vector; block by block, each took a conversion, a broadcast and a
// multiply-add of its own. Sums accumulate in vector lanes, so they are ordered differently
// from dot_scalar.cpp's (equal within float rounding; see kernels.h).
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// A block's scale as f32: f16 d, or MXFP4's E8M0 exponent (halved: its levels are doubled).
template <class Block>
inline float block_scale(const Block& x) {
  if constexpr (requires { x.e; }) {
    return kE8m0HalfToF32[x.e];
  } else {
    return f16(x.d);
  }
}

// The scales of eight consecutive blocks as f32 lanes.
template <class Block>
inline __m256 eight_scales(const Block* wb) {
  if constexpr (requires { wb->e; }) {
    return _mm256_setr_ps(block_scale(wb[0]), block_scale(wb[1]), block_scale(wb[2]), block_scale(wb[3]),
                          block_scale(wb[4]), block_scale(wb[5]), block_scale(wb[6]), block_scale(wb[7]));
  } else {
    const auto d = [&](int i) { return static_cast<short>(wb[i].d); };
    return _mm256_cvtph_ps(_mm_setr_epi16(d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7)));
  }
}

// The minimums of eight consecutive blocks (formats with an f16 m) as f32 lanes.
template <class Block>
inline __m256 eight_minimums(const Block* wb) {
  const auto m = [&](int i) { return static_cast<short>(wb[i].m); };
  return _mm256_cvtph_ps(_mm_setr_epi16(m(0), m(1), m(2), m(3), m(4), m(5), m(6), m(7)));
}

// The dot product of a row of n values: block_dot(block, activation quants) gives a block's
// integer sums as int32 lanes, scaled by scale y_d; formats with a minimum m add m y_d sum a.
// Formats stored with an offset (value q - kOffset) may give block_dot's sums of q a, which
// take unsigned weights and so skip the sign trick; kOffset sum a then comes off each block's
// total, from the activations' block sums.
template <class Block, int kOffset = 0, class BlockDot>
float sum_blocks32(const std::byte* w, const std::byte* act, int64_t n, BlockDot block_dot) {
  const auto* wb = reinterpret_cast<const Block*>(w);
  const Q8x32View acts = view_q8x32(act, n);
  const int64_t nb = n / 32;
  constexpr bool kMinimums = requires(const Block& x) { x.m; };
  __m256 acc = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    prefetch_ahead<8 * sizeof(Block)>(wb + b);
    __m256i p[8];
    for (int i = 0; i < 8; ++i) p[i] = block_dot(wb[b + i], acts.qs + 32 * (b + i));
    __m256i totals = lane_totals(p);
    if constexpr (kOffset != 0) {
      totals = _mm256_sub_epi32(totals, _mm256_mullo_epi32(load256(acts.sum + b), _mm256_set1_epi32(kOffset)));
    }
    const __m256 y_d = _mm256_loadu_ps(acts.d + b);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(eight_scales(wb + b), y_d), _mm256_cvtepi32_ps(totals), acc);
    if constexpr (kMinimums) {
      mins =
          _mm256_fmadd_ps(_mm256_mul_ps(eight_minimums(wb + b), y_d), _mm256_cvtepi32_ps(load256(acts.sum + b)), mins);
    }
  }
  float sum = hsum_f32(_mm256_add_ps(acc, mins));
  for (; b < nb; ++b) {
    const int32_t isum = hsum_i32(block_dot(wb[b], acts.qs + 32 * b)) - kOffset * acts.sum[b];
    sum += block_scale(wb[b]) * acts.d[b] * static_cast<float>(isum);
    if constexpr (kMinimums) sum += f16(wb[b].m) * acts.d[b] * static_cast<float>(acts.sum[b]);
  }
  return sum;
}

}  // namespace
}  // namespace sluice::quant::fast::detail
