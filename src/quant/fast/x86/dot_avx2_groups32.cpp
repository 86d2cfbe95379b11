// Group kernels for the 32-value formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4) over rows laid
// out in groups of 8 (quant/interleaved_rows.h: Blocks32GroupBlock). Each 32-bit lane of a
// vector is one row: a quant word of 8 rows meets four broadcast activations, the 8 rows' scales
// convert in one instruction, and no block ends in a horizontal sum. The row kernel
// (sum_blocks32.h) reduces every 8 blocks' products across lanes and gathers their 8 scales
// one by one, which took more of the core than the products themselves.
//
// Bit-identical to the AVX2 row kernels: those sum block b of a row into lane b % 8 of an f32
// vector (one multiply-add per 8 blocks) and add the lanes up at the end; here the 8 vectors
// acc[j] hold lane j of all 8 rows, take the same multiply-adds, and are added in the same
// tree. The blocks past the last whole 8 go one by one, in the same f32 expression.
//
// Compiled with -mavx2 -mfma -mf16c and called only on CPUs that have them.
#include <immintrin.h>

#include <cstring>

#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/group_kernels.h"
#include "quant/interleaved_rows.h"

namespace sluice::quant::fast::detail {
namespace {

static_assert(sizeof(Blocks32GroupBlock<1, 8>) == kGroupRows * sizeof(BlockQ8_0));
static_assert(sizeof(Blocks32GroupBlock<1, 4>) == kGroupRows * sizeof(BlockQ4_0));
static_assert(sizeof(Blocks32GroupBlock<2, 4>) == kGroupRows * sizeof(BlockQ4_1));
static_assert(sizeof(Blocks32GroupBlock<1, 5>) == kGroupRows * sizeof(BlockQ5_0));
static_assert(sizeof(Blocks32GroupBlock<2, 5>) == kGroupRows * sizeof(BlockQ5_1));
static_assert(sizeof(Blocks32GroupBlock<1, 4>) == kGroupRows * sizeof(BlockIQ4_NL));
static_assert(sizeof(Mxfp4GroupBlock) == kGroupRows * sizeof(BlockMXFP4));

// The int32 sums of four u8 x s8 products per lane, of each pair of (u8, s8) vectors.
inline __m256i widened(__m256i sums16) { return _mm256_madd_epi16(sums16, _mm256_set1_epi16(1)); }

// A format gives, for one block of a group: its weights unpacked once (weights()), and their
// integer products with one token's 32 activation quants as int32 lanes (products()), before
// the offset kOffset (value q - kOffset) comes off; the rows' scales (scales()) and, where
// kMinimums, minimums (minimums()) as f32 lanes; kTwoStreams, whether one token's groups are
// read as two streams where two_streams() holds. The formats with the most work a block
// (Q5_0, Q5_1, IQ4_NL, MXFP4) read one: as two streams they ran 5-10% slower from memory at
// the expert shapes (cold, 2 threads). Word k of a 4-bit row holds values
// 4 k .. 4 k + 3 in its low nibbles and 16 + 4 k .. 16 + 4 k + 3 in its high ones.

// The f16 fields of the formats with d (and m).
template <class GroupBlock>
struct F16Scales {
  static constexpr bool kMinimums = sizeof(GroupBlock::halves) / sizeof(GroupBlock::halves[0]) == 2;
  static __m256 scales(const GroupBlock& x) { return _mm256_cvtph_ps(load128(x.halves[0])); }
  static __m256 minimums(const GroupBlock& x) requires kMinimums { return _mm256_cvtph_ps(load128(x.halves[1])); }
};

// Q8_0: signed bytes, multiplied by their magnitude with their signs moved onto the
// activations. A maddubs pair reaches 2 x 128 x 127, so each is widened at once.
struct Q8_0Groups : F16Scales<Blocks32GroupBlock<1, 8>> {
  using GroupBlock = Blocks32GroupBlock<1, 8>;
  static constexpr int kOffset = 0;
  static constexpr bool kTwoStreams = true;
  struct Weights {
    __m256i signs[8];
  };
  static Weights weights(const GroupBlock& x) {
    Weights u;
    for (int s = 0; s < 8; ++s) u.signs[s] = load256(x.words[s]);
    return u;
  }
  static __m256i products(const Weights& u, const int8_t* y) {
    __m256i total = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const __m256i magnitude = _mm256_sign_epi8(u.signs[s], u.signs[s]);
      const __m256i a = _mm256_sign_epi8(broadcast4(y + 4 * s), u.signs[s]);
      total = _mm256_add_epi32(total, widened(_mm256_maddubs_epi16(magnitude, a)));
    }
    return total;
  }
};

// The low and high nibbles of 4 quant words of 8 rows, each passed through map (identity, or a
// shuffle_epi8 lookup of levels).
struct NibbleWeights {
  __m256i low[4], high[4];
};

template <class Map>
NibbleWeights nibbles(const uint32_t (*words)[kGroupRows], const Map& map) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  NibbleWeights u;
  for (int k = 0; k < 4; ++k) {
    const __m256i w = load256(words[k]);
    u.low[k] = map(_mm256_and_si256(w, low4));
    u.high[k] = map(_mm256_and_si256(_mm256_srli_epi16(w, 4), low4));
  }
  return u;
}

inline __m256i as_is(__m256i v) { return v; }

// The products of unsigned nibble weights with a block's activations: the int16 sums of
// kWordsPerSum words' maddubs at a time (their weights' maximum times 127, times 2 kWordsPerSum
// pairs, must stay below 2^15), each widened.
template <int kWordsPerSum>
__m256i nibble_products(const NibbleWeights& u, const int8_t* y) {
  __m256i total = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int first = 0; first < 4; first += kWordsPerSum) {
    __m256i sums = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = first; k < first + kWordsPerSum; ++k) {
      sums = _mm256_add_epi16(sums, _mm256_maddubs_epi16(u.low[k], broadcast4(y + 4 * k)));
      sums = _mm256_add_epi16(sums, _mm256_maddubs_epi16(u.high[k], broadcast4(y + 16 + 4 * k)));
    }
    total = _mm256_add_epi32(total, widened(sums));
  }
  return total;
}

// Q4_0 (kOffset 8) and Q4_1: unsigned nibbles; the 8 maddubs of a block stay below
// 8 x 2 x 15 x 127 < 2^15 in int16, widened once.
template <int kHalves, int kOffsetValue>
struct Q4Groups : F16Scales<Blocks32GroupBlock<kHalves, 4>> {
  using GroupBlock = Blocks32GroupBlock<kHalves, 4>;
  static constexpr int kOffset = kOffsetValue;
  static constexpr bool kTwoStreams = true;
  using Weights = NibbleWeights;
  static Weights weights(const GroupBlock& x) { return nibbles(x.words, as_is); }
  static __m256i products(const Weights& u, const int8_t* y) { return nibble_products<4>(u, y); }
};

// Q5_0 (kOffset 16) and Q5_1: a nibble with its fifth bit from the block's first word (bit l
// for value l) as bit 4. Byte m of that word holds values 8 m .. 8 m + 7, so the four bits of
// a word's low (high) nibbles are nibble k % 2 of byte k / 2 (2 + k / 2): that byte in all four
// bytes of its lane, masked by each byte's own bit, compared. Values reach 31, so four maddubs
// stay below 2^15 and a block widens twice.
template <int kHalves, int kOffsetValue>
struct Q5Groups : F16Scales<Blocks32GroupBlock<kHalves, 5>> {
  using GroupBlock = Blocks32GroupBlock<kHalves, 5>;
  static constexpr int kOffset = kOffsetValue;
  static constexpr bool kTwoStreams = false;
  using Weights = NibbleWeights;
  static __m256i fifth_bits(__m256i byte_in_lane, int k) {
    const __m256i bits = k % 2 == 0 ? _mm256_set1_epi32(0x08040201) : _mm256_set1_epi32(static_cast<int>(0x80402010));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(byte_in_lane, bits), bits);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
  }
  static Weights weights(const GroupBlock& x) {
    const __m256i qh = load256(x.words[0]);
    __m256i byte[4];  // byte m of each lane's fifth-bit word, in all four bytes of the lane
    for (int m = 0; m < 4; ++m) {
      const __m256i spread = _mm256_setr_epi8(m, m, m, m, 4 + m, 4 + m, 4 + m, 4 + m, 8 + m, 8 + m, 8 + m, 8 + m,
                                              12 + m, 12 + m, 12 + m, 12 + m, m, m, m, m, 4 + m, 4 + m, 4 + m, 4 + m,
                                              8 + m, 8 + m, 8 + m, 8 + m, 12 + m, 12 + m, 12 + m, 12 + m);
      byte[m] = _mm256_shuffle_epi8(qh, spread);
    }
    Weights u = nibbles(x.words + 1, as_is);
    for (int k = 0; k < 4; ++k) {
      u.low[k] = _mm256_or_si256(u.low[k], fifth_bits(byte[k / 2], k));
      u.high[k] = _mm256_or_si256(u.high[k], fifth_bits(byte[2 + k / 2], k));
    }
    return u;
  }
  static __m256i products(const Weights& u, const int8_t* y) { return nibble_products<2>(u, y); }
};

// IQ4_NL: nibbles index the 16 signed levels (shuffle_epi8), multiplied as Q8_0's bytes are.
struct Iq4NlGroups : F16Scales<Blocks32GroupBlock<1, 4>> {
  using GroupBlock = Blocks32GroupBlock<1, 4>;
  static constexpr int kOffset = 0;
  static constexpr bool kTwoStreams = false;
  using Weights = NibbleWeights;
  static Weights weights(const GroupBlock& x) {
    const __m256i levels = _mm256_broadcastsi128_si256(load128(kIq4Levels));
    return nibbles(x.words, [&](__m256i i) { return _mm256_shuffle_epi8(levels, i); });
  }
  static __m256i signed_products(__m256i levels, const int8_t* y) {
    return widened(_mm256_maddubs_epi16(_mm256_sign_epi8(levels, levels), _mm256_sign_epi8(broadcast4(y), levels)));
  }
  static __m256i products(const Weights& u, const int8_t* y) {
    __m256i total = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      total = _mm256_add_epi32(total, signed_products(u.low[k], y + 4 * k));
      total = _mm256_add_epi32(total, signed_products(u.high[k], y + 16 + 4 * k));
    }
    return total;
  }
};

// MXFP4: nibbles index the doubled FP4 levels plus 12 (0..24, unsigned; kOffset 12), as the
// row kernel takes them. Four maddubs stay below 2^15, so a block widens twice. The scale is
// 2^(e - 128), kE8m0HalfToF32[e], made from the exponent: the float with exponent field e - 1,
// or for e 0 and 1 (below the normal range) 2^-128 shifted left by e.
struct Mxfp4Groups {
  using GroupBlock = Mxfp4GroupBlock;
  static constexpr int kOffset = kFp4Offset;
  static constexpr bool kTwoStreams = false;
  static constexpr bool kMinimums = false;
  using Weights = NibbleWeights;
  static __m256 scales(const GroupBlock& x) {
    int64_t bytes;
    std::memcpy(&bytes, x.e, sizeof(bytes));
    const __m256i e = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(bytes));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i tiny = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    const __m256i is_normal = _mm256_cmpgt_epi32(e, _mm256_set1_epi32(1));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(tiny, normal, is_normal));
  }
  static Weights weights(const GroupBlock& x) {
    const __m256i levels = fp4_levels(kOffset);
    return nibbles(x.words, [&](__m256i i) { return _mm256_shuffle_epi8(levels, i); });
  }
  static __m256i products(const Weights& u, const int8_t* y) { return nibble_products<2>(u, y); }
};

// kTokens tokens (1..4) against n_groups groups of 8 rows of n values.
template <class Format, int kTokens>
void blocks32_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                     int64_t n, float* out, size_t out_stride) {
  using GroupBlock = typename Format::GroupBlock;
  constexpr bool kMinimums = Format::kMinimums;
  Q8x32View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x32(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 32, whole = n_blocks / 8 * 8;
  // Block b of each token and each row of the group: (scales y_d) totals, where the row kernel
  // takes it, and (minimums y_d) sum a for formats with minimums.
  const auto block_terms = [&](const GroupBlock& x, int64_t b, auto&& take) {
    // One line ahead per 64 bytes or less of the block (prefetch_lines_ahead).
    prefetch_lines_ahead<1>(&x);
    constexpr int kWords = sizeof(GroupBlock::words) / sizeof(GroupBlock::words[0]);
    for (int k = 1; k < kWords; k += 2) prefetch_lines_ahead<1>(x.words[k]);
    const typename Format::Weights u = Format::weights(x);
    const __m256 scales = Format::scales(x);
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) {
      __m256i totals = Format::products(u, acts[t].qs + 32 * b);
      if constexpr (Format::kOffset != 0) {
        totals = _mm256_sub_epi32(totals, _mm256_set1_epi32(Format::kOffset * acts[t].sum[b]));
      }
      const __m256 y_d = _mm256_set1_ps(acts[t].d[b]);
      __m256 minimum_term = _mm256_setzero_ps();
      __m256 minimum_scale = _mm256_setzero_ps();
      if constexpr (kMinimums) {
        minimum_scale = _mm256_mul_ps(Format::minimums(x), y_d);
        minimum_term = _mm256_set1_ps(static_cast<float>(acts[t].sum[b]));
      }
      take(t, _mm256_mul_ps(scales, y_d), _mm256_cvtepi32_ps(totals), minimum_scale, minimum_term);
    }
  };
  // A group's running sums: acc[t][j] and mins[t][j] take blocks j, j + 8, j + 16, ...
  struct GroupSums {
    __m256 acc[kTokens][8], mins[kTokens][8];
  };
  const auto start = [] {
    GroupSums s;
    for (int t = 0; t < kTokens; ++t) {
      for (int j = 0; j < 8; ++j) s.acc[t][j] = s.mins[t][j] = _mm256_setzero_ps();
    }
    return s;
  };
  // Blocks c .. c + 7 of a group.
  const auto eight_blocks = [&](const GroupBlock* blocks, int64_t c, GroupSums& s) [[gnu::always_inline]] {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      block_terms(blocks[c + j], c + j, [&](int t, __m256 scale, __m256 total, __m256 minimum_scale, __m256 sum_a) {
        s.acc[t][j] = _mm256_fmadd_ps(scale, total, s.acc[t][j]);
        if constexpr (kMinimums) s.mins[t][j] = _mm256_fmadd_ps(minimum_scale, sum_a, s.mins[t][j]);
      });
    }
  };
  // The lanes added up, the blocks past the last whole 8 added one by one, group g's results stored.
  const auto finish = [&](const GroupBlock* blocks, const GroupSums& s, int64_t g) {
    __m256 sum[kTokens];
    for (int t = 0; t < kTokens; ++t) {
      // hsum_f32 of each row's 8 lanes: lanes i and i + 4, then 0 + 2 and 1 + 3, then those two.
      __m256 v[8];
      for (int j = 0; j < 8; ++j) v[j] = _mm256_add_ps(s.acc[t][j], s.mins[t][j]);
      const __m256 s0 = _mm256_add_ps(v[0], v[4]), s1 = _mm256_add_ps(v[1], v[5]);
      const __m256 s2 = _mm256_add_ps(v[2], v[6]), s3 = _mm256_add_ps(v[3], v[7]);
      sum[t] = _mm256_add_ps(_mm256_add_ps(s0, s2), _mm256_add_ps(s1, s3));
    }
    for (int64_t b = whole; b < n_blocks; ++b) {
      block_terms(blocks[b], b, [&](int t, __m256 scale, __m256 total, __m256 minimum_scale, __m256 sum_a) {
        sum[t] = _mm256_add_ps(sum[t], _mm256_mul_ps(scale, total));
        if constexpr (kMinimums) sum[t] = _mm256_add_ps(sum[t], _mm256_mul_ps(minimum_scale, sum_a));
      });
    }
    for (int t = 0; t < kTokens; ++t) {
      _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride + kGroupRows * g, sum[t]);
    }
  };
  const auto group = [&](int64_t g) {
    return reinterpret_cast<const GroupBlock*>(w + static_cast<size_t>(g) * group_bytes);
  };
  // Two streams from memory (sum_group_blocks, group_kernels.h), here eight blocks of one group,
  // then eight of the other: a block at a time, the two groups' 16 running sums would not fit
  // the 16 vector registers. Cold, 2 threads, 4096 x 14336: Q8_0 27.6-28.5 -> 32.3 GB/s,
  // Q4_0 29.4-29.9 -> 37.0-37.8; at the expert shapes Q8_0 and Q4_0 25-26 -> 29-30.
  pair_groups(
      Format::kTwoStreams && kTokens == 1, n_groups,
      [&](int64_t g, int64_t h) {
        GroupSums lead = start(), trail = start();
        for (int64_t c = 0; c < whole; c += 8) {
          eight_blocks(group(g), c, lead);
          eight_blocks(group(h), c, trail);
        }
        finish(group(g), lead, g);
        finish(group(h), trail, h);
      },
      [&](int64_t g) {
        GroupSums s = start();
        for (int64_t c = 0; c < whole; c += 8) eight_blocks(group(g), c, s);
        finish(group(g), s, g);
      });
}

template <class Format, int kPass>
void set_group_kernel(KernelTable& table, GgmlType type) {
  const auto id = static_cast<uint32_t>(type);
  table.group_dot[id] = in_passes<kPass, blocks32_groups<Format, 1>, blocks32_groups<Format, 2>,
                                  blocks32_groups<Format, 3>, blocks32_groups<Format, 4>>;
  table.groups_rows_by_default[id] = true;
}

}  // namespace

void add_avx2_blocks32_group_kernels(KernelTable& table) {
  set_group_kernel<Q8_0Groups, 2>(table, GgmlType::Q8_0);
  set_group_kernel<Q4Groups<1, 8>, 2>(table, GgmlType::Q4_0);
  set_group_kernel<Q4Groups<2, 0>, 2>(table, GgmlType::Q4_1);
  set_group_kernel<Q5Groups<1, 16>, 2>(table, GgmlType::Q5_0);
  set_group_kernel<Q5Groups<2, 0>, 1>(table, GgmlType::Q5_1);
  set_group_kernel<Iq4NlGroups, 2>(table, GgmlType::IQ4_NL);
  set_group_kernel<Mxfp4Groups, 2>(table, GgmlType::MXFP4);
}

}  // namespace sluice::quant::fast::detail
