#!/usr/bin/env bash
# mohstats-admin hide / unhide (issue 24): a hidden player leaves the public lists at once (queryd's answer cache is
# emptied; a second's copy in queryd's memory aside) and comes back when shown again; the stand-in of erased players is never listed; every change is
# logged with who did it.
. "$(dirname "$0")/lib.sh"

ADMIN=$MOHSTATS_BIN_DIR/mohstats-admin
admin() {
  "$ADMIN" --by test-operator "$@" 2>>"$STACK_DIR/logs/admin.log"
}

# board: the GUIDs on the Hidgun leaderboard, as the forum reads it.
board() {
  curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/weapon/Hidgun/leaderboard?limit=10" | jq -r '[.[].guid] | join(",")'
}

stack_up || exit 1
# Kills with the Hidgun: hid-a 10, hid-b 5, the erased stand-in 7 (all of hid-c, who has none).
ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, match_key, map_name, event_type,
    actor_guid, actor_name, actor_team, target_guid, target_name, target_team, weapon, hitloc)
  SELECT generateUUIDv4(), generateUUIDv4(), 'hid-srv', now() - 60, 'hid-m', 'dm/mohdm1', 'player_kill',
    k.1, k.2, 'allies', 'hid-c', 'C', 'axis', 'Hidgun', 'torso_upper'
  FROM numbers(22) ARRAY JOIN [if(number < 10, ('hid-a', 'A'), if(number < 15, ('hid-b', 'B'), ('~erased', '')))] AS k"

check_eq "the leaderboard lists hid-a and hid-b, not the erased stand-in" "hid-a,hid-b" "$(board)"
check "hide --guid hid-a" admin hide --guid hid-a
# At once: queryd's Redis cache is emptied; an answer stays in a queryd's memory for up to a second (LOCAL_TTL_MS).
sleep 1.1
check_eq "hid-a leaves the leaderboard at once" "hid-b" "$(board)"
check_eq "hidden lists hid-a" "hid-a" "$(admin hidden)"
check "unhide --guid hid-a" admin unhide --guid hid-a
sleep 1.1
check_eq "hid-a is back" "hid-a,hid-b" "$(board)"
check_eq "hidden lists nobody" "" "$(admin hidden)"
check_eq "hide and unhide are logged with who did it" "hide unhide" \
  "$(ch_query "SELECT arrayStringConcat(groupArray(action), ' ') FROM (SELECT action FROM admin_actions
               WHERE who = 'test-operator' AND detail LIKE '%hid-a%' ORDER BY at, action)")"
check_eq "no sanitizer reports in mohstats-admin's log" "" "$(grep -E "$SANITIZER_REPORT" "$STACK_DIR/logs/admin.log" 2>/dev/null)"
finish
