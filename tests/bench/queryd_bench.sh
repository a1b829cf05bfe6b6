#!/usr/bin/env bash
# queryd benchmark (issue #4, item 10): a throwaway stack, EVENTS synthetic events (default 10 million) loaded
# into raw_events (the materialized views fill the aggregates as with real ingest), then:
#   - p50/p99 of a leaderboard, a player profile and a match detail, cold (every request a different answer,
#     so nothing is cached in Redis) and warm (one answer, cached in Redis);
#   - the forum's leaderboard page: 38 leaderboard requests in parallel, cold and warm;
#   - leaderboards rank a board (queryd/board.c) that queryd keeps in memory: "answer not cached" rows are
#     answered from a built board; "everything cold" rows are the first request(s) after a queryd restart
#     with Redis flushed, asked once the queryd is ready (QUERY_BOARD_WARM=1 builds the boards before it says
#     so; the start-to-ready time is its own row); the "QUERY_BOARD_WARM=0" rows are the same first requests
#     to a queryd that builds a board on demand, so they include building it;
#   - ClickHouse's own time for the queries behind the cold requests (replayed from system.query_log), to
#     compare with queryd's cold time.
#
# Usage: tests/bench/queryd_bench.sh [BUILD_DIR]       (default: build)
# Environment: EVENTS (10000000), COLD (200 requests per cold run), WARM (1000), FIRST (5 restarts per
#              everything-cold measure), KEEP_STACK=1
#
# The data: 20 servers, 2,000 players, one match per 500 events over 60 days, a tracker-like event mix (15 %
# kills, 50 % distance, jumps, crouches, weapon changes, spawns, ladders); a quarter of the servers send
# gameflow events (match_start / match_end with a winner), the others send none, like trackers at HEAD.
set -uo pipefail
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(cd "${1:-$SRC_DIR/build}" && pwd)
EVENTS=${EVENTS:-10000000}
COLD=${COLD:-200}
WARM=${WARM:-1000}
FIRST=${FIRST:-5}
MATCHES=$((EVENTS / 500))
DIR=$(mktemp -d /tmp/queryd-bench.XXXXXX)
TOOL=$BIN/tests/queryd_bench

cleanup() {
  [ -n "${BQ:-}" ] && kill "$BQ" 2>/dev/null
  if [ "${KEEP_STACK:-0}" = 1 ]; then
    echo "stack kept in $DIR (stop: $SRC_DIR/scripts/stack.sh down $DIR)"
  else
    "$SRC_DIR/scripts/stack.sh" down "$DIR" >/dev/null 2>&1
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT

MOHSTATS_BIN_DIR=$BIN "$SRC_DIR/scripts/stack.sh" up "$DIR" --port 0 >"$DIR.up.log" 2>&1 || {
  cat "$DIR.up.log"
  exit 1
}
rm -f "$DIR.up.log"
set -a
. "$DIR/stack.env"
set +a
ch() { curl -sS --fail-with-body --data-binary "$1" "$CLICKHOUSE_URL"; }

echo "loading $EVENTS events ($MATCHES matches)..."
t0=$SECONDS
for ((off = 0; off < EVENTS; off += 250000)); do
  rows=$((EVENTS - off < 250000 ? EVENTS - off : 250000))
  ch "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, received_ms, game_time, session_id,
    match_key, map_name, event_type, type_sent, known_type, actor_guid, actor_name, actor_team, actor_x, actor_y,
    actor_z, actor_stance, target_guid, target_name, target_team, target_x, target_y, target_z, weapon,
    means_of_death, hitloc, distance, team, gametype, raw)
  WITH
      number + $off AS n, intDiv(n, 500) AS m, n % 500 AS i, (n * 13) % 20 AS e, m % 20 AS srv,
      (n * 7) % 16 AS ka, ((n * 11 + 3) % 16 + if((n * 11 + 3) % 16 = (n * 7) % 16, 1, 0)) % 16 AS kt,
      (m * 7 + ka * 131) % 2000 + 1 AS pa, (m * 7 + kt * 131) % 2000 + 1 AS pt,
      srv < 5 AS gameflow,
      multiIf(gameflow AND i = 0, 'match_start', gameflow AND i = 499, 'match_end', e < 3, 'player_kill',
              e < 13, 'distance', e < 15, 'weapon_change', e < 17, 'jump', e = 17, 'crouch', e = 18, 'player_spawn',
              'ladder_mount') AS et,
      et IN ('match_start', 'match_end') AS flow, et = 'player_kill' AS k,
      arrayElement(['dm/mohdm1', 'dm/mohdm2', 'dm/mohdm6', 'obj/obj_team1', 'obj/obj_team2', 'obj/obj_team4',
                    'lib/mp_bridge', 'dm/mohdm4'], m % 8 + 1) AS map
  SELECT
      generateUUIDv4(), generateUUIDv4(), concat('bench-server-', toString(srv)),
      toDateTime(toUInt32(now()) - 86400 * 60 + intDiv(m * 86400 * 60, $MATCHES) + intDiv(i, 4)),
      toUInt16((n * 7) % 1000), i * 0.25, concat('sess_b', toString(m)), concat('mb', toString(m)),
      if(gameflow, map, ''), et, et, 1,
      if(flow, '', toString(pa)), if(flow, '', concat('Player', toString(pa))),
      if(flow, '', if(ka % 2 = 0, 'american', 'german')),
      toFloat32(((n * 37) % 4000) - 2000), toFloat32(((n * 53) % 4000) - 2000), toFloat32(0), 'stand',
      if(k, toString(pt), ''), if(k, concat('Player', toString(pt)), ''),
      if(k, if(kt % 2 = 0, 'american', 'german'), ''),
      toFloat32(((n * 41) % 4000) - 2000), toFloat32(((n * 59) % 4000) - 2000), toFloat32(0),
      if(k OR et = 'weapon_change', arrayElement(['Thompson', 'MP40', 'Kar98k', 'M1 Garand', 'BAR', 'StG 44',
          'Colt 45', 'Frag Grenade'], n % 8 + 1), ''),
      if(k, 'MOD_BULLET', ''),
      if(k, arrayElement(['head', 'torso_upper', 'torso_mid', 'l_leg_lower', 'r_arm_upper', 'pelvis'], n % 6 + 1), ''),
      if(et = 'distance', 100., NULL), if(et = 'match_end', if(m % 2 = 0, 'allies', 'axis'), ''),
      if(et = 'match_start', if(startsWith(map, 'dm'), '1', '4'), ''), '{}'
  FROM numbers($rows)" || exit 1
done
echo "loaded in $((SECONDS - t0)) s: $(ch 'SELECT count() FROM raw_events') raw events"

# A queryd of our own, directly (no nginx), whose ClickHouse queries land in system.query_log.
port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768)) # below the ephemeral range
BASE=http://127.0.0.1:$port
# WARM_BOARDS: QUERY_BOARD_WARM of the queryd started (1, the default: boards built at start, /ready waits
# for them; 0: a board is built when a request first needs one). READY_MS collects start-to-ready times.
WARM_BOARDS=1
READY_MS=""
start_queryd() {
  local t0=$EPOCHREALTIME
  CLICKHOUSE_URL="$CLICKHOUSE_URL&log_queries=1" QUERYD_URL="http://127.0.0.1:$port" LOG_LEVEL=warn \
    QUERY_BOARD_WARM=$WARM_BOARDS "$BIN/queryd" >>"$DIR/logs/queryd-bench.log" 2>&1 &
  BQ=$!
  local probe=health
  [ "$WARM_BOARDS" = 1 ] && probe=ready
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/$probe")" = 200 ] && break
    sleep 0.01
  done
  [ "$WARM_BOARDS" = 1 ] && READY_MS+="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) * 1000 }') "
  redis-cli --no-auth-warning -u "$CACHE_REDIS_URL" FLUSHDB >/dev/null # the answer cache only
}
# Everything cold: a queryd just started and an empty Redis. With boards kept warm, the queryd is asked once
# it says it is ready, as a load balancer would; without, its first leaderboard request builds the board.
restart_queryd() {
  kill "$BQ" 2>/dev/null
  wait "$BQ" 2>/dev/null
  start_queryd
}
start_queryd

declare -A R
run() { R[$1]=$("$TOOL" "${@:2}"); }
# FIRST times: the first request after a restart, one line "count p50 p99 max errors" like the tool's.
first() {
  local k=$1 n=$2 vals="" errs=0 out
  shift 2
  for ((i = 0; i < n; i++)); do
    restart_queryd
    out=$("$TOOL" "$@")
    vals+="$(awk '{ print $2 }' <<<"$out") "
    errs=$((errs + $(awk '{ print $5 }' <<<"$out")))
  done
  R[$k]=$(tr ' ' '\n' <<<"$vals" | sed '/^$/d' | sort -n | awk -v e="$errs" '{ v[NR] = $1 }
    END { p50 = v[int((NR + 1) / 2)]; printf "%d %.2f %.2f %.2f %d\n", NR, p50, v[NR], v[NR], e }')
}
run lb_cold lat "$BASE" "$COLD" "/api/v1/stats/leaderboard/global?stat=kills&limit=25&offset=%d"
run lb_warm lat "$BASE" "$WARM" "/api/v1/stats/leaderboard/global?stat=kills&limit=25&offset=0"
run pl_cold lat "$BASE" "$COLD" "/api/v1/stats/player/1%d"
run pl_warm lat "$BASE" "$WARM" "/api/v1/stats/player/10"
run ma_cold lat "$BASE" "$COLD" "/api/v1/stats/match/mb1%d"
run ma_warm lat "$BASE" "$WARM" "/api/v1/stats/match/mb10"
run page_cold page "$BASE" 20 all cold
run page_warm page "$BASE" 50 all warm
first lb_first "$FIRST" lat "$BASE" 1 "/api/v1/stats/leaderboard/global?stat=kills&limit=25&offset=0"
first page_first "$FIRST" page "$BASE" 1 all cold
R[ready]=$(tr ' ' '\n' <<<"$READY_MS" | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 }
  END { printf "%d %.2f %.2f %.2f 0\n", NR, v[int((NR + 1) / 2)], v[NR], v[NR] }')
WARM_BOARDS=0
first lb_lazy "$FIRST" lat "$BASE" 1 "/api/v1/stats/leaderboard/global?stat=kills&limit=25&offset=0"
first page_lazy "$FIRST" page "$BASE" 1 all cold
sleep 9 # system.query_log is flushed every 7.5 s
run ch_board chtime "$CLICKHOUSE_URL" "board:all:"
run ch_pl chtime "$CLICKHOUSE_URL" "p:profile:"
run ch_ma chtime "$CLICKHOUSE_URL" "match:mb"

field() { awk -v f="$2" '{ print $f }' <<<"${R[$1]}"; }
printf '\n%-44s %8s %9s %9s %9s %7s\n' "measure (ms)" requests p50 p99 max errors
for k in lb_cold lb_warm lb_first pl_cold pl_warm ma_cold ma_warm page_cold page_warm page_first ready lb_lazy \
  page_lazy ch_board ch_pl ch_ma; do
  case $k in
  lb_cold) label="leaderboard, answer not cached" ;; lb_warm) label="leaderboard, warm" ;;
  lb_first) label="leaderboard, everything cold (queryd restarted)" ;;
  ready) label="queryd start to ready (5 boards built)" ;;
  lb_lazy) label="leaderboard, restarted, QUERY_BOARD_WARM=0" ;;
  page_lazy) label="38-request page, restarted, QUERY_BOARD_WARM=0" ;;
  pl_cold) label="player profile, cold" ;; pl_warm) label="player profile, warm" ;;
  ma_cold) label="match detail, cold" ;; ma_warm) label="match detail, warm" ;;
  page_cold) label="38-request page, answers not cached" ;; page_warm) label="38-request page, warm" ;;
  page_first) label="38-request page, everything cold" ;;
  ch_board) label="ClickHouse own: board (all time)" ;; ch_pl) label="ClickHouse own: player profile" ;;
  ch_ma) label="ClickHouse own: match detail" ;;
  esac
  printf '%-44s %8s %9s %9s %9s %7s\n' "$label" $(field $k 1) $(field $k 2) $(field $k 3) $(field $k 4) $(field $k 5)
done
ratio() { awk -v a="$(field "$1" 2)" -v b="$(field "$2" 2)" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
printf '\nqueryd cold / ClickHouse own (p50): leaderboard (board build) %s, profile %s, match %s\n' \
  "$(ratio lb_lazy ch_board)" "$(ratio pl_cold ch_pl)" "$(ratio ma_cold ch_ma)"
printf 'goals: warm p99 <= 2 ms; cold leaderboard p99 <= 50 ms; 38-request page <= 150 ms; cold <= 1.2 x ClickHouse\n'
