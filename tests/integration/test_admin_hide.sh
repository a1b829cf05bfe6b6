#!/usr/bin/env bash
# mohstats-admin hide / unhide / ban (issue 24): a hidden player leaves the public lists at once (queryd's answer
# cache is emptied; a second's copy in queryd's memory aside) and comes back when shown again; the stand-in of
# erased players is never listed; the warm leaderboard boards drop them at once too (the freshness stream); a hidden
# server leaves the lists of servers and the live matches, its own page stays; a banned server's events are refused
# (once ingestd's token cache, 1 s here, forgets it); every change is logged with who did it. A renamed player
# shows their new name on their profile, the boards and their match, and their events' name after rename --clear. achievd forgets a
# member erased (mohstats-admin erase) at once, not at its restart.
# One build (sanitizer): its subject is mohstats-admin, an operator's command, whose memory ASan checks; the
# daemons it drives run in both builds' other tests.
. "$(dirname "$0")/lib.sh"
export SERVER_TOKEN_CACHE_MS=1000
# The rating leaderboard lists players with one rated match (the default asks for 10).
export QUERY_RATING_MIN_MATCHES=1
# achievd writes progress within 0.1 s (the erase below reads it).
export ACHIEVD_PROGRESS_MS=100 ACHIEVD_FLUSH_MS=100
# Live answers cached 1 s, not 10: the live matches are polled until the server's first event shows there.
export QUERY_LIVE_TTL_S=1

ADMIN=$MOHSTATS_BIN_DIR/mohstats-admin
admin() {
  "$ADMIN" --by test-operator "$@" 2>>"$STACK_DIR/logs/admin.log"
}

# board: the GUIDs on the Hidgun leaderboard, as the forum reads it.
board() {
  curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/weapon/Hidgun/leaderboard?limit=10" | jq -r '[.[].guid] | join(",")'
}

# kboard: the GUIDs on the all-time kills leaderboard, answered from queryd's warm board.
kboard() {
  curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/leaderboard/global?stat=kills&limit=10" |
    jq -r '[.players[].guid] | join(",")'
}
kboard_is() {
  [ "$(kboard)" = "$1" ]
}

# rboard: the GUIDs on the team rating leaderboard.
rboard() {
  curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/leaderboard/global?stat=rating&family=team" |
    jq -r '[.players[].guid] | join(",")'
}

stack_up || exit 1
# Kills with the Hidgun: hid-a 10, hid-b 5, the erased stand-in 7 (all of hid-c, who has none).
ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, match_key, map_name, event_type,
    actor_guid, actor_name, actor_team, target_guid, target_name, target_team, weapon, hitloc)
  SELECT generateUUIDv4(), generateUUIDv4(), 'hid-srv', now() - 60, 'hid-m', 'dm/mohdm1', 'player_kill',
    k.1, k.2, 'allies', 'hid-c', 'C', 'axis', 'Hidgun', 'torso_upper'
  FROM numbers(22) ARRAY JOIN [if(number < 10, ('hid-a', 'A'), if(number < 15, ('hid-b', 'B'), ('~erased', '')))] AS k"

# A rated team match each: hid-a ahead of hid-b.
ch_query "INSERT INTO rating_changes (guid, match_key, kind, end_ms, family, rated, mu_after, sigma_after)
  VALUES ('hid-a', 'hid-m', 'player', toUInt64(now()) * 1000, 'team', 1, 30, 2),
         ('hid-b', 'hid-m', 'player', toUInt64(now()) * 1000, 'team', 1, 28, 2)"

# The boards were built at start, before these rows: the freshness stream's entry, as the writer adds after an
# insert, puts them on (a delta), and the next full build is QUERY_BOARD_REFRESH_S (300 s) away.
redis_cmd XADD fresh '*' guids "$(printf 'hid-a\nhid-b\nhid-c\n~erased')" >/dev/null
check "the kills board lists hid-a and hid-b" retry 5 kboard_is "hid-a,hid-b"
check_eq "the leaderboard lists hid-a and hid-b, not the erased stand-in" "hid-a,hid-b" "$(board)"
check_eq "the rating leaderboard lists hid-a and hid-b" "hid-a,hid-b" "$(rboard)"
check "hide --guid hid-a" admin hide --guid hid-a
# At once: queryd's Redis cache is emptied; an answer stays in a queryd's memory for up to a second (LOCAL_TTL_MS).
sleep 1.1
check_eq "hid-a leaves the leaderboard at once" "hid-b" "$(board)"
check_eq "...and the rating leaderboard" "hid-b" "$(rboard)"
check "...and the warm kills board, without waiting for its next build" retry 2 kboard_is "hid-b"
check_eq "hidden lists hid-a" "hid-a" "$(admin hidden)"
check "unhide --guid hid-a" admin unhide --guid hid-a
sleep 1.1
check_eq "hid-a is back" "hid-a,hid-b" "$(board)"
check_eq "...on the rating leaderboard too" "hid-a,hid-b" "$(rboard)"
check "...and on the kills board" retry 2 kboard_is "hid-a,hid-b"
check_eq "hidden lists nobody" "" "$(admin hidden)"
check_eq "hide and unhide are logged with who did it" "hide unhide" \
  "$(ch_query "SELECT arrayStringConcat(groupArray(action), ' ') FROM (SELECT action FROM admin_actions
               WHERE who = 'test-operator' AND detail LIKE '%hid-a%' ORDER BY at, action)")"
# rename: the name served for hid-b on its profile, the warm kills board and its match's players; hid-a keeps its own;
# --clear gives hid-b its events' name back.
names() {
  printf '%s %s %s %s' \
    "$(curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/player/hid-b" | jq -r .name)" \
    "$(curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/leaderboard/global?stat=kills&limit=10" |
      jq -r '[.players[].name] | join(",")')" \
    "$(curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/match/hid-m" |
      jq -r '[.players[] | select(.guid == "hid-b") | .name] | join(",")')" \
    "$(curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/player/hid-a" | jq -r .name)"
}
names_are() {
  [ "$(names)" = "$1" ]
}
check_eq "hid-b is B on its profile, the board and its match" "B A,B B A" "$(names)"
check "rename hid-b" admin --yes rename hid-b "Bee Renamed"
check "...shows the new name on its profile, the warm board and its match; hid-a's stays" \
  retry 2 names_are "Bee Renamed A,Bee Renamed Bee Renamed A"
check "rename of a GUID that never played fails" test "$(admin --yes rename hid-nobody X; echo $?)" != 0
check "rename --clear" admin --yes rename hid-b --clear
check "...gives hid-b its events' name back" retry 2 names_are "B A,B B A"
check_eq "renames are logged with the names" 'GUID hid-b: "B" -> "Bee Renamed"|GUID hid-b: "Bee Renamed" -> the name of its events' \
  "$(ch_query "SELECT arrayStringConcat(groupArray(detail), '|') FROM (SELECT detail FROM admin_actions
               WHERE action = 'rename' ORDER BY at, detail)")"
# A server: hidden from the lists, shown again, then banned.
CREATED=$("$MOHSTATS_BIN_DIR/ingestd" servers create --name "Hid Server" --ip 203.0.113.9 --port 12203 2>/dev/null)
SRV=$(sed -n 's/^server_id: //p' <<<"$CREATED")
TOKEN=$(sed -n 's/^token: //p' <<<"$CREATED")
servers() {
  curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/servers" | jq -r '[.[].name] | sort | join(",")'
}
post() {
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST "$MOHSTATS_URL/api/v1/ingest/events" \
    -H 'Content-Type: application/json' -H "X-Server-Token: $TOKEN" \
    --data-binary @"$MOHSTATS_SRC_DIR/tests/integration/data/wire_4_2_chat.json"
}
# achievd forgets an erased member at once: member 4747 kills three times, is erased, and kills once more; their
# progress counts from the erase on (1), not from what achievd held in memory (4).
SESSION=sess_ad9ad9ad9ad9ad9a
. "$(dirname "$0")/achievd_lib.sh"
check "member 4747 kills three times" send "$(kill_ev 4747 hid-v 10.0)" "$(kill_ev 4747 hid-v 11.0)" \
  "$(kill_ev 4747 hid-v 12.0)"
check "...and achievd counts them" retry 20 eval '[ "$(progress 4747 soldier)" = 3 ]'
check "erase --member 4747" admin --yes erase --member 4747
check_eq "the forum has no progress of theirs" "" "$(progress 4747 soldier)"
check "member 4747 kills once more" send "$(kill_ev 4747 hid-v 13.0)"
check "...and achievd counts from the erase on" retry 20 eval '[ "$(progress 4747 soldier)" = 1 ]'
check_eq "...having forgotten them (its log)" 1 "$(grep -c "erased member forgotten" "$STACK_DIR/logs/achievd.log")"

# live: the server names of the live matches (the server is live once ingestd published its event, within 1 s).
live() {
  curl -sS --max-time 10 "$MOHSTATS_URL/api/v1/stats/live/matches" | jq -r '[.[].server_name] | sort | join(",")'
}
live_has_it() {
  grep -q "Hid Server" <<<"$(live)"
}
check "the server is listed" grep -q "Hid Server" <<<"$(servers)"
check_eq "the server's events are taken" 202 "$(post)"
check "the server is in the live matches" retry 5 live_has_it
check "hide --server" admin hide --server "$SRV"
sleep 1.1
check "a hidden server leaves the list" test -z "$(servers | grep "Hid Server")"
check "...and the live matches" test -z "$(live | grep "Hid Server")"
check_eq "a hidden server's page stays" 200 "$(http_status "$MOHSTATS_URL/api/v1/servers/$SRV")"
check "hide --server of a server that does not exist fails" test "$(admin hide --server nope; echo $?)" != 0
check "unhide --server" admin unhide --server "$SRV"
sleep 1.1
check "the server is back" grep -q "Hid Server" <<<"$(servers)"
check "...in the live matches too" live_has_it
echo n | admin ban --server "$SRV"
check "a ban the operator declines fails" test $? -ne 0
sleep 1.2
check_eq "a declined ban changes nothing" 202 "$(post)"
check "ban --server" admin --yes ban --server "$SRV"
sleep 1.2 # past SERVER_TOKEN_CACHE_MS
check_eq "a banned server's events are refused" 401 "$(post)"
check_eq "the server actions are logged with who did it" "hide-server unhide-server ban-server" \
  "$(ch_query "SELECT arrayStringConcat(groupArray(action), ' ') FROM (SELECT action FROM admin_actions
               WHERE who = 'test-operator' AND detail LIKE 'server $SRV %' ORDER BY at, action)")"
check_eq "no sanitizer reports in mohstats-admin's log" "" "$(grep -E "$SANITIZER_REPORT" "$STACK_DIR/logs/admin.log" 2>/dev/null)"
finish
