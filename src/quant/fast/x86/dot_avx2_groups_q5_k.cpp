// The AVX2 group kernel for Q5_K over rows laid out in groups of 8 (quant/interleaved_rows.h:
// Q5KGroupBlock): group_kernels.h's Q4_K with each value's fifth bit, bit j of qh byte l for
// value l of sub-block j, put in as bit 4. The super-block's integer sums are exact and its f32
// step is dot_scalar's expression, so results are bit-identical to every set's row kernels.
//
// Compiled with -mavx2 -mfma -mf16c and called only on CPUs that have them.
#include <immintrin.h>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/group_kernels.h"
#include "quant/interleaved_rows.h"

namespace sluice::quant::fast::detail {
namespace {

// Bit 4 - kShift of every byte of v as its bit 4 (kShift may be negative), the rest zero: a
// 16-bit shift moves each byte's bits within the byte where they land on bit 4.
template <int kShift>
__m256i bit_to_bit4(__m256i v) {
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  if constexpr (kShift >= 0) {
    return _mm256_and_si256(_mm256_slli_epi16(v, kShift), bit4);
  } else {
    return _mm256_and_si256(_mm256_srli_epi16(v, -kShift), bit4);
  }
}

// Quant word 8 c + s of a row holds values 4 s .. 4 s + 3 of sub-block 2 c (low nibbles) and
// 2 c + 1 (high nibbles); fifth-bit word s holds the bits of values 4 s .. 4 s + 3 of every
// sub-block, sub-block j's in bit j. Values reach 31, so a maddubs pair reaches 2 x 31 x 127 and
// four steps fill an int16 sum: each sub-block's 8 steps are two sums, each widened and scaled
// by one madd. The minimums' term is Q4_K's.
template <int kTokens>
void q5_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                 int64_t n, float* out, size_t out_stride) {
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  const int32_t* sums32 = sums_per_32<Avx2Files>(acts, n);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const auto scaled = [](__m256i sums, __m256i scale) {
    return _mm256_madd_epi16(sums, _mm256_or_si256(scale, _mm256_slli_epi32(scale, 16)));
  };
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* blocks = reinterpret_cast<const Q5KGroupBlock*>(w + static_cast<size_t>(g) * group_bytes);
    __m256 sum[kTokens];
    for (int t = 0; t < kTokens; ++t) sum[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
      const Q5KGroupBlock& x = blocks[b];
      // d, dmin, scales and the fifth bits, read from the first chunk on; the quants' lines as
      // they are read.
      prefetch_lines_ahead<6>(&x);
      __m256i scale[8], minimum[8];
      k4_scale_lanes(x.scales, scale, minimum);
      __m256i isum[kTokens];
      for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
      const auto chunk = [&]<int kChunk>() {
        __m256i lo[kTokens][2], hi[kTokens][2];
        for (int t = 0; t < kTokens; ++t) lo[t][0] = lo[t][1] = hi[t][0] = hi[t][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int s = 0; s < 8; ++s) {
          prefetch_every_other_word(x.qs[8 * kChunk + s], s);
          const __m256i q = load256(x.qs[8 * kChunk + s]), h = load256(x.qh[s]);
          const __m256i q_lo = _mm256_or_si256(_mm256_and_si256(q, low4), bit_to_bit4<4 - 2 * kChunk>(h));
          const __m256i q_hi =
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), bit_to_bit4<3 - 2 * kChunk>(h));
#pragma GCC unroll 4
          for (int t = 0; t < kTokens; ++t) {
            const int8_t* y = acts[t].qs + 256 * b + 64 * kChunk + 4 * s;
            lo[t][s / 4] = _mm256_add_epi16(lo[t][s / 4], _mm256_maddubs_epi16(q_lo, broadcast4(y)));
            hi[t][s / 4] = _mm256_add_epi16(hi[t][s / 4], _mm256_maddubs_epi16(q_hi, broadcast4(y + 32)));
          }
        }
        for (int t = 0; t < kTokens; ++t) {
          const __m256i low_sub =
              _mm256_add_epi32(scaled(lo[t][0], scale[2 * kChunk]), scaled(lo[t][1], scale[2 * kChunk]));
          const __m256i high_sub =
              _mm256_add_epi32(scaled(hi[t][0], scale[2 * kChunk + 1]), scaled(hi[t][1], scale[2 * kChunk + 1]));
          isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(low_sub, high_sub));
        }
      };
      chunk.template operator()<0>();
      chunk.template operator()<1>();
      chunk.template operator()<2>();
      chunk.template operator()<3>();
      const __m256 d16 = _mm256_cvtph_ps(load128(x.d)), dmin16 = _mm256_cvtph_ps(load128(x.dmin));
      for (int t = 0; t < kTokens; ++t) {
        sum[t] =
            k4_step(sum[t], d16, dmin16, acts[t].d[b], isum[t], minimum, sums32 + t * n / 32 + 8 * b,
                    [](__m256i acc, __m256i u, __m256i v) { return _mm256_add_epi32(acc, _mm256_madd_epi16(u, v)); });
      }
    }
    for (int t = 0; t < kTokens; ++t) {
      _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride + kGroupRows * g, sum[t]);
    }
  }
}

}  // namespace

void add_avx2_q5_k_group_kernel(KernelTable& table) {
  const auto id = static_cast<uint32_t>(GgmlType::Q5_K);
  table.group_dot[id] = in_passes<2, q5_k_groups<1>, q5_k_groups<2>, q5_k_groups<3>, q5_k_groups<4>>;
  table.groups_rows_by_default[id] = true;
}

}  // namespace sluice::quant::fast::detail
