// Bad model files given to the CLI: each must end with one clear error line and exit code 1,
// never a crash, a hang or a huge allocation. The corrupt files are made here from the
// fixtures by patching bytes located without sluice's own reader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/fixtures.h"
#include "support/run_command.h"

namespace sluice {
namespace {

using testing::fixture_path;
namespace fs = std::filesystem;

class BadModelFile : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = testing::read_bytes(fixture_path("models/qwen3_moe/model-bf16.gguf"));
    dir_ = fs::temp_directory_path() / ("sluice-bad-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  size_t find(const std::string& needle) const {
    auto it = std::search(bytes_.begin(), bytes_.end(), needle.begin(), needle.end());
    EXPECT_NE(it, bytes_.end()) << needle;
    return static_cast<size_t>(it - bytes_.begin());
  }
  template <typename T>
  void put(size_t offset, T value) {
    std::memcpy(bytes_.data() + offset, &value, sizeof value);
  }
  // Offset of the type field of tensor `name` in the tensor table.
  size_t tensor_type_offset(const std::string& name) {
    // The table entry is: u64 name length, name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset.
    const size_t name_at = find(std::string(8, '\0').replace(0, 1, 1, static_cast<char>(name.size())) + name);
    const size_t dims_at = name_at + 8 + name.size();
    uint32_t n_dims = 0;
    std::memcpy(&n_dims, bytes_.data() + dims_at, 4);
    return dims_at + 4 + 8 * n_dims;
  }
  std::string write(size_t length = SIZE_MAX) {
    const fs::path path = dir_ / "bad.gguf";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes_.data()),
              static_cast<std::streamsize>(std::min(length, bytes_.size())));
    return path.string();
  }
  // Runs `sluice <command> FILE` and checks for a single clear error line.
  void expect_clear_error(const std::string& path, const std::string& expected_words,
                          const std::string& command = "inspect") {
    const std::string args = command == "inspect" ? "inspect " + path
                                                  : "logits -m " + path + " --ids 1,2,3 -o " + (dir_ / "out.f32").string();
    const testing::CommandResult r = testing::run_sluice(args);
    ASSERT_TRUE(r.exited) << "crashed: " << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "expected one line, got:\n" << r.err;
    EXPECT_EQ(r.err.rfind("sluice: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(expected_words), std::string::npos)
        << "error should mention '" << expected_words << "', got: " << r.err;
  }

  std::vector<uint8_t> bytes_;
  fs::path dir_;
};

TEST_F(BadModelFile, WrongMagic) {
  put<uint32_t>(0, 0x46554748);
  expect_clear_error(write(), "not a GGUF file");
}

TEST_F(BadModelFile, UnsupportedVersion) {
  put<uint32_t>(4, 7);
  expect_clear_error(write(), "unsupported GGUF version 7");
}

TEST_F(BadModelFile, TruncatedAtSeveralPoints) {
  const size_t size = bytes_.size();
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, size_t{30}, size_t{200}, size_t{5000},
                     size / 2, size - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const std::string path = write(cut);
    const testing::CommandResult r = testing::run_sluice("inspect " + path);
    ASSERT_TRUE(r.exited) << r.err;
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    const bool named = r.err.find("truncated") != std::string::npos ||
                       r.err.find("past end of file") != std::string::npos ||
                       r.err.find("not a GGUF file") != std::string::npos ||
                       r.err.find("larger than the rest of the file") != std::string::npos;
    EXPECT_TRUE(named) << r.err;
  }
}

TEST_F(BadModelFile, TensorPastEndOfFile) {
  // output_norm.weight is the last tensor: dropping the final bytes cuts into its data only.
  expect_clear_error(write(bytes_.size() - 16), "extends past end of file");
}

TEST_F(BadModelFile, AbsurdTensorCount) {
  put<uint64_t>(8, uint64_t{1} << 60);
  expect_clear_error(write(), "absurd tensor count");
}

TEST_F(BadModelFile, AbsurdStringLength) {
  // The first metadata key's length prefix sits right after the 24-byte header.
  put<uint64_t>(24, uint64_t{1} << 60);
  expect_clear_error(write(), "larger than the rest of the file");
}

TEST_F(BadModelFile, UnknownTensorType) {
  put<uint32_t>(tensor_type_offset("blk.0.attn_q.weight"), 99);
  expect_clear_error(write(), "unknown tensor type 99");
}

TEST_F(BadModelFile, MissingRequiredMetadataKey) {
  const size_t at = find("qwen3moe.block_count");
  bytes_[at + std::strlen("qwen3moe.block_coun")] = 'X';
  expect_clear_error(write(), "missing required metadata key 'qwen3moe.block_count'", "logits");
}

TEST_F(BadModelFile, UnknownArchitecture) {
  // Rename the architecture in general.architecture's value (the first occurrence).
  const size_t at = find("qwen3moe");
  std::memcpy(bytes_.data() + at, "qwen9moe", 8);
  expect_clear_error(write(), "unknown architecture 'qwen9moe'", "logits");
}

TEST_F(BadModelFile, MissingFile) {
  expect_clear_error((dir_ / "does-not-exist.gguf").string(), "cannot open");
}

}  // namespace
}  // namespace sluice
