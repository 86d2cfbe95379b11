// StreamDecoder: incremental detokenization that never splits a UTF-8 character.
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sluice::tokenizer {

StreamDecoder::StreamDecoder(const Tokenizer& tok) : tokenizer_(&tok) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_->token_piece(id);
  std::string text;
  const size_t consumed = append_utf8_lossy(pending_, text, /*hold_incomplete_tail=*/true);
  pending_.erase(0, consumed);
  return text;
}

std::string StreamDecoder::flush() {
  std::string text;
  append_utf8_lossy(pending_, text, /*hold_incomplete_tail=*/false);
  pending_.clear();
  return text;
}

}  // namespace sluice::tokenizer
