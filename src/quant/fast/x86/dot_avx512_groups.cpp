// One-token kernels over rows laid out in groups of 8 (quant/interleaved_rows.h): each 32-bit
// lane of a 256-bit vector is one row of the group, so a group's 8 results come out in 8
// lanes. Bit-identical to the row kernels (dot_scalar.cpp): the same integer sums per
// super-block and the same f32 expression per row, evaluated lane by lane.
//
// Compiled with the AVX-512 flags (for VNNI's 256-bit dpbusd) and called only on CPUs that
// have them.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

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

// Q4_K. Quant word k of a row holds bytes 4 k .. 4 k + 3 of its qs: in chunk c = k / 8 (32
// bytes), values 4 s .. 4 s + 3 (s = k % 8) of sub-block 2 c in the low nibbles and of
// sub-block 2 c + 1 in the high ones. Each word step is two dpbusd against four broadcast
// activations: the low nibbles masked, the high ones masked in place (16 times their value,
// taken off by one shift per sub-block: the sums stay below 2^20). A sub-block's 8 scales are
// a lane vector from the packed scale words (the masks and shifts of unpack_k4_scales, on 8
// rows at once), applied by one multiply; the minimums' term takes one dpwssd per sub-block
// (minimum times the activations' sum over the sub-block, both below 2^15). Up to four tokens
// share each pass over the groups: the quants are loaded and masked once for all of them.
//
// One core, hot, TSC cycles per super-block, against the row kernel (dot_avx512.cpp) in the
// same run: 2048 x 768 12.6 -> 9.4, 768 x 2048 12.5 -> 9.4.
template <int kTokens>
void q4_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                 int64_t n, float* out, size_t out_stride) {
  Q8x256View acts[kTokens];
  for (int t = 0; t < kTokens; ++t) acts[t] = view_q8x256(act + static_cast<size_t>(t) * act_stride, n);
  const int64_t n_blocks = n / 256;
  // The activations' sum over each 32 values (two bsums), once per call: token t's at t * n / 32.
  thread_local std::vector<int32_t> sums32;
  sums32.resize(static_cast<size_t>(kTokens * n / 32));
  for (int t = 0; t < kTokens; ++t) {
    for (int64_t j = 0; j < n / 32; ++j) {
      sums32[static_cast<size_t>(t * n / 32 + j)] = acts[t].bsums[2 * j] + acts[t].bsums[2 * j + 1];
    }
  }
  const __m256i low4 = _mm256_set1_epi8(0x0f), high4 = _mm256_set1_epi8(static_cast<char>(0xf0));
  const __m256i six_bits = _mm256_set1_epi32(0x3f), four_bits = _mm256_set1_epi32(0x0f);
  const __m256i bits_4_5 = _mm256_set1_epi32(0x30);
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto* blocks = reinterpret_cast<const Q4KGroupBlock*>(w + static_cast<size_t>(g) * group_bytes);
    __m256 sum[kTokens];
    for (int t = 0; t < kTokens; ++t) sum[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n_blocks; ++b) {
      const Q4KGroupBlock& x = blocks[b];
      prefetch_ahead<sizeof(Q4KGroupBlock)>(&x);
      // Scales and minimums per sub-block j as lanes: bits of word 0 (scales 0-3 and the top
      // bits of 4-7), word 1 (minimums) and word 2 (the low bits of 4-7).
      const __m256i w0 = load256(x.scales[0]), w1 = load256(x.scales[1]), w2 = load256(x.scales[2]);
      __m256i scale[8], minimum[8];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        scale[j] = _mm256_and_si256(_mm256_srli_epi32(w0, 8 * j), six_bits);
        minimum[j] = _mm256_and_si256(_mm256_srli_epi32(w1, 8 * j), six_bits);
        scale[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 8 * j), four_bits),
                                       _mm256_and_si256(_mm256_srli_epi32(w0, 8 * j + 2), bits_4_5));
        minimum[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 8 * j + 4), four_bits),
                                         _mm256_and_si256(_mm256_srli_epi32(w1, 8 * j + 2), bits_4_5));
      }
      __m256i isum[kTokens];
      for (int t = 0; t < kTokens; ++t) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        __m256i lo[kTokens], hi16[kTokens];
        for (int t = 0; t < kTokens; ++t) lo[t] = hi16[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int s = 0; s < 8; ++s) {
          const __m256i q = load256(x.qs[8 * c + s]);
          const __m256i q_lo = _mm256_and_si256(q, low4), q_hi16 = _mm256_and_si256(q, high4);
#pragma GCC unroll 4
          for (int t = 0; t < kTokens; ++t) {
            const int8_t* y = acts[t].qs + 256 * b + 64 * c + 4 * s;
            lo[t] = _mm256_dpbusd_epi32(lo[t], q_lo, broadcast4(y));
            hi16[t] = _mm256_dpbusd_epi32(hi16[t], q_hi16, broadcast4(y + 32));
          }
        }
#pragma GCC unroll 4
        for (int t = 0; t < kTokens; ++t) {
          const __m256i hi = _mm256_srai_epi32(hi16[t], 4);
          isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(lo[t], scale[2 * c]),
                                                               _mm256_mullo_epi32(hi, scale[2 * c + 1])));
        }
      }
      const __m256 d16 = _mm256_cvtph_ps(load128(x.d)), dmin16 = _mm256_cvtph_ps(load128(x.dmin));
#pragma GCC unroll 4
      for (int t = 0; t < kTokens; ++t) {
        const int32_t* token_sums = sums32.data() + t * n / 32 + 8 * b;
        __m256i msum = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) msum = _mm256_dpwssd_epi32(msum, minimum[j], _mm256_set1_epi32(token_sums[j]));
        // sum += (d * y_d) * isum - (dmin * y_d) * msum, as dot_scalar.cpp rounds it.
        const __m256 y_d = _mm256_set1_ps(acts[t].d[b]);
        const __m256 d = _mm256_mul_ps(d16, y_d), dmin = _mm256_mul_ps(dmin16, y_d);
        const __m256 term =
            _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])), _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(msum)));
        sum[t] = _mm256_add_ps(sum[t], term);
      }
    }
    for (int t = 0; t < kTokens; ++t)
      _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride + kGroupRows * g, sum[t]);
  }
}

// Tokens in passes of up to four, each pass reading the groups once.
void dot_q4_k_groups(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act, size_t act_stride,
                     int64_t n_tokens, int64_t n, float* out, size_t out_stride) {
  for (int64_t t = 0; t < n_tokens; t += 4) {
    const std::byte* pass_act = act + static_cast<size_t>(t) * act_stride;
    float* pass_out = out + static_cast<size_t>(t) * out_stride;
    switch (std::min<int64_t>(4, n_tokens - t)) {
      case 1:
        q4_k_groups<1>(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride);
        break;
      case 2:
        q4_k_groups<2>(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride);
        break;
      case 3:
        q4_k_groups<3>(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride);
        break;
      default:
        q4_k_groups<4>(w, group_bytes, n_groups, pass_act, act_stride, n, pass_out, out_stride);
        break;
    }
  }
}

}  // namespace

void add_avx512_group_kernels(KernelTable& table) {
  table.group_dot[static_cast<uint32_t>(GgmlType::Q4_K)] = dot_q4_k_groups;
}

}  // namespace sluice::quant::fast::detail
