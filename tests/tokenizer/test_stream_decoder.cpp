// StreamDecoder against the fixture text: pieces of characters split over byte tokens must be
// held back until complete, and the concatenated output must equal the reference text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer_fixtures.h"

namespace sluice::tokenizer {
namespace {

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

int32_t id_of(const Tokenizer& tok, std::string_view text) {
  const auto& tokens = tok.vocabulary().tokens;
  const auto it = std::find(tokens.begin(), tokens.end(), text);
  if (it == tokens.end()) throw std::runtime_error("no token " + std::string(text));
  return static_cast<int32_t>(it - tokens.begin());
}

TEST(StreamDecoder, MultiByteCharactersSplitAcrossTokens) {
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  const nlohmann::json reference = nlohmann::json::parse(
      testing::read_file(SLUICE_FIXTURES "/tokenizer/reference_encodings.json"));
  int n_checked = 0;
  for (const auto& entry : reference.at("encodings")) {
    const std::string text = entry.at("decoded").get<std::string>();
    const auto ids = entry.at("ids").get<std::vector<int32_t>>();
    SCOPED_TRACE("text \"" + testing::escaped(text) + "\"");
    StreamDecoder stream(tok);
    std::string streamed;
    int n_held_back = 0;
    for (int32_t id : ids) {
      const std::string chunk = stream.push(id);
      if (chunk.empty()) ++n_held_back;
      streamed += chunk;
      // Every prefix emitted so far ends on a character boundary of the reference text.
      ASSERT_LE(streamed.size(), text.size());
      ASSERT_EQ(streamed, text.substr(0, streamed.size()));
      if (streamed.size() < text.size()) {
        ASSERT_FALSE(is_continuation_byte(text[streamed.size()]));
      }
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, text);
    if (text.find("\xF0\x9F\x98\x80") != std::string::npos) {  // the emoji line: 😀 is 3 tokens
      EXPECT_GT(n_held_back, 0);
      ++n_checked;
    }
  }
  EXPECT_EQ(n_checked, 1);
}

TEST(StreamDecoder, IncompleteSequenceBecomesReplacementCharacter) {
  const Tokenizer& tok = testing::qwen3_moe_tokenizer();
  // GPT-2 byte-level stand-ins: byte 0xF0 is "ð" (U+00F0), byte 0x9F is "Ł" (U+0141).
  const int32_t lead_f0 = id_of(tok, "\xC3\xB0");
  const int32_t cont_9f = id_of(tok, "\xC5\x81");
  const int32_t letter_a = id_of(tok, "a");

  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(lead_f0), "");
  EXPECT_EQ(stream.push(cont_9f), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");  // F0 9F is one maximal subpart: one U+FFFD
  EXPECT_EQ(stream.flush(), "");

  EXPECT_EQ(stream.push(lead_f0), "");
  EXPECT_EQ(stream.push(letter_a), std::string("\xEF\xBF\xBD") + "a");  // cannot complete now
}

}  // namespace
}  // namespace sluice::tokenizer
