// Split models (NAME-0000K-of-0000N.gguf) opened from their first part: the fixture in
// split/ (models/qwen3_moe/model-bf16.gguf cut by llama.cpp's llama-gguf-split) must read as
// the whole file does, and broken sets of parts (a part missing, inconsistent split keys, a
// tensor in two parts, a wrong tensor count) must be refused naming the part and the problem.
//
// Broken parts are built in a temp dir by writing the fixture parts again with GgufWriter,
// with one change each; an unchanged rewrite of all parts opens, so each refusal is caused
// by its one change.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"

namespace sluice::gguf::test {
namespace {

namespace fs = std::filesystem;

constexpr int kParts = 4;
const std::string kWhole = "models/qwen3_moe/model-bf16.gguf";

std::string part_name(int part) {  // part from 1, as in the file names
  return "qwen3_moe-bf16-0000" + std::to_string(part) + "-of-00004.gguf";
}
std::string fixture_part(int part) { return fixture("split/" + part_name(part)); }

// Writes part `part` of the fixture to `destination` through GgufWriter; `edit` may change
// metadata or tensors before it is written.
void rewrite_part(int part, const std::string& destination,
                  const std::function<void(GgufWriter&)>& edit = {}) {
  const GgufFile source(fixture_part(part), {}, SplitParts::kThisFileOnly);
  GgufWriter writer;
  for (const auto& [key, value] : source.metadata()) writer.set_metadata(key, value);
  for (const TensorInfo& t : source.tensors()) {
    writer.add_tensor(t.name, t.type, t.dims, source.read_tensor(t));
  }
  if (edit) edit(writer);
  writer.write(destination);
}

// Adds tensor `name` of the whole model to `writer`.
void add_tensor_of_whole_model(GgufWriter& writer, const std::string& name) {
  const GgufFile whole(fixture(kWhole));
  const TensorInfo& t = whole.require_tensor(name);
  writer.add_tensor(t.name, t.type, t.dims, whole.read_tensor(t));
}

class SplitModel : public ::testing::Test {
 protected:
  // Writes every part into the temp dir, part `edited` through `edit`.
  std::string write_parts(int edited = 0, const std::function<void(GgufWriter&)>& edit = {}) {
    for (int part = 1; part <= kParts; ++part) {
      rewrite_part(part, dir_.file(part_name(part)), part == edited ? edit : nullptr);
    }
    return dir_.file(part_name(1));
  }
  TempDir dir_;
};

TEST_F(SplitModel, FirstPartOpensTheWholeModel) {
  const GgufFile whole(fixture(kWhole));
  const GgufFile split(fixture_part(1));
  ASSERT_EQ(split.n_parts(), static_cast<size_t>(kParts));
  EXPECT_EQ(split.split_index(), 0u);
  EXPECT_EQ(split.split_count(), 4u);
  uint64_t total = 0;
  for (int part = 1; part <= kParts; ++part) {
    EXPECT_EQ(split.path(part - 1), fixture_part(part));
    EXPECT_EQ(split.part_size(part - 1), fs::file_size(fixture_part(part)));
    total += fs::file_size(fixture_part(part));
  }
  EXPECT_EQ(split.total_size(), total);
  EXPECT_EQ(split.path(), fixture_part(1));
  EXPECT_EQ(split.get_string("general.architecture"), "qwen3moe");

  // The same tensors as the whole file, in the same order, with the same bytes.
  ASSERT_EQ(split.tensors().size(), whole.tensors().size());
  std::set<std::string> names;
  for (const TensorInfo& t : split.tensors()) names.insert(t.name);
  EXPECT_EQ(names.size(), whole.tensors().size());
  for (const TensorInfo& reference : whole.tensors()) {
    const TensorInfo* t = split.find_tensor(reference.name);
    ASSERT_NE(t, nullptr) << reference.name;
    EXPECT_EQ(t->dims, reference.dims) << t->name;
    EXPECT_EQ(t->type, reference.type) << t->name;
    EXPECT_EQ(split.read_tensor(*t), whole.read_tensor(reference)) << t->name;
  }

  // Each tensor names the part that holds it, with the offset that part gives it.
  for (int part = 1; part <= kParts; ++part) {
    const GgufFile alone(fixture_part(part), {}, SplitParts::kThisFileOnly);
    for (const TensorInfo& t : alone.tensors()) {
      const TensorInfo& merged = split.require_tensor(t.name);
      EXPECT_EQ(merged.part, static_cast<uint32_t>(part - 1)) << t.name;
      EXPECT_EQ(merged.offset, t.offset) << t.name;
    }
  }
  // read_at goes to the part asked for: the first bytes of every part are its magic.
  for (size_t part = 0; part < split.n_parts(); ++part) {
    char magic[4] = {};
    split.read_at(part, 0, magic, 4);
    EXPECT_EQ(std::string(magic, 4), "GGUF");
  }
  char past_end[4];
  EXPECT_THROW(split.read_at(3, split.part_size(3) - 2, past_end, 4), Error);
  EXPECT_NO_THROW(split.require_first_part());
}

TEST_F(SplitModel, ThisFileOnlyOpensOnePart) {
  const GgufFile first(fixture_part(1), {}, SplitParts::kThisFileOnly);
  EXPECT_EQ(first.n_parts(), 1u);
  EXPECT_EQ(first.tensors().size(), 16u);
}

TEST_F(SplitModel, LaterPartOpensAloneAndRefusesToBeAModel) {
  const GgufFile third(fixture_part(3));
  EXPECT_EQ(third.n_parts(), 1u);
  EXPECT_EQ(third.split_index(), 2u);
  EXPECT_EQ(third.split_count(), 4u);
  EXPECT_EQ(third.tensors().size(), 16u);
  try {
    third.require_first_part();
    FAIL() << "a later part was accepted as a model";
  } catch (const GgufError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("part 3 of 4"), std::string::npos) << message;
    EXPECT_NE(message.find(fixture_part(1)), std::string::npos) << message;
  }
}

TEST_F(SplitModel, RewrittenPartsOpen) {
  const std::string first = write_parts();
  const GgufFile split(first);
  EXPECT_EQ(split.n_parts(), static_cast<size_t>(kParts));
  EXPECT_EQ(split.tensors().size(), 51u);
}

TEST_F(SplitModel, MissingPart) {
  const std::string first = write_parts();
  fs::remove(dir_.file(part_name(3)));
  EXPECT_TRUE(rejects(first, {"part 3 of 4", part_name(3), "is missing"}));
}

TEST_F(SplitModel, CorruptPart) {
  const std::string first = write_parts();
  fs::resize_file(dir_.file(part_name(2)), 100);
  EXPECT_TRUE(rejects(first, {"part 2 of 4", "truncated"}));
}

TEST_F(SplitModel, LaterPartWithWrongSplitCount) {
  const std::string first = write_parts(2, [](GgufWriter& w) {
    w.set_metadata("split.count", Value{ValueType::UINT16, uint64_t{5}});
  });
  EXPECT_TRUE(rejects(first, {"part 2 of 4", "split.count 5", "the first part has 4"}));
}

TEST_F(SplitModel, LaterPartWithoutSplitCount) {
  const std::string first = write_parts();
  const GgufFile source(fixture_part(4), {}, SplitParts::kThisFileOnly);
  GgufWriter w;  // part 4 with every key but split.count
  for (const auto& [key, value] : source.metadata()) {
    if (key != "split.count") w.set_metadata(key, value);
  }
  for (const TensorInfo& t : source.tensors()) w.add_tensor(t.name, t.type, t.dims, source.read_tensor(t));
  w.write(dir_.file(part_name(4)));
  EXPECT_TRUE(rejects(first, {"part 4 of 4", "split.count (missing)"}));
}

TEST_F(SplitModel, FirstPartWithWrongSplitCount) {
  // A first part that says 3 parts is looked for under the name ...-00001-of-00003.gguf.
  const std::string first = write_parts(1, [](GgufWriter& w) {
    w.set_metadata("split.count", Value{ValueType::UINT16, uint64_t{3}});
  });
  EXPECT_TRUE(rejects(first, {"split into 3 files", "-00001-of-00003.gguf"}));
  // Named as it says, it finds parts 2 and 3, which say 4.
  const std::string renamed = dir_.file("qwen3_moe-bf16-00001-of-00003.gguf");
  fs::copy_file(first, renamed);
  fs::copy_file(dir_.file(part_name(2)), dir_.file("qwen3_moe-bf16-00002-of-00003.gguf"));
  fs::copy_file(dir_.file(part_name(3)), dir_.file("qwen3_moe-bf16-00003-of-00003.gguf"));
  EXPECT_TRUE(rejects(renamed, {"part 2 of 3", "split.count 4", "the first part has 3"}));
}

TEST_F(SplitModel, PartWithWrongSplitNo) {
  const std::string first = write_parts(3, [](GgufWriter& w) {
    w.set_metadata("split.no", Value{ValueType::UINT16, uint64_t{1}});
  });
  EXPECT_TRUE(rejects(first, {"part 3 of 4", "split.no 1, expected 2"}));
}

TEST_F(SplitModel, TensorInTwoParts) {
  // output_norm.weight is in part 4; put a copy into part 2 as well.
  const std::string first = write_parts(2, [](GgufWriter& w) { add_tensor_of_whole_model(w, "output_norm.weight"); });
  EXPECT_TRUE(rejects(first, {"tensor 'output_norm.weight' is in both", part_name(2), part_name(4)}));
}

TEST_F(SplitModel, TensorCountDiffersFromSplitTensorsCount) {
  // Part 4 without its last tensor: 50 tensors where split.tensors.count says 51.
  const GgufFile source(fixture_part(4), {}, SplitParts::kThisFileOnly);
  write_parts();
  GgufWriter w;
  for (const auto& [key, value] : source.metadata()) w.set_metadata(key, value);
  for (size_t i = 0; i + 1 < source.tensors().size(); ++i) {
    const TensorInfo& t = source.tensors()[i];
    w.add_tensor(t.name, t.type, t.dims, source.read_tensor(t));
  }
  w.write(dir_.file(part_name(4)));
  EXPECT_TRUE(rejects(dir_.file(part_name(1)), {"hold 50 tensors", "split.tensors.count is 51"}));
}

TEST_F(SplitModel, FirstPartNotNamedAsAPart) {
  const std::string first = write_parts();
  const std::string renamed = dir_.file("model.gguf");
  fs::copy_file(first, renamed);
  EXPECT_TRUE(rejects(renamed, {"model.gguf", "must be named PREFIX-00001-of-00004.gguf"}));
}

}  // namespace
}  // namespace sluice::gguf::test
