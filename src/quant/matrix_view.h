// A non-owning view of a row-major weight matrix in any GGML block format.
//
// Rows are contiguous in GGUF (ne[0] is the row length), so row r starts at
// data + r * row_bytes. The store hands these out for resident tensors and streamed experts
// alike; ops/ computes with them without knowing where the bytes came from.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace sluice::quant {

struct MatrixView {
  GgmlType type = GgmlType::F32;
  const std::byte* data = nullptr;
  int64_t n_cols = 0;  // row length in elements
  int64_t n_rows = 0;
  uint64_t row_bytes = 0;

  const std::byte* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

inline MatrixView make_matrix_view(GgmlType type, const std::byte* data, int64_t n_cols,
                                   int64_t n_rows) {
  return MatrixView{type, data, n_cols, n_rows, quant::row_bytes(type, static_cast<uint64_t>(n_cols))};
}

}  // namespace sluice::quant
