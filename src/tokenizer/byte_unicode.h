// GPT-2's reversible byte <-> unicode mapping used by byte-level BPE vocabularies.
//
// Byte-level BPE (GPT-2, Qwen, Llama 3, ...) stores tokens as strings of printable code points,
// one per byte: bytes that are printable Latin-1 map to themselves and the other 68 bytes to
// U+0100..U+0143 in order (OpenAI gpt-2 encoder.py bytes_to_unicode; Hugging Face tokenizers'
// ByteLevel pre-tokenizer and decoder use the same table).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::tokenizer {

// UTF-8 form of the code point that stands for `byte` (one or two bytes long).
std::string_view byte_to_unicode(uint8_t byte);

// Appends the bytes a byte-level token string stands for. Returns false (and appends the
// offending code point's UTF-8 unchanged) when the string holds a code point outside the
// mapping, which a well-formed byte-level vocabulary never has.
bool append_unicode_to_bytes(std::string_view token_text, std::string& out);

}  // namespace sluice::tokenizer
