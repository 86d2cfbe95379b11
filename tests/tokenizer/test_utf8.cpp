// Lossy UTF-8 conversion against the Unicode Standard's own examples (chapter 3.9, "U+FFFD
// Substitution of Maximal Subparts", table 3-8) and the ill-formed sequences of table 3-7.
#include <gtest/gtest.h>

#include "tokenizer/utf8.h"
#include "tokenizer_fixtures.h"

namespace sluice::tokenizer {
namespace {

#define FFFD "\xEF\xBF\xBD"

std::string lossy(std::string_view in) {
  std::string out;
  EXPECT_EQ(append_utf8_lossy(in, out, /*hold_incomplete_tail=*/false), in.size());
  return out;
}

TEST(Utf8, MaximalSubpartsAsInTheUnicodeStandard) {
  // Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
  EXPECT_EQ(lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
  EXPECT_EQ(lossy("\xED\xA0\x80"), FFFD FFFD FFFD);           // surrogate D800
  EXPECT_EQ(lossy("\xC0\xAF"), FFFD FFFD);                    // overlong '/'
  EXPECT_EQ(lossy("\xE0\x80\xAF"), FFFD FFFD FFFD);           // overlong '/'
  EXPECT_EQ(lossy("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD);  // above U+10FFFF
  EXPECT_EQ(lossy("\xF5\xFF"), FFFD FFFD);
  EXPECT_EQ(lossy("caf\xC3\xA9 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(lossy(""), "");
}

TEST(Utf8, HoldsBackOnlyAnIncompleteTail) {
  std::string out;
  EXPECT_EQ(append_utf8_lossy("ab\xF0\x9F\x98", out, true), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  EXPECT_EQ(append_utf8_lossy("ab\xF0\x41", out, true), 4u);  // F0 then 'A': cannot complete
  EXPECT_EQ(out, "ab" FFFD "A");
  out.clear();
  EXPECT_EQ(append_utf8_lossy("\xED\xA0", out, true), 2u);  // never valid: not held back
  EXPECT_EQ(out, FFFD FFFD);
}

TEST(Utf8, SequenceLength) {
  EXPECT_EQ(utf8_sequence_length("a"), 1u);
  EXPECT_EQ(utf8_sequence_length("\xC3\xA9"), 2u);
  EXPECT_EQ(utf8_sequence_length("\xE4\xBD\xA0"), 3u);
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(utf8_sequence_length("\x80"), 0u);
  EXPECT_EQ(utf8_sequence_length(""), 0u);
}

}  // namespace
}  // namespace sluice::tokenizer
