// AVX-512 (BW, DQ, VNNI) kernels of the ternary formats TQ1_0 and TQ2_0 (bit-equal to
// dot_scalar_ternary_fp4.cpp). 64 values per step; VNNI's dpbusd sums 4 products u8 x s8 into
// int32 directly. The 4-bit float formats MXFP4 and NVFP4 run AVX2's kernels (dot_avx512.cpp
// says why).
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/super_blocks.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- TQ1_0, TQ2_0 ------------------------------------------------------------------------
// Both sum digit * a with digits in 0..2 (dpbusd: unsigned x signed) and take sum a (the
// bsums) off at the end: sum (digit - 1) a.

// Byte-wise r * 3 mod 256: moves the next base-3 digit of a TQ1_0 byte to the top.
inline __m512i times3(__m512i r) { return _mm512_add_epi8(r, _mm512_add_epi8(r, r)); }

// The sum of activation block b's 256 quants, from its 16 bsums.
inline int32_t activation_block_sum(const Q8x256View& acts, int64_t b) {
  int32_t sum = 0;
  for (int i = 0; i < 16; ++i) sum += acts.bsums[16 * b + i];
  return sum;
}

// TQ1_0 reads a block's 52 digit bytes (qs, then qh) as one vector and rotates all of them at
// once, so that rotation k holds digit k of every byte in the byte's own lane. The
// activations come rearranged to match, once per call: Tq1ActivationBlock::digit[k][p] is
// the activation of digit k of byte p, zero where there is none (digit 4 of qh, bytes 52 and
// on). Lanes 52 and on meet weight bytes that are zero in every rotation, so digit[0]'s last
// four bytes carry something else: the block's 256 * sum a as an int32 (see dot_tq1_0).
// Building the rotations from the block's three parts instead (five digits of qs[0..32),
// five of qs[32..48), four of qh, as the values lie) took 4 inserts, 3 blends and 30 byte adds
// per block, more than its products: one core, hot, TSC cycles per super-block 20.9 -> 15.5 at
// 2048 columns, 21.9 -> 16.5 at 768.
struct alignas(64) Tq1ActivationBlock {
  int8_t digit[5][64];
};
constexpr int kTq1DigitBytes = 52;  // qs and qh
constexpr int kTq1SumOffset = 60;   // of 256 * sum a, in digit[0]

inline const int8_t* tq1_0_activations(const Q8x256View& acts, int64_t n_blocks) {
  thread_local std::vector<Tq1ActivationBlock> prepared;
  prepared.resize(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int8_t* y = acts.qs + 256 * b;
    Tq1ActivationBlock& out = prepared[static_cast<size_t>(b)];
    for (int k = 0; k < 5; ++k) {
      int8_t* lanes = out.digit[k];
      std::memcpy(lanes, y + 32 * k, 32);             // qs[l], l < 32: value 32k + l
      std::memcpy(lanes + 32, y + 160 + 16 * k, 16);  // qs[32 + l]: value 160 + 16k + l
      if (k < 4) {
        std::memcpy(lanes + 48, y + 240 + 4 * k, 4);  // qh[l]: value 240 + 4k + l
      } else {
        std::memset(lanes + 48, 0, 4);
      }
      std::memset(lanes + kTq1DigitBytes, 0, 64 - kTq1DigitBytes);
    }
    const int32_t sum256 = 256 * activation_block_sum(acts, b);
    std::memcpy(out.digit[0] + kTq1SumOffset, &sum256, sizeof sum256);
  }
  return reinterpret_cast<const int8_t*>(prepared.data());  // no member access: empty for n_blocks = 0
}

void dot_tq1_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  Q8x256View acts = view_q8x256(act, n);
  acts.qs = tq1_0_activations(acts, n / 256);
  constexpr __mmask64 kDigitBytes = (uint64_t{1} << kTq1DigitBytes) - 1;
  sum_super_block_rows<BlockTQ1_0, sizeof(Tq1ActivationBlock)>(
      w, w_row_bytes, n_rows, acts, n, out, [](const BlockTQ1_0& x, const int8_t* y, const int16_t*) {
        // The top digit of a rotated byte r is (3 r) >> 8 and the next rotation r' is 3 r mod
        // 256, so digit = (3 r - r') / 256: the rotated bytes go into dpbusd as they are, and
        // sum digit * a = (3 sum r a - sum r' a) / 256, exactly. The 256 sum a of the -1 rides on
        // the r' sums from its first lane.
        __m512i r = _mm512_maskz_loadu_epi8(kDigitBytes, x.qs);
        __m512i acc_r = _mm512_setzero_si512();
        __m512i acc_next = _mm512_zextsi128_si512(
            _mm_cvtsi32_si128(static_cast<int>(load_u32(reinterpret_cast<const uint8_t*>(y) + kTq1SumOffset))));
        for (int k = 0; k < 5; ++k) {
          const __m512i a = load512(y + 64 * k);
          acc_r = _mm512_dpbusd_epi32(acc_r, r, a);
          r = times3(r);
          acc_next = _mm512_dpbusd_epi32(acc_next, r, a);
        }
        // Folded to 256 bits first, then combined: the lanes sum whole products 256 (digit - 1) a,
        // and the 1/256 goes into the f32 step (d_factor), where it scales d y_d exactly; the
        // super-block's 256 isum, at most 256 x 256 x 127 < 2^24, converts to f32 exactly.
        const __m256i sum_r = fold_to_256(acc_r), sum_next = fold_to_256(acc_next);
        return SuperBlockLanes{_mm256_sub_epi32(_mm256_add_epi32(sum_r, _mm256_add_epi32(sum_r, sum_r)), sum_next)};
      },
      1.0f / 256);
}

// Minus the sum of each activation block's 256 quants, made once per call: TQ2_0's kernel
// starts a block's accumulator from it (value = q - 1) with one load, where a dpwssd over the
// block's 16 bsums took a multiply slot of its own. One core, hot, TSC cycles per super-block:
// 8.75 -> 8.45 at 2048 columns, 10.2 -> 9.7 at 768.
inline const int32_t* minus_block_sums(const Q8x256View& acts, int64_t n_blocks) {
  thread_local FilesVector<int32_t, Avx512Files> sums;
  sums.resize(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b) sums[static_cast<size_t>(b)] = -activation_block_sum(acts, b);
  return sums.data();
}

// TQ2_0's activations rearranged once per call to the order of a block's 64 bytes of quants:
// byte l of qs (l < 32) holds values 32 s + l in its bit pairs s, byte 32 + l values
// 128 + 32 s + l; so for each s, 64 bytes: y[32 s, 32 s + 32) then y[128 + 32 s, ...). The
// block's bit pairs s then meet them with one shift of the whole 64 bytes, where the two
// 32-byte halves, each broadcast to 512 bits and shifted by two amounts, took four variable
// shifts. One core, hot, TSC cycles per super-block at 2048 / 768 columns: 8.05 / 8.1 ->
// 7.4 / 7.6. (The 64 bytes are two 32-byte loads: one 64-byte load, across two cache lines
// in most of TQ2_0's 66-byte blocks, took 9.3 / 11.2.)
inline const int8_t* tq2_order_activations(const int8_t* qs, int64_t n) {
  thread_local std::vector<CacheLine> lines;
  int8_t* out = whole_lines(lines, n);
  for (int64_t b = 0; b < n; b += 256) {
    for (int s = 0; s < 4; ++s) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b + 64 * s), load256(qs + b + 32 * s));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b + 64 * s + 32), load256(qs + b + 128 + 32 * s));
    }
  }
  return out;
}

void dot_tq2_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const Q8x256View original = view_q8x256(act, n);
  const int32_t* minus_sums = minus_block_sums(original, n / 256);
  const Q8x256View acts{tq2_order_activations(original.qs, n), original.bsums, original.d};
  const __m512i low2 = _mm512_set1_epi8(3);
  sum_super_block_rows<BlockTQ2_0>(
      w, w_row_bytes, n_rows, acts, n, out, [&](const BlockTQ2_0& x, const int8_t* y_qs, const int16_t*) {
        // The -1 of value = q - 1: the accumulator starts at minus the sum of the activations
        // (of the block whose quants y_qs points at).
        __m512i acc = _mm512_zextsi128_si512(_mm_cvtsi32_si128(minus_sums[(y_qs - acts.qs) / 256]));
        const __m512i raw = join256(load256(x.qs), load256(x.qs + 32));
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(raw, low2), load512(y_qs));
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(raw, 2), low2), load512(y_qs + 64));
        acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low2), load512(y_qs + 128));
        acc = _mm512_dpbusd_epi32(acc, _mm512_srli_epi16(_mm512_andnot_si512(_mm512_set1_epi8(0x3f), raw), 6),
                                  load512(y_qs + 192));
        return SuperBlockLanes{fold_to_256(acc)};
      });
}

}  // namespace

void add_avx512_ternary_fp4_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::TQ1_0, rows_for_each_token<dot_tq1_0>);
  set_kernel(table, GgmlType::TQ2_0, rows_for_each_token<dot_tq2_0>);
}

}  // namespace sluice::quant::fast::detail
