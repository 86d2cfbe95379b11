// GPT-2 byte <-> unicode tables, built once.
#include "tokenizer/byte_unicode.h"

#include <array>

#include "tokenizer/utf8.h"

namespace sluice::tokenizer {
namespace {

constexpr uint32_t kMaxMappedCodePoint = 0x143;  // 0x100 + 68 remapped bytes - 1

struct ByteTables {
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, kMaxMappedCodePoint + 1> code_point_to_byte;  // -1: not in the mapping

  ByteTables() {
    code_point_to_byte.fill(-1);
    uint32_t next_remapped = 0x100;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : next_remapped++;
      code_point_to_byte[cp] = static_cast<int16_t>(b);
      std::string& s = byte_to_utf8[b];
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
  }
};

const ByteTables& tables() {
  static const ByteTables instance;
  return instance;
}

}  // namespace

std::string_view byte_to_unicode(uint8_t byte) { return tables().byte_to_utf8[byte]; }

bool append_unicode_to_bytes(std::string_view token_text, std::string& out) {
  const ByteTables& t = tables();
  bool all_mapped = true;
  size_t pos = 0;
  while (pos < token_text.size()) {
    const std::string_view rest = token_text.substr(pos);
    size_t len = utf8_sequence_length(rest);
    uint32_t cp = 0xFFFFFFFF;
    if (len == 1) {
      cp = static_cast<uint8_t>(rest[0]);
    } else if (len == 2) {
      cp = ((static_cast<uint8_t>(rest[0]) & 0x1Fu) << 6) | (static_cast<uint8_t>(rest[1]) & 0x3Fu);
    }
    if (len == 0) len = 1;
    if (cp <= kMaxMappedCodePoint && t.code_point_to_byte[cp] >= 0) {
      out.push_back(static_cast<char>(t.code_point_to_byte[cp]));
    } else {
      out.append(rest.substr(0, len));
      all_mapped = false;
    }
    pos += len;
  }
  return all_mapped;
}

}  // namespace sluice::tokenizer
