// `sluice synth --preset gpt-oss-120b` end to end: a cut-down file (gpt-oss-120b's widths, 4
// layers so that sliding and full attention alternate as in the fixture, 8 experts, the
// release's types: MXFP4 experts, Q8_0 for the other matrices) has every metadata key and
// tensor llama.cpp's converter writes for gpt-oss (checked against the converter's output in
// ../shared/fixtures), runs with its experts streamed under a budget below the file's size
// and within it, and gives the same finite logits streamed as resident, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

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

class SynthGptOss : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 4 layers x 8 experts of 12.6 MiB (MXFP4): 403 MiB of experts, ~135 MiB dense.
    file_ = new testing::SyntheticFile("gpt-oss", "--preset gpt-oss-120b --layers 4 --experts 8 --vocab " +
                                       std::to_string(kVocab));
    model_ = &file_->path();
  }
  static void TearDownTestSuite() { delete file_; }

  static testing::SyntheticFile* file_;
  static const std::string* model_;
};
testing::SyntheticFile* SynthGptOss::file_ = nullptr;
const std::string* SynthGptOss::model_ = nullptr;

TEST_F(SynthGptOss, HasEveryKeyAndTensorOfLlamaCppsConverter) {
  const gguf::GgufFile reference(testing::fixture_path("models/gpt_oss/model-bf16.gguf"));
  const gguf::GgufFile synthetic(*model_);
  ASSERT_EQ(synthetic.get_string("general.architecture"), "gpt-oss");
  testing::expect_every_architecture_key(reference, synthetic, "gpt-oss");
  std::map<std::string, const gguf::TensorInfo*> synthetic_tensors;
  for (const auto& t : synthetic.tensors()) synthetic_tensors[t.name] = &t;
  EXPECT_EQ(synthetic.tensors().size(), reference.tensors().size());
  for (const auto& expected : reference.tensors()) {
    const auto it = synthetic_tensors.find(expected.name);
    if (it == synthetic_tensors.end()) {
      ADD_FAILURE() << "missing tensor " << expected.name;
      continue;
    }
    const gguf::TensorInfo& t = *it->second;
    EXPECT_EQ(t.dims.size(), expected.dims.size()) << t.name;
    EXPECT_EQ(t.type == quant::GgmlType::F32, expected.type == quant::GgmlType::F32) << t.name;
    // The release's types: routed experts MXFP4, the other matrices Q8_0.
    const bool expert = t.name.ends_with("_exps.weight");
    if (expert || t.type != quant::GgmlType::F32) {
      EXPECT_EQ(t.type, expert ? quant::GgmlType::MXFP4 : quant::GgmlType::Q8_0) << t.name;
    }
  }
  // gpt-oss-120b's config.json, not the fixture's.
  const auto get = [&](const std::string& key) { return synthetic.get_uint("gpt-oss." + key); };
  EXPECT_EQ(get("embedding_length"), 2880u);
  EXPECT_EQ(get("attention.head_count"), 64u);
  EXPECT_EQ(get("attention.head_count_kv"), 8u);
  EXPECT_EQ(get("attention.key_length"), 64u);
  EXPECT_EQ(get("expert_used_count"), 4u);
  EXPECT_EQ(get("expert_feed_forward_length"), 2880u);
  EXPECT_EQ(get("attention.sliding_window"), 128u);
  EXPECT_EQ(get("rope.scaling.original_context_length"), 4096u);
  EXPECT_EQ(synthetic.get_float("gpt-oss.rope.scaling.factor"), 32.0);
  EXPECT_EQ(synthetic.get_float("gpt-oss.rope.freq_base"), 150000.0);
  EXPECT_EQ(synthetic.get_string("tokenizer.ggml.pre"), "gpt-4o");
}

TEST_F(SynthGptOss, RunsWithExpertsStreamedWithinABudgetBelowTheFileSize) {
  const std::string stats = (file_->dir() / "stats.json").string();
  const std::string args = "run -m " + *model_ + " -p hello -n 8 --temp 0 -c 256";
  const int64_t budget_mib = testing::minimum_budget_mib(args) + 48;
  ASSERT_LT(static_cast<uint64_t>(budget_mib) << 20, fs::file_size(*model_));
  const auto run = testing::run_sluice_measured({"run", "-m", *model_, "-p", "hello", "-n", "8", "--temp", "0",
                                                 "-c", "256", "--mem", std::to_string(budget_mib) + "M",
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
              static_cast<double>(fs::file_size(*model_)) / (1 << 20));
}

TEST_F(SynthGptOss, StreamedLogitsAreFiniteAndEqualResidentLogits) {
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
  float max_diff = 0.0f;
  for (int64_t v = 0; v < kVocab; ++v) max_diff = std::max(max_diff, std::fabs(values[v] - values[kVocab + v]));
  EXPECT_GT(max_diff, 0.1f) << "positions 0 and 1 have the same logits";
}

TEST_F(SynthGptOss, StateEstimateEqualsTheCacheTheModelAllocates) {
  const gguf::GgufFile file(*model_);
  store::StoreConfig config;
  config.stream_experts = true;
  config.expert_cache_bytes = 64ull << 20;
  const auto model = model::load_model(file, config);
  for (int64_t n_ctx : {1, 256, 4096}) {
    EXPECT_EQ(model::estimate_memory(file, n_ctx, 1, 1).state_bytes, model->new_cache(n_ctx).bytes()) << "n_ctx " << n_ctx;
  }
}

TEST(SynthGptOssTypes, RowsOf2880RefuseSuperBlockFormats) {
  const auto r = testing::run_sluice("synth --preset gpt-oss-120b --layers 1 --experts 4 --vocab 1024 --type Q4_K -o " +
                                     (fs::temp_directory_path() / "sluice-never-written.gguf").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("multiples of 256"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sluice
