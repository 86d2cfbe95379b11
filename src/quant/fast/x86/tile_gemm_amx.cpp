// Tile kernels on Intel AMX (tile_gemm.h): Q4_K weights, 16 rows x 16 tokens per step.
//
// Per 16-row tile the weights are unpacked once into bytes (one per value, the sub-block
// scales and minimums into int32 lanes); per 16-token tile the activations were packed once
// per product (`pack`). Then, for each super-block, TDPBUSD computes the sum of every
// sub-block of 32 values for all 16 x 16 (row, token) pairs; AVX-512 multiplies those by the
// sub-block scales and adds them up (exact int32), computes the minimums' sums from the
// activations' partial sums, and runs the scalar kernel's f32 step on 16 tokens per vector.
//
// Compiled with the AVX-512 and AMX flags; reached only through tile_kernel(), which checks
// that the CPU and the OS allow AMX.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/fast/x86/avx512_common.h"

namespace sluice::quant::fast::detail {
namespace {

static_assert(kTileRows == 16 && kTileTokens == 16, "one AMX tile holds 16 rows of 16 int32");

// The tile configuration of ldtilecfg: palette 1; tiles 0-3 the 16 x 16 int32 sums of four
// sub-blocks; tiles 4 and 5 the 16 rows x 32 weight bytes of a sub-block; tiles 6 and 7 its
// 32 activations of 16 tokens (8 rows of 16 x 4 bytes, as TDPBUSD reads groups of 4 along
// the sum). Four sums in flight hide TDPBUSD's latency; the tile intrinsics take literal
// register numbers.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {64, 64, 64, 64, 32, 32, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 8, 8};
};

// One super-block of one 16-token tile, as packed.
struct PackedQ8x256 {
  int8_t sub_block[8][8][64];  // [sub-block j][value group g][token n * 4 + i] = y_n[32j + 4g + i]
  int32_t bsum_pairs[4][16];   // [pair p][token]: int16 sums of sub-blocks 2p | 2p + 1 << 16
  float d[16];                 // the tokens' activation scales
};

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

// 16 Q4_K weight rows unpacked for the tiles: one byte per value, rows n_cols bytes apart;
// per super-block and row the sub-block scales, the minimums in pairs (for dpwssd against
// the bsum pairs) and the two f32 scales.
struct UnpackedQ4K {
  std::vector<uint8_t> values;   // [row][n_cols]
  std::vector<int32_t> scales;   // [block][sub-block][row]
  std::vector<int32_t> min_pairs;  // [block][pair][row]
  std::vector<float> d, dmin;    // [block][row]
};

void unpack_q4_k_rows(const std::byte* w, size_t w_row_bytes, int64_t n_cols, UnpackedQ4K& u) {
  const int64_t nb = n_cols / 256;
  u.values.resize(static_cast<size_t>(16 * n_cols));
  u.scales.resize(static_cast<size_t>(nb * 8 * 16));
  u.min_pairs.resize(static_cast<size_t>(nb * 4 * 16));
  u.d.resize(static_cast<size_t>(nb * 16));
  u.dmin.resize(static_cast<size_t>(nb * 16));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int64_t r = 0; r < 16; ++r) {
    const auto* blocks = blocks_of<BlockQ4_K>(w + static_cast<size_t>(r) * w_row_bytes);
    uint8_t* row = u.values.data() + r * n_cols;
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_K& x = blocks[b];
      for (int c = 0; c < 4; ++c) {  // chunk c: sub-block 2c in the low nibbles, 2c + 1 high
        const __m256i q = load256(x.qs + 32 * c);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + 256 * b + 64 * c), _mm256_and_si256(q, low4));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + 256 * b + 64 * c + 32),
                            _mm256_and_si256(_mm256_srli_epi16(q, 4), low4));
      }
      alignas(16) uint8_t sm[16];  // scales 0..7, minimums 8..15
      _mm_store_si128(reinterpret_cast<__m128i*>(sm), unpack_k4_scales(x.scales));
      for (int j = 0; j < 8; ++j) u.scales[(b * 8 + j) * 16 + r] = sm[j];
      for (int p = 0; p < 4; ++p) u.min_pairs[(b * 4 + p) * 16 + r] = sm[8 + 2 * p] | sm[9 + 2 * p] << 16;
      u.d[b * 16 + r] = f16(x.d);
      u.dmin[b * 16 + r] = f16(x.dmin);
    }
  }
}

// One 16-row x 16-token tile of a Q4_K product over every super-block; sums[r] holds row r's
// 16 token results.
void q4_k_tile(const UnpackedQ4K& u, const PackedQ8x256* acts, int64_t n_cols, __m512 (&sums)[16]) {
  alignas(64) int32_t sub_sums[4][16][16];
  for (__m512& s : sums) s = _mm512_setzero_ps();
  for (int64_t b = 0; b < n_cols / 256; ++b) {
    const PackedQ8x256& a = acts[b];
    const uint8_t* w = u.values.data() + 256 * b;
    __m512i isum[16];
    for (__m512i& s : isum) s = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {  // sub-blocks 4 half .. 4 half + 3
      const int j = 4 * half;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      _tile_loadd(4, w + 32 * j, n_cols);
      _tile_loadd(6, a.sub_block[j], 64);
      _tile_dpbusd(0, 4, 6);
      _tile_loadd(5, w + 32 * (j + 1), n_cols);
      _tile_loadd(7, a.sub_block[j + 1], 64);
      _tile_dpbusd(1, 5, 7);
      _tile_loadd(4, w + 32 * (j + 2), n_cols);
      _tile_loadd(6, a.sub_block[j + 2], 64);
      _tile_dpbusd(2, 4, 6);
      _tile_loadd(5, w + 32 * (j + 3), n_cols);
      _tile_loadd(7, a.sub_block[j + 3], 64);
      _tile_dpbusd(3, 5, 7);
      _tile_stored(0, sub_sums[0], 64);
      _tile_stored(1, sub_sums[1], 64);
      _tile_stored(2, sub_sums[2], 64);
      _tile_stored(3, sub_sums[3], 64);
      for (int i = 0; i < 4; ++i) {
        const int32_t* scale = u.scales.data() + (b * 8 + j + i) * 16;
        for (int r = 0; r < 16; ++r) {
          isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(load512(sub_sums[i][r]), _mm512_set1_epi32(scale[r])));
        }
      }
    }
    const __m512 y_d = _mm512_loadu_ps(a.d);
    for (int r = 0; r < 16; ++r) {
      __m512i msum = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        msum = _mm512_dpwssd_epi32(msum, load512(a.bsum_pairs[p]), _mm512_set1_epi32(u.min_pairs[(b * 4 + p) * 16 + r]));
      }
      const __m512 d = _mm512_mul_ps(_mm512_set1_ps(u.d[b * 16 + r]), y_d);
      const __m512 dmin = _mm512_mul_ps(_mm512_set1_ps(u.dmin[b * 16 + r]), y_d);
      sums[r] = _mm512_add_ps(sums[r], _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum[r])),
                                                     _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum))));
    }
  }
}

void q4_k_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* packed, int64_t n_tokens,
               int64_t n_cols, float* out, size_t out_stride) {
  static const TileConfig config;
  _tile_loadconfig(&config);
  thread_local UnpackedQ4K unpacked;
  const auto* acts = reinterpret_cast<const PackedQ8x256*>(packed);
  const int64_t nb = n_cols / 256;
  for (int64_t r0 = 0; r0 < n_rows; r0 += 16) {
    unpack_q4_k_rows(w + static_cast<size_t>(r0) * w_row_bytes, w_row_bytes, n_cols, unpacked);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens) {
      __m512 sums[16];
      q4_k_tile(unpacked, acts + (t0 / kTileTokens) * nb, n_cols, sums);
      alignas(64) float lanes[16];
      for (int64_t r = 0; r < 16; ++r) {
        _mm512_store_ps(lanes, sums[r]);
        for (int64_t n = 0; n < kTileTokens && t0 + n < n_tokens; ++n) {
          out[static_cast<size_t>(t0 + n) * out_stride + static_cast<size_t>(r0 + r)] = lanes[n];
        }
      }
    }
  }
  _tile_release();
}

constexpr TileKernel kQ4KTiles{q8x256_packed_bytes, pack_q8x256, q4_k_rows};

}  // namespace

const TileKernel* amx_tile_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_K: return &kQ4KTiles;
    default: return nullptr;
  }
}

}  // namespace sluice::quant::fast::detail
