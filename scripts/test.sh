#!/usr/bin/env bash
# Run every test in each given build directory (normal, then sanitizers). Exits non-zero on any failure.
set -uo pipefail
status=0
for build in "$@"; do
  echo "== tests in $build" >&2
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if ! (cd "$build" && ctest --output-on-failure --timeout 900); then
    status=1
  fi
done
exit $status
