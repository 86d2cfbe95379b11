// Block layouts of the 32-value GGUF formats ("legacy" quants Q4_0 ... Q8_0), one struct per
// format, sized as the format defines them. f16 fields hold IEEE half bits; multi-byte
// fields are little-endian, as GGUF is.
//
// The other families live beside this file: blocks_k.h (K-quants), blocks_iq.h (i-quants),
// blocks_ternary_fp4.h (TQ1_0, TQ2_0, MXFP4, NVFP4). kValues is the block's element count.
#pragma once

#include <cstdint>

namespace sluice::quant {

// Q4_0: 32 values, value = d * (q - 8) with 4-bit q. Low nibbles of qs hold values 0..15,
// high nibbles values 16..31.
struct BlockQ4_0 {
  static constexpr int kValues = 32;
  uint16_t d;  // f16
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_1: value = d * q + m with 4-bit q, nibbles ordered as in Q4_0.
struct BlockQ4_1 {
  static constexpr int kValues = 32;
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0: value = d * (q - 16) with 5-bit q: the low 4 bits as in Q4_0, bit 4 of value j is
// bit j of the little-endian 32-bit qh.
struct BlockQ5_0 {
  static constexpr int kValues = 32;
  uint16_t d;  // f16
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1: value = d * q + m with 5-bit q laid out as in Q5_0.
struct BlockQ5_1 {
  static constexpr int kValues = 32;
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// Q8_0: 32 int8 values sharing one f16 scale. value = d * qs[i].
struct BlockQ8_0 {
  static constexpr int kValues = 32;
  uint16_t d;  // f16
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

}  // namespace sluice::quant
