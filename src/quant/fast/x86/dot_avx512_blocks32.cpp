// AVX-512 (F, BW, VL, DQ, VNNI) kernels of the 32-value formats Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// IQ4_NL and MXFP4; dot_scalar.cpp is their reference (within rounding: these sum in f32 in
// another order, as the AVX2 kernels do).
//
// Every weight becomes an unsigned byte u, with value = u - offset (Q8_0: q + 128 - 128,
// Q4_0: nibble - 8, Q5_0: 5 bits - 16, IQ4_NL: level + 128 - 128, MXFP4: doubled level +
// 12 - 12), or value = u with a minimum m added per block (Q4_1, Q5_1). VNNI's dpbusd
// multiplies u8 x s8 directly, so there is no sign trick; a block's offset or minimum comes
// in afterwards through the activations' block sums:
//     sum_b d_b y_b (sum_l u_l a_l) + c_b sum_l a_l,  c_b = -offset d_b y_b  or  m_b y_b.
// Four blocks make one step, their scales converted together. Q8_0's two blocks fill one
// 512-bit vector (sum_blocks32_rows); the formats with 16 bytes of nibbles per block put four
// blocks' nibbles in one (dot_four_blocks32). One core, 2048 x 256, hot, TSC cycles per 256
// values, before the four-block nibbles: Q4_0 27 -> 18 (it ran the AVX2 kernel, one block per
// step with the sign trick); Q8_0 21 -> 17 and MXFP4 32 -> 24 (AVX-512 kernels with the sign
// trick).
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <utility>

#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"

namespace sluice::quant::fast::detail {
namespace {

// Bit 4 of the 64 values of blocks b0 and b1 (qh: bit l of 32 is value l's).
inline __m512i high_bits_of_two(const uint8_t* qh0, const uint8_t* qh1) {
  const uint64_t bits = uint64_t{load_u32(qh0)} | uint64_t{load_u32(qh1)} << 32;
  return _mm512_maskz_set1_epi8(_cvtu64_mask64(bits), 16);
}

// The f16 fields d and m (0 for formats without m) of four whole blocks, as words 0-3 and
// 4-7. Formats without m put the four d together in a general register: the vector units are
// the kernels' bottleneck, the integer units have room. One core, hot, TSC cycles per 256
// values at 2048 / 768 columns, against the word permute below: Q8_0 17.5 / 19.0 -> 14.9 /
// 16.4, Q4_0 15.0 / 15.9 -> 13.5 / 14.0, IQ4_NL 16.8 / 17.9 -> 15.7 / 16.5, Q5_0 19.8 / 21.9 ->
// 18.7 / 20.5. Formats with m take one word permute of the blocks' first 64 bytes, or of 128
// with a second load masked to the blocks' bytes (eight fields through general registers
// gained nothing for Q4_1 and lost for Q5_1). (Inserting the fields into a vector one by one
// cost Q4_0 a fifth of its speed.)
template <class Block>
inline __m128i f16_fields_of_four(const Block* blocks) {
  if constexpr (!requires(Block x) { x.m; }) {
    const auto d = [&](int i) { return uint64_t{blocks[i].d}; };
    return _mm_cvtsi64_si128(static_cast<int64_t>(d(0) | d(1) << 16 | d(2) << 32 | d(3) << 48));
  } else {
    constexpr short kWords = sizeof(Block) / 2;
    constexpr size_t kBytes = 4 * sizeof(Block);
    static_assert(sizeof(Block) % 2 == 0 && 3 * sizeof(Block) + 4 <= 128, "the fields must lie in the first 128 bytes");
    const __m512i index = _mm512_zextsi128_si512(
        _mm_setr_epi16(0, kWords, 2 * kWords, 3 * kWords, 1, kWords + 1, 2 * kWords + 1, 3 * kWords + 1));
    const auto* bytes = reinterpret_cast<const uint8_t*>(blocks);
    if constexpr (3 * sizeof(Block) + 4 <= 64) {  // Q4_1: one load
      return _mm512_castsi512_si128(_mm512_permutexvar_epi16(index, load512(bytes)));
    } else {
      const __mmask64 tail = kBytes >= 128 ? ~__mmask64{0} : (__mmask64{1} << (kBytes - 64)) - 1;
      const __m512i second = _mm512_maskz_loadu_epi8(tail, bytes + 64);
      return _mm512_castsi512_si128(_mm512_permutex2var_epi16(load512(bytes), index, second));
    }
  }
}

// d of blocks b..b + 3 in lanes 0-3, m (for formats with a minimum) in lanes 4-7; blocks past
// `count` repeat the last.
template <class Block>
inline __m256 scales_of_four(const Block* wb, int64_t b, int count) {
  if (count == 4) return _mm256_cvtph_ps(f16_fields_of_four(wb + b));
  const auto block = [&](int i) -> const Block& { return wb[b + std::min(i, count - 1)]; };
  const auto m = [&](int i) -> short {
    if constexpr (requires { block(i).m; }) return static_cast<short>(block(i).m);
    return 0;
  };
  const auto d = [&](int i) { return static_cast<short>(block(i).d); };
  return _mm256_cvtph_ps(_mm_setr_epi16(d(0), d(1), d(2), d(3), m(0), m(1), m(2), m(3)));
}

// MXFP4's scales are E8M0 exponents, taken through the table of their halves (the levels are
// doubled), put together in general registers as f16_fields_of_four's (one core, hot, TSC
// cycles per 256 values at 2048 / 768 columns: 16.6 / 17.7 -> 15.95 / 16.8 against four
// inserts).
inline __m256 scales_of_four(const BlockMXFP4* wb, int64_t b, int count) {
  const auto bits = [&](int i) {
    return uint64_t{std::bit_cast<uint32_t>(kE8m0HalfToF32[wb[b + std::min(i, count - 1)].e])};
  };
  const __m128i low = _mm_cvtsi64_si128(static_cast<int64_t>(bits(0) | bits(1) << 32));
  const __m128i high = _mm_cvtsi64_si128(static_cast<int64_t>(bits(2) | bits(3) << 32));
  return _mm256_castps128_ps256(_mm_castsi128_ps(_mm_unpacklo_epi64(low, high)));
}

// The running sums of sum_blocks32_rows.
struct Blocks32Sums {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();  // d_b y_b sum u a, per lane
  __m128 block_terms = _mm_setzero_ps();                          // c_b sum a (or its sum for offsets)
};

// d_b y_b of the `count` (1-4) blocks from block b on, in lanes 0-3 (0 past count), their
// block terms added to s.block_terms.
template <class Block, bool kHasMin>
inline __m128 step_scales(Blocks32Sums& s, const Block* wb, const Q8x32View& acts, int64_t b, int count) {
  const __mmask16 live = static_cast<__mmask16>((1u << count) - 1);
  const __m128 y_d = count == 4 ? _mm_loadu_ps(acts.d + b) : _mm_maskz_loadu_ps(live, acts.d + b);
  const __m128 y_sum = _mm_cvtepi32_ps(count == 4 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(acts.sum + b))
                                                  : _mm_maskz_loadu_epi32(live, acts.sum + b));
  const __m256 d_and_m = scales_of_four(wb, b, count);
  const __m128 d = _mm_mul_ps(_mm256_castps256_ps128(d_and_m), y_d);
  if constexpr (kHasMin) {
    s.block_terms = _mm_fmadd_ps(_mm_mul_ps(_mm256_extractf128_ps(d_and_m, 1), y_d), y_sum, s.block_terms);
  } else {
    s.block_terms = _mm_fmadd_ps(d, y_sum, s.block_terms);
  }
  return d;
}

// Adds `count` (1-4) blocks from block b on; bytes_of_two(block b0, block b1) gives the 64
// unsigned weight bytes of two blocks. A step of fewer than four blocks repeats the last
// block's weights against zero activations and zero scales, so it reads nothing past the row.
template <class Block, bool kHasMin, class BytesOfTwo>
inline void add_blocks32_step(Blocks32Sums& s, const Block* wb, const Q8x32View& acts, int64_t b, int count,
                              BytesOfTwo bytes_of_two) {
  // Lanes 0-7 take the first block's scale, lanes 8-15 the second's, of four.
  const __m512i first_pair = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(1), 1);
  const __m512i second_pair = _mm512_add_epi32(first_pair, _mm512_set1_epi32(2));
  const auto block = [&](int i) -> const Block& { return wb[b + std::min(i, count - 1)]; };
  const __m512 scales = _mm512_zextps128_ps512(step_scales<Block, kHasMin>(s, wb, acts, b, count));
  const __m512i a0 = count >= 2 ? load512(acts.qs + 32 * b) : _mm512_maskz_loadu_epi8(0xffffffffull, acts.qs + 32 * b);
  const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bytes_of_two(block(0), block(1)), a0);
  s.acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(first_pair, scales), _mm512_cvtepi32_ps(p0), s.acc0);
  if (count > 2) {
    const __m512i a1 =
        count == 4 ? load512(acts.qs + 32 * (b + 2)) : _mm512_maskz_loadu_epi8(0xffffffffull, acts.qs + 32 * (b + 2));
    const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bytes_of_two(block(2), block(3)), a1);
    s.acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(second_pair, scales), _mm512_cvtepi32_ps(p1), s.acc1);
  }
}

// A row's result from its running sums: the lanes folded to four, the block terms added there
// (times -kOffset for formats with an offset), and the four summed.
template <int kOffset, bool kHasMin>
inline float blocks32_total(const Blocks32Sums& s) {
  const __m512 acc = _mm512_add_ps(s.acc0, s.acc1);
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  const __m128 four = _mm_fmadd_ps(_mm_set1_ps(kHasMin ? 1.0f : -static_cast<float>(kOffset)), s.block_terms,
                                   _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1)));
  const __m128 two = _mm_add_ps(four, _mm_movehl_ps(four, four));
  return _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)));
}

// The dot products of rows of 32-value blocks with one token; kOffset is the offset (0 for
// formats with a minimum). All rows in one call, as the other kernels take them: a call per
// row (for_each_token) cost Q8_0, one core, hot, TSC cycles per 256 values at 2048 / 768
// columns, 14.9 / 16.4 against 14.55 / 15.55. Two rows interleaved, sharing the activation
// loads, ran 14.4 / 14.9 hot but streamed from memory at two thirds of the pace (2 threads,
// 4096 x 14336: 33-34 against 22-23 GB/s).
template <class Block, int kOffset, class BytesOfTwo>
void sum_blocks32_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n,
                       float* out, BytesOfTwo bytes_of_two) {
  constexpr bool kHasMin = requires(Block x) { x.m; };
  static_assert(kHasMin != (kOffset > 0));
  const Q8x32View acts = view_q8x32(act, n);
  const int64_t nb = n / 32;
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* wb = blocks_of<Block>(w + static_cast<size_t>(r) * w_row_bytes);
    Blocks32Sums s;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
      prefetch_ahead<4 * sizeof(Block)>(wb + b);
      add_blocks32_step<Block, kHasMin>(s, wb, acts, b, 4, bytes_of_two);
    }
    if (b < nb) add_blocks32_step<Block, kHasMin>(s, wb, acts, b, static_cast<int>(nb - b), bytes_of_two);
    out[r] = blocks32_total<kOffset, kHasMin>(s);
  }
}

// Four blocks' weights as dpbusd's unsigned bytes, split by value: low holds values 0-15 of
// each block (16 bytes a block, in block order), high values 16-31.
struct HalfBlocks {
  __m512i low, high;
};

// All rows of one token, four blocks per step: the weights split into halves (HalfBlocks) meet
// the activations in the same order (nibble_order_activations) in two dpbusd into the same
// int32 lanes, four per block, so one conversion and one multiply-add with the blocks' scales
// serve 128 values, where add_blocks32_step takes two of each. The halves are the low and high
// nibbles of one vector of four blocks' quants (no joins or masked shifts), so this serves
// the formats with 16 bytes of nibbles per block. halves_of_four(blocks) makes them;
// bytes_of_two is add_blocks32_step's, for a last step of fewer than four blocks. One core,
// hot, TSC cycles per 256 values at 2048 / 768 columns (768 / 2048 rows), against two blocks
// per step: Q4_0 18.1 / 20.2 -> 14.9 / 15.9, IQ4_NL 20.5 / 22.5 -> 16.8 / 17.9, MXFP4
// 20.3 / 23.0 -> 16.8 / 17.7, Q5_0 23.6 / 26.2 -> 19.8 / 21.9.
template <class Block, int kOffset, class HalvesOfFour, class BytesOfTwo>
void dot_four_blocks32(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n,
                       float* out, HalvesOfFour halves_of_four, BytesOfTwo bytes_of_two) {
  constexpr bool kHasMin = requires(Block x) { x.m; };
  static_assert(kHasMin != (kOffset > 0));
  const Q8x32View acts = view_q8x32(act, n);
  const int64_t nb = n / 32;
  const int64_t n_full = nb / 4 * 4;  // blocks in whole steps
  const int8_t* reordered = nibble_order_activations(acts.qs, 32 * n_full);
  const __m512i each_four = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto* wb = blocks_of<Block>(w + static_cast<size_t>(r) * w_row_bytes);
    Blocks32Sums s;
    for (int64_t b = 0; b < n_full; b += 4) {
      prefetch_ahead<4 * sizeof(Block)>(wb + b);
      const int8_t* a = reordered + 32 * b;
      const HalfBlocks u = halves_of_four(wb + b);
      const __m512i p =
          _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), u.low, load512(a)), u.high, load512(a + 64));
      const __m512 scales = _mm512_zextps128_ps512(step_scales<Block, kHasMin>(s, wb, acts, b, 4));
      s.acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(each_four, scales), _mm512_cvtepi32_ps(p), s.acc0);
    }
    if (n_full < nb)
      add_blocks32_step<Block, kHasMin>(s, wb, acts, n_full, static_cast<int>(nb - n_full), bytes_of_two);
    out[r] = blocks32_total<kOffset, kHasMin>(s);
  }
}

// Four 16-byte pieces, each at its own address, as one vector.
inline __m512i four_pieces(const void* p0, const void* p1, const void* p2, const void* p3) {
  return _mm512_inserti32x4(
      _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(load128(p0)), load128(p1), 1), load128(p2), 2),
      load128(p3), 3);
}

// The low and high nibbles of four blocks' 16 bytes of quants.
template <class Block>
HalfBlocks nibble_halves(const Block* blocks) {
  const __m512i q = four_pieces(blocks[0].qs, blocks[1].qs, blocks[2].qs, blocks[3].qs);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  return {_mm512_and_si512(q, low4), _mm512_and_si512(_mm512_srli_epi16(q, 4), low4)};
}

template <class Block>
__m512i nibbles_of_two_blocks(const Block& x0, const Block& x1) {
  return nibbles_of_two(x0.qs, x1.qs);
}

// Bit 4 added to the nibbles of four Q5_0 / Q5_1 blocks: bits 0-15 of each block's qh go with
// its low nibbles, bits 16-31 with its high ones.
template <class Block>
HalfBlocks fifth_bit_halves(const Block* blocks) {
  const HalfBlocks nibbles = nibble_halves(blocks);
  // Two blocks' qh words side by side; pext takes each word's low (high) 16 bits together
  // (one core, Q5_0: 21.2 -> 19.8 TSC cycles per 256 values against shifts and ors per
  // block; pext is slow only on CPUs before Zen 3, which have no AVX-512).
  const auto pair = [&](int i) {
    return uint64_t{load_u32(blocks[i].qh)} | uint64_t{load_u32(blocks[i + 1].qh)} << 32;
  };
  const uint64_t first = pair(0), second = pair(2);
  constexpr uint64_t kLowHalves = 0x0000ffff0000ffffull;
  const uint64_t low = _pext_u64(first, kLowHalves) | _pext_u64(second, kLowHalves) << 32;
  const uint64_t high = _pext_u64(first, ~kLowHalves) | _pext_u64(second, ~kLowHalves) << 32;
  const __m512i bit4 = _mm512_set1_epi8(16);
  return {_mm512_mask_add_epi8(nibbles.low, _cvtu64_mask64(low), nibbles.low, bit4),
          _mm512_mask_add_epi8(nibbles.high, _cvtu64_mask64(high), nibbles.high, bit4)};
}

template <class Block>
__m512i fifth_bits_of_two_blocks(const Block& x0, const Block& x1) {
  return _mm512_or_si512(nibbles_of_two(x0.qs, x1.qs), high_bits_of_two(x0.qh, x1.qh));
}

// Q4_0 and Q4_1 (the nibbles as they are), Q5_0 and Q5_1 (bit 4 from qh); kOffset as
// dot_four_blocks32's.
template <class Block, int kOffset>
void dot_q4_q5(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  if constexpr (requires(Block x) { x.qh; }) {
    dot_four_blocks32<Block, kOffset>(w, w_row_bytes, n_rows, act, n, out, fifth_bit_halves<Block>,
                                      fifth_bits_of_two_blocks<Block>);
  } else {
    dot_four_blocks32<Block, kOffset>(w, w_row_bytes, n_rows, act, n, out, nibble_halves<Block>,
                                      nibbles_of_two_blocks<Block>);
  }
}

// The levels of IQ4_NL and MXFP4 looked up per nibble: halves_of_four and bytes_of_two.
template <class Block>
auto looked_up(__m512i levels) {
  return std::pair{
      [levels](const Block* blocks) {
        const HalfBlocks nibbles = nibble_halves(blocks);
        return HalfBlocks{_mm512_shuffle_epi8(levels, nibbles.low), _mm512_shuffle_epi8(levels, nibbles.high)};
      },
      [levels](const Block& x0, const Block& x1) { return _mm512_shuffle_epi8(levels, nibbles_of_two(x0.qs, x1.qs)); }};
}

// IQ4_NL: the levels + 128 (1..241) looked up per nibble.
void dot_iq4_nl(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const auto [four, two] = looked_up<BlockIQ4_NL>(iq4_levels_plus_128());
  dot_four_blocks32<BlockIQ4_NL, 128>(w, w_row_bytes, n_rows, act, n, out, four, two);
}

// Q8_0: the signed quants + 128 (the sign bit flipped). Two blocks per vector: four blocks
// split into halves (dot_four_blocks32), whose 16-byte pieces take four more inserts, ran
// slower (one core, hot, 17.4 -> 18.8 TSC cycles per 256 values at 2048 columns).
void dot_q8_0(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_blocks32_rows<BlockQ8_0, 128>(w, w_row_bytes, n_rows, act, n, out, [](const BlockQ8_0& x0, const BlockQ8_0& x1) {
    return _mm512_xor_si512(join256(load256(x0.qs), load256(x1.qs)), _mm512_set1_epi8(-128));
  });
}

// MXFP4: the doubled FP4 levels + kFp4Offset (0..24).
void dot_mxfp4(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m512i levels = fp4_levels_x64(kFp4Offset);
  const auto [four, two] = looked_up<BlockMXFP4>(levels);
  dot_four_blocks32<BlockMXFP4, kFp4Offset>(w, w_row_bytes, n_rows, act, n, out, four, two);
}

}  // namespace

void add_avx512_blocks32_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::Q8_0, rows_for_each_token<dot_q8_0>);
  set_kernel(table, GgmlType::Q4_0, rows_for_each_token<dot_q4_q5<BlockQ4_0, 8>>);
  set_kernel(table, GgmlType::Q4_1, rows_for_each_token<dot_q4_q5<BlockQ4_1, 0>>);
  set_kernel(table, GgmlType::Q5_0, rows_for_each_token<dot_q4_q5<BlockQ5_0, 16>>);
  set_kernel(table, GgmlType::Q5_1, rows_for_each_token<dot_q4_q5<BlockQ5_1, 0>>);
  set_kernel(table, GgmlType::IQ4_NL, rows_for_each_token<dot_iq4_nl>);
  set_kernel(table, GgmlType::MXFP4, rows_for_each_token<dot_mxfp4>);
}

}  // namespace sluice::quant::fast::detail
