// Block layouts of the ternary formats (TQ1_0, TQ2_0: values in {-1, 0, +1} times a scale)
// and the 4-bit float formats (MXFP4, NVFP4: E2M1 values times a block scale).
#pragma once

#include <cstdint>

#include "quant/blocks_k.h"

namespace sluice::quant {

// TQ1_0: 5 ternary digits per byte (base 3, stored scaled as ceil(x * 256 / 243) so that
// digit k is the top of (byte * 3^k mod 256) * 3 >> 8), 4 per byte in qh. Digit k of qs[l]
// (l < 32) is value 32k + l, of qs[32 + l] (l < 16) value 160 + 16k + l, of qh[l] value
// 240 + 4k + l. value = d * (digit - 1).
struct BlockTQ1_0 {
  static constexpr int kValues = kSuperBlockValues;
  uint8_t qs[48];
  uint8_t qh[4];
  uint16_t d;  // f16
};
static_assert(sizeof(BlockTQ1_0) == 54);

// TQ2_0: 2 bits per value, laid out as Q2_K's qs. value = d * (q - 1).
struct BlockTQ2_0 {
  static constexpr int kValues = kSuperBlockValues;
  uint8_t qs[64];
  uint16_t d;  // f16
};
static_assert(sizeof(BlockTQ2_0) == 66);

// MXFP4 (OCP microscaling): 32 E2M1 values with one E8M0 (power of two) scale. Low nibbles
// hold values 0..15, high nibbles 16..31.
struct BlockMXFP4 {
  static constexpr int kValues = 32;
  uint8_t e;  // E8M0
  uint8_t qs[16];
};
static_assert(sizeof(BlockMXFP4) == 17);

// NVFP4: 4 sub-blocks of 16 E2M1 values, each with an unsigned E4M3 scale. Sub-block s uses
// qs[8s..8s+7]: low nibbles values 0..7, high nibbles values 8..15.
struct BlockNVFP4 {
  static constexpr int kValues = 64;
  uint8_t d[4];  // UE4M3
  uint8_t qs[32];
};
static_assert(sizeof(BlockNVFP4) == 36);

}  // namespace sluice::quant
