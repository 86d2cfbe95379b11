// Block layouts of the i-quants. Most pick each group of 8 (or 4) magnitudes from a fixed
// grid (quant_tables.h) by index and store the signs separately; IQ1 grids hold -1/0/+1
// shifted by a per-group delta; IQ4 maps 4-bit codes through a non-linear table.
#pragma once

#include <cstdint>

#include "quant/blocks_k.h"

namespace sluice::quant {

// IQ2_XXS: 8 groups of 32. Group ib is two 32-bit words (qs[4ib..4ib+3]): the first holds 4
// grid indices (one byte per 8 values), the second four 7-bit sign indices (bits 7k..7k+6)
// and a 4-bit scale (bits 28..31). value = d * (0.5 + scale) / 4 * grid * sign.
struct BlockIQ2_XXS {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint16_t qs[32];
};
static_assert(sizeof(BlockIQ2_XXS) == 66);

// IQ2_XS: 32 entries of 8 values, each a 9-bit grid index and a 7-bit sign index; 16 4-bit
// scales, one per 16 values (two per byte, low nibble first).
struct BlockIQ2_XS {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint16_t qs[32];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIQ2_XS) == 74);

// IQ2_S: 32 entries of 8 values with 10-bit grid indices (low 8 bits in qs, high 2 bits in
// qh, four per byte) and 8 explicit sign bits each; 16 4-bit scales as in IQ2_XS.
struct BlockIQ2_S {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint8_t qs[32];
  uint8_t signs[32];
  uint8_t qh[8];
  uint8_t scales[8];
};
static_assert(sizeof(BlockIQ2_S) == 82);

// IQ3_XXS: 64 grid indices of 4 values each, then per group of 32 one 32-bit word holding
// four 7-bit sign indices and a 4-bit scale (as IQ2_XXS). value = d * (0.5 + scale) / 2 * ...
struct BlockIQ3_XXS {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint8_t qs[64];
  uint8_t scales_and_signs[32];
};
static_assert(sizeof(BlockIQ3_XXS) == 98);

// IQ3_S: 64 grid indices of 4 values, 9 bits each (the 9th in qh), 8 explicit sign bits per
// 8 values, 8 4-bit scales (one per 32 values). value = d * (1 + 2 * scale) * grid * sign.
struct BlockIQ3_S {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t signs[32];
  uint8_t scales[4];
};
static_assert(sizeof(BlockIQ3_S) == 110);

// IQ1_S: 32 entries of 8 values with 11-bit indices into the ternary grid: the low 8 bits in
// qs, 3 more per entry in qh[ib] (bits 3k..3k+2 for entry 4ib + k). qh[ib] bits 12..14 are the
// 3-bit scale of group ib (32 values), bit 15 the sign of its delta.
// value = d * (2 * scale + 1) * (grid + delta), delta = +-1/8.
struct BlockIQ1_S {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint8_t qs[32];
  uint16_t qh[8];
};
static_assert(sizeof(BlockIQ1_S) == 50);

// IQ1_M: like IQ1_S but per entry its own delta sign, and 16 3-bit scales (one per 16
// values). Each qh nibble is one entry's 3 high index bits and delta sign. The f16 super-block
// scale has no field of its own: its 4 nibbles are the top nibbles of the 4 scale words.
struct BlockIQ1_M {
  static constexpr int kValues = kSuperBlockValues;
  uint8_t qs[32];
  uint8_t qh[16];
  uint16_t scales[4];
};
static_assert(sizeof(BlockIQ1_M) == 56);

// The f16 bits of an IQ1_M block's super-block scale, gathered from the top nibbles of its
// four scale words.
inline uint16_t iq1_m_scale_bits(const BlockIQ1_M& block) {
  return static_cast<uint16_t>((block.scales[0] >> 12) | ((block.scales[1] >> 8) & 0x00f0) |
                               ((block.scales[2] >> 4) & 0x0f00) | (block.scales[3] & 0xf000));
}

// IQ4_NL: value = d * kValuesIq4nl[q], 4-bit q, nibbles ordered as in Q4_0.
struct BlockIQ4_NL {
  static constexpr int kValues = 32;
  uint16_t d;  // f16
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

// IQ4_XS: 8 groups of 32 as IQ4_NL, each with a signed 6-bit scale (bias 32): low 4 bits in
// scales_l (two per byte), high 2 bits in scales_h (bits 2ib..2ib+1).
struct BlockIQ4_XS {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;  // f16
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

}  // namespace sluice::quant
