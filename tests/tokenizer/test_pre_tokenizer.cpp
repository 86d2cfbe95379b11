// Pre-tokenizer splits against Hugging Face tokenizers (Oniguruma regexes), for every
// supported `tokenizer.ggml.pre` family: pre_tokenizer_cases.json, made by
// make_pre_tokenizer_cases.py. The qwen2 family is also covered end to end by the fixtures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer_fixtures.h"

namespace sluice::tokenizer {
namespace {

const nlohmann::json& cases() {
  static const nlohmann::json json = nlohmann::json::parse(
      testing::read_file(SLUICE_TOKENIZER_TEST_DIR "/pre_tokenizer_cases.json"));
  return json;
}

std::string format_pieces(const std::vector<std::string>& pieces) {
  std::string s;
  for (const std::string& piece : pieces) {
    s += '"';
    s += testing::escaped(piece);
    s += "\" ";
  }
  return s;
}

class PreTokenizerCases : public ::testing::TestWithParam<const char*> {};

TEST_P(PreTokenizerCases, SplitsAsHuggingFaceTokenizers) {
  const PreTokenizer pre_tokenizer(GetParam());
  const auto& texts = cases().at("texts");
  const auto& expected_pieces = cases().at("pieces").at(GetParam());
  ASSERT_EQ(texts.size(), expected_pieces.size());
  std::vector<TextSpan> words, scratch;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    const auto expected = expected_pieces[i].get<std::vector<std::string>>();
    pre_tokenizer.split(text, words, scratch);
    std::vector<std::string> actual;
    for (const TextSpan& w : words) actual.push_back(text.substr(w.offset, w.length));
    EXPECT_EQ(actual, expected) << "text:     \"" << testing::escaped(text) << "\"\n"
                                << "expected: " << format_pieces(expected) << "\n"
                                << "actual:   " << format_pieces(actual);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, PreTokenizerCases,
                         ::testing::Values("default", "qwen2", "qwen35", "llama-bpe", "gpt-4o",
                                           "deepseek-v3"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// Bytes that are not UTF-8 match no regex; they must come out as pieces of their own, with
// every byte kept.
TEST(PreTokenizer, InvalidUtf8IsKept) {
  const PreTokenizer pre_tokenizer("qwen2");
  const std::string text = "ab\xFF\xFE cd\xC3";
  std::vector<TextSpan> words, scratch;
  pre_tokenizer.split(text, words, scratch);
  std::vector<std::string> actual;
  for (const TextSpan& w : words) actual.push_back(text.substr(w.offset, w.length));
  EXPECT_EQ(actual, (std::vector<std::string>{"ab", "\xFF\xFE", " cd", "\xC3"}));
}

}  // namespace
}  // namespace sluice::tokenizer
