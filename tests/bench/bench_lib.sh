# Helpers shared by the stack benchmarks (ingest_bench.sh, achievd_bench.sh), sourced after they set LIMIT (their
# BENCH_TIME_LIMIT), BIN_DIR and, before calling settle or field, CLICKHOUSE_URL and RESULTS.
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
