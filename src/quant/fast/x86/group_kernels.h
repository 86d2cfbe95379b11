// Kernels over rows laid out in groups of 8 (quant/interleaved_rows.h), written once on
// 256-bit vectors: each 32-bit lane is one row of the group, so a group's 8 results come out
// in 8 lanes. An instruction set's file instantiates them with its integer products (Dots:
// dot_avx512_groups.cpp with VNNI's dpbusd, dot_avx2_groups.cpp with maddubs and madd).
// Bit-identical to the row kernels (dot_scalar.cpp): the same integer sums per super-block and
// the same f32 expression per row, evaluated lane by lane.
//
// A Dots type provides, for 8 x 4 unsigned bytes against 8 x 4 signed ones:
//   Partial  zero()                       an empty running sum
//   Partial  add(Partial, __m256i u8, __m256i s8)
//                                         adds each lane's four products
//   __m256i  widen(Partial)               the sums as int32 lanes
//   __m256i  scaled(Partial, __m256i s)   the sums as int32 lanes times s (int32 lanes below
//                                         2^15; with kHighNibblesInPlace Partial is int32)
//   int      kSixBitSteps                 how many add()s of 6-bit values (at most 63 times
//                                         127, four per lane) a Partial holds
//   bool     kHighNibblesInPlace          whether add() takes bytes as they lie, up to 255:
//                                         Q4_K's high nibbles unshifted (16 times their
//                                         value), Q2_K's and Q3_K's fields in place
//   Files    the files' group (FilesVector in kernels.h)
//   int      kQ4KTokensPerPass, kQ6KTokensPerPass
//                                         tokens per pass over the groups (1..4; Q2_K and
//                                         Q3_K as Q4_K)
//   bool     kSpreadPrefetch              how the group blocks are prefetched (prefetch_spread_word)
//   bool     kTwoStreams                  whether a call reads its groups as two streams
//                                         (sum_group_blocks)
//   __m256i  add_pairs16(__m256i acc, __m256i a, __m256i b)
//                                         adds the int16 products of a and b, pairwise
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c; everything is in an
// unnamed namespace (see avx2_common.h).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/interleaved_rows.h"

namespace sluice::quant::fast::detail {
namespace {

// Four activation bytes in every 32-bit lane.
inline __m256i broadcast4(const int8_t* y) {
  int32_t v;
  std::memcpy(&v, y, sizeof(v));
  return _mm256_set1_epi32(v);
}

// Prefetching a group block from memory. Where Dots::kSpreadPrefetch holds (AVX2), a kernel
// asks for each of the block's lines as it reads that line, a fixed distance ahead
// (prefetch_lines_ahead in avx2_common.h: one core, Q4_K from memory, 10 -> 14 GB/s); else for
// the whole block at its start, as the row kernels do. This is prefetch_every_other_word
// (avx2_common.h) where Dots spreads them: word k of a run at p.
template <class Dots>
[[gnu::always_inline]] inline void prefetch_spread_word(const void* p, int k) {
  if constexpr (Dots::kSpreadPrefetch) prefetch_every_other_word(p, k);
}

// ---- Groups read as two streams ----
//
// A call's groups can be read from memory as two streams: groups g and g + half side by side,
// the second one step behind (sum_group_blocks). A core reading one stream at a time leaves the
// memory idle: a plain read of 1 GiB on 2 threads runs at 34 GB/s as one stream a thread and
// at 43-49 GB/s as 2-4 streams a few KiB or more apart. Q4_K from memory, one core:
// 14.5 -> 17.5 GB/s; 2 threads at 4096 x 14336: 25-28 -> 28-34 GB/s; whole-model decode (a
// Qwen3-30B-A3B-shaped Q4_K model in RAM, alternating runs) 13.6-14.4 -> 14.4-17.5 tok/s.
// One step behind because groups g and g + half often lie a multiple of 4 KiB apart, and two
// streams at the same offset in the 4 KiB pattern of the first-level cache lost a fifth of
// the speed from the caches (one core, Q4_K 2048 x 128 read again and again: 19.6 GB/s side
// by side, 22.6 a step behind, 23.2 as one stream). From the caches two streams stay slower
// than one (one core, Q4_K 2048 x 768 hot: 21-22 against 23.7 GB/s), hence two_streams()
// (fast_dot.h), on for models far larger than the caches. Q4_K reads two streams (and Q2_K,
// Q3_K and Q6_K, where grouped) with AVX2's Dots; VNNI's read one, as two streams were slower
// from memory on Zen 4 (bench/MATVEC.md). Q8_0, Q4_0 and Q4_1 do too, in turns of eight
// blocks rather than one (blocks32_groups, dot_avx2_groups32.cpp): written in this form,
// block by block, the 32-value formats' and NVFP4's kernels ran up to a fifth slower from the
// caches even as one stream (their 8 lane sums, a state of 8 vectors a token, went through
// memory). The others read one: Q5_K's kernel ran 6% slower at 768 columns in this form, and
// IQ4_XS's is no faster than one stream from memory (one core: 14 GB/s either way).
//
// Groups [0, n_groups) of a call: where `paired` holds and two_streams() is on, groups g and
// g + half as pairs, pair(g, g + half), the groups left over alone(g); else every group alone.
template <class Pair, class Alone>
[[gnu::always_inline]] inline void pair_groups(bool paired, int64_t n_groups, const Pair& pair, const Alone& alone) {
  const int64_t half = paired && two_streams() ? n_groups / 2 : 0;
  for (int64_t g = 0; g < half; ++g) pair(g, g + half);
  for (int64_t g = 2 * half; g < n_groups; ++g) alone(g);
}

// One f32 vector per token: a group's running sums.
template <int kTokens>
struct TokenSums {
  __m256 sum[kTokens];
};

// The group kernels whose groups end by storing one f32 vector per token: block(x, b, sums)
// adds block b of a group into sums (kTokens vectors); the 8 rows' results then go to out
// (token t at t * out_stride). Where kTwoStreams holds, two_streams() is on and there is one
// token, groups g and g + half are read side by side, the second a block behind the first;
// passes of several tokens are a prompt's, which reads the same rows pass after pass, from
// the caches. Each group's own work is the same in either order, so results are too.
template <bool kTwoStreams, class GroupBlock, int kTokens, class Block>
[[gnu::always_inline]] inline void sum_group_blocks(const std::byte* w, size_t group_bytes, int64_t n_groups,
                                                    int64_t n_blocks, float* out, size_t out_stride,
                                                    const Block& block) {
  const auto blocks = [&](int64_t g) {
    return reinterpret_cast<const GroupBlock*>(w + static_cast<size_t>(g) * group_bytes);
  };
  const auto start = [] {
    TokenSums<kTokens> sums;
    for (__m256& s : sums.sum) s = _mm256_setzero_ps();
    return sums;
  };
  const auto store = [&](const TokenSums<kTokens>& sums, int64_t g) {
    for (int t = 0; t < kTokens; ++t) {
      _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride + kGroupRows * g, sums.sum[t]);
    }
  };
  pair_groups(
      kTwoStreams && kTokens == 1, n_groups,
      [&](int64_t g, int64_t h) {
        const GroupBlock *lead = blocks(g), *trail = blocks(h);
        TokenSums<kTokens> lead_sums = start(), trail_sums = start();
        if (n_blocks > 0) block(lead[0], int64_t{0}, lead_sums.sum);
        for (int64_t b = 1; b < n_blocks; ++b) {
          block(lead[b], b, lead_sums.sum);
          block(trail[b - 1], b - 1, trail_sums.sum);
        }
        if (n_blocks > 0) block(trail[n_blocks - 1], n_blocks - 1, trail_sums.sum);
        store(lead_sums, g);
        store(trail_sums, h);
      },
      [&](int64_t g) {
        TokenSums<kTokens> sums = start();
        for (int64_t b = 0; b < n_blocks; ++b) block(blocks(g)[b], b, sums.sum);
        store(sums, g);
      });
}

// The activations' sum over each 32 values (two bsums) of kTokens tokens, for the minimums of
// Q4_K and Q5_K: token t's at t * n / 32 of the array returned, which the next call on this
// thread overwrites.
template <class Files, int kTokens>
const int32_t* sums_per_32(const Q8x256View (&acts)[kTokens], int64_t n) {
  thread_local FilesVector<int32_t, Files> sums32;
  sums32.resize(static_cast<size_t>(kTokens * n / 32));
  for (int t = 0; t < kTokens; ++t) {
    for (int64_t j = 0; j < n / 32; ++j) {
      sums32[static_cast<size_t>(t * n / 32 + j)] = acts[t].bsums[2 * j] + acts[t].bsums[2 * j + 1];
    }
  }
  return sums32.data();
}

// The scales and minimums of sub-blocks 0..7 of 8 rows of Q4_K or Q5_K as int32 lanes, from the
// packed scale words: bits of word 0 (scales 0-3 and the top bits of 4-7), word 1 (minimums)
// and word 2 (the low bits of 4-7), unpack_k4_scales's masks and shifts on 8 rows at once.
[[gnu::always_inline]] inline void k4_scale_lanes(const uint32_t (&words)[3][kGroupRows], __m256i (&scale)[8],
                                                  __m256i (&minimum)[8]) {
  const __m256i six_bits = _mm256_set1_epi32(0x3f), four_bits = _mm256_set1_epi32(0x0f);
  const __m256i bits_4_5 = _mm256_set1_epi32(0x30);
  const __m256i w0 = load256(words[0]), w1 = load256(words[1]), w2 = load256(words[2]);
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    scale[j] = _mm256_and_si256(_mm256_srli_epi32(w0, 8 * j), six_bits);
    minimum[j] = _mm256_and_si256(_mm256_srli_epi32(w1, 8 * j), six_bits);
    scale[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 8 * j), four_bits),
                                   _mm256_and_si256(_mm256_srli_epi32(w0, 8 * j + 2), bits_4_5));
    minimum[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 8 * j + 4), four_bits),
                                     _mm256_and_si256(_mm256_srli_epi32(w1, 8 * j + 2), bits_4_5));
  }
}

// One token's f32 step of a super-block of 8 rows with minimums (Q2_K, Q4_K, Q5_K): sum +
// (d y_d) isum - (dmin y_d) msum, as dot_scalar.cpp rounds it.
[[gnu::always_inline]] inline __m256 minimums_step(__m256 sum, __m256 d16, __m256 dmin16, float y_d_value, __m256i isum,
                                                   __m256i msum) {
  const __m256 y_d = _mm256_set1_ps(y_d_value);
  const __m256 d = _mm256_mul_ps(d16, y_d), dmin = _mm256_mul_ps(dmin16, y_d);
  const __m256 term =
      _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)), _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(msum)));
  return _mm256_add_ps(sum, term);
}

// One token's f32 step of a Q4_K or Q5_K super-block of 8 rows (minimums_step), where msum
// adds each sub-block's minimum times the token's sum over it (token_sums; add_pairs16
// multiplies and adds int16 halves, both operands below 2^15).
template <class AddPairs16>
[[gnu::always_inline]] inline __m256 k4_step(__m256 sum, __m256 d16, __m256 dmin16, float y_d_value, __m256i isum,
                                             const __m256i (&minimum)[8], const int32_t* token_sums,
                                             const AddPairs16& add_pairs16) {
  __m256i msum = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) msum = add_pairs16(msum, minimum[j], _mm256_set1_epi32(token_sums[j]));
  return minimums_step(sum, d16, dmin16, y_d_value, isum, msum);
}

// Q4_K. Quant word k of a row holds bytes 4 k .. 4 k + 3 of its qs: in chunk c = k / 8 (32
// bytes), values 4 s .. 4 s + 3 (s = k % 8) of sub-block 2 c in the low nibbles and of
// sub-block 2 c + 1 in the high ones. Each word step is two add()s against four broadcast
// activations: the low nibbles masked, the high ones masked in place where Dots takes them so
// (16 times their value, taken off by one shift per sub-block: the sums stay below 2^20),
// else shifted down. A sub-block's 8 steps make one Partial: at most 8 times 4 products of 15
// by 127 or -128. A sub-block's 8 scales are a lane vector from the packed scale words (the
// masks and shifts of unpack_k4_scales, on 8 rows at once), applied by one multiply; the
// minimums' term takes one add_pairs16 per sub-block (minimum times the activations' sum over
// the sub-block, both below 2^15). Up to four tokens share each pass over the groups: the
// quants are loaded and masked once for all of them.
template <class Dots, int kTokens>
void q4_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                 int64_t n, float* out, size_t out_stride) {
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  const int32_t* sums32 = sums_per_32<typename Dots::Files>(acts, n);
  const __m256i low4 = _mm256_set1_epi8(0x0f), high4 = _mm256_set1_epi8(static_cast<char>(0xf0));
  sum_group_blocks<Dots::kTwoStreams, Q4KGroupBlock, kTokens>(
      w, group_bytes, n_groups, n_blocks, out, out_stride,
      [&](const Q4KGroupBlock& x, int64_t b, __m256(&sum)[kTokens]) {
        if constexpr (Dots::kSpreadPrefetch) {
          prefetch_lines_ahead<2>(&x);  // d, dmin and scales; the quants' lines as they are read
        } else {
          prefetch_ahead<sizeof(Q4KGroupBlock)>(&x);
        }
        __m256i scale[8], minimum[8];
        k4_scale_lanes(x.scales, scale, minimum);
        __m256i isum[kTokens];
        for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) {
          typename Dots::Partial lo[kTokens], hi[kTokens];
          for (int t = 0; t < kTokens; ++t) lo[t] = hi[t] = Dots::zero();
#pragma GCC unroll 8
          for (int s = 0; s < 8; ++s) {
            prefetch_spread_word<Dots>(x.qs[8 * c + s], s);
            const __m256i q = load256(x.qs[8 * c + s]);
            const __m256i q_lo = _mm256_and_si256(q, low4);
            const __m256i q_hi = Dots::kHighNibblesInPlace ? _mm256_and_si256(q, high4)
                                                           : _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
#pragma GCC unroll 4
            for (int t = 0; t < kTokens; ++t) {
              const int8_t* y = acts[t].qs + 256 * b + 64 * c + 4 * s;
              lo[t] = Dots::add(lo[t], q_lo, broadcast4(y));
              hi[t] = Dots::add(hi[t], q_hi, broadcast4(y + 32));
            }
          }
#pragma GCC unroll 4
          for (int t = 0; t < kTokens; ++t) {
            const typename Dots::Partial high = Dots::kHighNibblesInPlace ? _mm256_srai_epi32(hi[t], 4) : hi[t];
            isum[t] = _mm256_add_epi32(
                isum[t], _mm256_add_epi32(Dots::scaled(lo[t], scale[2 * c]), Dots::scaled(high, scale[2 * c + 1])));
          }
        }
        const __m256 d16 = _mm256_cvtph_ps(load128(x.d)), dmin16 = _mm256_cvtph_ps(load128(x.dmin));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) {
          sum[t] = k4_step(sum[t], d16, dmin16, acts[t].d[b], isum[t], minimum, sums32 + t * n / 32 + 8 * b,
                           Dots::add_pairs16);
        }
      });
}

// Q6_K. Words m of a half h (0, 1) hold, per row, four values of each quarter of the half
// (values 128 h + 32 quarter + 4 m .. + 3): low 4 bits in ql word 16 h + m (quarters 0, 2: low
// and high nibbles) or 16 h + 8 + m (quarters 1, 3), high 2 bits in qh word 8 h + m (bits
// 2 quarter, 2 quarter + 1). Each word step puts the four quarters' 6-bit values together (a
// mask, a shift and an or each) and meets each with its four broadcast activations in an
// add(). The 16-value sub-blocks 8 h + 2 quarter + m / 4 end every four steps: the offset of
// 32 comes off through the activations' sums, and the 8 rows' signed scales apply in one
// multiply.
template <class Dots, int kTokens>
void q6_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                 int64_t n, float* out, size_t out_stride) {
  static_assert(4 % Dots::kSixBitSteps == 0);
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits_4_5 = _mm256_set1_epi8(0x30);
  const auto six_bits = [&](__m256i low, __m256i high) {
    return _mm256_or_si256(_mm256_and_si256(low, low4), _mm256_and_si256(high, bits_4_5));
  };
  sum_group_blocks<Dots::kTwoStreams, Q6KGroupBlock, kTokens>(
      w, group_bytes, n_groups, n_blocks, out, out_stride,
      [&](const Q6KGroupBlock& x, int64_t b, __m256(&sum)[kTokens]) {
        if constexpr (Dots::kSpreadPrefetch) {
          prefetch_lines_ahead<2>(x.scales);  // scales and d; the quants' lines as they are read
          prefetch_lines_ahead<1>(x.d);
        } else {
          prefetch_ahead<sizeof(Q6KGroupBlock)>(&x);
        }
        __m256i isum[kTokens];
        for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
          for (int part = 0; part < 2; ++part) {
            __m256i acc[kTokens][4];
            typename Dots::Partial partial[kTokens][4];
            for (int t = 0; t < kTokens; ++t) {
              for (int quarter = 0; quarter < 4; ++quarter) {
                acc[t][quarter] = _mm256_setzero_si256();
                partial[t][quarter] = Dots::zero();
              }
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
              const int m = 4 * part + i;
              prefetch_spread_word<Dots>(x.ql[16 * h + m], m);
              prefetch_spread_word<Dots>(x.ql[16 * h + 8 + m], m);
              prefetch_spread_word<Dots>(x.qh[8 * h + m], m);
              const __m256i a = load256(x.ql[16 * h + m]), c = load256(x.ql[16 * h + 8 + m]);
              const __m256i high = load256(x.qh[8 * h + m]);
              const __m256i q[4] = {six_bits(a, _mm256_slli_epi32(high, 4)), six_bits(c, _mm256_slli_epi32(high, 2)),
                                    six_bits(_mm256_srli_epi32(a, 4), high),
                                    six_bits(_mm256_srli_epi32(c, 4), _mm256_srli_epi32(high, 2))};
              const bool widen_now = (i + 1) % Dots::kSixBitSteps == 0;
#pragma GCC unroll 4
              for (int t = 0; t < kTokens; ++t) {
                const int8_t* y = acts[t].qs + 256 * b + 128 * h + 4 * m;
#pragma GCC unroll 4
                for (int quarter = 0; quarter < 4; ++quarter) {
                  partial[t][quarter] = Dots::add(partial[t][quarter], q[quarter], broadcast4(y + 32 * quarter));
                  if (widen_now) {
                    acc[t][quarter] = _mm256_add_epi32(acc[t][quarter], Dots::widen(partial[t][quarter]));
                    partial[t][quarter] = Dots::zero();
                  }
                }
              }
            }
#pragma GCC unroll 4
            for (int quarter = 0; quarter < 4; ++quarter) {
              const int sub = 8 * h + 2 * quarter + part;
              // Scale `sub` of each row: byte sub % 4 of scale word sub / 4, sign-extended.
              const __m256i scale =
                  _mm256_srai_epi32(_mm256_slli_epi32(load256(x.scales[sub / 4]), 24 - 8 * (sub % 4)), 24);
#pragma GCC unroll 4
              for (int t = 0; t < kTokens; ++t) {
                const __m256i offset = _mm256_set1_epi32(32 * acts[t].bsums[16 * b + sub]);
                isum[t] =
                    _mm256_add_epi32(isum[t], _mm256_mullo_epi32(_mm256_sub_epi32(acc[t][quarter], offset), scale));
              }
            }
          }
        }
        // sum += (d * y_d) * isum, as dot_scalar.cpp rounds it.
        const __m256 d16 = _mm256_cvtph_ps(load128(x.d));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) {
          const __m256 d = _mm256_mul_ps(d16, _mm256_set1_ps(acts[t].d[b]));
          sum[t] = _mm256_add_ps(sum[t], _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])));
        }
      });
}

// ---- Q2_K and Q3_K ----
//
// Quant word k of a row holds bytes 4 k .. 4 k + 3 of its 64 quant bytes: field s (bits 2 s,
// 2 s + 1) of byte l holds value 128 c + 32 s + l % 32 (c = l / 32), in sub-block 8 c + 2 s +
// l % 32 / 16. Each word meets four broadcast activations once per field, and a sub-block's
// four steps make one Partial. Where Dots takes whole bytes (kHighNibblesInPlace), a field is
// masked where it lies, a power of two times its value (at most 192, still a u8), and each
// field's scaled sums are shifted back once per super-block: exact, as every such sum is a
// multiple of that power. Otherwise a field is shifted down first, as maddubs would saturate.

// The steps of one super-block (b) of the 2-bit formats for kTokens tokens. For chunk c (a
// std::integral_constant) and half, word_fields(c, half, m, field) puts the four fields of
// quant word 8 c + 4 half + m into field[0..3]; sub_blocks(c, half, partial) then takes the
// Partials of sub-blocks 8 c + 2 s + half (partial[t][s]).
template <class Dots, int kTokens, class WordFields, class SubBlocks>
[[gnu::always_inline]] inline void two_bit_steps(const Q8x256View (&acts)[kTokens], int64_t b,
                                                 const WordFields& word_fields, const SubBlocks& sub_blocks) {
  const auto chunk = [&]<int c>(std::integral_constant<int, c> chunk_c) {
#pragma GCC unroll 2
    for (int half = 0; half < 2; ++half) {
      typename Dots::Partial partial[kTokens][4];
      for (int t = 0; t < kTokens; ++t) {
        for (auto& p : partial[t]) p = Dots::zero();
      }
#pragma GCC unroll 4
      for (int m = 0; m < 4; ++m) {
        __m256i field[4];
        word_fields(chunk_c, half, m, field);
#pragma GCC unroll 4
        for (int s = 0; s < 4; ++s) {
#pragma GCC unroll 4
          for (int t = 0; t < kTokens; ++t) {
            const int8_t* y = acts[t].qs + 256 * b + 128 * c + 32 * s + 16 * half + 4 * m;
            partial[t][s] = Dots::add(partial[t][s], field[s], broadcast4(y));
          }
        }
      }
      sub_blocks(c, half, partial);
    }
  };
  chunk(std::integral_constant<int, 0>{});
  chunk(std::integral_constant<int, 1>{});
}

// Each token's sum over a super-block's four fields (field_sums[t][s], 2^shift[s] times its
// value where kInPlace holds).
template <bool kInPlace, int kTokens>
[[gnu::always_inline]] inline void add_field_sums(const __m256i (&field_sums)[kTokens][4], const int (&shift)[4],
                                                  __m256i (&isum)[kTokens]) {
  for (int t = 0; t < kTokens; ++t) {
    isum[t] = field_sums[t][0];
    for (int s = 1; s < 4; ++s) {
      isum[t] = _mm256_add_epi32(isum[t], kInPlace ? _mm256_srai_epi32(field_sums[t][s], shift[s]) : field_sums[t][s]);
    }
  }
}

// The activations' sums over Q2_K's pairs of sub-blocks (4 k, 4 k + 2) and (4 k + 1, 4 k + 3)
// as the int16 halves of one int32, of kTokens tokens: pair 2 k + j of super-block b of token
// t at t * n / 32 + 8 b + 2 k + j of the array returned, which the next call on this thread
// overwrites.
template <class Files, int kTokens>
const int32_t* q2_k_sum_pairs(const Q8x256View (&acts)[kTokens], int64_t n) {
  thread_local FilesVector<int32_t, Files> pairs;
  pairs.resize(static_cast<size_t>(kTokens * n / 32));
  const auto pair = [](int16_t low, int16_t high) {
    return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(low)) |
                                static_cast<uint32_t>(static_cast<uint16_t>(high)) << 16);
  };
  for (int t = 0; t < kTokens; ++t) {
    for (int64_t k = 0; k < n / 64; ++k) {
      const int16_t* sums = acts[t].bsums + 4 * k;
      pairs[static_cast<size_t>(t * n / 32 + 2 * k)] = pair(sums[0], sums[2]);
      pairs[static_cast<size_t>(t * n / 32 + 2 * k + 1)] = pair(sums[1], sums[3]);
    }
  }
  return pairs.data();
}

// Q2_K: value d scale q - dmin minimum. A sub-block's 8 scales (the low nibbles of the scale
// bytes) apply in one multiply; the minimums (the high nibbles) meet the activations' sums over
// their sub-blocks two at a time, as int16 halves (add_pairs16; q2_k_sum_pairs). Up to four
// tokens share each pass.
template <class Dots, int kTokens>
void q2_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                 int64_t n, float* out, size_t out_stride) {
  constexpr bool kInPlace = Dots::kHighNibblesInPlace;
  constexpr int kShift[4] = {0, 2, 4, 6};  // field s masked in place: 4^s times its value
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  const int32_t* pairs = q2_k_sum_pairs<typename Dots::Files>(acts, n);
  const __m256i low2 = _mm256_set1_epi8(3), low4 = _mm256_set1_epi32(0x0f);
  const __m256i minimum_pair = _mm256_set1_epi32(0x000f000f);
  sum_group_blocks<Dots::kTwoStreams, Q2KGroupBlock, kTokens>(
      w, group_bytes, n_groups, n_blocks, out, out_stride,
      [&](const Q2KGroupBlock& x, int64_t b, __m256(&sum)[kTokens]) {
        if constexpr (Dots::kSpreadPrefetch) {
          prefetch_lines_ahead<2>(&x);  // scales; the quants' lines as they are read
          prefetch_lines_ahead<1>(x.d);
        } else {
          prefetch_ahead<sizeof(Q2KGroupBlock)>(&x);
        }
        __m256i field_sums[kTokens][4] = {};
        two_bit_steps<Dots, kTokens>(
            acts, b,
            [&](auto c, int half, int m, __m256i(&field)[4]) {
              const int k = 8 * c + 4 * half + m;
              prefetch_spread_word<Dots>(x.qs[k], k);
              const __m256i q = load256(x.qs[k]);
#pragma GCC unroll 4
              for (int s = 0; s < 4; ++s) {
                field[s] = kInPlace ? _mm256_and_si256(q, _mm256_set1_epi8(static_cast<char>(3 << (2 * s))))
                                    : _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), low2);
              }
            },
            [&](int c, int half, const typename Dots::Partial(&partial)[kTokens][4]) {
#pragma GCC unroll 4
              for (int s = 0; s < 4; ++s) {
                const int sub = 8 * c + 2 * s + half;
                const __m256i scale =
                    _mm256_and_si256(_mm256_srli_epi32(load256(x.scales[sub / 4]), 8 * (sub % 4)), low4);
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t) {
                  field_sums[t][s] = _mm256_add_epi32(field_sums[t][s], Dots::scaled(partial[t][s], scale));
                }
              }
            });
        __m256i msum[kTokens];
        for (int t = 0; t < kTokens; ++t) msum[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const __m256i scales = load256(x.scales[k]);
          const __m256i even = _mm256_and_si256(_mm256_srli_epi32(scales, 4), minimum_pair);  // 4 k and 4 k + 2
          const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(scales, 12), minimum_pair);  // 4 k + 1, 4 k + 3
#pragma GCC unroll 4
          for (int t = 0; t < kTokens; ++t) {
            const int32_t* token_pairs = pairs + t * n / 32 + 8 * b + 2 * k;
            msum[t] = Dots::add_pairs16(msum[t], even, _mm256_set1_epi32(token_pairs[0]));
            msum[t] = Dots::add_pairs16(msum[t], odd, _mm256_set1_epi32(token_pairs[1]));
          }
        }
        __m256i isum[kTokens];
        add_field_sums<kInPlace>(field_sums, kShift, isum);
        const __m256 d16 = _mm256_cvtph_ps(load128(x.d)), dmin16 = _mm256_cvtph_ps(load128(x.dmin));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) {
          sum[t] = minimums_step(sum[t], d16, dmin16, acts[t].d[b], isum[t], msum[t]);
        }
      });
}

// The 16 signed scales of 8 rows of Q3_K as bytes minus 32: sub-blocks 4 j .. 4 j + 3 in vector j,
// byte i of each lane being sub-block 4 j + i's. The low 4 bits of scale s are byte s % 8 of the
// scale bytes' low (s < 8) or high nibbles; the high 2 bits are bits 2 (s / 4) of byte 8 + s % 4.
[[gnu::always_inline]] inline void q3_k_scale_bytes(const uint32_t (&words)[3][kGroupRows], __m256i (&bytes)[4]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits_4_5 = _mm256_set1_epi8(0x30);
  const __m256i w0 = load256(words[0]), w1 = load256(words[1]), w2 = load256(words[2]);
  const __m256i low[4] = {w0, w1, _mm256_srli_epi32(w0, 4), _mm256_srli_epi32(w1, 4)};
  const __m256i high[4] = {_mm256_slli_epi32(w2, 4), _mm256_slli_epi32(w2, 2), w2, _mm256_srli_epi32(w2, 2)};
  for (int j = 0; j < 4; ++j) {
    bytes[j] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(low[j], low4), _mm256_and_si256(high[j], bits_4_5)),
                               _mm256_set1_epi8(32));
  }
}

// The 32-bit lanes of v shifted down by kBits (up where negative).
template <int kBits>
[[gnu::always_inline]] inline __m256i shifted_lanes(__m256i v) {
  if constexpr (kBits > 0) return _mm256_srli_epi32(v, kBits);
  if constexpr (kBits < 0) return _mm256_slli_epi32(v, -kBits);
  return v;
}

// The value of Q3_K's quant field s (c selects the bits of the high-bit bytes) of quant word q
// with high-bit word h: the 3-bit value q' (low 2 bits, high bit), where kInPlace holds times
// 4^s for s < 3 and 16 for s = 3 (the low bits put at bit 2 s, or 4, and the high bit above),
// else q' itself.
template <bool kInPlace, int c, int s>
[[gnu::always_inline]] inline __m256i q3_k_field(__m256i q, __m256i h) {
  constexpr int kLowAt = kInPlace ? (s < 3 ? 2 * s : 4) : 0;  // where the low 2 bits go
  constexpr int kLowFrom = 2 * s;
  constexpr int kHighFrom = 4 * c + s;  // the high bit, in each byte of h
  constexpr int kHighAt = kLowAt + 2;
  const __m256i low =
      _mm256_and_si256(shifted_lanes<kLowFrom - kLowAt>(q), _mm256_set1_epi8(static_cast<char>(3 << kLowAt)));
  const __m256i high =
      _mm256_and_si256(shifted_lanes<kHighFrom - kHighAt>(h), _mm256_set1_epi8(static_cast<char>(1 << kHighAt)));
  return _mm256_or_si256(low, high);
}

// Q3_K: value d scale (q' - 4), q' 3-bit with the high bit of the value (bit 4 c + s of
// high-bit byte l % 32, in word 4 half + m for quant word 8 c + 4 half + m). The offset of 4
// comes off through the activations' sums, and the 8 rows' signed scales apply in one multiply
// per sub-block.
template <class Dots, int kTokens>
void q3_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                 int64_t n, float* out, size_t out_stride) {
  constexpr bool kInPlace = Dots::kHighNibblesInPlace;
  constexpr int kShift[4] = {0, 2, 4, 4};  // log2 of each field's factor, in place
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  sum_group_blocks<Dots::kTwoStreams, Q3KGroupBlock, kTokens>(
      w, group_bytes, n_groups, n_blocks, out, out_stride,
      [&](const Q3KGroupBlock& x, int64_t b, __m256(&sum)[kTokens]) {
        // Each line as it is read, with any Dots: from memory, a whole block's lines asked for at
        // once left the kernel at 0.7-0.8 of the row kernel's speed on AVX-512 (bench/MATVEC.md).
        prefetch_lines_ahead<4>(&x);  // the high bits; the quants' lines as they are read
        prefetch_lines_ahead<2>(x.scales);
        __m256i scale_bytes[4];
        q3_k_scale_bytes(x.scales, scale_bytes);
        __m256i field_sums[kTokens][4] = {};
        two_bit_steps<Dots, kTokens>(
            acts, b,
            [&]<int c>(std::integral_constant<int, c>, int half, int m, __m256i(&field)[4]) {
              const int k = 8 * c + 4 * half + m;
              prefetch_every_other_word(x.qs[k], k);
              const __m256i q = load256(x.qs[k]), h = load256(x.hmask[4 * half + m]);
              field[0] = q3_k_field<kInPlace, c, 0>(q, h);
              field[1] = q3_k_field<kInPlace, c, 1>(q, h);
              field[2] = q3_k_field<kInPlace, c, 2>(q, h);
              field[3] = q3_k_field<kInPlace, c, 3>(q, h);
            },
            [&](int c, int half, const typename Dots::Partial(&partial)[kTokens][4]) {
#pragma GCC unroll 4
              for (int s = 0; s < 4; ++s) {
                const int sub = 8 * c + 2 * s + half;
                // Scale `sub` of each row: byte sub % 4 of scale_bytes[sub / 4], sign-extended.
                const __m256i scale =
                    _mm256_srai_epi32(_mm256_slli_epi32(scale_bytes[sub / 4], 24 - 8 * (sub % 4)), 24);
                const int factor = kInPlace ? 4 << kShift[s] : 4;  // the offset 4, in the field's units
#pragma GCC unroll 4
                for (int t = 0; t < kTokens; ++t) {
                  const __m256i offset = _mm256_set1_epi32(factor * acts[t].bsums[16 * b + sub]);
                  field_sums[t][s] =
                      _mm256_add_epi32(field_sums[t][s],
                                       _mm256_mullo_epi32(_mm256_sub_epi32(Dots::widen(partial[t][s]), offset), scale));
                }
              }
            });
        __m256i isum[kTokens];
        add_field_sums<kInPlace>(field_sums, kShift, isum);
        // sum += (d * y_d) * isum, as dot_scalar.cpp rounds it.
        const __m256 d16 = _mm256_cvtph_ps(load128(x.d));
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) {
          const __m256 d = _mm256_mul_ps(d16, _mm256_set1_ps(acts[t].d[b]));
          sum[t] = _mm256_add_ps(sum[t], _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])));
        }
      });
}

using GroupsPassFn = void (*)(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act,
                              size_t act_stride, int64_t n, float* out, size_t out_stride);

// A GroupDotFn running tokens in passes of up to kPass (at most four), each pass reading the
// groups once.
template <int kPass, GroupsPassFn Groups1, GroupsPassFn Groups2, GroupsPassFn Groups3, GroupsPassFn Groups4>
void in_passes(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
               int64_t n_tokens, int64_t n, float* out, size_t out_stride) {
  static_assert(kPass >= 1 && kPass <= 4);
  for (int64_t t = 0; t < n_tokens; t += kPass) {
    const std::byte* pass_act = act + static_cast<size_t>(t) * act_stride;
    float* pass_out = out + static_cast<size_t>(t) * out_stride;
    switch (std::min<int64_t>(kPass, n_tokens - t)) {
      case 1: Groups1(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride); break;
      case 2: Groups2(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride); break;
      case 3: Groups3(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride); break;
      default: Groups4(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride); break;
    }
  }
}

// The K-quants' group kernels into `table`.
template <class Dots>
void add_group_kernels(KernelTable& table) {
  table.group_dot[static_cast<uint32_t>(GgmlType::Q2_K)] =
      in_passes<Dots::kQ4KTokensPerPass, q2_k_groups<Dots, 1>, q2_k_groups<Dots, 2>, q2_k_groups<Dots, 3>,
                q2_k_groups<Dots, 4>>;
  table.group_dot[static_cast<uint32_t>(GgmlType::Q3_K)] =
      in_passes<Dots::kQ4KTokensPerPass, q3_k_groups<Dots, 1>, q3_k_groups<Dots, 2>, q3_k_groups<Dots, 3>,
                q3_k_groups<Dots, 4>>;
  table.group_dot[static_cast<uint32_t>(GgmlType::Q4_K)] =
      in_passes<Dots::kQ4KTokensPerPass, q4_k_groups<Dots, 1>, q4_k_groups<Dots, 2>, q4_k_groups<Dots, 3>,
                q4_k_groups<Dots, 4>>;
  table.group_dot[static_cast<uint32_t>(GgmlType::Q6_K)] =
      in_passes<Dots::kQ6KTokensPerPass, q6_k_groups<Dots, 1>, q6_k_groups<Dots, 2>, q6_k_groups<Dots, 3>,
                q6_k_groups<Dots, 4>>;
}

}  // namespace
}  // namespace sluice::quant::fast::detail
