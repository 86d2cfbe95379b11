// AVX2 kernels of the grid i-quants IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M;
// dot_scalar_iq.cpp is their reference, reproduced bit for bit (integer sums per super-block,
// then the same f32 expression, four super-blocks at a time: super_blocks.h).
//
// Each step of 32 values (a GridSubBlock): the grid rows its indices pick are gathered into
// one vector by scalar loads (a hardware gather is slower for 4-8 rows), the signs are moved
// onto the activations with _mm256_sign_epi8, and maddubs then madd with the step's odd
// integer scales sum the products. Grid magnitudes are at most 62, so maddubs' pairs stay
// within int16 (2 * 62 * 127 < 32768). Prompts go through token groups (token_groups_avx2.h),
// which look each step up once for eight tokens.
#include <immintrin.h>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/grid_steps_avx2.h"
#include "quant/fast/x86/scales_avx2.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/fast/x86/token_groups_avx2.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// IQ2_XS / IQ2_S / IQ3_S scales: byte ib of `packed` holds the scales of sub-block 2 ib (low
// nibble) and 2 ib + 1 (high nibble); IQ2_XS and IQ2_S have 16 sub-blocks of 16 values in 8
// bytes, IQ3_S 8 of 32 in 4. The odd factors 2 nibble + 1 in sub-block order, as bytes in both
// 128-bit halves (scales8 of scales_avx2.h).
inline __m256i odd_nibble_scales(uint64_t packed) {
  const __m128i raw = _mm_cvtsi64_si128(static_cast<int64_t>(packed));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i nibbles = _mm_unpacklo_epi8(_mm_and_si128(raw, low4), _mm_and_si128(_mm_srli_epi16(raw, 4), low4));
  return _mm256_broadcastsi128_si256(_mm_or_si128(_mm_add_epi8(nibbles, nibbles), _mm_set1_epi8(1)));
}

// An IQ2_XS / IQ2_S super-block's scaled sums: steps(ib) is its 32-value step ib, and two
// steps at a time share a madd for their scales (from the block's nibbles, not the step's).
template <class Steps>
inline SuperBlockLanes iq2_scaled_sums(const typename Steps::Block& x, const int8_t* y_qs) {
  const Steps steps{x};
  const __m256i scales8 = odd_nibble_scales(load_u64(x.scales));
  __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int ib = 0; ib < 8; ib += 2) {
    acc =
        _mm256_add_epi32(acc, two_steps_scaled(grid_dot(steps(ib).weights, y_qs + 32 * ib),
                                               grid_dot(steps(ib + 1).weights, y_qs + 32 * ib + 32), scales8, 2 * ib));
  }
  return SuperBlockLanes{acc};
}

void dot_iq2_xs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_XS>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_XS& x, const int8_t* y_qs, const int16_t*) { return iq2_scaled_sums<Iq2XsSteps>(x, y_qs); },
      Iq2XsSteps::kDFactor);
}

void dot_iq2_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_S& x, const int8_t* y_qs, const int16_t*) { return iq2_scaled_sums<Iq2SSteps>(x, y_qs); },
      Iq2SSteps::kDFactor);
}

void dot_iq3_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ3_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ3_S& x, const int8_t* y_qs, const int16_t*) {
        const Iq3SSteps steps{x};
        // Grid values are at most 15: four maddubs lanes sum within int16 (four_sub_blocks_scaled).
        const __m256i scales8 = odd_nibble_scales(load_u32(x.scales));
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
          __m256i p[4];
          for (int k = 0; k < 4; ++k) p[k] = grid_dot(steps(4 * half + k).weights, y_qs + 32 * (4 * half + k));
          acc = _mm256_add_epi32(acc, four_sub_blocks_scaled(p, scales8, 4 * half));
        }
        return SuperBlockLanes{acc};
      },
      Iq3SSteps::kDFactor);
}

}  // namespace

void add_avx2_iq_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XS, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq2XsSteps>, dot_iq2_xs>);
  set_kernel(table, GgmlType::IQ2_S, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq2SSteps>, dot_iq2_s>);
  set_kernel(table, GgmlType::IQ3_XXS,
             in_token_groups<kAvx2TokenGroup, grid_token_group<Iq3XxsSteps>, dot_steps<Iq3XxsSteps>>);
  set_kernel(table, GgmlType::IQ3_S, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq3SSteps>, dot_iq3_s>);
  set_kernel(table, GgmlType::IQ1_S, rows_for_each_token<dot_steps<Iq1SSteps>>);
  set_kernel(table, GgmlType::IQ1_M, rows_for_each_token<dot_steps<Iq1MSteps>>);
}

}  // namespace sluice::quant::fast::detail
