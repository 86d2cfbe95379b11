// Scales of the AVX2 kernels of 256-value formats, applied by fewer multiplies.
//
// Zen 2 runs maddubs and madd on one pipe, and a super-block of 256 values takes 8 maddubs;
// a madd per 32 values to apply the scales makes 16 multiplies. Adding adjacent int16 lanes of
// the maddubs results first (hadd, which runs on the shuffle pipes) leaves fewer lanes to
// scale, so one madd applies the scales of two or four steps. The integer sums are the same,
// so results do not change. Bounds: a maddubs lane is at most 2 x q_max x 127, and a sum of
// 2^k of them must stay within int16.
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/fast/x86/avx2_common.h"

namespace sluice::quant::fast::detail {
namespace {

// Scale bytes of `scales8` (the same 16 in both 128-bit halves) as int16, sign-extended, at
// the int16 lanes `index` names (ScaleIndex below: each lane names its byte twice).
inline __m256i spread_scales(__m256i scales8, __m256i index) {
  return _mm256_srai_epi16(_mm256_shuffle_epi8(scales8, index), 8);
}

// Byte indices for spread_scales, 32 to a row: int16 lane i of the low half takes scale
// first + step * (i / lanes_per_scale), of the high half that scale + high_offset.
struct ScaleIndex {
  alignas(32) int8_t bytes[32];
};
constexpr ScaleIndex scale_index(int first, int lanes_per_scale, int step, int high_offset) {
  ScaleIndex index{};
  for (int i = 0; i < 8; ++i) {
    const int low = first + step * (i / lanes_per_scale);
    index.bytes[2 * i] = index.bytes[2 * i + 1] = static_cast<int8_t>(low);
    index.bytes[16 + 2 * i] = index.bytes[16 + 2 * i + 1] = static_cast<int8_t>(low + high_offset);
  }
  return index;
}

// Formats of 16-value sub-blocks (Q2_K, Q3_K: at most 7 x 2 x 127 per lane, four lanes
// summed): p[0..3] are steps s = 0..3 of half c of the super-block, step s's 128-bit halves
// sub-blocks 8c + 2s and 8c + 2s + 1. Two rounds of hadd leave each sub-block's sum in two
// int16 lanes: 5 multiplies for 8 sub-blocks where a madd per step takes 8.
constexpr ScaleIndex kFourStepScales[2] = {scale_index(0, 2, 2, 1), scale_index(8, 2, 2, 1)};

inline __m256i four_steps_scaled(const __m256i (&p)[4], __m256i scales8, int c) {
  const __m256i sums = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
  return _mm256_madd_epi16(sums, spread_scales(scales8, load256(kFourStepScales[c].bytes)));
}

// As four_steps_scaled for two steps (Q6_K: 63 x 2 x 127 per lane, only two may be summed;
// IQ2_XS and IQ2_S: grid values at most 43): p0's halves are sub-blocks first and first + 1,
// p1's first + 2 and first + 3 (first a multiple of 4; for Q6_K steps 2t and 2t + 1 of a half,
// first = 8 half + 4t).
constexpr ScaleIndex kTwoStepScales[4] = {scale_index(0, 4, 2, 1), scale_index(4, 4, 2, 1), scale_index(8, 4, 2, 1),
                                          scale_index(12, 4, 2, 1)};

inline __m256i two_steps_scaled(__m256i p0, __m256i p1, __m256i scales8, int first) {
  return _mm256_madd_epi16(_mm256_hadd_epi16(p0, p1), spread_scales(scales8, load256(kTwoStepScales[first / 4].bytes)));
}

// Formats of 32-value sub-blocks (Q4_K, Q5_K: at most 31 x 2 x 127 per lane, four lanes
// summed): p[k] holds sub-block first + k's products in both 128-bit halves; after two rounds
// of hadd each half holds every sub-block's sum in two int16 lanes. 5 multiplies for four
// sub-blocks where a madd per sub-block takes 8 (scales8 as in four_steps_scaled; first is 0
// or 4).
constexpr ScaleIndex kFourSubBlockScales[2] = {scale_index(0, 2, 1, 0), scale_index(4, 2, 1, 0)};

inline __m256i four_sub_blocks_scaled(const __m256i (&p)[4], __m256i scales8, int first) {
  const __m256i sums = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
  return _mm256_madd_epi16(sums, spread_scales(scales8, load256(kFourSubBlockScales[first / 4].bytes)));
}

// Byte shuffles that broadcast int16 lane k (of each 128-bit half) to the whole vector.
struct LaneBroadcast {
  alignas(32) int8_t bytes[8][32];
};
constexpr LaneBroadcast make_lane_broadcast() {
  LaneBroadcast b{};
  for (int k = 0; k < 8; ++k) {
    for (int j = 0; j < 32; j += 2) {
      b.bytes[k][j] = static_cast<int8_t>(2 * k);
      b.bytes[k][j + 1] = static_cast<int8_t>(2 * k + 1);
    }
  }
  return b;
}
constexpr LaneBroadcast kLaneBroadcast = make_lane_broadcast();

// Eight int32 lanes (each within int16) as int16 lanes 0..7 of both 128-bit halves.
inline __m256i int16_in_both_halves(__m256i int32_lanes) {
  const __m256i packed = _mm256_packs_epi32(int32_lanes, int32_lanes);  // halves: 0..3 twice, 4..7 twice
  return _mm256_permute4x64_epi64(packed, 0x88);
}

// int16 lane k of `lanes` (the same eight in both 128-bit halves) in every lane: a sub-block's
// scale for madd, one shuffle where an integer scale took a move to a vector and a broadcast.
inline __m256i broadcast_lane(__m256i lanes, int k) {
  return _mm256_shuffle_epi8(lanes, load256(kLaneBroadcast.bytes[k]));
}

}  // namespace
}  // namespace sluice::quant::fast::detail
