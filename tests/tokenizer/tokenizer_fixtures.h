// Shared by the tokenizer tests: the fixture tokenizers (loaded once) and id formatting.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tokenizer/tokenizer.h"

namespace sluice::tokenizer::testing {

// Tokenizer of fixtures/models/qwen3_moe/model-bf16.gguf (equal to fixtures/tokenizer/).
const Tokenizer& qwen3_moe_tokenizer();
// Tokenizer of fixtures/trained/model-bf16.gguf.
const Tokenizer& trained_tokenizer();

std::string read_file(const std::string& path);
std::string format_ids(std::span<const int32_t> ids);
// The text with control characters and non-ASCII bytes escaped, for failure messages.
std::string escaped(std::string_view text);

}  // namespace sluice::tokenizer::testing
