// What the AMX kernel files (tile_gemm_amx*.cpp) share: the tile configuration, the packed
// activations' layout and the helpers around them. Include only from files compiled with the
// AVX-512 and AMX flags.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "quant/fast/tile_gemm.h"

namespace sluice::quant::fast::detail {

static_assert(kTileRows == 16 && kTileTokens == 16, "one AMX tile holds 16 rows of 16 int32");

// The tile configuration of ldtilecfg (palette 1): all 8 tiles 16 rows of 64 bytes, which
// holds 16 x 16 int32 sums, 16 weight rows of 64 values, or the activations of 64 values for
// 16 tokens (16 rows of 16 tokens x 4 values, as TDPBUSD reads groups of 4 along the sum).
// Each kernel says what it keeps in which tile; the tile intrinsics take literal numbers.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

inline constexpr TileConfig kTileConfig{};

// One super-block of one 16-token tile, as packed.
struct PackedQ8x256 {
  int8_t sub_block[8][8][64];  // [sub-block j][value group g][token n * 4 + i] = y_n[32j + 4g + i]
  int32_t bsum_pairs[4][16];   // [pair p][token]: int16 sums of sub-blocks 2p | 2p + 1 << 16
  float d[16];                 // the tokens' activation scales
};

// Packed activations (the layout above) of n_tokens quantized rows, in 16-token tiles.
size_t q8x256_packed_bytes(int64_t n_cols, int64_t n_tokens);
void pack_q8x256(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n_cols, std::byte* packed);

// out[token * out_stride + r] = sums[r][token - first_token] for the tile's tokens below
// n_tokens.
void store_transposed(const float (&sums)[16][16], int64_t first_token, int64_t n_tokens, float* out,
                      size_t out_stride);

// Q6_K's rows kernel (tile_gemm_amx_q6_k.cpp), a TileKernel::rows.
void q6_k_tile_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& activations,
                    int64_t n_cols, float* out, size_t out_stride);

}  // namespace sluice::quant::fast::detail
