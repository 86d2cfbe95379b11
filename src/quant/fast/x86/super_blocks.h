// The f32 step of the one-token kernels of 256-value formats whose super-block term is
//     (f * f16(d) * y_d) * isum - (f16(dmin) * y_d) * msum
// with f a power of two (1 for the K-quants, 1/8 to 1 for the grid i-quants, 1/256 for
// TQ1_0, whose isum comes 256 times too large), dmin and msum zero for formats without
// minimums. Used by the AVX2 one-token kernels of every 256-value format, and by the AVX-512
// ones of Q2_K to Q6_K, IQ4_XS, TQ1_0, TQ2_0, IQ1_S, IQ1_M, IQ2_XS, IQ2_S and the VBMI grid
// i-quants (IQ2_XXS, IQ3_XXS, IQ3_S).
//
// dot_scalar.cpp adds each super-block's term to the row's sum with every step rounded to f32
// (contraction off). A SIMD kernel ends a super-block with isum and msum spread over int32
// lanes; reducing them one super-block at a time took two horizontal sums and the scalar
// steps, about a fifth of Q4_K's one-token kernel. Here four super-blocks' lane vectors are
// reduced together (hadd), their terms computed in one vector, and the four terms added to
// the sum in block order: the same roundings in the same order, so results stay
// bit-identical to the scalar kernels'. One core, 2048 x 768, hot: Q4_K 17 -> 20 GB/s.
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"

namespace sluice::quant::fast::detail {
namespace {

// A super-block's integer sums as int32 lanes: isum's lanes total the scaled quant sums,
// msum's the minimums' sum (zero for formats without minimums).
struct SuperBlockLanes {
  __m256i isum;
  __m256i msum = _mm256_setzero_si256();
};

// Lane i of the result is the total of v[i]'s eight lanes.
inline __m256i lane_totals(const __m256i (&v)[8]) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i h67 = _mm256_hadd_epi32(v[6], v[7]);
  // 128-bit half k of each: the totals of v[0..3] (v[4..7]) over their own half k.
  const __m256i low4 = _mm256_hadd_epi32(h01, h23);
  const __m256i high4 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(low4, high4, 0x20), _mm256_permute2x128_si256(low4, high4, 0x31));
}

// Lane i of the result is the total of v[i]'s eight lanes, for four vectors.
inline __m128i lane_totals(const __m256i (&v)[4]) {
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// Whether the format's super-blocks have minimums (a dmin and a msum term).
template <class Block>
constexpr bool kHasMinimums = requires(const Block& x) {
  x.dmin;
};

// d and dmin of a block as f16 bits, d in the low half (dmin 0 for formats without one).
template <class Block>
uint32_t f16_scale_pair(const Block& x) {
  if constexpr (kHasMinimums<Block>) {
    return uint32_t{x.d} | uint32_t{x.dmin} << 16;
  } else if constexpr (requires { x.d; }) {
    return x.d;
  } else {
    return iq1_m_scale_bits(x);  // IQ1_M spreads d over the top nibbles of its scales
  }
}

// Four super-blocks' integer results and scales (group_sums below).
struct GroupSums {
  __m256i totals;  // isum0..3, and for formats with minimums msum0..3
  __m128i scales;  // f16_scale_pair of each super-block; without minimums the four d in 64 bits
  __m128 y_d;      // their activation scales
};

// The terms of the group's four super-blocks, as the scalar kernels compute them, in lanes
// 0 to 3; d_factor is f. Formats without minimums have no msum term: the scalar kernels' sum
// then is the isum term alone, which is what subtracting (0 * y_d) * 0 from it would give.
template <bool kMinimums>
inline __m128 four_terms(const GroupSums& g, float d_factor) {
  if constexpr (kMinimums) {
    const __m256 y = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(g.y_d), _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
    const __m256 factors = _mm256_setr_ps(d_factor, 1.0f, d_factor, 1.0f, d_factor, 1.0f, d_factor, 1.0f);
    const __m256 scales = _mm256_mul_ps(_mm256_mul_ps(factors, _mm256_cvtph_ps(g.scales)), y);  // d0 dmin0 d1 ...
    const __m256 sums =
        _mm256_cvtepi32_ps(_mm256_permutevar8x32_epi32(g.totals, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256 products = _mm256_mul_ps(scales, sums);
    const __m256 terms = _mm256_sub_ps(products, _mm256_movehdup_ps(products));  // in lanes 0, 2, 4, 6
    return _mm_shuffle_ps(_mm256_castps256_ps128(terms), _mm256_extractf128_ps(terms, 1), _MM_SHUFFLE(2, 0, 2, 0));
  } else {
    const __m128 scales = _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(d_factor), _mm_cvtph_ps(g.scales)), g.y_d);
    return _mm_mul_ps(scales, _mm_cvtepi32_ps(_mm256_castsi256_si128(g.totals)));
  }
}

// sum plus the group's four terms, in block order.
template <bool kMinimums>
inline float add_four_super_blocks(float sum, const GroupSums& g, float d_factor) {
  const __m128 terms = four_terms<kMinimums>(g, d_factor);
  sum += _mm_cvtss_f32(terms);
  sum += _mm_cvtss_f32(_mm_movehdup_ps(terms));
  sum += _mm_cvtss_f32(_mm_movehl_ps(terms, terms));
  sum += _mm_cvtss_f32(_mm_shuffle_ps(terms, terms, _MM_SHUFFLE(3, 3, 3, 3)));
  return sum;
}

// As add_four_super_blocks, for a group that may begin rows: bit i of row_starts marks
// super-block i as the first of a row. The sum so far is then the previous row's result,
// stored at *out++, and the sum starts again from +0. Returns the last row's sum.
template <bool kMinimums>
inline float add_four_super_blocks(float sum, const GroupSums& g, float d_factor, unsigned row_starts, float*& out) {
  if (row_starts == 0) return add_four_super_blocks<kMinimums>(sum, g, d_factor);
  const __m128 terms = four_terms<kMinimums>(g, d_factor);
  const float term[4] = {_mm_cvtss_f32(terms), _mm_cvtss_f32(_mm_movehdup_ps(terms)),
                         _mm_cvtss_f32(_mm_movehl_ps(terms, terms)),
                         _mm_cvtss_f32(_mm_shuffle_ps(terms, terms, _MM_SHUFFLE(3, 3, 3, 3)))};
  for (int i = 0; i < 4; ++i) {
    if (row_starts >> i & 1) {
      *out++ = sum;
      sum = 0.0f;
    }
    sum += term[i];
  }
  return sum;
}

// Where the super-blocks of a group sit in their rows: the activation block of each
// (block(i)), and which of them begin a row (bit i of row_starts).
struct GroupPlace {
  int64_t act_blocks[4];
  unsigned row_starts;
  alignas(16) float y_d[4];  // the activation blocks' scales

  int64_t block(int i) const { return act_blocks[i]; }
};

// The place of a group within one row, from activation block `first` on.
struct PlaceInRow {
  int64_t first;

  int64_t block(int i) const { return first + i; }
};

// The integer results of kCount (1..4) super-blocks, wk[0..kCount), against activation
// blocks place.block(0..kCount), ready for add_four_super_blocks. A group of fewer than four
// is padded with zero lanes, scales and activation scales: its padding terms are +0, and
// adding +0 leaves the sum as it is (the sum starts at +0 and, rounding to nearest with
// flush-to-zero off, as nothing here changes, is never -0).
//
// Formats with minimums reduce isum and msum together (eight vectors); those without reduce
// isum alone and skip the msum term of the f32 step (four_terms): one core, hot, TSC cycles
// per super-block at 2048 / 768 columns, TQ2_0 8.4 / 9.65 -> 8.05 / 9.3, IQ1_S 27.1 / 29.2 ->
// 26.3 / 29.0, IQ4_XS 14.8 / 15.9 -> 14.5 / 15.75 (Q6_K, Q3_K and IQ2_XS within the noise).

// GCC 12 reports -Wuninitialized on the undefined pass-through operand of AVX-512 intrinsics
// (_mm512_undefined_epi32; GCC bug 105593) once some kernels are inlined here for kCount < 4;
// the operand is never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
template <int kCount, int kQsStride, class Block, class Place, class BlockLanes>
[[gnu::always_inline]] inline GroupSums group_sums(const Block* wk, const Q8x256View& acts, const Place& place,
                                                   const BlockLanes& block_lanes) {
  constexpr bool kMinimums = kHasMinimums<Block>;
  __m256i isum[4], msum[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    if (i < kCount) {
      prefetch_ahead<sizeof(Block)>(wk + i);
      const int64_t a = place.block(i);
      const SuperBlockLanes s = block_lanes(wk[i], acts.qs + kQsStride * a, acts.bsums + 16 * a);
      isum[i] = s.isum;
      msum[i] = s.msum;
    } else {
      isum[i] = msum[i] = _mm256_setzero_si256();
    }
  }
  const auto pair = [&](int i) { return i < kCount ? static_cast<int>(f16_scale_pair(wk[i])) : 0; };
  const auto y = [&](int i) { return i < kCount ? acts.d[place.block(i)] : 0.0f; };
  __m128 y_d;
  if constexpr (kCount == 4 && std::is_same_v<Place, GroupPlace>) {
    y_d = _mm_load_ps(place.y_d);
  } else if constexpr (kCount == 4 && std::is_same_v<Place, PlaceInRow>) {
    y_d = _mm_loadu_ps(acts.d + place.block(0));
  } else {
    y_d = _mm_setr_ps(y(0), y(1), y(2), y(3));
  }
  if constexpr (kMinimums) {
    const __m256i all[8] = {isum[0], isum[1], isum[2], isum[3], msum[0], msum[1], msum[2], msum[3]};
    return {lane_totals(all), _mm_setr_epi32(pair(0), pair(1), pair(2), pair(3)), y_d};
  } else {
    const auto d = [&](int i) { return static_cast<short>(pair(i)); };
    return {_mm256_castsi128_si256(lane_totals(isum)), _mm_setr_epi16(d(0), d(1), d(2), d(3), 0, 0, 0, 0), y_d};
  }
}
#pragma GCC diagnostic pop

// group_sums for the last group of count (1..3) super-blocks.
template <int kQsStride, class Block, class Place, class BlockLanes>
GroupSums tail_group_sums(int count, const Block* wk, const Q8x256View& acts, const Place& place,
                          const BlockLanes& block_lanes) {
  switch (count) {
    case 1:
      return group_sums<1, kQsStride>(wk, acts, place, block_lanes);
    case 2:
      return group_sums<2, kQsStride>(wk, acts, place, block_lanes);
    default:
      return group_sums<3, kQsStride>(wk, acts, place, block_lanes);
  }
}

// The place of the four super-blocks from activation block `first` on, in rows of
// n_blocks, with their activation scales from act_d; `first` moves on to the block after them.
inline GroupPlace place_group(int64_t& first, int64_t n_blocks, const float* act_d) {
  GroupPlace p{};
  int64_t j = first;
  for (int i = 0; i < 4; ++i) {
    p.act_blocks[i] = j;
    p.y_d[i] = act_d[j];
    p.row_starts |= static_cast<unsigned>(j == 0) << i;
    j = j + 1 == n_blocks ? 0 : j + 1;
  }
  first = j;
  return p;
}

// sum_super_block_rows (below) for rows cut into groups row by row; a row's last group is
// short where n_blocks is not a multiple of four.
template <int kQsStride, class Block, class BlockLanes>
void sum_rows_one_by_one(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const Q8x256View& acts,
                         int64_t n_blocks, float* out, BlockLanes block_lanes, float d_factor) {
  const int64_t n_full = n_blocks / 4 * 4;  // blocks in whole groups of four
  const int tail = static_cast<int>(n_blocks - n_full);
  float sum = 0.0f;
  GroupSums pending{};
  bool have_pending = false;
  // Adds the pending group's terms and makes `next` the pending one; a row's first group
  // finishes the row before it.
  const auto advance = [&](const GroupSums& next, int64_t r, bool first_of_row) {
    if (have_pending) {
      sum = add_four_super_blocks<kHasMinimums<Block>>(sum, pending, d_factor);
      if (first_of_row) {
        out[r - 1] = sum;
        sum = 0.0f;
      }
    }
    pending = next;
    have_pending = true;
  };
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* wb = blocks_of<Block>(w + static_cast<size_t>(r) * w_row_bytes);
    for (int64_t b = 0; b < n_full; b += 4) {
      advance(group_sums<4, kQsStride>(wb + b, acts, PlaceInRow{b}, block_lanes), r, b == 0);
    }
    if (tail != 0)
      advance(tail_group_sums<kQsStride>(tail, wb + n_full, acts, PlaceInRow{n_full}, block_lanes), r, n_full == 0);
  }
  out[n_rows - 1] = add_four_super_blocks<kHasMinimums<Block>>(sum, pending, d_factor);
}

// sum_super_block_rows (below) for rows laid end to end, their super-blocks taken as one
// sequence cut into groups of four.
template <int kQsStride, class Block, class BlockLanes>
void sum_rows_as_one_sequence(const std::byte* w, int64_t n_rows, const Q8x256View& acts, int64_t n_blocks, float* out,
                              BlockLanes block_lanes, float d_factor) {
  const auto* wb = blocks_of<Block>(w);
  const int64_t total = n_rows * n_blocks;
  const int64_t n_full = total / 4 * 4;  // super-blocks in whole groups of four
  float sum = 0.0f;
  float* next_out = out;
  GroupSums pending{};
  unsigned pending_starts = 0;
  bool have_pending = false;
  // Adds the pending group's terms and makes `next` the pending one.
  const auto advance = [&](const GroupSums& next, unsigned row_starts) {
    if (have_pending)
      sum = add_four_super_blocks<kHasMinimums<Block>>(sum, pending, d_factor, pending_starts, next_out);
    pending = next;
    pending_starts = row_starts;
    have_pending = true;
  };
  // The groups' places repeat every `period` groups (4 period super-blocks are whole rows):
  // made once per call. Worked out group by group as the sequence went (a chain of compares
  // from group to group, and the activation scales gathered one by one), they cost some 2.5
  // TSC cycles per super-block. One core, hot, at 768 columns: a trivial block function
  // 7.7 -> 5.0, Q4_K 14.7 -> 13.7, Q6_K 16.7 -> 15.2, Q3_K 20.1 -> 18.9, TQ2_0 9.25 -> 8.1.
  const int64_t period = n_blocks / std::gcd(n_blocks, int64_t{4});
  thread_local std::vector<GroupPlace> places;
  places.resize(static_cast<size_t>(period));
  int64_t first = 0;  // activation block of the next group's first super-block
  for (GroupPlace& p : places) p = place_group(first, n_blocks, acts.d);
  int64_t t = 0;  // the next group's place in `places`
  for (int64_t k = 0; k < n_full; k += 4) {
    const GroupPlace& place = places[static_cast<size_t>(t)];
    t = t + 1 == period ? 0 : t + 1;
    // The first row has no row before it to store.
    const unsigned row_starts = k == 0 ? place.row_starts & ~1u : place.row_starts;
    advance(group_sums<4, kQsStride>(wb + k, acts, place, block_lanes), row_starts);
  }
  if (n_full != total) {
    const int count = static_cast<int>(total - n_full);
    GroupPlace place = places[static_cast<size_t>(t)];
    place.row_starts &= (1u << count) - 1;  // none in the padding
    if (n_full == 0) place.row_starts &= ~1u;
    advance(tail_group_sums<kQsStride>(count, wb + n_full, acts, place, block_lanes), place.row_starts);
  }
  sum = add_four_super_blocks<kHasMinimums<Block>>(sum, pending, d_factor, pending_starts, next_out);
  *next_out = sum;
}

// One token against n_rows weight rows (a RowsDotFn's work): out[r] = the dot product of row
// r. block_lanes(block, activation quants, activation bsums) returns a super-block's
// SuperBlockLanes; d_factor is f. Activation block a's quants are read at
// acts.qs + kQsStride * a: the row as quantize_activations wrote it (256), or a kernel's own
// arrangement of it made once per call (TQ1_0's, 320 bytes per block).
//
// The super-blocks go in groups of four. Rows of a multiple of four super-blocks are cut into
// their own groups. Other rows laid end to end are taken as one sequence, so that a group may
// end one row and begin the next: cut row by row, each row would end in a short group, and at
// 768 columns (three super-blocks, an expert's down projection in Qwen3-30B-A3B) every group
// was short, each paying for the reduction and the f32 step of four. One core, hot, TSC
// cycles per super-block at 768 columns: Q2_K 18.9 -> 14.5, Q3_K 24.2 -> 21.9, Q4_K
// 17.3 -> 14.6, Q6_K 19.2 -> 16.4, IQ2_XXS 33.3 -> 27.5 (at 2048 columns they take 14.3,
// 21.1, 13.5, 15.7 and 27.9). Rows apart in memory (w_row_bytes larger than the blocks) are
// cut row by row.
//
// Each group's f32 step runs after the next group's integer work has been issued. Run right
// after its own group, the step's chain of conversions and shuffles (some 40 cycles) held up
// retirement while the next group's instructions filled the reorder buffer; deferred, its
// inputs are long ready. With the groups inlined (constants stay in registers), one core,
// hot, TSC cycles per super-block: Q4_K 17.6 -> 13.5 and Q6_K 20.7 -> 16.4 at 2048 columns.
// Each row's terms are still added in block order, so results are unchanged.
template <class Block, int kQsStride = 256, class BlockLanes>
void sum_super_block_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const Q8x256View& acts, int64_t n,
                          float* out, BlockLanes block_lanes, float d_factor = 1.0f) {
  const int64_t n_blocks = n / 256;
  if (n_blocks == 0 || n_rows == 0) {
    std::fill(out, out + n_rows, 0.0f);
    return;
  }
  const bool laid_end_to_end = w_row_bytes == static_cast<size_t>(n_blocks) * sizeof(Block) || n_rows == 1;
  if (n_blocks % 4 == 0 || !laid_end_to_end) {
    sum_rows_one_by_one<kQsStride, Block>(w, w_row_bytes, n_rows, acts, n_blocks, out, block_lanes, d_factor);
  } else {
    sum_rows_as_one_sequence<kQsStride, Block>(w, n_rows, acts, n_blocks, out, block_lanes, d_factor);
  }
}

// sum_super_block_rows over the activation row as quantize_activations wrote it.
template <class Block, class BlockLanes>
void sum_super_block_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n,
                          float* out, BlockLanes block_lanes, float d_factor = 1.0f) {
  sum_super_block_rows<Block>(w, w_row_bytes, n_rows, view_q8x256(act, n), n, out, block_lanes, d_factor);
}

}  // namespace
}  // namespace sluice::quant::fast::detail
