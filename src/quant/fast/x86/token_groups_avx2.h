// Prompt kernels of the AVX2 set for 256-value formats without minimums: up to
// kAvx2TokenGroup tokens per pass over a weight row (a TokenGroupFn, kernels.h).
//
// The grid i-quants spend most of a one-token kernel's instructions looking up each
// sub-block's grid rows and sign factors, work that does not depend on the token. Here a
// sub-block is looked up once and meets the activations of every token of the group. Each
// token's integer sum per super-block is the one-token kernel's, and its f32 step is
// super_blocks.h's term, (f * f16(d) * y_d) * isum, added in block order: results are
// bit-identical to the one-token kernels and to dot_scalar_iq.cpp.
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/super_blocks.h"

namespace sluice::quant::fast::detail {
namespace {

// Eight tokens share each lookup; with four, one core ran the prompt shapes of matmul_bench
// at 26-28 GMAC/s in IQ2_XXS, IQ2_XS and IQ2_S, with eight at 30.
constexpr int kAvx2TokenGroup = 8;

// Each token's 256 activation quants of a super-block, and its integer sums over it.
using TokenQuants = const int8_t* [kAvx2TokenGroup];
using TokenSums = __m256i[kAvx2TokenGroup];

// A row of super-blocks against up to kAvx2TokenGroup tokens: block_sums(block, y, isum) sets
// isum[t] to the int32 lanes of token t's integer sum over the block, y[t] being token t's
// quants of it. A smaller group repeats its last token in the unused lanes, whose results are
// not stored.
template <class Block, class BlockSums>
void sum_super_blocks_for_tokens(const std::byte* w_row, const std::byte* act, size_t act_stride, int64_t n_tokens,
                                 int64_t n, float* out, size_t out_stride, float d_factor, BlockSums block_sums) {
  const auto* wb = blocks_of<Block>(w_row);
  Q8x256View acts[kAvx2TokenGroup];
  for (int64_t t = 0; t < kAvx2TokenGroup; ++t) {
    acts[t] = view_q8x256(act + static_cast<size_t>(std::min(t, n_tokens - 1)) * act_stride, n);
  }
  __m256 sums = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / 256; ++b) {
    const Block& x = wb[b];
    prefetch_ahead<sizeof(Block)>(&x);
    TokenQuants y;
    for (int t = 0; t < kAvx2TokenGroup; ++t) y[t] = acts[t].qs + 256 * b;
    TokenSums isum;
    block_sums(x, y, isum);
    // As super_blocks.h's four_terms: (f * d) * y_d, times isum.
    const __m256 d = _mm256_mul_ps(_mm256_set1_ps(d_factor), _mm256_set1_ps(f16(x.d)));
    alignas(32) float y_d[kAvx2TokenGroup];
    for (int t = 0; t < kAvx2TokenGroup; ++t) y_d[t] = acts[t].d[b];
    const __m256 scales = _mm256_mul_ps(d, _mm256_load_ps(y_d));
    sums = _mm256_add_ps(sums, _mm256_mul_ps(scales, _mm256_cvtepi32_ps(lane_totals(isum))));
  }
  alignas(32) float lanes[kAvx2TokenGroup];
  _mm256_store_ps(lanes, sums);
  for (int64_t t = 0; t < n_tokens; ++t) out[static_cast<size_t>(t) * out_stride] = lanes[t];
}

// block_sums of the grid i-quants: step(ib) gives step ib (0..7) of the block with its
// scales (ScaledGridSubBlock), looked up once for all the group's tokens.
template <class Step>
inline void grid_block_sums(const TokenQuants& y, TokenSums& isum, const Step& step) {
  for (__m256i& s : isum) s = _mm256_setzero_si256();
  for (int ib = 0; ib < 8; ++ib) {
    const ScaledGridSubBlock s = step(ib);
    for (int t = 0; t < kAvx2TokenGroup; ++t) isum[t] = _mm256_add_epi32(isum[t], scaled_grid_dot(s, y[t] + 32 * ib));
  }
}

// The TokenGroupFn of a format of eight 32-value grid steps per super-block (the grid
// i-quants, IQ4_XS): Steps(block) holds what the block's steps share (its scales, grid
// indices) and Steps(block)(ib) is step ib; Steps::Block is the block type and
// Steps::kDFactor the format's f.
template <class Steps>
void grid_token_group(const std::byte* w_row, const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n,
                      float* out, size_t out_stride) {
  using Block = typename Steps::Block;
  sum_super_blocks_for_tokens<Block>(
      w_row, act, act_stride, n_tokens, n, out, out_stride, Steps::kDFactor,
      [](const Block& x, const TokenQuants& y, TokenSums& isum) { grid_block_sums(y, isum, Steps(x)); });
}

}  // namespace
}  // namespace sluice::quant::fast::detail
