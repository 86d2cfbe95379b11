// Helpers shared by the gguf tests: fixture paths, a self-deleting temp directory, whole-file
// I/O, a hand encoder for raw GGUF bytes (independent of GgufWriter, so corrupt files can be
// spelled out byte by byte) and a check that parsing fails with a given message.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace sluice::gguf::test {

inline std::string fixture(std::string_view relative) {
  return std::string(SLUICE_FIXTURES) + "/" + std::string(relative);
}

// The smallest fixture: 3 tensors, 3 metadata keys, 288-byte header, 12832 bytes.
inline const std::string kSmallFixture = "split/qwen3_moe-bf16-00004-of-00004.gguf";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice_gguf_XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(std::string_view name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Overwrites `sizeof value` bytes at `offset` with the little-endian `value`.
template <typename T>
void patch(std::vector<uint8_t>& bytes, size_t offset, T value) {
  if (offset + sizeof value > bytes.size()) throw std::out_of_range("patch past end");
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Offset of the first occurrence of `needle` in `bytes` (throws when absent).
inline size_t find_bytes(const std::vector<uint8_t>& bytes, std::string_view needle) {
  const auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  if (it == bytes.end()) throw std::runtime_error("bytes not found: " + std::string(needle));
  return static_cast<size_t>(it - bytes.begin());
}

// Raw GGUF bytes spelled out field by field (little-endian), for files GgufWriter would
// refuse to write.
class RawGguf {
 public:
  RawGguf& u8(uint8_t v) { return put(v); }
  RawGguf& u32(uint32_t v) { return put(v); }
  RawGguf& u64(uint64_t v) { return put(v); }
  RawGguf& str(std::string_view s) {
    u64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  // Magic, version, tensor count, metadata count.
  RawGguf& header(uint64_t n_tensors, uint64_t n_metadata, uint32_t version = 3) {
    bytes_.insert(bytes_.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_metadata);
  }
  RawGguf& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  RawGguf& kv_string(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  RawGguf& tensor_info(std::string_view name, std::initializer_list<uint64_t> dims, uint32_t type,
                       uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad_to(size_t alignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes_.resize(bytes_.size() + n, 0);
    return *this;
  }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  void write(const std::string& path) const { write_file(path, bytes_); }

 private:
  template <typename T>
  RawGguf& put(T v) {
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof v);
    std::memcpy(bytes_.data() + at, &v, sizeof v);
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

// What happened when a file was opened.
struct ParseOutcome {
  enum Kind { kParsed, kGgufError, kOtherSluiceError, kForeignException } kind = kParsed;
  std::string message;
};

inline ParseOutcome try_parse(const std::string& path) {
  try {
    GgufFile file(path);
    return {ParseOutcome::kParsed, {}};
  } catch (const GgufError& e) {
    return {ParseOutcome::kGgufError, e.what()};
  } catch (const Error& e) {
    return {ParseOutcome::kOtherSluiceError, e.what()};
  } catch (const std::exception& e) {
    return {ParseOutcome::kForeignException, e.what()};
  }
}

// Succeeds when opening `path` throws a GgufError whose message contains every needle.
inline ::testing::AssertionResult rejects(const std::string& path,
                                          std::initializer_list<std::string_view> needles) {
  const ParseOutcome outcome = try_parse(path);
  switch (outcome.kind) {
    case ParseOutcome::kParsed:
      return ::testing::AssertionFailure() << path << " parsed without error";
    case ParseOutcome::kOtherSluiceError:
    case ParseOutcome::kForeignException:
      return ::testing::AssertionFailure()
             << "expected a GgufError, got another exception: " << outcome.message;
    case ParseOutcome::kGgufError:
      break;
  }
  for (std::string_view needle : needles) {
    if (outcome.message.find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << outcome.message << "\" lacks \"" << needle << "\"";
    }
  }
  return ::testing::AssertionSuccess() << outcome.message;
}

}  // namespace sluice::gguf::test
