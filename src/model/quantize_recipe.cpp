// Tensor types of the quantization mixes; the rules follow llama.cpp's llama-quant.cpp
// (tensor_allows_quantization, llama_tensor_get_type_impl, tensor_type_fallback).
#include "model/quantize_recipe.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "util/error.h"

namespace sluice::model {
namespace {

using quant::GgmlType;

// LLAMA_FTYPE_* values from llama.h.
constexpr std::array kMixes{
    QuantMix{"F32", 0, GgmlType::F32},      QuantMix{"F16", 1, GgmlType::F16},
    QuantMix{"BF16", 32, GgmlType::BF16},   QuantMix{"Q4_0", 2, GgmlType::Q4_0},
    QuantMix{"Q4_1", 3, GgmlType::Q4_1},    QuantMix{"Q5_0", 8, GgmlType::Q5_0},
    QuantMix{"Q5_1", 9, GgmlType::Q5_1},    QuantMix{"Q8_0", 7, GgmlType::Q8_0},
    QuantMix{"Q4_K_S", 14, GgmlType::Q4_K}, QuantMix{"Q4_K_M", 15, GgmlType::Q4_K},
    QuantMix{"Q5_K_S", 16, GgmlType::Q5_K}, QuantMix{"Q5_K_M", 17, GgmlType::Q5_K},
    QuantMix{"Q6_K", 18, GgmlType::Q6_K},
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool is_float_type(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16;
}

// Dimensions up to the last one above 1 (ggml_n_dims): a [4096, 1] tensor is 1-D.
size_t effective_dims(const gguf::TensorInfo& t) {
  size_t n = 1;
  for (size_t i = 0; i < t.dims.size(); ++i) {
    if (t.dims[i] > 1) n = i + 1;
  }
  return n;
}

// llama.cpp's tensor_allows_quantization: weights of 2+ dimensions except norms, routers and
// the small or integer tensors of some architectures.
bool allows_quantization(const gguf::TensorInfo& t) {
  if (effective_dims(t) < 2) return false;
  const std::string_view name = t.name;
  if (!name.ends_with("weight")) return false;
  constexpr std::string_view kNeverParts[] = {
      "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
      "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
      "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
      "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
      "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
      "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
      "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
      "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
  };
  for (std::string_view part : kNeverParts) {
    if (contains(name, part)) return false;
  }
  return name != "position_embd.weight" && name != "token_types.weight";
}

enum class Category { kOutput, kTokenEmbd, kAttnV, kAttnK, kAttnQ, kAttnOutput, kFfnUp, kFfnGate, kFfnDown, kOther };

// llama.cpp's tensor_get_category; attn_qkv and attn_kv_b count as attn_v (they hold V).
Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::kOutput;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::kTokenEmbd;
  if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight")) {
    return Category::kAttnV;
  }
  if (contains(name, "attn_k.weight")) return Category::kAttnK;
  if (contains(name, "attn_q.weight")) return Category::kAttnQ;
  if (contains(name, "attn_output.weight")) return Category::kAttnOutput;
  if (contains(name, "ffn_up")) return Category::kFfnUp;
  if (contains(name, "ffn_gate")) return Category::kFfnGate;
  if (contains(name, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// N of "blk.N.", or -1.
int64_t layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return -1;
  int64_t layer = -1;
  const char* begin = name.data() + 4;
  const char* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(begin, end, layer);
  if (ec != std::errc() || ptr == end || *ptr != '.') return -1;
  return layer;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// Where the row length is not a multiple of `type`'s block (llama.cpp's tensor_type_fallback).
GgmlType fallback_of(GgmlType type, uint64_t row_length) {
  GgmlType result = type;
  switch (type) {
    case GgmlType::Q4_K: result = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: result = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: result = GgmlType::Q8_0; break;
    case GgmlType::Q2_K: case GgmlType::Q3_K: result = GgmlType::Q4_0; break;
    default: break;
  }
  if (row_length % quant::traits_of(result).block_size != 0) result = GgmlType::F16;
  return result;
}

// Rank among the K-types, for "at least this precision".
int k_rank(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_K: return 1;
    case GgmlType::Q5_K: return 2;
    case GgmlType::Q6_K: return 3;
    case GgmlType::Q8_0: return 4;
    default: return 0;
  }
}

}  // namespace

const QuantMix* find_quant_mix(std::string_view name) {
  if (equal_ignoring_case(name, "Q4_K")) name = "Q4_K_M";
  if (equal_ignoring_case(name, "Q5_K")) name = "Q5_K_M";
  for (const QuantMix& mix : kMixes) {
    if (equal_ignoring_case(mix.name, name)) return &mix;
  }
  return nullptr;
}

std::vector<std::string_view> quant_mix_names() {
  std::vector<std::string_view> names;
  for (const QuantMix& mix : kMixes) {
    names.push_back(mix.name);
    if (mix.name == "Q4_K_M") names.push_back("Q4_K");
    if (mix.name == "Q5_K_M") names.push_back("Q5_K");
  }
  return names;
}

QuantModelFacts quant_model_facts(const gguf::GgufFile& file) {
  QuantModelFacts facts;
  const std::optional<std::string> arch = file.find_string("general.architecture");
  if (arch) {
    facts.n_layer = static_cast<int64_t>(file.find_uint(*arch + ".block_count").value_or(0));
    facts.n_expert = static_cast<int64_t>(file.find_uint(*arch + ".expert_count").value_or(0));
  }
  if (facts.n_layer == 0) {  // no block_count: count the blocks the tensor names show
    for (const auto& t : file.tensors()) facts.n_layer = std::max(facts.n_layer, layer_of(t.name) + 1);
  }
  return facts;
}

std::vector<TensorQuantPlan> plan_quantization(const QuantMix& mix, const std::vector<gguf::TensorInfo>& tensors,
                                               const QuantModelFacts& facts) {
  const GgmlType base = mix.base_type;
  const std::string_view ftype = mix.name;
  const bool quantized_base = !is_float_type(base);
  if (!quant::is_supported_for_compute(base)) {
    throw Error(fmt::format("quantization mix {} has a base type the recipe does not know", mix.name));
  }
  const bool tied_embeddings =
      std::none_of(tensors.begin(), tensors.end(), [](const auto& t) { return t.name == "output.weight"; });

  // attn_v-like tensors are counted in llama.cpp's processing order (by layer, then name),
  // which the file order need not follow.
  std::vector<size_t> attn_v;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (category_of(tensors[i].name) == Category::kAttnV) attn_v.push_back(i);
  }
  std::stable_sort(attn_v.begin(), attn_v.end(), [&](size_t a, size_t b) {
    const int64_t la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
    return la != lb ? la < lb : tensors[a].name < tensors[b].name;
  });
  std::vector<int64_t> attn_v_index(tensors.size(), -1);
  for (size_t k = 0; k < attn_v.size(); ++k) attn_v_index[attn_v[k]] = static_cast<int64_t>(k);
  const auto n_attn_v = static_cast<int64_t>(attn_v.size());
  const bool eight_experts = facts.n_expert == 8;

  std::vector<TensorQuantPlan> plans(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const gguf::TensorInfo& t = tensors[i];
    TensorQuantPlan& plan = plans[i];
    plan.type = t.type;
    if (!allows_quantization(t) || !quant::is_supported_for_compute(t.type)) continue;
    plan.quantize = true;
    GgmlType type = base;
    if (quantized_base) {
      const Category category = category_of(t.name);
      const int64_t layer = layer_of(t.name);
      if (category == Category::kOutput || (tied_embeddings && category == Category::kTokenEmbd)) {
        if (t.row_length() % quant::traits_of(base).block_size != 0) {
          type = GgmlType::Q8_0;
        } else if (base != GgmlType::Q8_0) {
          type = GgmlType::Q6_K;
        }
      } else if (category == Category::kAttnV) {
        const int64_t index = attn_v_index[i];
        if ((ftype == "Q4_K_M" || ftype == "Q5_K_M") && use_more_bits(index, n_attn_v)) {
          type = GgmlType::Q6_K;
        } else if (ftype == "Q4_K_S" && index < 4) {
          type = GgmlType::Q5_K;
        }
        if (eight_experts) type = GgmlType::Q8_0;
      } else if (category == Category::kAttnK) {
        if (eight_experts) type = GgmlType::Q8_0;
      } else if (category == Category::kFfnDown && layer >= 0) {
        const int64_t n_layer = std::max(facts.n_layer, layer + 1);
        if ((ftype == "Q4_K_M" || ftype == "Q5_K_M") && use_more_bits(layer, n_layer)) {
          type = GgmlType::Q6_K;
        } else if (ftype == "Q4_K_S" && layer < n_layer / 8) {
          type = GgmlType::Q5_K;
        }
      } else if (category == Category::kAttnOutput) {
        if (eight_experts && (ftype == "Q4_K_S" || ftype == "Q4_K_M")) type = GgmlType::Q5_K;
      }
      // sluice's rule: shared experts one K-type above the base of a Q4_K / Q5_K mix.
      if (contains(t.name, "_shexp.") && (base == GgmlType::Q4_K || base == GgmlType::Q5_K)) {
        const GgmlType raised = base == GgmlType::Q4_K ? GgmlType::Q5_K : GgmlType::Q6_K;
        if (k_rank(type) < k_rank(raised)) type = raised;
      }
      if (t.row_length() % quant::traits_of(type).block_size != 0) {
        plan.fallback_from = type;
        type = fallback_of(type, t.row_length());
      }
    }
    plan.type = type;
  }
  return plans;
}

}  // namespace sluice::model
