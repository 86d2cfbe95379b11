// Block layouts of the K-quants (Q2_K ... Q6_K): 256-value super-blocks split into
// sub-blocks of 16 or 32 values, each with its own small integer scale (and minimum) that
// multiplies one f16 super-block scale.
#pragma once

#include <cstdint>

namespace sluice::quant {

inline constexpr int kSuperBlockValues = 256;  // QK_K

// Q2_K: 16 sub-blocks of 16. scales[i]: low nibble the scale, high nibble the minimum of
// sub-block i. value = d * scale * q - dmin * min, q 2-bit. qs byte l of chunk c (32 bytes,
// 128 values) holds values 128c + 32s + l in bits 2s..2s+1.
struct BlockQ2_K {
  static constexpr int kValues = kSuperBlockValues;
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;     // f16
  uint16_t dmin;  // f16
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (bias 32) packed in 12 bytes.
// value = d * scale * (q2 - 4 * !hbit): the low 2 bits laid out as in Q2_K, the high bit of
// value 32b + l is bit b of hmask[l], and a clear bit subtracts 4.
struct BlockQ3_K {
  static constexpr int kValues = kSuperBlockValues;
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;  // f16
};
static_assert(sizeof(BlockQ3_K) == 110);

// Q4_K: 8 sub-blocks of 32 with 6-bit scales and minimums packed in 12 bytes.
// value = d * scale * q - dmin * min, q 4-bit; qs chunk c (32 bytes) holds sub-block 2c in
// its low nibbles and 2c + 1 in its high nibbles.
struct BlockQ4_K {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;     // f16
  uint16_t dmin;  // f16
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q5_K: Q4_K plus a fifth bit: bit j of qh[l] is bit 4 of value l of sub-block j.
struct BlockQ5_K {
  static constexpr int kValues = kSuperBlockValues;
  uint16_t d;     // f16
  uint16_t dmin;  // f16
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: 16 sub-blocks of 16 with int8 scales. value = d * scale * (q - 32), q 6-bit: within
// each half of 128 values, ql byte m holds values m (low nibble) and 64 + m (high nibble);
// qh byte l holds bits 4..5 of values 32s + l in bits 2s..2s+1.
struct BlockQ6_K {
  static constexpr int kValues = kSuperBlockValues;
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;  // f16
};
static_assert(sizeof(BlockQ6_K) == 210);

}  // namespace sluice::quant
