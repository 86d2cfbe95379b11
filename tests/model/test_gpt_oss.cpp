// gpt-oss beyond the reference parity of test_reference_parity.cpp: experts streamed through
// a cache of two experts per layer give the resident logits bit for bit, the memory estimate
// counts the cache the model allocates, and broken files (a missing sink tensor, head counts
// that do not fit the tensors, bad YaRN or window metadata) are refused with a clear error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/memory_estimate.h"
#include "model/model.h"
#include "store/expert_cache.h"
#include "store/model_layout.h"
#include "support/fixtures.h"

namespace sluice::model {
namespace {

using testing::fixture_path;
namespace fs = std::filesystem;

const std::string kModel = "models/gpt_oss/model-bf16.gguf";

// Logits of the reference prompt (every position) then `n_decode` greedy single-token steps.
std::vector<float> run_model(Model& m, int n_decode) {
  const auto prompt = testing::read_json(fixture_path("models/gpt_oss/reference.json"))["input_ids"]
                          .get<std::vector<int32_t>>();
  ops::ThreadPool pool(2);
  const int64_t n_vocab = m.info().n_vocab;
  KvCache cache = m.new_cache(static_cast<int64_t>(prompt.size()) + n_decode);
  std::vector<float> all(prompt.size() * static_cast<size_t>(n_vocab));
  m.forward(pool, prompt, cache, LogitsMode::kAll, all.data());
  std::vector<float> step(all.end() - n_vocab, all.end());
  for (int i = 0; i < n_decode; ++i) {
    const auto next = static_cast<int32_t>(std::max_element(step.begin(), step.end()) - step.begin());
    m.forward(pool, std::span(&next, 1), cache, LogitsMode::kLast, step.data());
    all.insert(all.end(), step.begin(), step.end());
  }
  return all;
}

TEST(GptOssStreaming, TwoExpertsPerLayerEqualResidentBitForBit) {
  const gguf::GgufFile file(fixture_path(kModel));
  auto resident = load_model(file);
  const std::vector<float> expected = run_model(*resident, 8);

  store::StoreConfig config;
  config.stream_experts = true;
  const int64_t n_layer = resident->info().n_layer;
  config.expert_cache_bytes = 2 * n_layer * store::expert_slot_bytes(store::analyze_layout(file).expert_layers);
  auto streamed = load_model(file, config);
  const auto* cache = dynamic_cast<const store::ExpertCache*>(streamed->experts());
  ASSERT_NE(cache, nullptr);
  const std::vector<float> got = run_model(*streamed, 8);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
      << "streamed logits differ from resident ones";
  const store::LayerCacheStats total = cache->stats().total();
  EXPECT_GT(total.accesses, total.hits) << "no expert was read while running";
}

TEST(GptOssMemory, StateEstimateEqualsTheCacheTheModelAllocates) {
  const gguf::GgufFile file(fixture_path(kModel));
  const auto model = load_model(file);
  for (int64_t n_ctx : {1, 57, 2048}) {
    EXPECT_EQ(estimate_memory(file, n_ctx, 1, 1).state_bytes, model->new_cache(n_ctx).bytes()) << "n_ctx " << n_ctx;
  }
}

// Copies the fixture with its metadata edited by `edit_metadata` and without the tensors
// `drop` names.
class BrokenGptOss : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-gpt-oss-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_copy(const std::function<void(gguf::GgufWriter&)>& edit_metadata,
                         const std::string& drop = "") {
    const gguf::GgufFile source(fixture_path(kModel));
    gguf::GgufWriter writer;
    for (const auto& [key, value] : source.metadata()) writer.set_metadata(key, value);
    edit_metadata(writer);
    for (const gguf::TensorInfo& t : source.tensors()) {
      if (t.name == drop) continue;
      const std::vector<std::byte> bytes = source.read_tensor(t);
      writer.add_tensor(t.name, t.type, t.dims, bytes);
    }
    const std::string path = (dir_ / "broken.gguf").string();
    writer.write(path);
    return path;
  }

  // Loading `path` throws an Error (ModelError or GgufError) that mentions `words`.
  static void expect_refused(const std::string& path, const std::string& words) {
    const gguf::GgufFile file(path);
    try {
      load_model(file);
      ADD_FAILURE() << "expected an error mentioning '" << words << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(BrokenGptOss, UnchangedCopyLoads) {
  const gguf::GgufFile file(write_copy([](gguf::GgufWriter&) {}));
  EXPECT_NO_THROW(load_model(file));
}

TEST_F(BrokenGptOss, MissingSinksAreNamed) {
  expect_refused(write_copy([](gguf::GgufWriter&) {}, "blk.2.attn_sinks.weight"), "blk.2.attn_sinks.weight");
}

TEST_F(BrokenGptOss, HeadCountsThatCannotBeGroupedAreRefused) {
  expect_refused(write_copy([](gguf::GgufWriter& w) { w.set_uint32("gpt-oss.attention.head_count", 3); }),
                 "cannot be grouped");
}

TEST_F(BrokenGptOss, HeadCountsThatDoNotFitTheTensorsAreRefused) {
  expect_refused(write_copy([](gguf::GgufWriter& w) { w.set_uint32("gpt-oss.attention.head_count_kv", 4); }),
                 "blk.0.attn_k.weight");
}

TEST_F(BrokenGptOss, ZeroSlidingWindowIsRefused) {
  expect_refused(write_copy([](gguf::GgufWriter& w) { w.set_uint32("gpt-oss.attention.sliding_window", 0); }),
                 "sliding_window");
}

TEST_F(BrokenGptOss, InvalidYarnIsRefused) {
  expect_refused(write_copy([](gguf::GgufWriter& w) { w.set_float32("gpt-oss.rope.scaling.yarn_beta_fast", 0.5f); }),
                 "beta_fast > beta_slow");
  expect_refused(write_copy([](gguf::GgufWriter& w) { w.set_float32("gpt-oss.rope.scaling.factor", -2.0f); }),
                 "YaRN");
  expect_refused(write_copy([](gguf::GgufWriter& w) { w.set_uint32("gpt-oss.rope.scaling.original_context_length", 0); }),
                 "original_context_length");
}

}  // namespace
}  // namespace sluice::model
