// `sluice perplexity`: perplexity of a text file in windows of --ctx tokens, scored as
// llama.cpp's llama-perplexity scores them (each window evaluated from scratch, the second
// half of its tokens scored), so the figures can be compared with llama.cpp's.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "tokenizer/tokenizer.h"

namespace sluice::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string text_path;
  int n_ctx = 512;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open text file '{}'", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// -log p(target) under softmax(logits), in double.
double negative_log_likelihood(const float* logits, int64_t n_vocab, int32_t target) {
  double max_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) max_logit = std::max<double>(max_logit, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(logits[i] - max_logit);
  return std::log(sum) + max_logit - logits[target];
}

int run_perplexity(const PerplexityOptions& options) {
  LoadedModel loaded = load(options.model, {options.n_ctx, options.n_ctx, options.n_ctx});
  const tokenizer::Tokenizer tok(tokenizer::vocabulary_from_gguf(*loaded.file));
  const std::vector<int32_t> tokens = tok.encode(read_text_file(options.text_path));
  const int64_t n_ctx = options.n_ctx;
  const int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (n_chunks == 0) {
    throw Error(fmt::format("'{}' has {} tokens, fewer than one window of {}; use a longer text "
                            "or a smaller --ctx",
                            options.text_path, tokens.size(), n_ctx));
  }
  const auto& vocab = tok.vocabulary();
  const bool add_bos = vocab.add_bos && vocab.bos_id.has_value();
  const int64_t n_vocab = loaded.model->info().n_vocab;
  fmt::print(stderr, "perplexity: {} tokens, {} windows of {}, scoring the second half of each\n",
             tokens.size(), n_chunks, n_ctx);

  std::vector<float> logits(static_cast<size_t>(n_ctx * n_vocab));
  double nll = 0.0, nll_squared = 0.0;
  int64_t count = 0;
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
    std::vector<int32_t> window(tokens.begin() + chunk * n_ctx, tokens.begin() + (chunk + 1) * n_ctx);
    if (add_bos) window[0] = *vocab.bos_id;
    model::KvCache cache = loaded.model->new_cache(n_ctx);
    loaded.model->forward(*loaded.pool, window, cache, model::LogitsMode::kAll, logits.data());
    for (int64_t j = n_ctx / 2; j < n_ctx - 1; ++j) {
      const double v = negative_log_likelihood(logits.data() + j * n_vocab, n_vocab,
                                               tokens[static_cast<size_t>(chunk * n_ctx + j + 1)]);
      nll += v;
      nll_squared += v * v;
      ++count;
    }
    fmt::print("[{}]{:.4f},", chunk + 1, std::exp(nll / static_cast<double>(count)));
    std::fflush(stdout);
  }
  const double mean = nll / static_cast<double>(count);
  const double variance = nll_squared / static_cast<double>(count) - mean * mean;
  const double ppl = std::exp(mean);
  const double ppl_error = variance > 0 ? std::sqrt(variance / static_cast<double>(count - 1)) * ppl : 0.0;
  fmt::print("\nFinal estimate: PPL = {:.4f} +/- {:.5f}\n", ppl, ppl_error);
  return 0;
}

}  // namespace

Action add_perplexity_command(CLI::App& app) {
  auto options = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "perplexity of a text file, as llama-perplexity measures it");
  add_model_options(*cmd, options->model);
  cmd->add_option("-f,--file", options->text_path, "text file")->required();
  cmd->add_option("-c,--ctx,--ctx-size", options->n_ctx, "tokens per window")
      ->capture_default_str()->check(CLI::Range(4, 1 << 20));
  return [options] { return run_perplexity(*options); };
}

}  // namespace sluice::cli
