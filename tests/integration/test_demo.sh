#!/usr/bin/env bash
# The demo world (scripts/demo.sh, demo_world): started against a stack for a few seconds, its servers register
# through the front door, their matches arrive with the tracker's event mix (members and guests, kills, match
# start and end, joins), the API serves them, and purge deletes them again.
# One build (sanitizer): its subject is scripts/demo.sh and demo_world, whose memory ASan checks.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO_SH=$MOHSTATS_SRC_DIR/scripts/demo.sh
# shellcheck disable=SC2119
stack_up
check_eq "stack.sh up does not start the demo world" "" "$(cat "$STACK_DIR/run/demo.pid" 2>/dev/null)"

# Busy and short matches, so that a few seconds hold every kind of event.
DEMO_SERVERS=2 DEMO_PLAYERS=16 DEMO_RATE=25 DEMO_MATCH_SECONDS=10 "$DEMO_SH" start "$STACK_DIR"
pid=$(cat "$STACK_DIR/run/demo.pid")
check "the demo world runs" pid_running "$pid"
retry 10 test -s "$STACK_DIR/demo/servers.txt" || true
check_eq "its two servers are recorded" 2 "$(wc -l <"$STACK_DIR/demo/servers.txt")"
servers=$(awk '{ printf "%s'"'"'%s'"'"'", (n++ ? ", " : ""), $1 }' "$STACK_DIR/demo/servers.txt")
check_eq "they are registered under [demo] names" 2 \
  "$(pg_query "SELECT count(*) FROM servers WHERE id IN ($servers) AND name LIKE '[demo] %'")"

# Events of every kind the demo plays reach ClickHouse from those servers.
types_seen() {
  ch_query "SELECT count(DISTINCT event_type) FROM raw_events WHERE server_id IN ($servers)
            AND event_type IN ('player_kill', 'match_start', 'match_end', 'team_win', 'connect', 'player_auth',
                               'player_spawn', 'distance', 'weapon_change')"
}
all_types_seen() { [ "$(types_seen)" = 9 ]; }
check "kills, matches, joins and logins arrive within 30 s" retry 30 all_types_seen
check "guests (unauth_<slot>) and members (900001 and up) both play" test \
  "$(ch_query "SELECT countIf(actor_guid LIKE 'unauth_%') > 0 AND countIf(toUInt64OrZero(actor_guid) >= 900001) > 0
               FROM raw_events WHERE server_id IN ($servers)")" = 1
check_eq "the demo's members are in the forum with their names" 0 \
  "$(mdb_query "SELECT count(*) FROM smf_members WHERE id_member >= 900001 AND member_name = ''")"
check "and there are some" test "$(mdb_query "SELECT count(*) FROM smf_members WHERE id_member >= 900001")" -gt 0

api_lists_matches() {
  [ "$(json_get "$MOHSTATS_URL/api/v1/stats/matches?limit=5" \
    '.list | map(select(.server_name | startswith("[demo]"))) | length')" -gt 0 ]
}
check "the API lists the demo's matches" retry 20 api_lists_matches
matches_won() {
  [ "$(ch_query "SELECT count() FROM raw_events WHERE server_id IN ($servers) AND event_type = 'match_end'
                 AND team IN ('allies', 'axis')")" -gt 0 ]
}
check "finished matches have a winning team" retry 30 matches_won

"$DEMO_SH" stop "$STACK_DIR"
check "stop ends it" retry 5 bash -c "! kill -0 $pid 2>/dev/null"
if grep -q 'demo_world: stopped:' "$STACK_DIR/logs/demo.log"; then
  pass "it says what it sent when stopped"
else
  fail "no summary in demo.log: $(tail -n 3 "$STACK_DIR/logs/demo.log")"
fi
check_eq "no batch was refused" 0 \
  "$(sed -n 's/.*sent, \([0-9]*\) batches refused/\1/p' "$STACK_DIR/logs/demo.log" | tail -n 1)"

# purge deletes what the demo wrote.
"$DEMO_SH" purge "$STACK_DIR"
table_empty() { [ "$(ch_query "SELECT count() FROM $1")" = 0 ]; }
check "purge deletes the demo's events" retry 30 table_empty raw_events
check "and its matches" retry 30 table_empty match_summary
check "and its per-member totals" retry 30 table_empty "player_weapon WHERE toUInt64OrZero(guid) >= 900001"
check_eq "and its servers" 0 "$(pg_query "SELECT count(*) FROM servers WHERE id IN ($servers)")"
check_eq "and its members" 0 "$(mdb_query "SELECT count(*) FROM smf_members WHERE id_member >= 900001")"

# --- run: the foreground mode docker-compose.yml's demo service uses -------------------------------------------

compose=$MOHSTATS_SRC_DIR/docker-compose.yml
missing=""
for var in $(grep -oE '\$\{DEMO_[A-Z_]+:-' "$DEMO_SH" | tr -d '${:-' | sort -u); do
  grep -qE "^ +$var: \\$\{$var:-" "$compose" || missing+=" $var"
done
check_eq "docker-compose.yml's demo service passes on every DEMO_* setting of demo.sh" "" "$missing"
check "the Dockerfile builds demo_world" \
  grep -q -- '--target .*demo_world' "$MOHSTATS_SRC_DIR/Dockerfile"
check "and ships demo.sh" grep -qE '^COPY .*scripts/demo.sh' "$MOHSTATS_SRC_DIR/Dockerfile"
# As in the container: no stack directory, the front door and the forum's database from the environment (the
# stack's MARIADB_URL is the daemons' user, as compose's), state in a directory of its own; SIGTERM stops it.
run_dir=$STACK_DIR/demo-run
DEMO_SERVERS=1 DEMO_PLAYERS=6 DEMO_RATE=20 DEMO_MATCH_SECONDS=10 \
  env -u MOHSTATS_DEMO_DIR "$DEMO_SH" run "$run_dir" >"$STACK_DIR/logs/demo-run.log" 2>&1 &
run_pid=$!
retry 10 test -s "$run_dir/servers.txt" || true
check_eq "run: its server is recorded" 1 "$(wc -l <"$run_dir/servers.txt" 2>/dev/null || echo 0)"
check "run: its members are added to the forum as MARIADB_URL's user" retry 10 \
  test "$(mdb_query "SELECT count(*) FROM smf_members WHERE id_member >= 900001")" -gt 0
run_server=$(awk '{ print $1; exit }' "$run_dir/servers.txt" 2>/dev/null)
run_events() { [ "$(ch_query "SELECT count() FROM raw_events WHERE server_id = '$run_server'")" -gt 0 ]; }
check "run: its events arrive" retry 30 run_events
kill -TERM "$run_pid"
check "run: SIGTERM stops it and demo_world" retry 10 bash -c "! kill -0 $run_pid 2>/dev/null"
check "run: demo_world said what it sent" grep -q 'demo_world: stopped:' "$STACK_DIR/logs/demo-run.log"

finish
