// Random but valid weight blocks, for synthetic models (`sluice synth`) and benchmarks.
//
// Quantized blocks get random quants and small fixed scales, so every value decodes to a
// finite number of roughly the requested magnitude; float formats get uniform values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "quant/ggml_type.h"

namespace sluice::quant {

// Whether fill_random_blocks supports `type`.
bool can_fill_random(GgmlType type);

// Fills `out` (a whole number of blocks of `type`) from the stream of a generator seeded
// with `seed`; values are of magnitude about `scale`.
void fill_random_blocks(GgmlType type, std::span<std::byte> out, uint64_t seed, float scale);

}  // namespace sluice::quant
