// Finds special tokens written in text, before pre-tokenization.
//
// Control and unknown-type tokens (only when parse_special) and user-defined tokens (always)
// are matched leftmost-longest, as Hugging Face tokenizers' AddedVocabulary does with its
// Aho-Corasick matcher; the text between matches is left to the pre-tokenizer and BPE.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sluice::tokenizer {

struct TextSegment {
  size_t offset = 0;
  size_t length = 0;
  int32_t special_id = -1;  // the matched token, or -1 for plain text
};

class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocabulary& vocab);

  // Replaces `segments` with the special tokens found in `text` and the plain text between.
  void split(std::string_view text, bool parse_special, std::vector<TextSegment>& segments) const;

 private:
  struct Candidate {
    std::string_view text;  // points into the vocabulary's token strings
    int32_t id;
    bool always;  // user-defined: matched even without parse_special
  };
  // Candidates by first byte, longest first.
  std::array<std::vector<Candidate>, 256> by_first_byte_;
};

}  // namespace sluice::tokenizer
