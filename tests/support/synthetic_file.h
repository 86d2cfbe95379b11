// A model written by `sluice synth` into a temporary directory for one test suite, and the
// budget planner's smallest accepted --mem for a command.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "gguf/gguf_file.h"
#include "support/run_command.h"

namespace sluice::testing {

class SyntheticFile {
 public:
  // Runs `sluice synth <synth_args> -o <dir>/<name>.gguf`; a failure is reported to the test.
  SyntheticFile(const std::string& name, const std::string& synth_args)
      : dir_(std::filesystem::temp_directory_path() /
             ("sluice-synth-" + name + "-" + std::to_string(::getpid()))),
        path_((dir_ / (name + ".gguf")).string()) {
    std::filesystem::create_directories(dir_);
    const CommandResult r = run_sluice("synth " + synth_args + " -o " + path_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  ~SyntheticFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  SyntheticFile(const SyntheticFile&) = delete;
  SyntheticFile& operator=(const SyntheticFile&) = delete;

  const std::string& path() const { return path_; }
  // Where the file is: tests may write their other outputs there too.
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

// The smallest --mem (MiB) the budget planner accepts for the sluice command `args`, read from
// its refusal of 1M ("... use --mem <N>M ...").
inline int64_t minimum_budget_mib(const std::string& args) {
  const CommandResult r = run_sluice(args + " --mem 1M");
  const std::string marker = "use --mem ";
  const size_t at = r.err.find(marker);
  if (r.exit_code != 1 || at == std::string::npos) {
    ADD_FAILURE() << "no budget refusal: " << r.err;
    return 0;
  }
  size_t digits = 0;
  const int64_t mib = std::stoll(r.err.substr(at + marker.size()), &digits);
  EXPECT_EQ(r.err.substr(at + marker.size() + digits, 1), "M") << r.err;
  return mib;
}

// Every `<arch>.` metadata key of `reference` (llama.cpp's converter output) is in `synthetic`.
inline void expect_every_architecture_key(const gguf::GgufFile& reference,
                                          const gguf::GgufFile& synthetic, const std::string& arch) {
  for (const auto& [key, value] : reference.metadata()) {
    if (key.starts_with(arch + ".")) {
      EXPECT_NE(synthetic.find(key), nullptr) << "missing " << key;
    }
  }
}

}  // namespace sluice::testing
