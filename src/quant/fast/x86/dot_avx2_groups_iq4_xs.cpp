// The AVX2 group kernel for IQ4_XS over rows laid out in groups of 8
// (quant/interleaved_rows.h: IQ4XSGroupBlock), as group_kernels.h's Q4_K: each
// 32-bit lane is one row, a quant word of 8 rows meets four broadcast activations, and the
// 8 rows' sums come out in 8 lanes without a horizontal step. Each super-block's integer sum
// is exact and its f32 step is dot_scalar's expression, so results are bit-identical to every
// set's row kernels. (TQ2_0 done so was slower than its row kernel: 64 broadcasts of
// activations for 528 bytes of weights.)
//
// Compiled with -mavx2 -mfma -mf16c and called only on CPUs that have them.
#include <immintrin.h>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/group_kernels.h"
#include "quant/interleaved_rows.h"

namespace sluice::quant::fast::detail {
namespace {

// IQ4_XS. Sub-block ib's quants are words 4 ib .. 4 ib + 3, each word's low nibbles values
// 4 k .. 4 k + 3 and its high ones 16 + 4 k ..; they index the 16 signed levels
// (shuffle_epi8) and multiply as signed bytes (magnitude times activations with the levels'
// signs). A maddubs pair reaches 2 x 127 x 127, so each is widened at once, by a madd with the
// sub-block's 6-bit scale minus 32 (in both int16 halves of each lane): widened and scaled in
// one multiply, as the scalar kernel's sum of scale times sub-block sum.
template <int kTokens>
void iq4_xs_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                   int64_t n, float* out, size_t out_stride) {
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  const __m256i low4 = _mm256_set1_epi8(0x0f), levels = _mm256_broadcastsi128_si256(load128(kIq4Levels));
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* blocks = reinterpret_cast<const IQ4XSGroupBlock*>(w + static_cast<size_t>(g) * group_bytes);
    __m256 sum[kTokens];
    for (int t = 0; t < kTokens; ++t) sum[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
      const IQ4XSGroupBlock& x = blocks[b];
      prefetch_lines_ahead<1>(&x);  // d, scales_h and scales_l; the quants' lines as they are read
      const __m256i scales_l = load256(x.scales_l);
      const __m256i scales_h = _mm256_cvtepu16_epi32(load128(x.scales_h));
      __m256i isum[kTokens];
      for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int ib = 0; ib < 8; ++ib) {
        const __m256i low =
            _mm256_and_si256(_mm256_srli_epi32(scales_l, 8 * (ib / 2) + 4 * (ib % 2)), _mm256_set1_epi32(0x0f));
        const __m256i high = _mm256_and_si256(_mm256_srli_epi32(scales_h, 2 * ib), _mm256_set1_epi32(3));
        const __m256i scale = _mm256_sub_epi32(_mm256_or_si256(low, _mm256_slli_epi32(high, 4)), _mm256_set1_epi32(32));
        const __m256i scale_pair =
            _mm256_or_si256(_mm256_and_si256(scale, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(scale, 16));
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          prefetch_every_other_word(x.qs[4 * ib + k], k);
          const __m256i q = load256(x.qs[4 * ib + k]);
          const __m256i lo = _mm256_shuffle_epi8(levels, _mm256_and_si256(q, low4));
          const __m256i hi = _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
          const __m256i lo_magnitude = _mm256_sign_epi8(lo, lo), hi_magnitude = _mm256_sign_epi8(hi, hi);
#pragma GCC unroll 4
          for (int t = 0; t < kTokens; ++t) {
            const int8_t* y = acts[t].qs + 256 * b + 32 * ib + 4 * k;
            const __m256i p_lo = _mm256_maddubs_epi16(lo_magnitude, _mm256_sign_epi8(broadcast4(y), lo));
            const __m256i p_hi = _mm256_maddubs_epi16(hi_magnitude, _mm256_sign_epi8(broadcast4(y + 16), hi));
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p_lo, scale_pair));
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p_hi, scale_pair));
          }
        }
      }
      // sum += (d * y_d) * isum, as dot_scalar.cpp rounds it.
      const __m256 d16 = _mm256_cvtph_ps(load128(x.d));
      for (int t = 0; t < kTokens; ++t) {
        const __m256 d = _mm256_mul_ps(d16, _mm256_set1_ps(acts[t].d[b]));
        sum[t] = _mm256_add_ps(sum[t], _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])));
      }
    }
    for (int t = 0; t < kTokens; ++t) {
      _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride + kGroupRows * g, sum[t]);
    }
  }
}

}  // namespace

void add_avx2_iq4_xs_group_kernel(KernelTable& table) {
  const auto id = static_cast<uint32_t>(GgmlType::IQ4_XS);
  table.group_dot[id] = in_passes<2, iq4_xs_groups<1>, iq4_xs_groups<2>, iq4_xs_groups<3>, iq4_xs_groups<4>>;
  table.groups_rows_by_default[id] = true;
}

}  // namespace sluice::quant::fast::detail
