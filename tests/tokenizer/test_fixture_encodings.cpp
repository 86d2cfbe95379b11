// Encodes and decodes the fixture strings and compares with the ids and text that Hugging Face
// transformers produced (fixtures/tokenizer/reference_encodings.json, fixtures/trained/
// reference.json).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "tokenizer_fixtures.h"

namespace sluice::tokenizer {
namespace {

using testing::escaped;
using testing::format_ids;

nlohmann::json load_json(const std::string& path) {
  return nlohmann::json::parse(testing::read_file(path));
}

// Checks encode(text) == expected and decode(expected) == decoded; reports what differs.
void expect_round_trip(const Tokenizer& tok, const std::string& text,
                       const std::vector<int32_t>& expected, const std::string& decoded) {
  const std::vector<int32_t> actual = tok.encode(text);
  EXPECT_EQ(actual, expected) << "text:     \"" << escaped(text) << "\"\n"
                              << "expected: " << format_ids(expected) << "\n"
                              << "actual:   " << format_ids(actual);
  const std::string actual_decoded = tok.decode(expected);
  EXPECT_EQ(actual_decoded, decoded) << "decoding " << format_ids(expected) << "\n"
                                     << "expected: \"" << escaped(decoded) << "\"\n"
                                     << "actual:   \"" << escaped(actual_decoded) << "\"";
}

TEST(TokenizerFixture, GgufVocabularyMatchesFixtureTokenizer) {
  const Vocabulary& vocab = testing::qwen3_moe_tokenizer().vocabulary();
  EXPECT_EQ(vocab.model, "gpt2");
  EXPECT_EQ(vocab.pre, "qwen2");
  const nlohmann::json tokenizer_json = load_json(SLUICE_FIXTURES "/tokenizer/tokenizer.json");
  const auto& json_vocab = tokenizer_json.at("model").at("vocab");
  ASSERT_GE(vocab.tokens.size(), json_vocab.size());
  for (const auto& [text, id] : json_vocab.items()) {
    EXPECT_EQ(vocab.tokens.at(id.get<size_t>()), text) << "token " << id;
  }
  EXPECT_EQ(vocab.merges.size(), tokenizer_json.at("model").at("merges").size());
  EXPECT_EQ(vocab.eos_id, 2);
}

TEST(TokenizerFixture, ReferenceEncodings) {
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  const nlohmann::json reference = load_json(SLUICE_FIXTURES "/tokenizer/reference_encodings.json");
  const auto& encodings = reference.at("encodings");
  ASSERT_EQ(encodings.size(), 16u);
  for (const auto& entry : encodings) {
    SCOPED_TRACE("text \"" + escaped(entry.at("text").get<std::string>()) + "\"");
    expect_round_trip(tok, entry.at("text").get<std::string>(),
                      entry.at("ids").get<std::vector<int32_t>>(),
                      entry.at("decoded").get<std::string>());
  }
}

TEST(TokenizerFixture, ChatExample) {
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  const nlohmann::json reference = load_json(SLUICE_FIXTURES "/tokenizer/reference_encodings.json");
  const std::string chat = reference.at("chat_example").get<std::string>();
  expect_round_trip(tok, chat, reference.at("chat_example_ids").get<std::vector<int32_t>>(), chat);
}

TEST(TokenizerFixture, TrainedModelPrompt) {
  const Tokenizer& tok = testing::trained_tokenizer();
  const nlohmann::json reference = load_json(SLUICE_FIXTURES "/trained/reference.json");
  const std::string prompt = reference.at("prompt").get<std::string>();
  expect_round_trip(tok, prompt, reference.at("input_ids").get<std::vector<int32_t>>(), prompt);
}

TEST(TokenizerFixture, SpecialTokensAsTextWithoutParseSpecial) {
  // With parse_special off, "<|im_end|>" is ordinary text: '<', '|', ... as BPE would split it.
  // The reference for the plain-text pieces is the fixture encoding of the same characters.
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  const std::vector<int32_t> ids = tok.encode("<|im_end|>", /*parse_special=*/false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 0) << format_ids(ids);
  EXPECT_EQ(tok.decode(ids), "<|im_end|>");
  EXPECT_EQ(tok.encode("<|im_end|>", /*parse_special=*/true), std::vector<int32_t>{2});
}

TEST(TokenizerFixture, EndOfGeneration) {
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  EXPECT_TRUE(tok.is_end_of_generation(2));    // <|im_end|>, eos
  EXPECT_TRUE(tok.is_end_of_generation(0));    // <|endoftext|>
  EXPECT_FALSE(tok.is_end_of_generation(1));   // <|im_start|>
  EXPECT_FALSE(tok.is_end_of_generation(42));  // "K"
  EXPECT_FALSE(tok.is_end_of_generation(-1));
  EXPECT_FALSE(tok.is_end_of_generation(tok.n_vocab()));
}

TEST(TokenizerFixture, DecodeRejectsIdsOutsideTheVocabulary) {
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  const std::vector<int32_t> ids = {42, tok.n_vocab()};
  EXPECT_THROW((void)tok.decode(ids), TokenizerError);
  EXPECT_THROW((void)tok.token_piece(-1), TokenizerError);
}

// The held-out Python text (about 61 KB) must round-trip exactly and tokenize well within a
// second; the time limit is loose so that sanitizer and debug builds pass too.
TEST(TokenizerFixture, LargeTextRoundTripAndSpeed) {
  const Tokenizer& tok = testing::trained_tokenizer();
  const std::string text = testing::read_file(SLUICE_FIXTURES "/trained/eval.txt");
  ASSERT_GT(text.size(), 60000u);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tok.encode(text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_LT(seconds, 2.0);
  std::printf("encoded %zu bytes into %zu tokens in %.3f s\n", text.size(), ids.size(), seconds);
}

}  // namespace
}  // namespace sluice::tokenizer
