// The quantization recipe (model/quantize_recipe.h) against files llama.cpp's llama-quantize
// wrote: for each Q4_K_M fixture, the plan for its bf16 original must give every tensor the
// type llama.cpp gave it. The fixtures cover attn_v / ffn_down promotion, output and
// embeddings, fallbacks for rows of 128 (trained) and 64 (deepseek's attn_k_b), the 8-expert
// rules (quant/ models) and linear-attention tensors (qwen3_5_moe_text).
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <set>
#include <string>

#include "gguf/gguf_file.h"
#include "model/quantize_recipe.h"
#include "support/fixtures.h"

namespace sluice::model {
namespace {

using quant::GgmlType;
using testing::fixture_path;

struct RecipeCase {
  std::string dir;
  std::string mix;
};

class RecipeMatchesLlamaCpp : public ::testing::TestWithParam<RecipeCase> {};

TEST_P(RecipeMatchesLlamaCpp, EveryTensorGetsLlamaCppsType) {
  const RecipeCase& c = GetParam();
  const gguf::GgufFile original(fixture_path(c.dir + "/model-bf16.gguf"));
  const gguf::GgufFile reference(fixture_path(c.dir + "/model-" + c.mix + ".gguf"));
  const QuantMix* mix = find_quant_mix(c.mix);
  ASSERT_NE(mix, nullptr);
  EXPECT_EQ(reference.get_uint("general.file_type"), mix->file_type);
  const auto plans = plan_quantization(*mix, original.tensors(), quant_model_facts(original));
  ASSERT_EQ(plans.size(), original.tensors().size());
  int n_quantized = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    const gguf::TensorInfo& t = original.tensors()[i];
    const gguf::TensorInfo* expected = reference.find_tensor(t.name);
    ASSERT_NE(expected, nullptr) << t.name;
    // sluice's one rule of its own: shared experts one K-type above the base (Q4_K -> Q5_K).
    const bool raised_shared_expert = t.name.find("_shexp.") != std::string::npos && expected->type == GgmlType::Q4_K;
    const GgmlType expected_type = raised_shared_expert ? GgmlType::Q5_K : expected->type;
    EXPECT_EQ(quant::type_name(plans[i].type), quant::type_name(expected_type)) << c.dir << ": " << t.name;
    n_quantized += plans[i].quantize;
  }
  EXPECT_GT(n_quantized, 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RecipeMatchesLlamaCpp,
                         ::testing::Values(RecipeCase{"trained", "Q4_K_M"}, RecipeCase{"quant/qwen3_moe", "Q4_K_M"},
                                           RecipeCase{"quant/deepseek_v3", "Q4_K_M"},
                                           RecipeCase{"quant/qwen3_5_moe_text", "Q4_K_M"}),
                         [](const auto& info) {
                           std::string name = info.param.dir + "_" + info.param.mix;
                           for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

gguf::TensorInfo tensor(std::string name, std::vector<uint64_t> dims, GgmlType type = GgmlType::BF16) {
  gguf::TensorInfo t;
  t.name = std::move(name);
  t.dims = std::move(dims);
  t.type = type;
  t.n_elements = 1;
  for (uint64_t d : t.dims) t.n_elements *= d;
  return t;
}

std::map<std::string, std::string> plan_types(std::string_view mix_name, const std::vector<gguf::TensorInfo>& tensors,
                                              QuantModelFacts facts) {
  const QuantMix* mix = find_quant_mix(mix_name);
  EXPECT_NE(mix, nullptr) << mix_name;
  std::map<std::string, std::string> types;
  const auto plans = plan_quantization(*mix, tensors, facts);
  for (size_t i = 0; i < tensors.size(); ++i) types[tensors[i].name] = std::string(quant::type_name(plans[i].type));
  return types;
}

// A 16-layer dense model: Q4_K_S, Q5_K_M and Q6_K as llama-quantize makes them (types
// written down from llama.cpp's llama_tensor_get_type_impl for this shape).
std::vector<gguf::TensorInfo> dense_model(int n_layer) {
  std::vector<gguf::TensorInfo> tensors{tensor("token_embd.weight", {512, 1000}), tensor("output_norm.weight", {512}, GgmlType::F32)};
  for (int i = 0; i < n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    tensors.push_back(tensor(p + "attn_norm.weight", {512}, GgmlType::F32));
    tensors.push_back(tensor(p + "attn_q.weight", {512, 512}));
    tensors.push_back(tensor(p + "attn_k.weight", {512, 128}));
    tensors.push_back(tensor(p + "attn_v.weight", {512, 128}));
    tensors.push_back(tensor(p + "attn_output.weight", {512, 512}));
    tensors.push_back(tensor(p + "ffn_gate.weight", {512, 1024}));
    tensors.push_back(tensor(p + "ffn_up.weight", {512, 1024}));
    tensors.push_back(tensor(p + "ffn_down.weight", {1024, 512}));
  }
  return tensors;
}

TEST(QuantizeRecipe, DenseModelMixes) {
  const auto tensors = dense_model(16);
  const QuantModelFacts facts{16, 0};
  // Tied embeddings (no output.weight): token_embd takes the output's type.
  auto q4ks = plan_types("Q4_K_S", tensors, facts);
  EXPECT_EQ(q4ks["token_embd.weight"], "Q6_K");
  EXPECT_EQ(q4ks["output_norm.weight"], "F32");
  for (int i = 0; i < 16; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(q4ks[p + "attn_v.weight"], i < 4 ? "Q5_K" : "Q4_K") << i;
    EXPECT_EQ(q4ks[p + "ffn_down.weight"], i < 2 ? "Q5_K" : "Q4_K") << i;
    EXPECT_EQ(q4ks[p + "attn_q.weight"], "Q4_K");
    EXPECT_EQ(q4ks[p + "attn_norm.weight"], "F32");
  }
  // use_more_bits for 16 layers: 0, 1, 4, 7, 10, 13, 14, 15.
  const std::set<int> more_bits{0, 1, 4, 7, 10, 13, 14, 15};
  auto q5km = plan_types("Q5_K_M", tensors, facts);
  for (int i = 0; i < 16; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(q5km[p + "attn_v.weight"], more_bits.count(i) ? "Q6_K" : "Q5_K") << i;
    EXPECT_EQ(q5km[p + "ffn_down.weight"], more_bits.count(i) ? "Q6_K" : "Q5_K") << i;
    EXPECT_EQ(q5km[p + "ffn_up.weight"], "Q5_K");
  }
  auto q6k = plan_types("Q6_K", tensors, facts);
  auto q80 = plan_types("Q8_0", tensors, facts);
  for (const auto& t : tensors) {
    if (t.dims.size() == 1) continue;
    EXPECT_EQ(q6k[t.name], "Q6_K") << t.name;
    EXPECT_EQ(q80[t.name], "Q8_0") << t.name;
  }
}

TEST(QuantizeRecipe, FallbacksForShortRows) {
  // Rows of 96 (a multiple of 32, not of 256) and of 40 (neither).
  const std::vector<gguf::TensorInfo> tensors{tensor("blk.0.ffn_up.weight", {96, 64}), tensor("blk.0.ffn_gate.weight", {40, 64}),
                                              tensor("output.weight", {96, 100})};
  const QuantModelFacts facts{1, 0};
  auto q4km = plan_types("Q4_K_M", tensors, facts);
  EXPECT_EQ(q4km["blk.0.ffn_up.weight"], "Q5_0");
  EXPECT_EQ(q4km["blk.0.ffn_gate.weight"], "F16");
  EXPECT_EQ(q4km["output.weight"], "Q8_0");  // output rows not fitting the base type: Q8_0
  EXPECT_EQ(plan_types("Q5_K_S", tensors, facts)["blk.0.ffn_up.weight"], "Q5_1");
  EXPECT_EQ(plan_types("Q6_K", tensors, facts)["blk.0.ffn_up.weight"], "Q8_0");
}

TEST(QuantizeRecipe, SharedExpertsAboveRoutedExperts) {
  const std::vector<gguf::TensorInfo> tensors{
      tensor("blk.1.ffn_up_exps.weight", {256, 128, 8}), tensor("blk.1.ffn_up_shexp.weight", {256, 128}),
      tensor("blk.1.ffn_down_shexp.weight", {256, 256}), tensor("blk.1.ffn_gate_inp.weight", {256, 8}, GgmlType::F32)};
  const QuantModelFacts facts{4, 8};
  auto q4km = plan_types("Q4_K_M", tensors, facts);
  EXPECT_EQ(q4km["blk.1.ffn_up_exps.weight"], "Q4_K");
  EXPECT_EQ(q4km["blk.1.ffn_up_shexp.weight"], "Q5_K");
  EXPECT_EQ(q4km["blk.1.ffn_down_shexp.weight"], "Q5_K");  // llama.cpp: Q4_K (layer 1 of 4 gets no more bits)
  EXPECT_EQ(q4km["blk.1.ffn_gate_inp.weight"], "F32");
  auto q5ks = plan_types("Q5_K_S", tensors, facts);
  EXPECT_EQ(q5ks["blk.1.ffn_up_exps.weight"], "Q5_K");
  EXPECT_EQ(q5ks["blk.1.ffn_up_shexp.weight"], "Q6_K");
}

TEST(QuantizeRecipe, MixNames) {
  EXPECT_EQ(find_quant_mix("q4_k_m")->file_type, 15u);
  EXPECT_EQ(find_quant_mix("Q4_K")->name, "Q4_K_M");
  EXPECT_EQ(find_quant_mix("Q5_K")->name, "Q5_K_M");
  EXPECT_EQ(find_quant_mix("Q8_0")->file_type, 7u);
  EXPECT_EQ(find_quant_mix("Q6_K")->file_type, 18u);
  EXPECT_EQ(find_quant_mix("Q4_K_S")->file_type, 14u);
  EXPECT_EQ(find_quant_mix("Q5_K_S")->file_type, 16u);
  EXPECT_EQ(find_quant_mix("Q5_K_M")->file_type, 17u);
  EXPECT_EQ(find_quant_mix("IQ2_XXS"), nullptr);
  for (std::string_view name : quant_mix_names()) EXPECT_NE(find_quant_mix(name), nullptr) << name;
}

}  // namespace
}  // namespace sluice::model
