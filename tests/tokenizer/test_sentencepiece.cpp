// SentencePiece vocabularies (`tokenizer.ggml.model = llama`) against the `sentencepiece`
// package: sentencepiece/*.gguf hold two tiny SentencePiece BPE models (with and without the
// dummy prefix) written the way llama.cpp's converter writes a llama tokenizer.model, and
// spm_cases.json the ids and decoded text that sentencepiece gives for each test string
// (made by make_sentencepiece_cases.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tokenizer_fixtures.h"

namespace sluice::tokenizer {
namespace {

using testing::escaped;
using testing::format_ids;

const std::string kDir = SLUICE_TOKENIZER_TEST_DIR "/sentencepiece/";

const nlohmann::json& spm_cases() {
  static const nlohmann::json json = nlohmann::json::parse(testing::read_file(kDir + "spm_cases.json"));
  return json;
}

Tokenizer load(const std::string& path) { return Tokenizer(vocabulary_from_gguf(gguf::GgufFile(path))); }

std::vector<int32_t> ids_of(const std::string& model, const std::string& text) {
  for (const auto& c : spm_cases().at("models").at(model).at("cases")) {
    if (c.at("text") == text) return c.at("ids").get<std::vector<int32_t>>();
  }
  throw std::runtime_error("no case for " + text);
}

class SentencePieceModels : public ::testing::TestWithParam<std::string> {};

TEST_P(SentencePieceModels, VocabularyAsConverted) {
  const nlohmann::json& model = spm_cases().at("models").at(GetParam());
  const Tokenizer tok = load(kDir + GetParam());
  const Vocabulary& vocab = tok.vocabulary();
  EXPECT_EQ(vocab.model, "llama");
  EXPECT_EQ(vocab.add_space_prefix, model.at("add_dummy_prefix").get<bool>());
  EXPECT_TRUE(vocab.add_bos);
  EXPECT_FALSE(vocab.add_eos);
  EXPECT_EQ(vocab.bos_id, model.at("bos_id").get<int32_t>());
  EXPECT_EQ(vocab.eos_id, model.at("eos_id").get<int32_t>());
  EXPECT_EQ(vocab.scores.size(), vocab.tokens.size());
  // Byte fallback tokens <0x00>..<0xFF> decode to their byte.
  const auto it = std::find(vocab.tokens.begin(), vocab.tokens.end(), "<0x0A>");
  ASSERT_NE(it, vocab.tokens.end());
  EXPECT_EQ(tok.token_piece(static_cast<int32_t>(it - vocab.tokens.begin())), "\n");
  EXPECT_TRUE(tok.is_end_of_generation(*vocab.eos_id));
}

TEST_P(SentencePieceModels, EncodesAndDecodesAsSentencePiece) {
  const Tokenizer tok = load(kDir + GetParam());
  const auto& cases = spm_cases().at("models").at(GetParam()).at("cases");
  ASSERT_GE(cases.size(), 80u);
  size_t n_byte_fallback = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    // Special-token parsing off: sentencepiece reads "<s>" in text as characters.
    const std::vector<int32_t> actual = tok.encode(text, /*parse_special=*/false);
    EXPECT_EQ(actual, expected) << "text:     \"" << escaped(text) << "\"\n"
                                << "expected: " << format_ids(expected) << "\n"
                                << "actual:   " << format_ids(actual);
    const std::string decoded = tok.decode(expected);
    EXPECT_EQ(decoded, c.at("decoded").get<std::string>()) << "decoding " << format_ids(expected);
    for (int32_t id : expected) n_byte_fallback += tok.vocabulary().tokens[static_cast<size_t>(id)].starts_with("<0x");
  }
  EXPECT_GT(n_byte_fallback, 10u) << "the cases should exercise byte fallback";
}

TEST_P(SentencePieceModels, BosIsAddedAsTheVocabularyAsks) {
  const Tokenizer tok = load(kDir + GetParam());
  const int32_t bos = spm_cases().at("models").at(GetParam()).at("bos_id").get<int32_t>();
  std::vector<int32_t> expected = {bos};
  const std::vector<int32_t> body = ids_of(GetParam(), "Hello world");
  expected.insert(expected.end(), body.begin(), body.end());
  EXPECT_EQ(tok.encode_with_special("Hello world"), expected);
  EXPECT_EQ(tok.encode_with_special(""), std::vector<int32_t>{bos});
}

INSTANTIATE_TEST_SUITE_P(Models, SentencePieceModels, ::testing::Values("spm-bpe.gguf", "spm-bpe-no-prefix.gguf"),
                         [](const auto& info) { return info.param == "spm-bpe.gguf" ? "DummyPrefix" : "NoPrefix"; });

// With special tokens parsed, text after a special token gets the space prefix again, as
// llama.cpp does: "<s>hello world" is <s> followed by what "hello world" alone gives.
TEST(SentencePiece, SpecialTokensInTextRestartThePrefix) {
  const Tokenizer tok = load(kDir + "spm-bpe.gguf");
  const int32_t bos = *tok.vocabulary().bos_id;
  const int32_t eos = *tok.vocabulary().eos_id;
  std::vector<int32_t> expected = {bos};
  for (int32_t id : ids_of("spm-bpe.gguf", "hello world")) expected.push_back(id);
  expected.push_back(eos);
  for (int32_t id : ids_of("spm-bpe.gguf", "Hello world")) expected.push_back(id);
  EXPECT_EQ(tok.encode("<s>hello world</s>Hello world"), expected);
}

// Keys a converter may leave out get llama.cpp's defaults for SentencePiece: <unk> 0, <s> 1,
// </s> 2, BOS added, space prefix on.
TEST(SentencePiece, MissingKeysGetLlamaCppDefaults) {
  const gguf::GgufFile source(kDir + "spm-bpe.gguf");
  gguf::GgufWriter writer;
  for (const auto& [key, value] : source.metadata()) {
    if (key == "tokenizer.ggml.add_bos_token" || key == "tokenizer.ggml.add_space_prefix" ||
        key.ends_with("_token_id")) {
      continue;
    }
    writer.set_metadata(key, value);
  }
  const std::string path = (std::filesystem::temp_directory_path() / "sluice-spm-defaults.gguf").string();
  writer.write(path);
  const Tokenizer tok = load(path);
  std::filesystem::remove(path);
  const Vocabulary& vocab = tok.vocabulary();
  EXPECT_EQ(vocab.unk_id, 0);
  EXPECT_EQ(vocab.bos_id, 1);
  EXPECT_EQ(vocab.eos_id, 2);
  EXPECT_TRUE(vocab.add_bos);
  EXPECT_TRUE(vocab.add_space_prefix);
  EXPECT_EQ(tok.encode("Hello world", false), ids_of("spm-bpe.gguf", "Hello world"));
}

}  // namespace
}  // namespace sluice::tokenizer
