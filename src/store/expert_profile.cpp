#include "store/expert_profile.h"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "util/error.h"

namespace sluice::store {

void save_expert_profile(const std::string& path, int64_t n_layer, int64_t n_expert,
                         const std::vector<uint64_t>& counts) {
  std::ofstream out(path);
  out << nlohmann::json{{"n_layer", n_layer}, {"n_expert", n_expert}, {"counts", counts}}.dump() << "\n";
  if (!out) throw Error(fmt::format("cannot write expert profile '{}'", path));
}

std::vector<int32_t> load_expert_profile(const std::string& path, int64_t n_layer, int64_t n_expert) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot open expert profile '{}'", path));
  std::vector<uint64_t> counts;
  try {
    const auto j = nlohmann::json::parse(in);
    if (j.at("n_layer").get<int64_t>() != n_layer || j.at("n_expert").get<int64_t>() != n_expert) {
      throw Error(fmt::format("expert profile '{}' is for {} layers x {} experts, the model has {} x {}", path,
                              j.at("n_layer").get<int64_t>(), j.at("n_expert").get<int64_t>(), n_layer, n_expert));
    }
    counts = j.at("counts").get<std::vector<uint64_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("expert profile '{}' is not a valid profile: {}", path, e.what()));
  }
  if (counts.size() != static_cast<size_t>(n_layer * n_expert)) {
    throw Error(fmt::format("expert profile '{}' has {} counts, expected {}", path, counts.size(), n_layer * n_expert));
  }
  std::vector<int32_t> keys(counts.size());
  std::iota(keys.begin(), keys.end(), 0);
  std::stable_sort(keys.begin(), keys.end(), [&](int32_t a, int32_t b) { return counts[a] > counts[b]; });
  keys.erase(std::find_if(keys.begin(), keys.end(), [&](int32_t k) { return counts[k] == 0; }), keys.end());
  return keys;
}

}  // namespace sluice::store
