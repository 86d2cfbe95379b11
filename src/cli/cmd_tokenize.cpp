// `sluice tokenize -m FILE -p TEXT`: the token ids of a text as one JSON array on one line, as
// llama.cpp's `llama-tokenize --ids` prints them; --pieces prints each id with its piece
// instead. Only the tokenizer is read from the model file, not the weights.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace sluice::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string prompt;
  std::string prompt_file;
  bool pieces = false;
  bool no_bos = false;            // --no-bos: no BOS/EOS even where the vocabulary asks for them
  bool no_parse_special = false;  // --no-parse-special: "<|im_end|>" in the text is plain text
};

int run_tokenize(const TokenizeOptions& options) {
  std::string text = options.prompt;
  if (!options.prompt_file.empty()) {
    std::ifstream in(options.prompt_file, std::ios::binary);
    if (!in) throw Error(fmt::format("cannot open text file '{}'", options.prompt_file));
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  const gguf::GgufFile file(options.model_path);
  file.require_first_part();
  const tokenizer::Tokenizer tok(tokenizer::vocabulary_from_gguf(file));
  const bool parse_special = !options.no_parse_special;
  const std::vector<int32_t> ids =
      options.no_bos ? tok.encode(text, parse_special) : tok.encode_with_special(text, parse_special);
  if (!options.pieces) {
    fmt::print("[{}]\n", fmt::join(ids, ", "));
    return 0;
  }
  nlohmann::json out = nlohmann::json::array();
  for (int32_t id : ids) out.push_back({{"id", id}, {"piece", tok.token_piece(id)}});
  // A piece may be part of a UTF-8 character (byte tokens): shown as U+FFFD.
  fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace

Action add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "print the token ids of a text as a JSON array");
  cmd->add_option("-m,--model", options->model_path, "GGUF model file (only its tokenizer is read)")->required();
  auto* prompt = cmd->add_option("-p,--prompt", options->prompt, "text to tokenize");
  auto* file = cmd->add_option("-f,--file", options->prompt_file, "read the text from a file");
  prompt->excludes(file);
  cmd->add_flag("--pieces", options->pieces, "print [{\"id\": ID, \"piece\": TEXT}, ...] instead of the ids");
  cmd->add_flag("--no-bos", options->no_bos, "do not add the BOS/EOS the model's vocabulary asks for");
  cmd->add_flag("--no-parse-special", options->no_parse_special,
                "treat special-token text such as <|im_end|> as plain text");
  return [options, prompt, file] {
    if (prompt->count() == 0 && file->count() == 0) throw Error("give the text with -p TEXT or -f FILE");
    return run_tokenize(*options);
  };
}

}  // namespace sluice::cli
