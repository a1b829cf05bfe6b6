# Helpers shared by the stack benchmarks (ingest_bench.sh, achievd_bench.sh, ingest_flood_bench.sh), sourced after
# they set LIMIT (their BENCH_TIME_LIMIT), SRC_DIR and BIN_DIR and, before calling settle or field, CLICKHOUSE_URL.
# shellcheck shell=bash

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
  printf 'bench: error: %s\n' "$*" >&2
  exit 1
}

# Seconds left of BENCH_TIME_LIMIT; dies when nothing is left.
remaining() {
  local left=$((LIMIT - SECONDS))
  [ "$left" -gt 5 ] || die "BENCH_TIME_LIMIT (${LIMIT}s) reached"
  echo "$left"
}

# settle: wait (up to 90 s) until ClickHouse merges nothing, so that a run does not pay for merging the rows of
# the run before it (each run still pays for merging its own rows while it lasts). Reports the wait.
settle() {
  local t0=$SECONDS n=0
  while [ $((SECONDS - t0)) -lt 90 ]; do
    n=$(curl -sS --max-time 5 --data-binary 'SELECT count() FROM system.merges' "$CLICKHOUSE_URL" 2>/dev/null || echo 0)
    [ "$n" = 0 ] && break
    sleep 1
  done
  if [ "$n" = 0 ]; then
    log "ClickHouse merges settled after $((SECONDS - t0)) s"
  else
    log "warning: ClickHouse still runs $n merges after 90 s; going on"
  fi
}

# field LABEL PHASE JQ_PATH: a figure from RESULTS (null if absent).
field() {
  jq -s -r --arg l "$1" --arg p "$2" "[.[] | select(.label == \$l and .phase == \$p)] | last | try ($3) catch null" "$RESULTS"
}

# create_servers N: create N game servers with `ingestd servers create` (bench-1 .. bench-N); prints their
# "SERVER_ID TOKEN" lines, the input of the load generators' --servers.
create_servers() {
  local k out id token
  for k in $(seq 1 "$1"); do
    out=$("$BIN_DIR/ingestd" servers create --name "bench-$k" --ip 127.0.0.1 --port $((20000 + k)) 2>&1)
    id=$(sed -n 's/^server_id: *//p' <<<"$out")
    token=$(sed -n 's/^token: *//p' <<<"$out")
    if [ -z "$id" ] || [ -z "$token" ]; then
      die "ingestd servers create printed no server_id/token: $out"
    fi
    echo "$id $token"
  done
}

# bench_check_build PROGRAM...: BIN_DIR has ingestd and every PROGRAM (paths), and is not a sanitizer build;
# warns when it is not a Release/RelWithDebInfo build; sets BUILD_TYPE (for the summary line). jq is needed.
bench_check_build() {
  local p
  for p in "$BIN_DIR/ingestd" "$@"; do
    [ -x "$p" ] || die "no $p: build first (cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j2)"
  done
  if grep -q '^MOHSTATS_SANITIZE:BOOL=ON' "$BIN_DIR/CMakeCache.txt" 2>/dev/null; then
    die "$BIN_DIR is a sanitizer build: benchmark a Release or RelWithDebInfo build"
  fi
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN_DIR/CMakeCache.txt" 2>/dev/null || true)
  case $BUILD_TYPE in
    Release | RelWithDebInfo) ;;
    *) log "warning: $BIN_DIR is a '${BUILD_TYPE:-no type}' build, not Release/RelWithDebInfo: figures will be low" ;;
  esac
  command -v jq >/dev/null || die "jq is needed to read the figures"
}

# bench_stack_dir: STACK_DIR for the throwaway stack and RESULTS in it, and the EXIT trap that stops and removes the
# stack (KEEP_STACK=1 leaves it running), also on failure or Ctrl-C; bench_on_exit runs first if the script
# defines it (its background processes, settings to restore). The directory is a /tmp/mohstats-test.* one with an
# owner file, so that tests/integration/lib.sh sweeps the stack away if the script is killed before the trap runs.
bench_stack_dir() {
  STACK_DIR=$(mktemp -d /tmp/mohstats-test.XXXXXX)
  echo $$ >"$STACK_DIR/owner.pid"
  RESULTS=$STACK_DIR/results.jsonl
  trap _bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

_bench_cleanup() {
  local rc=$?
  trap - EXIT
  set +e
  if declare -F bench_on_exit >/dev/null; then bench_on_exit; fi
  if [ "${KEEP_STACK:-0}" = 1 ]; then
    rm -f "$STACK_DIR/owner.pid"
    log "KEEP_STACK=1: the stack keeps running in $STACK_DIR (stop it: scripts/stack.sh down $STACK_DIR)"
  else
    MOHSTATS_BIN_DIR=$BIN_DIR "$SRC_DIR/scripts/stack.sh" down "$STACK_DIR" >/dev/null 2>&1 ||
      log "warning: stack.sh down $STACK_DIR failed"
    rm -rf "$STACK_DIR"
  fi
  exit "$rc"
}
