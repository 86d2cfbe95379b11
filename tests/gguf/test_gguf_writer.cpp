// GgufWriter: round trips through GgufFile, byte-exact rewrites of fixtures written by
// llama.cpp, streaming tensor data, and rejection of inconsistent input.
#include <gtest/gtest.h>

#include <bit>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"

namespace sluice::gguf::test {
namespace {

using quant::GgmlType;

Value u(ValueType type, uint64_t v) { return Value{type, v}; }
Value i(ValueType type, int64_t v) { return Value{type, v}; }
Value f32(float v) { return Value{ValueType::FLOAT32, double{v}}; }
Value f64(double v) { return Value{ValueType::FLOAT64, v}; }
Value b(bool v) { return Value{ValueType::BOOL, v}; }
Value s(std::string v) { return Value{ValueType::STRING, std::move(v)}; }
Value array(ValueType element_type, std::vector<Value> items) {
  return Value{ValueType::ARRAY, Array{element_type, std::move(items)}};
}

// Deep comparison; floats compared by bit pattern so NaN and -0.0 round trip too.
::testing::AssertionResult same_value(const Value& expected, const Value& actual,
                                      const std::string& where) {
  if (expected.type != actual.type) {
    return ::testing::AssertionFailure() << where << ": type " << value_type_name(actual.type)
                                         << ", expected " << value_type_name(expected.type);
  }
  if (expected.data.index() != actual.data.index()) {
    return ::testing::AssertionFailure() << where << ": different representation";
  }
  if (const auto* e = std::get_if<double>(&expected.data)) {
    const double a = std::get<double>(actual.data);
    if (std::bit_cast<uint64_t>(*e) != std::bit_cast<uint64_t>(a)) {
      return ::testing::AssertionFailure() << where << ": " << a << ", expected " << *e;
    }
    return ::testing::AssertionSuccess();
  }
  if (const auto* e = std::get_if<Array>(&expected.data)) {
    const Array& a = std::get<Array>(actual.data);
    if (e->element_type != a.element_type || e->items.size() != a.items.size()) {
      return ::testing::AssertionFailure()
             << where << ": array of " << a.items.size() << " " << value_type_name(a.element_type)
             << ", expected " << e->items.size() << " " << value_type_name(e->element_type);
    }
    for (size_t k = 0; k < e->items.size(); ++k) {
      auto r = same_value(e->items[k], a.items[k], where + "[" + std::to_string(k) + "]");
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  const bool equal = std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, Array> || std::is_same_v<T, double>) {
          return false;  // handled above
        } else {
          return e == std::get<T>(actual.data);
        }
      },
      expected.data);
  if (!equal) {
    return ::testing::AssertionFailure() << where << ": " << actual.to_display_string()
                                         << ", expected " << expected.to_display_string();
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::byte> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& x : out) x = static_cast<std::byte>(rng());
  return out;
}

// One value of every type, edge values included, and nested arrays.
std::vector<std::pair<std::string, Value>> every_value_type() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      {"t.uint8", u(ValueType::UINT8, 255)},
      {"t.int8", i(ValueType::INT8, -128)},
      {"t.uint16", u(ValueType::UINT16, 65535)},
      {"t.int16", i(ValueType::INT16, -32768)},
      {"t.uint32", u(ValueType::UINT32, 4294967295u)},
      {"t.int32", i(ValueType::INT32, std::numeric_limits<int32_t>::min())},
      {"t.uint64", u(ValueType::UINT64, std::numeric_limits<uint64_t>::max())},
      {"t.int64", i(ValueType::INT64, std::numeric_limits<int64_t>::min())},
      {"t.float32", f32(0.1f)},
      {"t.float32.neg_zero", f32(-0.0f)},
      {"t.float64", f64(0.1)},
      {"t.float64.nan", f64(nan)},
      {"t.bool.true", b(true)},
      {"t.bool.false", b(false)},
      {"t.string", s("héllo, 世界 \n\t")},
      {"t.string.empty", s("")},
      {"t.string.nul", s(std::string("a\0b", 3))},
      {"t.array.uint8", array(ValueType::UINT8, {u(ValueType::UINT8, 0), u(ValueType::UINT8, 7)})},
      {"t.array.int16", array(ValueType::INT16, {i(ValueType::INT16, -1), i(ValueType::INT16, 2)})},
      {"t.array.uint64", array(ValueType::UINT64, {u(ValueType::UINT64, 1ull << 63)})},
      {"t.array.int64", array(ValueType::INT64, {i(ValueType::INT64, -5)})},
      {"t.array.float64", array(ValueType::FLOAT64, {f64(1e300), f64(-2.5)})},
      {"t.array.bool", array(ValueType::BOOL, {b(true), b(false), b(true)})},
      {"t.array.string", array(ValueType::STRING, {s("a"), s(""), s("ccc")})},
      {"t.array.empty", array(ValueType::FLOAT32, {})},
      {"t.array.nested",
       array(ValueType::ARRAY,
             {array(ValueType::INT8, {i(ValueType::INT8, 1), i(ValueType::INT8, -1)}),
              array(ValueType::STRING, {s("x")}),
              array(ValueType::ARRAY, {array(ValueType::UINT16, {u(ValueType::UINT16, 9)})}),
              array(ValueType::UINT32, {})})},
  };
}

TEST(GgufWriter, RoundTripsEveryValueTypeAndTensors) {
  for (const uint32_t alignment : {0u, 64u, 4096u}) {  // 0: leave general.alignment unset
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    TempDir dir;
    const std::string path = dir.file("round_trip.gguf");
    GgufWriter writer;
    auto expected_metadata = every_value_type();
    if (alignment)
      expected_metadata.emplace_back("general.alignment", u(ValueType::UINT32, alignment));
    for (const auto& [key, value] : expected_metadata) writer.set_metadata(key, value);
    // The typed shortcuts, one each.
    writer.set_uint32("s.uint32", 7);
    writer.set_int32("s.int32", -7);
    writer.set_uint64("s.uint64", 1ull << 40);
    writer.set_float32("s.float32", 1.5f);
    writer.set_bool("s.bool", true);
    writer.set_string("s.string", "qwen3moe");
    writer.set_string_array("s.string_array", {"a", "bb"});
    writer.set_int32_array("s.int32_array", {-1, 0, 1});
    writer.set_float32_array("s.float32_array", {0.25f, -3.0f});
    expected_metadata.emplace_back("s.uint32", u(ValueType::UINT32, 7));
    expected_metadata.emplace_back("s.int32", i(ValueType::INT32, -7));
    expected_metadata.emplace_back("s.uint64", u(ValueType::UINT64, 1ull << 40));
    expected_metadata.emplace_back("s.float32", f32(1.5f));
    expected_metadata.emplace_back("s.bool", b(true));
    expected_metadata.emplace_back("s.string", s("qwen3moe"));
    expected_metadata.emplace_back("s.string_array", array(ValueType::STRING, {s("a"), s("bb")}));
    expected_metadata.emplace_back(
        "s.int32_array", array(ValueType::INT32, {i(ValueType::INT32, -1), i(ValueType::INT32, 0),
                                                  i(ValueType::INT32, 1)}));
    expected_metadata.emplace_back("s.float32_array",
                                   array(ValueType::FLOAT32, {f32(0.25f), f32(-3.0f)}));

    struct Expected {
      std::string name;
      GgmlType type;
      std::vector<uint64_t> dims;
      std::vector<std::byte> data;
    };
    const std::vector<Expected> tensors = {
        {"a.f32", GgmlType::F32, {3}, random_bytes(12, 1)},  // 12 bytes: padding follows
        {"b.bf16", GgmlType::BF16, {5, 2}, random_bytes(20, 2)},
        {"c.q4_0", GgmlType::Q4_0, {64, 3}, random_bytes(6 * 18, 3)},
        {"d.q4_k.4d", GgmlType::Q4_K, {256, 1, 2, 1}, random_bytes(2 * 144, 4)},
        {"e.i8", GgmlType::I8, {1}, random_bytes(1, 5)},
    };
    for (const Expected& t : tensors) writer.add_tensor(t.name, t.type, t.dims, t.data);
    writer.write(path);

    const GgufFile file(path);
    EXPECT_EQ(file.version(), 3u);
    EXPECT_EQ(file.alignment(), alignment ? alignment : 32u);
    EXPECT_EQ(file.data_offset() % file.alignment(), 0u);
    ASSERT_EQ(file.metadata().size(), expected_metadata.size());
    for (size_t k = 0; k < expected_metadata.size(); ++k) {
      EXPECT_EQ(file.metadata()[k].first, expected_metadata[k].first);
      EXPECT_TRUE(same_value(expected_metadata[k].second, file.metadata()[k].second,
                             expected_metadata[k].first));
    }
    ASSERT_EQ(file.tensors().size(), tensors.size());
    for (size_t k = 0; k < tensors.size(); ++k) {
      const TensorInfo& t = file.tensors()[k];
      EXPECT_EQ(t.name, tensors[k].name);
      EXPECT_EQ(t.type, tensors[k].type) << t.name;
      EXPECT_EQ(t.dims, tensors[k].dims) << t.name;
      EXPECT_EQ(t.offset % file.alignment(), 0u) << t.name;
      EXPECT_EQ(file.read_tensor(t), tensors[k].data) << t.name;
    }
    // Padding after the last tensor, as llama.cpp and gguf-py write it.
    EXPECT_EQ(file.file_size() % file.alignment(), 0u);
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  }
}

// Rewriting a fixture from what GgufFile read gives back the very bytes llama.cpp wrote:
// the writer's layout (order, padding, offsets) is llama.cpp's, checked against files it made.
class GgufWriterRewrite : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufWriterRewrite, ReproducesFixtureByteForByte) {
  const std::string source = fixture(GetParam());
  const GgufFile original(source);
  GgufWriter writer;
  for (const auto& [key, value] : original.metadata()) writer.set_metadata(key, value);
  for (const TensorInfo& t : original.tensors()) writer.add_tensor_info(t.name, t.type, t.dims);
  TempDir dir;
  const std::string copy = dir.file("copy.gguf");
  // Stream each tensor in uneven chunks, as a converter reading from disk would.
  writer.write(copy, [&](size_t index, const TensorInfo& info, const ByteSink& sink) {
    const TensorInfo& from = original.tensors()[index];
    EXPECT_EQ(info.name, from.name);
    EXPECT_EQ(info.offset, from.offset) << info.name;
    const std::vector<std::byte> data = original.read_tensor(from);
    for (size_t at = 0; at < data.size(); at += 1000) {
      sink(std::span(data).subspan(at, std::min<size_t>(1000, data.size() - at)));
    }
  });
  const std::vector<uint8_t> expected = read_file(source);
  const std::vector<uint8_t> actual = read_file(copy);
  ASSERT_EQ(actual.size(), expected.size());
  const auto diff = std::mismatch(actual.begin(), actual.end(), expected.begin());
  EXPECT_TRUE(diff.first == actual.end())
      << "first difference at byte " << (diff.first - actual.begin());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufWriterRewrite,
                         ::testing::Values("split/qwen3_moe-bf16-00004-of-00004.gguf",
                                           "models/qwen3_moe/model-bf16.gguf",
                                           "quant/qwen3_moe/model-Q4_K_M.gguf"),
                         [](const auto& info) {
                           std::string name;
                           for (char c : info.param)
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

TEST(GgufWriter, SettingAKeyTwiceKeepsItsPlace) {
  GgufWriter writer;
  writer.set_uint32("a", 1);
  writer.set_string("b", "x");
  writer.set_float32("a", 2.0f);
  ASSERT_EQ(writer.metadata().size(), 2u);
  EXPECT_EQ(writer.metadata()[0].first, "a");
  EXPECT_EQ(writer.metadata()[0].second.type, ValueType::FLOAT32);
  EXPECT_EQ(writer.metadata()[0].second.as_float(), 2.0);
}

// Builds `what` and expects a GgufError whose message contains `needle`.
template <typename F>
void expect_writer_error(F&& what, std::string_view needle) {
  try {
    what();
    ADD_FAILURE() << "no error; expected one mentioning \"" << needle << "\"";
  } catch (const GgufError& e) {
    EXPECT_NE(std::string_view(e.what()).find(needle), std::string_view::npos) << e.what();
  }
}

TEST(GgufWriter, RejectsInconsistentMetadata) {
  GgufWriter w;
  expect_writer_error([&] { w.set_metadata("k", u(ValueType::UINT8, 256)); }, "out of range");
  expect_writer_error([&] { w.set_metadata("k", i(ValueType::INT8, -129)); }, "out of range");
  expect_writer_error([&] { w.set_metadata("k", i(ValueType::UINT32, -1)); }, "out of range");
  expect_writer_error([&] { w.set_metadata("k", u(ValueType::INT64, 1ull << 63)); },
                      "out of range");
  expect_writer_error([&] { w.set_metadata("k", Value{ValueType::STRING, 1.0}); }, "string");
  expect_writer_error(
      [&] {
        w.set_metadata("k", Value{ValueType::FLOAT32, uint64_t{1}});
      },
      "double");
  expect_writer_error([&] { w.set_metadata("k", array(ValueType::STRING, {b(true)})); },
                      "item 0 is a bool");
  expect_writer_error([&] { w.set_metadata("", b(true)); }, "empty");
  Value deep = array(ValueType::UINT8, {});
  for (int level = 0; level < 8; ++level) deep = array(ValueType::ARRAY, {deep});
  expect_writer_error([&] { w.set_metadata("deep", deep); }, "deeper");
  EXPECT_TRUE(w.metadata().empty());
}

TEST(GgufWriter, RejectsInconsistentTensors) {
  GgufWriter w;
  const auto data = random_bytes(64, 9);
  w.add_tensor("t", GgmlType::F32, {16}, data);
  expect_writer_error([&] { w.add_tensor("t", GgmlType::F32, {16}, data); },
                      "duplicate tensor 't'");
  expect_writer_error([&] { w.add_tensor("u", GgmlType::F32, {15}, data); }, "64 bytes");
  expect_writer_error([&] { w.add_tensor_info("u", GgmlType::F32, {}); }, "0 dimensions");
  expect_writer_error(
      [&] {
        w.add_tensor_info("u", GgmlType::F32, {1, 1, 1, 1, 1});
      },
      "5 dimensions");
  expect_writer_error([&] { w.add_tensor_info("u", GgmlType::F32, {4, 0}); }, "dimension 0");
  expect_writer_error(
      [&] {
        w.add_tensor_info("u", GgmlType::F32, {1ull << 40, 1ull << 40});
      },
      "absurd dimension");
  expect_writer_error([&] { w.add_tensor_info("u", GgmlType::Q4_K, {128}); }, "block size 256");
  expect_writer_error([&] { w.add_tensor_info("u", static_cast<GgmlType>(99), {4}); },
                      "unknown tensor type 99");
  expect_writer_error([&] { w.add_tensor_info(std::string(64, 'n'), GgmlType::F32, {4}); },
                      "1 to 63 bytes");
  EXPECT_EQ(w.tensors().size(), 1u);
  // The failed add_tensor("u", ...) left nothing behind: the name is still free.
  w.add_tensor("u", GgmlType::F32, {16}, data);
  EXPECT_EQ(w.tensors().size(), 2u);
}

TEST(GgufWriter, RejectsBadAlignmentAndBadProviders) {
  TempDir dir;
  const std::string path = dir.file("out.gguf");
  {
    GgufWriter w;
    w.set_uint32("general.alignment", 48);
    expect_writer_error([&] { w.write(path); }, "general.alignment 48");
    w.set_uint64("general.alignment", 64);
    expect_writer_error([&] { w.write(path); }, "must be a uint32");
  }
  GgufWriter w;
  w.add_tensor_info("t", GgmlType::F32, {4});
  expect_writer_error([&] { w.write(path); }, "no data provider");
  expect_writer_error(
      [&] {
        w.write(path,
                [](size_t, const TensorInfo&, const ByteSink& sink) { sink(random_bytes(15, 1)); });
      },
      "passed 15 bytes, expected 16");
  expect_writer_error(
      [&] {
        w.write(path,
                [](size_t, const TensorInfo&, const ByteSink& sink) { sink(random_bytes(17, 1)); });
      },
      "more than its 16 bytes");
  // Failed writes leave neither the file nor its partial copy.
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  w.write(path, [](size_t, const TensorInfo&, const ByteSink& sink) { sink(random_bytes(16, 1)); });
  EXPECT_EQ(GgufFile(path).tensors().size(), 1u);
}

TEST(GgufWriter, ReportsUnwritablePath) {
  GgufWriter w;
  try {
    w.write("/nonexistent-dir/x.gguf");
    ADD_FAILURE() << "wrote into a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string_view(e.what()).find("/nonexistent-dir/x.gguf"), std::string_view::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sluice::gguf::test
