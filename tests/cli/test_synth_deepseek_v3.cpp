// `sluice synth --preset deepseek-v3` end to end: a cut-down file (DeepSeek-V3's widths, 4
// layers of which 3 dense and 1 MoE, 16 experts, Q4_K) has every deepseek2 metadata key and
// per-layer tensor llama.cpp's converter writes (checked against the converter's output in
// ../shared/fixtures), runs with its experts streamed under a budget below the file's size
// with the process's peak RSS within it, and gives the same logits streamed as resident.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "gguf/gguf_file.h"
#include "model/memory_estimate.h"
#include "model/model.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/synthetic_file.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kVocab = 4096;

class SynthDeepseekV3 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 3 dense layers of 223 MiB, 4 attention blocks of ~100 MiB, 16 experts of 23.6 MiB.
    file_ = new testing::SyntheticFile("deepseek", "--preset deepseek-v3 --layers 4 --experts 16 --vocab " +
                                       std::to_string(kVocab) + " --type Q4_K");
    model_ = &file_->path();
  }
  static void TearDownTestSuite() { delete file_; }


  // Tensor names of layer `layer` without their "blk.N." prefix.
  static std::set<std::string> layer_tensors(const gguf::GgufFile& file, int layer) {
    const std::string prefix = "blk." + std::to_string(layer) + ".";
    std::set<std::string> names;
    for (const auto& t : file.tensors()) {
      if (t.name.starts_with(prefix)) names.insert(t.name.substr(prefix.size()));
    }
    return names;
  }

  static testing::SyntheticFile* file_;
  static const std::string* model_;
};
testing::SyntheticFile* SynthDeepseekV3::file_ = nullptr;
const std::string* SynthDeepseekV3::model_ = nullptr;

TEST_F(SynthDeepseekV3, HasEveryKeyAndTensorOfLlamaCppsConverter) {
  const gguf::GgufFile reference(testing::fixture_path("models/deepseek_v3/model-bf16.gguf"));
  const gguf::GgufFile synthetic(*model_);
  ASSERT_EQ(synthetic.get_string("general.architecture"), "deepseek2");
  testing::expect_every_architecture_key(reference, synthetic, "deepseek2");
  // The fixture's layer 0 is dense and layer 3 MoE; the synthetic file's layers 0 and 3 too.
  EXPECT_EQ(layer_tensors(synthetic, 0), layer_tensors(reference, 0));
  EXPECT_EQ(layer_tensors(synthetic, 3), layer_tensors(reference, 3));
  const auto get = [&](const std::string& key) { return synthetic.get_uint("deepseek2." + key); };
  EXPECT_EQ(get("embedding_length"), 7168u);
  EXPECT_EQ(get("attention.head_count"), 128u);
  EXPECT_EQ(get("attention.q_lora_rank"), 1536u);
  EXPECT_EQ(get("attention.kv_lora_rank"), 512u);
  EXPECT_EQ(get("attention.key_length_mla"), 192u);
  EXPECT_EQ(get("attention.value_length_mla"), 128u);
  EXPECT_EQ(get("rope.dimension_count"), 64u);
  EXPECT_EQ(get("leading_dense_block_count"), 3u);
  EXPECT_EQ(get("feed_forward_length"), 18432u);
  EXPECT_EQ(get("expert_feed_forward_length"), 2048u);
  EXPECT_EQ(get("expert_used_count"), 8u);
  EXPECT_EQ(get("expert_group_count"), 8u);
  EXPECT_EQ(get("expert_group_used_count"), 4u);
  EXPECT_EQ(get("expert_gating_func"), 2u);
  EXPECT_EQ(synthetic.get_string("deepseek2.rope.scaling.type"), "yarn");
  EXPECT_EQ(synthetic.get_float("deepseek2.rope.scaling.factor"), 40.0);
  EXPECT_EQ(synthetic.get_string("tokenizer.ggml.pre"), "deepseek-v3");
}

TEST_F(SynthDeepseekV3, RunsWithExpertsStreamedWithinABudgetBelowTheFileSize) {
  const std::string stats = (file_->dir() / "stats.json").string();
  const std::string args = "run -m " + *model_ + " -p hello -n 8 --temp 0 -c 256 -b 16";
  const int64_t budget_mib = testing::minimum_budget_mib(args) + 48;
  const uint64_t file_bytes = fs::file_size(*model_);
  EXPECT_LT(static_cast<uint64_t>(budget_mib) << 20, file_bytes);
  const auto run = testing::run_sluice_measured({"run", "-m", *model_, "-p", "hello", "-n", "8", "--temp", "0",
                                                 "-c", "256", "-b", "16", "--mem", std::to_string(budget_mib) + "M",
                                                 "--stats-json", stats});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream in(stats);
  const auto report = nlohmann::json::parse(in);
  EXPECT_GT(report["bytes_read"].get<uint64_t>(), 0u);
  EXPECT_LT(report["hit_rate"].get<double>(), 1.0);
#if !defined(SLUICE_SANITIZED)
  EXPECT_LE(run.peak_rss_bytes, static_cast<uint64_t>(budget_mib) << 20) << run.err;
#endif
  std::printf("[ budget ] peak RSS %.1f MiB within --mem %lldM (file %.1f MiB)\n",
              static_cast<double>(run.peak_rss_bytes) / (1 << 20), static_cast<long long>(budget_mib),
              static_cast<double>(file_bytes) / (1 << 20));
}

TEST_F(SynthDeepseekV3, StreamedLogitsAreFiniteAndEqualResidentLogits) {
  const std::string streamed = (file_->dir() / "streamed.f32"), resident = (file_->dir() / "resident.f32");
  const std::string logits = "logits -m " + *model_ + " --ids 11,300,2049,7,4000,512,9,77";
  const int64_t budget_mib = testing::minimum_budget_mib(logits + " -o " + streamed) + 24;
  const auto a = testing::run_sluice(logits + " --mem " + std::to_string(budget_mib) + "M -o " + streamed);
  const auto b = testing::run_sluice(logits + " --no-stream -o " + resident);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(testing::slurp(streamed), testing::slurp(resident));
  const std::vector<float> values = testing::read_f32(streamed);
  ASSERT_EQ(values.size(), 8u * kVocab);
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(std::isfinite(values[i])) << "position " << i / kVocab << ", token " << i % kVocab;
  }
}

TEST_F(SynthDeepseekV3, StateEstimateEqualsTheCacheTheModelAllocates) {
  const gguf::GgufFile file(*model_);
  store::StoreConfig config;
  config.stream_experts = true;
  config.expert_cache_bytes = 64ull << 20;
  const auto model = model::load_model(file, config);
  for (int64_t n_ctx : {1, 256, 4096}) {
    EXPECT_EQ(model::estimate_memory(file, n_ctx, 1, 1).state_bytes, model->new_cache(n_ctx).bytes()) << n_ctx;
  }
}

}  // namespace
}  // namespace sluice
