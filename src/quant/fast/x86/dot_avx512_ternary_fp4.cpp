// AVX-512 (BW, DQ, VNNI) kernels of the ternary formats TQ1_0, TQ2_0 (bit-equal to
// dot_scalar_ternary_fp4.cpp) and the 4-bit float format NVFP4 (equal within float rounding;
// MXFP4, a 32-value format, is in dot_avx512_blocks32.cpp). 64 values per step; VNNI's
// dpbusd sums 4 products u8 x s8 into int32 directly.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

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

// ---- NVFP4 ------------------------------------------------------------------------------------

// The sub-block scales of blocks b to b + count - 1 (count 1..4) times their activation scales:
// lane 4 i + s for sub-block s of block b + i, zero past count. As kUe4m3HalfToF32 has it, a
// scale byte is worth half the UE4M3 value of its low 7 bits u (exponent e, mantissa m), except
// 0x7F, which is 0: 2^(e - 8) (1 + m / 8) for e > 0, the f32 whose bits are u << 20 with 119
// added to the exponent field, and m 2^-10 for e = 0. (Taking u << 20 as an f32 and
// multiplying by 2^119 gives the same values, but through f32 subnormals, which cost Zen 4 a
// slow path: 33 -> 51 cycles.) Built per block from scalar loads and inserts, the scales took
// more shuffles than the block's products; here one vector serves four blocks.
inline __m512 nvfp4_sub_block_scales(const BlockNVFP4* wb, const float* act_d, int count) {
  const auto bytes = [&](int i) { return i < count ? static_cast<int>(load_u32(wb[i].d)) : 0; };
  const __m512i raw = _mm512_cvtepu8_epi32(_mm_setr_epi32(bytes(0), bytes(1), bytes(2), bytes(3)));
  const __m512i u = _mm512_and_si512(raw, _mm512_set1_epi32(0x7f));
  const __m512 normal = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_slli_epi32(u, 20), _mm512_set1_epi32(119 << 23)));
  const __m512 subnormal = _mm512_mul_ps(_mm512_cvtepi32_ps(u), _mm512_set1_ps(0x1p-10f));
  const __m512 half_values =
      _mm512_maskz_mov_ps(_mm512_cmpneq_epi32_mask(raw, _mm512_set1_epi32(0x7f)),
                          _mm512_mask_blend_ps(_mm512_cmplt_epi32_mask(u, _mm512_set1_epi32(8)), normal, subnormal));
  // Activation block 2 i + h covers sub-blocks 2h and 2h + 1 of block i.
  const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m256 a_d = _mm256_maskz_loadu_ps(static_cast<__mmask8>((1u << (2 * count)) - 1), act_d);
  return _mm512_mul_ps(half_values, _mm512_permutexvar_ps(pairs, _mm512_castps256_ps512(a_d)));
}

// One token's activations for NVFP4 (dot_nvfp4 below), made once per call and used for every
// row: per block of 64 values, the int8 activations in the order the block's codes come out
// of its bytes, and minus 12 times their sums per 4 (the levels enter dpbusd as unsigned
// level + 12).
struct alignas(64) Nvfp4BlockActivations {
  int8_t qs[64];
  int32_t minus12[16];
};

// Widening byte 8 s + i of a block to 16 bits and putting its high nibble in the high byte
// leaves sub-block s in 128-bit lane s with value i in byte 2 i and value 8 + i in byte
// 2 i + 1 (the block's low nibbles are values 0..7 of each sub-block, its high nibbles 8..15).
inline const Nvfp4BlockActivations* nvfp4_activations(const Q8x32View& acts, int64_t n_blocks) {
  thread_local std::vector<Nvfp4BlockActivations> prepared;
  prepared.resize(static_cast<size_t>(n_blocks));
  // Byte 2 i of each 16 takes activation i, byte 2 i + 1 activation 8 + i.
  const __m512i interleave =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m512i a = _mm512_shuffle_epi8(load512(acts.qs + 64 * b), interleave);
    Nvfp4BlockActivations& out = prepared[static_cast<size_t>(b)];
    _mm512_store_si512(out.qs, a);
    _mm512_store_si512(
        out.minus12,
        _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(12), a)));
  }
  return prepared.data();
}

// NVFP4, all rows of one token: per block, the codes (each byte's nibbles side by side in a
// 16-bit lane, see nvfp4_activations) become level + 12 by one byte shuffle and meet the
// reordered activations in one dpbusd that starts from minus 12 times their sums; int32 lanes
// 4 s to 4 s + 3 hold sub-block s's partial sums. The scales come four blocks at a time
// (nvfp4_sub_block_scales). One core, hot, TSC cycles per 256 values: 33 -> 23 at 2048 columns,
// 35 -> 24.5 at 768.
void dot_nvfp4(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const Q8x32View acts = view_q8x32(act, n);
  const int64_t nb = n / 64;
  const Nvfp4BlockActivations* a = nvfp4_activations(acts, nb);
  const __m512i levels = fp4_levels_x64(kFp4Offset);
  const __m512i each_four = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i nibbles = _mm512_set1_epi16(0x0f0f);
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* wb = blocks_of<BlockNVFP4>(w + static_cast<size_t>(r) * w_row_bytes);
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    // Blocks b to b + count - 1 into the accumulators.
    const auto add_blocks = [&](int64_t b, int count) __attribute__((always_inline)) {
      const __m512 scales = nvfp4_sub_block_scales(wb + b, acts.d + 2 * b, count);
#pragma GCC unroll 4
      for (int i = 0; i < count; ++i) {
        const __m512i bytes = _mm512_cvtepu8_epi16(load256(wb[b + i].qs));
        const __m512i codes = _mm512_and_si512(_mm512_or_si512(bytes, _mm512_slli_epi16(bytes, 4)), nibbles);
        const Nvfp4BlockActivations& ab = a[b + i];
        const __m512i p = _mm512_dpbusd_epi32(_mm512_load_si512(ab.minus12), _mm512_shuffle_epi8(levels, codes),
                                              _mm512_load_si512(ab.qs));
        const __m512 block_scales =
            _mm512_permutexvar_ps(_mm512_add_epi32(each_four, _mm512_set1_epi32(4 * i)), scales);
        acc[i & 1] = _mm512_add_ps(acc[i & 1], _mm512_mul_ps(block_scales, _mm512_cvtepi32_ps(p)));
      }
    };
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
      prefetch_ahead<4 * sizeof(BlockNVFP4)>(wb + b);
      add_blocks(b, 4);
    }
    if (b < nb) add_blocks(b, static_cast<int>(nb - b));
    out[r] = hsum_f32(_mm512_add_ps(acc[0], acc[1]));
  }
}

}  // namespace

void add_avx512_ternary_fp4_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::TQ1_0, rows_for_each_token<dot_tq1_0>);
  set_kernel(table, GgmlType::TQ2_0, rows_for_each_token<dot_tq2_0>);
  set_kernel(table, GgmlType::NVFP4, rows_for_each_token<dot_nvfp4>);
}

}  // namespace sluice::quant::fast::detail
