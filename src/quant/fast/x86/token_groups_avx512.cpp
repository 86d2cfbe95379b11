// Prompt kernels of the AVX-512 set: up to kAvx512TokenGroup tokens per pass over a weight row.
//
// A one-token kernel spends most of its instructions per super-block on work that does not
// depend on the token: unpacking the weights and scales, and the f32 step after each
// super-block's integer sum. Here that work is done once per group, the integer sums run on
// 512-bit vectors with independent accumulators per token (no chain of dependent
// instructions across the block), and the group's integer sums are reduced together and
// combined in f32 as four lanes of one vector. Each lane computes exactly what the one-token
// kernel computes for its token (the same integers, then `sum += d * isum - dmin * msum` in
// the same order), so results are bit-identical to it and to dot_scalar.cpp.
#include "quant/fast/x86/token_groups_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr int kGroup = kAvx512TokenGroup;
static_assert(kGroup == 4, "the reductions below produce four lanes");

// The 16-bit and 8-bit lanes of a vector's upper 256 bits.
constexpr __mmask32 kUpperHalf16 = 0xffff0000u;
constexpr __mmask64 kUpperHalf8 = 0xffffffff00000000ull;

// Lane t = sum of the 16 int32 lanes of v[t].
inline __m128i sum_each(const __m512i (&v)[4]) {
  __m256i folded[4];
  for (int t = 0; t < 4; ++t) {
    folded[t] = _mm256_add_epi32(_mm512_castsi512_si256(v[t]), _mm512_extracti64x4_epi64(v[t], 1));
  }
  const __m256i pairs = _mm256_hadd_epi32(_mm256_hadd_epi32(folded[0], folded[1]),
                                          _mm256_hadd_epi32(folded[2], folded[3]));
  return _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
}

// Lane t = sum of the 8 int32 lanes of v[t].
inline __m128i sum_each(const __m256i (&v)[4]) {
  const __m256i pairs = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  return _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
}

// The group's activation rows. A group of fewer than 4 tokens repeats its last row in the
// unused lanes, whose results are not stored.
struct GroupActs {
  Q8x256View row[4];
  int64_t n_tokens;
};

inline GroupActs view_group(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n) {
  GroupActs g;
  g.n_tokens = n_tokens;
  for (int64_t t = 0; t < 4; ++t) {
    g.row[t] = view_q8x256(act + static_cast<size_t>(std::min(t, n_tokens - 1)) * act_stride, n);
  }
  return g;
}

// The activation scales of super-block b, one lane per token.
inline __m128 act_scales(const GroupActs& g, int64_t b) {
  return _mm_setr_ps(g.row[0].d[b], g.row[1].d[b], g.row[2].d[b], g.row[3].d[b]);
}

inline void store_lanes(__m128 sums, const GroupActs& g, float* out, size_t out_stride) {
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, sums);
  for (int64_t t = 0; t < g.n_tokens; ++t) out[static_cast<size_t>(t) * out_stride] = lanes[t];
}

// Q4_K and Q5_K's f32 step for the group: sums += d * isum - dmin * msum per lane, with
// d and dmin the block's scales times each token's activation scale.
inline __m128 add_k4_block(__m128 sums, uint16_t d16, uint16_t dmin16, __m128 y_d, __m128i isum, __m128i msum) {
  const __m128 d = _mm_mul_ps(_mm_set1_ps(f16(d16)), y_d);
  const __m128 dmin = _mm_mul_ps(_mm_set1_ps(f16(dmin16)), y_d);
  const __m128 block = _mm_sub_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(isum)), _mm_mul_ps(dmin, _mm_cvtepi32_ps(msum)));
  return _mm_add_ps(sums, block);
}

// Each minimum twice, as 16 int16 lanes against a token's 16 bsums.
inline __m256i k4_mins_twice(__m128i scales_and_mins) {
  const __m128i each_twice = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  return _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales_and_mins, each_twice));
}

// Q4_K and Q5_K: chunk c of 32 bytes holds sub-block 2c in its low nibbles and 2c + 1 in its
// high ones; broadcast to both halves of a 512-bit vector, the upper half shifted by 4, it
// lines up with the 64 activations of both sub-blocks. Q5_K adds bit 4 from qh (bit j of
// qh[l] for sub-block j) where a byte test finds it set.
template <class Block>
void k4_token_group(const std::byte* w_row, const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n,
                    float* out, size_t out_stride) {
  constexpr bool kHasHighBit = std::is_same_v<Block, BlockQ5_K>;
  const auto* wb = blocks_of<Block>(w_row);
  const GroupActs acts = view_group(act, act_stride, n_tokens, n);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  const __m512i upper_by_4 = _mm512_maskz_set1_epi16(kUpperHalf16, 4);
  // Vector c holds sub-block 2c in its lower 256 bits, 2c + 1 in its upper ones.
  const auto sub_block = [](int c, int lane) { return 2 * c + lane / 2; };
  const __m512i index[2] = {packed_pair_index(sub_block, 0), packed_pair_index(sub_block, 2)};
  __m512i bit_of[4];  // bytes of 1 << 2c, then of 1 << (2c + 1)
  for (int c = 0; c < 4; ++c) {
    bit_of[c] = _mm512_mask_set1_epi8(_mm512_set1_epi8(static_cast<char>(1 << (2 * c))), kUpperHalf8,
                                      static_cast<char>(1 << (2 * c + 1)));
  }
  __m128 sums = _mm_setzero_ps();
  for (int64_t b = 0; b < n / 256; ++b) {
    const Block& x = wb[b];
    prefetch_ahead<sizeof(Block)>(&x);
    const __m128i scales_and_mins = unpack_k4_scales(x.scales);
    const __m512i sc16 = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(scales_and_mins));
    const __m256i mins = k4_mins_twice(scales_and_mins);
    __m512i q[4];
    for (int c = 0; c < 4; ++c) {
      const __m512i both = _mm512_broadcast_i64x4(load256(x.qs + 32 * c));
      q[c] = _mm512_and_si512(_mm512_srlv_epi16(both, upper_by_4), low4);
      if constexpr (kHasHighBit) {
        const __mmask64 set = _mm512_test_epi8_mask(_mm512_broadcast_i64x4(load256(x.qh)), bit_of[c]);
        q[c] = _mm512_mask_add_epi8(q[c], set, q[c], bit4);
      }
    }
    const __m512i scale[2] = {_mm512_permutexvar_epi16(index[0], sc16), _mm512_permutexvar_epi16(index[1], sc16)};
    __m512i isum[4];
    __m256i msum[4];
    for (int t = 0; t < 4; ++t) {
      isum[t] = packed_scaled_sum(q, scale, acts.row[t].qs + 256 * b);
      msum[t] = _mm256_madd_epi16(mins, load256(acts.row[t].bsums + 16 * b));
    }
    sums = add_k4_block(sums, x.d, x.dmin, act_scales(acts, b), sum_each(isum), sum_each(msum));
  }
  store_lanes(sums, acts, out, out_stride);
}

}  // namespace

void q4_k_token_group_avx512(const std::byte* w_row, const std::byte* act, size_t act_stride,
                             int64_t n_tokens, int64_t n, float* out, size_t out_stride) {
  k4_token_group<BlockQ4_K>(w_row, act, act_stride, n_tokens, n, out, out_stride);
}

void q5_k_token_group_avx512(const std::byte* w_row, const std::byte* act, size_t act_stride,
                             int64_t n_tokens, int64_t n, float* out, size_t out_stride) {
  k4_token_group<BlockQ5_K>(w_row, act, act_stride, n_tokens, n, out, out_stride);
}

// Q6_K: the quants as q6_k_quants lays them out; the offset of 32 comes out through the
// bsums.
void q6_k_token_group_avx512(const std::byte* w_row, const std::byte* act, size_t act_stride,
                             int64_t n_tokens, int64_t n, float* out, size_t out_stride) {
  const auto* wb = blocks_of<BlockQ6_K>(w_row);
  const GroupActs acts = view_group(act, act_stride, n_tokens, n);
  const __m512i index[2] = {q6_k_pair_index(0), q6_k_pair_index(2)};
  __m128 sums = _mm_setzero_ps();
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockQ6_K& x = wb[b];
    prefetch_ahead<sizeof(BlockQ6_K)>(&x);
    const __m256i scales = _mm256_cvtepi8_epi16(load128(x.scales));
    const __m512i sc16 = _mm512_zextsi256_si512(scales);
    __m512i q[4];
    q6_k_quants(x.ql, x.qh, q);
    const __m512i scale[2] = {_mm512_permutexvar_epi16(index[0], sc16), _mm512_permutexvar_epi16(index[1], sc16)};
    __m512i isum[4];
    __m256i offset[4];
    for (int t = 0; t < 4; ++t) {
      isum[t] = packed_scaled_sum(q, scale, acts.row[t].qs + 256 * b);
      offset[t] = _mm256_slli_epi32(_mm256_madd_epi16(scales, load256(acts.row[t].bsums + 16 * b)), 5);
    }
    const __m128i total = _mm_sub_epi32(sum_each(isum), sum_each(offset));
    const __m128 d = _mm_mul_ps(_mm_set1_ps(f16(x.d)), act_scales(acts, b));
    sums = _mm_add_ps(sums, _mm_mul_ps(d, _mm_cvtepi32_ps(total)));
  }
  store_lanes(sums, acts, out, out_stride);
}

}  // namespace sluice::quant::fast::detail
