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

// A block's weights ready for its products: unsigned ones multiply the activations as they
// are; signed ones by their magnitude, with their signs moved onto the activations.
struct UnsignedWeights32 {
  __m256i q;
};
struct SignedWeights32 {
  __m256i magnitude;
  __m256i w;
};
inline SignedWeights32 signed_weights(__m256i w) { return {_mm256_sign_epi8(w, w), w}; }

// A block's integer products with 32 activation quants, as int32 lanes.
inline __m256i block_product(const UnsignedWeights32& x, const int8_t* a) { return dot_u8_s8(x.q, load256(a)); }
inline __m256i block_product(const SignedWeights32& x, const int8_t* a) {
  return dot_u8_s8(x.magnitude, _mm256_sign_epi8(load256(a), x.w));
}

// How a format's rows are summed: block_weights(block) gives a block's weights (one of the
// two above), multiplied with activation quants by block_product and scaled by y_d; formats
// with a minimum m add m y_d sum a. Formats stored with an offset (value q - kOffset) may give
// unsigned weights q, which skip the sign trick; kOffset sum a then comes off each block's
// total, from the activations' block sums.
template <class Block, int kOffset>
struct Blocks32 {
  static constexpr bool kMinimums = requires(const Block& x) { x.m; };

  // The f32 step of eight blocks from b on: acc += (scales y_d) totals, and for formats with
  // minimums mins += (minimums y_d) sums.
  static void add_eight(const Block* wb, int64_t b, const Q8x32View& acts, __m256i totals, __m256 scales, __m256& acc,
                        __m256& mins) {
    if constexpr (kOffset != 0) {
      totals = _mm256_sub_epi32(totals, _mm256_mullo_epi32(load256(acts.sum + b), _mm256_set1_epi32(kOffset)));
    }
    const __m256 y_d = _mm256_loadu_ps(acts.d + b);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(scales, y_d), _mm256_cvtepi32_ps(totals), acc);
    if constexpr (kMinimums) {
      mins =
          _mm256_fmadd_ps(_mm256_mul_ps(eight_minimums(wb + b), y_d), _mm256_cvtepi32_ps(load256(acts.sum + b)), mins);
    }
  }

  // The row's sum from the vector sums of its whole groups of eight blocks, and the blocks
  // from b on one by one.
  template <class BlockWeights>
  static float finish(const Block* wb, int64_t b, int64_t nb, const Q8x32View& acts, __m256 acc, __m256 mins,
                      const BlockWeights& block_weights) {
    float sum = hsum_f32(_mm256_add_ps(acc, mins));
    for (; b < nb; ++b) {
      const int32_t isum = hsum_i32(block_product(block_weights(wb[b]), acts.qs + 32 * b)) - kOffset * acts.sum[b];
      sum += block_scale(wb[b]) * acts.d[b] * static_cast<float>(isum);
      if constexpr (kMinimums) sum += f16(wb[b].m) * acts.d[b] * static_cast<float>(acts.sum[b]);
    }
    return sum;
  }
};

// The dot product of a row of n values (Blocks32 for block_weights and kOffset).
template <class Block, int kOffset = 0, class BlockWeights>
float sum_blocks32(const std::byte* w, const std::byte* act, int64_t n, BlockWeights block_weights) {
  using Sums = Blocks32<Block, kOffset>;
  const auto* wb = reinterpret_cast<const Block*>(w);
  const Q8x32View acts = view_q8x32(act, n);
  const int64_t nb = n / 32;
  __m256 acc = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    prefetch_ahead<8 * sizeof(Block)>(wb + b);
    __m256i p[8];
    for (int i = 0; i < 8; ++i) p[i] = block_product(block_weights(wb[b + i]), acts.qs + 32 * (b + i));
    Sums::add_eight(wb, b, acts, lane_totals(p), eight_scales(wb + b), acc, mins);
  }
  return Sums::finish(wb, b, nb, acts, acc, mins, block_weights);
}

// Prompt kernels: kTokens (1..4) tokens per pass over a row, each block's weights made once for
// all of them. A token's eight block products are reduced as they come (pairs by hadd, as
// lane_totals does), so each token holds two vectors between blocks. The integer totals and
// the f32 steps are sum_blocks32's: results are bit-identical to the one-token kernel.
template <class Block, int kOffset, int kTokens, class BlockWeights>
void sum_blocks32_tokens(const std::byte* w, const std::byte* act, size_t act_stride, int64_t n, float* out,
                         size_t out_stride, const BlockWeights& block_weights) {
  using Sums = Blocks32<Block, kOffset>;
  const auto* wb = reinterpret_cast<const Block*>(w);
  Q8x32View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x32(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t nb = n / 32;
  __m256 acc[kTokens], mins[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = mins[t] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    prefetch_ahead<8 * sizeof(Block)>(wb + b);
    __m256i quarter[kTokens] = {}, half[2][kTokens];  // hadds of blocks 0-1 (4-5), then of 0-3 (4-7)
    for (int pair = 0; pair < 4; ++pair) {
      const auto w0 = block_weights(wb[b + 2 * pair]);
      const auto w1 = block_weights(wb[b + 2 * pair + 1]);
      for (int t = 0; t < kTokens; ++t) {
        const int8_t* a = acts[t].qs + 32 * (b + 2 * pair);
        const __m256i h = _mm256_hadd_epi32(block_product(w0, a), block_product(w1, a + 32));
        if (pair % 2 == 0) {
          quarter[t] = h;
        } else {
          half[pair / 2][t] = _mm256_hadd_epi32(quarter[t], h);
        }
      }
    }
    const __m256 scales = eight_scales(wb + b);
    for (int t = 0; t < kTokens; ++t) {
      // lane_totals' last step: the two 128-bit halves of each half's sums added.
      const __m256i totals = _mm256_add_epi32(_mm256_permute2x128_si256(half[0][t], half[1][t], 0x20),
                                              _mm256_permute2x128_si256(half[0][t], half[1][t], 0x31));
      Sums::add_eight(wb, b, acts[t], totals, scales, acc[t], mins[t]);
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    out[static_cast<size_t>(t) * out_stride] = Sums::finish(wb, b, nb, acts[t], acc[t], mins[t], block_weights);
  }
}

// A RowDotFn of a 32-value format: rows one by one, tokens four at a time (two or one at the
// end), and one token alone through sum_blocks32. BlockWeights is a stateless functor type.
template <class Block, int kOffset, class BlockWeights>
void blocks32_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, size_t act_stride,
                   int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride) {
  const BlockWeights block_weights{};
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::byte* w_row = w + static_cast<size_t>(r) * w_row_bytes;
    for (int64_t t = 0; t < n_tokens;) {
      const std::byte* a = act + static_cast<size_t>(t) * act_stride;
      float* o = out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(r);
      const int64_t left = n_tokens - t;
      if (left >= 4) {
        sum_blocks32_tokens<Block, kOffset, 4>(w_row, a, act_stride, n_cols, o, out_stride, block_weights);
        t += 4;
      } else if (left >= 2) {
        sum_blocks32_tokens<Block, kOffset, 2>(w_row, a, act_stride, n_cols, o, out_stride, block_weights);
        t += 2;
      } else {
        *o = sum_blocks32<Block, kOffset>(w_row, a, n_cols, block_weights);
        t += 1;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::quant::fast::detail
