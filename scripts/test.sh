#!/usr/bin/env bash
# Run every test in each given build directory (normal, then sanitizers). Exits non-zero on any failure.
# TEST_JOBS: tests run at once (default 2).
set -uo pipefail
status=0
for build in "$@"; do
  echo "== tests in $build" >&2
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # Two at a time: unit and fuzz tests beside the integration tests; tests/CMakeLists.txt keeps stacks one at a
  # time and fault tests alone.
  if ! (cd "$build" && ctest --output-on-failure --timeout 900 -j "${TEST_JOBS:-2}"); then
    status=1
  fi
done
exit $status
