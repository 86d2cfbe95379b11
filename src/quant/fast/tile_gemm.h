// Tile kernels of the fast path for prompt batches: 16 weight rows at a time, unpacked once
// into a layout made for the hardware and then multiplied with every token of the batch.
// Three kinds, the same interface:
//
// - Intel AMX (x86/tile_gemm_amx*.cpp): TDPBUSD multiplies a 16 x 64 tile of u8 by a 64 x 16
//   tile of s8 into 16 x 16 int32 sums, 16 rows times 16 tokens per step.
// - AVX-512 VNNI (x86/tile_gemm_avx512.cpp), for CPUs without a matrix unit: one int32 lane
//   per weight row, so that dpbusd multiplies 4 values of 16 rows by 4 activations of one
//   token (broadcast from memory) and a token's 16 results come out as one vector, with no
//   horizontal sums.
// - AVX2 (x86/tile_gemm_avx2.cpp), the K-quants but Q4_K and the grid i-quants: one row at a
//   time, unpacked into signed bytes, against eight tokens of activations made unsigned by
//   `pack`.
//
// Same arithmetic as the row kernels (fast_dot.h): the integer sum of each super-block and
// sub-block is exact whichever unit computes it, and the f32 step per super-block is the
// scalar kernel's expression, so a tile kernel's results are bit-identical to row_dot's.
// Used by ops::matmul for batches of at least a kernel's min_tokens tokens.
//
// Activations are the row kernels' quantized rows (fast_dot.h); a kernel that wants them in
// another layout repacks them once per product with `pack`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace sluice::quant::fast {

inline constexpr int64_t kTileRows = 16;    // weight rows per step
inline constexpr int64_t kTileTokens = 16;  // tokens per step

// The quantized activations of a batch as a tile kernel reads them.
struct TileActivations {
  const std::byte* rows = nullptr;  // n_tokens quantized rows (fast_dot.h)
  size_t row_stride = 0;            // bytes from one token's row to the next
  const std::byte* packed = nullptr;  // the rows repacked by the kernel's `pack`, if it has one
  int64_t n_tokens = 0;
};

struct TileKernel {
  // The fewest tokens for which this kernel beats the row kernels (fewer: row_dot's).
  int64_t min_tokens;
  // Bytes of the packed activations of n_tokens rows of n_cols values; nullptr (and `pack`
  // nullptr) for kernels that read the quantized rows as they are.
  size_t (*packed_bytes)(int64_t n_cols, int64_t n_tokens);
  // Repacks n_tokens quantized activation rows (act_stride bytes apart).
  void (*pack)(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n_cols,
               std::byte* packed);
  // out[t * out_stride + r] = dot(weight row r, token t) for r in [0, n_rows) (a multiple of
  // kTileRows) and every token; weight rows are w_row_bytes apart.
  void (*rows)(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& acts,
               int64_t n_cols, float* out, size_t out_stride);
};

// Where a tile kernel runs.
enum class TileUnit { kAmx, kAvx512, kAvx2 };

// The tile kernel for `weight_type`, or nullptr: none for this format and instruction set, the
// active set scalar, or turned off (SLUICE_TILES=0, set_tile_kernels). On AVX-512, AMX where
// the CPU and OS allow it and SLUICE_AMX is not 0, else AVX-512 VNNI; on AVX2, AVX2's.
const TileKernel* tile_kernel(GgmlType weight_type);

// The kernel `unit` itself has for `weight_type`, or nullptr (none, or the unit is not usable
// here); ignores the switches above. For tests comparing the units.
const TileKernel* tile_kernel_of(TileUnit unit, GgmlType weight_type);

// Whether this CPU and OS let the process use a matrix unit.
bool matrix_unit_usable();

// Turns the tile kernels on or off (tests, benchmarks); on by default (SLUICE_TILES=0: off).
void set_tile_kernels(bool enabled);

}  // namespace sluice::quant::fast
