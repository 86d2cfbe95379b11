#include "model/synthetic_model.h"

#include <fmt/format.h>

#include <array>
#include <cmath>

#include "gguf/gguf_writer.h"
#include "quant/random_blocks.h"
#include "util/error.h"

namespace sluice::model {
namespace {

// Shapes from the models' published configs (config.json of each release).
const std::array kPresets = {
    SyntheticSpec{"qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 128, 8, 768, 151936, 40960, 1e6f},
    SyntheticSpec{"qwen3-235b-a22b", "qwen3moe", 94, 4096, 64, 4, 128, 128, 8, 1536, 151936, 40960, 1e6f},
};

// Presets whose architecture sluice does not run yet: named so the refusal is clear.
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kPendingPresets = {{
    {"qwen3.5-397b-a17b", "qwen35moe"},
    {"deepseek-v3", "deepseek2"},
    {"gpt-oss-120b", "gpt-oss"},
}};

// GPT-2's byte-to-unicode map: printable bytes stand for themselves, the others are moved
// above U+0100 so every byte has a visible character.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> tokens(256);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int code = printable ? b : next++;
    std::string utf8;
    if (code < 0x80) {
      utf8 += static_cast<char>(code);
    } else {
      utf8 += static_cast<char>(0xC0 | (code >> 6));
      utf8 += static_cast<char>(0x80 | (code & 0x3F));
    }
    tokens[b] = utf8;
  }
  return tokens;
}

// Vocabulary: the 256 byte tokens, merges of letter pairs (each with its token), then
// filler words up to n_vocab.
void write_vocabulary(gguf::GgufWriter& writer, int64_t n_vocab) {
  std::vector<std::string> tokens = byte_tokens();
  std::vector<std::string> merges;
  const std::string space = tokens[' '];
  for (char a = 'a'; a <= 'z'; ++a) {
    merges.push_back(fmt::format("{} {}", space, a));
    tokens.push_back(space + a);
  }
  for (char a = 'a'; a <= 'z'; ++a) {
    for (char b = 'a'; b <= 'z'; ++b) {
      merges.push_back(fmt::format("{} {}", a, b));
      tokens.push_back(std::string{a, b});
    }
  }
  for (int64_t i = static_cast<int64_t>(tokens.size()); i < n_vocab; ++i) tokens.push_back(fmt::format("{}w{}", space, i));
  tokens.resize(static_cast<size_t>(n_vocab));
  writer.set_string("tokenizer.ggml.model", "gpt2");
  writer.set_string("tokenizer.ggml.pre", "qwen2");
  writer.set_string_array("tokenizer.ggml.tokens", tokens);
  writer.set_int32_array("tokenizer.ggml.token_type", std::vector<int32_t>(tokens.size(), 1));
  writer.set_string_array("tokenizer.ggml.merges", merges);
}

struct PlannedTensor {
  std::string name;
  quant::GgmlType type;
  std::vector<uint64_t> dims;
  float scale;
};

}  // namespace

std::vector<std::string> synthetic_preset_names() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.push_back(p.preset);
  for (const auto& [name, arch] : kPendingPresets) names.emplace_back(name);
  return names;
}

SyntheticSpec synthetic_preset(const std::string& name) {
  for (const auto& p : kPresets) {
    if (p.preset == name) return p;
  }
  for (const auto& [pending, arch] : kPendingPresets) {
    if (pending == name) {
      throw Error(fmt::format("preset '{}' needs architecture '{}', which sluice cannot run yet", name, arch));
    }
  }
  std::string known;
  for (const auto& n : synthetic_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown preset '{}' (known: {})", name, known));
}

uint64_t write_synthetic_model(const SyntheticSpec& preset, const SyntheticOptions& options,
                               const std::string& path,
                               const std::function<void(uint64_t, uint64_t)>& progress) {
  SyntheticSpec spec = preset;
  if (options.n_layer > 0) spec.n_layer = options.n_layer;
  if (options.n_expert > 0) spec.n_expert = options.n_expert;
  if (options.n_vocab > 0) spec.n_vocab = options.n_vocab;
  if (spec.n_vocab < 1024) throw Error(fmt::format("a vocabulary of {} is too small (at least 1024)", spec.n_vocab));
  if (spec.n_expert_used > spec.n_expert) spec.n_expert_used = spec.n_expert;
  if (!quant::can_fill_random(options.type)) {
    throw Error(fmt::format("sluice synth cannot write {} weights", quant::type_name(options.type)));
  }
  const uint32_t block = quant::traits_of(options.type).block_size;
  for (int64_t row : {spec.n_embd, spec.n_ff_exp, spec.n_head * spec.head_dim}) {
    if (row % block != 0) {
      throw Error(fmt::format("{} needs rows that are multiples of {}; {} has a row of {}",
                              quant::type_name(options.type), block, spec.preset, row));
    }
  }

  gguf::GgufWriter writer;
  const std::string& a = spec.arch;
  writer.set_string("general.architecture", a);
  writer.set_string("general.name", fmt::format("sluice synthetic {}", spec.preset));
  writer.set_uint32(a + ".block_count", static_cast<uint32_t>(spec.n_layer));
  writer.set_uint32(a + ".context_length", static_cast<uint32_t>(spec.n_ctx_train));
  writer.set_uint32(a + ".embedding_length", static_cast<uint32_t>(spec.n_embd));
  writer.set_uint32(a + ".feed_forward_length", static_cast<uint32_t>(spec.n_ff_exp * spec.n_expert_used));
  writer.set_uint32(a + ".attention.head_count", static_cast<uint32_t>(spec.n_head));
  writer.set_uint32(a + ".attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
  writer.set_uint32(a + ".attention.key_length", static_cast<uint32_t>(spec.head_dim));
  writer.set_uint32(a + ".attention.value_length", static_cast<uint32_t>(spec.head_dim));
  writer.set_float32(a + ".rope.freq_base", spec.rope_freq_base);
  writer.set_float32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
  writer.set_uint32(a + ".expert_count", static_cast<uint32_t>(spec.n_expert));
  writer.set_uint32(a + ".expert_used_count", static_cast<uint32_t>(spec.n_expert_used));
  writer.set_uint32(a + ".expert_feed_forward_length", static_cast<uint32_t>(spec.n_ff_exp));
  writer.set_uint32("general.quantization_version", 2);
  write_vocabulary(writer, spec.n_vocab);

  // Scales keep activations O(1) through the layers: about 1/sqrt(fan-in).
  const auto E = static_cast<uint64_t>(spec.n_embd);
  const auto F = static_cast<uint64_t>(spec.n_ff_exp);
  const auto N = static_cast<uint64_t>(spec.n_expert);
  const auto Q = static_cast<uint64_t>(spec.n_head * spec.head_dim);
  const auto KV = static_cast<uint64_t>(spec.n_head_kv * spec.head_dim);
  const auto H = static_cast<uint64_t>(spec.head_dim);
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(E));
  const quant::GgmlType t = options.type, f32 = quant::GgmlType::F32;
  std::vector<PlannedTensor> plan;
  plan.push_back({"token_embd.weight", t, {E, static_cast<uint64_t>(spec.n_vocab)}, 1.0f});
  plan.push_back({"output_norm.weight", f32, {E}, 1.0f});
  plan.push_back({"output.weight", t, {E, static_cast<uint64_t>(spec.n_vocab)}, in_scale});
  for (int64_t l = 0; l < spec.n_layer; ++l) {
    auto name = [&](std::string_view n) { return fmt::format("blk.{}.{}.weight", l, n); };
    plan.push_back({name("attn_norm"), f32, {E}, 1.0f});
    plan.push_back({name("attn_q"), t, {E, Q}, in_scale});
    plan.push_back({name("attn_k"), t, {E, KV}, in_scale});
    plan.push_back({name("attn_v"), t, {E, KV}, in_scale});
    plan.push_back({name("attn_output"), t, {Q, E}, 1.0f / std::sqrt(static_cast<float>(Q))});
    plan.push_back({name("attn_q_norm"), f32, {H}, 1.0f});
    plan.push_back({name("attn_k_norm"), f32, {H}, 1.0f});
    plan.push_back({name("ffn_norm"), f32, {E}, 1.0f});
    plan.push_back({name("ffn_gate_inp"), f32, {E, N}, in_scale});
    plan.push_back({name("ffn_gate_exps"), t, {E, F, N}, in_scale});
    plan.push_back({name("ffn_up_exps"), t, {E, F, N}, in_scale});
    plan.push_back({name("ffn_down_exps"), t, {F, E, N}, 1.0f / std::sqrt(static_cast<float>(F))});
  }
  for (const PlannedTensor& p : plan) writer.add_tensor_info(p.name, p.type, p.dims);

  uint64_t total = 0;
  for (const auto& info : writer.tensors()) total += info.n_bytes;
  uint64_t done = 0;
  constexpr uint64_t kChunkBlocks = 1 << 14;
  std::vector<std::byte> chunk;
  writer.write(path, [&](size_t index, const gguf::TensorInfo& tensor, const gguf::ByteSink& sink) {
    const PlannedTensor& p = plan[index];
    if (p.name.find("_norm") != std::string::npos) {  // norm weights are all ones
      std::vector<float> ones(tensor.n_elements, 1.0f);
      sink({reinterpret_cast<const std::byte*>(ones.data()), ones.size() * sizeof(float)});
      done += tensor.n_bytes;
      return;
    }
    const uint64_t block_bytes = quant::traits_of(p.type).type_size;
    const uint64_t chunk_bytes = kChunkBlocks * block_bytes;
    for (uint64_t at = 0; at < tensor.n_bytes; at += chunk_bytes) {
      const uint64_t n = std::min(chunk_bytes, tensor.n_bytes - at);
      chunk.resize(n);
      quant::fill_random_blocks(p.type, chunk, options.seed ^ (index * 0x100000001b3ull) ^ at, p.scale);
      sink(chunk);
      done += n;
      if (progress) progress(done, total);
    }
  });
  return total;
}

}  // namespace sluice::model
