// The project's error type and internal-invariant check.
//
// Input from outside (files, CLI, HTTP) is rejected by throwing sluice::Error (or a subclass
// naming the module) with enough context to act on. Broken internal invariants abort through
// SLUICE_ASSERT: they are bugs, not input errors.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace sluice {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "sluice: internal error: %s failed at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace sluice

#define SLUICE_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::sluice::assert_fail(#cond, __FILE__, __LINE__))
