// Where each tensor lives, and the resident copies of the dense ones.
//
// Models ask for tensors by their GGUF names; the store checks their shape and type, reads
// them once with pread into memory it owns (LargeBuffer: huge pages where the OS gives them),
// and hands out views. It never does math.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_file.h"
#include "quant/matrix_view.h"
#include "util/large_buffer.h"

namespace sluice::store {

class TensorStore {
 public:
  explicit TensorStore(const gguf::GgufFile& file) : file_(file) {}

  const gguf::GgufFile& file() const { return file_; }
  bool has(std::string_view name) const { return file_.find_tensor(name) != nullptr; }

  // The tensor as a matrix of rows of `n_cols`: its dims must be exactly `expected_dims`
  // (ne[0] first) and its type one quant/ computes with; otherwise a GgufError names the
  // tensor and what was expected. Where the fast path's one-token kernels want it
  // (quant::fast::groups_rows) and each matrix of the tensor (dims[1] rows) is whole groups,
  // its rows are laid out in groups of 8 (quant/interleaved_rows.h) as they are read.
  quant::MatrixView load_matrix(std::string_view name, std::span<const int64_t> expected_dims);

  // A 1-D tensor of `n` values widened to f32 (norm weights, biases).
  std::span<const float> load_vector(std::string_view name, int64_t n);

  // Bytes of tensor data held resident.
  uint64_t resident_bytes() const { return resident_bytes_; }

 private:
  const gguf::TensorInfo& checked_tensor(std::string_view name,
                                         std::span<const int64_t> expected_dims) const;
  // The tensor's bytes, read on first use; with `in_groups`, its rows of `n_cols` values are
  // laid out in groups of 8 (quant/interleaved_rows.h).
  std::byte* load_bytes(const gguf::TensorInfo& tensor, bool in_groups = false, int64_t n_cols = 0);

  const gguf::GgufFile& file_;
  std::unordered_map<std::string, LargeBuffer> raw_;  // huge pages: decode streams these
  std::unordered_map<std::string, quant::RowOrder> row_order_;  // of each matrix loaded
  std::unordered_map<std::string, std::vector<float>> widened_;
  uint64_t resident_bytes_ = 0;
};

}  // namespace sluice::store
