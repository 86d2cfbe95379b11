// UTF-8 validation with U+FFFD replacement of maximal invalid subparts.
#include "tokenizer/utf8.h"

#include <cstdint>

namespace sluice::tokenizer {
namespace {

struct SequenceCheck {
  size_t valid_bytes;  // leading bytes that form a well-formed sequence or a prefix of one
  size_t needed;       // length of the sequence the lead byte announces (0: invalid lead)
};

// Well-formed byte sequences, Unicode table 3-7: the second byte's range depends on the lead.
SequenceCheck check_sequence(std::string_view in) {
  const auto b0 = static_cast<uint8_t>(in[0]);
  if (b0 < 0x80) return {1, 1};
  size_t needed = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    needed = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    needed = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    needed = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0, 0};
  }
  size_t valid = 1;
  while (valid < needed && valid < in.size()) {
    const auto b = static_cast<uint8_t>(in[valid]);
    const bool ok = valid == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    ++valid;
  }
  return {valid, needed};
}

}  // namespace

size_t utf8_sequence_length(std::string_view in) {
  if (in.empty()) return 0;
  const SequenceCheck check = check_sequence(in);
  return check.needed != 0 && check.valid_bytes == check.needed ? check.needed : 0;
}

size_t append_utf8_lossy(std::string_view in, std::string& out, bool hold_incomplete_tail) {
  size_t pos = 0;
  size_t run_start = 0;  // start of the pending run of valid bytes, copied in one append
  while (pos < in.size()) {
    const SequenceCheck check = check_sequence(in.substr(pos));
    if (check.needed != 0 && check.valid_bytes == check.needed) {
      pos += check.needed;
      continue;
    }
    const bool truncated_at_end = check.needed != 0 && pos + check.valid_bytes == in.size();
    out.append(in.substr(run_start, pos - run_start));
    if (truncated_at_end && hold_incomplete_tail) return pos;
    out.append(kReplacementCharacter);
    pos += check.valid_bytes == 0 ? 1 : check.valid_bytes;
    run_start = pos;
  }
  out.append(in.substr(run_start, pos - run_start));
  return pos;
}

}  // namespace sluice::tokenizer
