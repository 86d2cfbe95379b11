// `sluice run`: generate text from a prompt, streaming it to stdout as it is produced, with
// prompt and decode speeds on stderr at the end.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace sluice::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  int n_predict = -1;  // -1: until an end-of-generation token or a full context
  int n_ctx = 0;       // 0: the model's training context, capped at 4096
  sample::SamplingParams sampling;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int run_generation(RunOptions& options) {
  options.sampling.validate();
  LoadedModel loaded = load(options.model);
  const tokenizer::Tokenizer tok(tokenizer::vocabulary_from_gguf(*loaded.file));
  model::Model& model = *loaded.model;

  std::vector<int32_t> tokens;
  if (tok.vocabulary().add_bos && tok.vocabulary().bos_id) tokens.push_back(*tok.vocabulary().bos_id);
  const std::vector<int32_t> prompt = tok.encode(options.prompt);
  tokens.insert(tokens.end(), prompt.begin(), prompt.end());
  if (tokens.empty()) throw Error("the prompt is empty: give some text with -p");

  const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : std::min<int64_t>(model.info().n_ctx_train, 4096);
  const auto n_prompt = static_cast<int64_t>(tokens.size());
  if (n_prompt >= n_ctx) {
    throw Error(fmt::format("the prompt has {} tokens but the context holds {}; shorten the "
                            "prompt or raise -c",
                            n_prompt, n_ctx));
  }
  model::KvCache cache = model.new_cache(n_ctx);
  sample::Sampler sampler(options.sampling);
  std::vector<float> logits(static_cast<size_t>(model.info().n_vocab));

  fmt::print("{}", options.prompt);
  std::fflush(stdout);
  const auto prompt_start = Clock::now();
  model.forward(*loaded.pool, tokens, cache, model::LogitsMode::kLast, logits.data());
  const double prompt_seconds = seconds_since(prompt_start);

  tokenizer::StreamDecoder stream(tok);
  const auto decode_start = Clock::now();
  int64_t n_decoded = 0;
  while (options.n_predict < 0 || n_decoded < options.n_predict) {
    const int32_t next = sampler.sample(logits, tokens);
    if (tok.is_end_of_generation(next)) break;
    tokens.push_back(next);
    fmt::print("{}", stream.push(next));
    std::fflush(stdout);
    ++n_decoded;
    if (cache.n_past() >= n_ctx) break;
    if (options.n_predict >= 0 && n_decoded >= options.n_predict) break;
    model.forward(*loaded.pool, std::span(&next, 1), cache, model::LogitsMode::kLast, logits.data());
  }
  fmt::print("{}\n", stream.flush());
  const double decode_seconds = seconds_since(decode_start);
  fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s ({:.2f} tok/s)\n", n_prompt, prompt_seconds,
             static_cast<double>(n_prompt) / prompt_seconds);
  fmt::print(stderr, "decode: {} tokens in {:.3f} s ({:.2f} tok/s)\n", n_decoded, decode_seconds,
             n_decoded > 0 ? static_cast<double>(n_decoded) / decode_seconds : 0.0);
  return 0;
}

}  // namespace

void add_sampling_options(CLI::App& command, sample::SamplingParams& p) {
  command.add_option("--temp", p.temperature, "temperature (0 = greedy)")->capture_default_str();
  command.add_option("--top-k", p.top_k, "top-k sampling (0 = off)")->capture_default_str();
  command.add_option("--top-p", p.top_p, "top-p (nucleus) sampling (1 = off)")->capture_default_str();
  command.add_option("--min-p", p.min_p, "min-p sampling (0 = off)")->capture_default_str();
  command.add_option("--repeat-penalty", p.repeat_penalty, "penalty for repeated tokens (1 = off)")
      ->capture_default_str();
  command.add_option("--repeat-last-n", p.repeat_last_n, "tokens the penalties look back over (-1 = all)")
      ->capture_default_str();
  command.add_option("--presence-penalty", p.presence_penalty, "presence penalty")->capture_default_str();
  command.add_option("--frequency-penalty", p.frequency_penalty, "frequency penalty")->capture_default_str();
  command.add_option("-s,--seed", p.seed, "random seed (default: random)");
}

Action add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt");
  add_model_options(*cmd, options->model);
  cmd->add_option("-p,--prompt", options->prompt, "prompt text")->required();
  cmd->add_option("-n,--n-predict", options->n_predict, "tokens to generate (-1 = until end of text)")
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", options->n_ctx, "context size (default: training context, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  add_sampling_options(*cmd, options->sampling);
  return [options] { return run_generation(*options); };
}

}  // namespace sluice::cli
