#!/usr/bin/env bash
# MQTT against HTTP, end to end (issue 23, item 6): a throwaway stack with the broker (stack.sh --mqtt),
# BENCH_SERVERS servers created with `ingestd servers create`, then runs that alternate, MQTT, HTTP, MQTT, HTTP...
# (BENCH_ROUNDS of each), in the same minutes on the same stack. Each run sends BENCH_BATCHES batches of 20 events
# from every server, one client per server sending them one after another, as the tracker does: over MQTT one
# connection per server publishing at QoS 0 (mosquitto_pub -l), over HTTP one keep-alive connection per server
# through the front door (one curl process, the batches in sequence). A run's time is from its first batch until
# ClickHouse holds all of its rows. The clients send as fast as they are answered (HTTP) or as the connection
# takes them (MQTT), far above a server's budget (INGEST_SERVER_BYTES_PER_S), which this stack turns off: the
# capacity is measured, not the budget. Prints one JSON line per run and a summary line with the rates, their ratio
# (MQTT / HTTP, each the mean of its runs) and the machine's load.
#
# Usage: tests/bench/mqtt_bench.sh
# Environment: MOHSTATS_BIN_DIR  build directory (default build; never the sanitizer build)
#              BENCH_SERVERS (default 8), BENCH_BATCHES (default 250), BENCH_ROUNDS (default 2)
#              BENCH_TIME_LIMIT  seconds for everything (default 600); KEEP_STACK=1 leaves the stack running
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-build}
[[ $BIN_DIR = /* ]] || BIN_DIR=$SRC_DIR/$BIN_DIR
SERVERS=${BENCH_SERVERS:-8}
BATCHES=${BENCH_BATCHES:-250}
ROUNDS=${BENCH_ROUNDS:-2}
LIMIT=${BENCH_TIME_LIMIT:-600}
. "$SRC_DIR/tests/bench/bench_lib.sh"
command -v mosquitto_pub >/dev/null || die "mosquitto_pub not found; run scripts/deps.sh"

DIR=$(mktemp -d /tmp/mohstats-mqtt-bench.XXXXXX)
cleanup() {
  if [ "${KEEP_STACK:-0}" = 1 ]; then
    log "stack left running in $DIR"
  else
    MOHSTATS_BIN_DIR=$BIN_DIR "$SRC_DIR/scripts/stack.sh" down "$DIR" >/dev/null 2>&1 || true
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT
export INGEST_SERVER_BYTES_PER_S=0
MOHSTATS_BIN_DIR=$BIN_DIR "$SRC_DIR/scripts/stack.sh" up "$DIR" --port 0 --mqtt >"$DIR/up.log" 2>&1 || {
  tail -n 20 "$DIR/up.log" >&2
  die "stack.sh up failed"
}
set -a
# shellcheck disable=SC1091
. "$DIR/stack.env"
set +a
# shellcheck disable=SC1091
MQTT_PORT=$(. "$DIR/state.env" && echo "$MQTT_PORT")

# One batch of 20 events as the tracker writes them: the §4.1 example (two events) ten times.
BATCH=$DIR/batch.json
body=$(sed -e 's/^\[//' -e 's/\]$//' "$SRC_DIR/tests/integration/data/wire_4_1_kill.json")
{
  printf '['
  for i in $(seq 1 10); do printf '%s%s' "$([ "$i" = 1 ] || echo ,)" "$body"; done
  printf ']\n'
} >"$BATCH"
EVENTS_PER_RUN=$((SERVERS * BATCHES * 20))
# mosquitto_pub -l sends each line as a message; curl's config sends each request in turn on one connection.
for _ in $(seq 1 "$BATCHES"); do cat "$BATCH"; done >"$DIR/batches.lines"
declare -a IDS TOKENS
for s in $(seq 1 "$SERVERS"); do
  out=$("$BIN_DIR/ingestd" servers create --name "bench $s" --ip 198.51.100.1 --port $((20000 + s)))
  IDS[s]=$(sed -n 's/^server_id: *//p' <<<"$out")
  TOKENS[s]=$(sed -n 's/^token: *//p' <<<"$out")
  {
    for b in $(seq 1 "$BATCHES"); do
      printf 'url = "%s/api/v1/ingest/events"\nheader = "X-Server-Token: %s"\nheader = "Content-Type: application/json"\n' \
        "$MOHSTATS_URL" "${TOKENS[$s]}"
      printf 'data-binary = "@%s"\noutput = "/dev/null"\n' "$BATCH"
      [ "$b" = "$BATCHES" ] || printf 'next\n'
    done
  } >"$DIR/curl.$s"
done
# The broker's logins come from ingestd's export.
for _ in $(seq 1 50); do [ "$(wc -l <"$DIR/mqtt/accounts" 2>/dev/null || echo 0)" -ge "$SERVERS" ] && break; sleep 0.2; done

total() { curl -sS --data-binary 'SELECT count() FROM raw_events' "$CLICKHOUSE_URL"; }

# run TRANSPORT: one run; prints its JSON line and sets RATE.
run() {
  local transport=$1 before t0 t1 pids=() s
  settle
  before=$(total)
  t0=$(date +%s%N)
  for s in $(seq 1 "$SERVERS"); do
    if [ "$transport" = mqtt ]; then
      mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -i "opm-game-${IDS[$s]}" -u "${IDS[$s]}" -P "${TOKENS[$s]}" \
        -t "openmohaa/events/${IDS[$s]}" -q 0 -l <"$DIR/batches.lines" &
    else
      curl -s -K "$DIR/curl.$s" &
    fi
    pids+=($!)
  done
  for s in "${pids[@]}"; do wait "$s" || die "a $transport client failed"; done
  local sent=$(($(date +%s%N) - t0))
  while [ "$(total)" -lt $((before + EVENTS_PER_RUN)) ]; do
    remaining >/dev/null
    refused=$(curl -s "$INGESTD_URL/metrics" | awk '/^mohstats_(mqtt_messages|ingest_rejected)_total/ && !/accepted/ { n += $2 } END { print n + 0 }')
    [ "$refused" = 0 ] || die "$transport: $refused batches refused (ingestd's /metrics)"
    sleep 0.05
  done
  t1=$(date +%s%N)
  [ "$(total)" = $((before + EVENTS_PER_RUN)) ] || die "$transport: $(($(total) - before)) rows for $EVENTS_PER_RUN events"
  RATE=$((EVENTS_PER_RUN * 1000000000 / (t1 - t0)))
  printf '{"phase":"%s","events":%d,"sent_s":%.2f,"end_to_end_s":%.2f,"events_per_s":%d,"load":"%s"}\n' "$transport" \
    "$EVENTS_PER_RUN" "$(awk -v n="$sent" 'BEGIN { print n / 1e9 }')" "$(awk -v n="$((t1 - t0))" 'BEGIN { print n / 1e9 }')" "$RATE" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

mqtt_sum=0 http_sum=0
for _ in $(seq 1 "$ROUNDS"); do
  run mqtt && mqtt_sum=$((mqtt_sum + RATE))
  run http && http_sum=$((http_sum + RATE))
done
printf '{"phase":"summary","commit":"%s","servers":%d,"batches":%d,"mqtt_events_per_s":%d,"http_events_per_s":%d,"ratio":%.2f,"nproc":%d,"load":"%s"}\n' \
  "$(git -C "$SRC_DIR" rev-parse --short HEAD)" "$SERVERS" "$BATCHES" $((mqtt_sum / ROUNDS)) $((http_sum / ROUNDS)) \
  "$(awk -v a="$mqtt_sum" -v b="$http_sum" 'BEGIN { print a / b }')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
