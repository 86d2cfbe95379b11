// The split fixture (models/qwen3_moe/model-bf16.gguf in four parts, by llama.cpp's
// llama-gguf-split) run as a model: its logits are bit-identical to the whole file's, with
// experts resident and streamed from the parts by the expert cache, and within 1e-3 of the
// transformers reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "gguf/gguf_file.h"
#include "model/model.h"
#include "store/bandwidth.h"
#include "store/expert_cache.h"
#include "store/model_layout.h"
#include "support/fixtures.h"

namespace sluice {
namespace {

using testing::fixture_path;

const std::string kWhole = "models/qwen3_moe/model-bf16.gguf";
const std::string kFirstPart = "split/qwen3_moe-bf16-00001-of-00004.gguf";

// Logits of the prompt (one batch, every position) followed by `n_decode` single-token steps
// feeding back the argmax.
std::vector<float> run_model(model::Model& m, const std::vector<int32_t>& prompt, int n_decode) {
  ops::ThreadPool pool(2);
  const int64_t n_vocab = m.info().n_vocab;
  model::KvCache cache = m.new_cache(static_cast<int64_t>(prompt.size()) + n_decode);
  std::vector<float> all(prompt.size() * static_cast<size_t>(n_vocab));
  m.forward(pool, prompt, cache, model::LogitsMode::kAll, all.data());
  std::vector<float> step(static_cast<size_t>(n_vocab));
  int32_t next = static_cast<int32_t>(std::max_element(all.end() - n_vocab, all.end()) - (all.end() - n_vocab));
  for (int i = 0; i < n_decode; ++i) {
    m.forward(pool, std::span(&next, 1), cache, model::LogitsMode::kLast, step.data());
    all.insert(all.end(), step.begin(), step.end());
    next = static_cast<int32_t>(std::max_element(step.begin(), step.end()) - step.begin());
  }
  return all;
}

store::StoreConfig streaming(uint64_t slots, const gguf::GgufFile& file) {
  store::StoreConfig config;
  config.stream_experts = true;
  config.expert_cache_bytes = slots * store::expert_slot_bytes(store::analyze_layout(file).expert_layers);
  return config;
}

std::vector<int32_t> reference_prompt() {
  return testing::read_json(fixture_path("models/qwen3_moe/reference.json"))["input_ids"].get<std::vector<int32_t>>();
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class SplitModelLogits : public ::testing::Test {
 protected:
  void SetUp() override {
    auto whole = model::load_model(whole_file_);
    expected_ = run_model(*whole, prompt_, 8);
  }
  gguf::GgufFile whole_file_{fixture_path(kWhole)};
  gguf::GgufFile split_file_{fixture_path(kFirstPart)};
  std::vector<int32_t> prompt_ = reference_prompt();
  std::vector<float> expected_;
};

TEST_F(SplitModelLogits, ResidentEqualsWholeFileAndReference) {
  ASSERT_EQ(split_file_.n_parts(), 4u);
  auto split = model::load_model(split_file_);
  const std::vector<float> got = run_model(*split, prompt_, 8);
  EXPECT_TRUE(bit_identical(got, expected_)) << "split logits differ from the whole file's";

  // The prompt positions against transformers.
  const std::vector<float> reference = testing::read_f32(fixture_path("models/qwen3_moe/reference_logits.f32"));
  ASSERT_LE(reference.size(), got.size());
  float max_diff = 0.0f;
  for (size_t i = 0; i < reference.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - reference[i]));
  EXPECT_LT(max_diff, 1e-3f);
}

TEST_F(SplitModelLogits, StreamedFromThePartsEqualsWholeFile) {
  const int64_t n_layer = 4;
  auto streamed = model::load_model(split_file_, streaming(2 * n_layer, split_file_));
  const auto* cache = dynamic_cast<const store::ExpertCache*>(streamed->experts());
  ASSERT_NE(cache, nullptr);
  const std::vector<float> got = run_model(*streamed, prompt_, 8);
  EXPECT_TRUE(bit_identical(got, expected_)) << "streamed split logits differ from the whole file's";
  // Experts were read, from more than one file.
  const store::LayerCacheStats total = cache->stats().total();
  EXPECT_GT(total.accesses, total.hits);
  EXPECT_NE(cache->io_description().find("files"), std::string::npos) << cache->io_description();
  std::set<uint32_t> expert_parts;
  for (const auto& layer : store::analyze_layout(split_file_).expert_layers) {
    for (const gguf::TensorInfo* t : layer.tensors) expert_parts.insert(t->part);
  }
  EXPECT_GT(expert_parts.size(), 1u);
}

TEST_F(SplitModelLogits, ReadErrorNamesThePartHoldingTheExpert) {
  auto streamed = model::load_model(split_file_, streaming(8, split_file_));
  auto* cache = const_cast<store::ExpertCache*>(dynamic_cast<const store::ExpertCache*>(streamed->experts()));
  ASSERT_NE(cache, nullptr);
  cache->set_fault_hook([](uint64_t, uint64_t) { return EIO; });
  try {
    run_model(*streamed, prompt_, 0);
    FAIL() << "expected the injected read error";
  } catch (const Error& e) {
    const std::string message = e.what();
    bool names_a_part = false;
    for (size_t part = 0; part < split_file_.n_parts(); ++part) {
      names_a_part = names_a_part || message.find(split_file_.path(part)) != std::string::npos;
    }
    EXPECT_TRUE(names_a_part) << message;
    EXPECT_NE(message.find("errno 5"), std::string::npos) << message;
  }
  cache->set_fault_hook(nullptr);
  EXPECT_TRUE(bit_identical(run_model(*streamed, prompt_, 8), expected_));
}

TEST(SplitModelBandwidth, ReadsExpertsFromEveryPartHoldingThem) {
  const gguf::GgufFile file(fixture_path(kFirstPart));
  const auto probe = store::measure_read_bandwidth(file, store::analyze_layout(file), store::IoEngineKind::kThreads,
                                                   0.05, 1ull << 20);
  EXPECT_GT(probe.bytes, 0u);
  EXPECT_GT(probe.bytes_per_second, 0.0);
}

}  // namespace
}  // namespace sluice
