#!/usr/bin/env bash
# achievd benchmark: can one achievd keep up with ingest on the same machine, how soon does an unlock reach the
# forum, and how much memory does it need. One run on a throwaway stack of real servers (scripts/stack.sh),
# BENCH_SERVERS simulated game servers created with `ingestd servers create`, every player a logged-in forum
# member (tests/bench/achievd_bench generates and sends the load: see its header for the players and the mix):
#
#   (1) ingest-max: achievd stopped, BENCH_EVENTS events of BENCH_MEMBERS members sent as fast as ingestd answers
#       (keep-alive, one connection per server, like ingest_bench's maximum-load phase); the ingest pipeline's
#       maximum rate is the end-to-end one: events accepted by ingestd AND inserted into ClickHouse by the writer,
#       per second from the first request until the last event is visible in raw_events (the accepted rate is
#       reported too). achievd's consumer group keeps its entries in the stream (STREAM_GROUPS holds trimming
#       back for it), so the same events then wait for achievd.
#   catchup: achievd started on that backlog; events evaluated per second = achievd_events_total / the time from
#       its group's first read (XINFO GROUPS entries-read moves) until everything is read and acknowledged (lag 0
#       and pending 0 in XINFO GROUPS), polled every 200 ms. Also reported: when its pending forum writes had all
#       reached MariaDB (forum_written_s, achievd_pending_writes 0), the peak of those pending writes and the
#       MariaDB progress rows per event. Goal 1: achievd events/s / ingest max (end-to-end) events/s >= 1.
#   (2) half-load: achievd running and caught up, events sent at half of (1)'s end-to-end rate for
#       BENCH_LATENCY_S seconds; BENCH_PROBES probe batches at even intervals, each the first kill of a member
#       never seen before, so that achievd unlocks first_blood: time from the probe's 202 to its row in
#       smf_mohaa_player_achievements (MariaDB polled every 20 ms). Goal 2: p99 <= 2 s. ACHIEVD_FLUSH_MS (MariaDB
#       writes at most this often) is the designed floor; achievd's lag during the run is reported beside it.
#   half-achievd-load (a diagnostic): the same probes at half of achievd's own catch-up rate, a load it keeps up
#       with: the latency its design gives when it is not behind.
#   diagnostics (BENCH_DIAG): the same as (1) with achievd started with other settings, one round per
#       ';'-separated list of VAR=value settings: what achievd's settings alone change (labels catchup-diag-N).
#   (3) rss: achievd stopped, BENCH_RSS_EVENTS events of BENCH_RSS_MEMBERS distinct members (ids 1..N: those of
#       (1) and more) ingested, achievd started on them (a second catch-up figure, with 10x the players), then its
#       peak RSS (VmHWM of /proc/PID/status) with that many players in memory. Goal 3: <= 200 MB. To bring every
#       member in, players come and go fast here: each newcomer's first event is a spawn (~28% of the events with
#       the defaults).
#
# Every phase prints one JSON line ({"phase":"ingest"}, {"phase":"catchup"}, {"phase":"probe"}, {"phase":"rss"};
# {"phase":"lag"}: achievd's group lag in entries, sampled every second of a probe run),
# each timed run a {"phase":"cpu"} line (CPU seconds per component of the stack, and the time achievd, Redis and
# ingestd's request path spent runnable waiting for a CPU), and each catch-up where achievd's time went:
# {"phase":"wait"} lines (thread_sample: the share of samples every 5 ms in which achievd's pipeline thread ran,
# or waited for Redis or MariaDB, and what Redis's main thread did), {"phase":"redis_commands"} (Redis's own time
# per command, INFO commandstats) and {"phase":"perf"} (achievd's hottest functions, perf record, if perf works).
# A last {"phase":"summary"} line has the machine, the settings, the figures and the goals. The stack is stopped
# and removed at the end, also on failure or Ctrl-C; the whole run is bounded by BENCH_TIME_LIMIT. Not part of
# `make test`: benchmarks are run by hand.
#
# Usage: tests/bench/achievd_bench.sh
# Environment: MOHSTATS_BIN_DIR   CMake build directory with the daemons and tests/achievd_bench (default build);
#                                 use a Release/RelWithDebInfo build, never the sanitizer build. Builds nothing.
#              BENCH_SERVERS      simulated game servers, one connection each (default 64)
#              BENCH_MEMBERS      distinct members of (1) and (2) (default 5000)
#              BENCH_EVENTS       events of (1) and of achievd's first catch-up (default 300000)
#              BENCH_MIX          event weights (default kill=40,distance=30,spawn=10,jump=10,weapon_change=10)
#              BENCH_LATENCY_S    seconds of the half-load run (default 30)
#              BENCH_PROBES       probes during it (default 200)
#              BENCH_RSS_MEMBERS  distinct members of (3) (default 50000)
#              BENCH_RSS_EVENTS   events of (3) (default 300000)
#              BENCH_DIAG         diagnostic catch-ups (default "ACHIEVD_READ_COUNT=10000 ACHIEVD_FLUSH_MS=5000";
#                                 empty: none)
#              BENCH_TARGET       front (nginx, what game servers use; default) or ingestd (bypass nginx)
#              BENCH_PERF         1: perf record achievd during the catch-ups (default 1 when perf works)
#              BENCH_TIME_LIMIT   seconds for everything (default 900)
#              ACHIEVD_*          achievd's settings (achievd --help), e.g. ACHIEVD_READ_COUNT: passed to it
#              KEEP_STACK=1       leave the stack running (it says where)
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-build}
[[ $BIN_DIR = /* ]] || BIN_DIR=$SRC_DIR/$BIN_DIR
SERVERS=${BENCH_SERVERS:-64}
MEMBERS=${BENCH_MEMBERS:-5000}
EVENTS=${BENCH_EVENTS:-300000}
MIX=${BENCH_MIX:-kill=40,distance=30,spawn=10,jump=10,weapon_change=10}
LATENCY_S=${BENCH_LATENCY_S:-30}
PROBES=${BENCH_PROBES:-200}
RSS_MEMBERS=${BENCH_RSS_MEMBERS:-50000}
RSS_EVENTS=${BENCH_RSS_EVENTS:-300000}
TARGET=${BENCH_TARGET:-front}
DIAG=${BENCH_DIAG-ACHIEVD_READ_COUNT=10000 ACHIEVD_FLUSH_MS=5000}
LIMIT=${BENCH_TIME_LIMIT:-900}
BENCH=$BIN_DIR/tests/achievd_bench
SAMPLER=$BIN_DIR/tests/thread_sample
PROBE_MEMBER_BASE=900000000

# log, die, remaining, settle, field, create_servers
# shellcheck source=tests/bench/bench_lib.sh
. "$SRC_DIR/tests/bench/bench_lib.sh"

bench_check_build "$BIN_DIR/achievd" "$BENCH" "$SAMPLER"
command -v redis-cli >/dev/null || die "redis-cli is needed to watch achievd's consumer group"
case $TARGET in front | ingestd) ;; *) die "BENCH_TARGET must be front or ingestd" ;; esac
PERF=${BENCH_PERF:-}
if [ -z "$PERF" ]; then
  PERF=0
  if command -v perf >/dev/null && perf record -q -o /dev/null -- true >/dev/null 2>&1; then PERF=1; fi
fi

# achievd's setting NAME: the environment's value, else its default from `achievd --help`.
ACHIEVD_HELP=$("$BIN_DIR/achievd" --help 2>&1 || true)
achievd_setting() {
  local v=${!1:-}
  [ -n "$v" ] || v=$(awk -v n="$1" '$1 == n { getline; gsub(/[][ ]/, ""); print; exit }' <<<"$ACHIEVD_HELP")
  echo "${v:-null}"
}

bench_stack_dir
BG_PIDS=()
bench_on_exit() {
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
}

now() { date +%s.%N; }

# CPU time used so far by each component of the stack, its child processes included: "name ticks" lines; for
# achievd, Redis and ingestd's request path also the time their threads spent runnable but waiting for a CPU
# (schedstat, ns): "~name ns" lines; "@machine ticks": the whole machine's busy time.
cpu_snapshot() {
  local f name pid pids p
  for f in "$STACK_DIR"/run/*.pid "$STACK_DIR"/postgres/postmaster.pid; do
    [ -s "$f" ] || continue
    name=$(basename "$f" .pid)
    if [ "$name" = postmaster ]; then name=postgres; fi
    pid=$(head -n 1 "$f")
    [ -d "/proc/$pid" ] || continue
    pids="$pid $(ps -o pid= --ppid "$pid" || true)"
    for p in $pids; do cat "/proc/$p/stat" 2>/dev/null || true; done |
      awk -v n="$name" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print n, t + 0 }'
    case $name in
      nginx | ingestd | redis | achievd)
        for p in $pids; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
          awk -v n="$name" '{ w += $2 } END { print "~" n, w + 0 }'
        ;;
    esac
  done
  awk '$1 == "cpu" { print "@machine", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# cpu_report LABEL BEFORE T0 [CLIENT_CPU_S]: the {"phase":"cpu"} line from a snapshot taken at T0 to now.
# A component started after BEFORE (achievd for a catch-up) counts from zero.
cpu_report() {
  local label=$1 before=$2 t0=$3 client=${4:-0}
  { echo "$before"; echo ---; cpu_snapshot; } | awk -v l="$label" -v hz="$(getconf CLK_TCK)" \
    -v wall="$(echo "$(now) - $t0" | bc)" -v client="$client" '
      $1 == "---" { after = 1; next }
      !after { b[$1] = $2; next }
      $1 == "@machine" { machine = ($2 - b[$1]) / hz; next }
      /^~/ { v = $2 - b[$1]; if (v < 0) v = $2; w[substr($1, 2)] = v / 1e9; wnames[++nw] = substr($1, 2); next }
      { v = $2 - b[$1]; if (v < 0) v = $2; d[$1] = v / hz; names[++n] = $1; stack += d[$1] }
      END {
        printf "{\"phase\":\"cpu\",\"label\":\"%s\",\"wall_s\":%.2f,\"cpu_s\":{", l, wall
        for (i = 1; i <= n; i++) printf "%s\"%s\":%.2f", (i > 1 ? "," : ""), names[i], d[names[i]]
        printf "},\"runq_wait_s\":{"
        for (i = 1; i <= nw; i++) printf "%s\"%s\":%.2f", (i > 1 ? "," : ""), wnames[i], w[wnames[i]]
        other = (machine - stack - client) / wall
        printf "},\"stack_cpu_s\":%.2f,\"client_cpu_s\":%.2f,\"machine_busy_s\":%.2f,\"other_cores\":%.3f}\n",
          stack, client, machine, other
      }' | tee -a "$RESULTS"
  local other
  other=$(jq -s -r --arg l "$label" '[.[] | select(.phase == "cpu" and .label == $l)] | last | .other_cores * 100 | round' "$RESULTS")
  if [ "$other" -gt 15 ]; then
    log "warning: other processes used ~${other}% of a core during $label: the machine is not quiet"
  fi
}

# group_state: "ENTRIES_READ LAG PENDING LAST_DELIVERED_ID" of achievd's consumer group ("-" for a missing value:
# Redis gives no lag when it cannot compute it).
group_state() {
  redis-cli --no-auth-warning -u "$REDIS_URL" XINFO GROUPS "$STREAM" 2>/dev/null | paste - - | awk -F'\t' -v grp="$ACHIEVD_GROUP_NAME" '
    $1 == "name" { g = $2 }
    g == grp && $1 == "entries-read" { r = $2 }
    g == grp && $1 == "lag" { l = $2 }
    g == grp && $1 == "pending" { p = $2 }
    g == grp && $1 == "last-delivered-id" { d = $2 }
    END { printf "%s %s %s %s\n", r == "" ? "-" : r, l == "" ? "-" : l, p == "" ? "-" : p, d == "" ? "-" : d }'
}

# group_done READ LAG PENDING DELIVERED: whether the group has read and acknowledged the whole stream (without a
# lag from Redis: its last delivered id is the stream's last one).
group_done() {
  [ "$3" = 0 ] || return 1
  [ "$2" = 0 ] && return 0
  [ "$2" = - ] || return 1
  [ "$4" = "$(redis-cli --no-auth-warning -u "$REDIS_URL" XINFO STREAM "$STREAM" 2>/dev/null | paste - - |
    awk -F'\t' '$1 == "last-generated-id" { print $2 }')" ]
}

# metric NAME...: values of achievd's /metrics from one scrape (they were copied together), space-separated,
# null for an absent one.
metric() {
  curl -s --max-time 2 "$ACHIEVD_URL/metrics" 2>/dev/null | awk -v names="$*" '
    BEGIN { n = split(names, want, " ") }
    { v[$1] = $2 }
    END { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), (want[i] in v ? v[want[i]] : "null"); print "" }' ||
    echo null
}

achievd_pid() { head -n 1 "$STACK_DIR/run/achievd.pid" 2>/dev/null | tr -dc '0-9'; }

stop_achievd() {
  local pid
  pid=$(achievd_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "warning: achievd $pid ignored SIGTERM for 20 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# start_achievd [VAR=value...]: as scripts/stack.sh starts it (its environment is stack.env on top of ours, so
# ACHIEVD_* of ours reach it), with these settings on top, then wait for /health.
start_achievd() {
  (
    set -a
    # shellcheck disable=SC1091
    . "$STACK_DIR/stack.env"
    set +a
    # shellcheck disable=SC2163 # the arguments are VAR=value
    [ $# -eq 0 ] || export "$@"
    cd "$STACK_DIR"
    exec setsid "$BIN_DIR/achievd"
  ) </dev/null 8>&- 9>&- >>"$STACK_DIR/logs/achievd.log" 2>&1 &
  echo $! >"$STACK_DIR/run/achievd.pid"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null --max-time 1 "$ACHIEVD_URL/health" 2>/dev/null && return 0
    sleep 0.1
  done
  die "achievd did not answer /health within 10 s (see $STACK_DIR/logs/achievd.log)"
}

# wait_idle LABEL MAX_S: until achievd has read and acknowledged the whole stream and written its pending forum
# writes, twice in a row 1.2 s apart (the metrics are copied once a second, so one reading may be stale).
# Prints nothing; warns when MAX_S passes first.
wait_idle() {
  local t0=$SECONDS st ok=0
  while [ $((SECONDS - t0)) -lt "$2" ]; do
    read -r -a st <<<"$(group_state)"
    if group_done "${st[@]}" && [ "$(metric achievd_pending_writes achievd_stream_lag)" = "0 0" ]; then
      ok=$((ok + 1))
      [ "$ok" -lt 2 ] || return 0
      sleep 1.2
      continue
    fi
    ok=0
    sleep 0.5
  done
  log "warning: achievd was not idle $2 s after $1"
}

# run_load LABEL ARGS...: one achievd_bench run bounded by the time left; its JSON lines go to stdout and
# RESULTS, followed by a {"phase":"cpu"} line.
run_load() {
  local label=$1 left before t0 max_s
  shift
  left=$(remaining)
  max_s=$((left > 130 ? 120 : left - 10))
  log "--- $label"
  before=$(cpu_snapshot)
  t0=$(now)
  timeout --kill-after=5 "$left" "$BENCH" --url "$URL" --servers "$STACK_DIR/servers.txt" --mix "$MIX" \
    --max-seconds "$max_s" --e2e-timeout "$max_s" --label "$label" "$@" | tee -a "$RESULTS" ||
    log "warning: $label did not complete cleanly (see above)"
  cpu_report "$label" "$before" "$t0" \
    "$(jq -s -r --arg l "$label" '[.[] | select(.phase == "ingest" and .label == $l)] | last | .client_cpu_s // 0' "$RESULTS")"
}

# catchup LABEL EVENTS [VAR=value...]: start achievd (with these settings) on the backlog its group has in the
# stream, EVENTS events, and time it (see the header). Prints the {"phase":"catchup"}, "cpu", "wait",
# "redis_commands" and "perf" lines.
catchup() {
  local label=$1 expected=$2 before t_start t_first="" t_done="" t_forum="" st read0 tid t pid sampler perf_pid=""
  log "--- $label"
  read -r -a st <<<"$(group_state)"
  read0=${st[0]}
  local lag0=${st[1]}
  redis-cli --no-auth-warning -u "$REDIS_URL" CONFIG RESETSTAT >/dev/null
  t_start=$(now)
  shift 2
  start_achievd "$@"
  pid=$(achievd_pid)
  before=$(cpu_snapshot)
  local t_cpu
  t_cpu=$(now)
  # achievd's threads: the loop thread (pid) and the pipeline thread that reads, evaluates and writes.
  tid=""
  for _ in $(seq 1 50); do
    for t in /proc/"$pid"/task/*; do
      [ "${t##*/}" = "$pid" ] || tid=${t##*/}
    done
    [ -n "$tid" ] && break
    sleep 0.1
  done
  "$SAMPLER" --seconds "$(remaining)" --interval-ms 5 --label "$label" --port "redis=$REDIS_PORT" \
    --port "mariadb=$MARIADB_PORT" --port "clickhouse=$CLICKHOUSE_PORT" "achievd:$pid:${tid:-$pid}" \
    "redis:$REDIS_PID:$REDIS_PID" >"$STACK_DIR/wait.jsonl" &
  sampler=$!
  BG_PIDS+=("$sampler")
  if [ "$PERF" = 1 ]; then
    perf record -q -F 499 -p "$pid" -o "$STACK_DIR/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    BG_PIDS+=("$perf_pid")
  fi
  local polls=0 pw pending_max=0 rss_max=0 rss
  while :; do
    read -r -a st <<<"$(group_state)"
    if [ -z "$t_first" ] && [ "${st[0]}" != "$read0" ]; then t_first=$(now); fi
    # Once a second: achievd's pending forum writes and its RSS, for their peaks.
    if [ $((polls++ % 5)) = 0 ]; then
      pw=$(metric achievd_pending_writes)
      [ "${pw%.*}" = null ] || [ "${pw%.*}" -le "$pending_max" ] || pending_max=${pw%.*}
      rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ "${rss:-0}" -le "$rss_max" ] || rss_max=$rss
    fi
    if group_done "${st[@]}"; then
      t_done=$(now)
      break
    fi
    if [ $((LIMIT - SECONDS)) -le 10 ]; then
      log "warning: BENCH_TIME_LIMIT: $label stopped before achievd caught up (group: ${st[*]})"
      break
    fi
    sleep 0.2
  done
  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  [ -z "$perf_pid" ] || { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; }
  cpu_report "$label" "$before" "$t_cpu"
  tee -a "$RESULTS" <"$STACK_DIR/wait.jsonl"
  redis-cli --no-auth-warning -u "$REDIS_URL" INFO commandstats | tr -d '\r' | awk -F'[:,=]' -v l="$label" '
      /^cmdstat_/ { sub(/^cmdstat_/, "", $1); c[$1] = $3; u[$1] = $5; n[++k] = $1 }
      END {
        printf "{\"phase\":\"redis_commands\",\"label\":\"%s\",\"usec_by_command\":{", l
        for (i = 1; i <= k; i++) printf "%s\"%s\":{\"calls\":%d,\"usec\":%d}", (i > 1 ? "," : ""), n[i], c[n[i]], u[n[i]]
        printf "}}\n"
      }' | jq -c '.usec_by_command |= (to_entries | sort_by(-.value.usec) | .[:8] | from_entries)' | tee -a "$RESULTS"
  if [ -n "$perf_pid" ] && [ -s "$STACK_DIR/perf.data" ]; then
    perf report -i "$STACK_DIR/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1.5 2>/dev/null |
      awk -v l="$label" '
        /^ *[0-9.]+%/ { pct = $1; sub(/%/, "", pct); dso = $2; $1 = ""; $2 = ""; $3 = ""; sym = $0
                        gsub(/^ +| +$/, "", sym); sub(/ +- +-$/, "", sym); gsub(/["\\]/, "", sym)
                        out = out (n++ ? "," : "") sprintf("{\"self_pct\":%s,\"dso\":\"%s\",\"symbol\":\"%s\"}", pct, dso, sym) }
        END { printf "{\"phase\":\"perf\",\"label\":\"%s\",\"top\":[%s]}\n", l, out }' | tee -a "$RESULTS"
  fi
  # The forum writes of the catch-up: until achievd has none pending, in a copy of the metrics made after it
  # evaluated every event (they are copied together once a second).
  local m
  for _ in $(seq 1 1200); do
    read -r -a m <<<"$(metric achievd_events_total achievd_pending_writes)"
    if [ "${m[0]}" != null ] && [ "${m[0]%.*}" -ge "$expected" ] && [ "${m[1]}" = 0 ]; then
      t_forum=$(now)
      break
    fi
    [ $((LIMIT - SECONDS)) -gt 10 ] || break
    sleep 0.1
  done
  sleep 1.2
  local events batches
  read -r events batches <<<"$(metric achievd_events_total achievd_batches_total)"
  jq -n -c --arg l "$label" --arg settings "$*" --argjson t0 "$t_start" --argjson t1 "${t_first:-null}" --argjson t2 "${t_done:-null}" \
    --argjson t3 "${t_forum:-null}" --argjson events "$events" --argjson batches "$batches" \
    --argjson entries "${lag0/-/null}" \
    --argjson checkpoints "$(metric achievd_checkpoints_total)" --argjson progress "$(metric achievd_progress_writes_total)" \
    --argjson unlocks "$(metric achievd_unlocks_total)" --argjson players "$(metric achievd_players)" \
    --argjson rss "$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo null)" \
    --argjson pending_max "$pending_max" --argjson rss_max "$rss_max" '
    def r(n): if . == null then null else . * n | round / n end;
    ($t2 != null and $t1 != null and $t2 > $t1) as $ok |
    {phase: "catchup", label: $l, settings: $settings, complete: ($t2 != null), entries_backlog: $entries, events: $events, batches: $batches,
     start_to_first_read_s: (if $t1 then $t1 - $t0 | r(1000) else null end),
     seconds: (if $ok then $t2 - $t1 | r(1000) else null end),
     events_per_s: (if $ok and $events != null then $events / ($t2 - $t1) | r(10) else null end),
     events_per_s_from_start: (if $t2 != null and $events != null then $events / ($t2 - $t0) | r(10) else null end),
     forum_written_s: (if $t3 != null and $t1 != null then $t3 - $t1 | r(1000) else null end),
     checkpoints: $checkpoints, progress_writes: $progress, unlocks: $unlocks,
     progress_writes_per_event: (if $events and $events > 0 and $progress != null then $progress / $events | r(100) else null end),
     players: $players, vm_hwm_kb: $rss, vm_rss_max_kb: $rss_max, pending_writes_max: $pending_max}' |
    tee -a "$RESULTS"
}

# lag_watch FILE: achievd's group lag every second (entries not yet read), one line each, until killed.
lag_watch() {
  while :; do
    group_state | awk '{ print $2 }'
    sleep 1
  done >"$1"
}

log "starting a stack in $STACK_DIR (binaries from $BIN_DIR)"
# INGEST_SERVER_BYTES_PER_S=0: its simulated servers send at ingest's maximum, past a game server's budget: the
# budget (a per-server policy) is off for this bench, which measures achievd against what the pipeline can carry.
INGEST_SERVER_BYTES_PER_S=0 MOHSTATS_BIN_DIR=$BIN_DIR timeout "$(remaining)" "$SRC_DIR/scripts/stack.sh" up "$STACK_DIR" --port 0 >&2
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a
state_port() { sed -n "s/^$1=//p" "$STACK_DIR/state.env"; }
REDIS_PORT=$(state_port REDIS_PORT)
MARIADB_PORT=$(state_port MARIADB_PORT)
CLICKHOUSE_PORT=$(state_port CLICKHOUSE_HTTP_PORT)
case $TARGET in
  front) URL=$MOHSTATS_URL ;;
  ingestd) URL=$INGESTD_URL ;;
esac
STREAM=${INGEST_STREAM:-mohstats:events}
ACHIEVD_GROUP_NAME=$(achievd_setting ACHIEVD_GROUP)
REDIS_PID=$(head -n 1 "$STACK_DIR/run/redis.pid" | tr -dc '0-9')

log "creating $SERVERS game servers and the probes' server"
create_servers $((SERVERS + 1)) >"$STACK_DIR/all-servers.txt"
head -n "$SERVERS" "$STACK_DIR/all-servers.txt" >"$STACK_DIR/servers.txt"
tail -n 1 "$STACK_DIR/all-servers.txt" >"$STACK_DIR/probe-server.txt"

# Warm-up, achievd running: token caches, connection pools, ClickHouse's first parts, achievd's catalogue and
# its group; not reported.
timeout "$(remaining)" "$BENCH" --url "$URL" --servers "$STACK_DIR/servers.txt" --mix "$MIX" \
  --clickhouse "$CLICKHOUSE_URL" --events 5000 --members "$MEMBERS" --seed 99 --e2e-timeout 30 >/dev/null 2>&1 ||
  log "warning: the warm-up run failed"
wait_idle warm-up 60

# (1) the ingest pipeline's maximum rate, achievd stopped; then achievd catching up on the same events.
stop_achievd
settle
run_load ingest-max --events "$EVENTS" --members "$MEMBERS" --seed 1 --clickhouse "$CLICKHOUSE_URL"
settle
catchup catchup "$(field ingest-max ingest .events_accepted)"
wait_idle catchup 60

# Diagnostics: the same round with achievd started with other settings; then achievd as configured again.
if [ -n "$DIAG" ]; then
  n=0
  IFS=';' read -r -a diag_sets <<<"$DIAG"
  for set_ in "${diag_sets[@]}"; do
    n=$((n + 1))
    read -r -a settings <<<"$set_"
    stop_achievd
    settle
    run_load "ingest-diag-$n" --events "$EVENTS" --members "$MEMBERS" --seed $((10 + n)) --clickhouse "$CLICKHOUSE_URL"
    settle
    catchup "catchup-diag-$n" "$(field "ingest-diag-$n" ingest .events_accepted)" "${settings[@]}"
    wait_idle "catchup-diag-$n" 60
  done
  stop_achievd
  start_achievd
  wait_idle restart 60
fi

# (2) half of (1)'s end-to-end rate with probes.
half=$(field ingest-max ingest '.e2e.events_per_s / 2 | floor')
if [ "$half" != null ] && [ "$half" -gt 0 ]; then
  settle
  lag_watch "$STACK_DIR/lag.txt" &
  lag_pid=$!
  BG_PIDS+=("$lag_pid")
  run_load half-load --events $((half * LATENCY_S)) --rate "$half" --members "$MEMBERS" --seed 2 \
    --probes "$PROBES" --probe-server "$STACK_DIR/probe-server.txt" --probe-member-base "$PROBE_MEMBER_BASE" \
    --mariadb "$MARIADB_URL" --probe-timeout "$(($(remaining) > 200 ? 120 : 30))"
  kill "$lag_pid" 2>/dev/null || true
  wait "$lag_pid" 2>/dev/null || true
  awk -v l=half-load '$1 ~ /^[0-9]+$/ { v[++n] = $1; if ($1 > m) m = $1 }
    END { printf "{\"phase\":\"lag\",\"label\":\"%s\",\"samples\":%d,\"max_entries\":%d,\"last_entries\":%d}\n", l, n, m, n ? v[n] : 0 }' \
    "$STACK_DIR/lag.txt" | tee -a "$RESULTS"
  t0=$SECONDS
  wait_idle half-load "$(($(remaining) > 200 ? 180 : 30))"
  log "achievd idle $((SECONDS - t0)) s after the half-load run"
else
  log "warning: no end-to-end rate from ingest-max: no half-load run"
fi

# (2b) A diagnostic: the same at half of achievd's own catch-up rate, a load it keeps up with: the latency
# achievd's design gives when it is not behind.
half_a=$(field catchup catchup '.events_per_s / 2 | floor')
if [ "$half_a" != null ] && [ "$half_a" -gt 0 ]; then
  settle
  lag_watch "$STACK_DIR/lag.txt" &
  lag_pid=$!
  BG_PIDS+=("$lag_pid")
  run_load half-achievd-load --events $((half_a * LATENCY_S)) --rate "$half_a" --members "$MEMBERS" --seed 4 \
    --probes "$PROBES" --probe-server "$STACK_DIR/probe-server.txt" \
    --probe-member-base $((PROBE_MEMBER_BASE + 1000000)) --mariadb "$MARIADB_URL" \
    --probe-timeout "$(($(remaining) > 200 ? 120 : 30))"
  kill "$lag_pid" 2>/dev/null || true
  wait "$lag_pid" 2>/dev/null || true
  awk -v l=half-achievd-load '$1 ~ /^[0-9]+$/ { v[++n] = $1; if ($1 > m) m = $1 }
    END { printf "{\"phase\":\"lag\",\"label\":\"%s\",\"samples\":%d,\"max_entries\":%d,\"last_entries\":%d}\n", l, n, m, n ? v[n] : 0 }' \
    "$STACK_DIR/lag.txt" | tee -a "$RESULTS"
  wait_idle half-achievd-load "$(($(remaining) > 200 ? 180 : 30))"
fi

# (3) 50,000 members: a second catch-up, then achievd's peak RSS.
stop_achievd
settle
run_load rss-ingest --events "$RSS_EVENTS" --members "$RSS_MEMBERS" --seed 3 --clickhouse "$CLICKHOUSE_URL"
settle
catchup catchup-rss "$(field rss-ingest ingest .events_accepted)"
wait_idle catchup-rss 60
pid=$(achievd_pid)
jq -n -c --argjson hwm "$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")" \
  --argjson rss "$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")" \
  --argjson players "$(metric achievd_players)" --argjson pending "$(metric achievd_pending_writes)" \
  --argjson distinct "$(field rss-ingest ingest .distinct_members)" \
  --argjson state_keys "$(redis-cli --no-auth-warning -u "$REDIS_URL" HLEN "$STREAM:$ACHIEVD_GROUP_NAME:state")" \
  --argjson state_bytes "$(redis-cli --no-auth-warning -u "$REDIS_URL" MEMORY USAGE "$STREAM:$ACHIEVD_GROUP_NAME:state" SAMPLES 0)" \
  '{phase: "rss", label: "rss", members_in_events: $distinct, players_in_memory: $players,
    vm_hwm_mb: ($hwm / 1024 * 10 | round / 10), vm_rss_mb: ($rss / 1024 * 10 | round / 10), pending_writes: $pending,
    redis_state_keys: $state_keys, redis_state_mb: ($state_bytes / 1048576 * 10 | round / 10)}' | tee -a "$RESULTS"

ram_gb=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
jq -s -c --arg cpu "$cpu" --argjson nproc "$(nproc)" --argjson ram "$ram_gb" \
  --arg rev "$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)" --arg build "$BUILD_TYPE" \
  --arg target "$TARGET" --argjson servers "$SERVERS" --argjson members "$MEMBERS" --arg mix "$MIX" \
  --argjson seconds "$SECONDS" --argjson flush_ms "$(achievd_setting ACHIEVD_FLUSH_MS)" \
  --argjson read_count "$(achievd_setting ACHIEVD_READ_COUNT)" \
  --argjson write_rows "$(achievd_setting ACHIEVD_WRITE_ROWS)" '
  def pick($l; $p): [.[] | select(.label == $l and .phase == $p)] | last;
  def r3: if . == null then null else . * 1000 | round / 1000 end;
  def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b | r3 end;
  (pick("ingest-max"; "ingest")) as $im | ($im.e2e.events_per_s) as $ingest |
  (pick("rss-ingest"; "ingest").e2e.events_per_s) as $ingest50 |
  (pick("catchup"; "catchup").events_per_s) as $ach | (pick("catchup-rss"; "catchup").events_per_s) as $ach50 |
  (pick("half-load"; "probe")) as $pr | (pick("rss"; "rss")) as $rss |
  . as $all |
  {
    phase: "summary", revision: $rev, build: $build, target: $target, servers: $servers, members: $members,
    mix: $mix, seconds: $seconds,
    machine: {nproc: $nproc, cpu: $cpu, ram_gb: $ram},
    achievd_settings: {ACHIEVD_FLUSH_MS: $flush_ms, ACHIEVD_READ_COUNT: $read_count, ACHIEVD_WRITE_ROWS: $write_rows},
    ingest_max_events_per_s: {e2e: $ingest, accepted: $im.events_per_s, e2e_50k_members: $ingest50,
                              e2e_diag: [.[] | select(.phase == "ingest" and (.label | startswith("ingest-diag"))) | .e2e.events_per_s]},
    achievd_events_per_s: {catchup: $ach, catchup_50k_members: $ach50},
    # Goal 1: achievd (alone, catching up) / the ingest pipeline at its maximum (alone), same events.
    ratio: ratio($ach; $ingest), ratio_to_accepted: ratio($ach; $im.events_per_s),
    # The same with the 50,000 members of (3): that catch-up against its own fill run.
    ratio_50k_members: ratio($ach50; $ingest50),
    # Diagnostics: achievd with other settings, against its own fill run.
    diagnostics: [.[] | select(.phase == "catchup" and (.label | startswith("catchup-diag"))) | .label as $l |
                  ($l | sub("catchup"; "ingest")) as $il | ($all | pick($il; "ingest").e2e.events_per_s) as $e |
                  {settings, events_per_s, ratio: ratio(.events_per_s; $e), progress_writes_per_event,
                   pipeline_thread_shares: ([$all[] | select(.label == $l and .phase == "wait" and .thread == "achievd")]
                                            | last | .shares? // null)}],
    # What a second of each costs: CPU microseconds per event, whole stack (achievd alone runs only achievd,
    # Redis and MariaDB; ingest runs nginx, ingestd, Redis and ClickHouse).
    cpu_us_per_event: {
      ingest: ((pick("ingest-max"; "cpu")) as $c | if $c and $im.events_accepted > 0 then
                 ($c.cpu_s | with_entries(select(.value > 0) | .value = (.value / $im.events_accepted * 1e6 | round))) else null end),
      achievd: ((pick("catchup"; "cpu")) as $c | (pick("catchup"; "catchup").events) as $n | if $c and $n > 0 then
                 ($c.cpu_s | with_entries(select(.value > 0) | .value = (.value / $n * 1e6 | round))) else null end)},
    achievd_pipeline_thread_shares: ([.[] | select(.label == "catchup" and .phase == "wait" and .thread == "achievd")]
                                     | last | .shares? // null),
    progress_writes_per_event: pick("catchup"; "catchup").progress_writes_per_event,
    half_load_events_per_s: {target: pick("half-load"; "ingest").rate_target, accepted: pick("half-load"; "ingest").events_per_s},
    # Goal 2: 202 -> unlock row at half the maximum load.
    unlock_latency_ms: ($pr.unlock_latency_ms // null), probes_found: $pr.found, probes: $pr.probes,
    achievd_lag_entries_during_half_load: {max: pick("half-load"; "lag").max_entries, last: pick("half-load"; "lag").last_entries},
    # The diagnostic at half of the own rate of achievd (it keeps up): what its flush cadence and steps give.
    at_half_achievd_rate: {events_per_s: pick("half-achievd-load"; "ingest").rate_target,
                           unlock_latency_ms: (pick("half-achievd-load"; "probe").unlock_latency_ms // null),
                           probes_found: pick("half-achievd-load"; "probe").found,
                           lag_max_entries: pick("half-achievd-load"; "lag").max_entries},
    # Goal 3
    rss_mb_at_50k_players: $rss.vm_hwm_mb, players_in_memory: $rss.players_in_memory,
    pending_writes_max_at_50k: pick("catchup-rss"; "catchup").pending_writes_max,
    other_cpu_cores_max: ([$all[] | select(.phase == "cpu") | .other_cores] | max | r3),
    goals: {ratio_ge_1: ($ach != null and $ingest != null and $ach >= $ingest),
            p99_unlock_le_2s_at_half_load: ($pr.unlock_latency_ms.p99 != null and $pr.found == $pr.probes and $pr.unlock_latency_ms.p99 <= 2000),
            rss_le_200mb_at_50k_players: ($rss.vm_hwm_mb != null and $rss.players_in_memory >= 50000 and $rss.vm_hwm_mb <= 200)}
  }' "$RESULTS" | tee -a "$RESULTS"
log "done in ${SECONDS}s"
