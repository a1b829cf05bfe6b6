#!/usr/bin/env bash
# achievd against real servers, events sent through ingestd's HTTP API as a tracker sends them: unlocks and
# progress in the forum's tables for each kind of criterion (and the edge just short of it), guests, identity
# links, duplicates in the stream, the operator's grant/revoke, several achievd processes against one, and the
# forum schema variants (docs/forum.md §1.3). Crashes and outages are in tests/fault/test_achievd_faults.sh.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# Quick hand-overs and link pick-up, so the test does not wait for production periods.
export ACHIEVD_LEASE_MS=2000 ACHIEVD_IDENTITIES_RELOAD_S=1 ACHIEVD_FLUSH_MS=100 ACHIEVD_CATALOGUE_RELOAD_S=2
export ACHIEVD_PROGRESS_MS=100
stack_up || exit 1
STREAM=${INGEST_STREAM:-mohstats:events}

out=$(curl -s -X POST "$MOHSTATS_URL/api/v1/servers/register" -H 'Content-Type: application/json' \
  -d '{"name": "Achievements", "ip_address": "127.0.0.1", "port": 12300}')
TOKEN=$(jq -r .token <<<"$out")
SESSION=sess_a0a0a0a0a0a0a0a0

. "$(dirname "$0")/achievd_lib.sh"

# kills ATTACKER N START [WEAPON HITLOC MOD [MATCH]]: N kills of guests, 0.5 s of game time apart from START on
# (outside any multi-kill window), in batches of 100.
kills() {
  local a=$1 n=$2 t=$3 i batch=()
  shift 3
  for ((i = 0; i < n; i++)); do
    batch+=("$(kill_ev "$a" "unauth_$((i % 60))" "$(printf '%d.%03d' $((t + i * 5 / 1)) 0)" "$@")")
    if [ ${#batch[@]} -eq 100 ]; then
      send "${batch[@]}" || return 1
      batch=()
    fi
  done
  [ ${#batch[@]} -eq 0 ] || send "${batch[@]}"
}

# settled: wait until achievd has evaluated everything in the stream and written it to MariaDB.
settled() {
  retry 30 eval '[ "$(curl -s "$ACHIEVD_URL/metrics" | awk "/^achievd_stream_lag /{l=\$2} /^achievd_pending_writes /{p=\$2} END{print l+0, p+0}")" = "0 0" ] && [ "$(redis_cmd XPENDING "$STREAM" achievd | head -n 1)" = 0 ]'
  sleep 1.2 # the metrics are copied once a second
  retry 30 eval '[ "$(curl -s "$ACHIEVD_URL/metrics" | awk "/^achievd_stream_lag /{l=\$2} /^achievd_pending_writes /{p=\$2} END{print l+0, p+0}")" = "0 0" ]'
}

check_eq "the plugin's catalogue is seeded (Appendix E then F)" 236 "$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_achievement_defs")"
check_eq "negative points are clamped to 0" "0 0" "$(mdb_query "SELECT points FROM smf_mohaa_achievement_defs WHERE code IN ('team_killer','rage_quitter')" | tr '\n' ' ' | sed 's/ $//')"
check "achievd answers /ready" retry 20 eval '[ "$(http_status "$ACHIEVD_URL/ready")" = 200 ]'

# --- career counters: one below the threshold, then the threshold -------------------------------------------
kills 101 99 100
settled
check_eq "99 kills: marksman (100 kills) at 99, not unlocked" "99 0" "$(progress 101 marksman) $(unlocked 101 marksman)"
check_eq "first_blood (1 kill) unlocked on the first" 1 "$(unlocked 101 first_blood)"
before=$(date +%s)
kills 101 1 2000
after=$(date +%s)
settled
check_eq "the 100th kill unlocks marksman" 1 "$(unlocked 101 marksman)"
date_=$(mdb_query "SELECT p.unlocked_date FROM smf_mohaa_player_achievements p JOIN smf_mohaa_achievement_defs d USING (id_achievement) WHERE p.id_member = 101 AND d.code = 'marksman'")
check "unlocked_date is the receive time of the completing event ($before <= $date_ <= $after)" \
  test "$date_" -ge "$before" -a "$date_" -le "$after"
check_eq "progress of an unlocked code is capped at its requirement" 100 "$(progress 101 marksman)"
check_eq "kar98_master (500 Kar98k kills) counts the same kills" 100 "$(progress 101 kar98_master)"
check_eq "pistolero (pistol kills) counts none of them" "" "$(progress 101 pistolero)"

# --- a threshold in the type's name: killstreak_10 --------------------------------------------------------
kills 102 9 100
send "$(kill_ev unauth_1 102 200.000)"
kills 102 9 300
settled
check_eq "9 kills, a death, 9 kills: unstoppable (killstreak_10) not unlocked, no progress row" "0 " \
  "$(unlocked 102 unstoppable) $(progress 102 unstoppable)"
kills 102 1 400
settled
check_eq "the 10th kill of one life unlocks unstoppable" "1 1" "$(unlocked 102 unstoppable) $(progress 102 unstoppable)"

# --- multi-kill window in game time: 3 s allowed, 3.001 s not --------------------------------------------
send "$(kill_ev 103 unauth_1 10.000)" "$(kill_ev 103 unauth_2 13.001)"
send "$(kill_ev 104 unauth_1 10.000)" "$(kill_ev 104 unauth_2 13.000)"
settled
check_eq "two kills 3.001 s apart are no double kill" 0 "$(unlocked 103 double_kill)"
check_eq "two kills 3.000 s apart are a double kill" 1 "$(unlocked 104 double_kill)"

# --- a ratio with its minimum sample: surgical_precision = 50% headshots over at least 100 kills --------------
kills 105 99 100 Kar98 head
settled
check_eq "99 headshot kills: below the minimum sample" 0 "$(unlocked 105 surgical_precision)"
kills 105 1 1000 Kar98 head
settled
check_eq "the 100th kill reaches the sample: unlocked" 1 "$(unlocked 105 surgical_precision)"

# --- match outcomes need match_end ----------------------------------------------------------------------
M1=match_00000000000000a1
M2=match_00000000000000a2
kills 106 10 100 Kar98 torso_upper bullet "$M1"
kills 107 10 100 Kar98 torso_upper bullet "$M2"
send "{\"type\":\"match_end\",\"match_id\":\"$M1\",\"session_id\":\"$SESSION\",\"timestamp\":\"900.000\",\"map\":\"obj/obj_team1\",\"gametype\":4,\"winning_team\":\"allies\"}"
settled
check_eq "10 kills, no death, match_end: perfectionist unlocked" 1 "$(unlocked 106 perfectionist)"
check_eq "the same match without match_end: nothing decided" 0 "$(unlocked 107 perfectionist)"
check_eq "iron_man (10 deathless matches) at 1 after one" 1 "$(progress 106 iron_man)"

# --- guests earn nothing; a linked GUID earns for its member ---------------------------------------------
kills unauth_7 5 100
send "$(kill_ev some-real-guid unauth_9 50.000)"
settled
check_eq "no rows for guests or unlinked GUIDs" 0 "$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_player_achievements WHERE id_member = 0")"
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at, verified) VALUES (108, 'linked-guid-108', 'L', UNIX_TIMESTAMP(), 1)"
sleep 2.5 # ACHIEVD_IDENTITIES_RELOAD_S
send "$(kill_ev linked-guid-108 unauth_9 60.000)"
settled
check_eq "a GUID linked in smf_mohaa_identities earns for its member" 1 "$(unlocked 108 first_blood)"

# --- a GUID linked later: its past is credited from ClickHouse, at the original times, and counted once ----
kills late-guid-113 5 100
settled
before_link=$(date +%s)
sleep 1.1
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at, verified) VALUES (113, 'late-guid-113', 'Late', UNIX_TIMESTAMP(), 1)"
check "the past of a GUID linked later is credited" retry 30 eval '[ "$(progress 113 marksman)" = 5 ]'
check "...with the unlock at the time of the original kill" eval \
  '[ "$(mdb_query "SELECT p.unlocked_date FROM smf_mohaa_player_achievements p JOIN smf_mohaa_achievement_defs d USING (id_achievement) WHERE p.id_member = 113 AND d.code = '"'first_blood'"'")" -lt "$before_link" ]'
kills late-guid-113 2 200
settled
check_eq "the events after the link count once, on top of the past" 7 "$(progress 113 marksman)"
check "/metrics counts the backfilled unlocks" eval \
  '[ "$(curl -s "$ACHIEVD_URL/metrics" | awk "/^achievd_backfilled_total /{print \$2}")" -ge 1 ]'

# --- duplicates in the stream are counted once --------------------------------------------------------
kills 109 3 100
settled
# The last entry again, as ingestd adds a batch whose XADD it could not confirm (dup 1), and as a writer copies
# one after a ClickHouse restart (dup 2).
readd='local e = redis.call("XREVRANGE", KEYS[1], "+", "-", "COUNT", 1)[1][2]
local f = {}
for i = 1, #e, 2 do if e[i] ~= "dup" then f[#f + 1] = e[i]; f[#f + 1] = e[i + 1] end end
f[#f + 1] = "dup"; f[#f + 1] = ARGV[1]
return redis.call("XADD", KEYS[1], "*", unpack(f))'
redis_cmd EVAL "$readd" 1 "$STREAM" 1 >/dev/null
redis_cmd EVAL "$readd" 1 "$STREAM" 2 >/dev/null
settled
check_eq "a batch added again (dup 1) and copied (dup 2) is counted once" 3 "$(progress 109 marksman)"
check "achievd counted both copies as duplicates" eval \
  '[ "$(curl -s "$ACHIEVD_URL/metrics" | awk "/^achievd_duplicate_batches_total /{print \$2}")" -ge 2 ]'

# --- manual achievements: the operator grants and revokes ---------------------------------------------
check "achievd grant 110 alpha_tester" "$MOHSTATS_BIN_DIR/achievd" grant 110 alpha_tester
check_eq "the grant is an unlock row" 1 "$(unlocked 110 alpha_tester)"
check "achievd revoke 110 alpha_tester" "$MOHSTATS_BIN_DIR/achievd" revoke 110 alpha_tester
check_eq "the revoke removes it" 0 "$(unlocked 110 alpha_tester)"
check_eq "granting an unknown code fails with a clear message" "1 no achievement with code 'nope' in the forum's catalogue" \
  "$("$MOHSTATS_BIN_DIR/achievd" grant 110 nope >/tmp/grant.$$ 2>/dev/null; echo "$?") $(cat /tmp/grant.$$)"
rm -f /tmp/grant.$$

# --- /metrics --------------------------------------------------------------------------------------------
metrics=$(curl -s "$ACHIEVD_URL/metrics")
check "/metrics counts events, unlocks by code and the lag" eval \
  'grep -q "^achievd_events_total [1-9]" <<<"$metrics" && grep -q "^achievd_code_unlocks{code=\"marksman\"} [1-9]" <<<"$metrics" && grep -q "^achievd_stream_lag 0" <<<"$metrics"'

# --- several achievd processes: one evaluates, the others stand by and take over --------------------------
A2_PORT=$(free_port)
A3_PORT=$(free_port)
ACHIEVD_URL=http://127.0.0.1:$A2_PORT "$MOHSTATS_BIN_DIR/achievd" >"$STACK_DIR/logs/achievd2.log" 2>&1 &
A2=$!
ACHIEVD_URL=http://127.0.0.1:$A3_PORT "$MOHSTATS_BIN_DIR/achievd" >"$STACK_DIR/logs/achievd3.log" 2>&1 &
A3=$!
evaluating() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^achievd_evaluating /{print $2}'; }
check "the second and third processes stand by" retry 10 eval \
  '[ "$(evaluating "$A2_PORT")" = 0 ] && [ "$(evaluating "$A3_PORT")" = 0 ]'
kills 111 150 100 &
sender=$!
sleep 0.5
kill -KILL "$(cat "$STACK_DIR/run/achievd.pid")"
wait $sender
check "another process takes over within the lease" retry 15 eval \
  '[ "$(( $(evaluating "$A2_PORT") + $(evaluating "$A3_PORT") ))" = 1 ]'
leader_port=$A2_PORT
[ "$(evaluating "$A3_PORT")" = 1 ] && leader_port=$A3_PORT
ACHIEVD_URL=http://127.0.0.1:$leader_port settled
check_eq "150 kills sent while the evaluator was killed: counted exactly once" 100 "$(progress 111 marksman)"
check_eq "...and the career counter is exact" 150 "$(progress 111 soldier)"
kill -TERM $A2 $A3
wait $A2 $A3 2>/dev/null
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "restarting the stack's achievd"

# --- the forum's schema variants (docs/forum.md §1.3) -----------------------------------------------------
# install.sql: unlocks keyed `id`, without player_guid, match_id, progress; progress without a timestamp.
# The master installer: `id_unlock`, player_guid, progress, UNIQUE(player_guid, id_achievement); `updated_at`.
mdb_query "CREATE TABLE v1_mohaa_achievement_defs LIKE smf_mohaa_achievement_defs;
  INSERT INTO v1_mohaa_achievement_defs SELECT * FROM smf_mohaa_achievement_defs;
  CREATE TABLE v1_mohaa_identities LIKE smf_mohaa_identities;
  CREATE TABLE v1_mohaa_player_achievements (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, id_member INT UNSIGNED NOT NULL,
    id_achievement INT UNSIGNED NOT NULL, unlocked_date INT UNSIGNED DEFAULT 0, UNIQUE (id_member, id_achievement));
  CREATE TABLE v1_mohaa_achievement_progress (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, id_member INT UNSIGNED NOT NULL,
    id_achievement INT UNSIGNED NOT NULL, current_progress INT UNSIGNED DEFAULT 0, UNIQUE (id_member, id_achievement));
  CREATE TABLE v2_mohaa_achievement_defs LIKE smf_mohaa_achievement_defs;
  INSERT INTO v2_mohaa_achievement_defs SELECT * FROM smf_mohaa_achievement_defs;
  CREATE TABLE v2_mohaa_identities LIKE smf_mohaa_identities;
  CREATE TABLE v2_mohaa_player_achievements (id_unlock INT AUTO_INCREMENT PRIMARY KEY, id_member MEDIUMINT(8) UNSIGNED DEFAULT 0,
    player_guid VARCHAR(64) DEFAULT '', id_achievement INT UNSIGNED DEFAULT 0, unlocked_date INT UNSIGNED DEFAULT 0,
    progress INT UNSIGNED DEFAULT 0, UNIQUE (player_guid, id_achievement), INDEX (id_member));
  CREATE TABLE v2_mohaa_achievement_progress (id_progress INT AUTO_INCREMENT PRIMARY KEY, id_member MEDIUMINT(8) UNSIGNED,
    id_achievement INT UNSIGNED, current_progress INT UNSIGNED DEFAULT 0, updated_at INT, UNIQUE (id_member, id_achievement));"
# v1's achievd holds progress back (ACHIEVD_PROGRESS_MS): its unlocks must reach MariaDB all the same, and the
# progress when it stops.
for v in v1 v2; do
  port=$(free_port)
  progress_ms=100
  [ $v = v1 ] && progress_ms=600000
  ACHIEVD_PROGRESS_MS=$progress_ms SMF_DB_PREFIX=${v}_ ACHIEVD_GROUP=achievd_$v ACHIEVD_URL=http://127.0.0.1:$port \
    "$MOHSTATS_BIN_DIR/achievd" >"$STACK_DIR/logs/achievd_$v.log" 2>&1 &
  eval "PID_$v=\$! PORT_$v=$port"
done
sleep 1
kills 112 2 100
kills 112 1 200
v_progress() { # PREFIX: member 112's marksman progress on that schema
  mdb_query "SELECT p.current_progress FROM ${1}mohaa_achievement_progress p JOIN ${1}mohaa_achievement_defs d
             USING (id_achievement) WHERE p.id_member = 112 AND d.code = 'marksman'"
}
for v in v1 v2; do
  check "achievd on the $v schema evaluates" retry 20 eval "[ \"\$(unlocked 112 first_blood ${v}_)\" = 1 ]"
done
check "progress on the v2 schema" retry 20 eval '[ "$(v_progress v2_)" = 3 ]'
check_eq "ACHIEVD_PROGRESS_MS holds progress back while the unlock is written (v1)" "" "$(v_progress v1_)"
check_eq "the master schema's unlock row carries the GUID" 112 "$(mdb_query "SELECT player_guid FROM v2_mohaa_player_achievements WHERE id_member = 112 LIMIT 1")"
check "the master schema's progress carries updated_at" eval \
  '[ "$(mdb_query "SELECT MIN(updated_at) FROM v2_mohaa_achievement_progress")" -gt 0 ]'
kill -TERM "$PID_v1" "$PID_v2"
wait "$PID_v1" "$PID_v2" 2>/dev/null
check_eq "a clean stop writes the progress held back (v1)" 3 "$(v_progress v1_)"

finish
