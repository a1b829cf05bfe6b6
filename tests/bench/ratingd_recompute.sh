#!/usr/bin/env bash
# How fast `ratingd recompute` rates, and what `ratingd evaluate` says about matches that skill decides (issue 21 item 5: 100,000 matches in under a minute): N synthetic finished
# matches (10 players, 42 events each; a third free-for-all, the rest objective) written straight into raw_events of
# a throwaway database-only stack, then `ratingd recompute` twice (the second run must report the same rows),
# `ratingd evaluate`, and the daemon catching up on the same matches (its rows must be the recomputation's).
#
# Usage: tests/bench/ratingd_recompute.sh [N]   (default 10000; MOHSTATS_BIN_DIR as for the tests)
#        BENCH_FILLER_EVENTS=F adds F movement events a match (distance, spread over its players and its 2 .. 598 s),
#        so that a match is as large as a real one (the demo world's have about 2,100 events: F=2058) while its
#        ratings stay the same (a player's span is already 1 .. 599 s).
# Figures are only meaningful on an otherwise idle machine.
set -euo pipefail
N=${1:-10000}
F=${BENCH_FILLER_EVENTS:-0}
PER=$((42 + F))
# Matches per INSERT: about 500,000 events, at most 2,000 matches. The stack's ClickHouse allows 1 GB a query, and
# an insert's views count in it: 1,000,000 events of 2,100-event matches went over once 0010's two views came.
CHUNK=$((500000 / PER < 2000 ? (500000 / PER > 0 ? 500000 / PER : 1) : 2000))
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-$SRC_DIR/build}
DIR=$(mktemp -d /tmp/mohstats-bench.XXXXXX)
# KEEP_STACK=1 leaves the stack running (it says where).
if [ "${KEEP_STACK:-0}" = 1 ]; then
  trap 'echo "the stack keeps running in $DIR (stop it: scripts/stack.sh down $DIR)"' EXIT
else
  trap '"$SRC_DIR/scripts/stack.sh" down "$DIR" >/dev/null 2>&1; rm -rf "$DIR"' EXIT
fi
"$SRC_DIR/scripts/stack.sh" up "$DIR" --db-only --port 0 >/dev/null
set -a
. "$DIR/stack.env"
set +a
q() { curl -sS --fail-with-body --data-binary "$1" "$CLICKHOUSE_URL"; }

# Event e of match m: 0 match_start, 41 match_end, else player p = k % 10 (0-4 Allies, 5-9 Axis) doing kind
# k / 10: 0 spawn (t = 1), 1 and 2 a kill of the player across (t = 100 + 10 p + kind), 3 a last step (t = 599).
# Players come from a pool of 300 members, so each plays about N / 30 matches. Each member has a hidden skill
# (0-99, from their GUID); the team with the higher total skill, give or take up to 80, wins.
# Events 42 and on of a match are the filler (BENCH_FILLER_EVENTS): a distance event of player e % 10.
# In chunks of CHUNK matches: the stack's ClickHouse allows 1 GB per query.
for ((from = 0; from < N; from += CHUNK)); do
  count=$((N - from < CHUNK ? N - from : CHUNK))
  q "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, received_ms, game_time, session_id,
    match_key, map_name, event_type, type_sent, known_type, actor_guid, actor_name, actor_team, target_guid,
    target_team, team, gametype, raw)
SELECT generateUUIDv4(), generateUUIDv4(), 'bench', toDateTime(1700000000 + m * 600 + toUInt64(t)), 0, t,
    concat('sess_', toString(m)), concat('bench_', toString(m)), if(ffa, 'dm/mohdm1', 'obj/obj_team2'), type,
    type, 1, if(e = 0 OR e = 41, '', toString(1000 + (m * 7 + p * 13) % 300)), '',
    if(e = 0 OR e = 41 OR ffa, '', if(p < 5, 'american', 'german')),
    if(type = 'player_kill', toString(1000 + (m * 7 + ((p + 5) % 10) * 13) % 300), ''),
    if(type = 'player_kill' AND NOT ffa, if(p < 5, 'german', 'american'), ''),
    if(e = 41 AND NOT ffa, if(allies_skill - axis_skill + noise > 0, 'allies', 'axis'), ''), if(ffa, '1', '4'), ''
FROM
(
    SELECT number + $((from * PER)) AS n, intDiv(n, $PER) AS m, n % $PER AS e, if(e >= 42, e % 10, (e - 1) % 10) AS p,
           intDiv(e - 1, 10) AS kind,
           m % 3 = 0 AS ffa,
           arraySum(arrayMap(q -> (1000 + (m * 7 + q * 13) % 300) * 7919 % 100, range(5))) AS allies_skill,
           arraySum(arrayMap(q -> (1000 + (m * 7 + q * 13) % 300) * 7919 % 100, range(10))) - allies_skill
               AS axis_skill,
           toInt64(cityHash64(m) % 161) - 80 AS noise,
           multiIf(e = 0, 'match_start', e = 41, 'match_end', e >= 42, 'distance', kind = 0, 'player_spawn',
                   kind = 3, 'distance', 'player_kill') AS type,
           toFloat64(multiIf(e = 0, 0, e = 41, 600, e >= 42, 2 + intDiv((e - 42) * 596, $((F > 0 ? F : 1))), kind = 0, 1,
                             kind = 3, 599, 100 + 10 * p + kind)) AS t
    FROM numbers($((count * PER)))
    WHERE NOT (type = 'player_kill' AND ffa AND (m + p) % 3 = kind)
)"
done
echo "raw_events: $(q 'SELECT count() FROM raw_events') events of $N matches; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN_DIR/ratingd" recompute
q "CREATE TABLE IF NOT EXISTS rating_changes_first AS rating_changes" >/dev/null
q "INSERT INTO rating_changes_first SELECT * FROM rating_changes_recompute" >/dev/null
"$BIN_DIR/ratingd" recompute
q "SELECT count() FROM (SELECT * FROM rating_changes_first ORDER BY guid, match_key) ANY FULL OUTER JOIN
   (SELECT *, 1 AS here FROM rating_changes_recompute) USING (guid, match_key, kind, end_ms, family, game_type,
   rated, reason, team, place, weight, mu_before, sigma_before, mu_after, sigma_after, win_prob) WHERE here = 0" |
  awk '{ print "rows of the second run not in the first: " $1 }'
"$BIN_DIR/ratingd" evaluate

# The daemon on the same history, as if it had been down while all of it arrived: how fast its steps catch up.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RATINGD_URL=http://127.0.0.1:$port RATING_BATCH_MATCHES=5000 RATING_POLL_MS=100 "$BIN_DIR/ratingd" \
  >"$DIR/logs/ratingd.log" 2>&1 &
pid=$!
t0=$EPOCHREALTIME
until [ "$(q "SELECT count() FROM rating_changes WHERE guid = ''")" -ge "$N" ]; do sleep 0.2; done
took=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
kill "$pid"
wait "$pid" || true
echo "the daemon rated $N matches in $took s (from its start): $(awk -v n="$N" -v t="$took" 'BEGIN { printf "%.0f", n / t }') matches/s"
q "SELECT count() FROM (SELECT * FROM rating_changes ORDER BY guid, match_key) ANY FULL OUTER JOIN
   (SELECT *, 1 AS here FROM rating_changes_recompute) USING (guid, match_key, kind, end_ms, family, game_type,
   rated, reason, team, place, weight, mu_before, sigma_before, mu_after, sigma_after, win_prob) WHERE here = 0" |
  awk '{ print "rows of the daemon not in the recomputation: " $1 }'
