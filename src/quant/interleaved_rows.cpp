#include "quant/interleaved_rows.h"

#include <cstring>
#include <vector>

#include "util/error.h"

namespace sluice::quant {
namespace {

// Super-block `row_block` of row r (< 8) of a group into the group's block, and back.
void into_group(const BlockQ4_K& row_block, int r, Q4KGroupBlock& group_block) {
  std::memcpy(&group_block.d[r], &row_block.d, sizeof(uint16_t));
  std::memcpy(&group_block.dmin[r], &row_block.dmin, sizeof(uint16_t));
  for (int k = 0; k < 3; ++k) std::memcpy(&group_block.scales[k][r], row_block.scales + 4 * k, sizeof(uint32_t));
  for (int k = 0; k < 32; ++k) std::memcpy(&group_block.qs[k][r], row_block.qs + 4 * k, sizeof(uint32_t));
}

void out_of_group(const Q4KGroupBlock& group_block, int r, BlockQ4_K& row_block) {
  std::memcpy(&row_block.d, &group_block.d[r], sizeof(uint16_t));
  std::memcpy(&row_block.dmin, &group_block.dmin[r], sizeof(uint16_t));
  for (int k = 0; k < 3; ++k) std::memcpy(row_block.scales + 4 * k, &group_block.scales[k][r], sizeof(uint32_t));
  for (int k = 0; k < 32; ++k) std::memcpy(row_block.qs + 4 * k, &group_block.qs[k][r], sizeof(uint32_t));
}

}  // namespace

MatrixView row_slice(const MatrixView& m, int64_t first, int64_t n) {
  SLUICE_ASSERT(first >= 0 && n >= 0 && first + n <= m.n_rows);
  SLUICE_ASSERT(m.order == RowOrder::kRows || (first % kGroupRows == 0 && n % kGroupRows == 0));
  MatrixView view = m;
  view.data = m.row(first);
  view.n_rows = n;
  return view;
}

bool can_group_rows(GgmlType type, int64_t n_cols, int64_t n_rows) {
  return type == GgmlType::Q4_K && n_cols > 0 && n_cols % 256 == 0 && n_rows > 0 && n_rows % kGroupRows == 0;
}

void group_rows(const MatrixView& w, std::byte* data) {
  SLUICE_ASSERT(w.order == RowOrder::kRows && w.data == data && can_group_rows(w.type, w.n_cols, w.n_rows));
  const int64_t n_blocks = w.n_cols / 256;
  std::vector<BlockQ4_K> rows(static_cast<size_t>(kGroupRows * n_blocks));
  for (int64_t g = 0; g < w.n_rows / kGroupRows; ++g) {
    std::byte* group = data + static_cast<size_t>(g * kGroupRows) * w.row_bytes;
    std::memcpy(rows.data(), group, rows.size() * sizeof(BlockQ4_K));
    auto* blocks = reinterpret_cast<Q4KGroupBlock*>(group);
    for (int r = 0; r < kGroupRows; ++r) {
      for (int64_t b = 0; b < n_blocks; ++b) into_group(rows[static_cast<size_t>(r * n_blocks + b)], r, blocks[b]);
    }
  }
}

void copy_rows(const MatrixView& w, int64_t first, int64_t count, std::byte* out) {
  SLUICE_ASSERT(first >= 0 && count >= 0 && first + count <= w.n_rows);
  if (w.order == RowOrder::kRows) {
    std::memcpy(out, w.row(first), static_cast<size_t>(count) * w.row_bytes);
    return;
  }
  const int64_t n_blocks = w.n_cols / 256;
  auto* rows = reinterpret_cast<BlockQ4_K*>(out);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = first + i;
    const auto* blocks = reinterpret_cast<const Q4KGroupBlock*>(w.row(r / kGroupRows * kGroupRows));
    for (int64_t b = 0; b < n_blocks; ++b) out_of_group(blocks[b], static_cast<int>(r % kGroupRows), rows[i * n_blocks + b]);
  }
}

}  // namespace sluice::quant
