// Quantization of f32 rows into GGUF block formats: the inverse of decode.h, used by
// `sluice quantize`.
//
// Without an importance matrix, as llama.cpp's reference quantizers (`quantize_row_*_ref` in
// ggml-quants.c) do it, so that a file written here has the quality of one written by
// `llama-quantize IN OUT TYPE`:
//   - 32-value formats: one scale per block from the block's extreme value(s), values
//     rounded to the nearest level (quantize_legacy.cpp);
//   - Q4_K / Q5_K: per 32-value sub-block an affine fit (scale and minimum) searched over
//     candidate scales to minimise a weighted squared error; Q6_K: per 16-value sub-block a
//     symmetric scale searched the same way; the sub-block scales are then quantized to 6 or
//     8 bits against one f16 super-block scale (quantize_k.cpp).
// Scalar code: quantizing runs once per model, and a thread pool in the caller splits rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks.h"
#include "quant/blocks_k.h"
#include "quant/ggml_type.h"

namespace sluice::quant {

// Whether quantize_row can write `type`: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K,
// Q5_K, Q6_K.
bool can_quantize(GgmlType type);

// Writes `n` values from `src` (finite; n a multiple of the block size of `type`) as
// row_bytes(type, n) bytes at `dst`. `type` must satisfy can_quantize.
void quantize_row(GgmlType type, const float* src, std::byte* dst, int64_t n);

// The IEEE binary16 value nearest to `value` (ties to even; beyond the f16 range: infinity),
// as block scales are stored.
uint16_t f32_to_f16_nearest(float value);

// One quantizer per format: `n_blocks` blocks from n_blocks * Block::kValues values.
void quantize_blocks(const float* src, BlockQ4_0* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ4_1* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ5_0* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ5_1* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ8_0* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ4_K* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ5_K* dst, int64_t n_blocks);
void quantize_blocks(const float* src, BlockQ6_K* dst, int64_t n_blocks);

}  // namespace sluice::quant
