// Tokenizer: ties the special-token matcher, the pre-tokenizer and BPE (or SentencePiece BPE)
// together for encoding, and maps ids back to bytes for decoding.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <optional>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_unicode.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"

namespace sluice::tokenizer {
namespace {

// Texts of tokens that end a turn or a document in the chat formats of the families sluice
// runs; the list llama.cpp keeps (llama_vocab::impl::load, special_eog_ids).
constexpr std::array<std::string_view, 13> kEndOfGenerationTexts = {
    "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<end_of_turn>", "<|end|>",
    "<|return|>",    "<|call|>",   "<EOT>",      "_<EOT>",     "<｜end▁of▁sentence｜>", "<end_of_utterance>",
};

// "▁" (U+2581), SentencePiece's stand-in for a space.
constexpr std::string_view kSpmSpace = "\xE2\x96\x81";

enum class ModelKind { kBpe, kSpm };

ModelKind check_model(std::string_view model) {
  if (model == "gpt2") return ModelKind::kBpe;
  if (model == "llama") return ModelKind::kSpm;
  throw TokenizerError("unsupported tokenizer model '" + std::string(model) +
                       "' (tokenizer.ggml.model); supported: gpt2 (byte-level BPE), llama (SentencePiece BPE)");
}

// `text` with every `from` replaced by `to`, appended to `out`.
void append_replaced(std::string_view text, std::string_view from, std::string_view to, std::string& out) {
  size_t start = 0;
  for (size_t at = text.find(from); at != std::string_view::npos; at = text.find(from, start)) {
    out.append(text.substr(start, at - start));
    out.append(to);
    start = at + from.size();
  }
  out.append(text.substr(start));
}

TokenType type_of(const Vocabulary& vocab, size_t id) {
  return vocab.token_types.empty() ? TokenType::kNormal
                                   : static_cast<TokenType>(vocab.token_types[id]);
}


// The bytes a token stands for when decoded.
std::string piece_of(const Vocabulary& vocab, ModelKind kind, size_t id) {
  const std::string& text = vocab.tokens[id];
  std::string piece;
  switch (type_of(vocab, id)) {
    case TokenType::kNormal:
      if (kind == ModelKind::kBpe) {
        append_unicode_to_bytes(text, piece);
      } else {
        append_replaced(text, kSpmSpace, " ", piece);
      }
      break;
    case TokenType::kByte: {
      const int byte = parse_byte_token(text);
      if (byte >= 0) {
        piece.push_back(static_cast<char>(byte));
      } else {
        piece = text;
      }
      break;
    }
    case TokenType::kUnused:
      break;  // padding entries ("[PAD1000]") stand for no text
    case TokenType::kUnknown:
    case TokenType::kControl:
    case TokenType::kUserDefined:
      piece = text;  // stored as plain text, not byte-level encoded
      break;
  }
  return piece;
}

Vocabulary checked(Vocabulary vocab) {
  check_model(vocab.model);
  validate_vocabulary(vocab);
  return vocab;
}

}  // namespace

struct Tokenizer::Impl {
  Vocabulary vocab;
  ModelKind kind;
  TokenIndex index;
  std::optional<PreTokenizer> pre_tokenizer;  // byte-level BPE only
  std::optional<BpeModel> bpe;
  std::optional<SpmModel> spm;
  SpecialTokenMatcher special_tokens;
  std::vector<std::string> pieces;
  std::vector<uint8_t> end_of_generation;

  explicit Impl(Vocabulary v)
      : vocab(std::move(v)),
        kind(check_model(vocab.model)),
        index(build_token_index(vocab.tokens)),
        special_tokens(vocab) {
    if (kind == ModelKind::kBpe) {
      pre_tokenizer.emplace(vocab.pre.empty() ? "default" : vocab.pre);
      bpe.emplace(vocab.merges, index, vocab.unk_id);
    } else {
      spm.emplace(vocab, index);
    }
    const size_t n = vocab.tokens.size();
    pieces.reserve(n);
    for (size_t id = 0; id < n; ++id) pieces.push_back(piece_of(vocab, kind, id));

    end_of_generation.assign(n, 0);
    for (const auto& id : {vocab.eos_id, vocab.eot_id, vocab.eom_id}) {
      if (id) end_of_generation[*id] = 1;
    }
    // gpt-oss ends a message with <|end|> but the answer only with <|return|> or <|call|>
    // (llama.cpp drops <|end|> from its end-of-generation set when both are there too).
    const bool harmony = index.contains("<|return|>") && index.contains("<|call|>");
    for (size_t id = 0; id < n; ++id) {
      const TokenType type = type_of(vocab, id);
      if (type != TokenType::kControl && type != TokenType::kUserDefined) continue;
      const std::string& text = vocab.tokens[id];
      if (harmony && text == "<|end|>") continue;
      if (std::find(kEndOfGenerationTexts.begin(), kEndOfGenerationTexts.end(), text) !=
          kEndOfGenerationTexts.end()) {
        end_of_generation[id] = 1;
      }
    }
  }

  void check_id(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= pieces.size()) {
      throw TokenizerError("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                           std::to_string(pieces.size()) + ")");
    }
  }
};

Tokenizer::Tokenizer(Vocabulary vocab) : impl_(std::make_unique<Impl>(checked(std::move(vocab)))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<TextSegment> segments;
  impl_->special_tokens.split(text, parse_special, segments);
  if (impl_->kind == ModelKind::kSpm) {
    // llama.cpp's SPM path (llama_vocab::impl::tokenize): the space prefix goes before text
    // at the start and after every special token, then spaces become "▁".
    SpmScratch scratch;
    std::string escaped;
    bool after_special = true;
    for (const TextSegment& segment : segments) {
      if (segment.special_id >= 0) {
        ids.push_back(segment.special_id);
        after_special = true;
        continue;
      }
      escaped.clear();
      if (impl_->vocab.add_space_prefix && after_special) escaped.append(kSpmSpace);
      append_replaced(text.substr(segment.offset, segment.length), " ", kSpmSpace, escaped);
      impl_->spm->encode(escaped, scratch, ids);
      after_special = false;
    }
    return ids;
  }
  std::vector<TextSpan> words;
  std::vector<TextSpan> scratch_spans;
  BpeScratch bpe_scratch;
  const bool ignore_merges = impl_->pre_tokenizer->ignore_merges();
  for (const TextSegment& segment : segments) {
    if (segment.special_id >= 0) {
      ids.push_back(segment.special_id);
      continue;
    }
    const std::string_view plain = text.substr(segment.offset, segment.length);
    impl_->pre_tokenizer->split(plain, words, scratch_spans);
    for (const TextSpan& word : words) {
      impl_->bpe->encode_word(plain.substr(word.offset, word.length), ignore_merges, impl_->index,
                              bpe_scratch, ids);
    }
  }
  return ids;
}

std::vector<int32_t> Tokenizer::encode_with_special(std::string_view text, bool parse_special) const {
  const Vocabulary& vocab = impl_->vocab;
  std::vector<int32_t> ids;
  if (vocab.add_bos) ids.push_back(*vocab.bos_id);
  const std::vector<int32_t> body = encode(text, parse_special);
  ids.insert(ids.end(), body.begin(), body.end());
  if (vocab.add_eos) ids.push_back(*vocab.eos_id);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (int32_t id : ids) {
    impl_->check_id(id);
    bytes += impl_->pieces[static_cast<size_t>(id)];
  }
  // The space add_space_prefix put before the first piece (llama.cpp's detokenize drops it too).
  if (impl_->kind == ModelKind::kSpm && impl_->vocab.add_space_prefix && !ids.empty() && !bytes.empty() &&
      bytes.front() == ' ' && type_of(impl_->vocab, static_cast<size_t>(ids.front())) == TokenType::kNormal) {
    bytes.erase(0, 1);
  }
  std::string text;
  text.reserve(bytes.size());
  append_utf8_lossy(bytes, text, /*hold_incomplete_tail=*/false);
  return text;
}

std::string Tokenizer::token_piece(int32_t id) const {
  impl_->check_id(id);
  return impl_->pieces[static_cast<size_t>(id)];
}

const Vocabulary& Tokenizer::vocabulary() const { return impl_->vocab; }

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->pieces.size()); }

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->end_of_generation.size() &&
         impl_->end_of_generation[static_cast<size_t>(id)] != 0;
}

std::vector<int32_t> Tokenizer::end_of_generation_ids() const {
  std::vector<int32_t> ids;
  for (size_t id = 0; id < impl_->end_of_generation.size(); ++id) {
    if (impl_->end_of_generation[id]) ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace sluice::tokenizer
