#!/usr/bin/env bash
# queryd stops a ClickHouse read that nobody waits for any more (docs/security.md, "Reads"): a client that closes
# its connection before the answer, through the front door, has its query gone from ClickHouse's system.processes
# within a second, while a query some client still waits for runs on; mohstats_query_cancelled_total counts them.
# Runs alone: its time bound is its subject, so no other stack runs beside it (tests/CMakeLists.txt).
#
# A slow read, honestly: the data set is small (100,000 events written straight into raw_events), so the stack's
# queryd is replaced, on its port behind nginx and as the same read-only user, by one whose ClickHouse URL adds
# max_block_size=1. ClickHouse then runs the very queries of the API one row at a time: /stats/query over the
# events takes longer than its QUERY_CH_MAX_SECONDS (10 s here), and KILL QUERY still finds it between two rows.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

stack_up || exit 1
API=$MOHSTATS_URL/api/v1
SLOWQ=""
CH_PID=""
CLIENTS=()

# Stop what this test started itself (the slow queryd, clients still waiting), then the usual exit.
on_exit() {
  local rc=$? p
  [ -z "${CH_PID:-}" ] || kill -CONT "$CH_PID" 2>/dev/null
  for p in "${CLIENTS[@]}" $SLOWQ; do kill "$p" 2>/dev/null; done
  [ -z "$SLOWQ" ] || wait "$SLOWQ" 2>/dev/null
  (exit "$rc")
  _lib_on_exit
}
trap on_exit EXIT

# ---- the data and the slow queryd --------------------------------------------------------------------------
# 100,000 kills and moves of 2,000 players in 200 matches of the last day. 100,000 rows at once go through the
# materialized views within the default profile's memory (250,000 do not).
check "100,000 events written into raw_events" ch_query "INSERT INTO raw_events (event_id, server_id, received_at,
    session_id, match_key, event_type, type_sent, known_type, actor_guid, actor_name, target_guid, target_name, weapon)
  WITH number AS n, intDiv(n, 500) AS m, n % 3 = 0 AS k, (m * 7 + (n % 16) * 131) % 2000 + 1 AS pa,
    (m * 7 + ((n + 5) % 16) * 131) % 2000 + 1 AS pt
  SELECT generateUUIDv4(), 'cancel-server', toDateTime(toUInt32(now()) - 86400 + intDiv(n, 100)),
    concat('sess_c', toString(m)), concat('mc', toString(m)), if(k, 'player_kill', 'distance'),
    if(k, 'player_kill', 'distance'), 1, toString(pa), concat('Player', toString(pa)), if(k, toString(pt), ''),
    if(k, concat('Player', toString(pt)), ''), if(k, 'Kar98k', '')
  FROM numbers(100000)"

kill -TERM "$(cat "$STACK_DIR/run/queryd.pid")" && retry 15 eval '! pid_running "$(cat "$STACK_DIR/run/queryd.pid")"' ||
  fail "stopping the stack's queryd"
read_pw=$(sed -n 's/^CLICKHOUSE_READ_PASSWORD=//p' "$STACK_DIR/state.env")
ch_port=$(sed -n 's/^CLICKHOUSE_HTTP_PORT=//p' "$STACK_DIR/state.env")
CLICKHOUSE_URL="http://mohstats_read:$read_pw@127.0.0.1:$ch_port/?database=mohstats&max_block_size=1" \
  QUERY_CH_MAX_SECONDS=10 QUERY_BOARD_WARM=0 "$MOHSTATS_BIN_DIR/queryd" >"$STACK_DIR/logs/queryd-slow.log" 2>&1 &
SLOWQ=$!
check "a queryd with slow reads answers on queryd's port, behind the front door" retry 15 eval \
  "[ \"\$(http_status '$API/stats/global')\" = 200 ]"

# reads: the queries of queryd's read-only user under queryd's ids running now (not the KILL QUERY themselves).
reads() {
  ch_query "SELECT count() FROM system.processes WHERE user = 'mohstats_read' AND query_id LIKE 'q-%'
    AND query NOT LIKE 'KILL%'"
}
# reads_gone_within MS: succeeds as soon as no read runs, looking every 50 ms for at most MS milliseconds.
reads_gone_within() {
  local deadline=$(($(date +%s%3N) + $1))
  until [ "$(reads)" = 0 ]; do
    [ "$(date +%s%3N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
# reads_appear: succeeds once a read runs (within 5 s).
reads_appear() {
  retry 5 eval '[ "$(reads)" -ge 1 ]'
}
cancelled() {
  curl -s "$QUERYD_URL/metrics" | awk '$1 == "mohstats_query_cancelled_total" { print $2 + 0 }'
}
# client URL: a client that waits for the answer (at most 60 s), in the background; its pid in CLIENTS.
client() {
  curl -s -o /dev/null --max-time 60 "$1" &
  CLIENTS+=($!)
}
# One question per check, so that no answer comes from the cache or from a computation under way.
ask() {
  echo "$API/stats/query?dimension=player&metric=count&start_date=2026-01-0$1"
}

check_eq "no read runs, none stopped yet" "0 0" "$(reads) $(cancelled)"

# ---- a client waits: its read runs on; it leaves: the read stops -------------------------------------------
client "$(ask 1)"
check "a read starts for a waiting client" reads_appear
sleep 2
check_eq "2 s later the read still runs: nobody stops a read a client waits for" 1 "$(reads)"
kill "${CLIENTS[-1]}"
check "the client leaves after 2 s: its read is gone from system.processes within 1 s" reads_gone_within 1000
check_eq "...counted in mohstats_query_cancelled_total" 1 "$(cancelled)"

# ---- a client that closes after 200 ms -----------------------------------------------------------------------
curl -s -o /dev/null --max-time 0.2 "$(ask 2)"
check "a client closing after 200 ms: its read is gone within 1 s" reads_gone_within 1000
check_eq "...counted" 2 "$(cancelled)"
check "...and queryd's log says which answer's read it stopped, and why" \
  grep -q "stopped 1 ClickHouse query of sq:player:count:.*every client waiting for it left" \
  "$STACK_DIR/logs/queryd-slow.log"
# The same question again is computed afresh at once: the stopped computation left no lock or flight behind.
client "$(ask 2)"
check "the same question asked again starts a read of its own at once" reads_appear
kill "${CLIENTS[-1]}"
check "...which stops too when its client leaves" reads_gone_within 1000

# ---- two clients joined on one computation: only the last one leaving stops it -------------------------------
client "$(ask 3)"
check "a read starts for the first of two clients asking the same" reads_appear
curl -s -o /dev/null --max-time 0.2 "$(ask 3)"
sleep 1
check_eq "the second leaves after 200 ms: the read the first still waits for runs on 1 s later" 1 "$(reads)"
kill "${CLIENTS[-1]}"
check "the first leaves: the read is gone within 1 s" reads_gone_within 1000
check_eq "...four stopped in all" 4 "$(cancelled)"

# ---- clients that leave while another queryd computes the answer: nothing is computed here ------------------
# Another process holds the answer's lock (ql:<key>, as queryd's cache takes it) for 3 s: the request waits for
# that process's answer, and its client leaves meanwhile. When the lock goes, this queryd neither computes the
# answer nor keeps the lock it then takes.
curl -s -o /dev/null --max-time 0.2 "$(ask 4)"
check "a read whose client left after 200 ms (ask 4) is gone within 1 s" reads_gone_within 1000
key=$(sed -n 's/.*stopped 1 ClickHouse query of \(sq:[^ ]*\) (step 0).*/\1/p' "$STACK_DIR/logs/queryd-slow.log" | tail -n 1)
check_eq "...its cache key is in the log" "sq:player:count:" "${key:0:16}"
before=$(cancelled)
cache_cmd SET "ql:$key" another-queryd PX 3000 >/dev/null
curl -s -o /dev/null --max-time 0.2 "$(ask 4)"
started=0
for _ in $(seq 40); do
  [ "$(reads)" = 0 ] || started=1
  sleep 0.1
done
check_eq "the lock another queryd held is gone after 4 s" 0 "$(cache_cmd EXISTS "ql:$key")"
check_eq "...and no read was started for the client that left meanwhile, none stopped" "0 $before" "$started $(cancelled)"

# ---- the queryd still answers -------------------------------------------------------------------------------
check_eq "queryd still answers (/stats/global)" 200 "$(http_status "$API/stats/global")"

# ---- stopped while a leaderboard's board is being built ------------------------------------------------------
# A board build is never cancelled, so the answer waiting for it outlives its client. Stopping queryd now ends the
# build with a cancelled ClickHouse request (the clients stop one after another), and the answer's cache code
# still asks Redis: the Redis client, stopped before ClickHouse, must refuse and not be freed memory (a use after
# free that the sanitizer check at the end of this test reports). ClickHouse is frozen meanwhile, so that the
# build is surely in flight when queryd stops, however fast it would be.
CH_PID=$(cat "$STACK_DIR/run/clickhouse.pid")
kill -STOP "$CH_PID"
curl -s -o /dev/null --max-time 0.3 "$API/stats/leaderboard/global?stat=kills&period=all&limit=5"
kill -TERM "$SLOWQ" && wait "$SLOWQ"
check_eq "the slow queryd stops cleanly, a board build in flight" 0 "$?"
kill -CONT "$CH_PID"
SLOWQ=""
check "...which the stop cancelled" grep -q "board all: ClickHouse query failed (0): request cancelled" \
  "$STACK_DIR/logs/queryd-slow.log"
finish
