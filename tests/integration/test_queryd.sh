#!/usr/bin/env bash
# queryd against real servers: a deterministic data set (three game servers, three matches of three kinds,
# six players, six weapons, four maps) goes through ingestd's HTTP API exactly as trackers send it; a few old
# events (10, 40 and 400 days back, which the API cannot backdate) go into raw_events directly; forum
# fixtures go into MariaDB. Then every endpoint's answer is checked against totals known by construction
# (docs/definitions.md), plus the contract details, safety rules, the cache and the outage behaviour, and the
# dashboard's static files (caching headers, 304, compression) and the front door's CORS.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# The stack's queryd builds leaderboard boards when a request first needs them: this test's data lands after
# queryd started, and a board kept warm from the start would rightly serve the empty snapshot for
# QUERY_CACHE_TTL_S. Keeping boards warm is checked on a queryd of its own, started once the data is in.
export QUERY_BOARD_WARM=0
# The live list is checked long after Alpha's and Bravo's last events: on a loaded machine more than the default
# LIVE_TTL_MS (120 s), after which a quiet server rightly leaves it. Leaving is test_live_state's subject.
export LIVE_TTL_MS=900000
# One other site may read the public API from its pages (CORS).
export NGINX_CORS_ORIGINS='https://clan.example.org 1;'
stack_up || exit 1
# The achievement checks below read fixtures written straight into the forum's tables; achievd, which would add
# its own unlocks for these players (its tests are test_achievd.sh), is stopped for this test.
kill -TERM "$(cat "$STACK_DIR/run/achievd.pid")" && retry 15 eval '! pid_running "$(cat "$STACK_DIR/run/achievd.pid")"' ||
  fail "stopping achievd"
API=$MOHSTATS_URL/api/v1

# ---- the data set ------------------------------------------------------------------------------------------
# Players: GUIDs are forum member ids, as trackers send them once a player logged in; unauth_7 is a slot.
declare -A NAME TEAM
NAME[101]=Alice NAME[102]=Bob NAME[103]=Carl NAME[104]=Dora NAME[105]=$'\xc9mile' NAME[unauth_7]=Guest
MATCH="" SESSION="" T=0 EVENTS=() SENT=0

# ev TYPE KEY=VALUE...: queue one event as the tracker writes it: strings everywhere, "#n" a bare number.
ev() {
  local out="{\"type\": \"$1\", \"match_id\": \"$MATCH\", \"session_id\": \"$SESSION\", \"timestamp\": \"$T\"" kv
  shift
  for kv in "$@"; do
    if [[ ${kv#*=} == '#'* ]]; then
      out+=", \"${kv%%=*}\": ${kv#*=#}"
    else
      out+=", \"${kv%%=*}\": \"${kv#*=}\""
    fi
  done
  EVENTS+=("$out}")
}

# blk PREFIX GUID [X Y [STANCE]]: a player block (name, guid, team, position, stance) as KEY=VALUE words.
blk() {
  local p=$1 g=$2
  printf '%s\n' "${p}_name=${NAME[$g]}" "${p}_guid=$g"
  [ -n "${TEAM[$g]:-}" ] && printf '%s\n' "${p}_team=${TEAM[$g]}"
  [ $# -ge 4 ] && printf '%s\n' "${p}_x=$3.000" "${p}_y=$4.000" "${p}_z=0.000"
  printf '%s\n' "${p}_stance=${5:-stand}"
}

# kill T ATTACKER VICTIM WEAPON HITLOC MOD AX AY VX VY [STANCE]: ATTACKER "-" is the world.
kill_ev() {
  T=$1
  local args=() line
  if [ "$2" != - ]; then
    while IFS= read -r line; do args+=("$line"); done < <(blk attacker "$2" "$7" "$8" "${11:-stand}")
  fi
  while IFS= read -r line; do args+=("$line"); done < <(blk victim "$3" "$9" "${10}")
  ev player_kill "${args[@]}" "weapon=$4" "hitloc=$5" "mod=$6" "damage=100.000"
}

# player_ev TYPE GUID KEY=VALUE...: an event of one player.
player_ev() {
  local type=$1 g=$2 args=() line
  shift 2
  while IFS= read -r line; do args+=("$line"); done < <(blk player "$g")
  ev "$type" "${args[@]}" "$@"
}

# send TOKEN: post the queued events in batches of 20 (the tracker's batch size), each must be accepted.
send() {
  local token=$1 i batch status
  for ((i = 0; i < ${#EVENTS[@]}; i += 20)); do
    batch=$(IFS=,; echo "[${EVENTS[*]:i:20}]")
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/ingest/events" -H 'Content-Type: application/json' \
      -H "X-Server-Token: $token" --data-binary "$batch")
    [ "$status" = 202 ] || fail "batch $i of $SESSION accepted (got HTTP $status)"
  done
  SENT=$((SENT + ${#EVENTS[@]}))
  EVENTS=()
}

register() {
  curl -s -X POST "$API/servers/register" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$1\", \"ip_address\": \"127.0.0.1\", \"port\": \"$2\"}"
}

reg=$(register Alpha 12203) && S1=$(jq -r .server_id <<<"$reg") && TOK1=$(jq -r .token <<<"$reg")
reg=$(register Bravo 12204) && S2=$(jq -r .server_id <<<"$reg") && TOK2=$(jq -r .token <<<"$reg")
reg=$(register Charlie 12205) && S3=$(jq -r .server_id <<<"$reg") && TOK3=$(jq -r .token <<<"$reg")
check "three game servers registered" test -n "$TOK1" -a -n "$TOK2" -a -n "$TOK3"

# M1 on Alpha: objective, teams, every gameflow event; the allies win 5:3 over two rounds.
MATCH=match_00000000000000a1 SESSION=sess_00000000000000a1
TEAM[101]=american TEAM[102]=german TEAM[103]=american TEAM[104]=german
T=1 && ev match_start map_name=obj/obj_team2 gametype=4 'maxclients=#20'
T=2 && for g in 101 102 103 104; do player_ev player_spawn $g; done
T=3 && player_ev distance 101 'walked=#1000' 'distance=#1000' && player_ev distance 102 'walked=#250' 'distance=#250'
player_ev crouch 103 && player_ev ladder_mount 104
T=4 && player_ev distance 101 'walked=#500' 'distance=#1500' && player_ev crouch 103
T=5 && player_ev jump 101 'jump_height=#56' && player_ev jump 102 'jump_height=#56'
T=6 && player_ev jump 101 'jump_height=#56'
T=7 && player_ev jump 101 'jump_height=#56'
T=8 && player_ev weapon_change 101 old_weapon=none new_weapon=Thompson
T=9 && player_ev weapon_change 101 old_weapon=Colt new_weapon=Thompson
T=9.5 && for i in 1 2 3 4 5 6 7 8 9 10; do player_ev weapon_fire 101 weapon=Thompson; done
T=9.6 && for i in 1 2 3 4; do player_ev weapon_hit 101 weapon=Thompson target_guid=102 target_name=Bob; done
T=9.7 && for i in 1 2; do
  ev damage attacker_name=Alice attacker_guid=101 attacker_team=american victim_name=Bob victim_guid=102 \
    victim_team=german weapon=Thompson damage=50.000 hitloc=torso_upper mod=MOD_BULLET
done
T=9.8 && player_ev chat 101 message=gg 'is_team=#1' && player_ev chat 102 message=hi 'is_team=#0'
T=9.9 && player_ev item_pickup 101 'item_name=Health Kit' 'count=#1' && player_ev ammo_pickup 102 item_name=ammo 'count=#1'
kill_ev 10 101 102 Thompson head MOD_BULLET 100 200 300 200
kill_ev 11.5 101 104 Thompson torso_upper MOD_BULLET 100 200 100 500 crouch
kill_ev 13 101 102 Thompson head MOD_BULLET 100 200 400 200
kill_ev 20 102 101 MP40 l_leg_lower MOD_BULLET 640 640 100 200
kill_ev 25 103 104 Kar98k head MOD_BULLET 0 0 0 1000
kill_ev 30 104 103 Stielhandgranate general MOD_GRENADE 500 500 0 0
kill_ev 35 102 104 MP40 torso_mid MOD_BULLET 640 640 700 640
kill_ev 40 103 103 'Frag Grenade' general MOD_GRENADE 50 50 50 50
kill_ev 45 - 101 world general MOD_FALLING 0 0 100 200
kill_ev 50 101 102 Thompson neck MOD_BULLET 100 200 100 264
T=55 && ev round_end 'round_number=#1'
T=60 && player_ev objective_capture 103 objective_name=bridge
T=90 && ev round_end 'round_number=#2'
T=95 && ev team_win teamnum=allies
T=96 && ev match_end map=obj/obj_team2 winning_team=allies allies_score=5 axis_score=3
send "$TOK1"
sleep 0.1

# M2 on Bravo: free-for-all deathmatch with a match_end; Emile has the most kills.
MATCH=match_00000000000000b2 SESSION=sess_00000000000000b2
TEAM=()
T=1 && ev match_start map_name=dm/mohdm1 gametype=1 'maxclients=#16'
T=2 && for g in 101 105 unauth_7; do player_ev player_spawn $g; done
kill_ev 5 105 101 Kar98k head MOD_BULLET 0 0 1000 0
kill_ev 6 105 unauth_7 Kar98k torso_mid MOD_BULLET 0 0 0 500
kill_ev 7 101 105 'Colt 45' r_arm_upper MOD_BULLET 1000 0 0 0
kill_ev 60 unauth_7 101 MP40 head MOD_BULLET 0 500 1000 0
kill_ev 61 105 101 Kar98k pelvis MOD_BULLET 0 0 1000 0
T=70 && ev match_end map=dm/mohdm1 winning_team=freeforall
send "$TOK2"
sleep 0.1

# M3 on Charlie: a tracker at HEAD: no match id, no map, no gameflow events.
MATCH=no_match SESSION=sess_00000000000000c3
TEAM[102]=german TEAM[103]=american
kill_ev 100 102 103 Kar98k head MOD_BULLET 0 0 0 128
kill_ev 110 103 102 Thompson torso_lower MOD_BULLET 0 128 0 0
T=120 && player_ev distance 103 'walked=#2000' 'distance=#2000'
send "$TOK3"

check "ingestd stored every event in ClickHouse" retry 60 eval \
  "[ \"\$(ch_query 'SELECT count() FROM raw_events')\" = $SENT ]"

# Old events: Dora kills Bob 10 and 40 days ago, Carl 400 days ago, on Alpha's dm/mohdm6, each a match of its own.
old_kill() {
  ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, received_ms, session_id, match_key,
    map_name, event_type, type_sent, known_type, actor_guid, actor_name, actor_team, target_guid, target_name,
    target_team, weapon, means_of_death, hitloc, raw)
    SELECT generateUUIDv4(), generateUUIDv4(), '$S1', now() - $1 * 86400, 0, 'sess_old', 'm_old_$1', 'dm/mohdm6',
      'player_kill', 'player_kill', 1, '104', 'Dora', 'german', '$2', '$3', 'american', '$4', 'MOD_BULLET',
      'torso_mid', '{}'"
}
old_kill 10 102 Bob MP40 && old_kill 40 102 Bob MP40 && old_kill 400 103 Carl Springfield

# Forum fixtures: members, GUID links, three achievements (one hidden), unlocks and progress.
# The forum's own catalogue replaces the plugin's seed (schemas/mariadb/0003), as a forum's installer may.
mdb_query "DELETE FROM smf_mohaa_achievement_defs;
  INSERT INTO smf_members (id_member, member_name, real_name) VALUES (101, 'alice_forum', 'Alice F'),
  (105, 'emile_forum', 'Emile F');
  INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at, verified) VALUES
  (101, '101', 'Alice', 1700000000, 1), (105, '105', 'Emile', 1700000000, 1);
  INSERT INTO smf_mohaa_achievement_defs (id_achievement, code, name, description, category, tier, icon,
  requirement_type, requirement_value, points, is_hidden, sort_order) VALUES
  (1, 'first_blood', 'First Blood', 'Get a kill', 'basic', 1, 'blood', 'kills', 1, 10, 0, 1),
  (2, 'sharpshooter', 'Sharpshooter', '100 headshots', 'weapon', 2, 'scope', 'headshots', 100, 50, 0, 2),
  (3, 'secret_x', 'Secret', 'Hidden', 'secret', 3, 'mask', 'secret', 1, 5, 1, 3);
  INSERT INTO smf_mohaa_player_achievements (id_member, player_guid, id_achievement, unlocked_date) VALUES
  (101, '101', 1, 1700000000), (101, '101', 3, 1700000100), (105, '105', 1, 1700000200);
  INSERT INTO smf_mohaa_achievement_progress (id_member, id_achievement, current_progress, last_updated) VALUES
  (101, 2, 40, 1700000000);" || fail "MariaDB fixtures"

# ---- helpers -----------------------------------------------------------------------------------------------
# q PATH JQ: GET $API/PATH and print the filter's result (compact).
q() {
  local body
  body=$(curl -sS --max-time 10 "$API/$1") || return 1
  jq -c -r "$2" <<<"$body"
}
# expect DESC PATH JQ EXPECTED
expect() {
  check_eq "$1" "$4" "$(q "$2" "$3" 2>&1)"
}
# status PATH: the HTTP status of GET $API/PATH
status() {
  http_status "$API/$1"
}
ranks='[.players[] | "\(.player_id):\(.value)"] | join(",")'

# ---- servers online (early, though LIVE_TTL_MS is raised above: read soon after the events, as a forum would) --
expect "servers: by rank, online, live map" "servers" \
  '[.[] | "\(.name):\(.rank):\(.is_online):\(.current_map):\(.peak_players_24h)"] | join(",")' \
  "Alpha:1:true:obj/obj_team2:4,Bravo:2:true:dm/mohdm1:3,Charlie:3:true:unknown:2"
expect "server stats" "servers/stats" \
  '"\(.total_servers) \(.online_servers) \(.total_kills_today) \(.total_matches_today)"' "3 3 14 3"
expect "server live" "servers/$S1/live" '"\(.is_online) \(.player_count) \(.current_map)"' "true 4 obj/obj_team2"
expect "live matches" "stats/live/matches" '[.[] | .server_name] | sort | join(",")' "Alpha,Bravo,Charlie"

# ---- leaderboards ------------------------------------------------------------------------------------------
expect "kills, all time (unauth_ slots never ranked)" "stats/leaderboard/global?stat=kills" "$ranks" \
  "101:5,104:4,105:3,102:2,103:2"
expect "rank numbers and names" "stats/leaderboard/global?stat=kills" \
  '[.players[] | "\(.rank):\(.player_name)"] | join(",")' "1:Alice,2:Dora,3:$(printf '\xc3\x89')mile,4:Bob,5:Carl"
expect "total and page" "stats/leaderboard/global?stat=kills" '"\(.total) \(.page) \(.stat) \(.period)"' "5 1 kills all"
expect "period=day" "stats/leaderboard/global?stat=kills&period=day" "$ranks" "101:5,105:3,102:2,103:2,104:1"
expect "period=week (10 days ago is out)" "stats/leaderboard/global?stat=kills&period=week" "$ranks" \
  "101:5,105:3,102:2,103:2,104:1"
expect "period=month (10 days ago is in)" "stats/leaderboard/global?stat=kills&period=month" "$ranks" \
  "101:5,105:3,102:2,103:2,104:2"
expect "period=year (40 days ago is in)" "stats/leaderboard/global?stat=kills&period=year" "$ranks" \
  "101:5,104:3,105:3,102:2,103:2"
expect "count_only" "stats/leaderboard/global?stat=kills&period=all&count_only=1" . '{"total":5}'
expect "offset paging keeps ranks" "stats/leaderboard/global?stat=kills&limit=2&offset=1" \
  '[.players[] | "\(.rank):\(.player_id)"] | join(",")' "2:104,3:105"
expect "page paging" "stats/leaderboard/global?stat=kills&limit=2&page=2" \
  '[.players[] | "\(.rank):\(.player_id)"] | join(",")' "3:105,4:102"
expect "limit is capped" "stats/leaderboard/global?stat=kills&limit=100000" .limit 100
expect "the stat in the path (/stats/leaderboard/{stat})" "stats/leaderboard/deaths" "$ranks" \
  "102:6,101:5,103:4,104:3,105:1"
expect "row[stat] is the ranked value" "stats/leaderboard/global?stat=deaths&limit=1" '.players[0].deaths' 6
expect "kd_ratio" "stats/leaderboard/global?stat=kd_ratio" "$ranks" "105:3,104:1.33,101:1,103:0.5,102:0.33"
expect "headshots (head, helmet, neck)" "stats/leaderboard/global?stat=headshots" "$ranks" "101:3,102:1,103:1,105:1"
expect "accuracy" "stats/leaderboard/global?stat=accuracy" "$ranks" "101:40"
expect "shots_fired" "stats/leaderboard/global?stat=shots_fired" "$ranks" "101:10"
expect "damage (damage events only)" "stats/leaderboard/global?stat=damage" "$ranks" "101:100"
expect "grenade_kills" "stats/leaderboard/global?stat=grenade_kills" "$ranks" "104:1"
expect "bash_kills: nobody, an empty list" "stats/leaderboard/global?stat=bash_kills" '"\(.players) \(.total)"' "[] 0"
expect "teamkills" "stats/leaderboard/global?stat=teamkills" "$ranks" "102:1"
expect "suicides (self and world)" "stats/leaderboard/global?stat=suicides" "$ranks" "101:1,103:1"
expect "distance in km of inches" "stats/leaderboard/global?stat=distance" "$ranks" "103:0.05,101:0.04,102:0.01"
expect "jumps" "stats/leaderboard/global?stat=jumps" "$ranks" "101:3,102:1"
expect "crouch_time (crouch events)" "stats/leaderboard/global?stat=crouch_time" "$ranks" "103:2"
expect "ladders" "stats/leaderboard/global?stat=ladders" "$ranks" "104:1"
expect "weapon_swaps" "stats/leaderboard/global?stat=weapon_swaps" "$ranks" "101:2"
expect "looter" "stats/leaderboard/global?stat=looter" "$ranks" "101:1,102:1"
expect "health_picked" "stats/leaderboard/global?stat=health_picked" "$ranks" "101:1"
expect "ammo_picked" "stats/leaderboard/global?stat=ammo_picked" "$ranks" "102:1"
expect "objectives" "stats/leaderboard/global?stat=objectives" "$ranks" "103:1"
expect "wins (team and FFA)" "stats/leaderboard/global?stat=wins" "$ranks" "101:1,103:1,105:1"
expect "team_wins" "stats/leaderboard/global?stat=team_wins" "$ranks" "101:1,103:1"
expect "ffa_wins (most kills of a finished dm match)" "stats/leaderboard/global?stat=ffa_wins" "$ranks" "105:1"
expect "losses" "stats/leaderboard/global?stat=losses" "$ranks" "101:1,102:1,104:1"
expect "games (a match without gameflow events counts)" "stats/leaderboard/global?stat=games" "$ranks" \
  "102:4,104:4,103:3,101:2,105:1"
expect "rounds" "stats/leaderboard/global?stat=rounds" "$ranks" "101:2,102:2,103:2,104:2"
expect "playtime (game time, seconds)" "stats/leaderboard/global?stat=playtime" "$ranks" \
  "101:107,103:78,105:59,102:58,104:33"
expect "a daily-stat row also has the match stats" "stats/leaderboard/global?stat=kills&limit=1" \
  '"\(.players[0].wins) \(.players[0].games) \(.players[0].playtime_seconds) \(.players[0].kd_ratio)"' "1 2 107 1"
for s in kills deaths kd_ratio headshots accuracy shots_fired damage bash_kills grenade_kills roadkills telefrags \
  crushed teamkills suicides reloads weapon_swaps no_ammo looter distance sprinted swam driven jumps crouch_time \
  prone_time ladders health_picked ammo_picked armor_picked items_picked wins team_wins ffa_wins losses objectives \
  rounds playtime games; do
  for p in day week month year all; do
    out=$(curl -s -w ' %{http_code}' "$API/stats/leaderboard/global?stat=$s&period=$p&limit=5")
    [ "${out##* }" = 200 ] && jq -e '.players | type == "array"' >/dev/null <<<"${out% *}" || {
      fail "leaderboard stat=$s period=$p answers 200 with a players array (got ${out: -200})"
      continue 2
    }
  done
done
pass "all 38 forum stats x 5 periods answer 200 with a players array"
expect "cards: top 3 per metric" "stats/leaderboard/cards" '"\([.kills[].player_id] | join(",")) \(.kd[0].value)"' \
  "101,104,105 3"
expect "cards: match metrics" "stats/leaderboard/cards" '[.games_finished[].player_id] | join(",")' "102,104,103"
check_eq "unknown stat is 400" 400 "$(status 'stats/leaderboard/global?stat=kills;DROP')"
check_eq "unknown period is 400" 400 "$(status 'stats/leaderboard/global?stat=kills&period=decade')"

# ---- players -----------------------------------------------------------------------------------------------
P=stats/player/101
expect "profile: wrapped and flat" "$P" '"\(.player.kills) \(.kills) \(.player.name) \(.name)"' "5 5 Alice Alice"
expect "profile core numbers" "$P" \
  '"\(.kills) \(.deaths) \(.kd_ratio) \(.headshots) \(.suicides) \(.accuracy) \(.damage_dealt) \(.damage_taken)"' \
  "5 5 1 3 1 40 100 0"
expect "profile matches and time" "$P" \
  '"\(.matches_played) \(.matches_won) \(.win_rate) \(.playtime_seconds) \(.distance_km) \(.jumps)"' \
  "2 1 50 107 0.04 3"
expect "profile body parts and stances" "$P" \
  '"\(.torso_kills) \(.limb_kills) \(.standing_kills) \(.crouching_kills) \(.total_deaths)"' "1 1 4 1 5"
expect "profile lists" "$P" \
  '"\([.weapons[].weapon_name] | join(",")) \([.maps[].map_name] | join(",")) \(.recent_matches | length) \(.performance | length)"' \
  "Thompson,Colt 45,Kar98k,MP40,world obj/obj_team2,dm/mohdm1 2 2"
expect "profile achievements from the forum" "$P" '[.achievements[].code] | join(",")' "secret_x,first_blood"
expect "profile member id" "$P" .member_id 101
check_eq "an unknown GUID is 404" 404 "$(status stats/player/nobody)"
check_eq "an injection attempt is just an unknown GUID" 404 "$(status "stats/player/x'%20OR%201=1%20--")"
check_eq "reads accept (and ignore) X-Server-Token" 200 "$(http_status "$API/$P" -H "X-Server-Token: $TOK1")"

expect "by name" "stats/player/name/Alice" .guid 101
expect "by name, case-insensitive" "stats/player/name/alice" .guid 101
check_eq "by raw CP1252 name, as the game sends it" 105 \
  "$(curl -s "$MOHSTATS_URL/api/v1/stats/player/name/$(printf '\xc9mile')" | jq -r .guid)"
expect "by UTF-8 name, percent-encoded" "stats/player/name/%C3%89mile" .guid 105
check_eq "a slot name is not a player" 404 "$(status stats/player/name/Guest)"
check_eq "an unknown name is 404" 404 "$(status stats/player/name/Nobody)"
expect "by forum member" "stats/member/101" '"\(.guid) \(.kills) \(.member_id)"' "101 5 101"
check_eq "an unlinked member is 404" 404 "$(status stats/member/999)"
check_eq "a malformed member id is 400" 400 "$(status stats/member/abc)"

expect "deep: combat" "$P/deep" \
  '.combat | "\(.kills) \(.deaths) \(.highest_streak) \(.triple_kills) \(.double_kills) \(.multi_kill_rate) \(.headshot_percent)"' \
  "5 5 3 1 0 60 60"
expect "deep: rivals" "$P/deep" \
  '.rivals | "\(.nemesis_guid) \(.nemesis_kills) \(.victim_guid) \(.victim_kills)"' "105 2 102 3"
expect "deep: accuracy, movement, session" "$P/deep" \
  '"\(.accuracy.overall) \(.accuracy.avg_distance) \(.movement.total_distance_km) \(.movement.jump_count) \(.session.matches_played) \(.session.playtime_seconds)"' \
  "40 9.5 0.04 3 2 107"
expect "deep: stance and interaction" "$P/deep" \
  '"\(.stance.standing_kills) \(.stance.crouch_kills) \(.interaction.chat_messages) \(.interaction.team_messages) \(.interaction.pickups[0].count)"' \
  "4 1 1 1 1"
expect "deep: Emile's streak and double kill" "stats/player/105/deep" \
  '.combat | "\(.best_killstreak) \(.double_kills) \(.multi_kill_rate)"' "2 1 66.7"
expect "combat part" "$P/combat" '"\(.kills) \(.best_killstreak)"' "5 3"
expect "movement part" "$P/movement" .jump_count 3
expect "stance part" "$P/stance" '"\(.standing_kills) \(.crouch_kills)"' "4 1"
check_eq "deep of an unknown GUID is 404" 404 "$(status stats/player/nobody/deep)"

expect "weapons" "$P/weapons" \
  '[.[] | "\(.weapon_name):\(.kills):\(.deaths):\(.headshots):\(.accuracy)"] | join(",")' \
  "Thompson:4:0:3:40,Colt 45:1:0:0:0,Kar98k:0:2:0:0,MP40:0:2:0:0,world:0:1:0:0"
expect "matches: newest first, both keys, total" "$P/matches" \
  '"\([.list[].map_name] | join(",")) \([.matches[].result] | join(",")) \(.total)"' "dm/mohdm1,obj/obj_team2 loss,win 2"
expect "matches: paged" "$P/matches?limit=1&offset=1" \
  '"\(.list | length) \(.list[0].map_name) \(.list[0].score) \(.list[0].kills) \(.list[0].duration)"' \
  "1 obj/obj_team2 3 4 48"
expect "maps" "$P/maps" '[.[] | "\(.map_name):\(.matches_played):\(.matches_won):\(.kills)"] | join(",")' \
  "obj/obj_team2:1:1:4,dm/mohdm1:1:0:1"
expect "game types" "$P/gametypes" '[.[] | "\(.gametype):\(.matches_played):\(.matches_won):\(.matches_lost)"] | join(",")' \
  "dm:1:0:1,obj:1:1:0"
expect "performance (oldest first)" "$P/performance" '"\(.kills | join(",")) \(.deaths | join(",")) \(.kd_ratio)"' \
  "4,1 2,3 1"
expect "peak performance" "$P/peak-performance" \
  '"\(.best_map.map_name) \(.best_weapon.weapon_name) \(.best_weapon.kills) \(.hourly_breakdown | length) \(.streaks.best_kill_streak)"' \
  "obj/obj_team2 Thompson 4 1 3"
expect "combos: patterns and distances" "$P/combos" \
  '"\(.victim_patterns[0].victim_guid):\(.victim_patterns[0].kills) \(.killer_patterns[0].killer_guid):\(.killer_patterns[0].deaths_to) \(.distance_by_weapon[0].weapon_name):\(.distance_by_weapon[0].avg_distance)"' \
  "102:3 105:2 Thompson:5.5"
expect "combos: rates" "$P/combos" '"\(.multi_kill_rate) \(.first_blood_rate) \(.first_bloods)"' "60 50 1"
expect "playstyle: too few kills" "$P/playstyle" '"\(.style) \(.confidence)"' "Rookie 0"
expect "predictions" "$P/predictions" '"\(.expected_kd) \(.predicted_kills) \(.confidence) \(.rival_analysis | length)"' \
  "1 2.5 0.2 4"
expect "predictions, the path without /stats" "player/101/predictions" .expected_kd 1
expect "vehicles" "$P/vehicles" '"\(.vehicle_kills) \(.by_vehicle_type)"' "0 []"
expect "game flow" "$P/game-flow" '"\(.matches_played) \(.matches_won) \(.rounds_played) \(.team_stats.allies_wins)"' "2 1 2 1"
expect "world" "$P/world" '"\(.fall_deaths) \(.chat_messages) \(.item_pickups[0].count)"' "1 1 1"
expect "bots" "$P/bots" '"\(.bot_kills) \(.top_bot_victims)"' "0 []"
expect "drilldown kills by weapon" "$P/drilldown?stat=kills&dimension=weapon" \
  '[.breakdown[] | "\(.label):\(.value):\(.percentage)"] | join(",")' "Thompson:4:80,Colt 45:1:20"
expect "drilldown deaths by opponent" "$P/drilldown?stat=deaths&dimension=killer" \
  '[.breakdown[] | "\(.label):\(.value)"] | join(",")' "$(printf '\xc3\x89')mile:2,Bob:1,Guest:1,world:1"
check_eq "drilldown with an unknown dimension is 400" 400 "$(status "$P/drilldown?dimension=nope")"

# ---- matches -----------------------------------------------------------------------------------------------
maps_of='[.[] | .map_name] | join(",")'
expect "match list with offset: a bare array, newest first" "stats/matches?limit=10&offset=0" "$maps_of" \
  "unknown,dm/mohdm1,obj/obj_team2,dm/mohdm6,dm/mohdm6,dm/mohdm6"
expect "match list without offset: members 0.. and list, total" "stats/matches?limit=10" \
  '"\(.["0"].map_name) \(.["5"].map_name) \(.list | length) \(.total) \(.list[0].ended_at | type) \(.["0"].ended_at | type)"' \
  "unknown dm/mohdm6 6 6 string number"
expect "match list count_only" "stats/matches?count_only=1" . '{"total":6}'
expect "match list by server" "stats/matches?server_id=$S2&offset=0" \
  '[.[] | "\(.map_name):\(.kills):\(.player_count):\(.max_players):\(.duration):\(.game_mode)"] | join(",")' \
  "dm/mohdm1:5:3:16:69:dm"
M1=$(q "stats/matches?server_id=$S1&offset=0&limit=1" '.[0].match_id')
M2=$(q "stats/matches?server_id=$S2&offset=0&limit=1" '.[0].match_id')
M3=$(q "stats/matches?server_id=$S3&offset=0&limit=1" '.[0].match_id')
expect "match detail: result" "stats/match/$M1" \
  '"\(.map_name) \(.game_mode) \(.duration) \(.winning_team) \(.allies_score):\(.axis_score) \(.team_match) \(.info.map_name)"' \
  "obj/obj_team2 obj 95 allies 5:3 true obj/obj_team2"
expect "match detail: scoreboard" "stats/match/$M1" '[.scoreboard[] | "\(.player_id):\(.score):\(.kills):\(.deaths)"] | join(",")' \
  "101:3:4:2,104:1:1:3,103:0:1:2,102:0:1:3"
expect "match detail: players keyed by GUID" "stats/match/$M1" '"\(.players["101"].team) \(.players["102"].kd)"' "allies 0.33"
expect "match detail: top weapons" "stats/match/$M1" '[.top_weapons[] | "\(.name):\(.kills):\(.headshots)"] | join(",")' \
  "Thompson:4:3,Kar98k:1:1,MP40:1:0,Stielhandgranate:1:0"
expect "match detail: versus" "stats/match/$M1" '[.versus.Alice[] | "\(.opponent_name):\(.kills):\(.deaths)"] | join(",")' \
  "Bob:3:1,Dora:1:0"
expect "match detail: timeline" "stats/match/$M1" '"\(.timeline | length) \(.timeline[0].type) \(.timeline[1].type)"' \
  "16 match_start headshot"
expect "match detail: summary" "stats/match/$M1/advanced" '"\(.summary.total_kills) \(.summary.unique_players)"' "7 4"
expect "match without gameflow events: no winner, type other" "stats/match/$M3" \
  '"\(.map_name) \(.game_mode) \(.winning_team) \(.duration)"' "unknown other null 20"
expect "match timeline" "stats/match/$M1/timeline" '"\(length) \(.[1].actor_name) \(.[1].weapon)"' "16 Alice Thompson"
check_eq "an unknown match is 404" 404 "$(status stats/match/nope)"

# ---- heat maps ---------------------------------------------------------------------------------------------
expect "match heat map: kills at the killer, normalised" "stats/match/$M1/heatmap?type=kills" \
  '"\(length) \(.[0].x) \(.[0].y) \(.[0].count) \(.[0].world_x) \(.[0].world_y)"' "4 0.1 0.7 4 96 224"
expect "match heat map: deaths" "stats/match/$M1/heatmap?type=deaths" '"\(length) \(.[0].count) \(.[0].world_x)"' "8 2 32"
expect "map heat map" "stats/map/dm%2Fmohdm1/heatmap" '[.[] | .count] | join(",")' "3,1,1"
expect "player heat map on a map" "stats/player/101/heatmap/obj%2Fobj_team2" '"\(.type) \(.points | length) \(.points[0].count)"' \
  "kills 1 4"
expect "player death positions" "stats/player/101/deaths/obj%2Fobj_team2" '"\(.type) \([.points[].count] | add)"' "deaths 2"
expect "where a player gets hit" "stats/player/101/heatmap/body" '"\(.head) \(.l_leg_lower) \(.pelvis) \(.general)"' "2 1 1 1"
check_eq "heat map of an unknown match is 404" 404 "$(status stats/match/nope/heatmap)"
check_eq "heat map type must be kills or deaths" 400 "$(status "stats/match/$M1/heatmap?type=hits")"

# ---- maps, weapons, game types -----------------------------------------------------------------------------
expect "maps: matches first" "stats/maps" '[.[] | "\(.name):\(.total_matches):\(.total_kills):\(.unique_players)"] | join(",")' \
  "dm/mohdm6:3:3:3,obj/obj_team2:1:7:4,dm/mohdm1:1:5:2,unknown:1:2:2"
expect "maps: durations and display names" "stats/maps" '"\(.[1].avg_playtime) \(.[1].display_name) \(.[2].display_name)"' \
  "95 Team2 Mohdm1"
expect "maps/list is the same array" "stats/maps/list" 'length' 4
expect "map popularity" "stats/maps/popularity" '[.[] | "\(.map_name):\(.matches_played)"] | join(",")' \
  "dm/mohdm6:3,obj/obj_team2:1,dm/mohdm1:1,unknown:1"
expect "map detail" "stats/map/obj%2Fobj_team2" \
  '"\(.total_matches) \(.total_kills) \(.total_playtime) \([.top_players[].player_id] | join(",")) \(.heatmap_data.kills | length)"' \
  "1 7 95 101,103,102,104 4"
expect "map detail of matches without a map" "stats/map/unknown" .total_kills 2
expect "map leaderboard (smf path)" "stats/leaderboard/map/dm%2Fmohdm1" \
  '[.leaderboard[] | "\(.player_id):\(.kills):\(.deaths)"] | join(",")' "105:3:1,101:1:3"
expect "map leaderboard (plugin path)" "stats/map/dm%2Fmohdm1/leaderboard?limit=1" '.leaderboard | length' 1
check_eq "an unknown map is 404" 404 "$(status stats/map/nope)"

expect "weapons: a bare array, items and the world left out" "stats/weapons" \
  '[.[] | "\(.name):\(.kills)"] | join(",")' \
  "Thompson:5,Kar98k:5,MP40:4,Colt 45:1,Springfield:1,Stielhandgranate:1"
expect "weapon numbers" "stats/weapons" '"\(.[0].headshots) \(.[0].shots) \(.[0].hits) \(.[0].accuracy) \(.[0].damage)"' \
  "3 10 4 40 100"
expect "weapon detail" "stats/weapon/Thompson" \
  '"\(.weapon) \(.total_kills) \(.total_headshots) \(.avg_accuracy) \(.unique_users) \([.top_players[].player_id] | join(","))"' \
  "Thompson 5 3 40 2 101,103"
expect "weapon name with a space, as PHP's urlencode writes it" "stats/weapon/Colt+45" .kills 1
expect "weapon leaderboard: a bare array (smf path)" "stats/leaderboard/weapon/Kar98k" \
  '[.[] | "\(.player_id):\(.kills):\(.headshots)"] | join(",")' "105:3:1,102:1:1,103:1:1"
expect "weapon leaderboard (plugin path)" "stats/weapon/Kar98k/leaderboard?limit=2" 'length' 2
check_eq "an unknown weapon is 404" 404 "$(status stats/weapon/Nope)"

expect "game types" "stats/gametypes" \
  '[.[] | select(.total_matches > 0) | "\(.id):\(.total_matches):\(.total_kills):\(.map_count):\(.unique_players)"] | join(",")' \
  "dm:4:8:2:5,obj:1:7:1:4,other:1:2:1:2"
expect "game type detail" "stats/gametype/obj" '"\(.name) \([.maps[] | "\(.name):\(.matches):\(.kills)"] | join(","))"' \
  "Objective obj/obj_team2:1:7"
expect "game type leaderboard" "stats/leaderboard/gametype/dm" '[.leaderboard[] | "\(.player_id):\(.kills)"] | join(",")' \
  "104:3,105:3,101:1"
expect "ffa reads as dm" "stats/gametype/ffa" .id dm
expect "game type names (a constant, every type)" "stats/gametypes/list" \
  '[.gametypes[] | "\(.id):\(.display_name)"] | join(",")' \
  "dm:Deathmatch,tdm:Team Deathmatch,rb:Round-Based,obj:Objective,tow:Tug of War,lib:Liberation,ctf:Capture the Flag,other:Other"
check_eq "an unknown game type is 404" 404 "$(status stats/gametype/zz)"

# ---- servers -----------------------------------------------------------------------------------------------
expect "server rankings" "servers/rankings" '[.[] | "\(.name):\(.score):\(.kills_24h)"] | join(",")' \
  "Alpha:52:7,Bravo:40:5,Charlie:27:2"
expect "server detail" "servers/$S1" \
  '"\(.name) \(.stats.total_kills) \(.stats.total_matches) \(.stats.unique_players) \(.stats_24h.kills) \(.stats.total_playtime_hours)"' \
  "Alpha 10 4 4 7 0.1"
expect "server top players" "servers/$S1/top-players" '[.[] | "\(.guid):\(.kills):\(.deaths)"] | join(",")' \
  "101:4:2,104:4:3,103:1:3,102:1:5"
expect "server maps" "servers/$S1/maps" '[.[] | "\(.map_name):\(.matches):\(.popularity)"] | join(",")' \
  "dm/mohdm6:3:75,obj/obj_team2:1:25"
expect "server weapons" "servers/$S1/weapons" '[.[] | "\(.weapon_name):\(.kills)"] | join(",")' \
  "Thompson:4,MP40:3,Kar98k:1,Springfield:1,Stielhandgranate:1"
expect "server matches" "servers/$S2/matches" '[.[] | "\(.map_name):\(.total_kills):\(.duration_mins)"] | join(",")' \
  "dm/mohdm1:5:1"
expect "server player history (the hour of the ingest is among the last two)" "servers/$S1/player-history?hours=2" \
  '"\(length) \([.[].players] | max)"' "2 4"
expect "server activity" "servers/$S1/activity-timeline?days=1" '"\(length) \([.[].kills] | add)"' "24 7"
expect "server peak hours" "servers/$S1/peak-hours" '"\(.data | length) \(.data[0] | length) \(.peak.players)"' "7 24 4"
expect "server players: by kills, with sessions, 7 / 30 days, favourite map and weapon" "servers/$S1/players" \
  '[.players[] | "\(.guid):\(.total_kills):\(.total_deaths):\(.total_sessions):\(.kills_7d):\(.kills_30d):\(.favorite_map):\(.favorite_weapon):\(.trend)"] | join(",")' \
  "101:4:2:1:4:4:obj/obj_team2:Thompson:up,104:4:3:4:1:2:dm/mohdm6:MP40:stable,103:1:3:2:1:1:dm/mohdm6:Kar98k:up,102:1:5:3:1:1:dm/mohdm6:Kar98k:up"
expect "server players: total and paging" "servers/$S1/players?limit=2&offset=1" \
  '"\(.total) \(.limit) \(.offset) \([.players[].guid] | join(","))"' "4 2 1 104,103"
expect "server players: time played (game time, 48 s)" "servers/$S1/players?limit=1" \
  '.players[0].total_time_played_hours' 0.01
expect "server totals (the old API's /stats/server/{id}/stats)" "stats/server/$S1/stats" \
  '"\(.total_kills) \(.total_matches) \(.unique_players) \([.top_killers[] | "\(.player_id):\(.value)"] | join(",")) \([.map_stats[] | "\(.map_name):\(.times_played)"] | join(","))"' \
  "10 4 4 101:4,104:4,102:1,103:1 dm/mohdm6:3,obj/obj_team2:1"
expect "server totals: K/D and time played (game time: 48 + 48 + 58 + 33 s) tops" "stats/server/$S1/stats" \
  '"\([.top_kdr[] | "\(.player_id):\(.value)"] | join(",")) \(.top_playtime[0].player_id) \(.total_playtime_seconds)"' \
  "101:2,104:1.33,103:0.33,102:0.2 103 187"
check_eq "players of an unknown server: 404" 404 "$(status ../../servers/nope/players)"
check_eq "totals of an unknown server: 404" 404 "$(status server/nope/stats)"
check_eq "an unknown server is 404" 404 "$(status ../../servers/nope)"
check_eq "live state of an unknown server is 404" 404 "$(status ../../servers/nope/live)"

# ---- global ------------------------------------------------------------------------------------------------
expect "global totals" "stats/global" \
  '"\(.total_kills) \(.total_deaths) \(.total_headshots) \(.total_matches) \(.total_players) \(.active_today)"' \
  "17 20 7 6 5 5"
expect "global averages, forum and servers" "stats/global" \
  '"\(.server_avg_kd) \(.server_avg_accuracy) \(.total_achievements_unlocked) \(.server_count)"' "0.85 40 3 3"
expect "activity by weekday and hour" "stats/global/activity?days=30" '[.[].value] | add' "$((SENT + 1))"
expect "teams" "stats/teams/performance" '"\(.allies.wins) \(.axis.losses) \(.allies.kills) \(.axis.kills)"' "1 1 6 4"
expect "health under /api/v1" health .status ok

# ---- achievements ------------------------------------------------------------------------------------------
expect "definitions" "achievements/" '[.[].code] | join(",")' "first_blood,sharpshooter,secret_x"
expect "recent unlocks with member names" "achievements/recent" \
  '[.[] | "\(.id_member):\(.code):\(.member_name)"] | join(",")' "105:first_blood:emile_forum,101:secret_x:alice_forum,101:first_blood:alice_forum"
expect "leaderboard by points" "achievements/leaderboard" \
  '[.[] | "\(.rank):\(.member_name):\(.achievement_count):\(.total_points)"] | join(",")' "1:alice_forum:2:15,2:emile_forum:1:10"
expect "rarest: unlock counts, no percentage under 20 members who played" "achievements/rarest" \
  '[.[] | "\(.code):\(.unlock_count):\(.unlock_percent)"] | join(",")' "sharpshooter:0:null,first_blood:2:null"
expect "one definition by id" "achievements/1" '"\(.code) \(.unlock_count)"' "first_blood 2"
expect "one definition by code" "achievements/sharpshooter" .id_achievement 2
check_eq "an unknown achievement is 404" 404 "$(status achievements/999)"
expect "a player's achievements" "achievements/player/101" \
  '"\(.member_id) \(.unlocked_count) \(.total_points) \(.total_count) \([.unlocked[].code] | join(",")) \(.progress[0].current_progress)"' \
  "101 2 15 3 first_blood,secret_x 40"
expect "progress percent" "achievements/player/101" '[.achievements[] | select(.code == "sharpshooter") | .progress_percent][0]' 40
expect "an unlinked player: everything locked, hidden ones hidden" "achievements/player/102" \
  '"\(.member_id) \(.total_count) \(.unlocked)"' "null 2 []"
# More unlockers than are listed: the count is all of them (it was the length of the list, at most 100).
mdb_query "INSERT INTO smf_mohaa_player_achievements (id_member, player_guid, id_achievement, unlocked_date)
           SELECT 5000 + seq, '', 3, UNIX_TIMESTAMP() FROM seq_1_to_120"
expect "one definition with 120 unlockers: unlock_count 121, 100 listed" "achievements/secret_x" \
  '"\(.unlock_count) \(.unlocked_by | length)"' "121 100"
mdb_query "DELETE FROM smf_mohaa_player_achievements WHERE id_member > 5000"

# ---- the dynamic query (/stats/query) -------------------------------------------------------------------------
lv='[.[] | "\(.label):\(.value)"] | join(",")'
expect "query: kills by player (the last 30 days, as the month leaderboard)" \
  "stats/query?dimension=player_guid&metric=kills" "$lv" "101:5,105:3,102:2,103:2,104:2"
expect "query: kills by map (every event once)" "stats/query?dimension=map&metric=kills" "$lv" \
  "obj/obj_team2:7,dm/mohdm1:5,:2,dm/mohdm6:1"
expect "query: accuracy by player name" "stats/query?dimension=player&metric=accuracy" "$lv" "Alice:40"
expect "query: deaths on one server, by player" "stats/query?dimension=player_guid&metric=deaths&filter_server=$S2" \
  "$lv" "101:3,105:1"
expect "query: a player's kills by weapon" "stats/query?dimension=weapon&metric=kills&filter_player_guid=101" \
  "$lv" "Thompson:4,Colt 45:1"
expect "query: a date range (the last 2 days leave out 10 days ago)" \
  "stats/query?dimension=player_guid&metric=kills&start_date=$(date -u -d '2 days ago' +%Y-%m-%dT%H:%M:%SZ)" \
  "$lv" "101:5,105:3,102:2,103:2,104:1"
expect "query: an end date alone (the 30 days before 5 days ago hold only the kill 10 days ago)" \
  "stats/query?dimension=player_guid&metric=kills&end_date=$(date -u -d '5 days ago' +%Y-%m-%d)" "$lv" "104:1"
# Without end_date the window ends at now rounded up to the cache's lifetime (60 s), so asking again within it
# hits the same key (with the second in the key, every request was a new key and a new query).
t0=$(date +%s)
status 'stats/query?dimension=map&metric=kills&filter_weapon=endprobe' >/dev/null
t1=$(date +%s)
key=$(cache_cmd KEYS 'q:sq:map:kills:*endprobe*' | head -n 1)
to=$(cut -d: -f6 <<<"$key")
check "query: the default end is a whole minute, at most a minute ahead ($key, asked at $t0-$t1)" \
  eval '[ -n "$to" ] && [ $((to % 60)) = 0 ] && [ "$to" -gt "$t0" ] && [ "$to" -le $((t1 + 60)) ]'
# Identifiers joined into a key cannot be read two ways: "a:b" + "c" is not "a" + "b:c".
status 'stats/query?dimension=map&filter_map=x:y&filter_weapon=z' >/dev/null
status 'stats/query?dimension=map&filter_map=x&filter_weapon=y:z' >/dev/null
check_eq "query: two filters that join alike are two cache keys" 2 "$(cache_cmd KEYS 'q:sq:map:count:*x*' | wc -l)"
check_eq "query: an unknown dimension is 400" 400 "$(status 'stats/query?dimension=extra')"
check_eq "query: a malformed date is 400" 400 "$(status 'stats/query?dimension=map&start_date=yesterday')"
check_eq "query: more than 366 days is 400" 400 \
  "$(status 'stats/query?dimension=map&start_date=2020-01-01&end_date=2026-01-01')"

# ---- contract and safety -----------------------------------------------------------------------------------
check_eq "an unknown route is 404" 404 "$(status stats/nothing/here)"
check "errors are JSON" eval "curl -s '$API/stats/player/nobody' | jq -e '.error | length > 0' >/dev/null"
check "empty lists are [] (a player without bot kills)" eval "[ \"\$(q stats/player/102/bots .top_bot_victims)\" = '[]' ]"

# Single flight: 40 identical requests for an answer nobody asked for yet make one computation.
metric() {
  curl -s "$QUERYD_URL/metrics" | awk -v k="queryd_cache_total{result=\"$1\"}" '$1 == k { print $2 + 0 }'
}
misses=$(metric miss)
url="$API/stats/leaderboard/global?stat=jumps&period=week&limit=7"
for i in $(seq 40); do curl -s -o "$STACK_DIR/sf.$i" "$url" & done
wait
check_eq "40 identical requests, one computation" "$((misses + 1))" "$(metric miss)"
check "...and 40 identical answers" eval "[ \$(cat '$STACK_DIR'/sf.* | sort -u | wc -l) = 1 ]"
check_eq "a second request is a cache hit" hit \
  "$(curl -s -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')"

# Boards: a queryd just started gets the forum's 38 leaderboards of one period at once: one board is built
# (queryd_board_builds_total), and every answer is a ranking of it.
port=$(free_port)
QUERYD_URL="http://127.0.0.1:$port" "$MOHSTATS_BIN_DIR/queryd" >"$STACK_DIR/logs/queryd-board.log" 2>&1 &
BOARDQ=$!
retry 10 eval "curl -s -o /dev/null http://127.0.0.1:$port/health"
lb_stats="kills deaths kd_ratio headshots accuracy shots_fired damage bash_kills grenade_kills roadkills telefrags
  crushed teamkills suicides reloads weapon_swaps no_ammo looter distance sprinted swam driven jumps crouch_time
  prone_time ladders health_picked ammo_picked armor_picked items_picked wins team_wins ffa_wins losses objectives
  rounds playtime games"
# forum_board_page PORT: the forum's leaderboard page against the queryd on PORT: 38 month leaderboards at
# once, each answer in board.STAT and its status in board.STAT.code. board_builds PORT: its successful builds.
forum_board_page() {
  local s pids=()
  rm -f "$STACK_DIR"/board.*
  for s in $lb_stats; do
    curl -s -o "$STACK_DIR/board.$s" -w '%{http_code}\n' \
      "http://127.0.0.1:$1/api/v1/stats/leaderboard/global?stat=$s&period=month&limit=9" >"$STACK_DIR/board.$s.code" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
board_builds() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "queryd_board_builds_total{result=\"ok\"}" { print $2 + 0 }'
}
forum_board_page "$port"
check_eq "38 leaderboards at once from a fresh queryd: one board built" 1 "$(board_builds "$port")"
check_eq "...and 38 answers 200" 38 "$(cat "$STACK_DIR"/board.*.code | grep -c '^200$')"
check_eq "...each the ranking of its stat (kills)" "101:5,105:3,102:2,103:2,104:2" \
  "$(jq -r "$ranks" "$STACK_DIR/board.kills")"
kill "$BOARDQ" 2>/dev/null
wait "$BOARDQ" 2>/dev/null

# Boards kept warm (QUERY_BOARD_WARM=1, the default): a queryd builds every period's board at start, is ready
# only once all five exist, and then answers the 38 leaderboards without building any.
port=$(free_port)
QUERY_BOARD_WARM=1 QUERYD_URL="http://127.0.0.1:$port" "$MOHSTATS_BIN_DIR/queryd" \
  >"$STACK_DIR/logs/queryd-warm.log" 2>&1 &
WARMQ=$!
retry 10 eval "curl -s -o /dev/null http://127.0.0.1:$port/health"
check "a queryd keeping boards warm becomes ready" retry 20 \
  eval "[ \"\$(http_status http://127.0.0.1:$port/ready)\" = 200 ]"
check_eq "...once its five boards are built" "ok 5" \
  "$(curl -s "http://127.0.0.1:$port/ready" | jq -r .checks.boards) $(board_builds "$port")"
forum_board_page "$port"
check_eq "...then 38 leaderboards at once: 38 answers 200 and no board built" "38 5" \
  "$(cat "$STACK_DIR"/board.*.code | grep -c '^200$') $(board_builds "$port")"
check_eq "...each the ranking of its stat (kills)" "101:5,105:3,102:2,103:2,104:2" \
  "$(jq -r "$ranks" "$STACK_DIR/board.kills")"
kill "$WARMQ" 2>/dev/null
check "...and it stops on SIGTERM (the warm timer does not hold the loop)" retry 10 \
  eval "! kill -0 $WARMQ 2>/dev/null"
wait "$WARMQ" 2>/dev/null
# QUERY_BOARD_REFRESH_S: each board is rebuilt when it is that old, requests or not.
port=$(free_port)
QUERY_BOARD_WARM=1 QUERY_BOARD_REFRESH_S=1 QUERYD_URL="http://127.0.0.1:$port" "$MOHSTATS_BIN_DIR/queryd" \
  >"$STACK_DIR/logs/queryd-refresh.log" 2>&1 &
WARMQ=$!
check "with QUERY_BOARD_REFRESH_S=1, the five boards are built again and again (15 builds)" retry 30 \
  eval "[ \"\$(board_builds $port)\" -ge 15 ] 2>/dev/null"
kill "$WARMQ" 2>/dev/null
wait "$WARMQ" 2>/dev/null

# ClickHouse down: a second queryd whose ClickHouse does not answer, on the same Redis. An answer in the cache
# is served (stale when its fresh copy expired), one never computed is 503 with a JSON error.
port=$(free_port)
CLICKHOUSE_URL="http://default@127.0.0.1:1/?database=mohstats" QUERYD_URL="http://127.0.0.1:$port" \
  "$MOHSTATS_BIN_DIR/queryd" >"$STACK_DIR/logs/queryd-noch.log" 2>&1 &
NOCH=$!
retry 10 eval "curl -s -o /dev/null http://127.0.0.1:$port/health"
cache_cmd DEL q:global >/dev/null
out=$(curl -s -D "$STACK_DIR/noch.h" "http://127.0.0.1:$port/api/v1/stats/global")
check_eq "ClickHouse down: a cached answer is still served (stale)" "17 stale" \
  "$(jq -r .total_kills <<<"$out") $(tr -d '\r' <"$STACK_DIR/noch.h" | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')"
check_eq "ClickHouse down: an answer never computed is 503" 503 \
  "$(http_status "http://127.0.0.1:$port/api/v1/stats/leaderboard/global?stat=jumps&period=year&limit=3")"
check "...with a JSON error" eval "curl -s 'http://127.0.0.1:$port/api/v1/stats/leaderboard/global?stat=jumps&period=year&limit=3' | jq -e .error >/dev/null"
kill "$NOCH" 2>/dev/null
wait "$NOCH" 2>/dev/null

# ---- right: a match is won at most once; every rate and every part within its whole -------------------------
# Delta: two free-for-all matches whose server also names a winning team (team_win, match_end winning_team).
# Fay (allies, the most kills) has a team win and an FFA win in each: 2 matches won of 2, not 4 (win_rate 100,
# not 200); Gus has a team loss and an FFA loss in each: 2 lost, not 4. Sent last, so that nothing above
# changes; every answer below is a cache key asked for the first time.
reg=$(register Delta 12206) && S4=$(jq -r .server_id <<<"$reg") && TOK4=$(jq -r .token <<<"$reg")
NAME[106]=Fay NAME[107]=Gus TEAM[106]=american TEAM[107]=german
for m in d4 d5; do
  MATCH=match_00000000000000$m SESSION=sess_00000000000000$m
  T=1 && ev match_start map_name=dm/mohdm2 gametype=1 'maxclients=#16'
  T=2 && player_ev player_spawn 106 && player_ev player_spawn 107
  kill_ev 5 106 107 Thompson head MOD_BULLET 0 0 100 0
  kill_ev 6 107 106 MP40 torso_mid MOD_BULLET 100 0 0 0
  kill_ev 7 106 107 Thompson torso_mid MOD_BULLET 0 0 100 0
  T=9 && ev team_win teamnum=allies
  T=10 && ev match_end map=dm/mohdm2 winning_team=allies allies_score=2 axis_score=1
  send "$TOK4"
done
# An insert fills raw_events before its materialized views, and the two matches may come in two inserts. The
# writer names what an insert changed on the stream `fresh` once all of it is in (common/fresh_stream.h); an answer
# computed before that is served at most 400 ms after queryd read it, while it is computed again
# (docs/definitions.md, "Caching and freshness"). So: the second match named there, then half a second.
check "ingestd stored Delta's 16 events" retry 60 eval \
  "[ \"\$(ch_query \"SELECT count() FROM raw_events WHERE server_id = '$S4'\")\" = 16 ]"
MK5=$(ch_query "SELECT any(match_key) FROM raw_events WHERE server_id = '$S4' AND session_id = 'sess_00000000000000d5'")
check "...and named the second match on the fresh stream" retry 60 eval \
  "redis_cmd XREVRANGE fresh + - COUNT 50 | grep -q '$MK5'"
sleep 0.5
F=stats/player/106
expect "a team win and an FFA win in one match are one win: profile" "$F" \
  '"\(.matches_played) \(.matches_won) \(.win_rate)"' "2 2 100"
expect "...deep: session" "$F/deep" '.session | "\(.matches_played) \(.wins) \(.losses) \(.win_rate)"' "2 2 0 100"
expect "...game flow" "$F/game-flow" '"\(.matches_played) \(.matches_won) \(.matches_lost) \(.win_rate)"' "2 2 0 100"
expect "...maps" "$F/maps" '[.[] | "\(.map_name):\(.matches_played):\(.matches_won):\(.win_rate)"] | join(",")' \
  "dm/mohdm2:2:2:100"
expect "...game types" "$F/gametypes" '[.[] | "\(.gametype):\(.matches_played):\(.matches_won):\(.matches_lost)"] | join(",")' \
  "dm:2:2:0"
expect "...matches" "$F/matches" '[.list[].result] | join(",")' "win,win"
expect "...a team loss and an FFA loss in one match are one loss" "stats/player/107/game-flow" \
  '"\(.matches_played) \(.matches_won) \(.matches_lost) \(.win_rate)"' "2 0 2 0"
# The leaderboards of wins, from a queryd started now (its board holds Delta), under keys not asked before.
port=$(free_port)
QUERYD_URL="http://127.0.0.1:$port" "$MOHSTATS_BIN_DIR/queryd" >"$STACK_DIR/logs/queryd-right.log" 2>&1 &
RIGHTQ=$!
retry 10 eval "curl -s -o /dev/null http://127.0.0.1:$port/health"
rq() {
  curl -s "http://127.0.0.1:$port/api/v1/stats/leaderboard/global?stat=$1&period=all&limit=47" | jq -c -r "$ranks"
}
check_eq "...leaderboard of wins (Fay 2, not 4)" "106:2,101:1,103:1,105:1" "$(rq wins)"
check_eq "...leaderboard of losses (Gus 2, not 4)" "107:2,101:1,102:1,104:1" "$(rq losses)"
check_eq "...team wins and FFA wins still count each kind" "106:2,101:1,103:1 106:2,105:1" "$(rq team_wins) $(rq ffa_wins)"
check_eq "...a leaderboard row: wins within games" "2 2 100" "$(curl -s \
  "http://127.0.0.1:$port/api/v1/stats/leaderboard/global?stat=wins&period=all&limit=1" |
  jq -r '.players[0] | "\(.wins) \(.games) \(.win_rate)"')"
# Every answer the forum reads for a player, and the boards: each number named a rate or a percentage is within
# 0-100, and each count of a part is within its whole, wherever both sit in one object.
bounds='def n($k): (.[$k] | if type == "string" then tonumber? else . end) // null;
  def within($part; $whole): if (n($part) | type) == "number" and (n($whole) | type) == "number" and n($part) > n($whole)
    then ["\($part) \(n($part)) > \($whole) \(n($whole))"] else [] end;
  [.. | objects | (to_entries[] | select((.key | test("(^|_)(rate|percent|pct|percentage|accuracy|overall)$"))
      and (.value | type) == "number" and (.value < 0 or .value > 100)) | "\(.key) \(.value) outside 0-100"),
    (within("matches_won"; "matches_played") + within("matches_lost"; "matches_played")
     + within("wins"; "matches_played") + within("losses"; "matches_played") + within("wins"; "games")
     + within("losses"; "games") + within("headshots"; "kills") + within("shots_hit"; "shots_fired")
     + within("hits"; "shots") | .[]),
    (if (n("matches_won") | type) == "number" and (n("matches_lost") | type) == "number"
       and n("matches_won") + n("matches_lost") > (n("matches_played") // 1e18) then "won + lost > played" else empty end)]
  | join("; ")'
# in_bounds URL: nothing if URL answers 200 within the bounds, else what is wrong.
in_bounds() {
  local body code
  body=$(curl -s -w '\n%{http_code}' "$1")
  code=${body##*$'\n'}
  [ "$code" = 200 ] || {
    echo "[${1#*/api/v1/}: HTTP $code]"
    return
  }
  body=$(jq -r "$bounds" <<<"${body%$'\n'*}" 2>&1)
  [ -z "$body" ] || echo "[${1#*/api/v1/}: $body]"
}
bad=""
for g in 101 102 103 104 105 106 107; do
  for part in "" /deep /game-flow /maps /gametypes /matches /performance /peak-performance /combos /weapons; do
    bad+=$(in_bounds "$API/stats/player/$g$part")
  done
done
for path in stats/leaderboard/cards stats/teams/performance stats/weapons stats/global; do
  bad+=$(in_bounds "$API/$path")
done
for s in wins losses games kills headshots accuracy; do
  bad+=$(in_bounds "http://127.0.0.1:$port/api/v1/stats/leaderboard/global?stat=$s&period=all&limit=47")
done
check_eq "every rate within 0-100 and every part within its whole (players 101-107, boards, cards, teams)" "" "$bad"
kill "$RIGHTQ" 2>/dev/null
wait "$RIGHTQ" 2>/dev/null

# ---- negative answers: a 404 is cached for half a second -----------------------------------------------------
# Hal is asked for before his first event (404, cached), then plays: asked again and again, his profile answers
# 200 once his event is in ClickHouse (the writer's flush, WRITER_FLUSH_MS 1000), plus what is left of the last
# 404 (QUERY_NOT_FOUND_TTL_MS 500), plus one computation of the profile: about 2 s after ingestd's 202 (a 404
# was cached like an answer, QUERY_CACHE_TTL_S, 60 s).
NAME[108]=Hal TEAM[108]=american
# status_ttl PATH KEY: the status of GET PATH, then the time to live of its answer's copy in the cache, looked at
# right after it (PTTL in ms; -1: for ever; -2: none, or gone already on a busy machine).
status_ttl() {
  echo "$(status "$1") $(cache_cmd PTTL "q:$2")"
}
# short_ttl PTTL...: each copy lives 500 ms at most.
short_ttl() {
  local t
  for t; do [ "$t" = -2 ] || { [ "$t" -ge 0 ] && [ "$t" -le 500 ]; } || return 1; done
}
read -r s1 t1 s2 t2 s3 t3 <<<"$(status_ttl stats/match/nope2 match:nope2) $(status_ttl stats/map/nope2 map:nope2) \
  $(status_ttl stats/player/108 p:profile:108)"
check_eq "a match, a map and a player not seen yet are 404" "404 404 404" "$s1 $s2 $s3"
check "...each cached for at most 500 ms (PTTL $t1, $t2, $t3 ms)" short_ttl "$t1" "$t2" "$t3"
# An unknown server is not cached at all: that check is one cheap query. redis-cli prints an empty line when
# KEYS finds nothing (the match's and map's copies expired already, on a busy machine): not a key.
check_eq "...and a server not seen yet is 404, not cached" "404 0" \
  "$(status ../../servers/nope2) $(cache_cmd KEYS 'q:*nope2*' | grep -vc -E '^(q:(match|map):|$)')"
MATCH=match_00000000000000d6 SESSION=sess_00000000000000d6
kill_ev 3 108 107 Thompson head MOD_BULLET 0 0 100 0
send "$TOK4"
# Asked every 50 ms, as a forum page would be (each 404 cached again); the bound is from the moment his event is
# in ClickHouse, which only the writer's flush and the machine's load decide.
t0=$(date +%s%N) t_in=
now_ms() { echo $((($(date +%s%N) - t0) / 1000000)); }
until [ "$(status stats/player/108)" = 200 ] || [ "$(now_ms)" -gt 15000 ]; do
  [ -n "$t_in" ] || [ "$(ch_query "SELECT count() FROM raw_events WHERE actor_guid = '108'")" = 0 ] || t_in=$(now_ms)
  sleep 0.05
done
ms=$(now_ms)
check "...his profile answers 200 within 2 s of his event reaching ClickHouse (202 + ${t_in:-?} ms; 200 at $ms ms)" \
  test "$ms" -le "$((${t_in:-$ms} + 2000))"
expect "...with his kill" stats/player/108 .kills 1

# ---- one vocabulary: a team sent as "allied" is the Allies on every page (issue 18) ---------------------------
# Echo: Ivy (allied) kills Jon (axis) twice, Jon kills Ivy once. The live page once counted only american and
# allies as the Allies (0:1 here) while the views also count allied; both read game_vocab.h's list now.
reg=$(register Echo 12207) && S5=$(jq -r .server_id <<<"$reg") && TOK5=$(jq -r .token <<<"$reg")
NAME[109]=Ivy NAME[110]=Jon TEAM[109]=allied TEAM[110]=axis
MATCH=match_00000000000000e7 SESSION=sess_00000000000000e7
T=1 && ev match_start map_name=obj/obj_team1 gametype=4 'maxclients=#16'
kill_ev 5 109 110 Thompson head MOD_BULLET 0 0 100 0
kill_ev 6 109 110 Thompson torso_mid MOD_BULLET 0 0 100 0
kill_ev 7 110 109 MP40 torso_mid MOD_BULLET 100 0 0 0
send "$TOK5"
check "ingestd stored Echo's 4 events" retry 60 eval \
  "[ \"\$(ch_query \"SELECT count() FROM raw_events WHERE server_id = '$S5'\")\" = 4 ] &&
   [ \"\$(status stats/player/109) \$(status stats/player/110)\" = '200 200' ]"
M5=$(q "stats/matches?server_id=$S5&offset=0&limit=1" '.[0].match_id')
# The live page reads what ingestd's live state publishes once a second, apart from the rows' way to ClickHouse
# (a loaded machine once asked first and got the empty page, cached then for QUERY_LIVE_TTL_S): wait for it. The
# four events came in one batch, so the entry, once there, holds them all.
check "Echo's match is in the live state" retry 15 eval '[ -n "$(redis_cmd HGET live_matches "$S5")" ]'
expect "allied is the Allies: live page" "servers/$S5/live" \
  '"\(.team_match) \(.allies_score):\(.axis_score) \(.team_scores.allies):\(.team_scores.axis)"' "true 2:1 2:1"
expect "...match page" "stats/match/$M5" '"\(.players["109"].team) \(.players["110"].team) \(.team_match)"' \
  "allies axis true"
expect "...and her kills are enemy kills, not team kills (player page)" "stats/player/109" '"\(.kills) \(.deaths)"' "2 1"

# ---- the dashboard's static files (queryd/web.c) and the front door's CORS ---------------------------------

headers=$(curl -sS -D - -o /dev/null "$MOHSTATS_URL/")
check "the front door's / is the dashboard's home page" grep -qi '^content-type: text/html' <<<"$headers"
check "pages are revalidated (Cache-Control: no-cache)" grep -qi '^cache-control: no-cache' <<<"$headers"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^\r]*\).*/\1/p' <<<"$headers")
check_eq "an unchanged page is 304" 304 "$(http_status "$MOHSTATS_URL/" -H "If-None-Match: $etag")"
# Scripts too: their names stay the same from one release to the next, so a page must never run with a cached
# script of the last one. An unchanged one costs a 304.
headers=$(curl -sS -D - -o /dev/null "$MOHSTATS_URL/app.js")
check "scripts are revalidated too (Cache-Control: no-cache)" grep -qi '^cache-control: no-cache' <<<"$headers"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^\r]*\).*/\1/p' <<<"$headers")
check_eq "an unchanged script is 304" 304 "$(http_status "$MOHSTATS_URL/app.js" -H "If-None-Match: $etag")"
check_eq "the chart library comes from the Debian package" \
  "$(wc -c </usr/share/javascript/chart.js/chart.min.js)" "$(curl -sS "$MOHSTATS_URL/vendor/chart.js" | wc -c)"
# Compressed on the way out for the public reads (nginx; only those: see deploy/nginx/mohstats.conf.template).
encoding() {
  curl -sS -D - -o /dev/null -H 'Accept-Encoding: gzip' "$MOHSTATS_URL$1" |
    sed -n 's/^[Cc]ontent-[Ee]ncoding: *\([^\r]*\).*/\1/p'
}
check_eq "the chart library is sent compressed to a browser that takes gzip" gzip "$(encoding /vendor/chart.js)"
gz_size=$(curl -sS -H 'Accept-Encoding: gzip' -o - "$MOHSTATS_URL/vendor/chart.js" | wc -c)
check "and is then at most half its size ($gz_size bytes)" \
  test "$gz_size" -le $(($(wc -c </usr/share/javascript/chart.js/chart.min.js) / 2))
check_eq "the API's answers too (a player's profile)" gzip "$(encoding /api/v1/stats/player/101)"
etag=$(curl -sS -D - -o /dev/null -H 'Accept-Encoding: gzip' "$MOHSTATS_URL/app.js" |
  sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^\r]*\).*/\1/p')
check_eq "a compressed script's (weak) ETag still gets a 304" 304 \
  "$(http_status "$MOHSTATS_URL/app.js" -H 'Accept-Encoding: gzip' -H "If-None-Match: $etag")"
check_eq "an unknown API path is still the API's JSON 404" '{"error":"Not found"}' \
  "$(curl -sS "$MOHSTATS_URL/api/v1/no-such-endpoint")"
escape=$(http_status "$MOHSTATS_URL/..%2f..%2fCMakeLists.txt")
check "a path that escapes the web directory is refused (got $escape)" test "$escape" = 404 -o "$escape" = 400

# CORS: the public reads answer the allowed site's origin, and nothing to any other site; authd's calls never.
cors() {
  curl -sS -D - -o /dev/null -H "Origin: $1" "$MOHSTATS_URL$2" |
    sed -n 's/^[Aa]ccess-[Cc]ontrol-[Aa]llow-[Oo]rigin: *\([^\r]*\).*/\1/p'
}
check_eq "CORS: the allowed site may read the stats API" https://clan.example.org \
  "$(cors https://clan.example.org /api/v1/stats/global)"
check_eq "CORS: another site may not" "" "$(cors https://evil.example.net /api/v1/stats/global)"
check_eq "CORS: never on authd's calls" "" "$(cors https://clan.example.org /api/v1/auth/history?forum_user_id=1)"
check_eq "CORS: never on ingest" "" "$(cors https://clan.example.org /api/v1/ingest/events)"

finish
