// sluice: run Mixture-of-Experts models larger than RAM. Dispatches to the subcommands and
// turns every error into one line on stderr and a non-zero exit.
#include <fmt/core.h>
#include <malloc.h>

#include <exception>
#include <map>
#include <new>

#include "cli/commands.h"
#include "util/error.h"

namespace {

// A forward pass allocates its scratch per layer (tens of MiB for a long prompt batch). By
// default glibc serves blocks that large with fresh mmaps and unmaps them on free, so every
// layer paid the kernel for zeroing new pages again (a tenth of prompt time). Keeping such
// blocks in the heap reuses the same pages; the peak stays what the pass needs.
void keep_scratch_in_heap() {
  constexpr int kLargestHeapBlock = 256 << 20;
  mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock);
  mallopt(M_TRIM_THRESHOLD, 2 * kLargestHeapBlock);
}

}  // namespace

int main(int argc, char** argv) {
  keep_scratch_in_heap();
  CLI::App app{"sluice: run Mixture-of-Experts language models larger than RAM"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice 0.1.0");
  std::map<CLI::App*, sluice::cli::Action> actions;
  auto add = [&](sluice::cli::Action action) { actions[app.get_subcommands([](CLI::App*) { return true; }).back()] = action; };
  add(sluice::cli::add_run_command(app));
  add(sluice::cli::add_inspect_command(app));
  add(sluice::cli::add_logits_command(app));
  add(sluice::cli::add_perplexity_command(app));
  add(sluice::cli::add_synth_command(app));
  add(sluice::cli::add_cache_sim_command(app));
  add(sluice::cli::add_tokenize_command(app));
  add(sluice::cli::add_quantize_command(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [subcommand, action] : actions) {
      if (subcommand->parsed()) return action();
    }
    return 1;
  } catch (const sluice::Error& e) {
    fmt::print(stderr, "sluice: error: {}\n", e.what());
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "sluice: error: out of memory\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "sluice: error: {}\n", e.what());
  }
  return 1;
}
