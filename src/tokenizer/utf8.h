// UTF-8 helpers shared by decoding and streaming: validation with U+FFFD replacement.
//
// Replacement follows the Unicode "maximal subpart" practice (Unicode 15, section 3.9, table
// 3-7), which is what Rust's String::from_utf8_lossy does and hence what Hugging Face
// tokenizers' decode returns for byte sequences that are not valid UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::tokenizer {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Appends `in` to `out` as valid UTF-8, each maximal invalid subpart replaced by U+FFFD.
// With `hold_incomplete_tail`, a trailing sequence that is a valid but unfinished prefix of a
// character is left out; the return value is the number of bytes of `in` consumed.
size_t append_utf8_lossy(std::string_view in, std::string& out, bool hold_incomplete_tail);

// Length in bytes of the well-formed UTF-8 sequence starting at in[0], or 0 when in[0] does
// not start one (invalid or truncated).
size_t utf8_sequence_length(std::string_view in);

}  // namespace sluice::tokenizer
