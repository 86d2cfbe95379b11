// `sluice synth --preset qwen3.5-397b-a17b` end to end: a cut-down file (Qwen3.5-397B-A17B's
// widths, 4 layers so that one is full attention, 16 experts, Q4_K) has every metadata key and
// tensor llama.cpp's converter writes for qwen35moe (checked against the converter's output in
// ../shared/fixtures), runs with its experts streamed under a budget far below their size,
// gives finite logits that do not collapse to one row, and gives the same logits streamed as
// resident, bit for bit. The memory estimate's state equals the cache the model allocates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
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

std::vector<float> read_f32_tensor(const gguf::GgufFile& file, const std::string& name) {
  const gguf::TensorInfo& tensor = file.require_tensor(name);
  EXPECT_EQ(tensor.type, quant::GgmlType::F32) << name;
  const std::vector<std::byte> bytes = file.read_tensor(tensor);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

class SynthQwen35 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 4 layers x 16 experts of 6.8 MiB at Q4_K: 435 MiB of experts, ~300 MiB dense.
    file_ = new testing::SyntheticFile("qwen35", "--preset qwen3.5-397b-a17b --layers 4 --experts 16 --vocab " +
                                       std::to_string(kVocab) + " --type Q4_K");
    model_ = &file_->path();
  }
  static void TearDownTestSuite() { delete file_; }

  static testing::SyntheticFile* file_;
  static const std::string* model_;
};
testing::SyntheticFile* SynthQwen35::file_ = nullptr;
const std::string* SynthQwen35::model_ = nullptr;

// The converter's qwen35moe file (tiny widths, 4 layers, full_attention_interval 4) has the
// same layer pattern, so the two must hold the same tensors, of the same rank, F32 in both or
// in neither, and the same architecture keys.
TEST_F(SynthQwen35, HasEveryKeyAndTensorOfLlamaCppsConverter) {
  const gguf::GgufFile reference(testing::fixture_path("models/qwen3_5_moe_text/model-bf16.gguf"));
  const gguf::GgufFile synthetic(*model_);
  ASSERT_EQ(synthetic.get_string("general.architecture"), "qwen35moe");
  testing::expect_every_architecture_key(reference, synthetic, "qwen35moe");
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
    EXPECT_EQ(t.dims.size(), expected.dims.size()) << t.name << ": " << t.shape_string() << " vs "
                                                   << expected.shape_string();
    EXPECT_EQ(t.type == quant::GgmlType::F32, expected.type == quant::GgmlType::F32) << t.name;
  }
  // The released model's widths (Qwen3.5-397B-A17B config.json), not the fixture's.
  const auto get = [&](const std::string& key) { return synthetic.get_uint("qwen35moe." + key); };
  EXPECT_EQ(get("embedding_length"), 4096u);
  EXPECT_EQ(get("attention.head_count"), 32u);
  EXPECT_EQ(get("attention.head_count_kv"), 2u);
  EXPECT_EQ(get("attention.key_length"), 256u);
  EXPECT_EQ(get("rope.dimension_count"), 64u);
  EXPECT_EQ(get("expert_used_count"), 10u);
  EXPECT_EQ(get("expert_feed_forward_length"), 1024u);
  EXPECT_EQ(get("expert_shared_feed_forward_length"), 1024u);
  EXPECT_EQ(get("ssm.group_count"), 16u);
  EXPECT_EQ(get("ssm.time_step_rank"), 64u);
  EXPECT_EQ(get("ssm.state_size"), 128u);
  EXPECT_EQ(get("ssm.inner_size"), 8192u);
  EXPECT_EQ(synthetic.get_int_array("qwen35moe.rope.dimension_sections"),
            (std::vector<int64_t>{11, 11, 10, 0}));
  // ssm_a = -exp(A_log) is negative; the norms the model expects as ones are ones.
  for (float a : read_f32_tensor(synthetic, "blk.0.ssm_a")) EXPECT_LT(a, 0.0f);
  for (const char* norm : {"blk.0.attn_norm.weight", "blk.0.ssm_norm.weight", "blk.3.attn_q_norm.weight",
                           "blk.3.post_attention_norm.weight", "output_norm.weight"}) {
    for (float w : read_f32_tensor(synthetic, norm)) ASSERT_EQ(w, 1.0f) << norm;
  }
}

TEST_F(SynthQwen35, RunsWithExpertsStreamedWithinTheBudget) {
  const std::string stats = (file_->dir() / "stats.json").string();
  const std::string args = "run -m " + *model_ + " -p \"the quick brown fox\" -n 8 --temp 0 -c 256";
  const int64_t budget_mib = testing::minimum_budget_mib(args) + 48;
  const auto run = testing::run_sluice_measured({"run", "-m", *model_, "-p", "the quick brown fox", "-n", "8",
                                                 "--temp", "0", "-c", "256", "--mem", std::to_string(budget_mib) + "M",
                                                 "--stats-json", stats});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream in(stats);
  const auto report = nlohmann::json::parse(in);
  EXPECT_GT(report["bytes_read"].get<uint64_t>(), 0u);
  EXPECT_LT(report["hit_rate"].get<double>(), 1.0);
#if !defined(SLUICE_SANITIZED)
  EXPECT_LE(run.peak_rss_bytes, static_cast<uint64_t>(budget_mib) << 20) << run.err;
#endif
  std::printf("[ budget ] peak RSS %.1f MiB within --mem %lldM\n",
              static_cast<double>(run.peak_rss_bytes) / (1 << 20), static_cast<long long>(budget_mib));
}

TEST_F(SynthQwen35, StreamedLogitsAreFiniteAndEqualResidentLogits) {
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
  // Random weights that share a bias make every position's logits the same; centred ones
  // keep the positions apart.
  float max_diff = 0.0f;
  for (int64_t v = 0; v < kVocab; ++v) max_diff = std::max(max_diff, std::fabs(values[v] - values[kVocab + v]));
  EXPECT_GT(max_diff, 0.1f) << "positions 0 and 1 have the same logits";
}

TEST_F(SynthQwen35, StateEstimateEqualsTheCacheTheModelAllocates) {
  const gguf::GgufFile file(*model_);
  store::StoreConfig config;
  config.stream_experts = true;
  config.expert_cache_bytes = 64ull << 20;
  const auto model = model::load_model(file, config);
  for (int64_t n_ctx : {1, 256, 4096}) {
    const model::MemoryEstimate estimate = model::estimate_memory(file, n_ctx, 1, 1);
    EXPECT_EQ(estimate.state_bytes, model->new_cache(n_ctx).bytes()) << "n_ctx " << n_ctx;
  }
}

}  // namespace
}  // namespace sluice
