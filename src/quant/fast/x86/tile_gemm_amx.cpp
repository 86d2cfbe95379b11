// Tile kernels on Intel AMX (tile_gemm.h): the activations' packing, Q4_K and Q5_K weights
// (16 rows x 16 or 32 tokens per step), and the table of kernels (Q6_K's in
// tile_gemm_amx_q6_k.cpp).
//
// A super-block's integer sum is sum_j s_j * sum_{k in j} q_k y_k over its 8 sub-blocks, with
// 6-bit scales s_j and 4-bit (Q5_K: 5-bit) weights q_k. Splitting each scale as s = 8 h + l
// (h, l in 0..7) makes it  8 * sum_k (h_j q_k) y_k + sum_k (l_j q_k) y_k:  two products whose
// weights, h_j q_k and l_j q_k, fit in a byte. So each 16-row tile is unpacked once into those two byte
// matrices, and TDPBUSD sums whole super-blocks (4 steps of 64 values) with no per-sub-block
// work; AVX-512 then combines the two sums (exact int32), computes the minimums' sums from
// the activations' partial sums, and runs the scalar kernel's f32 step on 16 tokens per
// vector. Integer sums are exact and the f32 step is the same, so the results equal the row
// kernels' bit for bit.
//
// Compiled with the AVX-512 and AMX flags; reached only through tile_kernel(), which checks
// that the CPU and the OS allow AMX.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/amx_tiles.h"

namespace sluice::quant::fast::detail {

size_t q8x256_packed_bytes(int64_t n_cols, int64_t n_tokens) {
  const int64_t n_tiles = (n_tokens + kTileTokens - 1) / kTileTokens;
  return static_cast<size_t>(n_tiles * (n_cols / 256)) * sizeof(PackedQ8x256);
}

void pack_q8x256(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n_cols, std::byte* packed) {
  const int64_t nb = n_cols / 256;
  auto* out = reinterpret_cast<PackedQ8x256*>(packed);
  const int64_t n_tiles = (n_tokens + kTileTokens - 1) / kTileTokens;
  std::memset(packed, 0, q8x256_packed_bytes(n_cols, n_tokens));  // tokens past the end: zeros
  for (int64_t tile = 0; tile < n_tiles; ++tile) {
    for (int64_t n = 0; n < kTileTokens && tile * kTileTokens + n < n_tokens; ++n) {
      const Q8x256View y = view_q8x256(act + static_cast<size_t>(tile * kTileTokens + n) * act_stride, n_cols);
      for (int64_t b = 0; b < nb; ++b) {
        PackedQ8x256& p = out[tile * nb + b];
        for (int j = 0; j < 8; ++j) {
          for (int g = 0; g < 8; ++g) std::memcpy(&p.sub_block[j][g][4 * n], y.qs + 256 * b + 32 * j + 4 * g, 4);
        }
        const int16_t* bsums = y.bsums + 16 * b;
        for (int pair = 0; pair < 4; ++pair) {
          const auto lo = static_cast<uint16_t>(bsums[4 * pair] + bsums[4 * pair + 1]);
          const auto hi = static_cast<uint16_t>(bsums[4 * pair + 2] + bsums[4 * pair + 3]);
          p.bsum_pairs[pair][n] = static_cast<int32_t>(static_cast<uint32_t>(hi) << 16 | lo);
        }
        p.d[n] = y.d[b];
      }
    }
  }
}

// out[token * out_stride + r] = sums[r][token - first_token] for the tile's tokens below
// n_tokens: one gathered column of sums per token, stored as 16 consecutive rows.
void store_transposed(const float (&sums)[16][16], int64_t first_token, int64_t n_tokens, float* out,
                      size_t out_stride) {
  const __m512i column = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(16));
  for (int64_t n = 0; n < kTileTokens && first_token + n < n_tokens; ++n) {
    _mm512_storeu_ps(out + static_cast<size_t>(first_token + n) * out_stride,
                     _mm512_i32gather_ps(column, &sums[0][n], sizeof(float)));
  }
}

namespace {

// The upper 32 bytes of a 512-bit vector.
constexpr __mmask64 kUpperHalf8 = 0xffffffff00000000ull;

// 16 Q4_K or Q5_K weight rows unpacked for the tiles: per value the weight times the high and the
// low part of its sub-block's scale, laid out tile by tile (each 64-value chunk of the 16
// rows is one contiguous 1 KiB tile: rows n_cols bytes apart would fall into the same few L1
// sets); per super-block and row the minimums in pairs (for dpwssd against the bsum pairs)
// and the two f32 scales.
struct UnpackedK4 {
  FilesVector<uint8_t, AmxFiles> high, low;  // [block][chunk][row][64]
  FilesVector<int32_t, AmxFiles> min_pairs;  // [block][pair][row]
  FilesVector<float, AmxFiles> d, dmin;      // [block][row]
};

// Products p * q for p in 0..7, q in 0..15, at index 16 p + q: a 128-entry table for vpermi2b,
// in two 64-byte halves.
struct ProductTable {
  __m512i first, second;
};

ProductTable product_table() {
  alignas(64) uint8_t table[128];
  for (int i = 0; i < 128; ++i) table[i] = static_cast<uint8_t>((i >> 4) * (i & 15));
  return {load512(table), load512(table + 64)};
}

// Q5_K's weights are Q4_K's nibbles plus 16 where bit j of qh[l] is set (sub-block j); with
// the bit, p * q gains 16 p, which still fits a byte (7 * 31).
template <class Block>
void unpack_k4_rows(const std::byte* w, size_t w_row_bytes, int64_t n_cols, UnpackedK4& u) {
  constexpr bool kHasHighBit = std::is_same_v<Block, BlockQ5_K>;
  const int64_t nb = n_cols / 256;
  u.high.resize(static_cast<size_t>(16 * n_cols));
  u.low.resize(static_cast<size_t>(16 * n_cols));
  u.min_pairs.resize(static_cast<size_t>(nb * 4 * 16));
  u.d.resize(static_cast<size_t>(nb * 16));
  u.dmin.resize(static_cast<size_t>(nb * 16));
  static const ProductTable products = product_table();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i upper_by_4 = _mm512_maskz_set1_epi16(0xffff0000u, 4);
  // 16 p per byte, p the scale part of the first or second sub-block of a chunk: the table
  // index of p * q is 16 p | q, and 16 p is what Q5_K's bit 4 adds.
  const auto sixteen_times = [](int p_first, int p_second) {
    return _mm512_mask_set1_epi8(_mm512_set1_epi8(static_cast<char>(p_first << 4)), kUpperHalf8,
                                 static_cast<char>(p_second << 4));
  };
  for (int64_t r = 0; r < 16; ++r) {
    const auto* blocks = blocks_of<Block>(w + static_cast<size_t>(r) * w_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      const Block& x = blocks[b];
      alignas(16) uint8_t sm[16];  // scales 0..7, minimums 8..15
      _mm_store_si128(reinterpret_cast<__m128i*>(sm), unpack_k4_scales(x.scales));
      for (int c = 0; c < 4; ++c) {  // chunk c: sub-block 2c in the low nibbles, 2c + 1 high
        const __m512i both = _mm512_broadcast_i64x4(load256(x.qs + 32 * c));
        const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(both, upper_by_4), low4);
        const int s0 = sm[2 * c], s1 = sm[2 * c + 1];
        const __m512i p_high = sixteen_times(s0 >> 3, s1 >> 3), p_low = sixteen_times(s0 & 7, s1 & 7);
        __m512i high = _mm512_permutex2var_epi8(products.first, _mm512_or_si512(p_high, q), products.second);
        __m512i low = _mm512_permutex2var_epi8(products.first, _mm512_or_si512(p_low, q), products.second);
        if constexpr (kHasHighBit) {
          const __m512i bit = _mm512_mask_set1_epi8(_mm512_set1_epi8(static_cast<char>(1 << (2 * c))), kUpperHalf8,
                                                    static_cast<char>(1 << (2 * c + 1)));
          const __mmask64 set = _mm512_test_epi8_mask(_mm512_broadcast_i64x4(load256(x.qh)), bit);
          high = _mm512_mask_add_epi8(high, set, high, p_high);
          low = _mm512_mask_add_epi8(low, set, low, p_low);
        }
        const size_t at = static_cast<size_t>(((b * 4 + c) * 16 + r) * 64);
        _mm512_storeu_si512(u.high.data() + at, high);
        _mm512_storeu_si512(u.low.data() + at, low);
      }
      for (int p = 0; p < 4; ++p) u.min_pairs[(b * 4 + p) * 16 + r] = sm[8 + 2 * p] | sm[9 + 2 * p] << 16;
      u.d[b * 16 + r] = f16(x.d);
      u.dmin[b * 16 + r] = f16(x.dmin);
    }
  }
}

// Adds super-block b's contribution to one token tile's sums[row][token]: the scalar kernel's
// `sum += d * isum - dmin * msum` per (row, token), with isum = 8 high + low.
void add_k4_block(const UnpackedK4& u, int64_t b, const PackedQ8x256& a, const int32_t (&high)[16][16],
                    const int32_t (&low)[16][16], float (&sums)[16][16]) {
  const __m512 y_d = _mm512_loadu_ps(a.d);
  for (int r = 0; r < 16; ++r) {
    const __m512i isum = _mm512_add_epi32(_mm512_slli_epi32(load512(high[r]), 3), load512(low[r]));
    __m512i msum = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
      const __m512i mins = _mm512_set1_epi32(u.min_pairs[(b * 4 + p) * 16 + r]);
      msum = _mm512_dpwssd_epi32(msum, load512(a.bsum_pairs[p]), mins);
    }
    const __m512 d = _mm512_mul_ps(_mm512_set1_ps(u.d[b * 16 + r]), y_d);
    const __m512 dmin = _mm512_mul_ps(_mm512_set1_ps(u.dmin[b * 16 + r]), y_d);
    const __m512 block = _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum)),
                                       _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum)));
    _mm512_storeu_ps(sums[r], _mm512_add_ps(_mm512_loadu_ps(sums[r]), block));
  }
}

// One 16-row tile times kTiles (1 or 2) token tiles over every super-block. Tiles 0-3: the
// high and low sums of the two token tiles; 4, 5: high- and low-part weights of 64 values;
// 6, 7: those values' activations for the two token tiles.
template <int kTiles>
void k4_tiles(const UnpackedK4& u, const PackedQ8x256* const (&acts)[2], int64_t n_cols,
                float (&sums)[2][16][16]) {
  alignas(64) int32_t part[4][16][16];  // [2 * tile + (0 high, 1 low)]
  std::memset(sums, 0, sizeof(sums));
  for (int64_t b = 0; b < n_cols / 256; ++b) {
    const uint8_t* high = u.high.data() + 16 * 256 * b;
    const uint8_t* low = u.low.data() + 16 * 256 * b;
    _tile_zero(0);
    _tile_zero(1);
    if constexpr (kTiles == 2) {
      _tile_zero(2);
      _tile_zero(3);
    }
    for (int c = 0; c < 4; ++c) {  // values 64c .. 64c + 63: sub-blocks 2c, 2c + 1
      _tile_loadd(4, high + 1024 * c, 64);
      _tile_loadd(5, low + 1024 * c, 64);
      _tile_loadd(6, acts[0][b].sub_block[2 * c], 64);
      _tile_dpbusd(0, 4, 6);
      _tile_dpbusd(1, 5, 6);
      if constexpr (kTiles == 2) {
        _tile_loadd(7, acts[1][b].sub_block[2 * c], 64);
        _tile_dpbusd(2, 4, 7);
        _tile_dpbusd(3, 5, 7);
      }
    }
    _tile_stored(0, part[0], 64);
    _tile_stored(1, part[1], 64);
    if constexpr (kTiles == 2) {
      _tile_stored(2, part[2], 64);
      _tile_stored(3, part[3], 64);
    }
    for (int t = 0; t < kTiles; ++t) add_k4_block(u, b, acts[t][b], part[2 * t], part[2 * t + 1], sums[t]);
  }
}

template <class Block>
void k4_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& activations,
             int64_t n_cols, float* out, size_t out_stride) {
  _tile_loadconfig(&kTileConfig);
  thread_local UnpackedK4 unpacked;
  const auto* acts = reinterpret_cast<const PackedQ8x256*>(activations.packed);
  const int64_t n_tokens = activations.n_tokens;
  const int64_t nb = n_cols / 256;
  const int64_t n_token_tiles = (n_tokens + kTileTokens - 1) / kTileTokens;
  for (int64_t r0 = 0; r0 < n_rows; r0 += 16) {
    unpack_k4_rows<Block>(w + static_cast<size_t>(r0) * w_row_bytes, w_row_bytes, n_cols, unpacked);
    for (int64_t tile = 0; tile < n_token_tiles; tile += 2) {
      const bool pair = tile + 1 < n_token_tiles;
      const PackedQ8x256* const tile_acts[2] = {acts + tile * nb, acts + (pair ? tile + 1 : tile) * nb};
      alignas(64) float sums[2][16][16];
      if (pair) {
        k4_tiles<2>(unpacked, tile_acts, n_cols, sums);
      } else {
        k4_tiles<1>(unpacked, tile_acts, n_cols, sums);
      }
      for (int t = 0; t < (pair ? 2 : 1); ++t) {
        store_transposed(sums[t], (tile + t) * kTileTokens, n_tokens, out + r0, out_stride);
      }
    }
  }
  _tile_release();
}

// Fewer tokens leave most of each 16-token tile empty.
constexpr int64_t kMinAmxTokens = 8;
constexpr TileKernel kQ4KTiles{kMinAmxTokens, q8x256_packed_bytes, pack_q8x256, k4_rows<BlockQ4_K>};
constexpr TileKernel kQ5KTiles{kMinAmxTokens, q8x256_packed_bytes, pack_q8x256, k4_rows<BlockQ5_K>};
constexpr TileKernel kQ6KTiles{kMinAmxTokens, q8x256_packed_bytes, pack_q8x256, q6_k_tile_rows};

}  // namespace

const TileKernel* amx_tile_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_K: return &kQ4KTiles;
    case GgmlType::Q5_K: return &kQ5KTiles;
    case GgmlType::Q6_K: return &kQ6KTiles;
    default: return nullptr;
  }
}

}  // namespace sluice::quant::fast::detail
