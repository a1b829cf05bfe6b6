# shellcheck shell=bash
# Helpers for fault tests: ingestd processes started by the test itself (so it can kill and restart them at will),
# load through the real ingest API with tests/ingest_load, stopping and restarting the stack's servers, and the
# end-to-end check that every acknowledged event is in ClickHouse exactly once.
#
# Source it from a test (`. "$(dirname "$0")/fault_lib.sh"`); it sources ../integration/lib.sh (stack_up, check,
# finish, ...). The stack runs --db-only: the test's own ingestd processes replace the stack's daemons.

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
export LC_ALL=C

LOAD_BIN=$MOHSTATS_BIN_DIR/tests/ingest_load
INGESTD_BIN=$MOHSTATS_BIN_DIR/ingestd
declare -A INGESTD_PIDS=() INGESTD_PORTS=() INGESTD_ENVS=()
LOAD_PIDS=()
LOAD_RUNS=0
LOAD_SHOWN=0
STREAM=${INGEST_STREAM:-mohstats:events}

# Stop what this file started, then let lib.sh stop the stack and print the summary.
_fault_on_exit() {
  local rc=$?
  local name pid
  [ ${#LOAD_PIDS[@]} -gt 0 ] && kill -TERM "${LOAD_PIDS[@]}" 2>/dev/null
  for name in "${!INGESTD_PIDS[@]}"; do
    pid=${INGESTD_PIDS[$name]}
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  sleep 0.2
  (exit "$rc")
  _lib_on_exit
}
trap _fault_on_exit EXIT

# ingestd_start NAME [VAR=value...]: start ingestd NAME with the stack's settings plus the given ones (kept for
# restarts), on its own port, with its own spool directory; wait until /health answers. Log: logs/NAME.log.
ingestd_start() {
  local name=$1
  shift
  [ $# -gt 0 ] && INGESTD_ENVS[$name]="$*"
  [ -n "${INGESTD_PORTS[$name]:-}" ] || INGESTD_PORTS[$name]=$(free_port)
  local port=${INGESTD_PORTS[$name]}
  # Started from a subshell, so it is not a job of ours: bash would report every SIGKILL of a job as noise.
  # shellcheck disable=SC2086
  (
    (
      set -a
      . "$STACK_DIR/stack.env"
      set +a
      # No byte budget: these tests post one server's load far beyond what a game server sends (up to 5,000
      # events/s); the budget has its own test in test_ingest.
      export INGEST_SERVER_BYTES_PER_S=0
      export INGESTD_URL=http://127.0.0.1:$port SPOOL_DIR=$STACK_DIR/spool-$name ${INGESTD_ENVS[$name]:-}
      cd "$STACK_DIR" && exec "$INGESTD_BIN"
    ) </dev/null >>"$STACK_DIR/logs/$name.log" 2>&1 &
    echo $! >"$STACK_DIR/run/test-$name.pid"
  )
  INGESTD_PIDS[$name]=$(cat "$STACK_DIR/run/test-$name.pid")
  if ! retry 20 curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$port/health"; then
    fail "ingestd $name did not start (see logs/$name.log)"
    tail -n 20 "$STACK_DIR/logs/$name.log"
    return 1
  fi
}

# ingestd_url NAME: the base URL of ingestd NAME.
ingestd_url() {
  echo "http://127.0.0.1:${INGESTD_PORTS[$1]}"
}

# ingestd_signal NAME SIGNAL: signal ingestd NAME and wait until it is gone (SIGTERM: clean shutdown).
ingestd_signal() {
  local pid=${INGESTD_PIDS[$1]}
  kill -"$2" "$pid" 2>/dev/null || return 0
  local i
  for i in $(seq 1 300); do
    pid_running "$pid" || break
    sleep 0.1
  done
  INGESTD_PIDS[$1]=""
}

# register_server NAME: register a game server through ingestd NAME; sets TOKEN.
register_server() {
  local out
  out=$(curl -fsS --max-time 10 -X POST "$(ingestd_url "$1")/api/v1/servers/register" \
    -H 'Content-Type: application/json' -d '{"name": "Fault test", "ip_address": "127.0.0.1", "port": 12203}')
  TOKEN=$(jq -r .token <<<"$out")
  [ -n "$TOKEN" ] && [ "$TOKEN" != null ]
}

# writers_up: the layout of the writer tests. A --db-only stack, one ingestd accepting batches (api, with
# INGESTD_ROLE=api) and two writer-only ingestds (w1, w2); a game server registered through api (TOKEN).
writers_up() {
  stack_up --db-only || return 1
  ingestd_start api INGESTD_ROLE=api || return 1
  ingestd_start w1 INGESTD_ROLE=writer || return 1
  ingestd_start w2 INGESTD_ROLE=writer || return 1
  check "a game server registers" register_server api
  return 0 # a failed registration is reported, and the test goes on as before
}

# load_start NAME [ingest_load options...]: post numbered events to ingestd NAME in the background. Each run
# numbers its events from its own range and writes acked.N / unknown.N in the stack directory. Several runs may
# go at once.
load_start() {
  local name=$1
  shift
  LOAD_RUNS=$((LOAD_RUNS + 1))
  "$LOAD_BIN" --url "$(ingestd_url "$name")" --token "$TOKEN" --start $((LOAD_RUNS * 1000000000)) \
    --acked "$STACK_DIR/acked.$LOAD_RUNS" --unknown "$STACK_DIR/unknown.$LOAD_RUNS" "$@" \
    >"$STACK_DIR/load.$LOAD_RUNS.out" 2>&1 &
  LOAD_PIDS+=($!)
}

# load_stop: end the load runs now (they finish cleanly: their files are complete).
load_stop() {
  [ ${#LOAD_PIDS[@]} -gt 0 ] && kill -TERM "${LOAD_PIDS[@]}" 2>/dev/null
  load_wait
}

# load_wait: wait for the load runs to end and show their summaries.
load_wait() {
  [ ${#LOAD_PIDS[@]} -gt 0 ] && wait "${LOAD_PIDS[@]}"
  LOAD_PIDS=()
  while [ "$LOAD_SHOWN" -lt "$LOAD_RUNS" ]; do
    LOAD_SHOWN=$((LOAD_SHOWN + 1))
    sed 's/^/  load: /' "$STACK_DIR/load.$LOAD_SHOWN.out"
  done
}

# server_pid NAME: the pid of the stack's server NAME (clickhouse, redis, mariadb, postgres).
server_pid() {
  local f=$STACK_DIR/run/$1.pid
  [ "$1" = postgres ] && f=$STACK_DIR/postgres/postmaster.pid
  head -n 1 "$f" 2>/dev/null | tr -dc '0-9'
}

# server_stop NAME: stop the stack's server NAME (a clean shutdown) and wait until it is gone. PostgreSQL gets
# SIGINT, its fast shutdown: SIGTERM is its smart shutdown, which waits for every client to leave, and authd's
# pooled connections never do; the stop then ran into the SIGKILL below after 60 s, and the next start could
# find the killed postmaster's lock file still claimed (CI, ASan build: "lock file postmaster.pid already exists").
server_stop() {
  local pid i sig=TERM
  [ "$1" = postgres ] && sig=INT
  pid=$(server_pid "$1")
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 1 600); do
    pid_running "$pid" || return 0
    sleep 0.1
  done
  pid_kill "$pid"
}

# pid_kill PID: SIGKILL PID and wait until it is gone.
pid_kill() {
  local i
  kill -KILL "$1" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    pid_running "$1" || return 0
    sleep 0.1
  done
}

# server_kill NAME: SIGKILL the stack's server NAME (a crash) and wait until it is gone.
server_kill() {
  pid_kill "$(server_pid "$1")"
}

# servers_up: start whatever server of the stack is not running (after server_stop / server_kill).
servers_up() {
  "$STACK_SH" up "$STACK_DIR" --db-only >/dev/null 2>&1 || "$STACK_SH" up "$STACK_DIR" --db-only
}

# stream_group_field FIELD [GROUP]: a field of consumer group GROUP (default the writers', clickhouse) in XINFO
# GROUPS (pending, lag, last-delivered-id ...).
stream_group_field() {
  redis_cmd XINFO GROUPS "$STREAM" | awk -v f="$1" -v g="${2:-clickhouse}" '
    prev == "name" { in_group = ($0 == g) }
    in_group && prev == f { print; exit }
    { prev = $0 }'
}

# writer_pending NAME: how many stream entries writer NAME holds (read and not acknowledged: its pending count in
# XINFO CONSUMERS). Its consumer name is the writer's default, host-pid (ingestd/writer_lifetime.c).
writer_pending() {
  redis_cmd XINFO CONSUMERS "$STREAM" clickhouse | awk -v c="$(hostname)-${INGESTD_PIDS[$1]}" '
    prev == "name" { mine = ($0 == c) }
    mine && prev == "pending" { print; found = 1; exit }
    { prev = $0 }
    END { if (!found) print 0 }'
}

# stream_field FIELD: a field of XINFO STREAM (length, last-generated-id, ...).
stream_field() {
  redis_cmd XINFO STREAM "$STREAM" | awk -v f="$1" 'prev == f { print; exit } { prev = $0 }'
}

# caught_up: the writers have everything: every entry delivered (Redis 7.0's "lag" is not reliable after a
# restart, so compare ids) and none pending, spools empty.
caught_up() {
  local last
  last=$(stream_field last-generated-id)
  [ -n "$last" ] && [ "$(stream_group_field last-delivered-id)" = "$last" ] || return 1
  [ "$(stream_group_field pending)" = 0 ] || return 1
  ! compgen -G "$STACK_DIR/spool-*/spool-*.log" >/dev/null
}

# wait_caught_up SECONDS: wait until caught_up; prints how long it took.
wait_caught_up() {
  local t0=$SECONDS
  if retry "$1" caught_up; then
    echo "  caught up after $((SECONDS - t0)) s"
    return 0
  fi
  echo "  not caught up after $1 s: XLEN $(redis_cmd XLEN "$STREAM"), pending $(stream_group_field pending)," \
    "delivered up to $(stream_group_field last-delivered-id) of $(stream_field last-generated-id)," \
    "spool files: $(ls "$STACK_DIR"/spool-*/spool-* 2>/dev/null | tr '\n' ' ')"
  stall_report
  return 1
}

# stall_report: who holds the pending entries and what each writer was doing, for a failure to explain itself:
# the pending entries per consumer, the oldest ones with their idle time (ms) and delivery count, and the
# writers' counters of failed inserts and of waits for running inserts or older entries.
stall_report() {
  local name
  echo "  pending per consumer: $(redis_cmd XPENDING "$STREAM" clickhouse | tail -n +4 | paste -sd ' ')"
  echo "  oldest pending (id, consumer, idle ms, deliveries): $(redis_cmd XPENDING "$STREAM" clickhouse - + 5 |
    paste -sd ' ')"
  for name in "${!INGESTD_PIDS[@]}"; do
    [ -n "${INGESTD_PIDS[$name]}" ] || continue
    echo "  ingestd $name: $(curl -s --max-time 2 "$(ingestd_url "$name")/metrics" |
      grep -E '^mohstats_writer_(insert_errors_total|check_waits_total|entries_taken_over_total|duplicates_skipped_total)' |
      paste -sd ' ')"
  done
}

# insert_running: a writer insert is running in ClickHouse right now.
insert_running() {
  [ "$(curl -s --max-time 2 --data-binary \
    "SELECT count() FROM system.processes WHERE query_id LIKE 'mohstats-ins-%' AND query NOT LIKE '%system.processes%'" \
    "$CLICKHOUSE_URL")" -gt 0 ] 2>/dev/null
}

# wait_insert_running SECONDS: poll closely until a writer insert runs.
wait_insert_running() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    insert_running && return 0
    sleep 0.02
  done
  return 1
}

# metric_sum NAME: the sum of a metric's series over every ingestd of the test that is running.
metric_sum() {
  local name total=0 v
  for name in "${!INGESTD_PIDS[@]}"; do
    [ -n "${INGESTD_PIDS[$name]}" ] || continue
    v=$(curl -s --max-time 2 "$(ingestd_url "$name")/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }')
    total=$(awk -v a="$total" -v b="$v" 'BEGIN { print a + b }')
  done
  echo "$total"
}

# stop_all_cleanly: SIGTERM every ingestd of the test; each must exit 0 within its grace time, and no log may hold
# a sanitizer report (the sanitizer build reports leaks at exit).
stop_all_cleanly() {
  local name pid rc
  for name in "${!INGESTD_PIDS[@]}"; do
    pid=${INGESTD_PIDS[$name]}
    [ -n "$pid" ] || continue
    ingestd_signal "$name" TERM
    check "ingestd $name stopped cleanly on SIGTERM" grep -q "INFO stopped" <(tail -n 5 "$STACK_DIR/logs/$name.log")
  done
  check_eq "no sanitizer reports in the ingestd logs" "" \
    "$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$STACK_DIR"/logs/{api,a,b,w1,w2}.log 2>/dev/null)"
}

# verify_stored_once [WHERE]: every acknowledged event of the load is in raw_events (the rows WHERE selects: a test
# that also stores events of its own leaves them out), none twice, nothing that was not sent.
verify_stored_once() {
  local d=$STACK_DIR
  cat "$d"/acked.* | sort >"$d/acked.all"
  cat "$d"/acked.* "$d"/unknown.* | sort >"$d/sent.all"
  if ! ch_query "SELECT visitParamExtractUInt(raw, 'seq') FROM raw_events ${1:+WHERE $1}" | sort >"$d/stored.all"; then
    fail "could not read the events back from ClickHouse"
    return
  fi
  uniq "$d/stored.all" >"$d/stored.uniq"
  local acked stored dups missing extra
  acked=$(wc -l <"$d/acked.all")
  stored=$(wc -l <"$d/stored.all")
  dups=$((stored - $(wc -l <"$d/stored.uniq")))
  missing=$(comm -23 "$d/acked.all" "$d/stored.uniq" | wc -l)
  extra=$(comm -13 "$d/sent.all" "$d/stored.uniq" | wc -l)
  echo "  acknowledged $acked events, unknown outcome $(cat "$d"/unknown.* | wc -l), stored $stored rows"
  check "there was load ($acked events acknowledged)" test "$acked" -gt 0
  check_eq "every acknowledged event is in ClickHouse (missing)" 0 "$missing"
  check_eq "no event is in ClickHouse twice (duplicated)" 0 "$dups"
  check_eq "ClickHouse holds nothing that was not sent" 0 "$extra"
  if [ "$missing" -gt 0 ]; then
    echo "  first missing: $(comm -23 "$d/acked.all" "$d/stored.uniq" | head -5 | tr '\n' ' ')"
  fi
  if [ "$dups" -gt 0 ]; then
    echo "  first duplicated: $(uniq -d "$d/stored.all" | head -5 | tr '\n' ' ')"
    ch_query "SELECT toString(batch_id), count(), uniqExact(event_id) FROM raw_events GROUP BY batch_id HAVING count() > uniqExact(event_id) LIMIT 5"
  fi
}

# verify_exactly_once: verify_stored_once of every row, then every ingestd stops cleanly.
verify_exactly_once() {
  verify_stored_once
  stop_all_cleanly
}
