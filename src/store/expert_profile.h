// Usage profiles: how often each expert was chosen in a run, saved so that a later run can
// pin the most popular experts (`--save-expert-profile`, `--expert-profile`). A profile is
// only a warm start: the cache keeps adapting around the pinned experts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::store {

// JSON: {"n_layer": L, "n_expert": E, "counts": [L*E counts, layer-major]}.
void save_expert_profile(const std::string& path, int64_t n_layer, int64_t n_expert,
                         const std::vector<uint64_t>& counts);

// Expert keys (layer * n_expert + expert) with a non-zero count, most used first. Throws
// sluice::Error when the file is unreadable or was made for another shape.
std::vector<int32_t> load_expert_profile(const std::string& path, int64_t n_layer, int64_t n_expert);

}  // namespace sluice::store
