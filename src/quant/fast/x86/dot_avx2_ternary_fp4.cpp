// AVX2 kernels of the ternary formats TQ1_0, TQ2_0 (bit-equal to dot_scalar_ternary_fp4.cpp:
// integer sums per super-block, then its f32 step: super_blocks.h) and the 4-bit float
// format MXFP4 (equal within float rounding: block sums accumulate in vector lanes; NVFP4 is in
// dot_avx2_nvfp4.cpp).
#include <immintrin.h>

#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/sum_blocks32.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- TQ1_0, TQ2_0 ------------------------------------------------------------------------

// TQ1_0 bytes are handled biased, r + 128 (mod 256), so that signed compares order them as
// unsigned bytes. Byte-wise times 3 moves the next base-3 digit of a byte to the top, and
// keeps the bias: 3 (r + 128) = 3 r + 128 (mod 256).
inline __m256i biased(__m256i r) { return _mm256_xor_si256(r, _mm256_set1_epi8(static_cast<char>(0x80))); }
inline __m128i biased(__m128i r) { return _mm_xor_si128(r, _mm_set1_epi8(static_cast<char>(0x80))); }
inline __m256i times3(__m256i r) { return _mm256_add_epi8(r, _mm256_add_epi8(r, r)); }
inline __m128i times3(__m128i r) { return _mm_add_epi8(r, _mm_add_epi8(r, r)); }

// The biased bounds of the digits' ranges, 85 and 170. Made opaque to the compiler: knowing
// them, GCC turns the compare "above 85" into "at least 86", which AVX2 lacks, and emits a
// min and an equality compare for it (one more operation per 32 values).
struct DigitBounds {
  __m256i above_85, above_170;
};
inline DigitBounds digit_bounds() {
  DigitBounds b{_mm256_set1_epi8(85 - 128), _mm256_set1_epi8(170 - 128)};
  asm("" : "+x"(b.above_85), "+x"(b.above_170));
  return b;
}

// The top digit of each rotated byte r (given biased), in {0, 1, 2}: (r * 3) >> 8 is 0 below
// 86, 1 below 171, else 2. Each true compare is -1.
inline __m256i ternary_digits(__m256i biased, const DigitBounds& bounds) {
  const __m256i at_least_86 = _mm256_cmpgt_epi8(biased, bounds.above_85);
  const __m256i at_least_171 = _mm256_cmpgt_epi8(biased, bounds.above_170);
  return _mm256_sub_epi8(_mm256_setzero_si256(), _mm256_add_epi8(at_least_86, at_least_171));
}

// Pair sums (int16) of digit * activation for 32 digits (|sum| <= 2 x 2 x 127). The values are
// digit - 1: the kernel takes the activations' sum off at the end.
inline __m256i digit_pair_sums(__m256i digits, const int8_t* a) { return _mm256_maddubs_epi16(digits, load256(a)); }

// int16 lanes -> int32 lanes of the sums of adjacent pairs.
inline __m256i widen_i16(__m256i v) { return _mm256_madd_epi16(v, _mm256_set1_epi16(1)); }

void dot_tq1_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const DigitBounds bounds = digit_bounds();
  sum_super_block_rows<BlockTQ1_0>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockTQ1_0& x, const int8_t* y_qs, const int16_t* y_bsums) {
        // int16 lanes, each at most 8 additions of |508|.
        __m256i acc = _mm256_setzero_si256();
        __m256i r = biased(load256(x.qs));  // values 32k + l: digit k of qs[l]
        for (int k = 0; k < 5; ++k) {
          acc = _mm256_add_epi16(acc, digit_pair_sums(ternary_digits(r, bounds), y_qs + 32 * k));
          r = times3(r);
        }
        // Values 160 + 16k + l: digit k of qs[32 + l], two digits per vector; values 240 + 4k + l:
        // digit k of qh[l], joined to digit 4 of qs[32..47] (values 224..239).
        const __m128i r0 = biased(load128(x.qs + 32));
        const __m128i r1 = times3(r0), r2 = times3(r1), r3 = times3(r2), r4 = times3(r3);
        const __m128i h0 = biased(_mm_set1_epi32(static_cast<int>(load_u32(x.qh))));
        const __m128i h1 = times3(h0), h2 = times3(h1), h3 = times3(h2);
        const __m128i h = _mm_blend_epi32(_mm_blend_epi32(h0, h1, 0x2), _mm_blend_epi32(h2, h3, 0x8), 0xc);
        acc = _mm256_add_epi16(acc, digit_pair_sums(ternary_digits(_mm256_set_m128i(r1, r0), bounds), y_qs + 160));
        acc = _mm256_add_epi16(acc, digit_pair_sums(ternary_digits(_mm256_set_m128i(r3, r2), bounds), y_qs + 192));
        acc = _mm256_add_epi16(acc, digit_pair_sums(ternary_digits(_mm256_set_m128i(h, r4), bounds), y_qs + 224));
        // value = digit - 1: the offset comes off lane by lane (|bsum| <= 16 x 127), as TQ2_0's.
        return SuperBlockLanes{widen_i16(_mm256_sub_epi16(acc, load256(y_bsums)))};
      });
}

// value = d * (q - 1): sum (q - 1) a = sum q a - sum a, sum a from the 16 bsums. The four 2-bit
// fields of a byte are taken in place as far as they can be: fields 0 and 1 as the byte's bits
// 0-1 and 2-3 (field 1 four times its value), fields 2 and 3 the same after one shift by 4.
// Vector shifts take one pipe of Zen 2 at one a cycle: three shifts per 32 bytes were six
// cycles a block of it, now two (one core, hot, 2048 x 768: 14.7-15.0 -> 15.1-15.5 GB/s; the
// multiply pipe's 9 maddubs and madd a block stay). The sums come out four times too large
// (f = 1/4, exact: a power of two): 4 (S0 + S2 - sum a) + 4 (S1 + S3) in int16 lanes, at
// most 4 x (4 x 762 + 2048) + 4 x 3048 = 32576 for any bits.
void dot_tq2_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i field0 = _mm256_set1_epi8(3), field1 = _mm256_set1_epi8(12);
  sum_super_block_rows<BlockTQ2_0>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockTQ2_0& x, const int8_t* y_qs, const int16_t* y_bsums) {
        __m256i once = _mm256_setzero_si256();  // fields 0 and 2: S0 + S2
        __m256i four = _mm256_setzero_si256();  // fields 1 and 3, four times: 4 (S1 + S3)
        for (int c = 0; c < 2; ++c) {
          const __m256i raw = load256(x.qs + 32 * c), high = _mm256_srli_epi16(raw, 4);
          const int8_t* y = y_qs + 128 * c;
          once = _mm256_add_epi16(once, _mm256_maddubs_epi16(_mm256_and_si256(raw, field0), load256(y)));
          four = _mm256_add_epi16(four, _mm256_maddubs_epi16(_mm256_and_si256(raw, field1), load256(y + 32)));
          once = _mm256_add_epi16(once, _mm256_maddubs_epi16(_mm256_and_si256(high, field0), load256(y + 64)));
          four = _mm256_add_epi16(four, _mm256_maddubs_epi16(_mm256_and_si256(high, field1), load256(y + 96)));
        }
        const __m256i total4 = _mm256_add_epi16(_mm256_slli_epi16(_mm256_sub_epi16(once, load256(y_bsums)), 2), four);
        return SuperBlockLanes{widen_i16(total4)};
      },
      0.25f);
}

// ---- MXFP4, NVFP4 ------------------------------------------------------------------------

// Levels plus 12 are unsigned (0..24): maddubs takes them as they are, and 12 sum a comes off
// each block's total.
struct Mxfp4Weights {
  UnsignedWeights32 operator()(const BlockMXFP4& x) const {
    const __m256i levels = fp4_levels(kFp4Offset);
    return {_mm256_shuffle_epi8(levels, nibbles_32(x.qs))};
  }
};

}  // namespace

void add_avx2_ternary_fp4_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::TQ1_0, rows_for_each_token<dot_tq1_0>);
  set_kernel(table, GgmlType::TQ2_0, rows_for_each_token<dot_tq2_0>);
  set_kernel(table, GgmlType::MXFP4, blocks32_rows<BlockMXFP4, kFp4Offset, Mxfp4Weights>);
}

}  // namespace sluice::quant::fast::detail
