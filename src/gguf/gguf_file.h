// GGUF v2/v3 reader: header, metadata, tensor table, data offset.
//
// Every count, length, type id, offset and size read from the file is validated before it
// is used (with overflow checks), so a corrupt or hostile file yields a GgufError naming the
// problem instead of a crash or a huge allocation. Tensor data is read with pread into
// buffers the caller owns; the file is never memory-mapped.
//
// A model split into parts (`NAME-00001-of-0000N.gguf`, written by llama.cpp's gguf-split:
// every part a GGUF with `split.no`, `split.count` and `split.tensors.count`, metadata in the
// first, tensors spread over all) is opened from its first part: the other parts are found by
// the same naming convention, checked against the first, and their tensor tables merged into
// one, each tensor remembering the part that holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "quant/ggml_type.h"
#include "util/error.h"

namespace sluice::gguf {

class GgufError : public Error {
 public:
  using Error::Error;
};

// Metadata value types, numbered as in the GGUF format.
enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

std::string_view value_type_name(ValueType type);

struct Value;
struct Array {
  ValueType element_type = ValueType::UINT8;
  std::vector<Value> items;
};

// One metadata value. Integers of every width are widened to uint64/int64, floats to double;
// `type` keeps the width the file used.
struct Value {
  ValueType type = ValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;

  bool is_integer() const;
  bool is_float() const { return type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }
  // Each throws GgufError when the value is not of a compatible kind or does not fit.
  uint64_t as_uint() const;
  int64_t as_int() const;
  double as_float() const;  // accepts integers too
  bool as_bool() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  // Short human-readable form ("[1024 x string]" for long arrays) for `inspect`.
  std::string to_display_string(size_t max_items = 8) const;
};

struct TensorInfo {
  std::string name;
  quant::GgmlType type = quant::GgmlType::F32;
  std::vector<uint64_t> dims;  // ne[0] first: ne[0] is the row length (contiguous)
  uint64_t offset = 0;         // absolute byte offset in the file part that holds it
  uint32_t part = 0;           // which file part holds it (0: the file opened)
  uint64_t n_bytes = 0;
  uint64_t n_elements = 0;

  uint64_t row_length() const { return dims.empty() ? 1 : dims[0]; }
  uint64_t n_rows() const { return dims.empty() ? 1 : n_elements / dims[0]; }
  std::string shape_string() const;  // "[64, 1024]"
};

// Hard limits on what a file may declare; beyond them it is refused as corrupt.
struct ReaderLimits {
  uint64_t max_tensors = 1u << 20;
  uint64_t max_metadata_entries = 1u << 20;
  uint64_t max_array_items = 1ull << 28;
  uint64_t max_string_bytes = 1ull << 30;
  uint32_t max_array_depth = 8;
  uint32_t max_dims = 4;
};

// How a file that is one part of a split model is opened.
enum class SplitParts {
  kFollow,        // the first part opens all parts; a later part opens as itself
  kThisFileOnly,  // never opens other files
};

class GgufFile {
 public:
  // Opens and validates `path`; throws GgufError (or sluice::Error for I/O problems). With
  // kFollow, a first part with `split.count` > 1 also opens and validates the other parts
  // (GgufError naming a missing or inconsistent part).
  explicit GgufFile(const std::string& path, const ReaderLimits& limits = {},
                    SplitParts split = SplitParts::kFollow);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  GgufFile(GgufFile&& other) noexcept;
  GgufFile& operator=(GgufFile&&) = delete;

  // The file opened (the first part of a split model).
  const std::string& path() const { return parts_.front().path; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return parts_.front().size; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  int fd() const { return parts_.front().fd; }

  // The file parts whose tensors this object lists: 1 unless a split model was opened from
  // its first part. Part 0 is the file opened.
  size_t n_parts() const { return parts_.size(); }
  const std::string& path(size_t part) const { return parts_.at(part).path; }
  uint64_t part_size(size_t part) const { return parts_.at(part).size; }
  uint64_t part_data_offset(size_t part) const { return parts_.at(part).data_offset; }
  int fd(size_t part) const { return parts_.at(part).fd; }
  uint64_t total_size() const;  // bytes of all parts

  // `split.no` and `split.count` of the file opened: 0 and 1 for a file that is not a part.
  uint32_t split_index() const { return split_index_; }
  uint32_t split_count() const { return split_count_; }
  // Throws GgufError when the file opened is a later part of a split model (a model must be
  // opened from its first part), naming the first part.
  void require_first_part() const;

  // Metadata, in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  const Value& require(std::string_view key) const;  // GgufError "missing required metadata key"

  // Typed lookups. get_* throw when the key is missing or has the wrong kind;
  // find_* return nullopt when it is missing (and throw when it has the wrong kind).
  uint64_t get_uint(std::string_view key) const;
  double get_float(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  std::optional<uint64_t> find_uint(std::string_view key) const;
  std::optional<double> find_float(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;
  std::vector<double> get_float_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& require_tensor(std::string_view name) const;

  // Reads `n_bytes` at absolute `offset` of file part `part` (pread, retried on short reads);
  // throws sluice::Error naming file, offset and errno on failure or end of file.
  void read_at(uint64_t offset, void* dst, size_t n_bytes) const { read_at(0, offset, dst, n_bytes); }
  void read_at(size_t part, uint64_t offset, void* dst, size_t n_bytes) const;
  std::vector<std::byte> read_tensor(const TensorInfo& tensor) const;  // from its part

 private:
  struct PartFile {
    std::string path;
    int fd = -1;
    uint64_t size = 0;
    uint64_t data_offset = 0;
  };
  void open_split_parts(const ReaderLimits& limits);

  std::vector<PartFile> parts_;  // parts_[0]: the file opened
  uint32_t split_index_ = 0;
  uint32_t split_count_ = 1;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;

  friend class GgufParser;
};

}  // namespace sluice::gguf
