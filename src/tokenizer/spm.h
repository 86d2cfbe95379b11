// SentencePiece BPE encoding for GGUF vocabularies with `tokenizer.ggml.model = llama` (Llama 1/2,
// Mistral, Mixtral and other models converted from a SentencePiece `tokenizer.model`).
//
// The text arrives with spaces already escaped as U+2581 "▁". It starts as one symbol per UTF-8
// character; the adjacent pair whose concatenation is a vocabulary piece with the highest score
// is merged, ties going to the leftmost pair, until no pair forms a piece. This is SentencePiece's
// bpe_model.cc Model::Encode (and llama.cpp's llm_tokenizer_spm_session). A symbol left that is
// not a piece becomes its UTF-8 bytes as `<0xXX>` byte tokens (byte fallback), or the unknown
// token when the vocabulary has no byte tokens.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

namespace sluice::tokenizer {

// Reused buffers for encoding; one per encode call.
struct SpmScratch {
  struct Symbol {
    uint32_t start;   // byte offset in the text
    uint32_t length;  // bytes; 0 once merged into its left neighbour
    int32_t prev, next;
  };
  struct Candidate {
    float score;
    int32_t left, right;
    uint32_t length;  // bytes of the merged piece
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

class SpmModel {
 public:
  // `vocab` and `index` must outlive the model.
  SpmModel(const Vocabulary& vocab, const TokenIndex& index);

  // Appends the ids of `escaped` (spaces already written as "▁").
  void encode(std::string_view escaped, SpmScratch& scratch, std::vector<int32_t>& out) const;

 private:
  // Id of the piece `text` if a merge may produce it (normal, user-defined or unused token:
  // SentencePiece never merges into control, unknown or byte pieces), else -1.
  int32_t mergeable_id(std::string_view text) const;
  void push_candidate(SpmScratch& scratch, std::string_view text, int32_t left, int32_t right) const;

  const Vocabulary* vocab_;
  const TokenIndex* index_;
  std::array<int32_t, 256> byte_ids_{};  // <0xXX> byte tokens, or -1
};

// Value of a byte-fallback token "<0xAB>" (0xAB), or -1 when `text` is not of that form.
int parse_byte_token(std::string_view text);

}  // namespace sluice::tokenizer
