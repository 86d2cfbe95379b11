// Which GGML type each tensor of a model gets when `sluice quantize` writes a mix such as
// Q4_K_M: llama.cpp's llama-quantize recipes (src/llama-quant.cpp, without an importance
// matrix), so that files are what users of llama.cpp expect and load there.
//
//   - Only weights of 2 or more dimensions are quantized; norms, routers (ffn_gate_inp),
//     convolutions and the other small tensors llama.cpp leaves alone keep their type.
//   - output.weight (or token_embd.weight when the embeddings are tied) gets Q6_K in every
//     quantized mix but Q8_0 (F16 / BF16 / F32 mixes convert every weight to that type). Q4_K_M / Q5_K_M give Q6_K to half of the attn_v and ffn_down tensors
//     (the first and last eighth of the layers and every third one between), Q4_K_S raises
//     the first attn_v and ffn_down tensors to Q5_K, and models with 8 experts get Q8_0
//     attn_v / attn_k (and Q5_K attn_output in Q4_K mixes), as llama.cpp does.
//   - sluice adds one rule of its own: shared-expert tensors (`*_shexp`), which every token
//     uses and which stay resident, get at least one K-type above the mix's base type.
//   - A row length that the chosen type's block does not divide falls back as in llama.cpp:
//     Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 when 32 does not divide it either.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"
#include "quant/ggml_type.h"

namespace sluice::model {

struct QuantMix {
  std::string_view name;      // "Q4_K_M"
  uint32_t file_type;         // general.file_type: llama.cpp's LLAMA_FTYPE_MOSTLY_* value
  quant::GgmlType base_type;  // the type of the tensors no rule singles out
};

// The mix named `name` (case-insensitive; "Q4_K" and "Q5_K" are llama-quantize's aliases of
// Q4_K_M and Q5_K_M), or nullptr.
const QuantMix* find_quant_mix(std::string_view name);

// All mix names `find_quant_mix` accepts, for help texts.
std::vector<std::string_view> quant_mix_names();

// What the recipe needs to know about the model besides its tensors.
struct QuantModelFacts {
  int64_t n_layer = 0;   // <arch>.block_count
  int64_t n_expert = 0;  // <arch>.expert_count (0: dense)
};

QuantModelFacts quant_model_facts(const gguf::GgufFile& file);

struct TensorQuantPlan {
  quant::GgmlType type = quant::GgmlType::F32;  // the type written
  bool quantize = false;  // false: copied as it is (a tensor llama.cpp never quantizes)
  // The type the recipe chose where the row length forced another one.
  std::optional<quant::GgmlType> fallback_from;
};

// The plan for each of `tensors` (same order). Throws sluice::Error when the mix's base
// type is not one the recipe knows.
std::vector<TensorQuantPlan> plan_quantization(const QuantMix& mix,
                                               const std::vector<gguf::TensorInfo>& tensors,
                                               const QuantModelFacts& facts);

}  // namespace sluice::model
