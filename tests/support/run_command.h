// Runs the sluice binary as a user would, capturing its exit status and output.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::testing {

struct CommandResult {
  bool exited = false;   // false: killed by a signal (a crash)
  int exit_code = -1;
  std::string out;       // stdout
  std::string err;       // stderr
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `args` is appended to the binary path verbatim (quote paths with spaces yourself).
inline CommandResult run_sluice(const std::string& args, const std::string& stdin_text = "") {
  char dir_template[] = "/tmp/sluice-cmd-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string in_path = dir + "/in", out_path = dir + "/out", err_path = dir + "/err";
  std::ofstream(in_path) << stdin_text;
  const std::string command = std::string(SLUICE_BINARY) + " " + args + " <" + in_path + " >" +
                              out_path + " 2>" + err_path;
  const int status = std::system(command.c_str());
  CommandResult result;
  // std::system runs /bin/sh: a child killed by a signal shows as exit code 128 + signal.
  result.exited = WIFEXITED(status) && WEXITSTATUS(status) < 128;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  std::remove(dir.c_str());
  return result;
}

}  // namespace sluice::testing

#include <sys/resource.h>
#include <unistd.h>

#include <vector>

namespace sluice::testing {

struct MeasuredRun {
  int exit_code = -1;
  uint64_t peak_rss_bytes = 0;  // ru_maxrss of the child, measured by the kernel
  std::string err;
};

// Runs the sluice binary with `args` (no shell), stdout discarded, and reports the child's
// peak resident set size as the kernel accounted it.
inline MeasuredRun run_sluice_measured(const std::vector<std::string>& args) {
  char err_template[] = "/tmp/sluice-err-XXXXXX";
  const int err_fd = mkstemp(err_template);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(err_fd, 2);
    if (freopen("/dev/null", "w", stdout) == nullptr) _exit(126);
    std::vector<char*> argv{const_cast<char*>(SLUICE_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SLUICE_BINARY, argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  close(err_fd);
  MeasuredRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.peak_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
  run.err = slurp(err_template);
  std::remove(err_template);
  return run;
}

}  // namespace sluice::testing
