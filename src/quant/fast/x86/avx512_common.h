// Helpers shared by the AVX-512 kernel files beyond those of avx2_common.h (which they also
// include), with internal linkage for the same reason.
//
// Include only from files compiled with the AVX-512 flags (F, BW, VL, DQ, VNNI).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"

namespace sluice::quant::fast::detail {
namespace {

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Two 256-bit halves as one 512-bit vector.
inline __m512i join256(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The two 256-bit halves added: 8 int32 lanes with v's total.
inline __m256i fold_to_256(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

inline int32_t hsum_i32(__m512i v) { return hsum_i32(fold_to_256(v)); }

inline float hsum_f32(__m512 v) { return _mm512_reduce_add_ps(v); }

// a with its sign flipped where bit i of `negate` is set.
inline __m512i negate_where(__m512i a, __mmask64 negate) {
  return _mm512_mask_sub_epi8(a, negate, _mm512_setzero_si512(), a);
}

// Sums of 4 adjacent products s8 x s8 as 16 int32: |w| against a with w's sign (dpbusd takes
// unsigned x signed).
inline __m512i dot_s8_s8(__m512i w, __m512i a) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), negate_where(a, _mm512_movepi8_mask(w)));
}

// Room for activations that a kernel rearranges once per call, in whole 64-byte lines: the
// kernels read them with 64-byte loads, which from a vector<int8_t> (16-byte aligned) would
// straddle two cache lines three times in four. One core, hot, TSC cycles per super-block
// at 2048 / 768 columns: TQ2_0 7.4 / 8.9 -> 7.4 / 7.6 (the nibble order's kernels, whose
// buffer happened to sit better, within the noise).
struct alignas(64) CacheLine {
  int8_t bytes[64];
};

// n_bytes (a multiple of 64) of `lines`, grown as needed: each call site keeps its own
// thread_local vector.
inline int8_t* whole_lines(std::vector<CacheLine>& lines, int64_t n_bytes) {
  lines.resize(static_cast<size_t>(n_bytes / 64));
  return reinterpret_cast<int8_t*>(lines.data());
}

// One token's int8 activations reordered, once per call, to the order in which 64 bytes of
// 4-bit quants laid out as 32-value runs (low nibbles: values 0-15 of a run, high nibbles
// 16-31) give their values: per 128 values, those of the low nibbles (0-15, 32-47, 64-79,
// 96-111), then those of the high nibbles (16-31, 48-63, 80-95, 112-127). n is a multiple of
// 128. Used by IQ4_XS and by the 4-bit 32-value formats, four blocks at a time.
inline const int8_t* nibble_order_activations(const int8_t* qs, int64_t n) {
  thread_local std::vector<CacheLine> lines;
  int8_t* reordered = whole_lines(lines, n);
  for (int64_t i = 0; i < n; i += 128) {
    const __m512i first = load512(qs + i), second = load512(qs + i + 64);
    _mm512_storeu_si512(reordered + i, _mm512_shuffle_i64x2(first, second, 0x88));       // 16-byte pieces 0 2 4 6
    _mm512_storeu_si512(reordered + i + 64, _mm512_shuffle_i64x2(first, second, 0xdd));  // 1 3 5 7
  }
  return reordered;
}

// 16 bytes of nibbles of two 32-value blocks as 64 bytes in value order: 128-bit lanes hold
// the first block's low nibbles (values 0-15), its high nibbles (16-31), then the second's.
inline __m512i nibbles_of_two(const uint8_t* qs0, const uint8_t* qs1) {
  const __m512i both = join256(_mm256_broadcastsi128_si256(load128(qs0)), _mm256_broadcastsi128_si256(load128(qs1)));
  const __m512i shifted = _mm512_mask_srli_epi16(both, 0xff00ff00u, both, 4);  // 16-bit lanes 8-15, 24-31
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
}

// The 16 IQ4_NL / IQ4_XS levels + 128 (1..241) in every 128-bit lane, for shuffle_epi8: the
// unsigned operand of dpbusd, with 128 sum a taken off through the activations' sums.
inline __m512i iq4_levels_plus_128() {
  const __m512i levels = _mm512_zextsi128_si512(_mm_xor_si128(load128(kIq4Levels), _mm_set1_epi8(-128)));
  return _mm512_shuffle_i32x4(levels, levels, 0);
}

// Index vectors for permutexvar_epi16 that spread a super-block's int16 sub-block scales over
// the int16 lanes of two vectors' dpbusd sums packed together (packs_epi32): in 128-bit lane
// L, lanes 0-3 take the scale of vector `first`'s 128-bit lane L, lanes 4-7 that of vector
// first + 1's. sub_block(v, L) names the sub-block of vector v's 128-bit lane L.
template <class SubBlock>
inline __m512i packed_pair_index(SubBlock sub_block, int first) {
  alignas(64) int16_t index[32];
  for (int j = 0; j < 32; ++j) index[j] = static_cast<int16_t>(sub_block(first + (j % 8 < 4 ? 0 : 1), j / 8));
  return _mm512_load_si512(index);
}

// The integer sum of one super-block of 256 values: 4 vectors of 64 unsigned weights against
// 256 activations, each weight's products scaled by its int16 sub-block scale. Each vector
// goes through dpbusd (every 4-product sum must fit int16: Q6_K's are the widest, 4 x 63 x
// 128), two vectors' sums are packed to int16 and one madd applies their scales (pair_scale as
// packed_pair_index spreads them): three multiplies per 128 values where maddubs and dpwssd
// per 64 took four. Prompt token groups, one thread, `SLUICE_TILES=0 matmul_bench`, tokens/s
// at the expert shapes (gate / down): Q4_K 36.1k / 33.5k -> 38.2k / 35.9k, Q5_K 33.5k /
// 30.1k -> 36.0k / 33.4k, Q6_K 37.9k / 35.2k -> 40.0k / 37.2k.
inline __m512i packed_scaled_sum(const __m512i (&q)[4], const __m512i (&pair_scale)[2], const int8_t* y) {
  __m512i acc[2];
  for (int p = 0; p < 2; ++p) {
    const __m512i first = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * p], load512(y + 128 * p));
    const __m512i second = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[2 * p + 1], load512(y + 128 * p + 64));
    acc[p] = _mm512_madd_epi16(_mm512_packs_epi32(first, second), pair_scale[p]);
  }
  return _mm512_add_epi32(acc[0], acc[1]);
}

// packed_pair_index for q6_k_quants' vectors: vector c covers the 16-value sub-blocks 4c to
// 4c + 3, one per 128 bits.
inline __m512i q6_k_pair_index(int first) {
  return packed_pair_index([](int c, int lane) { return 4 * c + lane; }, first);
}

// Bits 4-5 of Q6_K's quants from 32 bytes of qh broadcast to both 256-bit halves of `high`
// (q6_k_quants), by shifts: `first` for the vector of values 0..63 of a half (qh bits 0-1 in the
// low 256 bits, 2-3 in the high), `second` for values 64..127 (bits 4-5, 6-7).
struct Q6kHighBitsByShifts {
  void operator()(__m512i high, __m512i& first, __m512i& second) const {
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    const __m512i shift_first = _mm512_mask_set1_epi16(_mm512_set1_epi16(4), 0xffff0000u, 2);  // left
    const __m512i shift_second = _mm512_maskz_set1_epi16(0xffff0000u, 2);                      // right
    first = _mm512_and_si512(_mm512_sllv_epi16(high, shift_first), bits45);
    second = _mm512_and_si512(_mm512_srlv_epi16(high, shift_second), bits45);
  }
};

// Q6_K's stored 6-bit quants (value + 32) of one super-block in value order, 64 per vector:
// per half of 128 values, ql[64] holds values 0..63 in its low nibbles and 64..127 in its high
// ones; qh[32], broadcast to both 256-bit halves, supplies bits 4-5 through high_bits (values
// 0..63: qh bits 0-1 then 2-3; values 64..127: bits 4-5 then 6-7).
template <class HighBits = Q6kHighBitsByShifts>
inline void q6_k_quants(const uint8_t* ql, const uint8_t* qh, __m512i (&q)[4], HighBits high_bits = {}) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (int half = 0; half < 2; ++half) {
    const __m512i low = load512(ql + 64 * half);
    const __m256i qh_half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * half));
    __m512i first, second;
    high_bits(_mm512_broadcast_i64x4(qh_half), first, second);
    q[2 * half] = _mm512_or_si512(_mm512_and_si512(low, low4), first);
    q[2 * half + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), low4), second);
  }
}

}  // namespace
}  // namespace sluice::quant::fast::detail
