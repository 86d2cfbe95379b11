// Memory figures of this process and machine from /proc, and parsing of sizes like "6G".
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// A "Key:   1234 kB" line of a /proc file, in bytes.
inline std::optional<uint64_t> read_proc_kb(const char* path, std::string_view key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      return std::stoull(line.substr(key.size() + 1)) * 1024;
    }
  }
  return std::nullopt;
}

inline uint64_t current_rss_bytes() { return read_proc_kb("/proc/self/status", "VmRSS").value_or(0); }
inline uint64_t peak_rss_bytes() { return read_proc_kb("/proc/self/status", "VmHWM").value_or(0); }
inline uint64_t available_memory_bytes() { return read_proc_kb("/proc/meminfo", "MemAvailable").value_or(0); }

// "6G", "512M", "1.5GiB", "2048K", "1000000" (bytes). Binary units: G = GiB. nullopt when
// the text is not a size.
inline std::optional<uint64_t> parse_size(std::string_view text) {
  std::string s(text);
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = s.substr(used);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.ends_with("IB") || unit.ends_with("B"))) unit = unit.substr(0, 1);
  double scale = 1;
  if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty() && unit != "B") return std::nullopt;
  if (!(value > 0) || value * scale > 1e18) return std::nullopt;
  return static_cast<uint64_t>(value * scale);
}

}  // namespace sluice
