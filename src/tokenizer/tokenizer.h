// Public API of the tokenizer module: text <-> token ids for the vocabularies GGUF files carry.
//
// A Vocabulary is the plain data of the `tokenizer.ggml.*` metadata keys; a Tokenizer is built
// from it once (merge ranks, pre-tokenizer regexes, special-token table) and is then immutable,
// so one instance may encode and decode from several threads at once. Two models are
// implemented: byte-level BPE (`tokenizer.ggml.model = gpt2`, with the pre-tokenizer that
// `tokenizer.ggml.pre` names) and SentencePiece BPE (`tokenizer.ggml.model = llama`: scores,
// `<0xXX>` byte fallback, "▁" for spaces, the leading space of `add_space_prefix`). Other models
// and unknown pre-tokenizer names are refused rather than approximated.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace sluice::gguf {
class GgufFile;
}

namespace sluice::tokenizer {

class TokenizerError : public Error {
 public:
  using Error::Error;
};

// Token types as GGUF numbers them (`tokenizer.ggml.token_type`, llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct Vocabulary {             // plain data, as GGUF metadata carries it
  std::string model;            // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre = "default";  // tokenizer.ggml.pre, e.g. "qwen2"; "default" when absent
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
                                     // 6 byte; empty means all normal
  std::vector<std::string> merges;   // "a b", highest priority first (gpt2)
  std::vector<float> scores;         // merge priority of each piece (llama); empty means all 0
  std::optional<int32_t> bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = false;  // llama: a space before text that starts the input or follows
                                  // a special token (SentencePiece's add_dummy_prefix)
};

// Reads the `tokenizer.ggml.*` keys; throws TokenizerError (or gguf::GgufError) when they are
// missing, of the wrong kind or inconsistent (array lengths, ids out of range, bad types).
Vocabulary vocabulary_from_gguf(const gguf::GgufFile& file);

// Checks the invariants vocabulary_from_gguf guarantees, for vocabularies built by hand.
void validate_vocabulary(const Vocabulary& vocab);

class Tokenizer {
 public:
  // Throws TokenizerError on an invalid vocabulary and on an unknown model or pre-tokenizer
  // name (the message names it).
  explicit Tokenizer(Vocabulary vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Does not add BOS/EOS. With parse_special, control tokens written in the text (e.g.
  // "<|im_start|>") become their ids; user-defined tokens are always matched, as in
  // llama.cpp and Hugging Face tokenizers.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // encode() with the BOS and EOS that the vocabulary's add_bos / add_eos ask for, as
  // llama.cpp's llama_tokenize with add_special.
  std::vector<int32_t> encode_with_special(std::string_view text, bool parse_special = true) const;
  // Concatenates the pieces and returns valid UTF-8 (invalid bytes become U+FFFD). Control
  // tokens decode to their text, as transformers does with skip_special_tokens=False. With
  // add_space_prefix, the space that prefix put before the first piece is dropped, as
  // SentencePiece's decode does. Throws TokenizerError on an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids) const;
  std::string token_piece(int32_t id) const;  // raw bytes of one token
  const Vocabulary& vocabulary() const;
  int32_t n_vocab() const;
  // eos/eot/eom and control tokens that end a turn (<|im_end|>, <|endoftext|>, ...).
  bool is_end_of_generation(int32_t id) const;
  std::vector<int32_t> end_of_generation_ids() const;  // ascending

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of generated ids into text as it arrives, holding back a UTF-8 sequence
// until its last byte has come (one character may be split over several byte tokens).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok);
  std::string push(int32_t id);  // only complete UTF-8; partial sequences are held back
  std::string flush();           // whatever is left (invalid bytes as U+FFFD)

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace sluice::tokenizer
