// Matrix-unit kernels of the fast path for prompt batches: 16 weight rows times 16 tokens per
// step on the CPU's matrix unit (Intel AMX: TDPBUSD multiplies a 16 x 64 tile of u8 by a
// 64 x 16 tile of s8 into 16 x 16 int32 sums, ~16x the multiply-adds per cycle of AVX-512
// VNNI).
//
// Same arithmetic as the row kernels (fast_dot.h): the integer sum of each super-block and
// sub-block is exact whichever unit computes it, and the f32 step per super-block is the
// scalar kernel's expression, so a tile kernel's results are bit-identical to row_dot's.
// Used by ops::matmul for batches of at least kMinTileTokens tokens.
//
// Activations are the row kernels' quantized rows (fast_dot.h), repacked once per product
// into the tiles' layout by `pack`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace sluice::quant::fast {

inline constexpr int64_t kTileRows = 16;    // weight rows per step
inline constexpr int64_t kTileTokens = 16;  // tokens per step
inline constexpr int64_t kMinTileTokens = 8;

struct TileKernel {
  // Bytes of the packed activations of n_tokens rows of n_cols values.
  size_t (*packed_bytes)(int64_t n_cols, int64_t n_tokens);
  // Repacks n_tokens quantized activation rows (act_stride bytes apart).
  void (*pack)(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n_cols,
               std::byte* packed);
  // out[t * out_stride + r] = dot(weight row r, token t) for r in [0, n_rows) (a multiple of
  // kTileRows) and every packed token; weight rows are w_row_bytes apart.
  void (*rows)(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* packed,
               int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride);
};

// The tile kernel for `weight_type`, or nullptr: none for this format, no matrix unit, the
// active instruction set below AVX-512, or turned off (SLUICE_AMX=0, set_tile_kernels).
const TileKernel* tile_kernel(GgmlType weight_type);

// Whether this CPU and OS let the process use a matrix unit.
bool matrix_unit_usable();

// Turns the tile kernels on or off (tests, benchmarks); on by default where usable.
void set_tile_kernels(bool enabled);

}  // namespace sluice::quant::fast
