#!/usr/bin/env bash
# How soon a match's ratings are visible after its end (issue 21 item 2: "within 10 s of a match's end"), while
# the ingest pipeline runs at load and across a ratingd restart: demo_world --fast plays MATCHES matches through the
# front door of a fresh stack as fast as it takes them, while this script polls rating_changes every 0.2 s and
# notes when each match's row first shows; the lag is that moment less the match_end's receive time (end_ms, the
# moment ingestd accepted it). It is split at the moment the match_end itself was first seen in raw_events (the
# writer's part; polled the same way) and the rest (ratingd's: RATING_SETTLE_MS, its poll, its step). Halfway
# through, ratingd is stopped for DOWN_S seconds and started again (scripts/stack.sh up, which takes its time).
#
# Usage: tests/bench/ratings_latency.sh [MATCHES] [DOWN_S]   (defaults 200 and 5; MOHSTATS_BIN_DIR as for the tests)
# Prints p50, p90, p99 and the maximum of the lag before the restart, of the matches that ended while ratingd was
# down or in the 30 s after it came back, and of the rest after it; with the load average and the commit.
set -euo pipefail
MATCHES=${1:-200}
DOWN_S=${2:-5}
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-$SRC_DIR/build}
COMMIT=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIR=$(mktemp -d /tmp/mohstats-ratings-latency.XXXXXX)
demo_pid=""
cleanup() {
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null
  "$SRC_DIR/scripts/stack.sh" down "$DIR" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
INGEST_SERVER_BYTES_PER_S=0 INGEST_LARGE_BYTES_PER_S=0 "$SRC_DIR/scripts/stack.sh" up "$DIR" --port 0 >/dev/null
set -a
. "$DIR/stack.env"
set +a
q() { curl -sS --fail-with-body --data-binary "$1" "$CLICKHOUSE_URL"; }
now_ms() { awk -v t="$EPOCHREALTIME" 'BEGIN { printf "%.0f", t * 1000 }'; }

"$BIN_DIR/demo_world" --url "$MOHSTATS_URL" --fast --matches "$MATCHES" >"$DIR/logs/demo.log" 2>&1 &
demo_pid=$!
declare -A seen=() stored=()
: >"$DIR/lags.tsv"
# poll: note every match_end newly in raw_events and every rated match row not seen yet, with the time first seen;
# lags.tsv: match, end_ms, rated seen (ms), match_end seen in raw_events (ms).
poll() {
  local t key end
  t=$(now_ms)
  while read -r key; do
    [ -n "$key" ] && [ -z "${stored[$key]:-}" ] && stored[$key]=$t
  done < <(q "SELECT DISTINCT match_key FROM raw_events WHERE event_type = 'match_end' FORMAT TabSeparated")
  while read -r key end; do
    [ -n "$key" ] && [ -z "${seen[$key]:-}" ] || continue
    seen[$key]=1
    printf '%s\t%s\t%s\t%s\n' "$key" "$end" "$t" "${stored[$key]:-$t}" >>"$DIR/lags.tsv"
  done < <(q "SELECT match_key, end_ms FROM rating_changes WHERE guid = '' AND rated = 1 FORMAT TabSeparated")
}
down_at=0 up_at=0
while kill -0 "$demo_pid" 2>/dev/null; do
  poll
  ended=$(sed -n 's/^demo_world: \([0-9]*\) of .* matches played$/\1/p' "$DIR/logs/demo.log" | tail -n 1)
  if [ "$down_at" = 0 ] && [ "$(q "SELECT count() FROM raw_events WHERE event_type = 'match_end'")" -ge $((MATCHES / 2)) ]; then
    down_at=$(now_ms)
    kill "$(cat "$DIR/run/ratingd.pid")"
    echo "ratingd stopped at $(date -u +%T) (${ended:-?} matches played by the last report)"
    sleep "$DOWN_S"
    "$SRC_DIR/scripts/stack.sh" up "$DIR" --port 0 >/dev/null 2>&1
    up_at=$(now_ms)
    echo "ratingd started again $(((up_at - down_at) / 1000)) s later"
  fi
  sleep 0.2
done
wait "$demo_pid" || true
demo_pid=""
# The last matches: until every match_end is rated (or 60 s).
total=$(q "SELECT uniqExact(match_key) FROM raw_events WHERE event_type = 'match_end'")
for _ in $(seq 300); do
  poll
  [ "$(wc -l <"$DIR/lags.tsv")" -ge "$total" ] && break
  sleep 0.2
done
echo "$(wc -l <"$DIR/lags.tsv") of $total ended matches seen rated; load average $(cut -d' ' -f1-3 /proc/loadavg); commit $COMMIT"
# report NAME FILTER [LAG]: percentiles of the lags (s) of the rows awk's FILTER ($2 end_ms, $3 rated seen, $4
# match_end seen in raw_events) selects; LAG is the expression (default: the whole lag, $3 - $2).
report() {
  awk -F'\t' "$2 { print (${3:-\$3 - \$2}) / 1000 }" "$DIR/lags.tsv" | sort -n |
    awk -v name="$1" 'function at(p, i) { i = int(NR * p + 0.5); return v[i < 1 ? 1 : i > NR ? NR : i] }
      { v[NR] = $1 }
      END {
        if (NR == 0) { print name ": none"; exit }
        printf "%s: %d matches, lag p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s\n", name, NR, at(0.5), at(0.9),
          at(0.99), v[NR] }'
}
report "ended over a minute before the restart" "\$2 < $down_at - 60000"
report "  of which the writer's (match_end into raw_events)" "\$2 < $down_at - 60000" "\$4 - \$2"
report "  of which ratingd's (from there to its rows)" "\$2 < $down_at - 60000" "\$3 - \$4"
report "ended in the minute before the restart" "\$2 >= $down_at - 60000 && \$2 < $down_at"
report "ended while ratingd was down (from its stop to its start again)" "\$2 >= $down_at && \$2 < $up_at"
report "ended in the 30 s after its start" "\$2 >= $up_at && \$2 < $up_at + 30000"
report "ended after that" "\$2 >= $up_at + 30000"
report "  of which the writer's" "\$2 >= $up_at + 30000" "\$4 - \$2"
report "  of which ratingd's" "\$2 >= $up_at + 30000" "\$3 - \$4"
