// The `sluice` subcommands. Each registers its flags on the CLI11 app and returns the action
// to run when it is chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace sluice::cli {

using Action = std::function<int()>;

Action add_run_command(CLI::App& app);
Action add_inspect_command(CLI::App& app);
Action add_logits_command(CLI::App& app);
Action add_perplexity_command(CLI::App& app);
Action add_synth_command(CLI::App& app);
Action add_cache_sim_command(CLI::App& app);
Action add_tokenize_command(CLI::App& app);
Action add_quantize_command(CLI::App& app);

}  // namespace sluice::cli

namespace sluice::sample {
struct SamplingParams;
}

namespace sluice::cli {

// Adds llama.cpp's sampling flags (--temp, --top-k, --top-p, --min-p, penalties, -s).
void add_sampling_options(CLI::App& command, sample::SamplingParams& params);

}  // namespace sluice::cli
