#!/usr/bin/env bash
# Ingest flood benchmark (issue #17, item 1): does a flood of the largest bodies ingestd takes delay the batches of
# other servers? A throwaway stack of real servers; BENCH_FLOOD_SERVERS hostile servers (tests/bench/ingest_flood,
# one keep-alive connection each, the next body as soon as the last is answered) and, beside them, probe servers
# that send normal tracker batches at a modest rate (tests/bench/ingest_bench --rate, one request per connection
# like the engine) through the front door (nginx) and straight to ingestd at the same time. Phases:
#   baseline   the probes alone
#   chat       the flood posts accepted bodies of ~1 MiB: 500 chat events with ~2 KB messages full of escapes
#   fields     accepted bodies of ~1 MiB: 500 events of ~170 small extra fields each
#   form       1 MiB of a=1 lines, refused 413 at event 501
#   malformed  the chat body with its closing ']' replaced: refused 400 after all 500 events were parsed
# Every phase prints one {"phase":"ingest"} line per probe (its "probe" says front or ingestd; latency_us has the
# p50/p99/max of its 202s), one {"phase":"flood"} line (requests per second, answers by status) and one
# {"phase":"cpu"} line (CPU seconds per component of the stack during the probe's run); a last {"phase":"summary"}
# line has the machine, the probes' p50/p99/max per phase and the goal: p99 under 50 ms in every flood phase.
# The stack is stopped and removed at the end, also on failure or Ctrl-C; the run is bounded by BENCH_TIME_LIMIT.
#
# Usage: tests/bench/ingest_flood_bench.sh
# Environment: MOHSTATS_BIN_DIR     CMake build directory (default build); a Release/RelWithDebInfo build
#              BENCH_PHASES         phases to run, in order (default "baseline chat fields form malformed")
#              BENCH_PHASE_S        seconds each probe runs in a phase (default 20); the flood starts 2 s before
#              BENCH_FLOOD_SERVERS  flooding servers (default 20)
#              BENCH_FLOOD_TARGET   front (nginx; default) or ingestd: where the flood is sent; or floor: nginx's
#                                   own /ops/nginx/health, where nginx reads and drops each body and answers 200
#                                   itself, no daemon involved: what the flood's bytes alone cost the machine
#              BENCH_FLOOD_SOURCE   address of the first flooding connection, each next one from the next address
#                                   (default 127.0.0.2: 127.0.0.2-21, one client address per flooding server, as
#                                   from the internet: the stack's NGINX_EXEMPT_NETS is 127.0.0.1 alone here, so
#                                   the front door's per-address bounds apply); "" for 127.0.0.1, exempt
#              BENCH_FLOOD_PER_ADDRESS  flooding servers (one connection each) per address (default 1; e.g.
#                                   BENCH_FLOOD_SERVERS=160 BENCH_FLOOD_PER_ADDRESS=8: 20 addresses, 8 each)
#              BENCH_PROBE_SOURCE   the front probe's first address likewise (default 127.0.0.250)
#              BENCH_PROBE_RATE     events/s each probe offers (default 200: about 25 batches/s, 2 servers)
#              BENCH_PROBE_MODE     close (the engine; default) or keepalive
#              BENCH_TIME_LIMIT     seconds for everything (default 600)
#              KEEP_STACK=1         leave the stack running (it says where)
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-build}
[[ $BIN_DIR = /* ]] || BIN_DIR=$SRC_DIR/$BIN_DIR
PHASES=${BENCH_PHASES:-baseline chat fields form malformed}
PHASE_S=${BENCH_PHASE_S:-20}
FLOODERS=${BENCH_FLOOD_SERVERS:-20}
FLOOD_TARGET=${BENCH_FLOOD_TARGET:-front}
PROBE_RATE=${BENCH_PROBE_RATE:-200}
FLOOD_SOURCE=${BENCH_FLOOD_SOURCE-127.0.0.2}
PROBE_SOURCE=${BENCH_PROBE_SOURCE-127.0.0.250}
PER_ADDRESS=${BENCH_FLOOD_PER_ADDRESS:-1}
PROBE_MODE=${BENCH_PROBE_MODE:-close}
# shellcheck disable=SC2034 # read by bench_lib.sh's remaining
LIMIT=${BENCH_TIME_LIMIT:-600}
BENCH=$BIN_DIR/tests/ingest_bench
FLOOD=$BIN_DIR/tests/ingest_flood
PROBE_SERVERS=2 # per probe

# log, die, remaining, create_servers
# shellcheck source=tests/bench/bench_lib.sh
. "$SRC_DIR/tests/bench/bench_lib.sh"

bench_check_build "$BENCH" "$FLOOD"

bench_stack_dir
FLOOD_PID=
bench_on_exit() {
  if [ -n "$FLOOD_PID" ]; then kill "$FLOOD_PID" 2>/dev/null; fi
}

# CPU ticks used so far by each component of the stack, child processes included, and by the whole machine.
cpu_snapshot() {
  local f name pid p
  for f in "$STACK_DIR"/run/*.pid "$STACK_DIR"/postgres/postmaster.pid; do
    [ -s "$f" ] || continue
    name=$(basename "$f" .pid)
    if [ "$name" = postmaster ]; then name=postgres; fi
    pid=$(head -n 1 "$f")
    # utime + stime are the 14th and 15th fields of /proc/PID/stat, counted after the ")" closing the name.
    for p in $pid $(ps -o pid= --ppid "$pid" || true); do cat "/proc/$p/stat" 2>/dev/null || true; done |
      awk -v n="$name" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print n, t + 0 }'
  done
  awk '$1 == "cpu" { print "@machine", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# cpu_line LABEL BEFORE WALL_S: the {"phase":"cpu"} line from a snapshot taken WALL_S seconds ago to now.
cpu_line() {
  { echo "$2"; echo ---; cpu_snapshot; } | awk -v l="$1" -v hz="$(getconf CLK_TCK)" -v wall="$3" '
    $1 == "---" { after = 1; next }
    !after { b[$1] = $2; next }
    $1 == "@machine" { machine = ($2 - b[$1]) / hz; next }
    { d[$1] = ($2 - b[$1]) / hz; names[++n] = $1 }
    END {
      printf "{\"phase\":\"cpu\",\"label\":\"%s\",\"wall_s\":%.2f,\"cpu_s\":{", l, wall
      for (i = 1; i <= n; i++) printf "%s\"%s\":%.2f", (i > 1 ? "," : ""), names[i], d[names[i]]
      printf "},\"machine_busy_s\":%.2f}\n", machine
    }'
}

# probe NAME URL SERVERS SEED LABEL [--source ADDR]: one ingest_bench run of PHASE_S seconds at PROBE_RATE; its
# "ingest" line, tagged with the probe's name, goes to stdout and RESULTS.
probe() {
  local name=$1 url=$2 servers=$3 seed=$4 label=$5
  shift 5
  timeout --kill-after=5 "$(remaining)" "$BENCH" "$@" --url "$url" --servers "$servers" --mode "$PROBE_MODE" \
    --rate "$PROBE_RATE" --events $((PROBE_RATE * PHASE_S)) --max-seconds $((PHASE_S + 10)) --seed "$seed" \
    --label "$label" --latency-log "$STACK_DIR/latency-$label-$name.log" 2>"$STACK_DIR/probe-$name.err" |
    jq -c --arg p "$name" '. + {probe: $p}' | tee -a "$RESULTS"
}

# run_phase LABEL: the flood of body kind LABEL (none for baseline) and both probes beside it.
run_phase() {
  local label=$1 seed=$2 before t0
  log "--- $label"
  FLOOD_PID=
  if [ "$label" != baseline ]; then
    "$FLOOD" --url "$FLOOD_URL" "${FLOOD_PATH[@]}" ${FLOOD_SOURCE:+--source "$FLOOD_SOURCE" --per-address "$PER_ADDRESS"} --servers "$STACK_DIR/flood.txt" --body "$label" --seconds $((PHASE_S + 4)) \
      --label "$label" >"$STACK_DIR/flood.jsonl" 2>"$STACK_DIR/flood.err" &
    FLOOD_PID=$!
    sleep 2 # every flooding connection busy before the probes start
  fi
  before=$(cpu_snapshot)
  t0=$(date +%s.%N)
  probe front "$MOHSTATS_URL" "$STACK_DIR/probe-front.txt" "$seed" "$label" ${PROBE_SOURCE:+--source "$PROBE_SOURCE"} &
  local front=$!
  probe ingestd "$INGESTD_URL" "$STACK_DIR/probe-ingestd.txt" "$seed" "$label" || log "warning: the ingestd probe failed"
  wait "$front" || log "warning: the front probe failed"
  cpu_line "$label" "$before" "$(echo "$(date +%s.%N) - $t0" | bc)" | tee -a "$RESULTS"
  if [ -n "$FLOOD_PID" ]; then
    wait "$FLOOD_PID" || log "warning: the flood reported failed requests: $(tail -n 3 "$STACK_DIR/flood.err")"
    FLOOD_PID=
    tee -a "$RESULTS" <"$STACK_DIR/flood.jsonl"
  fi
  for f in "$STACK_DIR"/probe-*.err; do sed 's/^/  /' "$f" >&2; done
  # Let the writer drain what the flood left in the stream before the next phase.
  sleep 3
}

log "starting a stack in $STACK_DIR (binaries from $BIN_DIR)"
# Only 127.0.0.1 exempt from the per-address bounds, so that clients from 127.0.0.2 and above are treated as clients
# from elsewhere (Linux answers all of 127/8).
export NGINX_EXEMPT_NETS='127.0.0.1 1; ::1 1;'
MOHSTATS_BIN_DIR=$BIN_DIR timeout "$(remaining)" "$SRC_DIR/scripts/stack.sh" up "$STACK_DIR" --port 0 >&2
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a
FLOOD_PATH=()
case $FLOOD_TARGET in
  front) FLOOD_URL=$MOHSTATS_URL ;;
  ingestd) FLOOD_URL=$INGESTD_URL ;;
  floor) FLOOD_URL=$MOHSTATS_URL FLOOD_PATH=(--path /ops/nginx/health) ;;
  *) die "BENCH_FLOOD_TARGET must be front, ingestd or floor" ;;
esac

log "creating $FLOODERS flooding and $((2 * PROBE_SERVERS)) probe servers"
create_servers $((FLOODERS + 2 * PROBE_SERVERS)) >"$STACK_DIR/servers.txt"
head -n "$FLOODERS" "$STACK_DIR/servers.txt" >"$STACK_DIR/flood.txt"
sed -n "$((FLOODERS + 1)),$((FLOODERS + PROBE_SERVERS))p" "$STACK_DIR/servers.txt" >"$STACK_DIR/probe-front.txt"
tail -n "$PROBE_SERVERS" "$STACK_DIR/servers.txt" >"$STACK_DIR/probe-ingestd.txt"

# Warm-up: token caches and connection pools; not reported.
timeout "$(remaining)" "$BENCH" --url "$MOHSTATS_URL" --servers "$STACK_DIR/servers.txt" --events 2000 --seed 99 \
  >/dev/null 2>&1 || log "warning: the warm-up run failed"

seed=1
for phase in $PHASES; do
  run_phase "$phase" "$seed"
  seed=$((seed + 1))
done

ram_gb=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
jq -s -c --arg cpu "$cpu" --argjson nproc "$(nproc)" --argjson ram "$ram_gb" \
  --arg rev "$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" --arg build "$BUILD_TYPE" \
  --arg target "$FLOOD_TARGET" --argjson flooders "$FLOODERS" --argjson rate "$PROBE_RATE" \
  --arg mode "$PROBE_MODE" --argjson seconds "$SECONDS" --arg fsrc "${FLOOD_SOURCE:-127.0.0.1}" --argjson per_address "$PER_ADDRESS" \
  --arg conn_rate "${NGINX_CONN_BYTES_PER_S:-262144}" '
  def ms: if . == null then null else . / 1000 end;
  def probe($l; $p): [.[] | select(.phase == "ingest" and .label == $l and .probe == $p)] | last;
  . as $all | ([.[] | select(.phase == "ingest") | .label] | unique) as $labels |
  ([$labels[] as $l | ["front", "ingestd"][] as $p | ($all | probe($l; $p)) | select(. != null) |
    {phase: $l, probe: $p, ok: .ok, requests: .requests,
     p50_ms: (.latency_us.p50 | ms), p99_ms: (.latency_us.p99 | ms), max_ms: (.latency_us.max | ms)}]) as $probes |
  {
    phase: "summary", revision: $rev, build: $build, seconds: $seconds,
    machine: {nproc: $nproc, cpu: $cpu, ram_gb: $ram},
    flood_target: $target, flooders: $flooders, flood_source: $fsrc, flood_per_address: $per_address, conn_bytes_per_s: $conn_rate, probe_rate: $rate, probe_mode: $mode,
    probes: $probes,
    flood: [$all[] | select(.phase == "flood") | {phase: .label, requests_per_s, statuses, body_mb_per_s,
                                                    latency_ms_p50: (.latency_us.p50 | ms)}],
    goals: {probe_p99_lt_50ms_under_flood: ([$probes[] | select(.phase != "baseline")] |
                                            length > 0 and all(.p99_ms < 50 and .ok == .requests))}
  }' "$RESULTS" | tee -a "$RESULTS"
log "done in ${SECONDS}s"
