// SentencePiece BPE merge loop (see spm.h).
#include "tokenizer/spm.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace sluice::tokenizer {
namespace {

// Max-heap order: highest score first, then leftmost (SentencePiece's SymbolPairComparator).
bool heap_before(const SpmScratch::Candidate& a, const SpmScratch::Candidate& b) {
  return a.score != b.score ? a.score < b.score : a.left > b.left;
}


TokenType type_of(const Vocabulary& vocab, size_t id) {
  return vocab.token_types.empty() ? TokenType::kNormal : static_cast<TokenType>(vocab.token_types[id]);
}

}  // namespace

SpmModel::SpmModel(const Vocabulary& vocab, const TokenIndex& index) : vocab_(&vocab), index_(&index) {
  byte_ids_.fill(-1);
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    if (type_of(vocab, id) != TokenType::kByte) continue;
    const int value = parse_byte_token(vocab.tokens[id]);
    if (value >= 0 && byte_ids_[static_cast<size_t>(value)] < 0) byte_ids_[static_cast<size_t>(value)] = static_cast<int32_t>(id);
  }
}

int32_t SpmModel::mergeable_id(std::string_view text) const {
  const auto it = index_->find(text);
  if (it == index_->end()) return -1;
  const TokenType type = type_of(*vocab_, static_cast<size_t>(it->second));
  return type == TokenType::kNormal || type == TokenType::kUserDefined || type == TokenType::kUnused ? it->second : -1;
}

void SpmModel::push_candidate(SpmScratch& scratch, std::string_view text, int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return;
  const SpmScratch::Symbol& a = scratch.symbols[static_cast<size_t>(left)];
  const SpmScratch::Symbol& b = scratch.symbols[static_cast<size_t>(right)];
  const std::string_view merged = text.substr(a.start, a.length + b.length);
  const int32_t id = mergeable_id(merged);
  if (id < 0) return;
  const float score = vocab_->scores.empty() ? 0.0f : vocab_->scores[static_cast<size_t>(id)];
  scratch.heap.push_back({score, left, right, static_cast<uint32_t>(merged.size())});
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), heap_before);
}

void SpmModel::encode(std::string_view text, SpmScratch& scratch, std::vector<int32_t>& out) const {
  auto& symbols = scratch.symbols;
  symbols.clear();
  scratch.heap.clear();
  for (size_t at = 0; at < text.size();) {
    const size_t length = std::max<size_t>(1, utf8_sequence_length(text.substr(at)));
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(length), index - 1,
                       at + length < text.size() ? index + 1 : -1});
    at += length;
  }
  for (size_t i = 1; i < symbols.size(); ++i) {
    push_candidate(scratch, text, static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }
  while (!scratch.heap.empty()) {
    std::pop_heap(scratch.heap.begin(), scratch.heap.end(), heap_before);
    const SpmScratch::Candidate top = scratch.heap.back();
    scratch.heap.pop_back();
    SpmScratch::Symbol& left = symbols[static_cast<size_t>(top.left)];
    SpmScratch::Symbol& right = symbols[static_cast<size_t>(top.right)];
    // Stale: one side was merged away or has grown since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.length + right.length != top.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.left;
    push_candidate(scratch, text, left.prev, top.left);
    push_candidate(scratch, text, top.left, left.next);
  }
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const SpmScratch::Symbol& symbol = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(symbol.start, symbol.length);
    if (const auto it = index_->find(piece); it != index_->end()) {
      out.push_back(it->second);
      continue;
    }
    for (const char c : piece) {  // byte fallback
      const int32_t byte_id = byte_ids_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) {
        out.push_back(byte_id);
      } else if (vocab_->unk_id) {
        out.push_back(*vocab_->unk_id);
        break;  // one unknown token for the whole piece, as SentencePiece emits
      }
    }
  }
}

int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') {
      value |= c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value |= c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      value |= c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return value;
}

}  // namespace sluice::tokenizer
