// Exact decoding of weight rows to float32, and the exact dot product built on it.
//
// This is the reference path: every value is decoded as the format defines it and all
// arithmetic is in f32. Tests against reference logits run on it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace sluice::quant {

// Decodes `n` values (a multiple of the block size) starting at `src` into `dst`.
// `type` must satisfy is_supported_for_compute.
void decode_row(GgmlType type, const std::byte* src, float* dst, int64_t n);

// Sum of a[i] * b[i] in f32 with a fixed summation order (16 interleaved partial sums),
// so results do not depend on how a caller batches rows or tokens.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace sluice::quant
