// Vocabulary validation and refusal of what the tokenizer does not implement.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tokenizer_fixtures.h"

namespace sluice::tokenizer {
namespace {

// A small valid byte-level vocabulary: the fixture one.
Vocabulary fixture_vocabulary() { return testing::qwen3_moe_tokenizer().vocabulary(); }

// Runs `make` and expects a TokenizerError whose message contains `needle`.
template <typename F>
void expect_error_naming(F make, const std::string& needle) {
  try {
    make();
    ADD_FAILURE() << "no error; expected one naming '" << needle << "'";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nshould name: " << needle;
  }
}

TEST(Vocabulary, UnknownPreTokenizerIsRefusedByName) {
  Vocabulary vocab = fixture_vocabulary();
  vocab.pre = "no-such-pre-tokenizer";
  expect_error_naming([&] { Tokenizer tok(vocab); }, "no-such-pre-tokenizer");
}

TEST(Vocabulary, UnknownModelIsRefusedByName) {
  Vocabulary vocab = fixture_vocabulary();
  vocab.model = "no-such-model";
  expect_error_naming([&] { Tokenizer tok(vocab); }, "no-such-model");
  for (const char* model : {"bert", "t5", "rwkv"}) {  // WordPiece, Unigram, RWKV: not implemented
    vocab.model = model;
    expect_error_naming([&] { Tokenizer tok(vocab); }, std::string("'") + model + "'");
  }
}

TEST(Vocabulary, KnownPreTokenizersConstruct) {
  for (const char* pre :
       {"default", "gpt-2", "qwen2", "qwen35", "llama-bpe", "glm4", "gpt-4o", "minimax-m2", "deepseek-v3", "kimi-k2"}) {
    Vocabulary vocab = fixture_vocabulary();
    vocab.pre = pre;
    EXPECT_NO_THROW(Tokenizer tok(vocab)) << pre;
  }
}

// Written from the fixture's tokenizer metadata with `edit` applied; returns the vocabulary read back.
Vocabulary vocabulary_with(const std::function<void(gguf::GgufWriter&)>& edit) {
  const gguf::GgufFile source(SLUICE_FIXTURES "/models/qwen3_moe/model-bf16.gguf");
  gguf::GgufWriter writer;
  for (const auto& [key, value] : source.metadata()) {
    if (key.starts_with("tokenizer.")) writer.set_metadata(key, value);
  }
  edit(writer);
  const std::string path = (std::filesystem::temp_directory_path() / "sluice-vocabulary-test.gguf").string();
  writer.write(path);
  Vocabulary vocab = vocabulary_from_gguf(gguf::GgufFile(path));
  std::filesystem::remove(path);
  return vocab;
}

// Where add_bos_token is absent, llama.cpp adds BOS for the Llama 3 family of byte-level BPE
// and not for the others; the key, when present, decides.
TEST(Vocabulary, AddBosDefaultsAsLlamaCpp) {
  auto with = [](const char* pre, std::optional<bool> add_bos) {
    return vocabulary_with([&](gguf::GgufWriter& w) {
      w.set_string("tokenizer.ggml.pre", pre);
      w.set_uint32("tokenizer.ggml.bos_token_id", 1);
      if (add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *add_bos);
    });
  };
  EXPECT_TRUE(with("llama-bpe", std::nullopt).add_bos);
  EXPECT_FALSE(with("llama-bpe", false).add_bos);
  EXPECT_FALSE(with("qwen2", std::nullopt).add_bos);
  EXPECT_TRUE(with("qwen2", true).add_bos);
  EXPECT_FALSE(with("qwen2", std::nullopt).add_space_prefix);
  const Tokenizer tok(with("llama-bpe", std::nullopt));
  EXPECT_EQ(tok.encode_with_special("Hello").front(), 1);
  EXPECT_EQ(tok.encode_with_special("Hello").size(), tok.encode("Hello").size() + 1);
}

TEST(Vocabulary, InconsistentVocabulariesAreRefused) {
  Vocabulary vocab = fixture_vocabulary();
  vocab.eos_id = static_cast<int32_t>(vocab.tokens.size());
  expect_error_naming([&] { Tokenizer tok(vocab); }, "eos token id");

  vocab = fixture_vocabulary();
  vocab.token_types.pop_back();
  expect_error_naming([&] { Tokenizer tok(vocab); }, "token types");

  vocab = fixture_vocabulary();
  vocab.token_types[5] = 9;
  expect_error_naming([&] { Tokenizer tok(vocab); }, "token 5");

  vocab = fixture_vocabulary();
  vocab.add_bos = true;
  vocab.bos_id.reset();
  expect_error_naming([&] { Tokenizer tok(vocab); }, "bos");

  vocab = fixture_vocabulary();
  vocab.tokens.clear();
  vocab.token_types.clear();
  expect_error_naming([&] { Tokenizer tok(vocab); }, "no tokens");
}

}  // namespace
}  // namespace sluice::tokenizer
