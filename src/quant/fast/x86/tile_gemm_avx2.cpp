// Tile kernels of the AVX2 set (tile_gemm.h) for the 256-value formats whose weights fit in
// seven bits with their sign: the grid i-quants IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS
// and IQ3_S, and Q2_K, Q3_K, Q5_K and Q6_K. Each weight row is unpacked once per product into
// signed bytes and the int16 scales of its 32-value steps (a Format's unpack), and then meets
// every token of the batch, eight at a time.
//
// Zen 2 runs maddubs and madd on one pipe, one a cycle, so a 32-value step costs a token two
// cycles at best. The grid formats' token groups (token_groups_avx2.h) look a step up once for
// eight tokens but still move its signs onto each token's activations and spend more
// instructions on the lookups than on the products; the K-quants other than Q4_K had only
// one-token kernels, or for Q6_K a group kernel that spills. Here the activations are made
// unsigned instead, once per product (`pack`: q + 128, stored as q ^ 0x80): maddubs takes them
// as its unsigned operand and the signed weights as the other, and a token's step is a load,
// maddubs, madd with the step's scales, and an add. The bias adds 128 times the scaled weight
// sum to every token's sum; each block's sums start from minus that (UnpackedBlock::start),
// computed once when the row is unpacked. Bounds: activations q + 128 are at most 255 and
// weight magnitudes at most 62 (grids; K-quants at most 32), so a maddubs pair is at most
// 2 * 255 * 62 = 31620 < 2^15. (IQ4_XS's levels reach 127 and would saturate; Q4_K's group
// kernel, dot_avx2_groups.cpp, is faster.)
//
// The integer sums of each block and token are the one-token kernel's, and the f32 step is
// super_blocks.h's term ((f d) y_d) isum, less (dmin y_d) msum where the format has minimums,
// added in block order, eight tokens a vector as in token_groups_avx2.h: results are
// bit-identical to the row kernels.
//
// Compiled with -mavx2 -mfma -mf16c; reached only through tile_kernel(), which checks the CPU.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/grid_steps_avx2.h"
#include "quant/fast/x86/super_blocks.h"
#include "util/error.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr int kSteps = 8;        // 32-value steps per super-block
constexpr int kGroupTokens = 8;  // tokens per pass over an unpacked row: the lanes of an f32 vector

// One super-block of one row, unpacked.
struct alignas(32) UnpackedBlock {
  int8_t w[256];               // the weights as signed integers; step ib at 32 ib
  int16_t scales[kSteps][16];  // step ib's int16 scales, the madd operand of its maddubs pairs
  int32_t start[8];            // lanes of minus 128 times the scaled weight sums: the bias's share
  int16_t mins[16];            // formats with minimums: each 16 values' minimum (msum = mins . bsums)
  float d;                     // f * f16(d)
  float dmin;                  // f16(dmin), formats with minimums
};

// Packed activations (`pack`): tokens in groups of kGroupTokens, the last group filled up with
// copies of the last token. Per group and super-block, each step's 32 biased quants for the
// group's eight tokens side by side, then the eight tokens' sums per 16 values and scales.
struct PackedBlock {
  uint8_t qs[kSteps][kGroupTokens][32];
  int16_t bsums[kGroupTokens][16];
  float d[kGroupTokens];
};

int64_t token_groups(int64_t n_tokens) { return (n_tokens + kGroupTokens - 1) / kGroupTokens; }

size_t packed_bytes(int64_t n_cols, int64_t n_tokens) {
  return static_cast<size_t>(token_groups(n_tokens) * (n_cols / 256)) * sizeof(PackedBlock);
}

void pack_biased(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n_cols, std::byte* packed) {
  const int64_t n_blocks = n_cols / 256;
  auto* out = reinterpret_cast<PackedBlock*>(packed);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t g = 0; g < token_groups(n_tokens); ++g) {
    for (int t = 0; t < kGroupTokens; ++t) {
      const int64_t token = std::min(g * kGroupTokens + t, n_tokens - 1);
      const Q8x256View y = view_q8x256(act + static_cast<size_t>(token) * act_stride, n_cols);
      for (int64_t b = 0; b < n_blocks; ++b) {
        PackedBlock& p = out[g * n_blocks + b];
        for (int ib = 0; ib < kSteps; ++ib) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.qs[ib][t]),
                              _mm256_xor_si256(load256(y.qs + 256 * b + 32 * ib), bias));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.bsums[t]), load256(y.bsums + 16 * b));
        p.d[t] = y.d[b];
      }
    }
  }
}

inline void store_step(UnpackedBlock& u, int ib, __m256i w, __m256i scales) {
  _mm256_store_si256(reinterpret_cast<__m256i*>(u.w + 32 * ib), w);
  _mm256_store_si256(reinterpret_cast<__m256i*>(u.scales[ib]), scales);
}

// ---- unpackers: Format::unpack(block, u) fills in u's weights, scales, d (and mins, dmin) ----

// A step's weights as signed bytes: the grid values with their signs, or IQ1's as they are.
inline __m256i signed_step_weights(const ScaledGridSubBlock& s) {
  return _mm256_sign_epi8(s.weights.grid, s.weights.signs);
}
inline __m256i signed_step_weights(const Iq1Step& s) { return s.weights; }

// The grid i-quants and IQ1_S, IQ1_M, through their steps (grid_steps_avx2.h); d as the f16
// bits f16_scale_pair reads (IQ1_M's spread over its scales).
template <class Steps>
struct StepsFormat {
  using Block = typename Steps::Block;
  static constexpr bool kMinimums = false;
  static void unpack(const Block& x, UnpackedBlock& u) {
    const Steps steps{x};
    for (int ib = 0; ib < kSteps; ++ib) {
      const auto s = steps(ib);
      store_step(u, ib, signed_step_weights(s), s.scales);
    }
    u.d = Steps::kDFactor * f16(static_cast<uint16_t>(f16_scale_pair(x)));
  }
};

// int16 lane k of `bytes` (16 unsigned bytes): byte k / 2, for madd with the 16 bsums when
// each byte is the minimum of 32 values.
inline void store_mins_each_twice(UnpackedBlock& u, __m128i bytes) {
  const __m128i each_twice = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  _mm256_store_si256(reinterpret_cast<__m256i*>(u.mins), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(bytes, each_twice)));
}

// Q5_K: q = low nibble | high bit << 4 (0..31); 8 sub-blocks of 32 with 6-bit scales and
// minimums (unpack_k4_scales).
struct Q5KFormat {
  using Block = BlockQ5_K;
  static constexpr bool kMinimums = true;
  static void unpack(const BlockQ5_K& x, UnpackedBlock& u) {
    const __m128i scales_and_mins = unpack_k4_scales(x.scales);
    alignas(16) uint8_t scale[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(scale), scales_and_mins);
    __m256i high_bits = load256(x.qh);  // q5_k_chunk's
    for (int c = 0; c < 4; ++c) {
      const Q5KChunk q = q5_k_chunk(x.qs + 32 * c, high_bits);
      store_step(u, 2 * c, q.low, _mm256_set1_epi16(scale[2 * c]));
      store_step(u, 2 * c + 1, q.high, _mm256_set1_epi16(scale[2 * c + 1]));
    }
    store_mins_each_twice(u, _mm_srli_si128(scales_and_mins, 8));
    u.d = f16(x.d);
    u.dmin = f16(x.dmin);
  }
};

// int16 scales of a step of two 16-value sub-blocks: scale bytes 2 ib and 2 ib + 1.
inline __m256i two_halves_scales(const int8_t* scale, int ib) {
  return _mm256_set_m128i(_mm_set1_epi16(scale[2 * ib + 1]), _mm_set1_epi16(scale[2 * ib]));
}

// Q3_K: q = low 2 bits | hmask bit << 2, minus 4 (-4..3); 16 sub-blocks of 16 with signed
// 6-bit scales (unpack_q3_scales).
struct Q3KFormat {
  using Block = BlockQ3_K;
  static constexpr bool kMinimums = false;
  static void unpack(const BlockQ3_K& x, UnpackedBlock& u) {
    const __m256i low2 = _mm256_set1_epi8(3), bit2 = _mm256_set1_epi8(4), four = _mm256_set1_epi8(4);
    alignas(16) int8_t scale[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(scale), unpack_q3_scales(x.scales));
    __m256i high_bits = load256(x.hmask);  // bit 4c + s of byte l
    for (int c = 0; c < 2; ++c) {
      const __m256i raw = load256(x.qs + 32 * c);
      for (int s = 0; s < 4; ++s) {
        const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), low2),
                                          _mm256_and_si256(_mm256_slli_epi16(high_bits, 2), bit2));
        high_bits = _mm256_srli_epi16(high_bits, 1);
        store_step(u, 4 * c + s, _mm256_sub_epi8(q, four), two_halves_scales(scale, 4 * c + s));
      }
    }
    u.d = f16(x.d);
  }
};

// Q6_K: q = low 4 bits | high 2 bits << 4, minus 32 (-32..31); 16 sub-blocks of 16 with
// int8 scales.
struct Q6KFormat {
  using Block = BlockQ6_K;
  static constexpr bool kMinimums = false;
  static void unpack(const BlockQ6_K& x, UnpackedBlock& u) {
    const __m256i offset = _mm256_set1_epi8(32);
    for (int half = 0; half < 2; ++half) {
      const Q6KHalf q = q6_k_half(x.ql, x.qh, half);
      for (int t = 0; t < 4; ++t) {
        store_step(u, 4 * half + t, _mm256_sub_epi8(q.step[t], offset), two_halves_scales(x.scales, 4 * half + t));
      }
    }
    u.d = f16(x.d);
  }
};

// Q2_K: q = 2 bits (0..3); 16 sub-blocks of 16, a 4-bit scale and a 4-bit minimum each.
struct Q2KFormat {
  using Block = BlockQ2_K;
  static constexpr bool kMinimums = true;
  static void unpack(const BlockQ2_K& x, UnpackedBlock& u) {
    const __m256i low2 = _mm256_set1_epi8(3);
    const __m128i packed = load128(x.scales);
    alignas(16) int8_t scale[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(scale), _mm_and_si128(packed, _mm_set1_epi8(0x0f)));
    for (int c = 0; c < 2; ++c) {
      const __m256i raw = load256(x.qs + 32 * c);
      for (int s = 0; s < 4; ++s) {
        store_step(u, 4 * c + s, _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), low2),
                   two_halves_scales(scale, 4 * c + s));
      }
    }
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_srli_epi16(_mm_andnot_si128(_mm_set1_epi8(0x0f), packed), 4));
    _mm256_store_si256(reinterpret_cast<__m256i*>(u.mins), mins);
    u.d = f16(x.d);
    u.dmin = f16(x.dmin);
  }
};

template <class Format>
void unpack_row(const std::byte* row, int64_t n_blocks, UnpackedBlock* out) {
  const auto* x = blocks_of<typename Format::Block>(row);
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n_blocks; ++b) {
    prefetch_ahead<sizeof(typename Format::Block)>(x + b);
    UnpackedBlock& u = out[b];
    Format::unpack(x[b], u);
    __m256i weight_sums = _mm256_setzero_si256();
    for (int ib = 0; ib < kSteps; ++ib) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.w + 32 * ib));
      const __m256i scales = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.scales[ib]));
      weight_sums = _mm256_add_epi32(weight_sums, _mm256_madd_epi16(_mm256_maddubs_epi16(ones, w), scales));
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(u.start),
                       _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(weight_sums, 7)));
  }
}

// One unpacked row against the first kTokens tokens of one packed group: out[t * out_stride]
// for t < kTokens. The f32 term per block and token is the scalar kernels' ((f d) y_d) isum,
// less (dmin y_d) msum for formats with minimums; lanes of tokens past kTokens are left zero.
template <bool kMinimums, int kTokens>
void row_times_group(const UnpackedBlock* row, int64_t n_blocks, const PackedBlock* group, float* out,
                     size_t out_stride) {
  __m256 sums = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const UnpackedBlock& u = row[b];
    const PackedBlock& y = group[b];
    __m256i isum[kGroupTokens];
    const __m256i start = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.start));
    for (int t = 0; t < kGroupTokens; ++t) isum[t] = t < kTokens ? start : _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int ib = 0; ib < kSteps; ++ib) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.w + 32 * ib));
      const __m256i scales = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.scales[ib]));
#pragma GCC unroll 8
      for (int t = 0; t < kTokens; ++t) {
        const __m256i products = _mm256_maddubs_epi16(load256(y.qs[ib][t]), w);
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(products, scales));
        // Keeps each sum a chain: GCC otherwise computes the block's products first and
        // spills them (as dot_avx2_groups.cpp's Avx2Dots::add).
        asm("" : "+x"(isum[t]));
      }
    }
    const __m256 y_d = _mm256_loadu_ps(y.d);
    const __m256 term = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(u.d), y_d), _mm256_cvtepi32_ps(lane_totals(isum)));
    if constexpr (kMinimums) {
      const __m256i mins = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.mins));
      __m256i msum[kGroupTokens];
      for (int t = 0; t < kGroupTokens; ++t) {
        msum[t] = t < kTokens ? _mm256_madd_epi16(load256(y.bsums[t]), mins) : _mm256_setzero_si256();
      }
      const __m256 min_term =
          _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(u.dmin), y_d), _mm256_cvtepi32_ps(lane_totals(msum)));
      sums = _mm256_add_ps(sums, _mm256_sub_ps(term, min_term));
    } else {
      sums = _mm256_add_ps(sums, term);
    }
  }
  alignas(32) float lanes[kGroupTokens];
  _mm256_store_ps(lanes, sums);
  for (int t = 0; t < kTokens; ++t) out[static_cast<size_t>(t) * out_stride] = lanes[t];
}

// row_times_group for `count` (1..kGroupTokens) tokens: a group's cost follows its tokens.
template <bool kMinimums, int... kCounts>
void row_times_tokens(int count, const UnpackedBlock* row, int64_t n_blocks, const PackedBlock* group, float* out,
                      size_t out_stride, std::integer_sequence<int, kCounts...>) {
  ((count == kCounts + 1 ? row_times_group<kMinimums, kCounts + 1>(row, n_blocks, group, out, out_stride) : void()),
   ...);
}

template <class Format>
void tile_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& acts, int64_t n_cols,
               float* out, size_t out_stride) {
  SLUICE_ASSERT(n_rows % kTileRows == 0 && n_cols % 256 == 0);
  const int64_t n_blocks = n_cols / 256;
  // One per thread, kept between calls: kTileRows rows of the widest matrix seen (2.4 bytes
  // per column and row), in L2 while every token group passes over them.
  thread_local FilesVector<UnpackedBlock, Avx2Files> unpacked;
  if (unpacked.size() < static_cast<size_t>(kTileRows * n_blocks)) {
    unpacked.resize(static_cast<size_t>(kTileRows * n_blocks));
  }
  const auto* groups = reinterpret_cast<const PackedBlock*>(acts.packed);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kTileRows) {
    for (int64_t r = 0; r < kTileRows; ++r) {
      unpack_row<Format>(w + static_cast<size_t>(r0 + r) * w_row_bytes, n_blocks, unpacked.data() + r * n_blocks);
    }
    for (int64_t g = 0; g < token_groups(acts.n_tokens); ++g) {
      const int count = static_cast<int>(std::min<int64_t>(kGroupTokens, acts.n_tokens - g * kGroupTokens));
      float* group_out = out + static_cast<size_t>(g * kGroupTokens) * out_stride + r0;
      for (int64_t r = 0; r < kTileRows; ++r) {
        row_times_tokens<Format::kMinimums>(count, unpacked.data() + r * n_blocks, n_blocks, groups + g * n_blocks,
                                            group_out + r, out_stride, std::make_integer_sequence<int, kGroupTokens>{});
      }
    }
  }
}

// min_tokens: where the tiles overtake the row kernels (2048 x 768, one core, GMAC/s, row
// kernels against tiles): the grid i-quants from 2 tokens (IQ3_XXS 6.7 against 11.8; their
// prompt kernels pay for eight tokens whatever the count); Q3_K, Q5_K and Q6_K from 4 (21
// against 21-22.5, Q6_K 26 against 26; at 2, 21 against 15); Q2_K, whose one-token kernel runs at 32, from 8 (32 against
// 31; at 32 tokens 30-32 against 38-42).
template <class Format, int kMinTokens>
constexpr TileKernel kTiles{kMinTokens, packed_bytes, pack_biased, tile_rows<Format>};

}  // namespace

const TileKernel* avx2_tile_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K:
      return &kTiles<Q2KFormat, 8>;
    case GgmlType::Q3_K:
      return &kTiles<Q3KFormat, 4>;
    case GgmlType::Q5_K:
      return &kTiles<Q5KFormat, 4>;
    case GgmlType::Q6_K:
      return &kTiles<Q6KFormat, 4>;
    case GgmlType::IQ1_S:
      return &kTiles<StepsFormat<Iq1SSteps>, 2>;
    case GgmlType::IQ1_M:
      return &kTiles<StepsFormat<Iq1MSteps>, 2>;
    case GgmlType::IQ2_XXS:
      return &kTiles<StepsFormat<Iq2XxsSteps>, 2>;
    case GgmlType::IQ2_XS:
      return &kTiles<StepsFormat<Iq2XsSteps>, 2>;
    case GgmlType::IQ2_S:
      return &kTiles<StepsFormat<Iq2SSteps>, 2>;
    case GgmlType::IQ3_XXS:
      return &kTiles<StepsFormat<Iq3XxsSteps>, 2>;
    case GgmlType::IQ3_S:
      return &kTiles<StepsFormat<Iq3SSteps>, 2>;
    default:
      return nullptr;
  }
}

}  // namespace sluice::quant::fast::detail
