#!/usr/bin/env bash
# Teams and tournaments (issue 22, docs/tournaments.md): a small tournament played through ingestd's API with known
# results. The forum links a tournament match to its game through authd (the forum secret; 404, 409, 400); achievd
# writes the result into the forum's tables (winner, scores, a team_matches row per team, wins/losses/draws) once,
# at once for a link made after the game ended, and not again after a restart or a second link call; a scheduled
# match is linked automatically to the one game of its teams, and not when two games fit or one game fits two matches,
# found by its teams' players among 1,000 other games; scores from the rounds each side won (the stock tracker sends
# none); a game linked twice is a 409; a player-based bracket's result, and a winner advanced to the next round's
# match (plugin); automatic links on every variant; a standby achievd writes nothing; the same results in the
# install.sql (smf-mohaa) and plugin schema variants of the forum's tables; queryd's team, head-to-head, tournament
# and member record answers, on every variant; team ratings written into the forum (members' ratings and membership
# changing); a member who left: their games after leaving count for the team no more, those before still do (team
# stats, member record); the bracket by round, with every team's name; no slot among the top players; a crash in the middle of a result's transaction; a link moved between achievd's
# read and its commit; byes (one team or player in a first-round match) advanced without a game, shown as byes and
# in no team's record; the final's winner into the tournament (install_tournaments.sql's variant, v3), once through a
# restart; a player-based (1v1) match linked automatically.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# Automatic links: games ending within 15 s of a match's schedule, decided 2 s after that window closed.
export ACHIEVD_TOURNAMENT_POLL_MS=300 ACHIEVD_TOURNAMENT_WINDOW_S=15 ACHIEVD_TOURNAMENT_SETTLE_S=2
stack_up || exit 1
API=$MOHSTATS_URL/api/v1

. "$(dirname "$0")/match_lib.sh"
check "a game server registered" register_server Cup 12500

# game SESSION ALLIES_GUIDS AXIS_GUIDS WINNER ALLIES_ROUNDS AXIS_ROUNDS: one whole game as the stock tracker sends it
# (start, spawns, a kill each way, a team_win and a round_end per round won, then the end naming its winner and no
# scores: docs/tracker-wire.md §4.3); prints the match id queryd uses, once it is in ClickHouse. The rounds go in a
# batch of their own, before the end's: events of one batch share a receive time, and the winner is the latest's.
game() {
  MATCH=m_$1 SESSION=$1
  local a=() r=() g w=$4 key="" i
  a+=("$(ev match_start 0 '"map_name": "obj/obj_team2", "gametype": "4"')")
  for g in $2; do a+=("$(spawn 1 "$g" american)"); done
  for g in $3; do a+=("$(spawn 1 "$g" german)"); done
  a+=("$(kill_ev 20 "${2%% *}" american "${3%% *}" german)" "$(kill_ev 30 "${3%% *}" german "${2%% *}" american)")
  for ((i = 0; i < $5 + $6; i++)); do
    r+=("$(ev team_win $((40 + i)) "\"teamnum\": \"$([ $i -lt "$5" ] && echo allies || echo axis)\"")")
    r+=("$(ev round_end $((40 + i)) "\"round_number\": $((i + 1))")")
  done
  [ "$(post "${a[@]}")" = 202 ] || return 1
  [ ${#r[@]} -eq 0 ] || [ "$(post "${r[@]}")" = 202 ] || return 1
  [ "$(post "$(ev match_end 300 "\"winning_team\": \"$w\", \"map\": \"obj/obj_team2\"")")" = 202 ] || return 1
  retry 20 eval 'key=$(ch_query "SELECT DISTINCT match_key FROM raw_events WHERE session_id = '"'$1'"' AND event_type = '"'match_end'"'"); [ -n "$key" ]' ||
    return 1
  echo "$key"
}

# link ID BODY [curl options...]: the forum's link call; prints "STATUS BODY".
link() {
  local id=$1 body=$2
  shift 2
  curl -s -w ' %{http_code}' -X POST "$API/auth/tournament-matches/$id/link" -H 'Content-Type: application/json' \
    -H "X-Server-Token: $FORUM_API_TOKEN" --data-binary "$body" "$@" | awk '{s=$NF; $NF=""; print s, $0}'
}
metric() { curl -s "$ACHIEVD_URL/metrics" | awk -v m="$1" '$1 == m {print $2 + 0}'; }

# --- the forum: members with GUIDs, teams, a tournament --------------------------------------------------------
# Alpha: 301 302 (and 303, who joins after the games: not one of its players then); Bravo: 304 305; Charlie: 306;
# Delta: 307; 311 and 312 in no team (v2's duel). Each member's GUID is their number.
NOW=$(date +%s)
mdb_query "INSERT INTO smf_members (id_member, member_name, real_name) VALUES
    (301,'m301','m301'),(302,'m302','m302'),(303,'m303','m303'),(304,'m304','m304'),(305,'m305','m305'),
    (306,'m306','m306'),(307,'m307','m307'),(311,'m311','m311'),(312,'m312','m312');
  INSERT INTO smf_mohaa_identities (id_member, player_guid, linked_at) VALUES
    (301,'301',1),(302,'302',1),(303,'303',1),(304,'304',1),(305,'305',1),(306,'306',1),(307,'307',1),(311,'311',1),
    (312,'312',1);
  INSERT INTO smf_mohaa_teams (id_team, team_name, id_captain) VALUES
    (71,'Alpha',301),(72,'Bravo',304),(73,'Charlie',306),(74,'Delta',307);
  INSERT INTO smf_mohaa_team_members (id_team, id_member, role, joined_date, status) VALUES
    (71,301,'captain',1,'active'),(71,302,'member',1,'active'),(71,303,'member',$((NOW + 86400)),'active'),
    (72,304,'captain',1,'active'),(72,305,'member',1,'active'),(73,306,'captain',1,'active'),(74,307,'captain',1,'active');
  INSERT INTO smf_mohaa_tournaments (id_tournament, name) VALUES (5, 'Winter Cup');
  INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2, id_team_a, id_team_b)
    VALUES (11, 5, 72, 71, 72, 71);" || fail "the forum's rows"

# Game 1: Alpha (allies, with 303 on the Axis side: not yet a member) beats Bravo 5 rounds to 3.
G1=$(game t7_g1 "301 302" "304 305 303" allies 5 3)
check "game 1 is in ClickHouse" test -n "$G1"

# --- the link call ------------------------------------------------------------------------------------------------
out=$(curl -s -w ' %{http_code}' -X POST "$API/auth/tournament-matches/11/link" -d "{\"match_id\": \"$G1\"}")
check_eq "without the forum secret: 401" "401" "${out##* }"
out=$(link 11 "{\"match_id\": \"$G1\"}" -H 'X-Server-Token: not-the-secret')
check_eq "with a wrong secret: 401" "401" "${out%% *}"
check_eq "an unknown tournament match: 404" "404" "$(link 999 "{\"match_id\": \"$G1\"}" | cut -d' ' -f1)"
check_eq "no match_id: 400" "400" "$(link 11 '{}' | cut -d' ' -f1)"
check_eq "a tournament match id that is not a number: 400" "400" "$(link abc "{\"match_id\": \"$G1\"}" | cut -d' ' -f1)"
out=$(link 11 "{\"match_id\": \"$G1\"}")
check_eq "linking tournament match 11 to game 1: 200" "200" "${out%% *}"
check_eq "...the answer names the link" "$G1 forum" "$(jq -r '"\(.match_id) \(.source)"' <<<"${out#* }")"

# The game had ended: the result is written at once (within a poll or two). Its scores are the rounds each side won
# (the stock tracker sends no scores).
t0=$(date +%s%N)
check "the result is recorded" retry 20 eval '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 11")" = 1 ]'
ms=$((($(date +%s%N) - t0) / 1000000))
check "...within 3 s of the link ($ms ms)" test "$ms" -lt 3000
check_eq "bracket match: Alpha (team 2) won 5-3, both schemas' columns, completed, game linked" \
  "71 71 3 5 3 5 completed $G1" \
  "$(mdb_query "SELECT winner_id, id_winner, score_a, score_b, team1_score, team2_score, status, game_match_id
                FROM smf_mohaa_tournament_matches WHERE id_match = 11" | tr '\t' ' ')"
check "...completed_time is the game's end" eval \
  '[ "$(mdb_query "SELECT completed_time FROM smf_mohaa_tournament_matches WHERE id_match = 11")" -ge "$NOW" ]'
history() { # PREFIX: each team's rows of match history
  mdb_query "SELECT id_team, id_opponent, result, map, $2 FROM ${1}mohaa_team_matches ORDER BY id_team, id_match" |
    tr '\t' ' ' | tr '\n' ';'
}
check_eq "a team_matches row per team, plugin and smf-mohaa columns" \
  "71 72 win obj/obj_team2 Bravo 5 5 3 5 3;72 71 loss obj/obj_team2 Alpha 5 3 5 3 5;" \
  "$(history smf_ "opponent_name, id_tournament, team_score, opponent_score, score_us, score_them")"
totals() { mdb_query "SELECT id_team, wins, losses, $2 FROM ${1}mohaa_teams WHERE id_team IN (71, 72) ORDER BY id_team" | tr '\t' ' ' | tr '\n' ';'; }
check_eq "Alpha 1 win, Bravo 1 loss" "71 1 0 0;72 0 1 0;" "$(totals smf_ draws)"
check_eq "achievd counts one result" 1 "$(metric achievd_tournament_results_recorded)"
state=$(curl -s "$API/auth/tournament-matches/11/link" -H "X-Server-Token: $FORUM_API_TOKEN")
check_eq "GET: linked, recorded, team b won" "$G1 true b" "$(jq -r '"\(.match_id) \(.recorded) \(.result)"' <<<"$state")"

# --- exactly once ---------------------------------------------------------------------------------------------------
check_eq "the same link again: 200, nothing changes" "200" "$(link 11 "{\"match_id\": \"$G1\"}" | cut -d' ' -f1)"
check_eq "another game once recorded: 409" "409" "$(link 11 '{"match_id": "m_other"}' | cut -d' ' -f1)"
check_eq "removing a recorded link: 409" "409" "$(link 11 '{"match_id": null}' | cut -d' ' -f1)"
apid=$(cat "$STACK_DIR/run/achievd.pid")
kill -KILL "$apid"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "restarting achievd"
check "achievd is back" retry 20 eval '[ "$(http_status "$ACHIEVD_URL/ready")" = 200 ]'
# a replayed step: the mark gone from achievd's view can only come back through MariaDB, which still has it
sleep 1.5
check_eq "after a restart: still one team_matches row per team" 2 "$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches")"
check_eq "...and the same totals" "71 1 0 0;72 0 1 0;" "$(totals smf_ draws)"
check_eq "...and nothing recorded by the new achievd" 0 "$(metric achievd_tournament_results_recorded)"

# --- a link made before the game ended, and a draw --------------------------------------------------------------
mdb_query "INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2) VALUES (14, 5, 73, 74)"
MATCH=m_t7_g5 SESSION=t7_g5
check_eq "game 5 (Charlie v Delta) starts" 202 "$(post "$(ev match_start 0 '"map_name": "dm/mohdm1", "gametype": "2"')" \
  "$(spawn 1 306 american)" "$(spawn 1 307 german)" "$(kill_ev 20 306 american 307 german)")"
retry 20 eval 'G5=$(ch_query "SELECT DISTINCT match_key FROM raw_events WHERE session_id = '"'t7_g5'"'"); [ -n "$G5" ]'
check_eq "linking 14 to game 5 while it is played: 200" 200 "$(link 14 "{\"match_id\": \"$G5\"}" | cut -d' ' -f1)"
sleep 1
check_eq "...nothing recorded before the game ends" 0 "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 14")"
check_eq "game 5 ends 2-2, no winner" 202 "$(post "$(kill_ev 40 307 german 306 american)" \
  "$(ev match_end 300 '"winning_team": "", "allies_score": 2, "axis_score": 2, "map": "dm/mohdm1"')")"
check "...then the draw is recorded" retry 20 eval '[ "$(mdb_query "SELECT result FROM mohstats_tournament_results WHERE id_match = 14")" = draw ]'
# (game 5's tracker sends scores: they are kept as sent)
check_eq "a draw: no winner, draws counted" "0 NULL;73 0 0 1;74 0 0 1;" \
  "$(mdb_query "SELECT winner_id, IFNULL(id_winner, 'NULL') FROM smf_mohaa_tournament_matches WHERE id_match = 14" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_team, wins, losses, draws FROM smf_mohaa_teams WHERE id_team IN (73, 74) ORDER BY id_team" | tr '\t' ' ' | tr '\n' ';')"

# --- automatic links --------------------------------------------------------------------------------------------
# Game 2: Bravo (allies) beats Alpha. Tournament match 12 (Alpha v Bravo, scheduled 5 s from now) fits only game 2
# (game 1 is linked already): linked, once the window closed. Games 3 and 4: Charlie v Delta twice; match 13
# (Charlie v Delta, the same schedule) is not linked.
SCHED=$(($(date +%s) + 5))
mdb_query "INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2, scheduled_time, status)
  VALUES (12, 5, 71, 72, $SCHED, 'scheduled'), (13, 5, 73, 74, $SCHED, 'scheduled')"
G2=$(game t7_g2 "304 305" "301 302" allies 4 1)
G3=$(game t7_g3 "306" "307" axis 0 1)
G4=$(game t7_g4 "307" "306" axis 0 1)
check "games 2, 3 and 4 are in ClickHouse" test -n "$G2" -a -n "$G3" -a -n "$G4"
check_eq "nothing is linked while the window is open" 0 "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_links WHERE id_match IN (12, 13)")"
check "match 12 is linked to game 2 automatically" retry 60 eval \
  '[ "$(mdb_query "SELECT CONCAT(match_id, \" \", source) FROM mohstats_tournament_links WHERE id_match = 12")" = "$G2 auto" ]'
check "...and its result recorded: Bravo won 4-1" retry 20 eval \
  '[ "$(mdb_query "SELECT CONCAT(id_winner, \" \", team1_score, \"-\", team2_score) FROM smf_mohaa_tournament_matches WHERE id_match = 12")" = "72 1-4" ]'
check "two games fit match 13: counted" retry 30 eval '[ "$(metric achievd_tournament_autolinks_ambiguous)" = 1 ]'
check_eq "...and not linked" 0 "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_links WHERE id_match = 13")"
check "...and logged" grep -q 'tournament match 13: 2 matches of its teams' "$STACK_DIR/logs/achievd.log"
check_eq "totals after two games: Alpha 1-1, Bravo 1-1" "71 1 1 0;72 1 1 0;" "$(totals smf_ draws)"

# --- served by queryd ---------------------------------------------------------------------------------------------
q() { curl -s "$API/stats/$1"; }
check_eq "team 71's matches: 2 played, 1-1, newest first (12: a loss 1-4, 11: a win 5-3 against Bravo)" \
  "2 1 1 0 | 12 loss 1 4 Bravo $G2 | 11 win 5 3 Bravo $G1" \
  "$(q team/71/matches | jq -r '"\(.played) \(.wins) \(.losses) \(.draws)" + ([.matches[] | " | \(.tournament_match_id) \(.result) \(.team_score) \(.opponent_score) \(.opponent_name) \(.match_id)"] | join(""))')"
ts=$(q team/71)
check_eq "team 71's play from its members' GUIDs since they joined (303's game before joining left out): 2 games, 1-1, 2 kills, 2 deaths" \
  "3 2 1 1 2 2 1 obj/obj_team2 2 1 Thompson 2" \
  "$(jq -r '"\(.members_count) \(.matches) \(.wins) \(.losses) \(.kills) \(.deaths) \(.kd_ratio) \(.top_maps[0].map_name) \(.top_maps[0].matches) \(.top_maps[0].wins) \(.top_weapons[0].name) \(.top_weapons[0].kills)"' <<<"$ts")"
check_eq "...per member: 301 all the kills, 302 none, 303 nothing yet" "301 2 2 2 100 | 302 2 0 0 0 | 303 0 0 0 0 | " \
  "$(jq -r '[.members[] | "\(.member_id) \(.matches) \(.kills) \(.deaths) \(.kills_share) | "] | join("")' <<<"$ts")"
check_eq "an unknown team's stats: 404" 404 "$(http_status "$API/stats/team/999")"
check_eq "team 73's matches: the draw, in the Winter Cup" "1 0 0 1 draw 2 2 Winter Cup" \
  "$(q team/73/matches | jq -r '"\(.played) \(.wins) \(.losses) \(.draws) \(.matches[0].result) \(.matches[0].team_score) \(.matches[0].opponent_score) \(.matches[0].tournament_name)"')"
check_eq "head to head 72 v 71: 1-1, mirrored for the opponent" "2 1 1 Alpha 1 1" \
  "$(q team/72/vs/71 | jq -r '"\(.played) \(.wins) \(.losses) \(.opponent.team_name) \(.opponent.wins) \(.opponent.losses)"')"
check_eq "head to head 71 v 73: none" "0" "$(q team/71/vs/73 | jq -r .played)"
check_eq "an unknown team: 404" 404 "$(http_status "$API/stats/team/999/matches")"
check_eq "an unknown opponent: 404" 404 "$(http_status "$API/stats/team/71/vs/999")"
t=$(q tournament/5)
check_eq "tournament 5: its name, one round of 4 matches, 3 games played" "Winter Cup 1 4 3" \
  "$(jq -r '"\(.tournament.name) \(.bracket | length) \(.bracket[0].matches | length) \(.matches_played)"' <<<"$t")"
check_eq "...match 11: Bravo 3, Alpha 5, Alpha won, completed, game 1 with its 2 kills on obj/obj_team2" \
  "Bravo 3 Alpha 5 71 completed $G1 forum 2 obj/obj_team2" \
  "$(jq -r '.bracket[0].matches[] | select(.tournament_match_id == 11) | "\(.team1.team_name) \(.team1_score) \(.team2.team_name) \(.team2_score) \(.winner_id) \(.status) \(.match_id) \(.link_source) \(.game.kills) \(.game.map_name)"' <<<"$t")"
check_eq "...match 13 (not linked): scheduled, no game" "scheduled null null" \
  "$(jq -r '.bracket[0].matches[] | select(.tournament_match_id == 13) | "\(.status) \(.match_id) \(.game)"' <<<"$t")"
check_eq "...top player: 301 (2 kills, 2 deaths, 2 games; 304 has as many, the GUID orders)" "301 2 2 2" \
  "$(jq -r '.top_players[0] | "\(.guid) \(.kills) \(.deaths) \(.matches)"' <<<"$t")"
check_eq "an unknown tournament: 404" 404 "$(http_status "$API/stats/tournament/999")"
check_eq "member 301's record: 1-1 in the Winter Cup with Alpha" "2 1 1 0 Winter Cup Alpha 1 1" \
  "$(q member/301/tournaments | jq -r '"\(.played) \(.wins) \(.losses) \(.draws) \(.tournaments[0].tournament_name) \(.tournaments[0].team_name) \(.tournaments[0].wins) \(.tournaments[0].losses)"')"
check_eq "member 303 joined Alpha after its games: no record" "0" "$(q member/303/tournaments | jq -r .played)"

# --- team ratings into the forum (docs/tournaments.md) -----------------------------------------------------------
# Skill ratings in the team family, as ratingd stores them: 301 at 30 (the later of two), 302 at 26, 304 at 20;
# 303, 305, 306, 307 unrated. Alpha: mean 28, 1000 + 40 * 3 = 1120; Bravo: 20, 800; Charlie and Delta (nobody rated)
# keep the forum's 1000.
rate() { # GUID MATCH END_MS MU...: rated team-family matches, in one insert (achievd sees all of them or none)
  local rows=""
  while [ $# -ge 4 ]; do
    rows+="${rows:+, }('$1', '$2', 'player', $3, 'team', 1, $4, 3)"
    shift 4
  done
  ch_query "INSERT INTO rating_changes (guid, match_key, kind, end_ms, family, rated, mu_after, sigma_after) VALUES $rows"
}
rate 301 r_1 1000 31 301 r_2 2000 30 302 r_1 1000 26 304 r_1 1000 20 || fail "ratings"
ratings() { mdb_query "SELECT id_team, rating FROM ${1}mohaa_teams WHERE id_team BETWEEN 71 AND 74 ORDER BY id_team" | tr '\t' ' ' | tr '\n' ';'; }
check "team ratings written: Alpha 1120, Bravo 800, Charlie and Delta untouched" retry 20 eval \
  '[ "$(ratings smf_)" = "71 1120;72 800;73 1000;74 1000;" ]'
check_eq "...Alpha's is the rating queryd serves, on the forum's scale" "28 1120" \
  "$(q team/71/rating | jq -r '"\(.mu) \(.forum_rating)"')"
check_eq "...written once each" 2 "$(metric achievd_team_ratings_written)"
rate 302 r_3 3000 34
check "a member's rating moves (302: 34): Alpha 1280" retry 20 eval '[ "$(ratings smf_)" = "71 1280;72 800;73 1000;74 1000;" ]'
# 308, rated 30, joins Bravo (mean 25: 1000), then leaves it (800 again)
rate 308 r_1 1000 30
mdb_query "INSERT INTO smf_members (id_member, member_name, real_name) VALUES (308,'m308','m308');
  INSERT INTO smf_mohaa_identities (id_member, player_guid, linked_at) VALUES (308,'308',1);
  INSERT INTO smf_mohaa_team_members (id_team, id_member, role, joined_date, status) VALUES (72,308,'member',1,'active')"
check "a rated member joins Bravo: 1000" retry 20 eval '[ "$(ratings smf_)" = "71 1280;72 1000;73 1000;74 1000;" ]'
# While in Bravo, 308 plays game 12 (a kill and a death against a player of no team); after leaving, game 13.
G12=$(game t7_g12 "308" "x12" allies 1 0)
mdb_query "UPDATE smf_mohaa_team_members SET status = 'left' WHERE id_team = 72 AND id_member = 308"
check "...and leaves it: 800" retry 20 eval '[ "$(ratings smf_)" = "71 1280;72 800;73 1000;74 1000;" ]'
check "achievd notes when 308 left Bravo (the forum keeps no date)" retry 20 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_team_memberships WHERE forum_prefix = '"'smf_'"' AND id_member = 308 AND left_ms > 0")" = 1 ]'
G13=$(game t7_g13 "308" "x13" allies 2 0)
check "games 12 and 13 are in ClickHouse" test -n "$G12" -a -n "$G13"
ts=$(q team/72)
check_eq "Bravo's play counts 308's game while a member (12), not the one after (13): 308 listed as former" \
  "2 3 3 3 | 304 true 2 2 2 | 305 true 2 0 0 | 308 false 1 1 1 | " \
  "$(jq -r '"\(.members_count) \(.matches) \(.kills) \(.deaths) | " + ([.members[] | "\(.member_id) \(.current) \(.matches) \(.kills) \(.deaths) | "] | join(""))' <<<"$ts")"

# Bracket order (round, then place in the round; smf-mohaa: upper bracket first), the same in every variant:
# tournaments 8 (this schema), 9 (v1), 10 (v2), each with its matches created out of order.
mdb_query "INSERT INTO smf_mohaa_tournaments (id_tournament, name) VALUES (8, 'Spring Cup');
  INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, \`round\`, round_number, match_number, id_team1, id_team2)
    VALUES (41, 8, 2, 2, 1, 71, 73), (42, 8, 1, 1, 2, 73, 74), (43, 8, 1, 1, 1, 71, 72)"
bracket_order() { # API PATH
  curl -s "$1/stats/$2" |
    jq -r '[.bracket[] | "\(.round):" + ([.matches[] | "\(.team1.team_id)-\(.team2.team_id)"] | join(","))] | join(" ")'
}
check_eq "the bracket by round, then place: matches created round 2 first" "1:71-72,73-74 2:71-73" \
  "$(bracket_order "$API" tournament/8)"
check_eq "...with the names of teams that have not played in it yet" "Alpha-Bravo,Charlie-Delta,Alpha-Charlie" \
  "$(q tournament/8 | jq -r '[.bracket[].matches[] | "\(.team1.team_name)-\(.team2.team_name)"] | join(",")')"

# --- the forum's schema variants (docs/tournaments.md) ------------------------------------------------------
# v1: install.sql (smf-mohaa): bracket matches id_team_a/b, score_a/b, winner_id, match_date; history score_us/them;
# teams without draws; members without left_date.
# v2: the plugin installers: id_team1/2, team1/2_score, id_winner, game_match_id, ENUM status; history with
# opponent_name, id_tournament, team_score/opponent_score; teams with draws.
# v3: install_tournaments.sql (smf-mohaa's brackets, tournaments with start_date and winner_id_team,
# tournament_participants) beside install.sql's teams.
# Each with its installer's tournaments table. Automatic links on each: v1's match 22 scheduled by match_date (no
# status column), v2's 32 by scheduled_time (an ENUM status), 14 s before their games ended: each fits one game,
# and its window closes 3 s from now. v2's 32 is match 2 of round 1: its winner goes into match 33's slot 2. v2's
# duel cup (players): 34 (311 v 312) linked automatically too, 35 a bye (as the plugin creates one: completed, its
# winner set), both winners advanced into the final 36. v3: two byes (25, 26) and the final 27 (its teams set by
# hand: smf-mohaa advances nothing), whose result names the tournament's winner.
mdb_query "CREATE TABLE v1_mohaa_identities LIKE smf_mohaa_identities;
  INSERT INTO v1_mohaa_identities SELECT * FROM smf_mohaa_identities;
  CREATE TABLE v1_members LIKE smf_members;
  INSERT INTO v1_members SELECT * FROM smf_members;
  CREATE TABLE v1_mohaa_tournaments (id_tournament INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL,
    description TEXT, format VARCHAR(20) DEFAULT 'single_elim', game_type VARCHAR(50) DEFAULT 'tdm',
    max_teams INT UNSIGNED DEFAULT 16, status VARCHAR(20) DEFAULT 'open', tournament_start INT UNSIGNED DEFAULT 0,
    tournament_end INT UNSIGNED DEFAULT 0, prize_description TEXT, rules TEXT, created_by INT UNSIGNED DEFAULT 0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, KEY (status));
  CREATE TABLE v1_mohaa_teams (id_team INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, team_name VARCHAR(255) NOT NULL UNIQUE,
    team_tag VARCHAR(10) DEFAULT '', description TEXT, logo_url VARCHAR(255) DEFAULT '', website VARCHAR(255) DEFAULT '',
    id_captain INT UNSIGNED DEFAULT 0, founded_date INT UNSIGNED DEFAULT 0, status VARCHAR(20) DEFAULT 'active',
    rating INT DEFAULT 1000, wins INT UNSIGNED DEFAULT 0, losses INT UNSIGNED DEFAULT 0, recruiting TINYINT UNSIGNED DEFAULT 0);
  CREATE TABLE v1_mohaa_team_members (id_team INT UNSIGNED NOT NULL, id_member INT UNSIGNED NOT NULL,
    role VARCHAR(20) DEFAULT 'member', joined_date INT UNSIGNED DEFAULT 0, status VARCHAR(20) DEFAULT 'active',
    PRIMARY KEY (id_team, id_member));
  CREATE TABLE v1_mohaa_team_matches (id_match INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, id_team INT UNSIGNED NOT NULL,
    id_opponent INT UNSIGNED NOT NULL DEFAULT 0, match_date INT UNSIGNED DEFAULT 0, result VARCHAR(10) DEFAULT '',
    map VARCHAR(100) DEFAULT '', score_us INT DEFAULT 0, score_them INT DEFAULT 0);
  CREATE TABLE v1_mohaa_tournament_matches (id_match INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    id_tournament INT UNSIGNED NOT NULL, \`round\` INT UNSIGNED DEFAULT 1, bracket_group INT UNSIGNED DEFAULT 0,
    id_team_a INT UNSIGNED DEFAULT 0, id_team_b INT UNSIGNED DEFAULT 0, score_a INT UNSIGNED DEFAULT 0,
    score_b INT UNSIGNED DEFAULT 0, winner_id INT UNSIGNED DEFAULT 0, match_date INT UNSIGNED DEFAULT 0);
  CREATE TABLE v2_mohaa_identities LIKE smf_mohaa_identities;
  INSERT INTO v2_mohaa_identities SELECT * FROM smf_mohaa_identities;
  CREATE TABLE v2_members LIKE smf_members;
  INSERT INTO v2_members SELECT * FROM smf_members;
  CREATE TABLE v2_mohaa_tournaments (id_tournament INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    id_creator INT UNSIGNED DEFAULT 0, name VARCHAR(255) NOT NULL, description TEXT,
    tournament_type ENUM('single_elim','double_elim','round_robin','swiss') DEFAULT 'single_elim',
    team_size TINYINT UNSIGNED DEFAULT 1, max_teams INT UNSIGNED DEFAULT 16, game_mode VARCHAR(50) DEFAULT 'tdm',
    maps TEXT, rules TEXT, prize_info TEXT,
    status ENUM('draft','registration','active','completed','cancelled') DEFAULT 'draft',
    registration_start INT UNSIGNED DEFAULT 0, registration_end INT UNSIGNED DEFAULT 0,
    tournament_start INT UNSIGNED DEFAULT 0, tournament_end INT UNSIGNED DEFAULT 0, created_date INT UNSIGNED DEFAULT 0,
    KEY (status), KEY (id_creator));
  CREATE TABLE v2_mohaa_teams (id_team INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, team_name VARCHAR(100) NOT NULL UNIQUE,
    team_tag VARCHAR(10) DEFAULT '', description TEXT, logo_url VARCHAR(255) DEFAULT '', banner_url VARCHAR(255) DEFAULT '',
    id_captain INT UNSIGNED NOT NULL, founded_date INT UNSIGNED DEFAULT 0,
    status ENUM('active','inactive','disbanded') DEFAULT 'active', rating INT DEFAULT 1000,
    wins INT UNSIGNED DEFAULT 0, losses INT UNSIGNED DEFAULT 0, draws INT UNSIGNED DEFAULT 0);
  CREATE TABLE v2_mohaa_team_members (id_team INT UNSIGNED NOT NULL, id_member INT UNSIGNED NOT NULL,
    role ENUM('captain','officer','member','substitute') DEFAULT 'member', joined_date INT UNSIGNED DEFAULT 0,
    status ENUM('active','inactive','left','kicked') DEFAULT 'active', PRIMARY KEY (id_team, id_member));
  CREATE TABLE v2_mohaa_team_matches (id_match INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, id_team INT UNSIGNED NOT NULL,
    id_opponent INT UNSIGNED NULL, opponent_name VARCHAR(100) DEFAULT '', id_tournament INT UNSIGNED NULL,
    map VARCHAR(50) DEFAULT '', team_score INT DEFAULT 0, opponent_score INT DEFAULT 0,
    result ENUM('win','loss','draw') NOT NULL, match_date INT UNSIGNED DEFAULT 0);
  CREATE TABLE v2_mohaa_tournament_matches (id_match INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    id_tournament INT UNSIGNED NOT NULL, round_number TINYINT UNSIGNED DEFAULT 1, match_number INT UNSIGNED DEFAULT 1,
    bracket_position VARCHAR(20) DEFAULT '', id_team1 INT UNSIGNED NULL, id_team2 INT UNSIGNED NULL,
    id_player1 INT UNSIGNED NULL, id_player2 INT UNSIGNED NULL, team1_score INT DEFAULT 0, team2_score INT DEFAULT 0,
    id_winner INT UNSIGNED NULL, game_match_id VARCHAR(64) NULL,
    status ENUM('pending','scheduled','live','completed','forfeit') DEFAULT 'pending',
    scheduled_time INT UNSIGNED NULL, completed_time INT UNSIGNED NULL);
  CREATE TABLE v3_mohaa_identities LIKE smf_mohaa_identities;
  INSERT INTO v3_mohaa_identities SELECT * FROM smf_mohaa_identities;
  CREATE TABLE v3_members LIKE smf_members;
  INSERT INTO v3_members SELECT * FROM smf_members;
  CREATE TABLE v3_mohaa_teams LIKE v1_mohaa_teams;
  CREATE TABLE v3_mohaa_team_members LIKE v1_mohaa_team_members;
  CREATE TABLE v3_mohaa_team_matches LIKE v1_mohaa_team_matches;
  CREATE TABLE v3_mohaa_tournaments (id_tournament INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL,
    description TEXT, status VARCHAR(20) DEFAULT 'open', format VARCHAR(20) DEFAULT 'single_elim',
    start_date INT UNSIGNED DEFAULT 0, max_teams INT UNSIGNED DEFAULT 16, winner_id_team INT UNSIGNED DEFAULT 0);
  CREATE TABLE v3_mohaa_tournament_participants (id_tournament INT UNSIGNED NOT NULL, id_team INT UNSIGNED NOT NULL,
    seed INT UNSIGNED DEFAULT 0, registration_date INT UNSIGNED DEFAULT 0, status VARCHAR(20) DEFAULT 'pending',
    PRIMARY KEY (id_tournament, id_team));
  CREATE TABLE v3_mohaa_tournament_matches LIKE v1_mohaa_tournament_matches;"
for v in v1 v2 v3; do
  mdb_query "INSERT INTO ${v}_mohaa_teams (id_team, team_name, id_captain) SELECT id_team, team_name, id_captain FROM smf_mohaa_teams;
    INSERT INTO ${v}_mohaa_team_members (id_team, id_member, role, joined_date, status)
      SELECT id_team, id_member, role, joined_date, status FROM smf_mohaa_team_members;
    INSERT INTO mohstats_team_memberships (forum_prefix, id_team, id_member, joined_ms, left_ms)
      SELECT '${v}_', id_team, id_member, joined_ms, left_ms FROM mohstats_team_memberships WHERE forum_prefix = 'smf_';
    CREATE TABLE ${v}_mohaa_achievement_defs LIKE smf_mohaa_achievement_defs;
    CREATE TABLE ${v}_mohaa_player_achievements LIKE smf_mohaa_player_achievements;
    CREATE TABLE ${v}_mohaa_achievement_progress LIKE smf_mohaa_achievement_progress;"
done
# The mohstats tables are the database's, not a prefix's: the variants' bracket matches take ids of their own.
mdb_query "INSERT INTO v1_mohaa_tournaments (id_tournament, name) VALUES (6, 'Winter Cup'), (9, 'Spring Cup');
  INSERT INTO v2_mohaa_tournaments (id_tournament, name) VALUES (7, 'Winter Cup'), (10, 'Spring Cup');
  INSERT INTO v1_mohaa_tournament_matches (id_match, id_tournament, id_team_a, id_team_b) VALUES (21, 6, 72, 71);
  INSERT INTO v2_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2) VALUES (31, 7, 73, 74);
  INSERT INTO v1_mohaa_tournament_matches (id_match, id_tournament, \`round\`, bracket_group, id_team_a, id_team_b)
    VALUES (51, 9, 2, 0, 71, 73), (52, 9, 1, 1, 73, 74), (53, 9, 1, 0, 71, 72);
  INSERT INTO v2_mohaa_tournament_matches (id_match, id_tournament, round_number, match_number, id_team1, id_team2)
    VALUES (61, 10, 2, 1, 71, 73), (62, 10, 1, 2, 73, 74), (63, 10, 1, 1, 71, 72);
  INSERT INTO v2_mohaa_tournaments (id_tournament, name) VALUES (11, 'Duel Cup');
  INSERT INTO v2_mohaa_tournament_matches (id_match, id_tournament, round_number, match_number, id_player1, id_player2,
    status, id_winner) VALUES (35, 11, 1, 2, 301, NULL, 'completed', 301), (36, 11, 2, 1, NULL, NULL, 'pending', NULL);
  INSERT INTO v3_mohaa_tournaments (id_tournament, name) VALUES (6, 'Winter Cup');
  INSERT INTO v3_mohaa_tournament_matches (id_match, id_tournament, \`round\`, id_team_a, id_team_b)
    VALUES (25, 6, 1, 71, 0), (26, 6, 1, 0, 72), (27, 6, 2, 71, 72);
  INSERT INTO mohstats_tournament_links (id_match, match_id, source) VALUES (21, '$G1', 'forum'), (31, '$G5', 'forum'),
    (27, '$G1', 'forum');
  INSERT INTO smf_mohaa_tournaments (id_tournament, name) VALUES (20, 'Summer Cup');
  INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, round_number, match_number, id_team1, id_team2,
    status, id_winner) VALUES (101, 20, 1, 1, 71, NULL, 'pending', NULL), (102, 20, 1, 2, 72, NULL, 'completed', 72),
    (103, 20, 2, 1, NULL, NULL, 'pending', NULL)"
for v in v1 v2 v3; do
  port=$(free_port)
  SMF_DB_PREFIX=${v}_ ACHIEVD_GROUP=achievd_$v ACHIEVD_URL=http://127.0.0.1:$port \
    "$MOHSTATS_BIN_DIR/achievd" >"$STACK_DIR/logs/achievd_$v.log" 2>&1 &
  eval "PID_$v=\$!"
done
# (the achievds poll before the games end.) achievd looks at a match scheduled at S for one window (15 s here),
# starting when the window around S has closed and settled (S + 15 s + settle): S must be within 15 s of its game,
# and that look must come after the row is written. S = now - 14 s (as once here) needs the game within the last
# 29 s, which a loaded machine playing both games and waiting for ClickHouse once missed; S = the game's own time
# alone may leave the look already past. So the later of the game's time and "now - 14 s", within 14 s of the game.
AT_V1=$(date +%s)
GV1=$(game t7_gv1 "301 302" "304 305" allies 1 0)
AT_V2=$(date +%s)
GV2=$(game t7_gv2 "306" "307" axis 0 2)
AT_V3=$(date +%s)
GV3=$(game t7_gv3 "311" "312" axis 0 1)
check "games v1, v2 and v2's duel are in ClickHouse" test -n "$GV1" -a -n "$GV2" -a -n "$GV3"
schedule_for() {
  local late=$(($(date +%s) - 14))
  echo $((late > $1 + 14 ? $1 + 14 : (late > $1 ? late : $1)))
}
mdb_query "INSERT INTO v1_mohaa_tournament_matches (id_match, id_tournament, id_team_a, id_team_b, match_date)
    VALUES (22, 6, 71, 72, $(schedule_for "$AT_V1"));
  INSERT INTO v2_mohaa_tournament_matches (id_match, id_tournament, round_number, match_number, id_team1, id_team2,
    status, scheduled_time) VALUES (32, 7, 1, 2, 73, 74, 'scheduled', $(schedule_for "$AT_V2")), (33, 7, 2, 1, 71, NULL, 'pending', NULL);
  INSERT INTO v2_mohaa_tournament_matches (id_match, id_tournament, round_number, match_number, id_player1, id_player2,
    status, scheduled_time) VALUES (34, 11, 1, 1, 311, 312, 'scheduled', $(schedule_for "$AT_V3"))"
check "v1 (install.sql): recorded" retry 30 eval '[ "$(mdb_query "SELECT winner_id FROM v1_mohaa_tournament_matches WHERE id_match = 21")" = 71 ]'
check "v1: match 22 linked to game v1 automatically (match_date)" retry 30 eval \
  '[ "$(mdb_query "SELECT CONCAT(match_id, \" \", source) FROM mohstats_tournament_links WHERE id_match = 22")" = "$GV1 auto" ]'
check "...and recorded" retry 20 eval '[ "$(mdb_query "SELECT winner_id FROM v1_mohaa_tournament_matches WHERE id_match = 22")" = 71 ]'
check_eq "v1: Bravo (team a, axis) lost 3-5 to Alpha (21), Alpha beat Bravo 1-0 (22): scores and history in smf-mohaa's columns" \
  "3 5;1 0;71 72 win obj/obj_team2 5 3;71 72 win obj/obj_team2 1 0;72 71 loss obj/obj_team2 3 5;72 71 loss obj/obj_team2 0 1;" \
  "$(mdb_query "SELECT score_a, score_b FROM v1_mohaa_tournament_matches WHERE id_match IN (21, 22) ORDER BY id_match" | tr '\t' ' ' | tr '\n' ';')$(
    history v1_ "score_us, score_them")"
check_eq "v1: wins and losses (no draws column)" "71 2 0;72 0 2;" \
  "$(mdb_query "SELECT id_team, wins, losses FROM v1_mohaa_teams WHERE id_team IN (71, 72) ORDER BY id_team" | tr '\t' ' ' | tr '\n' ';')"
check "v2 (plugin): recorded" retry 30 eval '[ "$(mdb_query "SELECT status FROM v2_mohaa_tournament_matches WHERE id_match = 31")" = completed ]'
check "v2: match 32 linked to game v2 automatically (scheduled_time)" retry 30 eval \
  '[ "$(mdb_query "SELECT CONCAT(match_id, \" \", source) FROM mohstats_tournament_links WHERE id_match = 32")" = "$GV2 auto" ]'
check "...and recorded" retry 20 eval '[ "$(mdb_query "SELECT status FROM v2_mohaa_tournament_matches WHERE id_match = 32")" = completed ]'
check_eq "v2: a draw (31), no winner; Delta won 32 2-0; the games linked; history in the plugin's columns; draws counted" \
  "NULL 2 2 $G5;74 0 2 $GV2;73 74 draw dm/mohdm1 Delta 7 2 2;73 74 loss obj/obj_team2 Delta 7 0 2;74 73 draw dm/mohdm1 Charlie 7 2 2;74 73 win obj/obj_team2 Charlie 7 2 0;73 0 1 1;74 1 0 1;" \
  "$(mdb_query "SELECT IFNULL(id_winner, 'NULL'), team1_score, team2_score, game_match_id FROM v2_mohaa_tournament_matches WHERE id_match IN (31, 32) ORDER BY id_match" | tr '\t' ' ' | tr '\n' ';')$(
    history v2_ "opponent_name, id_tournament, team_score, opponent_score")$(
    mdb_query "SELECT id_team, wins, losses, draws FROM v2_mohaa_teams WHERE id_team IN (73, 74) ORDER BY id_team" | tr '\t' ' ' | tr '\n' ';')"
check_eq "v2: Delta, winner of match 2 of round 1, goes into match 33's slot 2 (slot 1 kept)" "71 74" \
  "$(mdb_query "SELECT id_team1, id_team2 FROM v2_mohaa_tournament_matches WHERE id_match = 33" | tr '\t' ' ')"
check "v1, v2 and v3: the same team ratings" retry 20 eval \
  '[ "$(ratings v1_)|$(ratings v2_)|$(ratings v3_)" = "71 1280;72 800;73 1000;74 1000;|71 1280;72 800;73 1000;74 1000;|71 1280;72 800;73 1000;74 1000;" ]'
# Byes: a first-round match with one team (or player) advances it without a game, recorded once, never linked.
check "v2: the duel 34 (311 v 312) linked to its game automatically" retry 30 eval \
  '[ "$(mdb_query "SELECT CONCAT(match_id, \" \", source) FROM mohstats_tournament_links WHERE id_match = 34")" = "$GV3 auto" ]'
check "...recorded, and the bye 35 too" retry 20 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match IN (34, 35)")" = 2 ]'
check_eq "v2: 312 won the duel 1-0; 301's bye: no game, marked a bye; the final 36 is 312 (from 34) v 301 (from 35)" \
  "312 0 1 completed $GV3;301 completed NULL;34 b $GV3;35 bye ;312 301;" \
  "$(mdb_query "SELECT id_winner, team1_score, team2_score, status, game_match_id FROM v2_mohaa_tournament_matches WHERE id_match = 34" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_winner, status, IFNULL(game_match_id, 'NULL') FROM v2_mohaa_tournament_matches WHERE id_match = 35" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_match, result, match_id FROM mohstats_tournament_results WHERE id_match IN (34, 35) ORDER BY id_match" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_player1, id_player2 FROM v2_mohaa_tournament_matches WHERE id_match = 36" | tr '\t' ' ' | tr '\n' ';')"
check "smf_: the byes 101 and 102 recorded" retry 20 eval \
  '[ "$(mdb_query "SELECT GROUP_CONCAT(result) FROM mohstats_tournament_results WHERE id_match IN (101, 102)")" = "bye,bye" ]'
check_eq "...each team advanced into the final 103 (by match number); no history, no totals; not linked" \
  "71 completed;72 completed;71 72;71 1 1 0;72 1 1 0;0" \
  "$(mdb_query "SELECT id_winner, status FROM smf_mohaa_tournament_matches WHERE id_match IN (101, 102) ORDER BY id_match" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_team1, id_team2 FROM smf_mohaa_tournament_matches WHERE id_match = 103" | tr '\t' ' ' | tr '\n' ';')$(
    totals smf_ draws)$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches WHERE match_date = 0 OR id_opponent = 0")"
check "v3 (install_tournaments.sql): the final 27 recorded" retry 20 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match IN (25, 26, 27)")" = 3 ]'
check_eq "...Alpha won it 5-3, the byes' winners set; the tournament's winner is Alpha, and it is completed" \
  "71 0 0;72 0 0;71 5 3;71 completed" \
  "$(mdb_query "SELECT winner_id, score_a, score_b FROM v3_mohaa_tournament_matches WHERE id_match IN (25, 26, 27) ORDER BY id_match" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT winner_id_team, status FROM v3_mohaa_tournaments WHERE id_tournament = 6" | tr '\t' ' ')"
# Exactly once through a restart: the forum's admin reopens the tournament and clears the winners and a rating by
# hand; a restarted achievd rates the team again (a whole poll) and writes none of the rest again.
mdb_query "UPDATE v3_mohaa_tournaments SET status = 'active', winner_id_team = 0 WHERE id_tournament = 6;
  UPDATE v3_mohaa_tournament_matches SET winner_id = 0 WHERE id_match IN (25, 27);
  UPDATE v3_mohaa_teams SET rating = 1 WHERE id_team = 71"
kill -KILL "$PID_v3"
wait "$PID_v3" 2>/dev/null
port=$(free_port)
SMF_DB_PREFIX=v3_ ACHIEVD_GROUP=achievd_v3 ACHIEVD_URL=http://127.0.0.1:$port \
  "$MOHSTATS_BIN_DIR/achievd" >"$STACK_DIR/logs/achievd_v3_again.log" 2>&1 &
PID_v3=$!
check "v3: the restarted achievd has polled (Alpha's rating written again)" retry 20 eval \
  '[ "$(mdb_query "SELECT rating FROM v3_mohaa_teams WHERE id_team = 71")" = 1280 ]'
check_eq "...and wrote no result, bye or winner again" "active 0;0;0;3" \
  "$(mdb_query "SELECT status, winner_id_team FROM v3_mohaa_tournaments WHERE id_tournament = 6" | tr '\t' ' ');$(
    mdb_query "SELECT SUM(winner_id) FROM v3_mohaa_tournament_matches WHERE id_match IN (25, 27)");$(
    curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "achievd_tournament_results_recorded" {print $2 + 0}');$(
    mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match IN (25, 26, 27)")"
kill -TERM "$PID_v1" "$PID_v2" "$PID_v3"
wait "$PID_v1" "$PID_v2" "$PID_v3" 2>/dev/null

# queryd on each variant, with a cache of its own (an answer's key does not name the prefix): the same answers as
# on this schema for the same facts. v1's match 21 is this schema's 11 (Bravo v Alpha, game 1), v2's 31 is its 14
# (Charlie v Delta, game 5's draw).
declare -A VAPI VPID
db=1
for v in v1 v2 v3; do
  port=$(free_port)
  SMF_DB_PREFIX=${v}_ QUERYD_URL=http://127.0.0.1:$port QUERY_BOARD_WARM=0 CACHE_REDIS_URL=${CACHE_REDIS_URL%/*}/$db \
    "$MOHSTATS_BIN_DIR/queryd" >"$STACK_DIR/logs/queryd_$v.log" 2>&1 &
  VPID[$v]=$!
  VAPI[$v]=http://127.0.0.1:$port/api/v1
  db=$((db + 1))
  retry 20 eval '[ "$(http_status "http://127.0.0.1:'"$port"'/ready")" = 200 ]' || fail "queryd on $v"
done
qv() { curl -s "${VAPI[$1]}/stats/$2"; }
entry() { # ID PATH: the answer's entry of tournament match ID, without its ids
  jq -cS --argjson id "$1" "$2 | select(.tournament_match_id == \$id) | del(.tournament_match_id, .id_tournament)"
}
for v in v1 v2; do
  for t in 71 72 73; do
    check_eq "$v: team $t's stats as on this schema" "$(q team/$t | jq -cS .)" "$(qv $v team/$t | jq -cS .)"
  done
done
check_eq "v1: the bracket by round, then upper before lower" "1:71-72,73-74 2:71-73" "$(bracket_order "${VAPI[v1]}" tournament/9)"
check_eq "v2: the bracket by round, then match number" "1:71-72,73-74 2:71-73" "$(bracket_order "${VAPI[v2]}" tournament/10)"
check_eq "v1: tournament 6's match 21 as this schema's 11" "$(q tournament/5 | entry 11 '.bracket[].matches[]')" \
  "$(qv v1 tournament/6 | entry 21 '.bracket[].matches[]')"
check_eq "v2: tournament 7's match 31 as this schema's 14" "$(q tournament/5 | entry 14 '.bracket[].matches[]')" \
  "$(qv v2 tournament/7 | entry 31 '.bracket[].matches[]')"
h=$(qv v1 team/71/matches)
check_eq "v1: team 71's history: only this forum's matches 21 and 22, 21 as this schema's 11" \
  "2 2 $(q team/71/matches | entry 11 '.matches[]')" "$(jq -r '"\(.played) \(.wins)"' <<<"$h") $(entry 21 '.matches[]' <<<"$h")"
h=$(qv v2 team/73/matches)
check_eq "v2: team 73's history: matches 31 and 32, 31 as this schema's 14" \
  "2 $(q team/73/matches | entry 14 '.matches[]')" "$(jq -r .played <<<"$h") $(entry 31 '.matches[]' <<<"$h")"
check_eq "v1: head to head 72 v 71: Bravo lost matches 21 and 22" "2 0 2 Alpha" \
  "$(qv v1 team/72/vs/71 | jq -r '"\(.played) \(.wins) \(.losses) \(.opponent.team_name)"')"
check_eq "v1: member 301's record: matches 21 and 22 won with Alpha in the Winter Cup" "2 2 0 Winter Cup Alpha" \
  "$(qv v1 member/301/tournaments | jq -r '"\(.played) \(.wins) \(.losses) \(.tournaments[0].tournament_name) \(.tournaments[0].team_name)"')"
check_eq "v2: member 306's record: the draw and the loss with Charlie" "2 0 1 1 Charlie" \
  "$(qv v2 member/306/tournaments | jq -r '"\(.played) \(.wins) \(.losses) \(.draws) \(.tournaments[0].team_name)"')"
check_eq "v1 (install.sql's tournaments) and v2 (the plugin's): tournaments 6 and 7 by name, the plugin's times as numbers" \
  "Winter Cup|Winter Cup number" \
  "$(qv v1 tournament/6 | jq -r .tournament.name)|$(qv v2 tournament/7 | jq -r '"\(.tournament.name) \(.tournament.registration_start | type)"')"
check_eq "v1: team 71's rating as its forum column" 1280 "$(qv v1 team/71/rating | jq -r .forum_rating)"
byes() { jq -r '[.bracket[].matches[] | "\(.tournament_match_id) \(.bye) \(.status) \(.winner_id) \(.match_id)"] | join("|")'; }
check_eq "the Summer Cup's bracket: 101 and 102 byes, completed, no game; the final 103 between their teams" \
  "101 true completed 71 null|102 true completed 72 null|103 false pending 0 null" "$(q tournament/20 | byes)"
check_eq "v3: tournament 6's byes and final (install_tournaments.sql's names)" \
  "25 true completed 0 null|26 true completed 72 null|27 false completed 0 $G1" "$(qv v3 tournament/6 | byes)"
check_eq "v3: a bye is no match played: team 71's history and member 301's record hold the final alone" "1 27 1" \
  "$(qv v3 team/71/matches | jq -r '"\(.played) \(.matches[0].tournament_match_id)"') $(qv v3 member/301/tournaments | jq -r .played)"
check_eq "v2: the duel cup's bye, by its player" "34 false completed 312 $GV3|35 true completed 301 null|36 false pending 0 null" \
  "$(qv v2 tournament/11 | byes)"
kill -TERM "${VPID[v1]}" "${VPID[v2]}" "${VPID[v3]}"
wait "${VPID[v1]}" "${VPID[v2]}" "${VPID[v3]}" 2>/dev/null

# --- a crash in the middle of a result's transaction -------------------------------------------------------------
# Another session holds Bravo's row, so achievd's transaction for match 15 (Alpha v Bravo) stops at Bravo's totals,
# after the mark, the bracket match, both history rows and Alpha's totals; achievd is killed there. MariaDB rolls
# the transaction back when the holder lets go; the restarted achievd writes the result once.
G6=$(game t7_g6 "301 302" "304 305" allies 3 0)
mdb_query "INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2) VALUES (15, 5, 71, 72)"
rows_before=$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches")
before="$(totals smf_ draws) $rows_before"
mdb_query "START TRANSACTION; SELECT id_team FROM smf_mohaa_teams WHERE id_team = 72 FOR UPDATE; SELECT SLEEP(6); COMMIT" \
  >/dev/null &
holder=$!
sleep 0.5
check_eq "linking 15 to game 6: 200" 200 "$(link 15 "{\"match_id\": \"$G6\"}" | cut -d' ' -f1)"
# (INNODB_TRX needs the PROCESS privilege; a user sees its own sessions in PROCESSLIST, and an UPDATE of one row
# that stays there is waiting for its lock)
check "achievd's transaction waits for Bravo's row" retry 5 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '"'UPDATE smf_mohaa_teams SET losses%'"'")" = 1 ]'
kill -KILL "$(cat "$STACK_DIR/run/achievd.pid")"
wait "$holder"
sleep 1
check_eq "killed mid-transaction: nothing of match 15 is written" "$before 0" \
  "$(totals smf_ draws) $(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches") $(
    mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 15")"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "restarting achievd"
check "the restarted achievd records match 15" retry 20 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 15")" = 1 ]'
check_eq "...once: Alpha 2-1, Bravo 1-2, two more history rows" "71 2 1 0;72 1 2 0; $((rows_before + 2))" \
  "$(totals smf_ draws) $(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches")"
check_eq "...with match 15's own two rows" 2 "$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches WHERE id_team IN (71, 72) AND match_date = (SELECT ended_at FROM mohstats_tournament_results WHERE id_match = 15)")"

# --- links that never resolve do not hold up the others --------------------------------------------------------
# 120 tournament matches linked to games that never end, more than achievd reads in one step (100), all before
# match 2000 in id order: match 2000's result is still recorded.
mdb_query "INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2)
    SELECT 1000 + seq, 5, 73, 74 FROM seq_0_to_119;
  INSERT INTO mohstats_tournament_links (id_match, match_id, source, linked_at)
    SELECT 1000 + seq, CONCAT('m_never_', seq), 'forum', 1 FROM seq_0_to_119;
  INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2) VALUES (2000, 5, 71, 72)" ||
  fail "120 links that never resolve"
G7=$(game t7_g7 "301 302" "304 305" allies 2 0)
check_eq "linking 2000 to game 7: 200" 200 "$(link 2000 "{\"match_id\": \"$G7\"}" | cut -d' ' -f1)"
check "...recorded behind 120 links that never resolve" retry 20 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 2000")" = 1 ]'

# --- a link moved between achievd's read of it and its commit ----------------------------------------------------
# Tournament match 16 (Alpha v Bravo) is linked to game 10 (Bravo won) while another session holds the teams table:
# achievd reads the link, decides from game 10 and waits for the teams' names before its transaction. The forum
# moves the link to game 11 (Alpha won) meanwhile. The result recorded is game 11's. (Games of their own, in no
# scheduled match's window: one a scheduled match could still take automatically would make the move a 409.)
G10=$(game t7_g10 "301 302" "304 305" axis 0 1)
G11=$(game t7_g11 "304 305" "301 302" axis 0 1)
check "games 10 and 11 are in ClickHouse" test -n "$G10" -a -n "$G11"
mdb_query "INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2) VALUES (16, 5, 71, 72)"
mdb_query "LOCK TABLES smf_mohaa_teams WRITE; SELECT SLEEP(5); UNLOCK TABLES" >/dev/null &
holder=$!
sleep 0.5
check_eq "linking 16 to game 10: 200" 200 "$(link 16 "{\"match_id\": \"$G10\"}" | cut -d' ' -f1)"
check "achievd has read the link and waits for the teams table" retry 10 eval \
  '[ "$(mdb_query "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '"'SELECT team_name FROM smf_mohaa_teams%'"'")" = 1 ]'
check_eq "...the forum moves the link to game 11: 200" 200 "$(link 16 "{\"match_id\": \"$G11\"}" | cut -d' ' -f1)"
wait "$holder"
check "match 16 is recorded" retry 20 eval '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 16")" = 1 ]'
check_eq "...from game 11, where Alpha (team a) won, and so is the bracket match" "$G11 a;71 $G11;" \
  "$(mdb_query "SELECT match_id, result FROM mohstats_tournament_results WHERE id_match = 16" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_winner, game_match_id FROM smf_mohaa_tournament_matches WHERE id_match = 16" | tr '\t' ' ' | tr '\n' ';')"

# --- a player-based bracket (the plugin's: id_player1/id_player2 without teams), its winner advanced -------------
# Game 10 is free again (match 16 moved to game 11): 301 (allies) lost it to 304 (axis), 0-1.
rows_before=$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches")
mdb_query "INSERT INTO smf_mohaa_tournaments (id_tournament, name) VALUES (14, 'Duel Cup');
  INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, round_number, match_number, id_player1, id_player2)
    VALUES (90, 14, 1, 1, 301, 304), (91, 14, 2, 1, NULL, 309)"
check_eq "linking 90 (player 301 v player 304) to game 10: 200" 200 "$(link 90 "{\"match_id\": \"$G10\"}" | cut -d' ' -f1)"
check "...recorded" retry 20 eval '[ "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_results WHERE id_match = 90")" = 1 ]'
check_eq "...304 won 1-0, the members in the mark and not the teams, no team history; 304 into match 91's slot 1" \
  "304 304 0 1 completed $G10;0 0 301 304 b;304 309;$rows_before" \
  "$(mdb_query "SELECT id_winner, winner_id, team1_score, team2_score, status, game_match_id FROM smf_mohaa_tournament_matches WHERE id_match = 90" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_team_a, id_team_b, id_player_a, id_player_b, result FROM mohstats_tournament_results WHERE id_match = 90" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT id_player1, id_player2 FROM smf_mohaa_tournament_matches WHERE id_match = 91" | tr '\t' ' ' | tr '\n' ';')$(
    mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches")"

check_eq "member 308's record: Bravo's matches while he was in it (11, 12), not those after (15, 16, 2000)" \
  "2 1 1 12 11" "$(q member/308/tournaments | jq -r '"\(.played) \(.wins) \(.losses) " + ([.matches[].tournament_match_id] | join(" "))')"

# --- automatic links chosen by the teams' players, never a game that fits two matches; a standby achievd --------
# A second achievd on the same stack stands by while the first holds the lease: its tournament thread polls
# nothing, and each result below is written once.
port=$(free_port)
ACHIEVD_URL=http://127.0.0.1:$port "$MOHSTATS_BIN_DIR/achievd" >"$STACK_DIR/logs/achievd_standby.log" 2>&1 &
PID_standby=$!
STANDBY=http://127.0.0.1:$port
check "a second achievd answers" retry 20 eval '[ "$(http_status "$STANDBY/ready")" = 200 ]'
# Echo (309) and Foxtrot (310) are scheduled twice at one time (matches 18 and 19): their one game fits both, and
# neither is linked. Match 20 (Charlie v Delta) has its game among 1,000 other games ending in its window (their
# keys first in order): found by its teams' players, and linked. A player in a slot (unauth_9) is no top player.
SCHED2=$(($(date +%s) + 5))
amb0=$(metric achievd_tournament_autolinks_ambiguous) # (match 13 counts again after a restart within its window)
mdb_query "INSERT INTO smf_members (id_member, member_name, real_name) VALUES (309,'m309','m309'),(310,'m310','m310');
  INSERT INTO smf_mohaa_identities (id_member, player_guid, linked_at) VALUES (309,'309',1),(310,'310',1);
  INSERT INTO smf_mohaa_teams (id_team, team_name, id_captain) VALUES (75,'Echo',309),(76,'Foxtrot',310);
  INSERT INTO smf_mohaa_team_members (id_team, id_member, role, joined_date, status) VALUES
    (75,309,'captain',1,'active'),(76,310,'captain',1,'active');
  INSERT INTO smf_mohaa_tournaments (id_tournament, name) VALUES (12, 'Autumn Cup');
  INSERT INTO smf_mohaa_tournament_matches (id_match, id_tournament, id_team1, id_team2, scheduled_time, status)
    VALUES (18, 12, 75, 76, $SCHED2, 'scheduled'), (19, 12, 75, 76, $SCHED2, 'scheduled'),
           (20, 12, 73, 74, $SCHED2, 'scheduled'), (17, 12, 71, 72, NULL, 'pending')" || fail "the Autumn Cup"
ch_query "INSERT INTO raw_events (received_at, match_key, event_type)
  SELECT now(), concat('!other_', toString(number)), 'match_end' FROM system.numbers LIMIT 1000" || fail "1,000 other games"
G8=$(game t7_g8 "309" "310" allies 1 0)
G9=$(game t7_g9 "unauth_9 306" "307" allies 2 1)
check "games 8 and 9 are in ClickHouse" test -n "$G8" -a -n "$G9"
out=$(link 17 "{\"match_id\": \"$G2\"}")
check_eq "linking 17 to game 2, which decides match 12: 409 naming it" "409 true" \
  "${out%% *} $(jq -r '.error | contains("tournament match 12")' <<<"${out#* }")"
check "match 20 is linked to game 9 automatically" retry 60 eval \
  '[ "$(mdb_query "SELECT CONCAT(match_id, \" \", source) FROM mohstats_tournament_links WHERE id_match = 20")" = "$G9 auto" ]'
check "...and recorded: Charlie won 2-1 (rounds)" retry 20 eval \
  '[ "$(mdb_query "SELECT CONCAT(id_winner, \" \", team1_score, \"-\", team2_score) FROM smf_mohaa_tournament_matches WHERE id_match = 20")" = "73 2-1" ]'
check "game 8 fits matches 18 and 19: both counted" retry 20 eval '[ "$(metric achievd_tournament_autolinks_ambiguous)" = $((amb0 + 2)) ]'
check_eq "...neither linked" 0 "$(mdb_query "SELECT COUNT(*) FROM mohstats_tournament_links WHERE id_match IN (18, 19)")"
check "...and logged" grep -q "tournament match 18: match $G8 fits tournament match 19 as well" "$STACK_DIR/logs/achievd.log"
check_eq "tournament 12's top players: no slot" "307 306" \
  "$(q tournament/12 | jq -r '[.top_players[].guid] | join(" ")')"
check_eq "...its bracket names teams that have not played" "Alpha-Bravo Echo-Foxtrot Echo-Foxtrot Charlie-Delta" \
  "$(q tournament/12 | jq -r '[.bracket[].matches[] | "\(.team1.team_name)-\(.team2.team_name)"] | join(" ")')"
check_eq "match 20 written once: two history rows" 2 \
  "$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_team_matches WHERE id_team IN (73, 74) AND match_date = (SELECT ended_at FROM mohstats_tournament_results WHERE id_match = 20)")"
standby() { curl -s "$STANDBY/metrics" | awk -v m="$1" '$1 == m {print $2 + 0}'; }
check_eq "the standby: not evaluating, nothing recorded, linked or rated" "0 0 0 0" \
  "$(standby achievd_evaluating) $(standby achievd_tournament_results_recorded) $(standby achievd_tournament_autolinks) $(standby achievd_team_ratings_written)"
check "...and it never read the forum's tournament tables" eval '! grep -q "tournaments: forum schema" "$STACK_DIR/logs/achievd_standby.log"'
kill -TERM "$PID_standby"
wait "$PID_standby" 2>/dev/null

finish
