// StopStrings: generated text reaches the output unchanged up to the first stop string, which
// is never output, even when it arrives split over several tokens.
#include <gtest/gtest.h>

#include "tokenizer/stop_strings.h"

namespace sluice::tokenizer {
namespace {

// Feeds `chunks` and returns everything output, with whether a stop string was met.
std::pair<std::string, bool> run(std::vector<std::string> stops, const std::vector<std::string>& chunks) {
  StopStrings filter(std::move(stops));
  std::string out;
  for (const std::string& chunk : chunks) {
    out += filter.push(chunk);
    if (filter.stopped()) return {out, true};
  }
  return {out + filter.flush(), false};
}

TEST(StopStrings, NoStopsPassEverything) {
  EXPECT_EQ(run({}, {"a", "bc", ""}), std::make_pair(std::string("abc"), false));
  EXPECT_EQ(run({""}, {"a", "bc"}), std::make_pair(std::string("abc"), false));
}

TEST(StopStrings, StopSplitOverChunksIsNotOutput) {
  EXPECT_EQ(run({"END"}, {"abc E", "N", "Dxyz", "more"}), std::make_pair(std::string("abc "), true));
  EXPECT_EQ(run({"END"}, {"abcEND"}), std::make_pair(std::string("abc"), true));
  EXPECT_EQ(run({"END"}, {"END"}), std::make_pair(std::string(""), true));
}

TEST(StopStrings, HeldPrefixIsReleasedWhenItDoesNotContinue) {
  StopStrings filter({"END"});
  EXPECT_EQ(filter.push("abcE"), "abc");
  EXPECT_EQ(filter.push("N"), "");
  EXPECT_EQ(filter.push("x"), "ENx");
  EXPECT_FALSE(filter.stopped());
  EXPECT_EQ(filter.push("EN"), "");
  EXPECT_EQ(filter.flush(), "EN");  // generation ended before the stop string completed
}

TEST(StopStrings, EarliestStopWins) {
  EXPECT_EQ(run({"world", "lo w"}, {"hello world"}), std::make_pair(std::string("hel"), true));
  EXPECT_EQ(run({"aab"}, {"aaab"}), std::make_pair(std::string("a"), true));
  EXPECT_EQ(run({"\n\n", "User:"}, {"answer.\n", "\nUser: hi"}), std::make_pair(std::string("answer."), true));
}

TEST(StopStrings, MultiByteCharactersStayWhole) {
  // "é" is 2 bytes; the stop "éa" shares its first character with the text.
  EXPECT_EQ(run({"\xC3\xA9" "a"}, {"caf\xC3\xA9", "!"}), std::make_pair(std::string("caf\xC3\xA9!"), false));
  StopStrings filter({"\xC3\xA9" "a"});
  EXPECT_EQ(filter.push("caf\xC3\xA9"), "caf");
}

}  // namespace
}  // namespace sluice::tokenizer
