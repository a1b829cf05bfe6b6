#!/usr/bin/env bash
# Coverage-guided fuzzing with clang's libFuzzer (+ ASan/UBSan) of every tests/fuzz/fuzz_*.c target.
# Usage: tests/fuzz/run.sh [SECONDS per target, default 60] [target name ...]
# New interesting inputs are written to tests/fuzz/corpus/<x>/ (review before committing); crashes to
# build-fuzz/crash-*.
set -euo pipefail
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER=${1:-60}
shift || true
OUT=$SRC_DIR/build-fuzz
mkdir -p "$OUT"
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I"$SRC_DIR/common"
        -I"$SRC_DIR/ingestd" -I"$SRC_DIR/queryd" -I"$SRC_DIR/authd" -I"$SRC_DIR/achievd" -I/usr/share/include/llhttp)
# shellcheck disable=SC2207
cflags+=($(pkg-config --cflags libuv hiredis libpq libmariadb libcjson libcurl))
libs=$(pkg-config --libs libuv hiredis libpq libmariadb libcjson libcurl)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$SRC_DIR"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
for t in "${targets[@]}"; do
  # The code of each daemon whose header the target includes (but its main.c), as tests/CMakeLists.txt links its
  # <daemon>_lib.
  extra=()
  for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$SRC_DIR/tests/fuzz/$t.c"); do
    for d in ingestd queryd authd achievd; do
      if [ -f "$SRC_DIR/$d/$h" ]; then
        for f in "$SRC_DIR/$d"/*.c; do
          [ "$(basename "$f")" = main.c ] || extra+=("$f")
        done
      fi
    done
  done
  mapfile -t extra < <(printf '%s\n' "${extra[@]}" | sort -u)
  # shellcheck disable=SC2086
  clang "${cflags[@]}" "$SRC_DIR/tests/fuzz/$t.c" "${extra[@]}" "$SRC_DIR"/common/*.c \
    /usr/share/llhttp/*.c $libs -lm -lpthread -o "$OUT/$t"
  corpus=$SRC_DIR/tests/fuzz/corpus/${t#fuzz_}
  (cd "$OUT" && "./$t" -max_total_time="$SECONDS_PER" -max_len=65536 "$corpus")
done
