#!/usr/bin/env bash
# Builds sluice twice and runs the whole test suite on each build:
#   build/        Release, warnings as errors
#   build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors
# Usage: scripts/test.sh [extra ctest args, e.g. -R model]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DSLUICE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "${ctest_args[@]}")
}

ctest_args=("$@")
echo "== Release build and tests"
run_suite build -DCMAKE_BUILD_TYPE=Release
echo "== ASan + UBSan build and tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=ON
echo "== all tests passed"
