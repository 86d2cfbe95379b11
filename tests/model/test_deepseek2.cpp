// DeepSeek-V3 (arch deepseek2) beyond the reference parity of test_reference_parity.cpp:
// experts streamed through a two-per-layer cache give the resident logits bit for bit; files
// in the older fused attn_kv_b layout (rewritten here from the fixture) give the reference
// logits too; the memory estimate counts exactly the latent cache the model allocates; and
// inconsistent or incomplete files are refused with errors that name the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "gguf/gguf_writer.h"
#include "model/memory_estimate.h"
#include "model/model.h"
#include "store/expert_cache.h"
#include "store/model_layout.h"
#include "support/fixtures.h"

namespace sluice::model {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;

const std::string kModelDir = "models/deepseek_v3/";

std::vector<int32_t> prompt() {
  return testing::read_json(fixture_path(kModelDir + "reference.json"))["input_ids"].get<std::vector<int32_t>>();
}

// The prompt's logits at every position, then `n_decode` greedy steps' logits.
std::vector<float> run_model(Model& m, int n_decode) {
  const std::vector<int32_t> tokens = prompt();
  ops::ThreadPool pool(2);
  const int64_t n_vocab = m.info().n_vocab;
  KvCache cache = m.new_cache(static_cast<int64_t>(tokens.size()) + n_decode);
  std::vector<float> all(tokens.size() * static_cast<size_t>(n_vocab));
  m.forward(pool, tokens, cache, LogitsMode::kAll, all.data());
  std::vector<float> step(static_cast<size_t>(n_vocab));
  auto next = static_cast<int32_t>(std::max_element(all.end() - n_vocab, all.end()) - (all.end() - n_vocab));
  for (int i = 0; i < n_decode; ++i) {
    m.forward(pool, std::span(&next, 1), cache, LogitsMode::kLast, step.data());
    all.insert(all.end(), step.begin(), step.end());
    next = static_cast<int32_t>(std::max_element(step.begin(), step.end()) - step.begin());
  }
  return all;
}

class Deepseek2Streaming : public ::testing::TestWithParam<std::string> {};

TEST_P(Deepseek2Streaming, TwoExpertsPerLayerGiveBitIdenticalLogits) {
  gguf::GgufFile file(fixture_path(GetParam()));
  auto resident = load_model(file);
  const std::vector<float> expected = run_model(*resident, 12);

  const std::vector<store::ExpertLayerLayout> expert_layers = store::analyze_layout(file).expert_layers;
  store::StoreConfig config;
  config.stream_experts = true;
  config.expert_cache_bytes = 2 * expert_layers.size() * store::expert_slot_bytes(expert_layers);
  auto streamed = load_model(file, config);
  const auto* cache = dynamic_cast<const store::ExpertCache*>(streamed->experts());
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->n_slots(), 2 * expert_layers.size());
  const std::vector<float> got = run_model(*streamed, 12);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
      << "streamed logits differ from resident ones";
  const store::LayerCacheStats total = cache->stats().total();
  EXPECT_GT(total.accesses, total.hits) << "the tiny cache should have missed";
  EXPECT_GT(cache->stats().bytes_read, 0u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Deepseek2Streaming,
                         ::testing::Values("models/deepseek_v3/model-f32.gguf", "quant/deepseek_v3/model-Q4_K_M.gguf"),
                         [](const auto& info) {
                           return std::string(info.param.find("quant") == 0 ? "quant_Q4_K_M" : "models_f32");
                         });

TEST(Deepseek2Memory, StateEstimateEqualsTheCacheTheModelAllocates) {
  for (const std::string& path : {kModelDir + "model-f32.gguf", std::string("quant/deepseek_v3/model-Q4_K_M.gguf")}) {
    gguf::GgufFile file(fixture_path(path));
    const auto model = load_model(file);
    const uint64_t width = file.get_uint("deepseek2.attention.kv_lora_rank") + file.get_uint("deepseek2.rope.dimension_count");
    for (int64_t n_ctx : {1, 64, 4096}) {
      const MemoryEstimate estimate = estimate_memory(file, n_ctx, 1, 1);
      EXPECT_EQ(estimate.state_bytes, model->new_cache(n_ctx).bytes()) << path << ", n_ctx " << n_ctx;
      EXPECT_EQ(estimate.state_bytes, model->info().n_layer * n_ctx * width * sizeof(float)) << path;
    }
  }
}

// ---- rewritten files -----------------------------------------------------------------------

struct TensorData {
  std::string name;
  std::vector<uint64_t> dims;
  std::vector<float> values;
};

// Copies of the f32 fixture, with its metadata passed through `edit_metadata` (return false
// to drop a key), its tensors through `edit_tensors` (which may replace the list), and keys
// added by `add_metadata`.
class RewrittenFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-deepseek2-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string rewrite(const std::function<bool(const std::string&, gguf::Value&)>& edit_metadata,
                      const std::function<void(std::vector<TensorData>&)>& edit_tensors,
                      const std::function<void(gguf::GgufWriter&)>& add_metadata = {}) {
    gguf::GgufFile source(fixture_path(kModelDir + "model-f32.gguf"));
    gguf::GgufWriter writer;
    for (const auto& [key, value] : source.metadata()) {
      gguf::Value edited = value;
      if (edit_metadata(key, edited)) writer.set_metadata(key, edited);
    }
    if (add_metadata) add_metadata(writer);
    std::vector<TensorData> tensors;
    for (const gguf::TensorInfo& t : source.tensors()) {
      EXPECT_EQ(t.type, quant::GgmlType::F32) << t.name;
      const std::vector<std::byte> bytes = source.read_tensor(t);
      TensorData data{t.name, t.dims, std::vector<float>(bytes.size() / sizeof(float))};
      std::memcpy(data.values.data(), bytes.data(), bytes.size());
      tensors.push_back(std::move(data));
    }
    edit_tensors(tensors);
    for (const TensorData& t : tensors) {
      writer.add_tensor(t.name, quant::GgmlType::F32, t.dims,
                        std::as_bytes(std::span(t.values.data(), t.values.size())));
    }
    const std::string path = (dir_ / "rewritten.gguf").string();
    writer.write(path);
    return path;
  }

  // The model's error when loading `path` (fails the test when it loads).
  static std::string load_error(const std::string& path) {
    gguf::GgufFile file(path);
    try {
      load_model(file);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an error loading " << path;
    return {};
  }

  fs::path dir_;
};

void set_uint(gguf::Value& value, uint64_t v) { value = gguf::Value{gguf::ValueType::UINT32, v}; }

// The fused kv_b_proj of older converters: per head, qk_nope key rows then v_head_dim value
// rows, each over the latent. attn_k_b holds the key part transposed ([head][latent][nope]),
// attn_v_b the value part as is ([head][v][latent]).
TEST_F(RewrittenFixture, FusedKvBLayoutGivesTheReferenceLogits) {
  const auto n_head = static_cast<size_t>(4), rank = static_cast<size_t>(16), nope = static_cast<size_t>(16),
             dv = static_cast<size_t>(16), rope = static_cast<size_t>(8);
  const std::string path = rewrite(
      [&](const std::string& key, gguf::Value& value) {
        if (key == "deepseek2.attention.key_length_mla" || key == "deepseek2.attention.value_length_mla") return false;
        if (key == "deepseek2.attention.key_length") set_uint(value, nope + rope);
        if (key == "deepseek2.attention.value_length") set_uint(value, dv);
        if (key == "deepseek2.attention.head_count_kv") set_uint(value, n_head);
        return true;
      },
      [&](std::vector<TensorData>& tensors) {
        std::vector<TensorData> out;
        for (size_t i = 0; i < tensors.size(); ++i) {
          TensorData& t = tensors[i];
          if (t.name.ends_with("attn_v_b.weight")) continue;
          if (!t.name.ends_with("attn_k_b.weight")) {
            out.push_back(std::move(t));
            continue;
          }
          const std::string prefix = t.name.substr(0, t.name.size() - std::string("attn_k_b.weight").size());
          const auto v_b = std::find_if(tensors.begin(), tensors.end(),
                                        [&](const TensorData& v) { return v.name == prefix + "attn_v_b.weight"; });
          ASSERT_NE(v_b, tensors.end());
          TensorData kv_b{prefix + "attn_kv_b.weight", {rank, n_head * (nope + dv)},
                          std::vector<float>(n_head * (nope + dv) * rank)};
          for (size_t h = 0; h < n_head; ++h) {
            for (size_t c = 0; c < rank; ++c) {
              for (size_t d = 0; d < nope; ++d) {
                kv_b.values[(h * (nope + dv) + d) * rank + c] = t.values[(h * rank + c) * nope + d];
              }
              for (size_t j = 0; j < dv; ++j) {
                kv_b.values[(h * (nope + dv) + nope + j) * rank + c] = v_b->values[(h * dv + j) * rank + c];
              }
            }
          }
          out.push_back(std::move(kv_b));
        }
        tensors = std::move(out);
      });
  gguf::GgufFile file(path);
  ASSERT_EQ(file.find_tensor("blk.1.attn_k_b.weight"), nullptr);
  const auto model = load_model(file);
  const std::vector<float> expected = testing::read_f32(fixture_path(kModelDir + "reference_logits.f32"));
  const std::vector<float> got = run_model(*model, 0);
  ASSERT_EQ(got.size(), expected.size());
  float max_diff = 0.0f;
  for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - expected[i]));
  EXPECT_LT(max_diff, 1e-3f);
  std::printf("[ parity ] deepseek_v3 rewritten with attn_kv_b: max |logit diff| %.3g\n", max_diff);
}

// A multi-token-prediction block appended after the trunk (block_count 5, nextn_predict_layers
// 1; here a copy of layer 3 with the nextn tensors real files add) is not run: the logits stay
// the reference's.
TEST_F(RewrittenFixture, NextnLayersAreSkipped) {
  const std::string path = rewrite(
      [](const std::string& key, gguf::Value& value) {
        if (key == "deepseek2.block_count") set_uint(value, 5);
        return true;
      },
      [](std::vector<TensorData>& tensors) {
        std::vector<TensorData> extra;
        for (const TensorData& t : tensors) {
          if (t.name.starts_with("blk.3.")) extra.push_back({"blk.4." + t.name.substr(6), t.dims, t.values});
        }
        extra.push_back({"blk.4.nextn.enorm.weight", {64}, std::vector<float>(64, 1.0f)});
        extra.push_back({"blk.4.nextn.eh_proj.weight", {128, 64}, std::vector<float>(128 * 64, 0.5f)});
        tensors.insert(tensors.end(), extra.begin(), extra.end());
      },
      [](gguf::GgufWriter& w) { w.set_uint32("deepseek2.nextn_predict_layers", 1); });
  gguf::GgufFile file(path);
  const auto model = load_model(file);
  EXPECT_EQ(model->info().n_layer, 4);
  const std::vector<float> expected = testing::read_f32(fixture_path(kModelDir + "reference_logits.f32"));
  const std::vector<float> got = run_model(*model, 0);
  ASSERT_EQ(got.size(), expected.size());
  float max_diff = 0.0f;
  for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - expected[i]));
  EXPECT_LT(max_diff, 1e-3f);
}

TEST_F(RewrittenFixture, ExpertsThatCannotBeGroupedAreRefused) {
  const std::string path = rewrite(
      [](const std::string& key, gguf::Value& value) {
        if (key == "deepseek2.expert_group_count") set_uint(value, 3);
        return true;
      },
      [](std::vector<TensorData>&) {});
  const std::string error = load_error(path);
  EXPECT_NE(error.find("expert_group_count 3"), std::string::npos) << error;
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST_F(RewrittenFixture, CachedWidthThatDisagreesWithTheLatentIsRefused) {
  const std::string path = rewrite(
      [](const std::string& key, gguf::Value& value) {
        if (key == "deepseek2.attention.key_length") set_uint(value, 25);
        return true;
      },
      [](std::vector<TensorData>&) {});
  const std::string error = load_error(path);
  EXPECT_NE(error.find("attention.key_length 25"), std::string::npos) << error;
}

TEST_F(RewrittenFixture, MissingTensorIsNamed) {
  const std::string path = rewrite([](const std::string&, gguf::Value&) { return true; },
                                   [](std::vector<TensorData>& tensors) {
                                     std::erase_if(tensors, [](const TensorData& t) {
                                       return t.name == "blk.2.attn_kv_a_norm.weight";
                                     });
                                   });
  const std::string error = load_error(path);
  EXPECT_NE(error.find("blk.2.attn_kv_a_norm.weight"), std::string::npos) << error;
}

TEST_F(RewrittenFixture, UnsupportedRopeScalingIsRefusedByName) {
  const std::string path = rewrite([](const std::string&, gguf::Value&) { return true; },
                                   [](std::vector<TensorData>&) {},
                                   [](gguf::GgufWriter& w) { w.set_string("deepseek2.rope.scaling.type", "longrope"); });
  const std::string error = load_error(path);
  EXPECT_NE(error.find("rope scaling 'longrope' is not supported"), std::string::npos) << error;
}

// The refusals above, as a user sees them.
TEST_F(RewrittenFixture, ErrorsArePrinted) {
  const std::string path = rewrite(
      [](const std::string& key, gguf::Value& value) {
        if (key == "deepseek2.expert_group_count") set_uint(value, 3);
        return true;
      },
      [](std::vector<TensorData>&) {});
  std::printf("[ refused ] %s\n", load_error(path).c_str());
}

}  // namespace
}  // namespace sluice::model
