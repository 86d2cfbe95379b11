// AVX-512 (BW, DQ, VNNI) kernels of the ternary formats TQ1_0, TQ2_0 (bit-equal to
// dot_scalar_ternary_fp4.cpp) and the 4-bit float format NVFP4 (equal within float rounding;
// MXFP4, a 32-value format, is in dot_avx512_blocks32.cpp). 64 values per step; VNNI's
// dpbusd sums 4 products u8 x s8 into int32 directly.
#include <immintrin.h>

#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- TQ1_0, TQ2_0 ------------------------------------------------------------------------
// Both sum digit * a with digits in 0..2 (dpbusd: unsigned x signed) and take sum a (the
// bsums) off at the end: sum (digit - 1) a.

// Byte-wise r * 3 mod 256: moves the next base-3 digit of a TQ1_0 byte to the top.
inline __m512i times3(__m512i r) { return _mm512_add_epi8(r, _mm512_add_epi8(r, r)); }
inline __m256i times3(__m256i r) { return _mm256_add_epi8(r, _mm256_add_epi8(r, r)); }
inline __m128i times3(__m128i r) { return _mm_add_epi8(r, _mm_add_epi8(r, r)); }

void dot_tq1_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockTQ1_0>(
      w, w_row_bytes, n_rows, act, n, out, [](const BlockTQ1_0& x, const int8_t* y_qs, const int16_t* y_bsums) {
        // Values 32k + l: digit k of qs[l] (k < 5); values 160 + 16k + l: digit k of qs[32 + l];
        // values 240 + 4k + l: digit k of qh[l]. Four vectors of 64 consecutive values.
        const __m256i a0 = load256(x.qs);
        const __m256i a1 = times3(a0), a2 = times3(a1), a3 = times3(a2), a4 = times3(a3);
        const __m128i b0 = load128(x.qs + 32);
        const __m128i b1 = times3(b0), b2 = times3(b1), b3 = times3(b2), b4 = times3(b3);
        const __m128i h0 = _mm_set1_epi32(static_cast<int>(load_u32(x.qh)));
        const __m128i h1 = times3(h0), h2 = times3(h1), h3 = times3(h2);
        const __m128i h = _mm_blend_epi32(_mm_blend_epi32(h0, h1, 0x2), _mm_blend_epi32(h2, h3, 0x8), 0xc);
        const __m512i rotated[4] = {
            join256(a0, a1),
            join256(a2, a3),
            join256(a4, _mm256_set_m128i(b1, b0)),
            join256(_mm256_set_m128i(b3, b2), _mm256_set_m128i(h, b4)),
        };
        // The top digit of a rotated byte r is (3 r) >> 8 and the next rotation r' is 3 r mod
        // 256, so digit = (3 r - r') / 256: the rotated bytes go into dpbusd as they are, and
        // sum digit * a = (3 sum r a - sum r' a) / 256, exactly. The 256 sum a of the -1 rides on
        // the r' sums through the bsums.
        __m512i acc_r = _mm512_setzero_si512();
        __m512i acc_next = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(load256(y_bsums)),
                                               _mm512_set1_epi16(256));
        for (int i = 0; i < 4; ++i) {
          const __m512i a = load512(y_qs + 64 * i);
          acc_r = _mm512_dpbusd_epi32(acc_r, rotated[i], a);
          acc_next = _mm512_dpbusd_epi32(acc_next, times3(rotated[i]), a);
        }
        // Every int32 lane sums whole products 256 (digit - 1) a, so the shift is exact.
        const __m512i lanes = _mm512_sub_epi32(_mm512_add_epi32(acc_r, _mm512_add_epi32(acc_r, acc_r)), acc_next);
        return SuperBlockLanes{fold_to_256(_mm512_srai_epi32(lanes, 8))};
      });
}

void dot_tq2_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m512i low2 = _mm512_set1_epi8(3);
  // Shifts of the 2-bit fields for the two 32-value halves of a 64-value step.
  const __m512i shift_01 = join256(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
  const __m512i shift_23 = join256(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
  sum_super_block_rows<BlockTQ2_0>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockTQ2_0& x, const int8_t* y_qs, const int16_t* y_bsums) {
        // The -1 of value = q - 1: the accumulator starts at minus the sum of the activations.
        __m512i acc = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(load256(y_bsums)),
                                          _mm512_set1_epi16(-1));
        for (int c = 0; c < 2; ++c) {  // values 128c + 32s + l: bits 2s of qs[32c + l]
          const __m512i raw = _mm512_broadcast_i64x4(load256(x.qs + 32 * c));
          const __m512i q01 = _mm512_and_si512(_mm512_srlv_epi16(raw, shift_01), low2);
          const __m512i q23 = _mm512_and_si512(_mm512_srlv_epi16(raw, shift_23), low2);
          acc = _mm512_dpbusd_epi32(acc, q01, load512(y_qs + 128 * c));
          acc = _mm512_dpbusd_epi32(acc, q23, load512(y_qs + 128 * c + 64));
        }
        return SuperBlockLanes{fold_to_256(acc)};
      });
}

// ---- NVFP4 ------------------------------------------------------------------------------------

// The doubled FP4 values (kValuesFp4 as integers), in every 128-bit lane for shuffle_epi8.
inline __m512i fp4_levels() {
  return _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12));
}

// NVFP4: one block of 64 values per step, 128-bit lane s holding sub-block s (its low nibbles,
// then its high nibbles); int32 lanes 4s..4s+3 are sub-block s's partial sums.
float dot_nvfp4(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockNVFP4>(w);
  const Q8x32View acts = view_q8x32(act, n);
  const __m512i levels = fp4_levels();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m512i each_four = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  const int64_t nb = n / 64;
  const auto block_sum = [&](int64_t b) {
    const BlockNVFP4& x = wb[b];
    const __m256i raw = load256(x.qs);
    const __m256i lo = _mm256_and_si256(raw, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    // unpack per 128-bit lane gives sub-blocks (0, 2) and (1, 3); reorder to 0, 1, 2, 3.
    const __m512i mixed = join256(_mm256_unpacklo_epi64(lo, hi), _mm256_unpackhi_epi64(lo, hi));
    const __m512i codes = _mm512_shuffle_i64x2(mixed, mixed, _MM_SHUFFLE(3, 1, 2, 0));
    const __m512i p = dot_s8_s8(_mm512_shuffle_epi8(levels, codes), load512(acts.qs + 64 * b));
    const __m128 a_d = _mm_setr_ps(acts.d[2 * b], acts.d[2 * b], acts.d[2 * b + 1], acts.d[2 * b + 1]);
    const __m128 w_d = _mm_setr_ps(kUe4m3HalfToF32[x.d[0]], kUe4m3HalfToF32[x.d[1]], kUe4m3HalfToF32[x.d[2]],
                                   kUe4m3HalfToF32[x.d[3]]);
    const __m512 scales = _mm512_permutexvar_ps(each_four, _mm512_castps128_ps512(_mm_mul_ps(w_d, a_d)));
    return _mm512_mul_ps(scales, _mm512_cvtepi32_ps(p));
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    prefetch_ahead<2 * sizeof(BlockNVFP4)>(wb + b);
    acc0 = _mm512_add_ps(acc0, block_sum(b));
    acc1 = _mm512_add_ps(acc1, block_sum(b + 1));
  }
  if (b < nb) acc0 = _mm512_add_ps(acc0, block_sum(b));
  return hsum_f32(_mm512_add_ps(acc0, acc1));
}

}  // namespace

void add_avx512_ternary_fp4_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::TQ1_0, rows_for_each_token<dot_tq1_0>);
  set_kernel(table, GgmlType::TQ2_0, rows_for_each_token<dot_tq2_0>);
  set_kernel(table, GgmlType::NVFP4, for_each_token<dot_nvfp4>);
}

}  // namespace sluice::quant::fast::detail
