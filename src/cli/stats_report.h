// `--stats`, `--stats=layers` and `--stats-json FILE`: how a run used the expert cache and
// the storage, next to the ceiling the storage allows.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "store/expert_cache.h"

namespace sluice::cli {

struct RunReport {
  int64_t n_prompt = 0;
  double prompt_seconds = 0.0;
  int64_t n_decoded = 0;
  double decode_seconds = 0.0;
  double compute_seconds = 0.0;        // decode time not spent waiting for reads
  store::CacheStats at_prompt_end;     // snapshot, to separate decode from prompt I/O
  store::CacheStats at_end;
  double ssd_bytes_per_second = 0.0;   // measured ceiling (0: not measured)
  uint64_t peak_rss_bytes = 0;
  uint64_t mem_budget = 0;
  std::string io_engine, policy;
};

nlohmann::json report_json(const RunReport& report);
void print_report(const RunReport& report, bool per_layer);

}  // namespace sluice::cli
