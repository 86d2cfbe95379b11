// Pre-tokenizer splits against Hugging Face tokenizers (Oniguruma regexes), for every
// supported `tokenizer.ggml.pre` family: pre_tokenizer_cases.json, made by
// make_pre_tokenizer_cases.py. The qwen2 family is also covered end to end by the fixtures.
#include <gtest/gtest.h>

#include <algorithm>
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

constexpr const char* kFamilies[] = {"default", "gpt-2",       "qwen2",      "qwen35",      "llama-bpe",
                                     "glm4",    "gpt-4o",      "minimax-m2", "deepseek-v3", "kimi-k2"};

// The cases file holds exactly the families tested here.
TEST(PreTokenizerCasesFile, CoversEveryFamily) {
  std::vector<std::string> in_file;
  for (const auto& [name, pieces] : cases().at("pieces").items()) in_file.push_back(name);
  std::vector<std::string> tested(std::begin(kFamilies), std::end(kFamilies));
  std::sort(in_file.begin(), in_file.end());
  std::sort(tested.begin(), tested.end());
  EXPECT_EQ(in_file, tested);
  // The fixture's reference strings are among the texts.
  const auto reference = nlohmann::json::parse(testing::read_file(SLUICE_FIXTURES "/tokenizer/reference_encodings.json"));
  const auto texts = cases().at("texts").get<std::vector<std::string>>();
  for (const auto& entry : reference.at("encodings")) {
    EXPECT_NE(std::find(texts.begin(), texts.end(), entry.at("text").get<std::string>()), texts.end())
        << testing::escaped(entry.at("text").get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Families, PreTokenizerCases, ::testing::ValuesIn(kFamilies),
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
