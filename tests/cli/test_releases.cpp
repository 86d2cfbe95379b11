// Real GGUF releases as downloaded, through the sluice binary: split models opened from their
// first part, the tokenizer's special tokens (BOS added as the vocabulary asks, generation
// ending at end-of-generation tokens), --stop, --ignore-eos, -c and `sluice tokenize`.
//
// The generation tests use fixtures/trained (whose greedy continuation and its text come from
// transformers, in reference.json) and copies of it whose tokenizer metadata is changed with
// GgufWriter, so that a token the greedy continuation reaches becomes an end-of-generation one.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "support/fixtures.h"
#include "support/run_command.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;
using testing::run_sluice;

const std::string kTrained = "trained/model-bf16.gguf";
const std::string kQwen3Moe = "models/qwen3_moe/model-bf16.gguf";
const std::string kSplitFirst = "split/qwen3_moe-bf16-00001-of-00004.gguf";

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// "decode: N tokens" from run's stderr; -1 when absent.
int decoded_tokens(const std::string& err) {
  std::smatch m;
  return std::regex_search(err, m, std::regex("decode: (\\d+) tokens")) ? std::stoi(m[1]) : -1;
}
int prompt_tokens(const std::string& err) {
  std::smatch m;
  return std::regex_search(err, m, std::regex("prompt: (\\d+) tokens")) ? std::stoi(m[1]) : -1;
}

// Fails unless the command ended with exit code 1 and its stderr with one "sluice: error:" line
// holding every needle (lines before it, such as the memory budget, are information).
void expect_clear_error(const testing::CommandResult& r, const std::vector<std::string>& needles) {
  ASSERT_TRUE(r.exited) << "crashed: " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_FALSE(r.err.empty());
  ASSERT_EQ(r.err.back(), '\n') << r.err;
  const size_t line_start = r.err.rfind('\n', r.err.size() - 2) + 1;  // npos + 1 == 0
  const std::string last = r.err.substr(line_start);
  EXPECT_EQ(last.rfind("sluice: error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find("sluice: error: "), line_start) << "one error line expected:\n" << r.err;
  for (const std::string& needle : needles) {
    EXPECT_NE(last.find(needle), std::string::npos) << "error should mention '" << needle << "', got: " << r.err;
  }
}

class Releases : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    reference_ = new nlohmann::json(testing::read_json(fixture_path("trained/reference.json")));
    dir_ = new fs::path(fs::temp_directory_path() / ("sluice-releases-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    // The greedy continuation is compared with transformers': ask for the exact compute path
    // where the binary has a faster, approximate one.
    exact_ = new std::string(run_sluice("run --help").out.find("--exact") != std::string::npos ? " --exact" : "");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete reference_;
    delete exact_;
  }

  // A copy of `source` with its metadata changed by `edit`; tensor bytes are streamed over.
  static std::string copy_with_metadata(const std::string& source, const std::string& name,
                                        const std::function<void(gguf::GgufWriter&)>& edit) {
    const gguf::GgufFile in(fixture_path(source));
    gguf::GgufWriter out;
    for (const auto& [key, value] : in.metadata()) out.set_metadata(key, value);
    for (const gguf::TensorInfo& t : in.tensors()) out.add_tensor_info(t.name, t.type, t.dims);
    edit(out);
    const std::string path = (*dir_ / name).string();
    out.write(path, [&](size_t index, const gguf::TensorInfo&, const gguf::ByteSink& sink) {
      sink(in.read_tensor(in.tensors()[index]));
    });
    return path;
  }

  static std::string prompt() { return (*reference_)["prompt"].get<std::string>(); }
  static std::string greedy_text() { return (*reference_)["greedy_text"].get<std::string>(); }
  static std::vector<int32_t> continuation() {
    return (*reference_)["greedy_continuation"].get<std::vector<int32_t>>();
  }
  // The first index of `id` in the greedy continuation.
  static int first_index(int32_t id) {
    const auto c = continuation();
    return static_cast<int>(std::find(c.begin(), c.end(), id) - c.begin());
  }

  static testing::CommandResult generate(const std::string& model, const std::string& extra) {
    return run_sluice("run -m " + quoted(model) + " -p " + quoted(prompt()) + " --temp 0 -t 2" + *exact_ + " " + extra);
  }

  static nlohmann::json* reference_;
  static fs::path* dir_;
  static std::string* exact_;
};

nlohmann::json* Releases::reference_ = nullptr;
fs::path* Releases::dir_ = nullptr;
std::string* Releases::exact_ = nullptr;

// The baseline the stopping tests cut short: greedy decoding of the trained model prints the
// prompt and the continuation transformers decoded.
TEST_F(Releases, GreedyRunPrintsTheReferenceContinuation) {
  const auto r = generate(fixture_path(kTrained), "-n 48");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, prompt() + greedy_text() + "\n");
  EXPECT_EQ(decoded_tokens(r.err), 48);
  EXPECT_EQ(prompt_tokens(r.err), static_cast<int>((*reference_)["input_ids"].size()));  // no BOS
}

// Generation ends at the vocabulary's EOS (not printed): with ")" made the EOS token, the
// greedy continuation stops right before its first ")".
TEST_F(Releases, StopsAtEos) {
  constexpr int32_t kParen = 11;  // ")" in the trained vocabulary
  const int stop_at = first_index(kParen);
  ASSERT_GT(stop_at, 2);
  ASSERT_LT(stop_at, 20);
  const std::string model = copy_with_metadata(kTrained, "eos.gguf", [](gguf::GgufWriter& w) {
    w.set_uint32("tokenizer.ggml.eos_token_id", kParen);
  });
  const auto stopped = generate(model, "-n 48");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(decoded_tokens(stopped.err), stop_at);
  const auto prefix = generate(fixture_path(kTrained), "-n " + std::to_string(stop_at));
  EXPECT_EQ(stopped.out, prefix.out);
  EXPECT_EQ((prompt() + greedy_text()).rfind(stopped.out.substr(0, stopped.out.size() - 1), 0), 0u);
  EXPECT_EQ(stopped.out.find(')', prompt().size()), std::string::npos) << stopped.out;
}

TEST_F(Releases, StopsAtEot) {
  constexpr int32_t kParen = 11;
  const std::string model = copy_with_metadata(kTrained, "eot.gguf", [](gguf::GgufWriter& w) {
    w.set_uint32("tokenizer.ggml.eot_token_id", kParen);
  });
  const auto r = generate(model, "-n 48");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(decoded_tokens(r.err), first_index(kParen));
}

// A control token the vocabulary marks as ending a turn by its text (here <|im_end|>), beyond
// the ids of the eos/eot keys, ends generation too.
TEST_F(Releases, StopsAtOtherEndOfGenerationTokens) {
  constexpr int32_t kSpaceDash = 379;  // " -": first generated at index 7, not in the prompt
  const int stop_at = first_index(kSpaceDash);
  ASSERT_GT(stop_at, 2);
  const std::string model = copy_with_metadata(kTrained, "im_end.gguf", [](gguf::GgufWriter& w) {
    const gguf::GgufFile in(fixture_path(kTrained));
    std::vector<std::string> tokens = in.get_string_array("tokenizer.ggml.tokens");
    std::vector<int32_t> types;
    for (int64_t t : in.get_int_array("tokenizer.ggml.token_type")) types.push_back(static_cast<int32_t>(t));
    tokens[kSpaceDash] = "<|im_end|>";
    types[kSpaceDash] = 3;  // control
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_int32_array("tokenizer.ggml.token_type", types);
  });
  const auto r = generate(model, "-n 48");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(decoded_tokens(r.err), stop_at);
  EXPECT_EQ(r.out.find("<|im_end|>"), std::string::npos) << r.out;
}

// --ignore-eos: end-of-generation tokens are never sampled, so generation runs to -n.
TEST_F(Releases, IgnoreEosGoesOn) {
  constexpr int32_t kParen = 11;
  const std::string model = copy_with_metadata(kTrained, "eos_ignored.gguf", [](gguf::GgufWriter& w) {
    w.set_uint32("tokenizer.ggml.eos_token_id", kParen);
  });
  const int stop_at = first_index(kParen);
  const auto r = generate(model, "-n 24 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(decoded_tokens(r.err), 24);
  // Up to where it would have stopped, the same text; after it, no ")" can appear.
  const auto prefix = generate(fixture_path(kTrained), "-n " + std::to_string(stop_at));
  const std::string before = prefix.out.substr(0, prefix.out.size() - 1);
  EXPECT_EQ(r.out.rfind(before, 0), 0u) << r.out;
  EXPECT_EQ(r.out.find(')', before.size()), std::string::npos) << r.out;
}

// --stop TEXT: output ends before the first occurrence of any stop text, which spans several
// tokens here (" -", " (", "n"); the stop text is not printed.
TEST_F(Releases, StopsAtStopText) {
  const std::string text = greedy_text();
  const size_t at = text.find("- (n");
  ASSERT_NE(at, std::string::npos);
  const auto r = generate(fixture_path(kTrained), "-n 48 --stop 'never there' --stop '- (n'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, prompt() + text.substr(0, at) + "\n");
  EXPECT_LT(decoded_tokens(r.err), 48);
  // A stop text that never comes changes nothing.
  const auto full = generate(fixture_path(kTrained), "-n 48 --stop 'never there'");
  EXPECT_EQ(full.out, prompt() + text + "\n");
}

// add_bos_token: the prompt gets the BOS (one more prompt token) only when the vocabulary asks.
TEST_F(Releases, BosAddedOnlyWhenTheVocabularyAsks) {
  constexpr int32_t kBos = 1;  // <|im_start|>
  const std::string with_bos = copy_with_metadata(kTrained, "bos.gguf", [](gguf::GgufWriter& w) {
    w.set_uint32("tokenizer.ggml.bos_token_id", kBos);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
  });
  const std::string bos_off = copy_with_metadata(kTrained, "bos_off.gguf", [](gguf::GgufWriter& w) {
    w.set_uint32("tokenizer.ggml.bos_token_id", kBos);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
  });
  const int n_prompt = static_cast<int>((*reference_)["input_ids"].size());
  const auto on = generate(with_bos, "-n 2");
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(prompt_tokens(on.err), n_prompt + 1);
  const auto off = generate(bos_off, "-n 2");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(prompt_tokens(off.err), n_prompt);

  // The ids themselves, through `sluice tokenize`.
  std::vector<int32_t> expected = {kBos};
  for (int32_t id : (*reference_)["input_ids"].get<std::vector<int32_t>>()) expected.push_back(id);
  const auto ids = run_sluice("tokenize -m " + quoted(with_bos) + " -p " + quoted(prompt()));
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  EXPECT_EQ(nlohmann::json::parse(ids.out).get<std::vector<int32_t>>(), expected);
  const auto no_bos = run_sluice("tokenize --no-bos -m " + quoted(with_bos) + " -p " + quoted(prompt()));
  EXPECT_EQ(nlohmann::json::parse(no_bos.out), (*reference_)["input_ids"]);

  // add_eos_token puts the EOS at the end.
  const std::string with_eos = copy_with_metadata(kTrained, "add_eos.gguf", [](gguf::GgufWriter& w) {
    w.set_bool("tokenizer.ggml.add_eos_token", true);
  });
  const auto eos = run_sluice("tokenize -m " + quoted(with_eos) + " -p " + quoted(prompt()));
  const auto eos_ids = nlohmann::json::parse(eos.out).get<std::vector<int32_t>>();
  ASSERT_FALSE(eos_ids.empty());
  EXPECT_EQ(eos_ids.back(), 0);
  EXPECT_EQ(eos_ids.size(), static_cast<size_t>(n_prompt + 1));
}

// -c sets the context: generation stops when it is full, and a prompt that does not fit is
// refused with both numbers.
TEST_F(Releases, ContextSize) {
  const int n_prompt = static_cast<int>((*reference_)["input_ids"].size());  // 22
  const auto full = generate(fixture_path(kTrained), "-c 40 --ignore-eos");
  ASSERT_EQ(full.exit_code, 0) << full.err;
  // The last token is sampled from the logits of position 39 and not run.
  EXPECT_EQ(decoded_tokens(full.err), 40 - n_prompt + 1);

  const auto refused = generate(fixture_path(kTrained), "-c 16");
  expect_clear_error(refused, {"22 tokens", "context holds 16", "-c"});
  const auto exactly = generate(fixture_path(kTrained), "-c " + std::to_string(n_prompt));
  expect_clear_error(exactly, {"22 tokens", "context holds 22"});
  const auto fits = generate(fixture_path(kTrained), "-c " + std::to_string(n_prompt + 1) + " -n 5");
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_EQ(decoded_tokens(fits.err), 2);
}

// ---- split models --------------------------------------------------------------------------

TEST_F(Releases, SplitModelRunsAsTheWholeFile) {
  const std::string args = " -p " + quoted("The quick brown fox") + " --temp 0 -n 16 -t 2";
  const auto whole = run_sluice("run -m " + quoted(fixture_path(kQwen3Moe)) + args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const auto streamed = run_sluice("run -m " + quoted(fixture_path(kSplitFirst)) + args);
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_EQ(streamed.out, whole.out);
  EXPECT_NE(streamed.err.find("3 files"), std::string::npos) << "experts should be read from 3 parts:\n"
                                                             << streamed.err;
  const auto resident = run_sluice("run --no-stream -m " + quoted(fixture_path(kSplitFirst)) + args);
  ASSERT_EQ(resident.exit_code, 0) << resident.err;
  EXPECT_EQ(resident.out, whole.out);
}

TEST_F(Releases, SplitModelInspectShowsTheParts) {
  const auto r = run_sluice("inspect " + quoted(fixture_path(kSplitFirst)));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 parts"), std::string::npos) << r.out;
  for (int part = 1; part <= 4; ++part) {
    EXPECT_NE(r.out.find("qwen3_moe-bf16-0000" + std::to_string(part) + "-of-00004.gguf"), std::string::npos);
  }
  EXPECT_NE(r.out.find("tensors (51)"), std::string::npos);
}

TEST_F(Releases, SplitModelErrors) {
  // A later part is not a model.
  expect_clear_error(
      run_sluice("run -m " + quoted(fixture_path("split/qwen3_moe-bf16-00002-of-00004.gguf")) + " -p hi -n 1"),
      {"part 2 of 4", "qwen3_moe-bf16-00001-of-00004.gguf"});
  // A missing part.
  const fs::path parts = *dir_ / "parts";
  fs::create_directories(parts);
  for (int part : {1, 2, 4}) {
    const std::string name = "qwen3_moe-bf16-0000" + std::to_string(part) + "-of-00004.gguf";
    fs::copy_file(fixture_path("split/" + name), parts / name, fs::copy_options::overwrite_existing);
  }
  const std::string first = (parts / "qwen3_moe-bf16-00001-of-00004.gguf").string();
  expect_clear_error(run_sluice("run -m " + quoted(first) + " -p hi -n 1"),
                     {"part 3 of 4", "qwen3_moe-bf16-00003-of-00004.gguf", "missing"});
  expect_clear_error(run_sluice("tokenize -m " + quoted(first) + " -p hi"), {"part 3 of 4", "missing"});
  expect_clear_error(run_sluice("inspect " + quoted(first)), {"part 3 of 4", "missing"});
}

// ---- sluice tokenize -----------------------------------------------------------------------

// The ids of the fixture strings as transformers produced them, one JSON array on one line.
TEST_F(Releases, TokenizePrintsReferenceIds) {
  const auto reference = testing::read_json(fixture_path("tokenizer/reference_encodings.json"));
  int checked = 0;
  for (const auto& entry : reference.at("encodings")) {
    const std::string text = entry.at("text").get<std::string>();
    if (text.empty()) continue;
    const auto r = run_sluice("tokenize -m " + quoted(fixture_path(kQwen3Moe)) + " -p " + quoted(text));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_EQ(nlohmann::json::parse(r.out), entry.at("ids")) << text;
    ++checked;
  }
  EXPECT_GE(checked, 10);
  // --pieces: the same ids, each with its piece; the pieces spell the text.
  const std::string text = "Hello world<|im_end|>";
  const auto ids = run_sluice("tokenize -m " + quoted(fixture_path(kQwen3Moe)) + " -p " + quoted(text));
  const auto pieces = run_sluice("tokenize --pieces -m " + quoted(fixture_path(kQwen3Moe)) + " -p " + quoted(text));
  ASSERT_EQ(pieces.exit_code, 0) << pieces.err;
  const auto parsed = nlohmann::json::parse(pieces.out);
  std::vector<int32_t> piece_ids;
  std::string spelled;
  for (const auto& p : parsed) {
    piece_ids.push_back(p.at("id").get<int32_t>());
    spelled += p.at("piece").get<std::string>();
  }
  EXPECT_EQ(nlohmann::json(piece_ids), nlohmann::json::parse(ids.out));
  EXPECT_EQ(spelled, text);
  EXPECT_EQ(piece_ids.back(), 2);  // <|im_end|> parsed as the special token
  const auto plain = run_sluice("tokenize --no-parse-special -m " + quoted(fixture_path(kQwen3Moe)) + " -p " + quoted(text));
  EXPECT_GT(nlohmann::json::parse(plain.out).size(), parsed.size());
}

}  // namespace
}  // namespace sluice
