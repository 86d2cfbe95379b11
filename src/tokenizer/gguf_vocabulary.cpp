// Reads a Vocabulary from the `tokenizer.ggml.*` metadata of a GGUF file and checks it.
//
// Key names and meanings are those llama.cpp's converter writes (gguf-py constants.py, Keys.
// Tokenizer); a file that is missing required keys or carries inconsistent ones is refused
// here, at the boundary, with the key named.
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace sluice::tokenizer {
namespace {

// Byte-level BPE pre-tokenizers whose models llama.cpp gives a BOS by default (llama_vocab::
// impl::load: the Llama 3 group, tekken, chameleon).
const std::set<std::string, std::less<>> kAddsBosByDefault = {
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "tekken", "chameleon",
};

std::optional<int32_t> optional_token_id(const gguf::GgufFile& file, const std::string& key,
                                         size_t n_tokens) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_integer()) {
    throw TokenizerError("metadata key '" + key + "' is not an integer (it is " +
                         std::string(gguf::value_type_name(value->type)) + ")");
  }
  const int64_t id = value->as_int();
  if (id < 0 || static_cast<uint64_t>(id) >= n_tokens) {
    throw TokenizerError("metadata key '" + key + "' = " + std::to_string(id) +
                         " is outside the vocabulary of " + std::to_string(n_tokens) + " tokens");
  }
  return static_cast<int32_t>(id);
}

void check_id(const std::optional<int32_t>& id, const char* what, size_t n_tokens) {
  if (id && (*id < 0 || static_cast<size_t>(*id) >= n_tokens)) {
    throw TokenizerError(std::string(what) + " " + std::to_string(*id) +
                         " is outside the vocabulary of " + std::to_string(n_tokens) + " tokens");
  }
}

}  // namespace

void validate_vocabulary(const Vocabulary& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) throw TokenizerError("the vocabulary has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) {
    throw TokenizerError("the vocabulary has " + std::to_string(n) + " tokens, more than int32");
  }
  if (!vocab.token_types.empty()) {
    if (vocab.token_types.size() != n) {
      throw TokenizerError("the vocabulary has " + std::to_string(n) + " tokens but " +
                           std::to_string(vocab.token_types.size()) + " token types");
    }
    for (size_t i = 0; i < n; ++i) {
      const int32_t type = vocab.token_types[i];
      if (type < static_cast<int32_t>(TokenType::kNormal) ||
          type > static_cast<int32_t>(TokenType::kByte)) {
        throw TokenizerError("token " + std::to_string(i) + " has token type " +
                             std::to_string(type) + " (expected 1..6)");
      }
    }
  }
  check_id(vocab.bos_id, "bos token id", n);
  check_id(vocab.eos_id, "eos token id", n);
  check_id(vocab.eot_id, "eot token id", n);
  check_id(vocab.eom_id, "eom token id", n);
  check_id(vocab.unk_id, "unknown token id", n);
  check_id(vocab.pad_id, "padding token id", n);
  if (vocab.add_bos && !vocab.bos_id) {
    throw TokenizerError("add_bos_token is true but no bos token id is set");
  }
  if (vocab.add_eos && !vocab.eos_id) {
    throw TokenizerError("add_eos_token is true but no eos token id is set");
  }
}

Vocabulary vocabulary_from_gguf(const gguf::GgufFile& file) {
  Vocabulary vocab;
  const std::optional<std::string> model = file.find_string("tokenizer.ggml.model");
  if (!model) {
    throw TokenizerError(file.path() + ": no tokenizer in the file (tokenizer.ggml.model missing)");
  }
  vocab.model = *model;
  vocab.pre = file.find_string("tokenizer.ggml.pre").value_or("default");
  vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
  const size_t n = vocab.tokens.size();

  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    const std::vector<int64_t> types = file.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n) {
      throw TokenizerError(file.path() + ": tokenizer.ggml.token_type has " +
                           std::to_string(types.size()) + " entries for " + std::to_string(n) +
                           " tokens");
    }
    vocab.token_types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 1 || types[i] > 6) {
        throw TokenizerError(file.path() + ": tokenizer.ggml.token_type[" + std::to_string(i) +
                             "] = " + std::to_string(types[i]) + " (expected 1..6)");
      }
      vocab.token_types.push_back(static_cast<int32_t>(types[i]));
    }
  }

  if (file.find("tokenizer.ggml.merges") != nullptr) {
    vocab.merges = file.get_string_array("tokenizer.ggml.merges");
  } else if (vocab.model == "gpt2") {
    throw TokenizerError(file.path() + ": BPE tokenizer without tokenizer.ggml.merges");
  }

  if (file.find("tokenizer.ggml.scores") != nullptr) {
    const std::vector<double> scores = file.get_float_array("tokenizer.ggml.scores");
    if (scores.size() != n) {
      throw TokenizerError(file.path() + ": tokenizer.ggml.scores has " + std::to_string(scores.size()) +
                           " entries for " + std::to_string(n) + " tokens");
    }
    vocab.scores.assign(scores.begin(), scores.end());
  }

  vocab.bos_id = optional_token_id(file, "tokenizer.ggml.bos_token_id", n);
  vocab.eos_id = optional_token_id(file, "tokenizer.ggml.eos_token_id", n);
  vocab.eot_id = optional_token_id(file, "tokenizer.ggml.eot_token_id", n);
  vocab.eom_id = optional_token_id(file, "tokenizer.ggml.eom_token_id", n);
  vocab.unk_id = optional_token_id(file, "tokenizer.ggml.unknown_token_id", n);
  vocab.pad_id = optional_token_id(file, "tokenizer.ggml.padding_token_id", n);

  // Defaults where a key is absent, as llama.cpp's llama_vocab::impl::load sets them: a
  // SentencePiece vocabulary has <unk> 0, <s> 1, </s> 2, adds BOS and the space prefix; the
  // Llama 3 family of byte-level BPE adds BOS.
  const bool spm = vocab.model == "llama";
  if (spm) {
    auto fallback = [n](std::optional<int32_t>& id, int32_t value) {
      if (!id && static_cast<size_t>(value) < n) id = value;
    };
    fallback(vocab.unk_id, 0);
    fallback(vocab.bos_id, 1);
    fallback(vocab.eos_id, 2);
  }
  const bool llama3_family = vocab.model == "gpt2" && kAddsBosByDefault.count(vocab.pre) > 0;
  vocab.add_bos = file.find_bool("tokenizer.ggml.add_bos_token")
                      .value_or((spm || llama3_family) && vocab.bos_id.has_value());
  vocab.add_eos = file.find_bool("tokenizer.ggml.add_eos_token").value_or(false);
  vocab.add_space_prefix = file.find_bool("tokenizer.ggml.add_space_prefix").value_or(spm);

  try {
    validate_vocabulary(vocab);
  } catch (const TokenizerError& e) {
    throw TokenizerError(file.path() + ": " + e.what());
  }
  return vocab;
}

}  // namespace sluice::tokenizer
