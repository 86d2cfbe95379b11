// Tile kernels on AVX-512 VNNI (tile_gemm.h) for CPUs without a matrix unit: the 256-value
// formats (K-quants, i-quants, TQ1_0, TQ2_0), 16 rows times up to 8 tokens per pass.
//
// The row kernels sum each (row, token) pair in a vector and reduce it horizontally; here one
// int32 lane belongs to one weight row instead. 16 rows are unpacked once
// (tile_unpack_avx512.h) into bytes laid out as [value group of 4][row][4 values], so that one
// dpbusd multiplies 4 values of each of the 16 rows by the same 4 activations of one token,
// broadcast from its quantized row. Each weight vector then serves 8 tokens from a register,
// each activation load is folded into its dpbusd, and a token's 16 sums come out as one
// vector: no horizontal sums, no shuffles.
//
// Per super-block and token, as in the row kernels: each sub-block's integer sum times its
// scale (vpmulld, exact), the bsums term by dpwssd, and the scalar kernel's f32 step on 16
// rows per vector. The integers are exact and the f32 expression is the same, so the results
// are bit-identical to the row kernels'.
//
// Compiled with the AVX-512 flags; reached only through tile_kernel(), which checks the CPU.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <utility>

#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/tile_unpack_avx512.h"
#include "util/error.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr int kRows = kTileLanes;
constexpr int kTokensPerPass = 8;  // accumulators in registers: two per token
constexpr int kGroups = kGroupsPerBlock;

static_assert(kRows == kTileRows);

// ---- products ---------------------------------------------------------------------------------

inline __m512i broadcast_i32(const void* p) {
  return _mm512_set1_epi32(static_cast<int>(load_u32(static_cast<const uint8_t*>(p))));
}

// acc + dpbusd(u8, the 4 signed bytes at s8x4 in every lane), the bytes read by the
// instruction itself (an embedded broadcast): GCC 12 loads them with a separate vpbroadcastd
// and copies accumulators between registers around the intrinsic.
inline __m512i dpbusd_broadcast(__m512i acc, __m512i u8, const int8_t* s8x4) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u8), "m"(*reinterpret_cast<const int32_t*>(s8x4)));
  return acc;
}

// How a format's super-block sum comes together: kSubBlocks sub-blocks (8 of 32 values or 16
// of 16), and with kMinimums the bsums term is msum in `sum += d * isum - dmin * msum`,
// without it part of isum in `sum += d * isum`.
template <int kSubBlocksOf, bool kMinimums>
struct SuperBlockSum {
  static constexpr int kSubBlocks = kSubBlocksOf;
  static __m512 block_sum(const UnpackedRows& u, int64_t b, float y_d, __m512i isum, __m512i bsum_term) {
    const __m512 d = _mm512_mul_ps(_mm512_loadu_ps(u.d.data() + b * kRows), _mm512_set1_ps(y_d));
    if constexpr (kMinimums) {
      const __m512 dmin = _mm512_mul_ps(_mm512_loadu_ps(u.dmin.data() + b * kRows), _mm512_set1_ps(y_d));
      return _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum)),
                           _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(bsum_term)));
    } else {
      return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(isum, bsum_term)));
    }
  }
};

// out[t * out_stride + r] for kTokens tokens (quantized rows y) and the 16 unpacked rows.
template <class Format, int kTokens>
void token_pass(const UnpackedRows& u, int64_t n_blocks, const Q8x256View (&y)[kTokensPerPass], float* out,
                size_t out_stride) {
  constexpr int kGroupsPerSubBlock = kGroups / Format::kSubBlocks;
  __m512 sum[kTokens];
  for (__m512& s : sum) s = _mm512_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const ValueGroup* q = u.q.data() + b * kGroups;
    const int32_t* scales = u.scales.data() + b * Format::kSubBlocks * kRows;
    __m512i isum[kTokens];
    for (__m512i& s : isum) s = _mm512_setzero_si512();
    for (int j = 0; j < Format::kSubBlocks; ++j) {
      __m512i acc[kTokens];
      for (__m512i& a : acc) a = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int i = 0; i < kGroupsPerSubBlock; ++i) {
        const int g = j * kGroupsPerSubBlock + i;
        const __m512i wq = _mm512_load_si512(q + g);
#pragma GCC unroll 8
        for (int t = 0; t < kTokens; ++t) acc[t] = dpbusd_broadcast(acc[t], wq, y[t].qs + 256 * b + 4 * g);
      }
      const __m512i scale = _mm512_loadu_si512(scales + j * kRows);
      for (int t = 0; t < kTokens; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(acc[t], scale));
    }
    const int32_t* coefs = u.bsum_coefs.data() + b * kBsumPairs * kRows;
    __m512i bsum_term[kTokens];
    for (__m512i& s : bsum_term) s = _mm512_setzero_si512();
    for (int p = 0; p < kBsumPairs; ++p) {
      const __m512i coef = _mm512_loadu_si512(coefs + p * kRows);
      for (int t = 0; t < kTokens; ++t) {
        bsum_term[t] = _mm512_dpwssd_epi32(bsum_term[t], coef, broadcast_i32(y[t].bsums + 16 * b + 2 * p));
      }
    }
    for (int t = 0; t < kTokens; ++t) {
      sum[t] = _mm512_add_ps(sum[t], Format::block_sum(u, b, y[t].d[b], isum[t], bsum_term[t]));
    }
  }
  for (int t = 0; t < kTokens; ++t) _mm512_storeu_ps(out + static_cast<size_t>(t) * out_stride, sum[t]);
}

template <class Format, int... kCounts>
void token_pass_of(int count, const UnpackedRows& u, int64_t n_blocks, const Q8x256View (&y)[kTokensPerPass],
                   float* out, size_t out_stride, std::integer_sequence<int, kCounts...>) {
  // count in 1..kTokensPerPass: calls token_pass<Format, count> (kCounts runs 0..kTokensPerPass - 1).
  ((count == kCounts + 1 ? token_pass<Format, kCounts + 1>(u, n_blocks, y, out, out_stride) : void()), ...);
}

template <class Format, UnpackFn Unpack>
void tile_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& acts, int64_t n_cols,
               float* out, size_t out_stride) {
  SLUICE_ASSERT(n_rows % kRows == 0 && n_cols % 256 == 0);
  // One per thread and kernel, kept between calls (16 rows of the widest matrix seen: about
  // 20 bytes per column).
  thread_local UnpackedRows unpacked;
  const int64_t n_blocks = n_cols / 256;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
    Unpack(w + static_cast<size_t>(r0) * w_row_bytes, w_row_bytes, n_blocks, unpacked);
    SLUICE_ASSERT(unpacked.sub_blocks == Format::kSubBlocks);
    for (int64_t t0 = 0; t0 < acts.n_tokens; t0 += kTokensPerPass) {
      const int count = static_cast<int>(std::min<int64_t>(kTokensPerPass, acts.n_tokens - t0));
      Q8x256View y[kTokensPerPass];
      for (int t = 0; t < count; ++t) {
        y[t] = view_q8x256(acts.rows + static_cast<size_t>(t0 + t) * acts.row_stride, n_cols);
      }
      token_pass_of<Format>(count, unpacked, n_blocks, y, out + static_cast<size_t>(t0) * out_stride + r0, out_stride,
                            std::make_integer_sequence<int, kTokensPerPass>{});
    }
  }
}

// min_tokens: where the tiles overtake the row kernels (2048 x 768, one core, GMAC/s): at 2
// tokens Q2_K 40 against 24, Q3_K 27 against 21, Q4_K 34-43 against 25-30, IQ1_S 16 against
// 13, IQ2_XXS 15 against 13, IQ2_XS and IQ2_S 13 against 12, IQ3_XXS 15 against 10, IQ3_S 14
// against 5, IQ4_XS 33 against 17; IQ1_M and TQ2_0 from 3 (level at 2); Q6_K from 5 (63
// against 52; at 4, 55 against 63). At 32 tokens they run 2.5-20x the row kernels' speed.
constexpr TileKernel kQ2KTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<16, true>, unpack_q2_k>};
constexpr TileKernel kQ3KTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<16, false>, unpack_q3_k>};
constexpr TileKernel kQ4KTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, true>, unpack_q4_k>};
constexpr TileKernel kQ5KTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, true>, unpack_q5_k>};
constexpr TileKernel kQ6KTiles{5, nullptr, nullptr, tile_rows<SuperBlockSum<16, false>, unpack_q6_k>};
constexpr TileKernel kIq1STiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_iq1_s>};
constexpr TileKernel kIq1MTiles{3, nullptr, nullptr, tile_rows<SuperBlockSum<16, false>, unpack_iq1_m>};
constexpr TileKernel kIq2XxsTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_iq2_xxs>};
constexpr TileKernel kIq2XsTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<16, false>, unpack_iq2_xs>};
constexpr TileKernel kIq2STiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<16, false>, unpack_iq2_s>};
constexpr TileKernel kIq3XxsTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_iq3_xxs>};
constexpr TileKernel kIq3STiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_iq3_s>};
constexpr TileKernel kTq1_0Tiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_tq1_0>};
constexpr TileKernel kTq2_0Tiles{3, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_tq2_0>};
constexpr TileKernel kIq4XsTiles{2, nullptr, nullptr, tile_rows<SuperBlockSum<8, false>, unpack_iq4_xs>};

}  // namespace

const TileKernel* avx512_tile_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K:
      return &kQ2KTiles;
    case GgmlType::Q3_K:
      return &kQ3KTiles;
    case GgmlType::Q4_K:
      return &kQ4KTiles;
    case GgmlType::Q5_K:
      return &kQ5KTiles;
    case GgmlType::Q6_K:
      return &kQ6KTiles;
    case GgmlType::IQ1_S:
      return &kIq1STiles;
    case GgmlType::IQ1_M:
      return &kIq1MTiles;
    case GgmlType::IQ2_XXS:
      return &kIq2XxsTiles;
    case GgmlType::IQ2_XS:
      return &kIq2XsTiles;
    case GgmlType::IQ2_S:
      return &kIq2STiles;
    case GgmlType::IQ3_XXS:
      return &kIq3XxsTiles;
    case GgmlType::IQ3_S:
      return &kIq3STiles;
    case GgmlType::TQ1_0:
      return &kTq1_0Tiles;
    case GgmlType::TQ2_0:
      return &kTq2_0Tiles;
    case GgmlType::IQ4_XS:
      return &kIq4XsTiles;
    default:
      return nullptr;
  }
}

}  // namespace sluice::quant::fast::detail
