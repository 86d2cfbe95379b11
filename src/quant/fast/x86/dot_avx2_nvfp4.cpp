// AVX2 kernels of NVFP4 (64 values a block, an unsigned E4M3 scale per 16): the row kernel,
// equal to dot_scalar_ternary_fp4.cpp within float rounding, and the group kernel over rows laid
// out in groups of 8 (quant/interleaved_rows.h: Nvfp4GroupBlock), bit-identical to the row
// kernel.
//
// Both take the same f32 steps. A sub-block's products are summed exactly as an integer, and
// its term (scale times activation scale) times that sum is added into an f32 lane: sub-block k
// of each pair of blocks (k = 0..7) goes into lane kSubBlockLane[k] by a multiply-add; the 8 lanes
// are added at the end in hsum_f32's tree; the sub-blocks of an odd last block follow one by one.
// The row kernel makes a pair's 8 sums in one vector (two rounds of hadd over its four
// 32-value halves); the group kernel keeps 8 vectors, vector j holding lane j of the 8 rows, and
// needs no horizontal step, nor a table lookup per scale: 8 rows' scales convert in one go.
//
// Compiled with -mavx2 -mfma -mf16c and called only on CPUs that have them.
#include <immintrin.h>

#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/group_kernels.h"
#include "quant/interleaved_rows.h"

namespace sluice::quant::fast::detail {
namespace {

static_assert(sizeof(Nvfp4GroupBlock) == kGroupRows * sizeof(BlockNVFP4));

// The lane of sub-block k of a pair of blocks: the row kernel's two rounds of hadd leave
// sub-blocks 0, 2, 4, 6 in lanes 0..3 and 1, 3, 5, 7 in lanes 4..7.
constexpr int kSubBlockLane[8] = {0, 4, 1, 5, 2, 6, 3, 7};

// kUe4m3HalfToF32 of 8 scale bytes (int32 lanes, 0..255): half the UE4M3 value of the low 7
// bits u (exponent e = u >> 3, mantissa m), or 0 for the byte 0x7F. For e > 0 that is
// 2^(e - 8) (1 + m / 8), the f32 whose bits are u << 20 with 119 added to the exponent field;
// for e = 0, m 2^-10.
inline __m256 ue4m3_halves(__m256i bytes) {
  const __m256i u = _mm256_and_si256(bytes, _mm256_set1_epi32(0x7f));
  const __m256 normal = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(u, 20), _mm256_set1_epi32(119 << 23)));
  const __m256 subnormal = _mm256_mul_ps(_mm256_cvtepi32_ps(u), _mm256_set1_ps(0x1p-10f));
  const __m256i is_subnormal = _mm256_cmpgt_epi32(_mm256_set1_epi32(8), u);
  const __m256 value = _mm256_blendv_ps(normal, subnormal, _mm256_castsi256_ps(is_subnormal));
  return _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(bytes, _mm256_set1_epi32(0x7f))), value);
}

// ---- Row kernel --------------------------------------------------------------------------

// Half h of a block (sub-blocks 2h and 2h + 1, the bytes qs[16h..16h+15]) against its 32
// activations: int32 lanes 0..3 sum sub-block 2h's products, lanes 4..7 sub-block 2h + 1's. Each
// sub-block's 16 values are the low nibbles of its 8 bytes, then their high nibbles.
inline __m256i half_products(const BlockNVFP4& x, int h, const int8_t* a, __m256i levels) {
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i raw = load128(x.qs + 16 * h);
  const __m128i lo = _mm_and_si128(raw, low4);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), low4);
  const __m256i codes = _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
  return dot_s8_s8(_mm256_shuffle_epi8(levels, codes), load256(a));
}

// The integer sums of sub-blocks 0..3 of a block.
inline __m128i sub_block_sums(const BlockNVFP4& x, const int8_t* a, __m256i levels) {
  const __m256i pairs = _mm256_hadd_epi32(half_products(x, 0, a, levels), half_products(x, 1, a + 32, levels));
  const __m256i sums = _mm256_hadd_epi32(pairs, pairs);  // 0 2 0 2 | 1 3 1 3
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
}

float dot_nvfp4(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockNVFP4>(w);
  const Q8x32View acts = view_q8x32(act, n);
  const __m256i levels = fp4_levels(0);
  const int64_t n_blocks = n / 64, whole = n_blocks / 2 * 2;
  // The scale bytes of a pair in lane order (kSubBlockLane): block 0's 0 and 2, block 1's 0
  // and 2, then the odd ones.
  const __m128i lane_order = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < whole; b += 2) {
    prefetch_ahead<2 * sizeof(BlockNVFP4)>(wb + b);
    const int8_t* a = acts.qs + 64 * b;
    const __m256i halves01 =
        _mm256_hadd_epi32(half_products(wb[b], 0, a, levels), half_products(wb[b], 1, a + 32, levels));
    const __m256i halves23 =
        _mm256_hadd_epi32(half_products(wb[b + 1], 0, a + 64, levels), half_products(wb[b + 1], 1, a + 96, levels));
    const __m256i sums = _mm256_hadd_epi32(halves01, halves23);
    const uint64_t scale_bytes = uint64_t{load_u32(wb[b].d)} | uint64_t{load_u32(wb[b + 1].d)} << 32;
    const __m128i ordered = _mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<int64_t>(scale_bytes)), lane_order);
    // Activation block 2 b + i covers sub-blocks 2 i and 2 i + 1 of the pair: lanes i and 4 + i.
    const __m256 y_d = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(acts.d + 2 * b));
    const __m256 scales = _mm256_mul_ps(ue4m3_halves(_mm256_cvtepu8_epi32(ordered)), y_d);
    acc = _mm256_fmadd_ps(scales, _mm256_cvtepi32_ps(sums), acc);
  }
  float sum = hsum_f32(acc);
  if (whole < n_blocks) {
    const BlockNVFP4& x = wb[whole];
    alignas(16) int32_t isum[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(isum), sub_block_sums(x, acts.qs + 64 * whole, levels));
    alignas(32) float half_value[8];
    _mm256_store_ps(half_value, ue4m3_halves(_mm256_cvtepu8_epi32(_mm_cvtsi32_si128(static_cast<int>(load_u32(x.d))))));
    for (int s = 0; s < 4; ++s) {
      const float scale = half_value[s] * acts.d[2 * whole + s / 2];
      sum += scale * static_cast<float>(isum[s]);
    }
  }
  return sum;
}

// ---- Group kernel ------------------------------------------------------------------------

// 12 times the activations' sum over each 16 values of kTokens tokens (the levels go into
// maddubs as unsigned, level + 12): token t's at t * n / 16 of the array returned, which the
// next call on this thread overwrites.
template <int kTokens>
const int32_t* offsets_per_16(const Q8x32View (&acts)[kTokens], int64_t n) {
  thread_local FilesVector<int32_t, Avx2Files> offsets;
  offsets.resize(static_cast<size_t>(kTokens * n / 16));
  const __m256i offset_bytes = _mm256_set1_epi8(kFp4Offset);
  for (int t = 0; t < kTokens; ++t) {
    for (int64_t j = 0; j < n / 32; ++j) {
      // int32 lanes 0..1 and 4..5: the two halves of each 16 values.
      const __m256i sums =
          _mm256_madd_epi16(_mm256_maddubs_epi16(offset_bytes, load256(acts[t].qs + 32 * j)), _mm256_set1_epi16(1));
      const __m256i pairs = _mm256_hadd_epi32(sums, sums);
      const __m256i quads = _mm256_hadd_epi32(pairs, pairs);
      int32_t* to = offsets.data() + t * n / 16 + 2 * j;
      to[0] = _mm256_cvtsi256_si32(quads);
      to[1] = _mm_cvtsi128_si32(_mm256_extracti128_si256(quads, 1));
    }
  }
  return offsets.data();
}

// kTokens tokens (1..4) against n_groups groups of 8 rows of n values.
template <int kTokens>
void nvfp4_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                  int64_t n, float* out, size_t out_stride) {
  Q8x32View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x32(act + static_cast<size_t>(t) * act_stride, n);
  const int32_t* offsets = offsets_per_16(acts, n);
  const int64_t n_blocks = n / 64, whole = n_blocks / 2 * 2;
  const __m256i levels = fp4_levels(kFp4Offset), low4 = _mm256_set1_epi8(0x0f);
  // Sub-block s of block b of the group, for each token: take(t, the 8 rows' scales times the
  // activation scale, their integer sums).
  const auto sub_block = [&](const Nvfp4GroupBlock& x, int64_t b, int s, auto&& take) {
    // One line ahead per 64 bytes or less of the block (prefetch_lines_ahead).
    if (s == 0) prefetch_lines_ahead<1>(x.d);
    prefetch_lines_ahead<1>(x.words[2 * s]);
    const __m256 half_values =
        ue4m3_halves(_mm256_and_si256(_mm256_srli_epi32(load256(x.d), 8 * s), _mm256_set1_epi32(0xff)));
    const __m256i w0 = load256(x.words[2 * s]), w1 = load256(x.words[2 * s + 1]);
    // Values 0..3, 4..7 (the words' low nibbles), 8..11 and 12..15 (their high nibbles).
    const __m256i q[4] = {_mm256_shuffle_epi8(levels, _mm256_and_si256(w0, low4)),
                          _mm256_shuffle_epi8(levels, _mm256_and_si256(w1, low4)),
                          _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(w0, 4), low4)),
                          _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(w1, 4), low4))};
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) {
      const int8_t* a = acts[t].qs + 64 * b + 16 * s;
      // Four maddubs of levels + 12 (at most 24) stay below 4 x 2 x 24 x 127 < 2^15.
      __m256i sums = _mm256_maddubs_epi16(q[0], broadcast4(a));
      for (int k = 1; k < 4; ++k) sums = _mm256_add_epi16(sums, _mm256_maddubs_epi16(q[k], broadcast4(a + 4 * k)));
      const __m256i totals = _mm256_sub_epi32(_mm256_madd_epi16(sums, _mm256_set1_epi16(1)),
                                              _mm256_set1_epi32(offsets[t * n / 16 + 4 * b + s]));
      take(t, _mm256_mul_ps(half_values, _mm256_set1_ps(acts[t].d[2 * b + s / 2])), _mm256_cvtepi32_ps(totals));
    }
  };
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* blocks = reinterpret_cast<const Nvfp4GroupBlock*>(w + static_cast<size_t>(g) * group_bytes);
    __m256 acc[kTokens][8];
    for (int t = 0; t < kTokens; ++t) {
      for (int j = 0; j < 8; ++j) acc[t][j] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < whole; b += 2) {
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        sub_block(blocks[b + k / 4], b + k / 4, k % 4, [&](int t, __m256 scale, __m256 total) {
          acc[t][kSubBlockLane[k]] = _mm256_fmadd_ps(scale, total, acc[t][kSubBlockLane[k]]);
        });
      }
    }
    __m256 sum[kTokens];
    for (int t = 0; t < kTokens; ++t) {
      // hsum_f32 of each row's 8 lanes: lanes i and i + 4, then 0 + 2 and 1 + 3, then those two.
      const __m256(&v)[8] = acc[t];
      const __m256 s0 = _mm256_add_ps(v[0], v[4]), s1 = _mm256_add_ps(v[1], v[5]);
      const __m256 s2 = _mm256_add_ps(v[2], v[6]), s3 = _mm256_add_ps(v[3], v[7]);
      sum[t] = _mm256_add_ps(_mm256_add_ps(s0, s2), _mm256_add_ps(s1, s3));
    }
    if (whole < n_blocks) {
      for (int s = 0; s < 4; ++s) {
        sub_block(blocks[whole], whole, s, [&](int t, __m256 scale, __m256 total) {
          sum[t] = _mm256_add_ps(sum[t], _mm256_mul_ps(scale, total));
        });
      }
    }
    for (int t = 0; t < kTokens; ++t) {
      _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride + kGroupRows * g, sum[t]);
    }
  }
}

}  // namespace

void add_avx2_nvfp4_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::NVFP4, for_each_token<dot_nvfp4>);
  const auto id = static_cast<uint32_t>(GgmlType::NVFP4);
  table.group_dot[id] = in_passes<1, nvfp4_groups<1>, nvfp4_groups<2>, nvfp4_groups<3>, nvfp4_groups<4>>;
  table.groups_rows_by_default[id] = true;
}

}  // namespace sluice::quant::fast::detail
