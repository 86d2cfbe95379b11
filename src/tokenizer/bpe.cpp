// Merge-rank table and the heap-driven BPE merge loop.
#include "tokenizer/bpe.h"

#include <algorithm>

#include "tokenizer/byte_unicode.h"

namespace sluice::tokenizer {
namespace {

constexpr int32_t kMissing = -1;
constexpr int32_t kMerged = -2;

// Min-heap order: lowest rank first, then leftmost.
bool heap_after(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

}  // namespace

TokenIndex build_token_index(const std::vector<std::string>& tokens) {
  TokenIndex index;
  index.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) index.emplace(tokens[i], static_cast<int32_t>(i));
  return index;
}

BpeModel::BpeModel(const std::vector<std::string>& merges, const TokenIndex& index,
                   std::optional<int32_t> unk_id)
    : unk_id_(unk_id) {
  auto lookup = [&index](std::string_view text) {
    const auto it = index.find(text);
    return it == index.end() ? kMissing : it->second;
  };
  for (int b = 0; b < 256; ++b) byte_ids_[b] = lookup(byte_to_unicode(static_cast<uint8_t>(b)));

  ranks_.reserve(merges.size());
  std::string merged;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view merge = merges[rank];
    const size_t space = merge.find(' ', 1);
    if (space == std::string_view::npos) continue;
    const std::string_view left = merge.substr(0, space);
    const std::string_view right = merge.substr(space + 1);
    merged.assign(left);
    merged.append(right);
    const int32_t left_id = lookup(left);
    const int32_t right_id = lookup(right);
    const int32_t merged_id = lookup(merged);
    if (left_id < 0 || right_id < 0 || merged_id < 0) continue;
    ranks_.emplace(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), merged_id});
  }
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  const auto it = ranks_.find(pair_key(left, right));
  return it == ranks_.end() ? nullptr : &it->second;
}

void BpeModel::push_candidate(BpeScratch& scratch, int32_t left) const {
  if (left < 0) return;
  const BpeScratch::Symbol& l = scratch.symbols[left];
  if (l.next < 0) return;
  const BpeScratch::Symbol& r = scratch.symbols[l.next];
  const Merge* merge = find_merge(l.id, r.id);
  if (merge == nullptr) return;
  scratch.heap.push_back({merge->rank, left, l.id, r.id, merge->merged_id});
  std::push_heap(scratch.heap.begin(), scratch.heap.end(), heap_after);
}

void BpeModel::encode_word(std::string_view word, bool ignore_merges, const TokenIndex& index,
                           BpeScratch& scratch, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges) {
    scratch.text.clear();
    for (char c : word) scratch.text.append(byte_to_unicode(static_cast<uint8_t>(c)));
    const auto it = index.find(std::string_view(scratch.text));
    if (it != index.end()) {
      out.push_back(it->second);
      return;
    }
  }

  auto& symbols = scratch.symbols;
  symbols.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_ids_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1});
  }
  scratch.heap.clear();
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(scratch, i);

  while (!scratch.heap.empty()) {
    std::pop_heap(scratch.heap.begin(), scratch.heap.end(), heap_after);
    const BpeScratch::Candidate c = scratch.heap.back();
    scratch.heap.pop_back();
    BpeScratch::Symbol& left = symbols[c.left];
    // A candidate is stale once either side has merged with something else: ids only grow
    // into longer tokens, so matching ids on adjacent live symbols mean the pair still exists.
    if (left.id != c.left_id || left.next < 0) continue;
    BpeScratch::Symbol& right = symbols[left.next];
    if (right.id != c.right_id) continue;
    left.id = c.merged_id;
    right.id = kMerged;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    push_candidate(scratch, left.prev);
    push_candidate(scratch, c.left);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const int32_t id = symbols[i].id;
    if (id >= 0) {
      out.push_back(id);
    } else if (unk_id_) {
      out.push_back(*unk_id_);
    }
  }
}

}  // namespace sluice::tokenizer
