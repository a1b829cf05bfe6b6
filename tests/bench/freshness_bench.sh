#!/usr/bin/env bash
# Freshness benchmark (issue 19, item 5): how long from ingestd's 202 to an answer that counts the event, while
# simulated game servers send at half of ingest's maximum rate, and what keeping the leaderboard boards fresh
# costs ClickHouse.
#
# A throwaway stack; BENCH_SERVERS simulated servers send BENCH_RATE events/s for the whole run (ingest_bench,
# keep-alive, the tracker's events). Meanwhile a probe server sends BENCH_PROBES marked events, one at a time: a
# kill by a player of its own (a new one every probe: first the player is unknown, then on every answer) with a
# weapon, a map and a means of death (MOD_TELEFRAG: the simulated load makes no telefrags, so the probe players
# alone are on that leaderboard) that only the probe uses. After each 202 one poller per endpoint family asks
# until the answer counts the event: leaderboard (telefrags, today), player profile, match page, map page,
# weapon page. Every answer was asked for (so cached) before the event. A "stored" line gives the time to the
# writer's freshness entry (the event in ClickHouse), which no answer can beat.
#
# The board maintenance: queryd's boards re-read the players each insert touched (queryd/board_delta.c). The
# queryd polled is one of our own beside the stack's (stopped), with log_queries=1, so that ClickHouse's CPU
# time for the deltas' queries (system.query_log, tagged "queryd boarddelta") can be summed; reported per second
# of wall time, i.e. as a fraction of one core.
#
# Output: one JSON line per endpoint family {"phase":"freshness",...} (seconds from 202 to visible: p50, p99,
# max; "late" probes not visible within BENCH_POLL_LIMIT_S), a {"phase":"board_maintenance"} line (and one
# {"phase":"board_maintenance_part"} line per kind of delta query: CPU, rows and files per query) and a
# {"phase":"summary"} line with the machine's load and the goals (p99 <= 2 s; maintenance < 10% of one core).
# Before the probes, queryd's own goals are measured while the load runs ({"phase":"queryd_under_load"}: warm
# and cold leaderboard, a warm profile, the forum's 38-request page warm and cold; goals warm p99 <= 2 ms, cold
# leaderboard p99 <= 50 ms, page <= 150 ms), on the few thousand players of the load, not on 10 million events.
# Polling is curl + jq in a shell loop: a figure is late by up to the loop's turn (~20-60 ms, more on a busy
# machine).
#
# Usage: tests/bench/freshness_bench.sh
# Environment: MOHSTATS_BIN_DIR   CMake build directory (default build; not the sanitizer build)
#              BENCH_RATE         events/s of the simulated load (default 12000: half of the ~24,000 events/s
#                                 tests/bench/ingest_bench.sh measured keep-alive on the reference machine;
#                                 measure yours and pass half of it)
#              BENCH_SERVERS      simulated game servers (default 64)
#              BENCH_PROBES       marked events (default 20)
#              BENCH_LOAD_S       seconds of simulated load (default 70 + 5 per probe; the probes stop early
#                                 when it ends)
#              BENCH_POLL_LIMIT_S give up on one probe's family after this long (default 10)
#              BENCH_TIME_LIMIT   seconds for everything (default 600)
#              KEEP_STACK=1       leave the stack running (it says where)
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-build}
[[ $BIN_DIR = /* ]] || BIN_DIR=$SRC_DIR/$BIN_DIR
RATE=${BENCH_RATE:-12000}
SERVERS=${BENCH_SERVERS:-64}
PROBES=${BENCH_PROBES:-20}
POLL_LIMIT=${BENCH_POLL_LIMIT_S:-10}
LIMIT=${BENCH_TIME_LIMIT:-600}
BENCH=$BIN_DIR/tests/ingest_bench
QTOOL=$BIN_DIR/tests/queryd_bench
# stored: not an answer but the moment the writer said the event is in ClickHouse (its freshness stream entry,
# common/fresh_stream.h): what the answers cannot be faster than; the rest is queryd's part.
FAMILIES="stored leaderboard profile match map weapon"

# shellcheck source=tests/bench/bench_lib.sh
. "$SRC_DIR/tests/bench/bench_lib.sh"
bench_check_build "$BENCH" "$QTOOL"
bench_stack_dir
bench_on_exit() {
  [ -z "${LOAD_PID:-}" ] || kill "$LOAD_PID" 2>/dev/null || true
  [ -z "${BQ:-}" ] || kill "$BQ" 2>/dev/null || true
  wait 2>/dev/null || true
}

log "starting a stack in $STACK_DIR (binaries from $BIN_DIR)"
MOHSTATS_BIN_DIR=$BIN_DIR timeout "$(remaining)" "$SRC_DIR/scripts/stack.sh" up "$STACK_DIR" --port 0 >&2
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

# Our queryd in place of the stack's, its ClickHouse queries logged (the deltas' cost is read from the log).
kill -TERM "$(cat "$STACK_DIR/run/queryd.pid")" 2>/dev/null || true
port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
Q=http://127.0.0.1:$port/api/v1
CLICKHOUSE_URL="$CLICKHOUSE_URL&log_queries=1" QUERYD_URL="http://127.0.0.1:$port" LOG_LEVEL=warn \
  "$BIN_DIR/queryd" >>"$STACK_DIR/logs/queryd-bench.log" 2>&1 &
BQ=$!
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && break
  sleep 0.05
done

log "creating $SERVERS game servers and the probe's"
create_servers "$SERVERS" >"$STACK_DIR/servers.txt"
out=$("$BIN_DIR/ingestd" servers create --name probe --ip 127.0.0.1 --port 19999 2>&1)
PROBE_SID=$(sed -n 's/^server_id: *//p' <<<"$out")
PROBE_TOKEN=$(sed -n 's/^token: *//p' <<<"$out")
[ -n "$PROBE_TOKEN" ] || die "no probe server: $out"

MATCH=match_probe$$ SESSION=sess_probe$$ MAP=probe/fresh_$$ WEAPON=ProbeGun$$ T=0
# post_kill GUID: one marked kill (the probe player kills a victim of its own); prints the HTTP status.
post_kill() {
  T=$((T + 1))
  curl -s -o /dev/null -w '%{http_code}' -X POST "$INGESTD_URL/api/v1/ingest/events" \
    -H 'Content-Type: application/json' -H "X-Server-Token: $PROBE_TOKEN" --data-binary "[{\"type\": \"player_kill\",
    \"match_id\": \"$MATCH\", \"session_id\": \"$SESSION\", \"timestamp\": \"$T\", \"map_name\": \"$MAP\",
    \"attacker_name\": \"Probe $1\", \"attacker_guid\": \"$1\", \"attacker_team\": \"american\",
    \"victim_name\": \"Target\", \"victim_guid\": \"probe_target$$\", \"victim_team\": \"german\",
    \"weapon\": \"$WEAPON\", \"hitloc\": \"head\", \"mod\": \"MOD_TELEFRAG\", \"damage\": \"100.000\"}]"
}

# shows FAMILY GUID KILLS: does the family's answer count the probe player's KILLS-th kill (the map and weapon
# pages: the probe's KILLS-th kill over all)?
shows() {
  local v
  case $1 in
  stored)
    redis-cli --no-auth-warning -u "$REDIS_URL" XREVRANGE fresh + - COUNT 50 2>/dev/null | grep -qx "$2" && return 0
    return 1
    ;;
  leaderboard) v=$(curl -s "$Q/stats/leaderboard/global?stat=telefrags&period=day&limit=100" |
    jq -r --arg g "$2" '.players[]? | select(.player_id == $g) | .value' 2>/dev/null) ;;
  profile) v=$(curl -s "$Q/stats/player/$2" | jq -r '.kills // empty' 2>/dev/null) ;;
  match) v=$(curl -s "$Q/stats/match/$MID" |
    jq -r --arg g "$2" '.scoreboard[]? | select(.player_id == $g) | .kills' 2>/dev/null) ;;
  map) v=$(curl -s "$Q/stats/map/$(jq -rn --arg m "$MAP" '$m | @uri')" | jq -r '.kills // empty' 2>/dev/null) ;;
  weapon) v=$(curl -s "$Q/stats/weapon/$WEAPON" | jq -r '.kills // empty' 2>/dev/null) ;;
  esac
  [ "$v" = "$3" ]
}

# The simulated load, for the whole run.
log "simulated load: $RATE events/s from $SERVERS servers"
# ingest_bench prepares its batches before sending: sized for the probes (about 5 s each, with margin).
LOAD_S=${BENCH_LOAD_S:-$((70 + PROBES * 5))}
"$BENCH" --url "$MOHSTATS_URL" --servers "$STACK_DIR/servers.txt" --mode keepalive --rate "$RATE" \
  --events $((RATE * LOAD_S)) --max-seconds "$LOAD_S" --seed 5 --label freshness-load \
  >"$STACK_DIR/load.jsonl" 2>"$STACK_DIR/logs/load.log" &
LOAD_PID=$!
for _ in $(seq 120); do
  [ "$(curl -s "$CLICKHOUSE_URL" --data-binary 'SELECT count() FROM raw_events')" -gt 0 ] 2>/dev/null && break
  sleep 1
done
sleep 5 # the writer's batches reach their steady size

# The probe's match, map and weapon exist once its first kill is in.
first=probe_p0_$$
[ "$(post_kill "$first")" = 202 ] || die "the probe's first event was not accepted"
MID=""
for _ in $(seq 100); do
  MID=$(curl -s "$Q/stats/matches?server_id=$PROBE_SID&offset=0&limit=1" | jq -r '.[0].match_id // empty' 2>/dev/null)
  [ -n "$MID" ] && break
  sleep 0.2
done
[ -n "$MID" ] || die "the probe's match never showed in /stats/matches"

# queryd's own goals while the load runs (tests/bench/queryd_bench.c; warm: the same answer again and again,
# re-computed after each insert that changed it; cold: a new answer each time): one line per measure.
top=$(curl -s "$Q/stats/leaderboard/global?stat=kills&limit=1" | jq -r '.players[0].player_id // empty')
qmeasure() {
  local name=$1 out
  shift
  out=$("$QTOOL" "$@") || true
  read -r n p50 p99 max errs <<<"$out"
  jq -nc --arg m "$name" --argjson n "${n:-0}" --argjson a "${p50:-null}" --argjson b "${p99:-null}" \
    --argjson c "${max:-null}" --argjson e "${errs:-0}" \
    '{phase: "queryd_under_load", measure: $m, requests: $n, p50_ms: $a, p99_ms: $b, max_ms: $c, errors: $e}' |
    tee -a "$RESULTS"
}
BASE=http://127.0.0.1:$port
qmeasure leaderboard_warm lat "$BASE" 2000 "/api/v1/stats/leaderboard/global?stat=kills&limit=25&offset=0"
qmeasure leaderboard_cold lat "$BASE" 200 "/api/v1/stats/leaderboard/global?stat=kills&limit=25&offset=%d"
[ -z "$top" ] || qmeasure profile_warm lat "$BASE" 2000 "/api/v1/stats/player/$top"
qmeasure page_warm page "$BASE" 50 all warm
qmeasure page_cold page "$BASE" 20 all cold

sample_ch_cpu() {
  sleep 8 # system.query_log is flushed every 7.5 s
  curl -s "$CLICKHOUSE_URL" --data-binary "SELECT count(), sum(query_duration_ms) / 1000,
      sum(arraySum(arrayMap((n, v) -> if(n IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds'), v, 0),
        ProfileEvents.Names, ProfileEvents.Values))) / 1e6
    FROM system.query_log
    WHERE type = 2 AND query LIKE '%queryd boarddelta:%'
      AND event_time >= toDateTime($1) AND event_time < toDateTime($2)
    FORMAT TSV"
}

t_start=$(date +%s)
cpu_before=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
: >"$STACK_DIR/probes.txt"
for i in $(seq 1 "$PROBES"); do
  guid=probe_p${i}_$$
  # Every answer asked for before the event (the player's profile answers 404; the others count the probes
  # before): what a reader had on screen.
  for f in $FAMILIES; do shows "$f" "$guid" x || true; done
  status=$(post_kill "$guid")
  t0=$EPOCHREALTIME
  [ "$status" = 202 ] || { log "warning: probe $i not accepted ($status)"; continue; }
  for f in $FAMILIES; do
    case $f in map | weapon) want=$((i + 1)) ;; *) want=1 ;; esac
    (
      while :; do
        el=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
        if shows "$f" "$guid" "$want"; then
          echo "$f $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')"
          break
        fi
        if awk -v e="$el" -v l="$POLL_LIMIT" 'BEGIN { exit !(e > l) }'; then
          echo "$f late"
          break
        fi
        sleep 0.01
      done
    ) >>"$STACK_DIR/probes.txt" &
  done
  wait $(jobs -p | grep -v "^$LOAD_PID\$" | grep -v "^$BQ\$") 2>/dev/null || true
  [ $((LIMIT - SECONDS)) -gt 60 ] || { log "warning: BENCH_TIME_LIMIT near: $i probes"; break; }
  kill -0 "$LOAD_PID" 2>/dev/null || { log "warning: the simulated load ended after $i probes"; break; }
done
t_end=$(date +%s)
cpu_after=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
kill "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=""

for f in $FAMILIES; do
  late=$(awk -v f="$f" '$1 == f && $2 == "late"' "$STACK_DIR/probes.txt" | wc -l)
  awk -v f="$f" '$1 == f && $2 != "late" { print $2 }' "$STACK_DIR/probes.txt" | sort -n |
    awk -v f="$f" -v late="$late" '{ v[++n] = $1 } END {
      printf "{\"phase\":\"freshness\",\"family\":\"%s\",\"probes\":%d,\"late\":%d,", f, n + late, late
      if (n) printf "\"p50_s\":%s,\"p99_s\":%s,\"max_s\":%s}\n", v[int((n + 1) / 2)], v[int(n * 0.99 + 0.999)], v[n]
      else printf "\"p50_s\":null,\"p99_s\":null,\"max_s\":null}\n"
    }' | tee -a "$RESULTS"
done

wall=$((t_end - t_start))
read -r nq dur cpu < <(sample_ch_cpu "$t_start" "$t_end") || true
# ClickHouse versions without per-query CPU counters in query_log: the queries' wall time stands in (an upper
# bound while they run on one thread each).
[ -n "${cpu:-}" ] || cpu=$dur
deltas=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^queryd_board_deltas_total\{result="ok"\}/ { print $2 }')
players=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^queryd_board_delta_players_total/ { print $2 }')
jq -nc --argjson wall "$wall" --argjson nq "${nq:-0}" --argjson dur "${dur:-0}" --argjson cpu "${cpu:-0}" \
  --argjson deltas "${deltas:-0}" --argjson players "${players:-0}" \
  '{phase: "board_maintenance", wall_s: $wall, delta_queries: $nq, deltas: $deltas, players_reread: $players,
    clickhouse_cpu_s: $cpu, clickhouse_query_s: $dur, core_fraction: (if $wall > 0 then $cpu / $wall else null end)}' |
  tee -a "$RESULTS"

# Where a delta's ClickHouse work goes, per kind of query (queryd/board_delta.c, board_sql.c), from the same log:
# queries, and per query CPU, rows read and files opened (a file per column of each part read).
curl -s "$CLICKHOUSE_URL" --data-binary "SELECT
    multiIf(query LIKE '%FROM player_daily%', 'daily', query LIKE '%FROM player_names%', 'names',
            query LIKE '%FROM player_match%', 'match', 'players_of_matches') AS part,
    toUInt32(count()) AS queries,
    round(avg(arraySum(arrayMap((n, v) -> if(n IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds'), v, 0),
      ProfileEvents.Names, ProfileEvents.Values))) / 1000, 1) AS cpu_ms,
    round(avg(read_rows)) AS rows_read, round(avg(arraySum(arrayMap((n, v) -> if(n = 'FileOpen', v, 0),
      ProfileEvents.Names, ProfileEvents.Values)))) AS files_opened
  FROM system.query_log
  WHERE type = 2 AND query LIKE '%queryd boarddelta:%'
    AND event_time >= toDateTime($t_start) AND event_time < toDateTime($t_end)
  GROUP BY part ORDER BY part
  FORMAT JSONEachRow" | jq -c '{phase: "board_maintenance_part"} + .' | tee -a "$RESULTS" || true

hz=$(getconf CLK_TCK)
# What the load really sent while the probes ran (the load generator is stopped before it reports).
stored=$(curl -s "$CLICKHOUSE_URL" --data-binary "SELECT count() FROM raw_events
  WHERE received_at >= toDateTime($t_start) AND received_at < toDateTime($t_end) AND server_id != '$PROBE_SID'")
load=$(jq -nc --argjson n "${stored:-0}" --argjson w "$((t_end - t_start))" \
  '{stored_events_per_s: ($n / ([$w, 1] | max) | floor)}')
if [ "$(jq -r --argjson r "$RATE" '.stored_events_per_s < 0.9 * $r' <<<"$load")" = true ]; then
  log "warning: only $(jq -r .stored_events_per_s <<<"$load") of $RATE events/s were stored while the probes ran:" \
    "the machine did not keep up (events queued in the stream), so the times include that queue"
fi
busy=$(awk -v a="$cpu_before" -v b="$cpu_after" -v hz="$hz" -v w="$wall" \
  'BEGIN { printf "%.2f", (b - a) / hz / (w > 0 ? w : 1) }')
jq -s -c --argjson busy "$busy" --argjson rate "$RATE" --arg uptime "$(uptime)" --argjson load "${load:-null}" '
  (map(select(.phase == "freshness" and .family != "stored"))) as $f |
  (map(select(.phase == "board_maintenance")) | last) as $m |
  {phase: "summary", offered_events_per_s: $rate, load: $load, machine_busy_cores: $busy,
   machine_cores: '"$(nproc)"', uptime: $uptime,
   p99_s: ($f | map({(.family): .p99_s}) | add), late: ($f | map(.late) | add),
   queryd_p99_ms: (map(select(.phase == "queryd_under_load")) | map({(.measure): .p99_ms}) | add),
   board_maintenance_core_fraction: $m.core_fraction,
   load_kept_up: (($load.stored_events_per_s // 0) >= 0.9 * $rate),
   goals: {queryd_warm_p99_2ms: ([map(select(.phase == "queryd_under_load" and (.measure | endswith("_warm")) and
             (.measure | startswith("page") | not)))[] | .p99_ms <= 2] | all),
           cold_leaderboard_p99_50ms: ([map(select(.measure == "leaderboard_cold"))[] | .p99_ms <= 50] | all),
           page_150ms: ([map(select(.measure | startswith("page_")?))[] | .max_ms <= 150] | all),
           p99_within_2s: ($f | all(.p99_s != null and .p99_s <= 2 and .late == 0)),
           maintenance_under_10pct_core: ($m.core_fraction != null and $m.core_fraction < 0.1)}}' "$RESULTS" |
  tee -a "$RESULTS"
