// `sluice cache-sim`: replays a routing trace through every cache policy and Belady's
// optimum at several cache sizes, printing a Markdown table (docs/cache_policies.md).
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "store/cache_policy.h"
#include "store/cache_simulator.h"

namespace sluice::cli {
namespace {

struct CacheSimOptions {
  std::string trace;
  int32_t n_layer = 8;
  int32_t n_expert_used = 4;
  int32_t n_expert = 32;
  std::vector<double> fractions = {0.10, 0.25, 0.50};
};

int run_cache_sim(const CacheSimOptions& o) {
  const store::RoutingTrace trace = store::read_routing_trace(o.trace, o.n_layer, o.n_expert_used, o.n_expert);
  const auto all = static_cast<size_t>(o.n_layer) * static_cast<size_t>(o.n_expert);
  const std::vector<std::string> policies = store::cache_policy_names();
  fmt::print("{} tokens, {} layers, top-{} of {} experts\n\n", trace.n_tokens(), o.n_layer, o.n_expert_used, o.n_expert);
  fmt::print("| cache size |");
  for (const auto& p : policies) fmt::print(" {} |", p);
  fmt::print(" Belady (optimal) |\n|---|");
  for (size_t i = 0; i <= policies.size(); ++i) fmt::print("---|");
  fmt::print("\n");
  for (double fraction : o.fractions) {
    const auto capacity = std::max<size_t>(static_cast<size_t>(o.n_expert_used), static_cast<size_t>(fraction * static_cast<double>(all)));
    fmt::print("| {:.0f}% ({} experts) |", 100 * fraction, capacity);
    for (const auto& name : policies) {
      auto policy = store::make_cache_policy(name, o.n_layer, o.n_expert);
      fmt::print(" {:.1f}% |", 100 * store::simulate_policy(trace, capacity, *policy).hit_rate());
    }
    fmt::print(" {:.1f}% |\n", 100 * store::simulate_belady(trace, capacity).hit_rate());
  }
  return 0;
}

}  // namespace

Action add_cache_sim_command(CLI::App& app) {
  auto options = std::make_shared<CacheSimOptions>();
  CLI::App* cmd = app.add_subcommand("cache-sim", "hit rates of the cache policies and Belady's optimum on a routing trace");
  cmd->add_option("trace", options->trace, "int16 [token, layer, k] routing trace")->required();
  cmd->add_option("--layers", options->n_layer, "MoE layers in the trace")->capture_default_str();
  cmd->add_option("--top-k", options->n_expert_used, "experts per token and layer")->capture_default_str();
  cmd->add_option("--experts", options->n_expert, "experts per layer")->capture_default_str();
  cmd->add_option("--sizes", options->fractions, "cache sizes as fractions of all experts")->delimiter(',');
  return [options] { return run_cache_sim(*options); };
}

}  // namespace sluice::cli
