#include "store/tensor_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "quant/decode.h"
#include "quant/fast/fast_dot.h"
#include "quant/interleaved_rows.h"

namespace sluice::store {

const gguf::TensorInfo& TensorStore::checked_tensor(std::string_view name,
                                                    std::span<const int64_t> expected_dims) const {
  const gguf::TensorInfo& tensor = file_.require_tensor(name);
  bool same_shape = tensor.dims.size() == expected_dims.size();
  for (size_t i = 0; same_shape && i < expected_dims.size(); ++i) {
    same_shape = tensor.dims[i] == static_cast<uint64_t>(expected_dims[i]);
  }
  if (!same_shape) {
    std::string expected = "[";
    for (size_t i = 0; i < expected_dims.size(); ++i) {
      expected += fmt::format("{}{}", i ? ", " : "", expected_dims[i]);
    }
    throw gguf::GgufError(fmt::format("{}: tensor '{}' has shape {}, expected {}] from the "
                                      "model's hyper-parameters",
                                      file_.path(tensor.part), name, tensor.shape_string(), expected));
  }
  if (!quant::is_supported_for_compute(tensor.type)) {
    throw gguf::GgufError(fmt::format("{}: tensor '{}' has type {}, which sluice cannot compute "
                                      "with yet",
                                      file_.path(tensor.part), name, quant::type_name(tensor.type)));
  }
  return tensor;
}

namespace {

// Reads the rows of `tensor` (n_cols values each, whole groups of 8) into `out` laid out in groups,
// a piece at a time through a buffer that stays in the caches: each byte is written to `out`
// once, where grouping after the read wrote it, read it back and wrote it again (a Q4_K model of
// 17 GB loaded 2.5 s faster).
void read_in_groups(const gguf::GgufFile& file, const gguf::TensorInfo& tensor, int64_t n_cols, std::byte* out) {
  constexpr size_t kPieceBytes = 256 * 1024;
  const size_t row_bytes = quant::row_bytes(tensor.type, static_cast<uint64_t>(n_cols));
  const auto n_rows = static_cast<int64_t>(tensor.n_rows());
  const int64_t piece_rows =
      std::max<int64_t>(1, static_cast<int64_t>(kPieceBytes / row_bytes) / quant::kGroupRows) * quant::kGroupRows;
  std::vector<std::byte> piece(static_cast<size_t>(piece_rows) * row_bytes);
  for (int64_t r = 0; r < n_rows; r += piece_rows) {
    const int64_t count = std::min(piece_rows, n_rows - r);
    const size_t offset = static_cast<size_t>(r) * row_bytes;
    file.read_at(tensor.part, tensor.offset + offset, piece.data(), static_cast<size_t>(count) * row_bytes);
    quant::group_rows_to(quant::make_matrix_view(tensor.type, piece.data(), n_cols, count), out + offset);
  }
}

}  // namespace

std::byte* TensorStore::load_bytes(const gguf::TensorInfo& tensor, bool in_groups, int64_t n_cols) {
  auto it = raw_.find(tensor.name);
  if (it == raw_.end()) {
    LargeBuffer bytes(tensor.n_bytes);
    if (in_groups) {
      read_in_groups(file_, tensor, n_cols, bytes.data());
    } else {
      file_.read_at(tensor.part, tensor.offset, bytes.data(), bytes.size());
    }
    it = raw_.emplace(tensor.name, std::move(bytes)).first;
    resident_bytes_ += tensor.n_bytes;
  }
  return it->second.data();
}

quant::MatrixView TensorStore::load_matrix(std::string_view name,
                                           std::span<const int64_t> expected_dims) {
  const gguf::TensorInfo& tensor = checked_tensor(name, expected_dims);
  const auto n_cols = static_cast<int64_t>(tensor.row_length());
  const auto n_rows = static_cast<int64_t>(tensor.n_rows());
  auto [order, first_load] = row_order_.try_emplace(tensor.name, quant::RowOrder::kRows);
  if (first_load && expected_dims.size() >= 2 && quant::fast::groups_rows(tensor.type) &&
      quant::can_group_rows(tensor.type, n_cols, expected_dims[1])) {
    order->second = quant::RowOrder::kGroupsOf8;
  }
  std::byte* bytes = load_bytes(tensor, order->second == quant::RowOrder::kGroupsOf8, n_cols);
  quant::MatrixView view = quant::make_matrix_view(tensor.type, bytes, n_cols, n_rows);
  view.order = order->second;
  return view;
}

std::span<const float> TensorStore::load_vector(std::string_view name, int64_t n) {
  const int64_t dims[] = {n};
  const gguf::TensorInfo& tensor = checked_tensor(name, dims);
  auto it = widened_.find(tensor.name);
  if (it == widened_.end()) {
    std::vector<std::byte> raw = file_.read_tensor(tensor);
    std::vector<float> values(static_cast<size_t>(n));
    quant::decode_row(tensor.type, raw.data(), values.data(), n);
    resident_bytes_ += values.size() * sizeof(float);
    it = widened_.emplace(tensor.name, std::move(values)).first;
  }
  return it->second;
}

}  // namespace sluice::store
