// Leftmost-longest matching of special tokens by first-byte buckets.
#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace sluice::tokenizer {

SpecialTokenMatcher::SpecialTokenMatcher(const Vocabulary& vocab) {
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const std::string_view text = vocab.tokens[i];
    const auto type = static_cast<TokenType>(vocab.token_types.empty() ? 1 : vocab.token_types[i]);
    const bool user_defined = type == TokenType::kUserDefined;
    if (text.empty() ||
        !(user_defined || type == TokenType::kControl || type == TokenType::kUnknown)) {
      continue;
    }
    by_first_byte_[static_cast<uint8_t>(text[0])].push_back(
        {text, static_cast<int32_t>(i), user_defined});
  }
  for (auto& bucket : by_first_byte_) {
    // Longest first; among equal texts the lowest id, as the first match is taken.
    std::stable_sort(bucket.begin(), bucket.end(), [](const Candidate& a, const Candidate& b) {
      return a.text.size() > b.text.size();
    });
  }
}

void SpecialTokenMatcher::split(std::string_view text, bool parse_special,
                                std::vector<TextSegment>& segments) const {
  segments.clear();
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const Candidate* found = nullptr;
    for (const Candidate& c : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      if ((parse_special || c.always) && text.compare(pos, c.text.size(), c.text) == 0) {
        found = &c;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    if (pos > plain_start) segments.push_back({plain_start, pos - plain_start, -1});
    segments.push_back({pos, found->text.size(), found->id});
    pos += found->text.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) segments.push_back({plain_start, text.size() - plain_start, -1});
}

}  // namespace sluice::tokenizer
