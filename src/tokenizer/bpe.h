// Byte-level BPE over token ids: merge ranks from `tokenizer.ggml.merges` and the merge loop.
//
// A word (one pre-tokenizer piece, raw bytes) starts as one symbol per byte, each the id of
// that byte's GPT-2 unicode stand-in; the adjacent pair with the lowest merge rank is merged
// until none is left, ties going to the leftmost pair (Hugging Face tokenizers' BPE
// Word::merge_all). Symbols form a linked list in a reused array and candidate pairs sit in a
// binary heap, so a word of n bytes costs O(n log n) and no allocation once buffers have grown.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Token text -> id; the first of duplicate texts wins.
using TokenIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;
TokenIndex build_token_index(const std::vector<std::string>& tokens);

// Reused buffers for encoding words; one per encode call.
struct BpeScratch {
  struct Symbol {
    int32_t id;    // token id; kMissing when the byte has no token, kMerged once absorbed
    int32_t prev;  // index of the previous live symbol, -1 at the start
    int32_t next;  // index of the next live symbol, -1 at the end
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // index of the left symbol
    int32_t left_id, right_id, merged_id;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::string text;
};

class BpeModel {
 public:
  // `merges` are "left right" in byte-level unicode, highest priority first. Merges whose parts
  // or result are not tokens can never apply and are left out.
  BpeModel(const std::vector<std::string>& merges, const TokenIndex& index,
           std::optional<int32_t> unk_id);

  // Appends the ids of `word` (raw bytes). With `ignore_merges`, a word that is a token as a
  // whole is emitted as that token. Bytes without a token become unk_id, or are dropped when
  // there is none (as Hugging Face BPE does without an unk_token).
  void encode_word(std::string_view word, bool ignore_merges, const TokenIndex& index,
                   BpeScratch& scratch, std::vector<int32_t>& out) const;

  size_t n_merges() const { return ranks_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  const Merge* find_merge(int32_t left, int32_t right) const;
  void push_candidate(BpeScratch& scratch, int32_t left) const;

  std::unordered_map<uint64_t, Merge> ranks_;
  std::array<int32_t, 256> byte_ids_{};  // id of each byte's unicode stand-in, or kMissing
  std::optional<int32_t> unk_id_;
};

}  // namespace sluice::tokenizer
