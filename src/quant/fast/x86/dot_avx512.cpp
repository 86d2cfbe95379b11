// AVX-512 (F, BW, VL, DQ, VNNI) kernels of the fast path; dot_scalar.cpp is their reference.
// The 32-value formats are in dot_avx512_blocks32.cpp. Formats missing from both use the AVX2
// kernels (dispatch.cpp). On CPUs with AVX-512 VBMI, dot_avx512_vbmi.cpp's kernels replace
// those of the grid i-quants IQ2_XXS, IQ3_XXS and IQ3_S; on CPUs with AVX512_BF16,
// dot_avx512_bf16.cpp's replaces BF16's; on CPUs with GFNI, dot_avx512_gfni.cpp's replaces
// Q6_K's.
//
// Compiled with the AVX-512 flags whatever the project's -march and called only on CPUs
// that have them. Internal linkage and intrinsics only, as in dot_avx2.cpp.
//
// VNNI: dpbusd sums 4 products u8 x s8 into int32 without saturation; dpwssd sums 2
// products i16 x i16 into int32, which applies 16-bit sub-block scales to maddubs results.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/q6_k_avx512.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/fast/x86/token_groups_avx512.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- float weights -----------------------------------------------------------------------

inline __m512 load16_f32(const std::byte* w, int64_t i, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(w) + i);
}
inline __m512 load16_f16(const std::byte* w, int64_t i, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(w) + i));
}
inline __m512 load16_bf16(const std::byte* w, int64_t i, __mmask16 m) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(w) + i));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

// Four accumulators of 16 lanes; the tail (n % 16 values) through masked loads. LoadX16 reads
// the activations (f32, or bf16 for BF16 weights). No software prefetch: with the weights in
// huge pages the hardware prefetchers keep up, and prefetching a line per 64 bytes read held
// F16 from memory to 16-22 GB/s (26-33 without), F32 to 24-27 (28-33).
template <size_t kValueBytes, __m512 (*Load16)(const std::byte*, int64_t, __mmask16),
          __m512 (*LoadX16)(const std::byte*, int64_t, __mmask16) = load16_f32>
float dot_float(const std::byte* w, const std::byte* x, int64_t n) {
  constexpr __mmask16 kAll = 0xffff;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(Load16(w, i, kAll), LoadX16(x, i, kAll), acc0);
    acc1 = _mm512_fmadd_ps(Load16(w, i + 16, kAll), LoadX16(x, i + 16, kAll), acc1);
    acc2 = _mm512_fmadd_ps(Load16(w, i + 32, kAll), LoadX16(x, i + 32, kAll), acc2);
    acc3 = _mm512_fmadd_ps(Load16(w, i + 48, kAll), LoadX16(x, i + 48, kAll), acc3);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(Load16(w, i, kAll), LoadX16(x, i, kAll), acc0);
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(Load16(w, i, m), LoadX16(x, i, m), acc1);
  }
  return hsum_f32(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// ---- K-quants -----------------------------------------------------------------------------

// Q4_K and Q5_K stay in 256 bits: 512-bit versions (a 32-byte chunk broadcast to both halves,
// the upper shifted by 4) were slower, on an Intel machine with AVX-512 VNNI (15.6 against
// 19.5 GB/s) and on Zen 4 (19.6 against 21.0). super_blocks.h does the f32 step.
//
// Each 32 values of one sub-block go through dpbusd (u8 quants x s8 activations) into 8 int32
// lanes; a lane is at most 4 * 31 * 128 = 15872 in size, so packs_epi32 takes two sub-blocks'
// lanes to int16 without saturating, and one dpwssd applies both sub-blocks' scales: three
// multiplies per 64 values where maddubs and a dpwssd per 32 took four, and one scale
// shuffle where two took two. The integer sums are the same. One core, hot, TSC cycles per
// super-block at 2048 / 768 columns: Q4_K 13.7 / 14.0 -> 12.3 / 12.2, Q5_K 16.6 / 16.6 -> 15.8 /
// 15.6.

// pshufb indices that spread the scales of sub-blocks 2c and 2c + 1 (bytes 2c, 2c + 1 of a
// scales vector, in both 128-bit halves) to int16 lanes in packs_epi32's order: per half,
// lanes 0-3 the first sub-block's, lanes 4-7 the second's.
inline __m256i k4_scale_pair_index(int c) {
  const auto first = static_cast<short>(0x8000 | (2 * c)), second = static_cast<short>(0x8000 | (2 * c + 1));
  return _mm256_setr_epi16(first, first, first, first, second, second, second, second, first, first, first, first,
                           second, second, second, second);
}

// acc plus the scaled sums of two sub-blocks: quants lo against y[0, 32), hi against
// y[32, 64); pair_scales as k4_scale_pair_index spreads them.
inline __m256i add_k4_sub_block_pair(__m256i acc, __m256i lo, __m256i hi, const int8_t* y, __m256i pair_scales) {
  const __m256i d_lo = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, load256(y));
  const __m256i d_hi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, load256(y + 32));
  return _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(d_lo, d_hi), pair_scales);
}

void dot_q4_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i index[4] = {k4_scale_pair_index(0), k4_scale_pair_index(1), k4_scale_pair_index(2),
                            k4_scale_pair_index(3)};
  sum_super_block_rows<BlockQ4_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ4_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i scales_and_mins = unpack_k4_scales(x.scales);
        const __m256i sc8 = _mm256_broadcastsi128_si256(scales_and_mins);
        __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int c = 0; c < 4; ++c) {
          const __m256i q = load256(x.qs + 32 * c);
          const __m256i lo = _mm256_and_si256(q, low4);
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
          acc[c & 1] = add_k4_sub_block_pair(acc[c & 1], lo, hi, y_qs + 64 * c, _mm256_shuffle_epi8(sc8, index[c]));
        }
        return SuperBlockLanes{_mm256_add_epi32(acc[0], acc[1]), k4_min_lanes(scales_and_mins, y_bsums)};
      });
}

// Q5_K: as Q4_K, with bit 4 from qh (bit j of qh[l] for sub-block j), added by a byte test and
// a masked add (as Q3_K's high bits: 16.8 -> 16.6 TSC cycles per super-block at 2048 columns).
void dot_q5_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  const __m256i index[4] = {k4_scale_pair_index(0), k4_scale_pair_index(1), k4_scale_pair_index(2),
                            k4_scale_pair_index(3)};
  sum_super_block_rows<BlockQ5_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ5_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i scales_and_mins = unpack_k4_scales(x.scales);
        const __m256i sc8 = _mm256_broadcastsi128_si256(scales_and_mins);
        const __m256i high_bits = load256(x.qh);  // bit j of byte l: bit 4 of value l of sub-block j
        // 16 added to the values whose bit of sub-block j is set: a byte test and a masked add.
        const auto add_bit4 = [&](__m256i q4, int j) {
          return _mm256_mask_add_epi8(q4, _mm256_test_epi8_mask(high_bits, _mm256_set1_epi8(static_cast<char>(1 << j))),
                                      q4, bit4);
        };
        __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int c = 0; c < 4; ++c) {
          const __m256i q = load256(x.qs + 32 * c);
          const __m256i lo = add_bit4(_mm256_and_si256(q, low4), 2 * c);
          const __m256i hi = add_bit4(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), 2 * c + 1);
          acc[c & 1] = add_k4_sub_block_pair(acc[c & 1], lo, hi, y_qs + 64 * c, _mm256_shuffle_epi8(sc8, index[c]));
        }
        return SuperBlockLanes{_mm256_add_epi32(acc[0], acc[1]), k4_min_lanes(scales_and_mins, y_bsums)};
      });
}

// Sixteen-value sub-blocks (Q2_K, Q3_K), as Q4_K's 32-value ones: each 32 values go through
// dpbusd into 8 int32 lanes, 4 per sub-block (a lane is at most 4 * 7 * 128 = 3584 in size);
// two such vectors are packed to int16 and one dpwssd applies their four scales. Three
// multiplies and two shuffles per 64 values, where maddubs, dpwssd and a scale permute per 32
// took four and two. One core, hot, TSC cycles per super-block at 2048 / 768 columns: Q2_K
// 14.4 / 13.05 -> 12.9 / 12.5, Q3_K 19.3 / 18.3 -> 16.4 / 16.3.
//
// acc plus the scaled sums of quants q0 (values 32 k to 32 k + 31 of the super-block, against
// y[0, 32)) and q1 (the next 32, against y[32, 64)); pair_scales holds, per 128-bit half h, in
// packs_epi32's order, the int16 scale of sub-block 2 k + h in lanes 0-3 and of 2 k + 2 + h in
// lanes 4-7.
inline __m256i add_sixteens_pair(__m256i acc, __m256i q0, __m256i q1, const int8_t* y, __m256i pair_scales) {
  const __m256i d0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q0, load256(y));
  const __m256i d1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q1, load256(y + 32));
  return _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(d0, d1), pair_scales);
}

// add_sixteens_pair's scales for k from the 16 int16 scales of a super-block (permutexvar).
inline __m256i sixteens_pair_scales(__m256i scales, int k) {
  const auto a = static_cast<short>(2 * k), b = static_cast<short>(2 * k + 1);
  const auto c = static_cast<short>(2 * k + 2), d = static_cast<short>(2 * k + 3);
  return _mm256_permutexvar_epi16(_mm256_setr_epi16(a, a, a, a, c, c, c, c, b, b, b, b, d, d, d, d), scales);
}

// The same from 16 unsigned byte scales in both 128-bit halves (shuffle_epi8, zero high bytes).
inline __m256i sixteens_pair_scales_u8(__m256i scales, int k) {
  const auto a = static_cast<char>(2 * k), b = static_cast<char>(2 * k + 1);
  const auto c = static_cast<char>(2 * k + 2), d = static_cast<char>(2 * k + 3);
  const char z = -128;  // a zero byte
  return _mm256_shuffle_epi8(scales, _mm256_setr_epi8(a, z, a, z, a, z, a, z, c, z, c, z, c, z, c, z, b, z, b, z, b, z,
                                                      b, z, d, z, d, z, d, z, d, z));
}

inline __m256i sum_of_four(const __m256i (&v)[4]) {
  return _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
}

// Q2_K: value = d * scale * q - dmin * min per 16 values, the minimums through the bsums. In
// 256 bits, 64 values per add_sixteens_pair (a 512-bit version of the earlier maddubs kernel
// ran no faster on Zen 4, where 512-bit operations take two 256-bit slots). Four
// accumulators: with one, each super-block waited on a chain of eight dpwssd (24 -> 19 TSC
// cycles per super-block, one core, hot, with maddubs). Looking scale * q up by vpshufb and
// feeding it to dpbusd (one multiply per 32 values instead of two) ran slower (21): Zen 4
// runs vpshufb on the same two ports as the shifts.
//
// The quants of 32 values, bits 2s and 2s + 1 of 32 bytes, are masked where they lie, not
// shifted down: bits 0-1, 2-3 and 4-5 give q, 4q and 16q, and bits 6-7, shifted by 4, 4q
// (16q and 64q would overflow packs_epi32's int16 lanes: 4 x 192 x 128). The scales,
// multiplied by 16, 4, 1 and 4 in turn (at most 240), make every product 16 times its true
// value, so each lane is a multiple of 16 and an arithmetic shift by 4 gives the same sums
// exactly. The byte scales are spread by shuffle_epi8, not a word permute. Three shifts fewer
// per super-block; one core, hot, TSC cycles per super-block at 2048 / 768 columns: 12.75 /
// 12.5 -> 12.0 / 12.2.
void dot_q2_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m128i factors = _mm_setr_epi16(16, 4, 1, 4, 16, 4, 1, 4);  // sub-blocks 2j, 2j + 1: factors[j]
  const __m256i mask[4] = {_mm256_set1_epi8(0x03), _mm256_set1_epi8(0x0c), _mm256_set1_epi8(0x30),
                           _mm256_set1_epi8(0x0c)};
  sum_super_block_rows<BlockQ2_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ2_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i packed = load128(x.scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_srli_epi16(_mm_andnot_si128(_mm_set1_epi8(0x0f), packed), 4));
        // Byte j times factors[j / 2]: no carry into the next byte, 15 x 16 < 256.
        const __m256i scales =
            _mm256_broadcastsi128_si256(_mm_mullo_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0f)), factors));
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                          _mm256_setzero_si256()};
        for (int c = 0; c < 2; ++c) {
          const __m256i raw = load256(x.qs + 32 * c);
          const __m256i q[4] = {_mm256_and_si256(raw, mask[0]), _mm256_and_si256(raw, mask[1]),
                                _mm256_and_si256(raw, mask[2]), _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask[3])};
          for (int s = 0; s < 4; s += 2) {
            acc[2 * c + s / 2] = add_sixteens_pair(acc[2 * c + s / 2], q[s], q[s + 1], y_qs + 128 * c + 32 * s,
                                                   sixteens_pair_scales_u8(scales, 4 * c + s));
          }
        }
        return SuperBlockLanes{_mm256_srai_epi32(sum_of_four(acc), 4), _mm256_madd_epi16(mins, load256(y_bsums))};
      });
}

// Q3_K: q = q2 - 4 * !hbit with q2 as in Q2_K and the high bit of value 32 j + l at bit j of
// hmask[l]. Fed as q2 + 4 hbit in 0..7; 4 * sum_s scale_s * bsums_s comes off at the end.
// In 256 bits through add_sixteens_pair, as Q2_K (a 512-bit version ran slower on Zen 4);
// four accumulators, as Q2_K's. The high bits go in by a byte
// test and a masked add, where shifting them into place, masking and or-ing took two
// operations more per 32 values (21.1 -> 19.6 TSC cycles per super-block at 2048 columns,
// one core, hot). The block function is forced inline: GCC may otherwise call it for each
// super-block (27 against 21 cycles).
void dot_q3_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i low2 = _mm256_set1_epi8(3);
  const __m256i bit2 = _mm256_set1_epi8(4);
  sum_super_block_rows<BlockQ3_K>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockQ3_K& x, const int8_t* y_qs, const int16_t* y_bsums) __attribute__((always_inline)) {
        const __m256i scales = _mm256_cvtepi8_epi16(unpack_q3_scales(x.scales));
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales, load256(y_bsums)), 2);
        const __m256i high_bits = load256(x.hmask);  // bit 4c + s of byte l
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                          _mm256_setzero_si256()};
        // Values 128 c + 32 s + l: 4 added to the bytes whose high bit is set, by a byte test and
        // a masked add.
        const auto quants = [&](__m256i raw, int c, int s) {
          const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), low2);
          const __mmask32 high =
              _mm256_test_epi8_mask(high_bits, _mm256_set1_epi8(static_cast<char>(1 << (4 * c + s))));
          return _mm256_mask_add_epi8(q2, high, q2, bit2);
        };
        for (int c = 0; c < 2; ++c) {
          const __m256i raw = load256(x.qs + 32 * c);
          for (int s = 0; s < 4; s += 2) {
            acc[2 * c + s / 2] = add_sixteens_pair(acc[2 * c + s / 2], quants(raw, c, s), quants(raw, c, s + 1),
                                                   y_qs + 128 * c + 32 * s, sixteens_pair_scales(scales, 4 * c + s));
          }
        }
        return SuperBlockLanes{_mm256_sub_epi32(sum_of_four(acc), offset)};
      });
}

// Q6_K: q6_k_avx512.h's kernel, bits 4-5 of the quants shifted into place (dot_avx512_gfni.cpp
// moves them with one instruction per vector where the CPU has GFNI).
void dot_q6_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  dot_q6_k_rows<Q6kHighBitsByShifts>(w, w_row_bytes, n_rows, act, n, out);
}

// IQ4_XS: value = d * (ls - 32) * level per 32 values, ls of 6 bits (4 in scales_l, 2 in
// scales_h). The levels + 128 (1..241) go to dpbusd unsigned, as IQ4_NL's do
// (dot_avx512_blocks32.cpp); each 32 values' int32 lanes are multiplied by ls - 32, and
// 128 (ls - 32) sum a comes off through the bsums. 64 bytes of quants at a time: their low
// and high nibbles meet the reordered activations (nibble_order_activations) in two dpbusd into
// the same lanes, 4 per 32 values, so one scale multiply serves 128 values. (The AVX2
// kernel's sign trick and maddubs, taken to 512 bits, ran no faster on Zen 4. Taking 32
// bytes at a time, with nibbles_of_two and the activations as they are, took 20.9 TSC cycles
// per super-block against 15.1 now, at 2048 and 4096 columns, one core, hot.)
void dot_iq4_xs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m512i levels = iq4_levels_plus_128();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m128i high_shifts = _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14);
  // Half h of a super-block: sub-blocks 4 h to 4 h + 3 in int32 lanes 4 at a time.
  const auto quarter_index = [](int h) {
    return _mm512_setr_epi32(4 * h, 4 * h, 4 * h, 4 * h, 4 * h + 1, 4 * h + 1, 4 * h + 1, 4 * h + 1, 4 * h + 2,
                             4 * h + 2, 4 * h + 2, 4 * h + 2, 4 * h + 3, 4 * h + 3, 4 * h + 3, 4 * h + 3);
  };
  const __m512i spread[2] = {quarter_index(0), quarter_index(1)};
  const int8_t* original = view_q8x256(act, n).qs;
  const int8_t* reordered = nibble_order_activations(original, n);
  sum_super_block_rows<BlockIQ4_XS>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockIQ4_XS& x, const int8_t* y_qs, const int16_t* y_bsums) {
        // ls - 32 of the 8 sub-blocks as int16, then int32.
        const __m128i packed_low = _mm_cvtsi32_si128(static_cast<int>(load_u32(x.scales_l)));
        const __m128i low =
            _mm_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(packed_low, _mm_set1_epi8(0x0f)),
                                                _mm_and_si128(_mm_srli_epi16(packed_low, 4), _mm_set1_epi8(0x0f))));
        const __m128i high = _mm_and_si128(_mm_srlv_epi16(_mm_set1_epi16(static_cast<short>(x.scales_h)), high_shifts),
                                           _mm_set1_epi16(3));
        const __m128i ls16 = _mm_sub_epi16(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi16(32));
        const __m256i ls32 = _mm256_cvtepi16_epi32(ls16);
        const __m512i ls512 = _mm512_zextsi256_si512(ls32);
        const int8_t* a = reordered + (y_qs - original);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
          const __m512i q = load512(x.qs + 64 * h);
          const __m512i lo = _mm512_shuffle_epi8(levels, _mm512_and_si512(q, low4));
          const __m512i hi = _mm512_shuffle_epi8(levels, _mm512_and_si512(_mm512_srli_epi16(q, 4), low4));
          const __m512i sums = _mm512_dpbusd_epi32(
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, load512(a + 128 * h)), hi, load512(a + 128 * h + 64));
          acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(sums, _mm512_permutexvar_epi32(spread[h], ls512)));
        }
        // Lane j: (ls_j - 32) * (bsums 2 j + bsums 2 j + 1), each ls as an int16 pair.
        const __m256i ls_pairs =
            _mm256_or_si256(_mm256_and_si256(ls32, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(ls32, 16));
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(y_bsums), ls_pairs), 7);
        return SuperBlockLanes{_mm256_sub_epi32(fold_to_256(acc), offset)};
      });
}

}  // namespace

void add_avx512_kernels(KernelTable& table, Avx512Extensions extensions) {
  add_avx512_activation_quantizers(table);
  add_avx512_group_kernels(table);
  set_kernel(table, GgmlType::F32, for_each_token<dot_float<4, load16_f32>>);
  set_kernel(table, GgmlType::F16, for_each_token<dot_float<2, load16_f16>>);
  set_kernel(table, GgmlType::BF16, for_each_token<dot_float<2, load16_bf16, load16_bf16>>);
  // No kernels of the 32-value formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4) or NVFP4:
  // the table takes AVX2's (dispatch.cpp), rows, groups of 8 and prompt batches alike. On Zen 4,
  // which splits each 512-bit operation in two, AVX2's group kernels outran this set's row
  // kernels by 3-85% from the caches and its prompt batches by 10-90%, level from memory
  // (bench/MATVEC.md).
  set_kernel(table, GgmlType::Q4_K,
             in_token_groups<kAvx512TokenGroup, q4_k_token_group_avx512, dot_q4_k>);
  set_kernel(table, GgmlType::Q5_K,
             in_token_groups<kAvx512TokenGroup, q5_k_token_group_avx512, dot_q5_k>);
  set_kernel(table, GgmlType::Q6_K,
             in_token_groups<kAvx512TokenGroup, q6_k_token_group_avx512, dot_q6_k>);
  set_kernel(table, GgmlType::Q2_K, rows_for_each_token<dot_q2_k>);
  set_kernel(table, GgmlType::Q3_K, rows_for_each_token<dot_q3_k>);
  set_kernel(table, GgmlType::IQ4_XS, rows_for_each_token<dot_iq4_xs>);
  add_avx512_iq_kernels(table);
  add_avx512_ternary_fp4_kernels(table);
  if (extensions.vbmi) add_avx512_vbmi_kernels(table);
  if (extensions.gfni) add_avx512_gfni_kernels(table);
  if (extensions.bf16) add_avx512_bf16_kernels(table);
}

}  // namespace sluice::quant::fast::detail
