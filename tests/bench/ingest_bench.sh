#!/usr/bin/env bash
# Ingest benchmark (issue #3, item 8): a throwaway stack of real servers, BENCH_SERVERS simulated game servers
# created with `ingestd servers create`, then tests/bench/ingest_bench runs
#   (a) maximum load, keep-alive connections,
#   (b) maximum load, one request per connection (the engine's libcurl easy handles),
#   (d) latency at half of (b)'s maximum rate (one request per connection) and at half of (a)'s (keep-alive),
#       and the disk's own durable-write latency (tests/bench/fsync_probe) idle and during a repeat of the
#       keep-alive run: no request can be answered faster than Redis's fdatasync; then, as a diagnostic only,
#       the keep-alive half load once more with Redis's appendfsync at everysec (what the fsyncs add to the p99),
#   (c) the rows of (a) (same seed, same events) bulk-inserted straight into ClickHouse: 100k-row INSERTs into
#       a bare copy of raw_events and into raw_events itself with its materialized views. Three times: before
#       (a), between (a) and (b), after (b); each maximum-load run is compared with the mean of the two raw
#       runs beside it. This machine's speed drifts with its neighbours' load: a single raw run 30 s to 4 minutes
#       away from the runs it was compared with moved the ratio by a third between two consecutive benchmarks
#       (0.78 / 0.57 with keep-alive), and the raw runs before (a) and after (b) differed by up to 40%.
# Every phase prints one JSON line, each run a {"phase":"cpu"} line (CPU seconds per component of the stack
# during the run, to see where the time goes, and how long the request path waited for a CPU) and a
# {"phase":"redis_fsync"} line (the AOF fsyncs Redis timed itself: every acknowledged batch waits for one), and
# a last {"phase":"summary"} line has the machine, the ratios and the goals (end to end >= 0.6 x ClickHouse's raw rate
# into raw_events; p99 <= 10 ms at half of the maximum load). The stack is stopped and removed at the end, also
# on failure or Ctrl-C; the whole run is bounded by BENCH_TIME_LIMIT.
#
# Usage: tests/bench/ingest_bench.sh
# Environment: MOHSTATS_BIN_DIR  CMake build directory with the daemons and tests/ingest_bench (default build);
#                                use a Release/RelWithDebInfo build, never the sanitizer build. Builds nothing.
#              BENCH_SERVERS     simulated game servers, one connection each (default 64)
#              BENCH_EVENTS      events per maximum-load run (default 1000000: long enough that the writer's
#                                flush interval and the final drain weigh little in the end-to-end rate)
#              BENCH_LATENCY_S   seconds of each half-load run (default 15)
#              BENCH_TARGET      front (nginx, what game servers use; default) or ingestd (bypass nginx)
#              BENCH_TIME_LIMIT  seconds for everything (default 600)
#              KEEP_STACK=1      leave the stack running (it says where)
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-build}
[[ $BIN_DIR = /* ]] || BIN_DIR=$SRC_DIR/$BIN_DIR
SERVERS=${BENCH_SERVERS:-64}
EVENTS=${BENCH_EVENTS:-1000000}
LATENCY_S=${BENCH_LATENCY_S:-15}
TARGET=${BENCH_TARGET:-front}
LIMIT=${BENCH_TIME_LIMIT:-600}
BENCH=$BIN_DIR/tests/ingest_bench
PROBE=$BIN_DIR/tests/fsync_probe

# log, die, remaining, settle, field, create_servers
# shellcheck source=tests/bench/bench_lib.sh
. "$SRC_DIR/tests/bench/bench_lib.sh"

bench_check_build "$BENCH" "$PROBE"

bench_stack_dir
# A kept stack gets Redis's durable setting back (the everysec diagnostic may have been cut short).
bench_on_exit() {
  if [ "${KEEP_STACK:-0}" = 1 ] && [ "${FSYNC_RELAXED:-0}" = 1 ] &&
    ! redis-cli --no-auth-warning -u "$REDIS_URL" CONFIG SET appendfsync always >/dev/null; then
    log "warning: the kept stack's Redis still runs with appendfsync everysec"
  fi
}

# CPU time used so far by each component of the stack, its child processes included (nginx's workers,
# PostgreSQL's backends): "name ticks" lines. For the request path (nginx, ingestd, Redis) also the time its
# threads spent runnable but waiting for a CPU (the 2nd field of /proc/PID/task/TID/schedstat, ns): "~name ns"
# lines. Not for ClickHouse, whose short-lived threads take their counts with them.
cpu_snapshot() {
  local f name pid pids p
  for f in "$STACK_DIR"/run/*.pid "$STACK_DIR"/postgres/postmaster.pid; do
    [ -s "$f" ] || continue
    name=$(basename "$f" .pid)
    if [ "$name" = postmaster ]; then name=postgres; fi
    pid=$(head -n 1 "$f")
    pids="$pid $(ps -o pid= --ppid "$pid" || true)"
    # utime + stime are the 14th and 15th fields of /proc/PID/stat, counted after the ")" closing the name.
    for p in $pids; do cat "/proc/$p/stat" 2>/dev/null || true; done |
      awk -v n="$name" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print n, t + 0 }'
    case $name in
      nginx | ingestd | redis)
        for p in $pids; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
          awk -v n="$name" '{ w += $2 } END { print "~" n, w + 0 }'
        ;;
    esac
  done
  # The whole machine's busy time (user, nice, system, irq, softirq, steal), to see what else was running.
  awk '$1 == "cpu" { print "@machine", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# Redis's own view of its AOF fsyncs (appendfsync always: every answer to an XADD waits for one). Its latency
# monitor keeps, for each second, the longest event over the threshold; fsync_probe measures the disk beside
# Redis, this measures the fsyncs the requests actually waited for.
redis_fsync_reset() {
  if ! redis-cli --no-auth-warning -u "$REDIS_URL" CONFIG SET latency-monitor-threshold 1 >/dev/null ||
    ! redis-cli --no-auth-warning -u "$REDIS_URL" LATENCY RESET >/dev/null; then
    log "warning: cannot reset Redis's latency monitor"
  fi
}

# redis_fsync_report LABEL: one {"phase":"redis_fsync"} line: in how many seconds of the run an fsync took over
# 1 ms, and the median and largest of those seconds' longest fsync.
redis_fsync_report() {
  # The reply alternates a second's timestamp and its longest fsync (ms); an empty history is one empty line.
  redis-cli --no-auth-warning -u "$REDIS_URL" LATENCY HISTORY aof-fsync-always 2>/dev/null | paste - - |
    awk '$2 ~ /^[0-9]+$/ { print $2 }' | sort -n |
    awk -v l="$1" '{ v[++n] = $1 } END {
        printf "{\"phase\":\"redis_fsync\",\"label\":\"%s\",\"seconds_over_1ms\":%d,", l, n
        printf "\"longest_per_second_ms\":{\"p50\":%s,\"max\":%s}}\n", n ? v[int((n + 1) / 2)] : "null",
          n ? v[n] : "null"
      }'
}

# run_bench LABEL ARGS...: one ingest_bench run, bounded by the time left; its JSON lines go to stdout and
# RESULTS, followed by a {"phase":"cpu"} line: CPU seconds per component during the run. A failed run (errors,
# events missing in ClickHouse) is reported and the benchmark goes on.
run_bench() {
  local label=$1 left before t0
  shift
  settle
  left=$(remaining)
  log "--- $label"
  local max_s=$((left > 70 ? 60 : left - 10))
  redis_fsync_reset
  before=$(cpu_snapshot)
  t0=$(date +%s.%N)
  timeout --kill-after=5 "$left" "$BENCH" --url "$URL" --servers "$STACK_DIR/servers.txt" \
    --clickhouse "$CLICKHOUSE_URL" --max-seconds "$max_s" --e2e-timeout "$max_s" --label "$label" "$@" |
    tee -a "$RESULTS" || log "warning: $label did not complete cleanly (see above)"
  { echo "$before"; echo ---; cpu_snapshot; } | awk -v l="$label" -v hz="$(getconf CLK_TCK)" \
    -v wall="$(echo "$(date +%s.%N) - $t0" | bc)" '
      $1 == "---" { after = 1; next }
      !after { b[$1] = $2; next }
      $1 == "@machine" { machine = ($2 - b[$1]) / hz; next }
      /^~/ { w[substr($1, 2)] = ($2 - b[$1]) / 1e9; wnames[++nw] = substr($1, 2); next }
      { d[$1] = ($2 - b[$1]) / hz; names[++n] = $1; stack += d[$1] }
      END {
        printf "{\"phase\":\"cpu\",\"label\":\"%s\",\"wall_s\":%.2f,\"cpu_s\":{", l, wall
        for (i = 1; i <= n; i++) printf "%s\"%s\":%.2f", (i > 1 ? "," : ""), names[i], d[names[i]]
        printf "},\"runq_wait_s\":{"
        for (i = 1; i <= nw; i++) printf "%s\"%s\":%.2f", (i > 1 ? "," : ""), wnames[i], w[wnames[i]]
        printf "},\"stack_cpu_s\":%.2f,\"machine_busy_s\":%.2f}\n", stack, machine
      }' | tee -a "$RESULTS"
  redis_fsync_report "$label" | tee -a "$RESULTS"
  # Anything besides the stack and this client (ingest_bench uses at most ~0.2 core) skews the figures.
  local other
  other=$(jq -s -r --arg l "$label" '([.[] | select(.label == $l)] | (map(select(.phase == "cpu")) | last) as $c |
    (map(select(.phase == "ingest")) | last | .client_cpu_s // 0) as $me |
    (($c.machine_busy_s - $c.stack_cpu_s - $me) / $c.wall_s * 100 | round))' "$RESULTS")
  if [ "$other" -gt 15 ]; then
    log "warning: other processes used ~${other}% of a core during $label: the machine is not quiet"
  fi
}

log "starting a stack in $STACK_DIR (binaries from $BIN_DIR)"
# INGEST_SERVER_BYTES_PER_S=0: its simulated servers send 150-270 KB/s each at the maximum, past a game server's
# budget: this bench measures what the pipeline can carry, and the budget (a per-server policy) is off for it.
INGEST_SERVER_BYTES_PER_S=0 MOHSTATS_BIN_DIR=$BIN_DIR timeout "$(remaining)" "$SRC_DIR/scripts/stack.sh" up "$STACK_DIR" --port 0 >&2
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a
case $TARGET in
  front) URL=$MOHSTATS_URL ;;
  ingestd) URL=$INGESTD_URL ;;
  *) die "BENCH_TARGET must be front or ingestd" ;;
esac

log "creating $SERVERS game servers"
create_servers "$SERVERS" >"$STACK_DIR/servers.txt"

# Warm-up: token caches, connection pools, ClickHouse's first parts; not reported.
timeout "$(remaining)" "$BENCH" --url "$URL" --servers "$STACK_DIR/servers.txt" --clickhouse "$CLICKHOUSE_URL" \
  --events 5000 --seed 99 --e2e-timeout 30 >/dev/null 2>&1 || log "warning: the warm-up run failed"

# The disk's durable-write latency with the stack idle, for comparison with the one under load below.
"$PROBE" "$STACK_DIR/redis" 10 idle-disk | tee -a "$RESULTS" || log "warning: fsync_probe failed"

# (c) before (a), between (a) and (b), and after (b). No --url, so only the raw phase, on the rows of (a): same
# servers, seed and event count.
run_bench raw-before --events "$EVENTS" --seed 1 --raw --url ""
run_bench max-keepalive --mode keepalive --events "$EVENTS" --seed 1
run_bench raw-mid --events "$EVENTS" --seed 1 --raw --url ""
run_bench max-close --mode close --events "$EVENTS" --seed 2
run_bench raw --events "$EVENTS" --seed 1 --raw --url ""

half_close=$(field max-close ingest '.events_per_s / 2 | floor')
half_keep=$(field max-keepalive ingest '.events_per_s / 2 | floor')
if [ "$half_close" != null ] && [ "$half_close" -gt 0 ]; then
  run_bench half-close --mode close --rate "$half_close" --events $((half_close * LATENCY_S)) --seed 3
fi
# half_keepalive LABEL: the keep-alive half-load run, the same events each time it is repeated.
half_keepalive() {
  run_bench "$1" --mode keepalive --rate "$half_keep" --events $((half_keep * LATENCY_S)) --seed 4
}
if [ "$half_keep" != null ] && [ "$half_keep" -gt 0 ]; then
  half_keepalive half-keepalive
  # The disk's own floor under the same load: a request is answered only after Redis's fdatasync, so
  # fsync_probe's appends beside Redis's AOF show how much of the p99 no code of ours can remove. A run of its
  # own, since the probe's writes would disturb the measured one.
  "$PROBE" "$STACK_DIR/redis" "$LATENCY_S" half-keepalive-disk >"$STACK_DIR/fsync.jsonl" &
  probe_pid=$!
  half_keepalive half-keepalive-disk
  wait "$probe_pid" || log "warning: fsync_probe failed"
  tee -a "$RESULTS" <"$STACK_DIR/fsync.jsonl"
  # A diagnostic, not a setting to deploy: the same load with Redis fsyncing its AOF once a second instead of
  # before every answer (an OS crash or power cut could then lose up to a second of acknowledged batches). The
  # difference to half-keepalive is what waiting for the disk's flushes adds to the p99.
  if redis-cli --no-auth-warning -u "$REDIS_URL" CONFIG SET appendfsync everysec >/dev/null; then
    FSYNC_RELAXED=1
    half_keepalive half-keepalive-everysec
    redis-cli --no-auth-warning -u "$REDIS_URL" CONFIG SET appendfsync always >/dev/null && FSYNC_RELAXED=0
  else
    log "warning: cannot switch Redis to appendfsync everysec; no half-keepalive-everysec run"
  fi
fi

ram_gb=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ch_version=$(curl -sS --max-time 5 --data-binary 'SELECT version()' "$CLICKHOUSE_URL" || echo unknown)
jq -s -c --arg cpu "$cpu" --argjson nproc "$(nproc)" --argjson ram "$ram_gb" --arg ch "$ch_version" \
  --arg rev "$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" --arg build "$BUILD_TYPE" \
  --arg target "$TARGET" --argjson servers "$SERVERS" --argjson seconds "$SECONDS" '
  def pick($l; $p): [.[] | select(.label == $l and .phase == $p)] | last;
  def r3: if . == null then null else . * 1000 | round / 1000 end;
  def ms: if . == null then null else . / 1000 end;
  def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b | r3 end;
  def le($a; $b): $a != null and $a <= $b;
  def mean: map(select(. != null)) | if length > 0 then add / length else null end;
  (pick("raw-before"; "raw").rows_per_s) as $rb | (pick("raw-mid"; "raw").rows_per_s) as $rm |
  (pick("raw"; "raw").rows_per_s) as $ra |
  ([$rb, $rm, $ra] | map(select(. != null))) as $raws |
  ($raws | mean) as $raw | ([$rb, $rm] | mean) as $raw_k | ([$rm, $ra] | mean) as $raw_c |
  (pick("max-keepalive"; "ingest").e2e.events_per_s) as $ek |
  (pick("max-close"; "ingest").e2e.events_per_s) as $ec |
  (pick("half-close"; "ingest").latency_us.p99) as $pc |
  (pick("half-keepalive"; "ingest").latency_us.p99) as $pk |
  . as $all |
  {
    phase: "summary", revision: $rev, build: $build, target: $target, servers: $servers, seconds: $seconds,
    machine: {nproc: $nproc, cpu: $cpu, ram_gb: $ram, clickhouse: $ch},
    # The raw runs (before (a), between (a) and (b), after (b)) and their mean. Each maximum-load run is compared
    # with the mean of the two beside it; the ratios against each of those show how far the machine drifted.
    raw_rows_per_s: $raw, raw_rows_per_s_runs: $raws,
    raw_rows_per_s_beside: {keepalive: $raw_k, close: $raw_c},
    raw_bare_table_rows_per_s: [("raw-before", "raw-mid", "raw") as $l | pick($l; "raw").bare_table.rows_per_s],
    max_events_per_s: {keepalive: pick("max-keepalive"; "ingest").events_per_s,
                       close: pick("max-close"; "ingest").events_per_s},
    e2e_events_per_s: {keepalive: $ek, close: $ec},
    e2e_ratio: {keepalive: ratio($ek; $raw_k), close: ratio($ec; $raw_c)},
    e2e_ratio_against_each_raw_run: {keepalive: [$rb, $rm] | map(select(. != null) | ratio($ek; .)),
                                     close: [$rm, $ra] | map(select(. != null) | ratio($ec; .))},
    p99_ms_at_half_load: {close: ($pc | ms), keepalive: ($pk | ms)},
    # The floor of the disk (fsync_probe): append + fdatasync as the AOF of Redis does, idle and during a second
    # half-load keep-alive run, beside the request p99 of that run.
    disk_append_fdatasync_p99_ms: {idle: (pick("idle-disk"; "fsync").append_us.p99 | ms),
                                   half_load: (pick("half-keepalive-disk"; "fsync").append_us.p99 | ms)},
    disk_overwrite_dsync_p99_ms_at_half_load: (pick("half-keepalive-disk"; "fsync").overwrite_us.p99 | ms),
    p99_ms_beside_disk_probe: (pick("half-keepalive-disk"; "ingest").latency_us.p99 | ms),
    # The diagnostic run with appendfsync everysec (not the durability the 202 promises): the p99 left once the
    # requests no longer wait for the flushes of the disk.
    p99_ms_at_half_load_keepalive_fsync_everysec: (pick("half-keepalive-everysec"; "ingest").latency_us.p99 | ms),
    # The AOF fsyncs of Redis during the half-load runs (its latency monitor): the longest fsync of each second.
    redis_fsync_longest_per_second_ms_at_half_load: ([("half-close", "half-keepalive") as $l |
                                                      ($all | pick($l; "redis_fsync")) as $f | select($f != null) |
                                                      {($l): $f.longest_per_second_ms}] | add),
    # CPU microseconds per event by component at maximum load (less sensitive to a busy machine than rates).
    cpu_us_per_event: ([("max-keepalive", "max-close", "half-close", "half-keepalive") as $l |
                        ($all | pick($l; "cpu")) as $c | ($all | pick($l; "ingest")) as $i |
                        select($c != null and $i != null and $i.events_accepted > 0) |
                        {($l): ($c.cpu_s + {client: $i.client_cpu_s, total: ($c.stack_cpu_s + $i.client_cpu_s)}
                                | with_entries(select(.value > 0) | .value = (.value / $i.events_accepted * 1e6
                                                                              * 10 | round / 10)))}] | add),
    # Seconds the request path spent runnable but waiting for a CPU, per second of the half-load runs: a request
    # waits for each of them, so this is latency the scheduler adds on a machine where ClickHouse shares the cores.
    runq_wait_s_per_s_at_half_load: ([("half-close", "half-keepalive") as $l | ($all | pick($l; "cpu")) as $c |
                                      select($c != null and $c.runq_wait_s != null) |
                                      {($l): ($c.runq_wait_s | map_values(. / $c.wall_s | r3))}] | add),
    # CPU used outside the stack and this client, in cores, at worst over the runs: > 0.15 = not quiet.
    other_cpu_cores_max: ([$all[] | select(.phase == "cpu") | .label as $l |
                           (.machine_busy_s - .stack_cpu_s - ((($all | pick($l; "ingest")) // {}).client_cpu_s // 0)) / .wall_s]
                          | max | r3),
    goals: {e2e_ratio_ge_0_6: (le(0.6; ratio($ek; $raw_k)) and le(0.6; ratio($ec; $raw_c))),
            p99_le_10ms_at_half_load: (le($pc; 10000) and le($pk; 10000))}
  }' "$RESULTS" | tee -a "$RESULTS"
log "done in ${SECONDS}s"
