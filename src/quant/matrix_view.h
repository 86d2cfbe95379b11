// A non-owning view of a weight matrix in any GGML block format.
//
// Rows are contiguous in GGUF (ne[0] is the row length), so row r starts at
// data + r * row_bytes. The store hands these out for resident tensors and streamed experts
// alike; ops/ computes with them without knowing where the bytes came from. The store may
// lay a resident matrix out in groups of 8 rows for the one-token kernels
// (quant/interleaved_rows.h): each group takes its rows' bytes, so row(r) still gives where
// r's group starts when r is a multiple of 8, and whole groups slice as rows do.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace sluice::quant {

// How the rows lie: one after another, or in groups of 8 (quant/interleaved_rows.h).
enum class RowOrder : uint8_t { kRows, kGroupsOf8 };

struct MatrixView {
  GgmlType type = GgmlType::F32;
  const std::byte* data = nullptr;
  int64_t n_cols = 0;  // row length in elements
  int64_t n_rows = 0;
  uint64_t row_bytes = 0;
  RowOrder order = RowOrder::kRows;

  const std::byte* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

// Rows [first, first + n) of m. Rows in groups of 8 slice at whole groups only.
MatrixView row_slice(const MatrixView& m, int64_t first, int64_t n);

inline MatrixView make_matrix_view(GgmlType type, const std::byte* data, int64_t n_cols,
                                   int64_t n_rows) {
  return MatrixView{type, data, n_cols, n_rows, quant::row_bytes(type, static_cast<uint64_t>(n_cols)), RowOrder::kRows};
}

}  // namespace sluice::quant
