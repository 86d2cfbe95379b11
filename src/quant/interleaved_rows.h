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
// a view of whole groups (an expert of a stacked tensor) is sliced as before. Super-block b
// of the group is one Q4KGroupBlock:
//
//   d[8], dmin[8]     row r's f16 scales
//   scales[3][8]      word k of row r's 12 packed scale bytes (bytes 4 k .. 4 k + 3)
//   qs[32][8]         word k of row r's 128 quant bytes (bytes 4 k .. 4 k + 3)
//
// The bytes are the rows' own, only moved: decoding a row of the group gives the row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks_k.h"
#include "quant/matrix_view.h"

namespace sluice::quant {

inline constexpr int64_t kGroupRows = 8;

struct Q4KGroupBlock {
  uint16_t d[kGroupRows];
  uint16_t dmin[kGroupRows];
  uint32_t scales[3][kGroupRows];
  uint32_t qs[32][kGroupRows];
};
static_assert(sizeof(Q4KGroupBlock) == kGroupRows * sizeof(BlockQ4_K));

// Whether a matrix of `type` with these dimensions can be laid out in groups: Q4_K, whole
// groups of rows.
bool can_group_rows(GgmlType type, int64_t n_cols, int64_t n_rows);

// Rearranges the rows of `w` (plain rows, can_group_rows) into groups of 8, in place: `data`
// is w.data, writable. The result's view is w with order RowOrder::kGroupsOf8.
void group_rows(const MatrixView& w, std::byte* data);

// Copies rows [first, first + count) of `w`, in any order, to `out` as plain rows
// (count * w.row_bytes bytes).
void copy_rows(const MatrixView& w, int64_t first, int64_t count, std::byte* out);

}  // namespace sluice::quant
