// `sluice run`: generate text from a prompt, streaming it to stdout as it is produced, with
// prompt and decode speeds on stderr at the end (and the expert-cache report with --stats).
// The prompt gets the BOS/EOS the vocabulary asks for (add_bos_token / add_eos_token);
// generation ends at an end-of-generation token (EOS, EOT and the others the vocabulary
// marks; --ignore-eos keeps them from being sampled), at a --stop text (not printed), after
// -n tokens or when the context is full.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "cli/stats_report.h"
#include "sample/sampler.h"
#include "store/bandwidth.h"
#include "store/expert_profile.h"
#include "tokenizer/stop_strings.h"
#include "tokenizer/tokenizer.h"
#include "util/memory_info.h"

namespace sluice::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  int n_predict = -1;  // -1: until an end-of-generation token or a full context
  int n_ctx = 0;       // 0: the model's training context, capped at 4096
  int n_batch = 512;
  std::string stats;   // "", "summary" or "layers"
  std::string stats_json;
  std::string save_profile;   // --save-expert-profile
  std::string routing_trace;  // --routing-trace: int16 [token, layer, k] of decoded tokens
  std::vector<std::string> stop;  // --stop: texts that end generation
  bool ignore_eos = false;        // --ignore-eos: never sample an end-of-generation token
  sample::SamplingParams sampling;
};

// Records the experts chosen for every decoded token, as the routing traces that
// `sluice cache-sim` replays.
class RoutingRecorder {
 public:
  void attach(model::Model& model, int64_t first_decode_position) {
    model.set_routing_observer([this, first_decode_position](int32_t layer, int64_t pos, std::span<const int32_t> experts) {
      if (pos < first_decode_position) return;
      layers_seen_ = std::max(layers_seen_, layer + 1);
      k_ = static_cast<int32_t>(experts.size());
      for (int32_t e : experts) choices_.push_back(static_cast<int16_t>(e));
    });
  }
  void write(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(choices_.data()), static_cast<std::streamsize>(choices_.size() * 2));
    if (!out) throw Error(fmt::format("cannot write routing trace '{}'", path));
    fmt::print(stderr, "routing trace: {} tokens x {} MoE layers x {} experts (int16) in {}\n",
               choices_.size() / std::max<size_t>(1, static_cast<size_t>(layers_seen_ * k_)), layers_seen_, k_, path);
  }

 private:
  std::vector<int16_t> choices_;
  int32_t layers_seen_ = 0, k_ = 0;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int32_t> tokenize_prompt(const tokenizer::Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> tokens = tok.encode_with_special(text);
  if (tokens.empty()) throw Error("the prompt is empty: give some text with -p");
  return tokens;
}

int run_generation(RunOptions& options) {
  options.sampling.validate();
  LoadedModel loaded = load(options.model, {options.n_ctx, options.n_batch, 1});
  const tokenizer::Tokenizer tok(tokenizer::vocabulary_from_gguf(*loaded.file));
  model::Model& model = *loaded.model;
  const store::ExpertCache* cache_store = loaded.expert_cache();
  const bool stats_asked = !options.stats.empty() || !options.stats_json.empty();
  const bool want_stats = cache_store && stats_asked;
  if (stats_asked && !cache_store) {
    fmt::print(stderr, "sluice: --stats and --stats-json report on the expert cache, which --no-stream does not use "
                       "(every weight stays resident); nothing will be written\n");
  }

  RunReport report;
  if (want_stats) {
    const auto probe = store::measure_read_bandwidth(*loaded.file, store::analyze_layout(*loaded.file),
                                                     store::IoEngineKind::kAuto, 0.5, 1ull << 30);
    report.ssd_bytes_per_second = probe.bytes_per_second;
  }

  std::vector<int32_t> tokens = tokenize_prompt(tok, options.prompt);
  const int64_t n_ctx = loaded.n_ctx;
  const auto n_prompt = static_cast<int64_t>(tokens.size());
  if (n_prompt >= n_ctx) {
    throw Error(fmt::format("the prompt has {} tokens but the context holds {}; shorten the "
                            "prompt or raise -c",
                            n_prompt, n_ctx));
  }
  model::KvCache cache = model.new_cache(n_ctx);
  sample::Sampler sampler(options.sampling);
  RoutingRecorder recorder;
  if (!options.routing_trace.empty()) recorder.attach(model, n_prompt);
  std::vector<float> logits(static_cast<size_t>(model.info().n_vocab));

  fmt::print("{}", options.prompt);
  std::fflush(stdout);
  const auto prompt_start = Clock::now();
  for (int64_t first = 0; first < n_prompt; first += options.n_batch) {
    const int64_t n = std::min<int64_t>(options.n_batch, n_prompt - first);
    model.forward(*loaded.pool, std::span(tokens.data() + first, n), cache, model::LogitsMode::kLast, logits.data());
  }
  report.n_prompt = n_prompt;
  report.prompt_seconds = seconds_since(prompt_start);
  if (cache_store) report.at_prompt_end = cache_store->stats();

  tokenizer::StreamDecoder stream(tok);
  tokenizer::StopStrings stop(options.stop);
  const std::vector<int32_t> end_of_generation = tok.end_of_generation_ids();
  const auto decode_start = Clock::now();
  while (options.n_predict < 0 || report.n_decoded < options.n_predict) {
    if (options.ignore_eos) {
      // As llama.cpp's --ignore-eos: a logit bias of -inf on every end-of-generation token.
      for (int32_t id : end_of_generation) {
        if (id < model.info().n_vocab) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
      }
    }
    const int32_t next = sampler.sample(logits, tokens);
    if (tok.is_end_of_generation(next)) break;
    tokens.push_back(next);
    ++report.n_decoded;
    fmt::print("{}", stop.push(stream.push(next)));
    std::fflush(stdout);
    if (stop.stopped()) break;
    if (cache.n_past() >= n_ctx) break;
    if (options.n_predict >= 0 && report.n_decoded >= options.n_predict) break;
    model.forward(*loaded.pool, std::span(&next, 1), cache, model::LogitsMode::kLast, logits.data());
  }
  std::string tail = stop.push(stream.flush());
  if (!stop.stopped()) tail += stop.flush();
  fmt::print("{}\n", tail);
  report.decode_seconds = seconds_since(decode_start);
  fmt::print(stderr, "\nprompt: {} tokens in {:.3f} s ({:.2f} tok/s)\n", n_prompt, report.prompt_seconds,
             static_cast<double>(n_prompt) / report.prompt_seconds);
  fmt::print(stderr, "decode: {} tokens in {:.3f} s ({:.2f} tok/s)\n", report.n_decoded, report.decode_seconds,
             report.n_decoded > 0 ? static_cast<double>(report.n_decoded) / report.decode_seconds : 0.0);

  if (!options.routing_trace.empty()) recorder.write(options.routing_trace);
  if (cache_store && !options.save_profile.empty()) {
    const store::CacheStats& stats = cache_store->stats();
    store::save_expert_profile(options.save_profile, static_cast<int64_t>(stats.layers.size()),
                               static_cast<int64_t>(stats.expert_accesses.size() / stats.layers.size()),
                               stats.expert_accesses);
  }
  if (want_stats) {
    report.at_end = cache_store->stats();
    report.compute_seconds = report.decode_seconds - (report.at_end.io_wait_seconds - report.at_prompt_end.io_wait_seconds);
    report.peak_rss_bytes = peak_rss_bytes();
    report.mem_budget = loaded.mem_budget;
    report.io_engine = cache_store->io_description();
    report.policy = std::string(cache_store->policy_name());
    if (!options.stats.empty()) print_report(report, options.stats == "layers");
    if (!options.stats_json.empty()) {
      std::ofstream out(options.stats_json);
      out << report_json(report).dump(2) << "\n";
      if (!out) throw Error(fmt::format("cannot write '{}'", options.stats_json));
    }
  }
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
  cmd->add_option("--stop", options->stop, "stop when the output contains TEXT (not printed); repeatable")
      ->allow_extra_args(false);
  cmd->add_flag("--ignore-eos", options->ignore_eos, "never sample end-of-generation tokens (EOS, EOT, ...)");
  cmd->add_option("-b,--batch-size", options->n_batch, "prompt tokens per forward pass")
      ->capture_default_str()->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--stats", options->stats, "print expert-cache statistics (--stats=layers: per layer)")
      ->expected(0, 1)->default_str("summary")->check(CLI::IsMember({"summary", "layers"}));
  cmd->add_option("--stats-json", options->stats_json, "write the statistics as JSON");
  cmd->add_option("--save-expert-profile", options->save_profile, "save how often each expert was used");
  cmd->add_option("--routing-trace", options->routing_trace, "record the experts chosen for each decoded token");
  add_sampling_options(*cmd, options->sampling);
  return [options] { return run_generation(*options); };
}

}  // namespace sluice::cli
