#include "cli/stats_report.h"

#include <fmt/format.h>

#include <cstdio>

namespace sluice::cli {
namespace {

double ratio(uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

store::LayerCacheStats difference(const store::LayerCacheStats& end, const store::LayerCacheStats& start) {
  return {end.accesses - start.accesses, end.hits - start.hits, end.predicted - start.predicted,
          end.predicted_right - start.predicted_right, end.bytes_read - start.bytes_read};
}

}  // namespace

nlohmann::json report_json(const RunReport& r) {
  const store::LayerCacheStats total = r.at_end.total();
  const store::LayerCacheStats decode = difference(total, r.at_prompt_end.total());
  const double decode_tps = r.decode_seconds > 0 ? static_cast<double>(r.n_decoded) / r.decode_seconds : 0.0;
  const double bytes_per_token = r.n_decoded ? static_cast<double>(decode.bytes_read) / static_cast<double>(r.n_decoded) : 0.0;
  nlohmann::json j;
  j["prompt_tokens"] = r.n_prompt;
  j["prompt_tokens_per_second"] = r.prompt_seconds > 0 ? static_cast<double>(r.n_prompt) / r.prompt_seconds : 0.0;
  j["decode_tokens"] = r.n_decoded;
  j["decode_tokens_per_second"] = decode_tps;
  j["hit_rate"] = ratio(total.hits, total.accesses);
  j["decode_hit_rate"] = ratio(decode.hits, decode.accesses);
  j["prefetch_accuracy"] = ratio(total.predicted_right, total.predicted);
  j["expert_reads"] = r.at_end.reads / 3;
  j["prefetch_reads"] = r.at_end.prefetch_reads;
  j["bytes_read"] = r.at_end.bytes_read;
  j["decode_bytes_per_token"] = bytes_per_token;
  j["achieved_read_bandwidth"] = r.at_end.io_busy_seconds > 0 ? static_cast<double>(r.at_end.bytes_read) / r.at_end.io_busy_seconds : 0.0;
  j["io_wait_seconds"] = r.at_end.io_wait_seconds;
  j["io_busy_seconds"] = r.at_end.io_busy_seconds;
  j["decode_compute_seconds"] = r.compute_seconds;
  j["ssd_bandwidth"] = r.ssd_bytes_per_second;
  if (bytes_per_token > 0 && r.ssd_bytes_per_second > 0) {
    j["bandwidth_ceiling_tokens_per_second"] = r.ssd_bytes_per_second / bytes_per_token;
  } else {
    j["bandwidth_ceiling_tokens_per_second"] = nullptr;
  }
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["mem_budget_bytes"] = r.mem_budget;
  j["io_engine"] = r.io_engine;
  j["cache_policy"] = r.policy;
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < r.at_end.layers.size(); ++l) {
    const store::LayerCacheStats& s = r.at_end.layers[l];
    if (s.accesses == 0) continue;
    layers.push_back({{"layer", l}, {"accesses", s.accesses}, {"hit_rate", ratio(s.hits, s.accesses)},
                      {"prefetch_accuracy", ratio(s.predicted_right, s.predicted)}, {"bytes_read", s.bytes_read}});
  }
  j["layers"] = layers;
  return j;
}

void print_report(const RunReport& r, bool per_layer) {
  const nlohmann::json j = report_json(r);
  const double mib = 1024.0 * 1024.0;
  auto line = [](std::string_view name, const std::string& value) {
    fmt::print(stderr, "  {:<34} {}\n", name, value);
  };
  fmt::print(stderr, "\nexpert streaming ({}, policy {}):\n", r.io_engine, r.policy);
  line("hit rate (all / decode)", fmt::format("{:.1f}% / {:.1f}%", 100 * j["hit_rate"].get<double>(), 100 * j["decode_hit_rate"].get<double>()));
  line("prefetch accuracy", fmt::format("{:.1f}% ({} experts read ahead)", 100 * j["prefetch_accuracy"].get<double>(), r.at_end.prefetch_reads));
  line("bytes read", fmt::format("{:.1f} MiB in {} expert reads", static_cast<double>(r.at_end.bytes_read) / mib, r.at_end.reads / 3));
  line("achieved read bandwidth", fmt::format("{:.2f} GB/s", j["achieved_read_bandwidth"].get<double>() / 1e9));
  line("I/O wait / decode compute", fmt::format("{:.3f} s / {:.3f} s", r.at_end.io_wait_seconds, r.compute_seconds));
  line("decode bytes missed per token", fmt::format("{:.2f} MiB", j["decode_bytes_per_token"].get<double>() / mib));
  line("decode", fmt::format("{:.2f} tok/s", j["decode_tokens_per_second"].get<double>()));
  if (j["bandwidth_ceiling_tokens_per_second"].is_number()) {
    line("bandwidth ceiling", fmt::format("{:.2f} tok/s (SSD {:.2f} GB/s / bytes missed per token)",
                                          j["bandwidth_ceiling_tokens_per_second"].get<double>(), r.ssd_bytes_per_second / 1e9));
  }
  line("peak RSS / budget", fmt::format("{:.1f} MiB / {:.1f} MiB", static_cast<double>(r.peak_rss_bytes) / mib, static_cast<double>(r.mem_budget) / mib));
  if (!per_layer) return;
  fmt::print(stderr, "  {:>5} {:>9} {:>9} {:>10} {:>12}\n", "layer", "accesses", "hit rate", "predicted", "MiB read");
  for (const auto& l : j["layers"]) {
    fmt::print(stderr, "  {:>5} {:>9} {:>8.1f}% {:>9.1f}% {:>12.1f}\n", l["layer"].get<int>(), l["accesses"].get<uint64_t>(),
               100 * l["hit_rate"].get<double>(), 100 * l["prefetch_accuracy"].get<double>(),
               static_cast<double>(l["bytes_read"].get<uint64_t>()) / mib);
  }
}

}  // namespace sluice::cli
