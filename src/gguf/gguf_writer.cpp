// GGUF v3 writer (see gguf_writer.h). The byte layout follows the GGUF specification in
// ggml's docs/gguf.md: little-endian scalars, strings as uint64 length + bytes, arrays as
// element type + uint64 count + items, tensor infos as name, n_dims, ne[], type, offset.
#include "gguf/gguf_writer.h"

#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <type_traits>

#include "util/error.h"

namespace sluice::gguf {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF writer emits little-endian files by copying host scalars");

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 20;  // what GgufFile accepts
constexpr uint32_t kMaxArrayDepth = ReaderLimits{}.max_array_depth;
constexpr uint32_t kMaxDims = ReaderLimits{}.max_dims;
constexpr uint64_t kMaxElements = uint64_t{1} << 50;  // what GgufFile accepts
constexpr size_t kMaxTensorName = 63;                 // llama.cpp's GGML_MAX_NAME - 1

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Checks that the variant alternative and range of `value` fit its declared `type`.
void check_value(const Value& value, std::string_view key, uint32_t depth) {
  const auto fail = [&](std::string_view why) {
    throw GgufError(
        fmt::format("metadata '{}': {} value {}", key, value_type_name(value.type), why));
  };
  const auto check_integer = [&](int64_t min, uint64_t max) {
    if (const auto* u = std::get_if<uint64_t>(&value.data)) {
      if (*u > max) fail(fmt::format("{} out of range", *u));
    } else if (const auto* i = std::get_if<int64_t>(&value.data)) {
      if (*i < min || (*i >= 0 && static_cast<uint64_t>(*i) > max)) {
        fail(fmt::format("{} out of range", *i));
      }
    } else {
      fail("does not hold an integer");
    }
  };
  switch (value.type) {
    case ValueType::UINT8:
      check_integer(0, std::numeric_limits<uint8_t>::max());
      break;
    case ValueType::INT8:
      check_integer(std::numeric_limits<int8_t>::min(), std::numeric_limits<int8_t>::max());
      break;
    case ValueType::UINT16:
      check_integer(0, std::numeric_limits<uint16_t>::max());
      break;
    case ValueType::INT16:
      check_integer(std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max());
      break;
    case ValueType::UINT32:
      check_integer(0, std::numeric_limits<uint32_t>::max());
      break;
    case ValueType::INT32:
      check_integer(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
      break;
    case ValueType::UINT64:
      check_integer(0, std::numeric_limits<uint64_t>::max());
      break;
    case ValueType::INT64:
      check_integer(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
      break;
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      if (!std::holds_alternative<double>(value.data)) fail("does not hold a double");
      break;
    case ValueType::BOOL:
      if (!std::holds_alternative<bool>(value.data)) fail("does not hold a bool");
      break;
    case ValueType::STRING:
      if (!std::holds_alternative<std::string>(value.data)) fail("does not hold a string");
      break;
    case ValueType::ARRAY: {
      const auto* array = std::get_if<Array>(&value.data);
      if (!array) fail("does not hold an Array");
      if (depth >= kMaxArrayDepth) {
        fail(fmt::format("nests arrays deeper than {}", kMaxArrayDepth));
      }
      for (size_t i = 0; i < array->items.size(); ++i) {
        const Value& item = array->items[i];
        if (item.type != array->element_type) {
          fail(fmt::format("item {} is a {} in an array of {}", i, value_type_name(item.type),
                           value_type_name(array->element_type)));
        }
        check_value(item, key, depth + 1);
      }
      break;
    }
    default:
      throw GgufError(fmt::format("metadata '{}': unknown value type {}", key,
                                  static_cast<uint32_t>(value.type)));
  }
}

// Appends GGUF-encoded scalars, strings and values to a byte buffer.
class Encoder {
 public:
  template <typename T>
  void scalar(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof value);
    std::memcpy(bytes_.data() + at, &value, sizeof value);
  }
  void string(std::string_view s) {
    scalar<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), reinterpret_cast<const std::byte*>(s.data()),
                  reinterpret_cast<const std::byte*>(s.data()) + s.size());
  }
  // `value` has passed check_value.
  void value(const Value& v) {
    switch (v.type) {
      case ValueType::UINT8:
        scalar(static_cast<uint8_t>(integer(v)));
        break;
      case ValueType::INT8:
        scalar(static_cast<int8_t>(integer(v)));
        break;
      case ValueType::UINT16:
        scalar(static_cast<uint16_t>(integer(v)));
        break;
      case ValueType::INT16:
        scalar(static_cast<int16_t>(integer(v)));
        break;
      case ValueType::UINT32:
        scalar(static_cast<uint32_t>(integer(v)));
        break;
      case ValueType::INT32:
        scalar(static_cast<int32_t>(integer(v)));
        break;
      case ValueType::UINT64:
        scalar(integer(v));
        break;
      case ValueType::INT64:
        scalar(static_cast<int64_t>(integer(v)));
        break;
      case ValueType::FLOAT32:
        scalar(static_cast<float>(std::get<double>(v.data)));
        break;
      case ValueType::FLOAT64:
        scalar(std::get<double>(v.data));
        break;
      case ValueType::BOOL:
        scalar<uint8_t>(std::get<bool>(v.data) ? 1 : 0);
        break;
      case ValueType::STRING:
        string(std::get<std::string>(v.data));
        break;
      case ValueType::ARRAY: {
        const Array& array = std::get<Array>(v.data);
        scalar(static_cast<uint32_t>(array.element_type));
        scalar<uint64_t>(array.items.size());
        for (const Value& item : array.items) value(item);
        break;
      }
    }
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  // The integer's two's-complement bit pattern; narrowing casts then keep the low bits.
  static uint64_t integer(const Value& v) {
    if (const auto* u = std::get_if<uint64_t>(&v.data)) return *u;
    return static_cast<uint64_t>(std::get<int64_t>(v.data));
  }

  std::vector<std::byte> bytes_;
};

// A file being written to `<path>.partial`; `commit` renames it to `path`, and the
// destructor removes it when `commit` was not reached.
class PartialFile {
 public:
  explicit PartialFile(const std::string& path) : path_(path), partial_path_(path + ".partial") {
    file_ = std::fopen(partial_path_.c_str(), "wb");
    if (!file_) {
      throw Error(fmt::format("cannot create '{}': {}", partial_path_, std::strerror(errno)));
    }
  }
  ~PartialFile() {
    if (file_) std::fclose(file_);
    if (!committed_) std::remove(partial_path_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  void write(const void* data, size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, file_) != n) fail(fmt::format("write of {} bytes", n));
    offset_ += n;
  }
  void write_zeros(uint64_t n) {
    static constexpr std::byte kZeros[256] = {};
    while (n > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, sizeof kZeros));
      write(kZeros, take);
      n -= take;
    }
  }
  uint64_t offset() const { return offset_; }

  void commit() {
    std::FILE* file = std::exchange(file_, nullptr);
    if (std::fclose(file) != 0) fail("close");
    if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) {
      throw Error(fmt::format("cannot rename '{}' to '{}': {}", partial_path_, path_,
                              std::strerror(errno)));
    }
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(std::string_view what) {
    const int err = errno;
    throw Error(fmt::format("{}: {} at offset {} failed: {} (errno {})", partial_path_, what,
                            offset_, std::strerror(err), err));
  }

  std::string path_;
  std::string partial_path_;
  std::FILE* file_ = nullptr;
  uint64_t offset_ = 0;
  bool committed_ = false;
};

}  // namespace

// ---- metadata ------------------------------------------------------------------------------

void GgufWriter::set_metadata(std::string key, Value value) {
  if (key.empty()) throw GgufError("metadata key is empty");
  check_value(value, key, 0);
  if (auto it = metadata_index_.find(key); it != metadata_index_.end()) {
    metadata_[it->second].second = std::move(value);
    return;
  }
  metadata_index_.emplace(key, metadata_.size());
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::set_uint32(std::string key, uint32_t value) {
  set_metadata(std::move(key), Value{ValueType::UINT32, uint64_t{value}});
}
void GgufWriter::set_int32(std::string key, int32_t value) {
  set_metadata(std::move(key), Value{ValueType::INT32, int64_t{value}});
}
void GgufWriter::set_uint64(std::string key, uint64_t value) {
  set_metadata(std::move(key), Value{ValueType::UINT64, value});
}
void GgufWriter::set_float32(std::string key, float value) {
  set_metadata(std::move(key), Value{ValueType::FLOAT32, double{value}});
}
void GgufWriter::set_bool(std::string key, bool value) {
  set_metadata(std::move(key), Value{ValueType::BOOL, value});
}
void GgufWriter::set_string(std::string key, std::string value) {
  set_metadata(std::move(key), Value{ValueType::STRING, std::move(value)});
}
void GgufWriter::set_string_array(std::string key, const std::vector<std::string>& values) {
  Array array{ValueType::STRING, {}};
  array.items.reserve(values.size());
  for (const std::string& s : values) array.items.push_back(Value{ValueType::STRING, s});
  set_metadata(std::move(key), Value{ValueType::ARRAY, std::move(array)});
}
void GgufWriter::set_int32_array(std::string key, const std::vector<int32_t>& values) {
  Array array{ValueType::INT32, {}};
  array.items.reserve(values.size());
  for (int32_t v : values) array.items.push_back(Value{ValueType::INT32, int64_t{v}});
  set_metadata(std::move(key), Value{ValueType::ARRAY, std::move(array)});
}
void GgufWriter::set_float32_array(std::string key, const std::vector<float>& values) {
  Array array{ValueType::FLOAT32, {}};
  array.items.reserve(values.size());
  for (float v : values) array.items.push_back(Value{ValueType::FLOAT32, double{v}});
  set_metadata(std::move(key), Value{ValueType::ARRAY, std::move(array)});
}

// ---- tensors -------------------------------------------------------------------------------

void GgufWriter::add_tensor_info(std::string name, quant::GgmlType type,
                                 std::vector<uint64_t> dims) {
  if (name.empty() || name.size() > kMaxTensorName) {
    throw GgufError(fmt::format("tensor name '{}' must have 1 to {} bytes", name, kMaxTensorName));
  }
  if (tensor_index_.count(name)) throw GgufError(fmt::format("duplicate tensor '{}'", name));
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  if (!traits) {
    throw GgufError(
        fmt::format("tensor '{}' has unknown tensor type {}", name, static_cast<uint32_t>(type)));
  }
  if (dims.empty() || dims.size() > kMaxDims) {
    throw GgufError(fmt::format("tensor '{}' has {} dimensions (1 to {} allowed)", name,
                                dims.size(), kMaxDims));
  }
  uint64_t n_elements = 1;
  for (uint64_t dim : dims) {
    if (dim == 0 || __builtin_mul_overflow(n_elements, dim, &n_elements) ||
        n_elements > kMaxElements) {
      throw GgufError(fmt::format("tensor '{}' has an absurd dimension {}", name, dim));
    }
  }
  if (dims[0] % traits->block_size != 0) {
    throw GgufError(
        fmt::format("tensor '{}' row length {} is not a multiple of the {} block "
                    "size {}",
                    name, dims[0], traits->name, traits->block_size));
  }
  TensorInfo info;
  info.name = name;
  info.type = type;
  info.dims = std::move(dims);
  info.n_elements = n_elements;
  info.n_bytes = n_elements / traits->block_size * traits->type_size;
  tensor_index_.emplace(std::move(name), tensors_.size());
  tensors_.push_back(std::move(info));
  tensor_data_.emplace_back();
}

void GgufWriter::add_tensor(std::string name, quant::GgmlType type, std::vector<uint64_t> dims,
                            std::span<const std::byte> data) {
  add_tensor_info(name, type, std::move(dims));
  const TensorInfo& info = tensors_.back();
  if (data.size() != info.n_bytes) {
    const uint64_t expected = info.n_bytes;
    tensor_index_.erase(name);
    tensors_.pop_back();
    tensor_data_.pop_back();
    throw GgufError(fmt::format("tensor '{}' data has {} bytes, its shape and type need {}", name,
                                data.size(), expected));
  }
  tensor_data_.back().assign(data.begin(), data.end());
}

// ---- write ---------------------------------------------------------------------------------

uint64_t GgufWriter::alignment() const {
  auto it = metadata_index_.find("general.alignment");
  if (it == metadata_index_.end()) return kDefaultAlignment;
  const Value& value = metadata_[it->second].second;
  if (value.type != ValueType::UINT32) {
    throw GgufError(
        fmt::format("general.alignment must be a uint32, not a {}", value_type_name(value.type)));
  }
  const uint64_t alignment = std::get<uint64_t>(value.data);
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment) {
    throw GgufError(
        fmt::format("general.alignment {} is not a power of two up to 1 MiB", alignment));
  }
  return alignment;
}

void GgufWriter::write(const std::string& path, const TensorDataProvider& provider) const {
  const uint64_t alignment = this->alignment();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensor_data_[i].empty() && !provider) {
      throw GgufError(
          fmt::format("tensor '{}' has no data and no data provider was given", tensors_[i].name));
    }
  }

  // Data offsets relative to the data section, each tensor starting aligned.
  std::vector<uint64_t> relative_offsets;
  uint64_t data_bytes = 0;
  for (const TensorInfo& t : tensors_) {
    relative_offsets.push_back(data_bytes);
    data_bytes = align_up(data_bytes + t.n_bytes, alignment);
  }

  Encoder header;
  header.scalar<uint32_t>(0x46554747);  // "GGUF"
  header.scalar<uint32_t>(kVersion);
  header.scalar<uint64_t>(tensors_.size());
  header.scalar<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    header.string(key);
    header.scalar(static_cast<uint32_t>(value.type));
    header.value(value);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& t = tensors_[i];
    header.string(t.name);
    header.scalar(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t dim : t.dims) header.scalar(dim);
    header.scalar(static_cast<uint32_t>(t.type));
    header.scalar(relative_offsets[i]);
  }
  const uint64_t data_offset = align_up(header.bytes().size(), alignment);

  PartialFile out(path);
  out.write(header.bytes().data(), header.bytes().size());
  out.write_zeros(data_offset - out.offset());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    TensorInfo info = tensors_[i];
    info.offset = data_offset + relative_offsets[i];
    SLUICE_ASSERT(out.offset() == info.offset);
    if (!tensor_data_[i].empty()) {
      out.write(tensor_data_[i].data(), tensor_data_[i].size());
    } else {
      uint64_t written = 0;
      const ByteSink sink = [&](std::span<const std::byte> chunk) {
        if (chunk.size() > info.n_bytes - written) {
          throw GgufError(fmt::format("tensor '{}': data provider passed more than its {} bytes",
                                      info.name, info.n_bytes));
        }
        out.write(chunk.data(), chunk.size());
        written += chunk.size();
      };
      provider(i, info, sink);
      if (written != info.n_bytes) {
        throw GgufError(fmt::format("tensor '{}': data provider passed {} bytes, expected {}",
                                    info.name, written, info.n_bytes));
      }
    }
    out.write_zeros(align_up(out.offset(), alignment) - out.offset());
  }
  out.commit();
}

}  // namespace sluice::gguf
