// GgufFile on the reference fixtures (written by llama.cpp's converter and gguf-split).
//
// Expected values come from outside sluice: config.json and model.safetensors of the Hugging
// Face checkpoint the GGUF was converted from, offsets reported by the `gguf` Python package,
// and plain fread of the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "gguf/gguf_file.h"
#include "gguf_test_util.h"

namespace sluice::gguf::test {
namespace {

using quant::GgmlType;

const std::string kQwen3MoeDir = "models/qwen3_moe/";

nlohmann::json read_json(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

// Bytes [offset, offset + n) of `path`, read with stdio, not with GgufFile.
std::vector<std::byte> fread_at(const std::string& path, uint64_t offset, uint64_t n) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<std::byte> out(n);
  const bool ok = std::fseek(f, static_cast<long>(offset), SEEK_SET) == 0 &&
                  std::fread(out.data(), 1, n, f) == n;
  std::fclose(f);
  if (!ok) throw std::runtime_error("cannot read " + path);
  return out;
}

// A safetensors file: a uint64 header length, a JSON header, then the data.
class Safetensors {
 public:
  explicit Safetensors(const std::string& path) : bytes_(read_file(path)) {
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes_.data(), 8);
    header_ = nlohmann::json::parse(bytes_.begin() + 8, bytes_.begin() + 8 + header_len);
    data_start_ = 8 + header_len;
  }
  // The float32 tensor `name` as raw 32-bit patterns, row-major; its shape in `shape`.
  std::vector<uint32_t> f32_bits(const std::string& name, std::vector<uint64_t>* shape) const {
    const auto& entry = header_.at(name);
    EXPECT_EQ(entry.at("dtype"), "F32") << name;
    *shape = entry.at("shape").get<std::vector<uint64_t>>();
    const auto begin = entry.at("data_offsets")[0].get<uint64_t>();
    const auto end = entry.at("data_offsets")[1].get<uint64_t>();
    std::vector<uint32_t> out((end - begin) / 4);
    std::memcpy(out.data(), bytes_.data() + data_start_ + begin, end - begin);
    return out;
  }

 private:
  std::vector<uint8_t> bytes_;
  nlohmann::json header_;
  uint64_t data_start_ = 0;
};

// The GGUF tensor's values as float32 bit patterns (BF16 widened exactly: bits << 16).
std::vector<uint32_t> gguf_f32_bits(const GgufFile& file, const TensorInfo& tensor) {
  const std::vector<std::byte> raw = file.read_tensor(tensor);
  std::vector<uint32_t> out(tensor.n_elements);
  if (tensor.type == GgmlType::F32) {
    std::memcpy(out.data(), raw.data(), raw.size());
  } else if (tensor.type == GgmlType::BF16) {
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t half = 0;
      std::memcpy(&half, raw.data() + 2 * i, 2);
      out[i] = uint32_t{half} << 16;
    }
  } else {
    ADD_FAILURE() << tensor.name << " has unexpected type " << quant::type_name(tensor.type);
  }
  return out;
}

// The Hugging Face tensors that llama.cpp's converter turned into `gguf_name` (Qwen3-MoE:
// names mapped 1:1, the routed experts of a layer stacked along a new outer dimension).
std::vector<std::string> hf_sources(const std::string& gguf_name, int n_experts) {
  static const std::map<std::string, std::string> kGlobal = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output.weight", "lm_head.weight"},
      {"output_norm.weight", "model.norm.weight"},
  };
  static const std::map<std::string, std::string> kPerLayer = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},
      {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      {"ffn_gate_inp.weight", "mlp.gate.weight"},
  };
  static const std::map<std::string, std::string> kExperts = {
      {"ffn_gate_exps.weight", "gate_proj.weight"},
      {"ffn_up_exps.weight", "up_proj.weight"},
      {"ffn_down_exps.weight", "down_proj.weight"},
  };
  if (auto it = kGlobal.find(gguf_name); it != kGlobal.end()) return {it->second};
  int layer = -1;
  char rest[64] = {};
  if (std::sscanf(gguf_name.c_str(), "blk.%d.%63s", &layer, rest) != 2) return {};
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  if (auto it = kPerLayer.find(rest); it != kPerLayer.end()) return {prefix + it->second};
  if (auto it = kExperts.find(rest); it != kExperts.end()) {
    std::vector<std::string> out;
    for (int e = 0; e < n_experts; ++e) {
      out.push_back(prefix + "mlp.experts." + std::to_string(e) + "." + it->second);
    }
    return out;
  }
  return {};
}

TEST(GgufFixtures, Qwen3MoeHeaderMatchesConfig) {
  const GgufFile file(fixture(kQwen3MoeDir + "model-bf16.gguf"));
  const nlohmann::json config = read_json(fixture(kQwen3MoeDir + "config.json"));

  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset(), 30176u);  // as reported by gguf-py's GGUFReader
  EXPECT_EQ(file.metadata().size(), 25u);
  EXPECT_EQ(file.tensors().size(), 51u);
  EXPECT_EQ(file.get_string("general.architecture"), "qwen3moe");

  // The values the brief names, then the same keys against config.json.
  EXPECT_EQ(file.get_uint("qwen3moe.block_count"), 4u);
  EXPECT_EQ(file.get_uint("qwen3moe.embedding_length"), 64u);
  EXPECT_EQ(file.get_uint("qwen3moe.expert_count"), 8u);
  const std::pair<const char*, const char*> same_integer[] = {
      {"qwen3moe.block_count", "num_hidden_layers"},
      {"qwen3moe.context_length", "max_position_embeddings"},
      {"qwen3moe.embedding_length", "hidden_size"},
      {"qwen3moe.feed_forward_length", "intermediate_size"},
      {"qwen3moe.expert_feed_forward_length", "moe_intermediate_size"},
      {"qwen3moe.attention.head_count", "num_attention_heads"},
      {"qwen3moe.attention.head_count_kv", "num_key_value_heads"},
      {"qwen3moe.expert_count", "num_local_experts"},
      {"qwen3moe.expert_used_count", "num_experts_per_tok"},
  };
  for (const auto& [gguf_key, config_key] : same_integer) {
    EXPECT_EQ(file.get_uint(gguf_key), config.at(config_key).get<uint64_t>()) << gguf_key;
    EXPECT_EQ(file.require(gguf_key).type, ValueType::UINT32) << gguf_key;
  }
  EXPECT_EQ(file.get_float("qwen3moe.rope.freq_base"),
            config.at("rope_parameters").at("rope_theta").get<double>());
  // Stored as float32: compare with the config value rounded the same way.
  EXPECT_EQ(file.get_float("qwen3moe.attention.layer_norm_rms_epsilon"),
            double{static_cast<float>(config.at("rms_norm_eps").get<double>())});
  EXPECT_EQ(file.require("qwen3moe.rope.freq_base").type, ValueType::FLOAT32);

  const auto vocab_size = config.at("vocab_size").get<size_t>();
  const std::vector<std::string> tokens = file.get_string_array("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens.size(), vocab_size);
  EXPECT_EQ(file.get_int_array("tokenizer.ggml.token_type").size(), vocab_size);
  EXPECT_EQ(file.require("tokenizer.ggml.token_type").as_array().element_type, ValueType::INT32);
  EXPECT_EQ(file.get_string_array("tokenizer.ggml.merges").size(), 741u);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(file.get_uint("tokenizer.ggml.eos_token_id"),
            config.at("eos_token_id").get<uint64_t>());
  EXPECT_EQ(file.get_uint("tokenizer.ggml.padding_token_id"),
            config.at("pad_token_id").get<uint64_t>());
  EXPECT_EQ(file.find_uint("no.such.key"), std::nullopt);
}

TEST(GgufFixtures, Qwen3MoeTensorTable) {
  const GgufFile file(fixture(kQwen3MoeDir + "model-bf16.gguf"));
  const TensorInfo& down = file.require_tensor("blk.0.ffn_down_exps.weight");
  EXPECT_EQ(down.dims, (std::vector<uint64_t>{32, 64, 8}));
  EXPECT_EQ(down.type, GgmlType::BF16);
  EXPECT_EQ(down.n_elements, 32u * 64 * 8);
  EXPECT_EQ(down.n_bytes, 32u * 64 * 8 * 2);
  EXPECT_EQ(down.offset, 292576u);  // as reported by gguf-py's GGUFReader
  EXPECT_EQ(down.shape_string(), "[32, 64, 8]");

  // Every tensor's shape, from config.json's sizes (GGUF lists ne[0], the row length, first).
  const nlohmann::json config = read_json(fixture(kQwen3MoeDir + "config.json"));
  const auto hidden = config.at("hidden_size").get<uint64_t>();
  const auto vocab = config.at("vocab_size").get<uint64_t>();
  const auto n_head = config.at("num_attention_heads").get<uint64_t>();
  const auto n_head_kv = config.at("num_key_value_heads").get<uint64_t>();
  const uint64_t head_dim = hidden / n_head;
  const auto n_expert = config.at("num_local_experts").get<uint64_t>();
  const auto n_ff_exp = config.at("moe_intermediate_size").get<uint64_t>();
  std::map<std::string, std::vector<uint64_t>> expected = {
      {"token_embd.weight", {hidden, vocab}},
      {"output.weight", {hidden, vocab}},
      {"output_norm.weight", {hidden}},
  };
  for (int i = 0; i < config.at("num_hidden_layers").get<int>(); ++i) {
    const std::string blk = "blk." + std::to_string(i) + ".";
    expected[blk + "attn_norm.weight"] = {hidden};
    expected[blk + "ffn_norm.weight"] = {hidden};
    expected[blk + "attn_q.weight"] = {hidden, n_head * head_dim};
    expected[blk + "attn_k.weight"] = {hidden, n_head_kv * head_dim};
    expected[blk + "attn_v.weight"] = {hidden, n_head_kv * head_dim};
    expected[blk + "attn_output.weight"] = {n_head * head_dim, hidden};
    expected[blk + "attn_q_norm.weight"] = {head_dim};
    expected[blk + "attn_k_norm.weight"] = {head_dim};
    expected[blk + "ffn_gate_inp.weight"] = {hidden, n_expert};
    expected[blk + "ffn_gate_exps.weight"] = {hidden, n_ff_exp, n_expert};
    expected[blk + "ffn_up_exps.weight"] = {hidden, n_ff_exp, n_expert};
    expected[blk + "ffn_down_exps.weight"] = {n_ff_exp, hidden, n_expert};
  }
  ASSERT_EQ(file.tensors().size(), expected.size());
  for (const TensorInfo& t : file.tensors()) {
    auto it = expected.find(t.name);
    ASSERT_NE(it, expected.end()) << "unexpected tensor " << t.name;
    EXPECT_EQ(t.dims, it->second) << t.name;
    // The converter keeps 1-D tensors (norms) and the router in F32.
    const bool f32 = t.dims.size() == 1 || t.name.find("ffn_gate_inp") != std::string::npos;
    EXPECT_EQ(t.type, f32 ? GgmlType::F32 : GgmlType::BF16) << t.name;
  }
}

TEST(GgufFixtures, TensorBytesEqualPlainFread) {
  const std::string path = fixture(kQwen3MoeDir + "model-bf16.gguf");
  const GgufFile file(path);
  for (const TensorInfo& t : file.tensors()) {
    EXPECT_EQ(t.offset % file.alignment(), 0u) << t.name;
    EXPECT_EQ(file.read_tensor(t), fread_at(path, t.offset, t.n_bytes)) << t.name;
  }
  const TensorInfo& down = file.require_tensor("blk.0.ffn_down_exps.weight");
  EXPECT_EQ(file.read_tensor(down), fread_at(path, file.data_offset() + 262400, 32768));
}

// Every tensor of the bf16 and f32 GGUFs holds exactly the checkpoint's numbers (the weights
// were rounded to bf16-representable values before conversion): this checks each tensor's
// offset, size and element order against an independent file.
class GgufMatchesSafetensors : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufMatchesSafetensors, EveryTensorBitExact) {
  const GgufFile file(fixture(kQwen3MoeDir + GetParam()));
  const Safetensors checkpoint(fixture(kQwen3MoeDir + "model.safetensors"));
  const int n_experts = static_cast<int>(file.get_uint("qwen3moe.expert_count"));
  for (const TensorInfo& t : file.tensors()) {
    const std::vector<std::string> sources = hf_sources(t.name, n_experts);
    ASSERT_FALSE(sources.empty()) << "no checkpoint tensor for " << t.name;
    std::vector<uint32_t> expected;
    for (const std::string& source : sources) {
      std::vector<uint64_t> shape;
      const std::vector<uint32_t> part = checkpoint.f32_bits(source, &shape);
      // HF shapes are [out, in]; GGUF's ne[] lists the same dimensions innermost first.
      std::vector<uint64_t> reversed(shape.rbegin(), shape.rend());
      if (sources.size() > 1) reversed.push_back(sources.size());
      EXPECT_EQ(reversed, t.dims) << t.name << " vs " << source;
      expected.insert(expected.end(), part.begin(), part.end());
    }
    const std::vector<uint32_t> actual = gguf_f32_bits(file, t);
    ASSERT_EQ(actual.size(), expected.size()) << t.name;
    const auto mismatch = std::mismatch(actual.begin(), actual.end(), expected.begin());
    EXPECT_TRUE(mismatch.first == actual.end())
        << t.name << ": first difference at element " << (mismatch.first - actual.begin());
  }
}

INSTANTIATE_TEST_SUITE_P(Qwen3Moe, GgufMatchesSafetensors,
                         ::testing::Values("model-bf16.gguf", "model-f32.gguf"),
                         [](const auto& info) {
                           return info.param == "model-f32.gguf" ? "F32" : "BF16";
                         });

TEST(GgufFixtures, SplitPartsHoldTheWholeModel) {
  const GgufFile whole(fixture(kQwen3MoeDir + "model-bf16.gguf"));
  std::set<std::string> seen;
  for (int part = 1; part <= 4; ++part) {
    const std::string path =
        fixture("split/qwen3_moe-bf16-0000" + std::to_string(part) + "-of-00004.gguf");
    SCOPED_TRACE(path);
    const GgufFile file(path, {}, SplitParts::kThisFileOnly);
    EXPECT_EQ(file.get_uint("split.no"), static_cast<uint64_t>(part - 1));
    EXPECT_EQ(file.get_uint("split.count"), 4u);
    EXPECT_EQ(file.get_uint("split.tensors.count"), 51u);
    EXPECT_EQ(file.require("split.no").type, ValueType::UINT16);
    EXPECT_EQ(file.find_string("general.architecture"),
              part == 1 ? std::optional<std::string>("qwen3moe") : std::nullopt);
    EXPECT_EQ(file.tensors().size(), part == 4 ? 3u : 16u);
    for (const TensorInfo& t : file.tensors()) {
      EXPECT_TRUE(seen.insert(t.name).second) << "tensor in two parts: " << t.name;
      const TensorInfo& reference = whole.require_tensor(t.name);
      EXPECT_EQ(t.dims, reference.dims) << t.name;
      EXPECT_EQ(t.type, reference.type) << t.name;
      EXPECT_EQ(file.read_tensor(t), whole.read_tensor(reference)) << t.name;
    }
  }
  EXPECT_EQ(seen.size(), whole.tensors().size());
  // Offsets gguf-py reports for the last part.
  const GgufFile last(fixture(kSmallFixture));
  EXPECT_EQ(last.data_offset(), 288u);
  EXPECT_EQ(last.require_tensor("blk.3.attn_v.weight").offset, 8480u);
  EXPECT_EQ(last.require_tensor("output_norm.weight").offset, 12576u);
}

// Structural invariants that hold in any well-formed GGUF, checked on every fixture.
TEST(GgufFixtures, EveryFixtureParses) {
  size_t n_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SLUICE_FIXTURES)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".gguf") continue;
    ++n_files;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    std::optional<GgufFile> file;
    ASSERT_NO_THROW(file.emplace(path, ReaderLimits{}, SplitParts::kThisFileOnly));
    EXPECT_TRUE(file->version() == 2 || file->version() == 3);
    EXPECT_EQ(file->file_size(), entry.file_size());
    EXPECT_FALSE(file->tensors().empty());
    EXPECT_EQ(file->data_offset() % file->alignment(), 0u);
    const bool later_split_part = file->find_uint("split.no").value_or(0) > 0;
    if (!later_split_part) {
      EXPECT_TRUE(file->find_string("general.architecture").has_value());
    }

    std::vector<const TensorInfo*> by_offset;
    for (const TensorInfo& t : file->tensors()) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const auto* a, const auto* b) { return a->offset < b->offset; });
    uint64_t end_of_previous = file->data_offset();
    for (const TensorInfo* t : by_offset) {
      EXPECT_EQ(t->offset % file->alignment(), 0u) << t->name;
      EXPECT_GE(t->offset, end_of_previous) << t->name << " overlaps the previous tensor";
      EXPECT_EQ(t->n_bytes, quant::row_bytes(t->type, t->n_elements)) << t->name;
      end_of_previous = t->offset + t->n_bytes;
    }
    EXPECT_LE(end_of_previous, file->file_size());
  }
  EXPECT_GE(n_files, 40u) << "fixture directory " << SLUICE_FIXTURES << " looks incomplete";
}

}  // namespace
}  // namespace sluice::gguf::test
