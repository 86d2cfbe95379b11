// Vocabulary validation and refusal of what the tokenizer does not implement.
#include <gtest/gtest.h>

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
  vocab.model = "llama";  // SentencePiece: not implemented, refused rather than guessed
  expect_error_naming([&] { Tokenizer tok(vocab); }, "'llama'");
}

TEST(Vocabulary, KnownPreTokenizersConstruct) {
  for (const char* pre :
       {"default", "gpt-2", "qwen2", "qwen35", "llama-bpe", "gpt-4o", "deepseek-v3"}) {
    Vocabulary vocab = fixture_vocabulary();
    vocab.pre = pre;
    EXPECT_NO_THROW(Tokenizer tok(vocab)) << pre;
  }
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
