// The scalar reference decoder of every block format, one `decode` per block struct, and
// decode_blocks, which runs one over consecutive blocks.
//
// Each decode writes Block::kValues floats, computed in f32 exactly as gguf-py's
// quants.dequantize computes them (same operations in the same order), so results match it
// bit for bit. The definitions live in one file per family (decode_legacy.cpp, decode_k.cpp,
// decode_iq.cpp, decode_ternary_fp4.cpp), which also instantiate decode_blocks for their
// formats so the per-block decode is inlined into the row loop.
#pragma once

#include <cstdint>

#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/blocks_ternary_fp4.h"

namespace sluice::quant {

void decode(const BlockQ4_0& block, float* out);
void decode(const BlockQ4_1& block, float* out);
void decode(const BlockQ5_0& block, float* out);
void decode(const BlockQ5_1& block, float* out);
void decode(const BlockQ8_0& block, float* out);

void decode(const BlockQ2_K& block, float* out);
void decode(const BlockQ3_K& block, float* out);
void decode(const BlockQ4_K& block, float* out);
void decode(const BlockQ5_K& block, float* out);
void decode(const BlockQ6_K& block, float* out);

void decode(const BlockIQ2_XXS& block, float* out);
void decode(const BlockIQ2_XS& block, float* out);
void decode(const BlockIQ2_S& block, float* out);
void decode(const BlockIQ3_XXS& block, float* out);
void decode(const BlockIQ3_S& block, float* out);
void decode(const BlockIQ1_S& block, float* out);
void decode(const BlockIQ1_M& block, float* out);
void decode(const BlockIQ4_NL& block, float* out);
void decode(const BlockIQ4_XS& block, float* out);

void decode(const BlockTQ1_0& block, float* out);
void decode(const BlockTQ2_0& block, float* out);
void decode(const BlockMXFP4& block, float* out);
void decode(const BlockNVFP4& block, float* out);

// Decodes n_blocks consecutive blocks into n_blocks * Block::kValues floats.
template <class Block>
void decode_blocks(const Block* blocks, int64_t n_blocks, float* out) {
  for (int64_t b = 0; b < n_blocks; ++b) decode(blocks[b], out + b * Block::kValues);
}

// Instantiated next to each format's decode (see above), not in the caller.
extern template void decode_blocks(const BlockQ4_0*, int64_t, float*);
extern template void decode_blocks(const BlockQ4_1*, int64_t, float*);
extern template void decode_blocks(const BlockQ5_0*, int64_t, float*);
extern template void decode_blocks(const BlockQ5_1*, int64_t, float*);
extern template void decode_blocks(const BlockQ8_0*, int64_t, float*);
extern template void decode_blocks(const BlockQ2_K*, int64_t, float*);
extern template void decode_blocks(const BlockQ3_K*, int64_t, float*);
extern template void decode_blocks(const BlockQ4_K*, int64_t, float*);
extern template void decode_blocks(const BlockQ5_K*, int64_t, float*);
extern template void decode_blocks(const BlockQ6_K*, int64_t, float*);
extern template void decode_blocks(const BlockIQ2_XXS*, int64_t, float*);
extern template void decode_blocks(const BlockIQ2_XS*, int64_t, float*);
extern template void decode_blocks(const BlockIQ2_S*, int64_t, float*);
extern template void decode_blocks(const BlockIQ3_XXS*, int64_t, float*);
extern template void decode_blocks(const BlockIQ3_S*, int64_t, float*);
extern template void decode_blocks(const BlockIQ1_S*, int64_t, float*);
extern template void decode_blocks(const BlockIQ1_M*, int64_t, float*);
extern template void decode_blocks(const BlockIQ4_NL*, int64_t, float*);
extern template void decode_blocks(const BlockIQ4_XS*, int64_t, float*);
extern template void decode_blocks(const BlockTQ1_0*, int64_t, float*);
extern template void decode_blocks(const BlockTQ2_0*, int64_t, float*);
extern template void decode_blocks(const BlockMXFP4*, int64_t, float*);
extern template void decode_blocks(const BlockNVFP4*, int64_t, float*);

}  // namespace sluice::quant
