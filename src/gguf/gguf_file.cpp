#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <limits>
#include <utility>

namespace sluice::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian uint32
constexpr uint64_t kDefaultAlignment = 32;

bool add_overflows(uint64_t a, uint64_t b, uint64_t* sum) { return __builtin_add_overflow(a, b, sum); }
bool mul_overflows(uint64_t a, uint64_t b, uint64_t* product) {
  return __builtin_mul_overflow(a, b, product);
}

// Fewest bytes one element of `type` takes in the file: how many elements the rest of the
// file can hold at most.
uint64_t min_encoded_bytes(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;   // the length prefix
    case ValueType::ARRAY: return 12;   // element type + count
  }
  return 1;
}

}  // namespace

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

// ---- Value ------------------------------------------------------------------------------

bool Value::is_integer() const {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

uint64_t Value::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) return *u;
  if (const auto* i = std::get_if<int64_t>(&data)) {
    if (*i < 0) throw GgufError(fmt::format("expected a non-negative integer, found {}", *i));
    return static_cast<uint64_t>(*i);
  }
  throw GgufError(fmt::format("expected an integer, found a {}", value_type_name(type)));
}

int64_t Value::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&data)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw GgufError(fmt::format("integer {} does not fit in int64", *u));
    }
    return static_cast<int64_t>(*u);
  }
  throw GgufError(fmt::format("expected an integer, found a {}", value_type_name(type)));
}

double Value::as_float() const {
  if (const auto* d = std::get_if<double>(&data)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&data)) return static_cast<double>(*i);
  throw GgufError(fmt::format("expected a number, found a {}", value_type_name(type)));
}

bool Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&data)) return *b;
  throw GgufError(fmt::format("expected a bool, found a {}", value_type_name(type)));
}

const std::string& Value::as_string() const {
  if (const auto* s = std::get_if<std::string>(&data)) return *s;
  throw GgufError(fmt::format("expected a string, found a {}", value_type_name(type)));
}

const Array& Value::as_array() const {
  if (const auto* a = std::get_if<Array>(&data)) return *a;
  throw GgufError(fmt::format("expected an array, found a {}", value_type_name(type)));
}

std::string Value::to_display_string(size_t max_items) const {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string shown = v.size() > 80 ? v.substr(0, 77) + "..." : v;
          for (char& c : shown) {
            if (c == '\n' || c == '\r' || c == '\t') c = ' ';
          }
          return fmt::format("\"{}\"", shown);
        } else if constexpr (std::is_same_v<T, Array>) {
          if (v.items.size() > max_items) {
            return fmt::format("[{} x {}]", v.items.size(), value_type_name(v.element_type));
          }
          std::string out = "[";
          for (size_t i = 0; i < v.items.size(); ++i) {
            if (i) out += ", ";
            out += v.items[i].to_display_string(max_items);
          }
          return out + "]";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else {
          return fmt::format("{}", v);
        }
      },
      data);
}

std::string TensorInfo::shape_string() const {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", dims[i]);
  return out + "]";
}

// ---- Parser ------------------------------------------------------------------------------

// Reads the header, metadata and tensor table sequentially through a bounded buffer. Every
// read is checked against the file size first, so truncation is reported where it happens.
class GgufParser {
 public:
  GgufParser(GgufFile& file, const ReaderLimits& limits) : file_(file), limits_(limits) {}

  void parse() {
    const uint32_t magic = read_u32();
    if (magic != kMagic) {
      throw GgufError(fmt::format("{}: not a GGUF file (magic 0x{:08x}, expected 0x{:08x} \"GGUF\")",
                                  file_.path(), magic, kMagic));
    }
    file_.version_ = read_u32();
    if (file_.version_ != 2 && file_.version_ != 3) {
      const bool byte_swapped = file_.version_ == 0x02000000u || file_.version_ == 0x03000000u;
      throw GgufError(fmt::format(
          "{}: unsupported GGUF version {}{} (sluice reads versions 2 and 3)", file_.path(),
          file_.version_, byte_swapped ? " (a big-endian file)" : ""));
    }
    const uint64_t n_tensors = read_u64();
    const uint64_t n_metadata = read_u64();
    if (n_tensors > limits_.max_tensors) {
      throw GgufError(fmt::format("{}: absurd tensor count {} (limit {}); the file is corrupt",
                                  file_.path(), n_tensors, limits_.max_tensors));
    }
    if (n_metadata > limits_.max_metadata_entries) {
      throw GgufError(fmt::format("{}: absurd metadata count {} (limit {}); the file is corrupt",
                                  file_.path(), n_metadata, limits_.max_metadata_entries));
    }

    for (uint64_t i = 0; i < n_metadata; ++i) {
      std::string key = read_string("metadata key");
      const auto type = read_value_type(key);
      Value value = read_value(type, key, 0);
      if (file_.metadata_index_.count(key)) {
        throw GgufError(fmt::format("{}: duplicate metadata key '{}'", file_.path(), key));
      }
      file_.metadata_index_.emplace(key, file_.metadata_.size());
      file_.metadata_.emplace_back(std::move(key), std::move(value));
    }
    read_alignment();

    std::vector<uint64_t> relative_offsets;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      relative_offsets.push_back(read_tensor_info());
    }
    const uint64_t end_of_header = position_;
    uint64_t data_offset = 0;
    if (add_overflows(end_of_header, file_.alignment_ - 1, &data_offset)) corrupt("data offset");
    data_offset -= data_offset % file_.alignment_;
    file_.data_offset_ = data_offset;
    if (n_tensors > 0 && data_offset > file_.file_size()) {
      throw GgufError(fmt::format("{}: truncated: tensor data would start at offset {} but the "
                                  "file has {} bytes",
                                  file_.path(), data_offset, file_.file_size()));
    }
    for (size_t i = 0; i < file_.tensors_.size(); ++i) {
      place_tensor(file_.tensors_[i], relative_offsets[i]);
    }
  }

 private:
  [[noreturn]] void corrupt(std::string_view what) {
    throw GgufError(fmt::format("{}: corrupt {} at offset {}", file_.path(), what, position_));
  }

  void read_bytes(void* dst, uint64_t n, std::string_view what) {
    uint64_t end = 0;
    if (add_overflows(position_, n, &end) || end > file_.file_size()) {
      throw GgufError(fmt::format(
          "{}: truncated: reading {} ({} bytes) at offset {} goes past the end of the file "
          "({} bytes)",
          file_.path(), what, n, position_, file_.file_size()));
    }
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
      if (position_ < buffer_start_ || position_ >= buffer_start_ + buffer_.size()) fill_buffer();
      const uint64_t in_buffer = buffer_start_ + buffer_.size() - position_;
      const uint64_t take = std::min(n, in_buffer);
      std::memcpy(out, buffer_.data() + (position_ - buffer_start_), take);
      out += take;
      position_ += take;
      n -= take;
    }
  }

  void fill_buffer() {
    const uint64_t want = std::min<uint64_t>(kBufferBytes, file_.file_size() - position_);
    buffer_.resize(want);
    file_.read_at(position_, buffer_.data(), want);
    buffer_start_ = position_;
  }

  template <typename T>
  T read_scalar(std::string_view what) {
    T value;
    read_bytes(&value, sizeof value, what);
    return value;
  }
  uint32_t read_u32() { return read_scalar<uint32_t>("header"); }
  uint64_t read_u64() { return read_scalar<uint64_t>("header"); }

  std::string read_string(std::string_view what) {
    const uint64_t length = read_scalar<uint64_t>(what);
    if (length > limits_.max_string_bytes || length > file_.file_size() - position_) {
      throw GgufError(fmt::format("{}: {} length {} at offset {} is larger than the rest of the "
                                  "file; the file is corrupt or truncated",
                                  file_.path(), what, length, position_ - 8));
    }
    std::string s(length, '\0');
    read_bytes(s.data(), length, what);
    return s;
  }

  ValueType read_value_type(std::string_view key) {
    const uint32_t raw = read_scalar<uint32_t>("metadata type");
    if (raw > static_cast<uint32_t>(ValueType::FLOAT64)) {
      throw GgufError(fmt::format("{}: metadata key '{}' has unknown value type {}", file_.path(),
                                  key, raw));
    }
    return static_cast<ValueType>(raw);
  }

  Value read_value(ValueType type, const std::string& key, uint32_t depth) {
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::UINT8: v.data = uint64_t{read_scalar<uint8_t>(key)}; break;
      case ValueType::INT8: v.data = int64_t{read_scalar<int8_t>(key)}; break;
      case ValueType::UINT16: v.data = uint64_t{read_scalar<uint16_t>(key)}; break;
      case ValueType::INT16: v.data = int64_t{read_scalar<int16_t>(key)}; break;
      case ValueType::UINT32: v.data = uint64_t{read_scalar<uint32_t>(key)}; break;
      case ValueType::INT32: v.data = int64_t{read_scalar<int32_t>(key)}; break;
      case ValueType::UINT64: v.data = read_scalar<uint64_t>(key); break;
      case ValueType::INT64: v.data = read_scalar<int64_t>(key); break;
      case ValueType::FLOAT32: v.data = double{read_scalar<float>(key)}; break;
      case ValueType::FLOAT64: v.data = read_scalar<double>(key); break;
      case ValueType::BOOL: {
        const uint8_t b = read_scalar<uint8_t>(key);
        if (b > 1) corrupt(fmt::format("bool value {} of '{}'", b, key));
        v.data = b == 1;
        break;
      }
      case ValueType::STRING: v.data = read_string(fmt::format("string value of '{}'", key)); break;
      case ValueType::ARRAY: v.data = read_array(key, depth); break;
    }
    return v;
  }

  Array read_array(const std::string& key, uint32_t depth) {
    if (depth >= limits_.max_array_depth) {
      throw GgufError(fmt::format("{}: metadata '{}' nests arrays deeper than {}", file_.path(),
                                  key, limits_.max_array_depth));
    }
    Array array;
    array.element_type = read_value_type(key);
    const uint64_t n = read_scalar<uint64_t>(key);
    // A count beyond what the remaining bytes can encode is a lie; checking it first, and
    // growing the vector only as items are read, keeps a hostile count from allocating.
    if (n > limits_.max_array_items ||
        n > (file_.file_size() - position_) / min_encoded_bytes(array.element_type)) {
      throw GgufError(fmt::format("{}: metadata '{}' declares {} array items, more than the file "
                                  "can hold; the file is corrupt or truncated",
                                  file_.path(), key, n));
    }
    array.items.reserve(std::min<uint64_t>(n, 4096));
    for (uint64_t i = 0; i < n; ++i) array.items.push_back(read_value(array.element_type, key, depth + 1));
    return array;
  }

  void read_alignment() {
    file_.alignment_ = kDefaultAlignment;
    const Value* value = file_.find("general.alignment");
    if (!value) return;
    uint64_t alignment = 0;
    try {
      alignment = value->as_uint();
    } catch (const GgufError&) {
      throw GgufError(fmt::format("{}: general.alignment is not an unsigned integer", file_.path()));
    }
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 20)) {
      throw GgufError(fmt::format("{}: general.alignment {} is not a power of two up to 1 MiB",
                                  file_.path(), alignment));
    }
    file_.alignment_ = alignment;
  }

  // Reads one tensor-table entry; returns its offset relative to the data section.
  uint64_t read_tensor_info() {
    TensorInfo t;
    t.name = read_string("tensor name");
    const uint32_t n_dims = read_scalar<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > limits_.max_dims) {
      throw GgufError(fmt::format("{}: tensor '{}' has {} dimensions (1 to {} allowed)",
                                  file_.path(), t.name, n_dims, limits_.max_dims));
    }
    t.n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = read_scalar<uint64_t>("tensor dimension");
      if (dim == 0 || mul_overflows(t.n_elements, dim, &t.n_elements) ||
          t.n_elements > (uint64_t{1} << 50)) {
        throw GgufError(fmt::format("{}: tensor '{}' has an absurd dimension {}", file_.path(),
                                    t.name, dim));
      }
      t.dims.push_back(dim);
    }
    const uint32_t type_id = read_scalar<uint32_t>("tensor type");
    const auto traits = quant::type_traits(type_id);
    if (!traits) {
      throw GgufError(fmt::format("{}: tensor '{}' has unknown tensor type {}", file_.path(),
                                  t.name, type_id));
    }
    t.type = static_cast<quant::GgmlType>(type_id);
    if (t.dims[0] % traits->block_size != 0) {
      throw GgufError(fmt::format("{}: tensor '{}' row length {} is not a multiple of the {} "
                                  "block size {}",
                                  file_.path(), t.name, t.dims[0], traits->name,
                                  traits->block_size));
    }
    t.n_bytes = t.n_elements / traits->block_size * traits->type_size;
    const uint64_t offset = read_scalar<uint64_t>("tensor offset");
    if (file_.tensor_index_.count(t.name)) {
      throw GgufError(fmt::format("{}: duplicate tensor '{}'", file_.path(), t.name));
    }
    file_.tensor_index_.emplace(t.name, file_.tensors_.size());
    file_.tensors_.push_back(std::move(t));
    return offset;
  }

  void place_tensor(TensorInfo& t, uint64_t relative_offset) {
    if (relative_offset % file_.alignment_ != 0) {
      throw GgufError(fmt::format("{}: tensor '{}' data offset {} is not aligned to {}",
                                  file_.path(), t.name, relative_offset, file_.alignment_));
    }
    uint64_t end = 0;
    if (add_overflows(file_.data_offset_, relative_offset, &t.offset) ||
        add_overflows(t.offset, t.n_bytes, &end) || end > file_.file_size()) {
      throw GgufError(fmt::format("{}: tensor '{}' extends past end of file (offset {} + {} > {})",
                                  file_.path(), t.name, file_.data_offset_ + relative_offset,
                                  t.n_bytes, file_.file_size()));
    }
  }

  static constexpr uint64_t kBufferBytes = 1 << 20;
  GgufFile& file_;
  const ReaderLimits& limits_;
  uint64_t position_ = 0;
  std::vector<char> buffer_;
  uint64_t buffer_start_ = 0;
};

// ---- GgufFile ----------------------------------------------------------------------------

namespace {

// llama.cpp's names for the parts of a split model: PREFIX-%05d-of-%05d.gguf, numbered from 1
// (llama_split_path and llama_split_prefix in llama.cpp's llama.h).
std::string split_part_path(const std::string& prefix, uint32_t index, uint32_t count) {
  return fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, index + 1, count);
}

// PREFIX when `path` is named as part `index` (from 0) of `count`.
std::optional<std::string> split_prefix(const std::string& path, uint32_t index, uint32_t count) {
  const std::string suffix = fmt::format("-{:05d}-of-{:05d}.gguf", index + 1, count);
  if (path.size() <= suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  return path.substr(0, path.size() - suffix.size());
}

// The most parts the naming convention can number.
constexpr uint64_t kMaxSplitCount = 99999;

}  // namespace

GgufFile::GgufFile(const std::string& path, const ReaderLimits& limits, SplitParts split) {
  PartFile file;
  file.path = path;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    throw Error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(file.fd);
    throw Error(fmt::format("'{}' is not a regular file", path));
  }
  file.size = static_cast<uint64_t>(st.st_size);
  try {
    parts_.push_back(file);
  } catch (...) {
    ::close(file.fd);
    throw;
  }
  try {
    GgufParser(*this, limits).parse();
    parts_.front().data_offset = data_offset_;
    const std::optional<uint64_t> count = find_uint("split.count");
    if (count && *count > 1) {
      if (*count > kMaxSplitCount) {
        throw GgufError(fmt::format("{}: split.count {} is more parts than a split model can have ({})",
                                    path, *count, kMaxSplitCount));
      }
      const std::optional<uint64_t> index = find_uint("split.no");
      if (!index) {
        throw GgufError(fmt::format("{}: split.count is {} but split.no is missing", path, *count));
      }
      if (*index >= *count) {
        throw GgufError(fmt::format("{}: split.no {} is not below split.count {}", path, *index, *count));
      }
      split_count_ = static_cast<uint32_t>(*count);
      split_index_ = static_cast<uint32_t>(*index);
      if (split == SplitParts::kFollow && split_index_ == 0) open_split_parts(limits);
    }
  } catch (...) {
    for (const PartFile& part : parts_) ::close(part.fd);
    parts_.clear();
    throw;
  }
}

void GgufFile::open_split_parts(const ReaderLimits& limits) {
  const std::string first = path();
  const uint32_t count = split_count_;
  const std::optional<std::string> prefix = split_prefix(first, 0, count);
  if (!prefix) {
    throw GgufError(fmt::format("{}: the first part of a model split into {} files (split.count) must be "
                                "named PREFIX-00001-of-{:05d}.gguf, so that its other parts can be found",
                                first, count, count));
  }
  const std::optional<uint64_t> declared_tensors = find_uint("split.tensors.count");
  if (!declared_tensors) {
    throw GgufError(fmt::format("{}: split model without split.tensors.count", first));
  }
  parts_.reserve(count);
  for (uint32_t index = 1; index < count; ++index) {
    const std::string part_path = split_part_path(*prefix, index, count);
    const std::string which = fmt::format("split model '{}': part {} of {}", first, index + 1, count);
    std::error_code ignored;
    if (!std::filesystem::exists(part_path, ignored)) {
      throw GgufError(fmt::format("{} ('{}') is missing", which, part_path));
    }
    std::optional<GgufFile> part;
    try {
      part.emplace(part_path, limits, SplitParts::kThisFileOnly);
    } catch (const Error& e) {
      throw GgufError(fmt::format("{}: {}", which, e.what()));
    }
    const std::optional<uint64_t> part_count = part->find_uint("split.count");
    if (part_count != uint64_t{count}) {
      throw GgufError(fmt::format("{}: '{}' has split.count {}, but the first part has {}", which, part_path,
                                  part_count ? std::to_string(*part_count) : "(missing)", count));
    }
    if (part->split_index_ != index) {
      throw GgufError(fmt::format("{}: '{}' has split.no {}, expected {}", which, part_path, part->split_index_,
                                  index));
    }
    const std::optional<uint64_t> part_tensors = part->find_uint("split.tensors.count");
    if (part_tensors && *part_tensors != *declared_tensors) {
      throw GgufError(fmt::format("{}: '{}' has split.tensors.count {}, but the first part has {}", which,
                                  part_path, *part_tensors, *declared_tensors));
    }
    if (tensors_.size() + part->tensors_.size() > limits.max_tensors) {
      throw GgufError(fmt::format("{}: more than {} tensors in all parts; the model is corrupt", which,
                                  limits.max_tensors));
    }
    const auto part_number = static_cast<uint32_t>(parts_.size());
    for (TensorInfo& t : part->tensors_) {
      if (const TensorInfo* other = find_tensor(t.name)) {
        throw GgufError(fmt::format("{}: tensor '{}' is in both '{}' and '{}'", which, t.name,
                                    parts_[other->part].path, part_path));
      }
      t.part = part_number;
      tensor_index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }
    PartFile& opened = part->parts_.front();
    parts_.push_back(std::move(opened));  // capacity reserved above: no reallocation
    opened.fd = -1;                       // now owned by this object
  }
  if (tensors_.size() != *declared_tensors) {
    throw GgufError(fmt::format("split model '{}': its {} parts hold {} tensors, but split.tensors.count is {}",
                                first, count, tensors_.size(), *declared_tensors));
  }
}

GgufFile::~GgufFile() {
  for (const PartFile& part : parts_) {
    if (part.fd >= 0) ::close(part.fd);
  }
}

GgufFile::GgufFile(GgufFile&& other) noexcept
    : parts_(std::move(other.parts_)),
      split_index_(other.split_index_),
      split_count_(other.split_count_),
      version_(other.version_),
      alignment_(other.alignment_),
      data_offset_(other.data_offset_),
      metadata_(std::move(other.metadata_)),
      metadata_index_(std::move(other.metadata_index_)),
      tensors_(std::move(other.tensors_)),
      tensor_index_(std::move(other.tensor_index_)) {
  other.parts_.clear();
}

uint64_t GgufFile::total_size() const {
  uint64_t total = 0;
  for (const PartFile& part : parts_) total += part.size;
  return total;
}

void GgufFile::require_first_part() const {
  if (split_index_ == 0) return;
  const std::optional<std::string> prefix = split_prefix(path(), split_index_, split_count_);
  const std::string first =
      prefix ? fmt::format("'{}'", split_part_path(*prefix, 0, split_count_)) : std::string("the part with split.no 0");
  throw GgufError(fmt::format("{}: this file is part {} of {} of a split model; open the model from its first "
                              "part, {}",
                              path(), split_index_ + 1, split_count_, first));
}

const Value* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const Value& GgufFile::require(std::string_view key) const {
  const Value* v = find(key);
  if (!v) throw GgufError(fmt::format("{}: missing required metadata key '{}'", path(), key));
  return *v;
}

namespace {
// Runs a typed accessor, adding the key and file to the error message.
template <typename F>
auto with_key_context(const std::string& path, std::string_view key, F&& f) {
  try {
    return f();
  } catch (const GgufError& e) {
    throw GgufError(fmt::format("{}: metadata key '{}': {}", path, key, e.what()));
  }
}
}  // namespace

uint64_t GgufFile::get_uint(std::string_view key) const {
  const Value& v = require(key);
  return with_key_context(path(), key, [&] { return v.as_uint(); });
}
double GgufFile::get_float(std::string_view key) const {
  const Value& v = require(key);
  return with_key_context(path(), key, [&] { return v.as_float(); });
}
const std::string& GgufFile::get_string(std::string_view key) const {
  const Value& v = require(key);
  const std::string* s = with_key_context(path(), key, [&] { return &v.as_string(); });
  return *s;
}
std::optional<uint64_t> GgufFile::find_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  return with_key_context(path(), key, [&] { return v->as_uint(); });
}
std::optional<double> GgufFile::find_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  return with_key_context(path(), key, [&] { return v->as_float(); });
}
std::optional<bool> GgufFile::find_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  return with_key_context(path(), key, [&] { return v->as_bool(); });
}
std::optional<std::string> GgufFile::find_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  return with_key_context(path(), key, [&] { return v->as_string(); });
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const Value& v = require(key);
  return with_key_context(path(), key, [&] {
    std::vector<std::string> out;
    for (const Value& item : v.as_array().items) out.push_back(item.as_string());
    return out;
  });
}
std::vector<int64_t> GgufFile::get_int_array(std::string_view key) const {
  const Value& v = require(key);
  return with_key_context(path(), key, [&] {
    std::vector<int64_t> out;
    for (const Value& item : v.as_array().items) out.push_back(item.as_int());
    return out;
  });
}
std::vector<double> GgufFile::get_float_array(std::string_view key) const {
  const Value& v = require(key);
  return with_key_context(path(), key, [&] {
    std::vector<double> out;
    for (const Value& item : v.as_array().items) out.push_back(item.as_float());
    return out;
  });
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::require_tensor(std::string_view name) const {
  const TensorInfo* t = find_tensor(name);
  if (!t) throw GgufError(fmt::format("{}: missing required tensor '{}'", path(), name));
  return *t;
}

void GgufFile::read_at(size_t part, uint64_t offset, void* dst, size_t n_bytes) const {
  const PartFile& file = parts_.at(part);
  auto* out = static_cast<char*>(dst);
  while (n_bytes > 0) {
    const ssize_t got = ::pread(file.fd, out, n_bytes, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("{}: read of {} bytes at offset {} failed: {} (errno {})", file.path,
                              n_bytes, offset, std::strerror(errno), errno));
    }
    if (got == 0) {
      throw Error(fmt::format("{}: unexpected end of file reading {} bytes at offset {} (was "
                              "the file truncated after it was opened?)",
                              file.path, n_bytes, offset));
    }
    out += got;
    offset += static_cast<uint64_t>(got);
    n_bytes -= static_cast<size_t>(got);
  }
}

std::vector<std::byte> GgufFile::read_tensor(const TensorInfo& tensor) const {
  std::vector<std::byte> data(tensor.n_bytes);
  read_at(tensor.part, tensor.offset, data.data(), data.size());
  return data;
}

}  // namespace sluice::gguf
