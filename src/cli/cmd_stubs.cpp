#include "cli/commands.h"
namespace sluice::cli {
Action add_run_command(CLI::App& app) { app.add_subcommand("run", "todo"); return [] { return 1; }; }
Action add_perplexity_command(CLI::App& app) { app.add_subcommand("perplexity", "todo"); return [] { return 1; }; }
}
