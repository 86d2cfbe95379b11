// Weight rows laid out in groups of 8 with their blocks interleaved, for the one-token
// kernels (quant/fast/group_dot.h).
//
// A one-token product reads each row once, and a row-at-a-time kernel ends every 32 values
// of a sub-block with its own scale multiply and every super-block with a horizontal sum
// across vector lanes: for Q4_K, shuffles and packs that took more of the core than the dot
// products themselves. With 8 rows interleaved, each 32-bit lane of a vector holds one row:
// four quant bytes of each of 8 rows meet the same four activations (one broadcast), a
// sub-block's 8 scales apply in one multiply, and the 8 rows' sums come out in 8 lanes
// without any horizontal step.
//
// A group of 8 rows takes exactly the bytes of those rows, so a matrix is interleaved in
// place and keeps its size, and rows [8 g, 8 g + 8) still start at data + 8 g * row_bytes:
// a view of whole groups (an expert of a stacked tensor) is sliced as before.
//
// A block is read as its fields (16-bit, or MXFP4's exponent byte) and its 32-bit words, in
// block order (GroupShape): Q2_K is 20 words (4 of scales, 16 of quants), then d and dmin;
// Q3_K is 27 words (8 of high bits, 16 of low bits, 3 of packed scales), then d; Q4_K is d,
// dmin, then 35 words (3 of packed scales, 32 of quants); Q5_K is d, dmin, then 43 words (3 of
// packed scales, 8 of fifth bits, 32 of quants); Q6_K is 52 words (32 of low quant bits, 16 of
// high bits, 4 of scales), then d; IQ4_XS is d, scales_h, then 33 words (low scale bits, 32 of
// quants); the 32-value formats are d (Q4_1 and Q5_1: d, m; MXFP4: e), then their quants as
// words (Q5_0 and Q5_1: the fifth bits' word first); NVFP4 is 9 words, its 4 scale bytes and
// then 8 of quants. Block b of a group holds each field and each word of its 8 rows side by
// side, in the same order (Q2KGroupBlock, Q3KGroupBlock, Q4KGroupBlock, Q5KGroupBlock,
// Q6KGroupBlock, IQ4XSGroupBlock, Blocks32GroupBlock, Mxfp4GroupBlock, Nvfp4GroupBlock). The
// bytes are the rows' own, only moved: decoding a row of the group gives the row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/blocks_ternary_fp4.h"
#include "quant/matrix_view.h"

namespace sluice::quant {

inline constexpr int64_t kGroupRows = 8;

struct Q4KGroupBlock {
  uint16_t d[kGroupRows];
  uint16_t dmin[kGroupRows];
  uint32_t scales[3][kGroupRows];  // word k of row r's 12 packed scale bytes
  uint32_t qs[32][kGroupRows];     // word k of row r's 128 quant bytes
};
static_assert(sizeof(Q4KGroupBlock) == kGroupRows * sizeof(BlockQ4_K));

struct Q6KGroupBlock {
  uint32_t ql[32][kGroupRows];     // word k of row r's low 4 bits
  uint32_t qh[16][kGroupRows];     // word k of row r's high 2 bits
  uint32_t scales[4][kGroupRows];  // word k of row r's 16 int8 scales
  uint16_t d[kGroupRows];
};
static_assert(sizeof(Q6KGroupBlock) == kGroupRows * sizeof(BlockQ6_K));

struct Q2KGroupBlock {
  uint32_t scales[4][kGroupRows];  // word k of row r's 16 scale bytes (scale low, minimum high)
  uint32_t qs[16][kGroupRows];     // word k of row r's 64 quant bytes
  uint16_t d[kGroupRows];
  uint16_t dmin[kGroupRows];
};
static_assert(sizeof(Q2KGroupBlock) == kGroupRows * sizeof(BlockQ2_K));

struct Q3KGroupBlock {
  uint32_t hmask[8][kGroupRows];   // word k of row r's 32 high-bit bytes
  uint32_t qs[16][kGroupRows];     // word k of row r's 64 low-bit bytes
  uint32_t scales[3][kGroupRows];  // word k of row r's 12 packed scale bytes
  uint16_t d[kGroupRows];
};
static_assert(sizeof(Q3KGroupBlock) == kGroupRows * sizeof(BlockQ3_K));

struct Q5KGroupBlock {
  uint16_t d[kGroupRows];
  uint16_t dmin[kGroupRows];
  uint32_t scales[3][kGroupRows];  // word k of row r's 12 packed scale bytes
  uint32_t qh[8][kGroupRows];      // word k of row r's 32 fifth-bit bytes
  uint32_t qs[32][kGroupRows];     // word k of row r's 128 quant bytes
};
static_assert(sizeof(Q5KGroupBlock) == kGroupRows * sizeof(BlockQ5_K));

struct IQ4XSGroupBlock {
  uint16_t d[kGroupRows];
  uint16_t scales_h[kGroupRows];
  uint32_t scales_l[kGroupRows];  // row r's 4 bytes of low scale bits
  uint32_t qs[32][kGroupRows];    // word k of row r's 128 quant bytes
};
static_assert(sizeof(IQ4XSGroupBlock) == kGroupRows * sizeof(BlockIQ4_XS));

// Block b of 8 rows of a 32-value format with kHalves 16-bit fields and kWords words of quants.
template <int kHalves, int kWords>
struct Blocks32GroupBlock {
  uint16_t halves[kHalves][kGroupRows];  // d (and m) of each row
  uint32_t words[kWords][kGroupRows];    // word k of row r's quants
};

// MXFP4's: the rows' exponent bytes, then their quants.
struct Mxfp4GroupBlock {
  uint8_t e[kGroupRows];
  uint32_t words[4][kGroupRows];
};
static_assert(sizeof(Mxfp4GroupBlock) == kGroupRows * sizeof(BlockMXFP4));

// NVFP4's: the rows' 4 scale bytes as one word, then their 8 words of quants.
struct Nvfp4GroupBlock {
  uint32_t d[kGroupRows];
  uint32_t words[8][kGroupRows];
};
static_assert(sizeof(Nvfp4GroupBlock) == kGroupRows * sizeof(BlockNVFP4));

// Whether a matrix of `type` with these dimensions can be laid out in groups: Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K, IQ4_XS, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 or NVFP4, whole groups of
// rows.
bool can_group_rows(GgmlType type, int64_t n_cols, int64_t n_rows);

// Rearranges the rows of `w` (plain rows, can_group_rows) into groups of 8, in place: `data`
// is w.data, writable. The result's view is w with order RowOrder::kGroupsOf8.
void group_rows(const MatrixView& w, std::byte* data);

// The same into `out` (w's size, not overlapping w): w itself stays as it is.
void group_rows_to(const MatrixView& w, std::byte* out);

// Copies rows [first, first + count) of `w`, in any order, to `out` as plain rows
// (count * w.row_bytes bytes).
void copy_rows(const MatrixView& w, int64_t first, int64_t count, std::byte* out);

}  // namespace sluice::quant
