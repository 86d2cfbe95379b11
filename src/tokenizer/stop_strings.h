// Stop strings for generation (`sluice run --stop TEXT`): generated text passes through here on
// its way to the output. Text that could be the beginning of a stop string is held back until
// it is known not to be; once a stop string is complete, the text before it is released and
// generation ends. The stop string itself is never output, as with llama.cpp's "stop".
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::tokenizer {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);  // empty strings are ignored

  // Adds generated text; returns what may be output now. After a stop string completes,
  // stopped() is true, the text before the stop string has been returned and the rest is
  // dropped.
  std::string push(std::string_view text);
  bool stopped() const { return stopped_; }
  // At the end of generation: what was held back (nothing once stopped).
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace sluice::tokenizer
