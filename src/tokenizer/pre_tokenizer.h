// Pre-tokenizers: the regex splits applied to text before BPE, chosen by `tokenizer.ggml.pre`.
//
// Each pre-tokenizer is a sequence of PCRE2 regexes (UTF + UCP, JIT-compiled). Like a Hugging
// Face `Split` pre-tokenizer with behavior "Isolated", every stage splits each piece of the
// previous stage into its matches and the gaps between them, so no byte is ever dropped.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tokenizer {

struct TextSpan {
  size_t offset = 0;
  size_t length = 0;
};

class PreTokenizer {
 public:
  // Throws TokenizerError naming `pre` when it is not a known pre-tokenizer.
  explicit PreTokenizer(std::string_view pre);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Replaces `words` with the pieces of `text` (offsets relative to `text`), in order, covering
  // every byte. Bytes that are not valid UTF-8 match no regex and so end up in gap pieces.
  // `scratch` is reused storage for the multi-stage case.
  void split(std::string_view text, std::vector<TextSpan>& words,
             std::vector<TextSpan>& scratch) const;

  // Whether a word that is itself a vocabulary token is emitted whole, without running BPE
  // (Hugging Face BPE `ignore_merges`, set in Llama 3's tokenizer.json).
  bool ignore_merges() const { return ignore_merges_; }

  // Names accepted by the constructor, for error messages and documentation.
  static std::string known_names();

 private:
  struct CompiledRegex;
  std::vector<std::unique_ptr<CompiledRegex>> stages_;
  bool ignore_merges_ = false;
};

}  // namespace sluice::tokenizer
