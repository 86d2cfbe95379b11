// GGUF v3 writer: metadata, tensor table and aligned tensor data.
//
// Used by tests to build files (valid ones, and valid ones that a test then corrupts) and by
// `sluice synth` to write synthetic models. Tensor bytes are either given up front
// (`add_tensor`) or produced while the file is written (`add_tensor_info` + a
// TensorDataProvider), so a multi-GB tensor never has to sit in memory. The layout matches
// llama.cpp's writer: metadata in insertion order, each tensor's data at an offset that is a
// multiple of `general.alignment` (default 32), zero padding after the header and after each
// tensor. Everything is validated when added; `write` goes to `<path>.partial` and renames it
// only once complete, so a failed write leaves no half-written file behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gguf/gguf_file.h"
#include "quant/ggml_type.h"

namespace sluice::gguf {

// Receives a tensor's bytes in order, in chunks of any size.
using ByteSink = std::function<void(std::span<const std::byte>)>;

// Produces the bytes of the tensor at `index` (in the order tensors were added) by calling
// `sink` until exactly `tensor.n_bytes` bytes have been passed. `tensor.offset` is the
// absolute offset the data gets in the file.
using TensorDataProvider =
    std::function<void(size_t index, const TensorInfo& tensor, const ByteSink& sink)>;

class GgufWriter {
 public:
  // Sets `key` to `value`; a key set twice keeps its first position and takes the new value.
  // Throws GgufError when the value is inconsistent (an integer out of its type's range, a
  // variant alternative that does not match `type`, array items of another type).
  void set_metadata(std::string key, Value value);

  // Typed shortcuts, named like gguf-py's GGUFWriter.add_* (explicit names instead of
  // overloads, so that a string literal can never silently become a bool).
  void set_uint32(std::string key, uint32_t value);
  void set_int32(std::string key, int32_t value);
  void set_uint64(std::string key, uint64_t value);
  void set_float32(std::string key, float value);
  void set_bool(std::string key, bool value);
  void set_string(std::string key, std::string value);
  void set_string_array(std::string key, const std::vector<std::string>& values);
  void set_int32_array(std::string key, const std::vector<int32_t>& values);
  void set_float32_array(std::string key, const std::vector<float>& values);

  // Declares a tensor whose bytes come from the provider passed to `write`. Throws GgufError
  // for a duplicate or empty name, 0 or more than 4 dimensions, a zero dimension, an element
  // count beyond 2^50, or a row length that is not a multiple of the type's block size.
  void add_tensor_info(std::string name, quant::GgmlType type, std::vector<uint64_t> dims);

  // Declares a tensor and copies its bytes; `data` must hold exactly the tensor's size.
  void add_tensor(std::string name, quant::GgmlType type, std::vector<uint64_t> dims,
                  std::span<const std::byte> data);

  // The tensors added so far, with `n_bytes` and `n_elements` filled in (`offset` is set by
  // `write`, which passes the final TensorInfo to the provider).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }

  // Writes the file. `provider` is called for every tensor added with `add_tensor_info`
  // (and only for those); it may be empty when every tensor has its bytes. Throws GgufError
  // for an invalid `general.alignment` (it must be a uint32 power of two), a missing
  // provider or a provider that passes the wrong number of bytes, and sluice::Error naming
  // the file and errno for I/O failures.
  void write(const std::string& path, const TensorDataProvider& provider = {}) const;

 private:
  uint64_t alignment() const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::vector<std::byte>> tensor_data_;  // empty where the provider gives the bytes
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace sluice::gguf
