#!/usr/bin/env bash
# Skill ratings (issue 21, docs/ratings.md): a real stack with ratingd; matches posted as the tracker posts them (a
# team match with a winner, a guest and a late joiner; a free-for-all; a match that never ends; one too short),
# then: who is rated and which way, who is never rated, the reasons recorded, the delay from match_end to the
# ratings in ClickHouse, what queryd serves of them (the rating leaderboard, the profile's ratings, the rating history,
# a match's win probabilities and changes, the predictions' win_prob against rivals: each number against
# rating_changes, and a new rating served within FRESH_S of ratingd's insert), `ratingd recompute` giving the same rows byte
# for byte (twice), a restarted ratingd not rating a match again, and a second ratingd standing by.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

BOUND_S=10
# From ratingd's insert to the rating in a cached answer (issue 19: ratingd's inserts move the data generation).
FRESH_S=2
# Matches without match_end are recorded after this much idle time (the default is an hour).
export RATING_MATCH_IDLE_S=6
# Every rated player on the rating leaderboards (the default asks for 10 rated matches).
export QUERY_RATING_MIN_MATCHES=1
# Not the default (25/6): ratingd's stored chances and queryd's served ones must both follow the one setting.
export RATING_BETA=7
# Nor is this (the tuned default): two sides' chances are 0.5 + (p - 0.5) * RATING_START_WEIGHT in both daemons.
export RATING_START_WEIGHT=0.9
stack_up || exit 1
API=$MOHSTATS_URL/api/v1

. "$(dirname "$0")/match_lib.sh"
check "a game server registered" register_server Ratings 12400
# moved T GUID TEAM: a distance event.
moved() { ev distance "$1" "$(who player "$2" "$3"), \"walked\": 100.5, \"distance\": 900"; }

# A: objective, won by the Allies. 1001 and 1002 (Allies) beat 2001 and 2002 (Axis); the guest unauth_5 plays the
# whole match for the Axis; 1003 joins the Allies at 250 s of 300 and plays 48 s of it (16%).
MATCH=match_00000000000000a1 SESSION=sess_00000000000000a1
a=()
a+=("$(ev match_start 0 '"map_name": "obj/obj_team2", "gametype": "4"')")
for p in 1001:american 1002:american 2001:german 2002:german unauth_5:german; do a+=("$(spawn 1 "${p%%:*}" "${p#*:}")"); done
a+=("$(kill_ev 50 1001 american 2001 german)" "$(kill_ev 60 1002 american 2002 german)")
a+=("$(kill_ev 70 2001 german 1002 american)" "$(kill_ev 90 1001 american unauth_5 german)")
a+=("$(spawn 250 1003 american)" "$(kill_ev 260 1003 american 2002 german)")
for p in 1001:american 1002:american 2001:german 2002:german unauth_5:german 1003:american; do
  a+=("$(moved 298 "${p%%:*}" "${p#*:}")")
done
check_eq "match A's events are accepted" 202 "$(post "${a[@]}")"
# A match's key as stored (a hash of the server and the match id), once its first events are in ClickHouse.
match_of() { ch_query "SELECT DISTINCT match_key FROM raw_events WHERE session_id = '$1'"; }
A=""
retry 20 eval 'A=$(match_of sess_00000000000000a1); [ -n "$A" ]'
check "match A is in ClickHouse" test -n "$A"

# C: never ends (the server went down): recorded as not rated once idle.
MATCH=match_00000000000000c1 SESSION=sess_00000000000000c1
check_eq "match C's events are accepted" 202 "$(post "$(ev match_start 0 '"map_name": "obj/obj_team2", "gametype": "4"')" \
  "$(spawn 1 1001 american)" "$(spawn 1 2001 german)" "$(kill_ev 40 1001 american 2001 german)")"

# D: ends after 30 s of play.
MATCH=match_00000000000000d1 SESSION=sess_00000000000000d1
check_eq "match D's events are accepted" 202 "$(post "$(ev match_start 0 '"map_name": "obj/obj_team2", "gametype": "4"')" \
  "$(spawn 1 1001 american)" "$(spawn 1 2001 german)" "$(kill_ev 20 1001 american 2001 german)" \
  "$(moved 29 2001 german)" "$(ev match_end 30 '"winning_team": "allies", "gametype": 4, "map": "obj/obj_team2"')")"

# A's result, last: the time to its ratings counts from this 202.
MATCH=match_00000000000000a1 SESSION=sess_00000000000000a1
status=$(post "$(ev team_win 299 '"teamnum": "allies"')" \
  "$(ev match_end 300 '"winning_team": "allies", "gametype": 4, "map": "obj/obj_team2"')")
t0=$EPOCHREALTIME
check_eq "match A's match_end is accepted" 202 "$status"

rated_row() { ch_query "SELECT rated, reason FROM rating_changes FINAL WHERE guid = '' AND match_key = '$1'"; }
retry $((BOUND_S + 5)) eval '[ -n "$(rated_row "$A")" ]'
took=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
if [ -n "$(rated_row "$A")" ] && [ "$(awk -v t="$took" -v b=$BOUND_S 'BEGIN { print (t <= b) }')" = 1 ]; then
  pass "match A's ratings are in ClickHouse within ${BOUND_S} s of its match_end (${took} s)"
else
  fail "match A's ratings are in ClickHouse within ${BOUND_S} s of its match_end (took ${took} s)"
fi
check_eq "match A is rated" "$(printf '1\t')" "$(rated_row "$A")"

# player_row GUID MATCH COLUMNS: that player's row of that match.
player_row() { ch_query "SELECT $3 FROM rating_changes FINAL WHERE guid = '$1' AND match_key = '$2'"; }
for g in 1001 1002; do
  check_eq "A: winner $g is rated, in objective, and their mu went up" "player objective allies 1 1" \
    "$(player_row $g "$A" "kind, family, team, place, mu_after > mu_before" | tr '\t' ' ')"
done
for g in 2001 2002; do
  check_eq "A: loser $g is rated and their mu went down" "player axis 2 1" \
    "$(player_row $g "$A" "kind, team, place, mu_after < mu_before" | tr '\t' ' ')"
done
check_eq "A: sigma shrank and the winners' predicted chance was even (new players)" "1 0.5" \
  "$(player_row 1001 "$A" "sigma_after < sigma_before, round(win_prob, 6)" | tr '\t' ' ')"
check_eq "A: the guest has no row" 0 "$(ch_query "SELECT count() FROM rating_changes WHERE guid LIKE 'unauth%'")"
check_eq "A: the late joiner is not rated, with the reason" "skipped played 16% of the match (minimum 50%)" \
  "$(player_row 1003 "$A" "kind, reason" | tr '\t' ' ')"

# The profile and the free-for-all rating leaderboard, read (and so cached) before B is rated: B's free-for-all
# ratings must reach them within FRESH_S of ratingd's insert.
check_eq "the profile has 1001's objective rating, no free-for-all one yet" "1 0 true" \
  "$(json_get "$API/stats/player/1001" '"\(.ratings.objective.rated_matches) \(.ratings.ffa.rated_matches) \(.ratings.objective.ranked)"')"
check_eq "the free-for-all rating leaderboard is empty yet" 0 \
  "$(json_get "$API/stats/leaderboard/global?stat=rating&family=ffa&count_only=1" .total)"

# B: free-for-all, 200 s: 1001 scores 3, 2001 1, 3001 0 (and one suicide).
MATCH=match_00000000000000b1 SESSION=sess_00000000000000b1
b=("$(ev match_start 0 '"map_name": "dm/mohdm1", "gametype": "1"')")
for p in 1001 2001 3001; do b+=("$(spawn 1 $p '')"); done
b+=("$(kill_ev 20 1001 '' 2001 '')" "$(kill_ev 30 1001 '' 3001 '')" "$(kill_ev 40 2001 '' 3001 '')")
b+=("$(kill_ev 50 1001 '' 2001 '')" "$(kill_ev 60 3001 '' 3001 '')")
for p in 1001 2001 3001; do b+=("$(moved 199 $p '')"); done
b+=("$(ev match_end 200 '"winning_team": "", "gametype": 1, "map": "dm/mohdm1"')")
check_eq "match B's events are accepted" 202 "$(post "${b[@]}")"
retry 20 eval 'B=$(match_of sess_00000000000000b1); [ -n "$B" ]'
# Polled every 0.1 s (not retry's 0.2 s) so that t1 is within a tenth of a second after the insert.
for _ in $(seq $((BOUND_S * 20 + 100))); do [ -n "$(rated_row "$B")" ] && break; sleep 0.1; done
t1=$EPOCHREALTIME
check_eq "B is rated" "$(printf '1\t')" "$(rated_row "$B")"
ffa_matches() { json_get "$API/stats/player/1001" .ratings.ffa.rated_matches; }
ffa_board() { json_get "$API/stats/leaderboard/global?stat=rating&family=ffa&count_only=1" .total; }
# within_fresh DESCRIPTION COMMAND...: COMMAND succeeds within FRESH_S of t1 (polled until FRESH_S + 5 s).
within_fresh() {
  local d=$1 took
  shift
  retry $((FRESH_S + 5)) "$@"
  took=$(awk -v a="$EPOCHREALTIME" -v b="$t1" 'BEGIN { printf "%.2f", a - b }')
  if "$@" && [ "$(awk -v t="$took" -v b=$FRESH_S 'BEGIN { print (t <= b) }')" = 1 ]; then
    pass "$d within ${FRESH_S} s of ratingd's insert (${took} s)"
  else
    fail "$d within ${FRESH_S} s of ratingd's insert (took ${took} s)"
  fi
}
within_fresh "the cached profile shows B's rating" eval '[ "$(ffa_matches)" = 1 ]'
within_fresh "the cached free-for-all rating leaderboard lists B's three players" eval '[ "$(ffa_board)" = 3 ]'
check_eq "B: places by score per minute, first's mu up, last's down" "1 1 2 3 0 1" \
  "$(player_row 1001 "$B" "place, mu_after > mu_before" | tr '\t' ' ') $(player_row 2001 "$B" "place" ) \
$(player_row 3001 "$B" "place, mu_after > mu_before, family = 'ffa'" | tr '\t' ' ')" 
check_eq "B: 1001's objective rating is untouched by it (its own family)" 1 \
  "$(ch_query "SELECT count() FROM rating_changes FINAL WHERE guid = '1001' AND family = 'objective'")"

D=$(match_of sess_00000000000000d1) C=$(match_of sess_00000000000000c1)
check_eq "D is recorded as not rated: too short" "$(printf '0\ttoo short: 30 s of play (minimum 60 s)')" \
  "$(rated_row "$D")"
retry 20 eval '[ -n "$(rated_row "$C")" ]'
check_eq "C is recorded as not rated once idle: no match_end" \
  "$(printf '0\tno match_end: the match never finished')" "$(rated_row "$C")"
check_eq "no player rows for the unrated matches" 0 \
  "$(ch_query "SELECT count() FROM rating_changes WHERE match_key IN ('$C', '$D') AND guid != ''")"

# --- what queryd serves of the ratings, each number against rating_changes ---------------------------------------

# check_close DESCRIPTION EXPECTED ACTUAL: the same lines of the same words, numbers within 1e-9 (jq and ClickHouse
# print a double's digits differently).
check_close() {
  if awk 'function num(v) { return v ~ /^-?[0-9][0-9.]*([eE][-+]?[0-9]+)?$/ }
          NR == FNR { a[FNR] = $0; n = FNR; next }
          { m = FNR; k = split(a[FNR], x); if (split($0, y) != k) bad = 1
            for (i = 1; i <= k; i++)
              if (x[i] != y[i] && !(num(x[i]) && num(y[i]) && (x[i] - y[i]) ^ 2 <= 1e-18)) bad = 1 }
          END { exit bad || n != m }' <(printf '%s\n' "$2") <(printf '%s\n' "$3"); then
    pass "$1"
  else
    fail "$1: expected '$2', got '$3'"
  fi
}
# served_sigma SIGMA LAST_MS AS_OF_MS: (SQL for) the sigma queryd serves at AS_OF_MS of a rating stored at LAST_MS:
# sigma^2 grows by 0.4^2 (RATING_INACTIVITY_SIGMA_PER_DAY) a day, up to a new player's 25/3 (docs/ratings.md).
served_sigma() {
  echo "least(sqrt(pow($1, 2) + pow(0.4, 2) * (greatest(toInt64($3) - toInt64($2), 0) / 86400000)), greatest($1, 25 / 3))"
}
# latest FAMILY AS_OF_MS: each player's current rating in FAMILY as served at AS_OF_MS, best first (LIMIT BY, not
# queryd's argMax).
latest() {
  ch_query "SELECT guid, mu_after, s, mu_after - 3 * s AS o
            FROM (SELECT guid, mu_after, $(served_sigma sigma_after end_ms "$2") AS s FROM rating_changes FINAL
                  WHERE kind = 'player' AND family = '$1' ORDER BY end_ms DESC, match_key DESC LIMIT 1 BY guid)
            ORDER BY o DESC, guid ASC" | tr '\t' ' '
}
lb='.players[] | "\(.guid) \(.mu) \(.sigma) \(.ordinal)"'
# board FAMILY [PATH]: the rating leaderboard's answer, and when its sigmas were served (as_of_ms).
board() {
  ans=$(http_get "$API${2:-/stats/leaderboard/global?stat=rating&family=$1}")
  asof=$(jq -r .as_of_ms <<<"$ans")
}
board objective
check_close "rating leaderboard, objective: the four rated players by mu - 3 sigma, as in rating_changes (sigma served as of the answer)" \
  "$(latest objective "$asof")" "$(jq -r "$lb" <<<"$ans")"
check_eq "rating leaderboard: the winners first, and each row's rank, rated matches and rating" \
  "1 1001 1 true 2 1002 1 true 3 2001 1 true 4 2002 1 true" \
  "$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective" \
    '[.players[] | "\(.rank) \(.guid) \(.rated_matches) \(.rating == ((.ordinal * 100 | round) / 100))"] | join(" ")')"
board ffa "/stats/leaderboard/rating?family=ffa"
check_close "rating leaderboard, free-for-all (/stats/leaderboard/rating): B's three players" \
  "$(latest ffa "$asof")" "$(jq -r "$lb" <<<"$ans")"
check_eq "rating leaderboard: count_only, the default family (team: nobody) and the answer's fields" \
  "4 0 rating team 1" \
  "$(json_get "$API/stats/leaderboard?stat=rating&family=objective&count_only=1" .total) \
$(json_get "$API/stats/leaderboard/global?stat=rating" '"\(.total) \(.stat) \(.family) \(.min_matches)"')"
check_eq "rating leaderboard: an unknown family is 400" 400 \
  "$(http_status "$API/stats/leaderboard/global?stat=rating&family=ctf")"
# /stats/leaderboard/gametype/{gt} ranks by kills; stat=rating is the rating leaderboard of the type's family.
gtb='"\(.family) \(.total) \([.players[] | "\(.guid) \(.mu)"] | join(" "))"'
check_eq "/stats/leaderboard/gametype/{gt}?stat=rating: obj is the objective family's rating leaderboard, dm free-for-all's; other 404" \
  "$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective" "$gtb") | $(json_get "$API/stats/leaderboard/global?stat=rating&family=ffa" "$gtb") | 404" \
  "$(json_get "$API/stats/leaderboard/gametype/obj?stat=rating" "$gtb") | $(json_get "$API/stats/leaderboard/gametype/dm?stat=rating" "$gtb") | $(http_status "$API/stats/leaderboard/gametype/other?stat=rating")"

# The profile: each family's current rating (a new player's where none), and the rating of the family played most.
# mine GUID FAMILY AS_OF_MS: the player's current rating in FAMILY as served at AS_OF_MS.
mine() {
  ch_query "SELECT mu_after, s, mu_after - 3 * s
            FROM (SELECT mu_after, $(served_sigma sigma_after end_ms "$3") AS s FROM rating_changes FINAL
                  WHERE guid = '$1' AND kind = 'player' AND family = '$2' ORDER BY end_ms DESC, match_key DESC LIMIT 1)" |
    tr '\t' ' '
}
fams='"\(.ratings.objective | "\(.mu) \(.sigma) \(.ordinal) \(.rated_matches)")
\(.ratings.ffa | "\(.mu) \(.sigma) \(.ordinal) \(.rated_matches)")
\(.ratings.team | "\(.mu) \(.sigma) \(.ordinal) \(.rated_matches) \(.last_rated_at)")"'
prof=$(http_get "$API/stats/player/2001")
asof=$(jq -r .ratings.objective.as_of_ms <<<"$prof")
check_close "profile of 2001: its objective and free-for-all ratings as in rating_changes (as of the answer), team a new player's" \
  "$(mine 2001 objective "$asof") 1
$(mine 2001 ffa "$asof") 1
25 8.333333333333334 0 0 null" "$(jq -r "$fams" <<<"$prof")"

# The history: one point per rated match, oldest first.
hist='.points[] | "\(.match_id) \(.family) \(.before_mu) \(.before_sigma) \(.mu) \(.sigma) \(.win_prob) \(.mu_change)"'
check_close "rating history of 1001: its two rated matches, oldest first, as in rating_changes" \
  "$(ch_query "SELECT match_key, family, mu_before, sigma_before, mu_after, sigma_after, win_prob,
                      mu_after - mu_before
               FROM rating_changes FINAL WHERE guid = '1001' AND kind = 'player' ORDER BY end_ms, match_key" |
    tr '\t' ' ')" "$(json_get "$API/stats/player/1001/ratings" "$hist")"
check_eq "rating history: family=ffa has B's point only; total counts them" "$B 1" \
  "$(json_get "$API/stats/player/1001/ratings?family=ffa" '"\([.points[].match_id] | join(",")) \(.total)"')"
check_eq "rating history: an unknown player is 404, an unknown family 400" "404 400" \
  "$(http_status "$API/stats/player/nobody_at_all/ratings") $(http_status "$API/stats/player/1001/ratings?family=x")"

# A match: each side's chance before it started, each rated player's change, who was not rated and why.
check_eq "match A's ratings: rated, objective; the sides' places, chances and sizes" \
  "true rated objective allies 1 0.5 2 axis 2 0.5 2" \
  "$(json_get "$API/stats/match/$A/ratings" \
    '"\(.rated) \(.status) \(.family) \([.teams[] | "\(.team) \(.place) \(.win_prob * 1e6 | round / 1e6) \(.players)"] | join(" "))"')"
check_close "match A's ratings: each rated player's change and rating after, as in rating_changes" \
  "$(ch_query "SELECT guid, team, mu_after - mu_before, mu_before, sigma_before, mu_after, sigma_after, win_prob
               FROM rating_changes FINAL WHERE match_key = '$A' AND kind = 'player' ORDER BY guid" | tr '\t' ' ')" \
  "$(json_get "$API/stats/match/$A/ratings" \
    '.players | sort_by(.guid)[] | "\(.guid) \(.team) \(.mu_change) \(.before_mu) \(.before_sigma) \(.mu) \(.sigma) \(.win_prob)"')"
check_eq "match A's ratings: the late joiner is listed as not rated, with the reason" \
  "1003 played 16% of the match (minimum 50%)" \
  "$(json_get "$API/stats/match/$A/ratings" '.skipped[] | "\(.guid) \(.reason)"')"
check_eq "/stats/match/{id}/predictions is the same answer" \
  "$(http_get "$API/stats/match/$A/ratings" | jq -S .)" "$(http_get "$API/stats/match/$A/predictions" | jq -S .)"
check_close "match B (free-for-all): a side per player, with the chance each had" \
  "$(ch_query "SELECT guid, place, win_prob FROM rating_changes FINAL WHERE match_key = '$B' AND kind = 'player'
               ORDER BY place, guid" | tr '\t' ' ')" \
  "$(json_get "$API/stats/match/$B/ratings" '.teams[] | "\(.guid) \(.place) \(.win_prob)"')"
check_eq "match D: not rated, with the reason; an unknown match is 404" \
  "false not_rated too short: 30 s of play (minimum 60 s) 404" \
  "$(json_get "$API/stats/match/$D/ratings" '"\(.rated) \(.status) \(.reason)"') \
$(http_status "$API/stats/match/no_such_match/ratings")"

# The predictions (the forum's call 17): win_prob against a rival is the ratings' one-against-one chance, in the
# family the player has most rated matches in (1001: one objective, one free-for-all: the first, ffa).
pred=$(http_get "$API/stats/player/1001/predictions")
fam=$(jq -r .rating.family <<<"$pred")
asof=$(jq -r .rating.as_of_ms <<<"$pred")
read -r m1 s1 _ <<<"$(mine 1001 "$fam" "$asof")"
read -r m2 s2 _ <<<"$(mine 2001 "$fam" "$asof")"
expected=$(ch_query "SELECT 0.5 + (1 / (1 + exp(-($m1 - $m2) / sqrt(2 * pow($RATING_BETA, 2) + pow($s1, 2) + pow($s2, 2))))
                     - 0.5) * $RATING_START_WEIGHT")
check_eq "predictions: 1001's win_prob against rival 2001 is the ratings' (family $fam)" \
  "$(awk -v p="$expected" 'BEGIN { printf "%.4f", p }')" \
  "$(jq -r '.rival_analysis[] | select(.opponent_guid == "2001") | .win_prob * 10000 | round / 10000 | tostring' <<<"$pred" |
    awk '{ printf "%.4f", $1 }')"
check_eq "predictions: the forum's fields are still there; a guest rival is unrated (a new player's rating)" \
  "true true false" \
  "$(jq -r '[(has("expected_kd") and has("trend") and has("confidence") and has("predicted_kills")),
             ([.rival_analysis[] | has("head_to_head") and has("nemesis")] | all),
             ([.rival_analysis[] | select(.opponent_guid | startswith("unauth_")) | .opponent_rated] | first)]
            | map(tostring) | join(" ")' <<<"$pred")"

# Forum teams (docs/tournaments.md): Alpha (members 501: GUID 1001; 502: 1002, and an unrated second GUID) against
# Bravo (503: 2001; 504: 2002; 505: no GUID linked).
mdb_query "INSERT INTO smf_mohaa_teams (id_team, team_name, team_tag) VALUES (71, 'Alpha', 'A'), (72, 'Bravo', 'B');
           INSERT INTO smf_mohaa_team_members (id_team, id_member) VALUES (71, 501), (71, 502), (72, 503), (72, 504),
                                                                       (72, 505);
           INSERT INTO smf_mohaa_identities (id_member, player_guid, linked_at) VALUES (501, '1001', 1), (502, '1002', 1),
                                                                       (502, '1002_alt', 2), (503, '2001', 1), (504, '2002', 1)"
team=$(http_get "$API/stats/team/71/rating?family=objective&vs=72")
asof=$(jq -r .as_of_ms <<<"$team")
read -r a1 sa1 _ <<<"$(mine 1001 objective "$asof")"
read -r a2 sa2 _ <<<"$(mine 1002 objective "$asof")"
read -r b1 sb1 _ <<<"$(mine 2001 objective "$asof")"
read -r b2 sb2 _ <<<"$(mine 2002 objective "$asof")"
check_close "forum team Alpha: its members' mean mu, the uncertainty of that mean, its rated members' GUIDs" \
  "$(awk -v a="$a1" -v b="$a2" -v s="$sa1" -v t="$sa2" 'BEGIN { printf "%.12f %.12f 2 2 1001 1002", (a + b) / 2, sqrt(s * s + t * t) / 2 }')" \
  "$(jq -r '"\(.mu) \(.sigma) \(.members_count) \(.rated_members) \([.members[].guid] | join(" "))"' <<<"$team")"
check_eq "forum team Bravo: three members, the one without a GUID listed unrated" "3 2 505 false" \
  "$(jq -r '.opponent | "\(.members_count) \(.rated_members) \(.members[2].member_id) \(.members[2].rated)"' <<<"$team")"
expected=$(ch_query "SELECT 0.5 + (1 / (1 + exp(-($a1 + $a2 - $b1 - $b2)
                     / sqrt(2 * pow($RATING_BETA, 2) + pow($sa1, 2) + pow($sa2, 2) + pow($sb1, 2) + pow($sb2, 2))))
                     - 0.5) * $RATING_START_WEIGHT")
check_close "forum team Alpha's chance against Bravo: the model's prediction for a match of their rated members" \
  "$expected" "$(jq -r .win_prob <<<"$team")"
check_eq "forum teams: an unknown team is 404, a bad vs 400 (the team itself, 0, not a number)" "404 404 400 400 400" \
  "$(http_status "$API/stats/team/79/rating") $(http_status "$API/stats/team/71/rating?vs=79") \
$(http_status "$API/stats/team/71/rating?vs=71") $(http_status "$API/stats/team/71/rating?vs=0") \
$(http_status "$API/stats/team/71/rating?vs=x")"
# documented PATH ANSWER: the fields docs/openapi.json requires of PATH's answer that ANSWER lacks (none: "").
documented() {
  jq -r --slurpfile doc "$MOHSTATS_SRC_DIR/docs/openapi.json" --arg path "$1" \
    -f "$MOHSTATS_SRC_DIR/tests/integration/openapi_missing.jq" <<<"$2" | head -5 | tr '\n' ' '
}
check_eq "the rating answers carry every field docs/openapi.json requires of them (as_of_ms, forum_rating...)" "" \
  "$(documented '/stats/team/{id}/rating' "$team")$(documented '/stats/leaderboard/gametype/{gt}' \
    "$(http_get "$API/stats/leaderboard/gametype/obj?stat=rating")")$(documented /stats/leaderboard/global \
    "$(http_get "$API/stats/leaderboard/global?stat=rating&family=objective")")$(documented '/stats/player/{guid}' \
    "$(http_get "$API/stats/player/1001")")"

# Recompute: the same rows, byte for byte, as the daemon wrote; and again on a second run.
dump() {
  ch_query "SELECT * FROM $1 FINAL ORDER BY end_ms, match_key, kind, guid FORMAT TabSeparated"
}
dump rating_changes >"$STACK_DIR/online.tsv"
dump rating_changes_by_match >"$STACK_DIR/online_by_match.tsv"
check "the daemon's copy by match (what /stats/match/{id}/ratings reads) has the same rows" \
  cmp "$STACK_DIR/online.tsv" "$STACK_DIR/online_by_match.tsv"
out=$("$MOHSTATS_BIN_DIR/ratingd" recompute 2>&1)
echo "     $out" | head -n 3
check "ratingd recompute reports the result identical" grep -q 'identical to rating_changes' <<<"$out"
dump rating_changes_recompute >"$STACK_DIR/recompute1.tsv"
check "the recomputed rows are byte-identical to the daemon's (sorted TSV, $(wc -l <"$STACK_DIR/online.tsv") rows)" \
  cmp "$STACK_DIR/online.tsv" "$STACK_DIR/recompute1.tsv"
"$MOHSTATS_BIN_DIR/ratingd" recompute >/dev/null 2>&1
dump rating_changes_recompute >"$STACK_DIR/recompute2.tsv"
check "a second recompute gives the same bytes" cmp "$STACK_DIR/recompute1.tsv" "$STACK_DIR/recompute2.tsv"

# `ratingd evaluate` needs a history to hold a quarter of out: on these four matches it says so (its figures come
# from tests/bench/ratingd_recompute.sh).
out=$("$MOHSTATS_BIN_DIR/ratingd" evaluate 2>&1)
check_eq "ratingd evaluate refuses a history too short, saying why" \
  "1 rated team matches: too few to hold a quarter out (at least 4)" \
  "$(grep -o '1 rated team matches: too few.*' <<<"$out")"

# A second ratingd stands by while the first holds the lease.
PORT2=$(free_port)
(
  set -a
  . "$STACK_DIR/stack.env"
  RATINGD_URL=http://127.0.0.1:$PORT2
  exec "$MOHSTATS_BIN_DIR/ratingd"
) >>"$STACK_DIR/logs/ratingd2.log" 2>&1 &
pid2=$!
retry 20 eval 'curl -fs "http://127.0.0.1:$PORT2/metrics" | grep -q "^ratingd_rating 0"'
check "a second ratingd stands by (ratingd_rating 0)" \
  eval 'curl -fs "http://127.0.0.1:$PORT2/metrics" | grep -q "^ratingd_rating 0"'
kill "$pid2"
wait "$pid2" 2>/dev/null

# A restarted ratingd does not rate a match again: the raw row count (without FINAL) stays. While it is stopped,
# `ratingd recompute --replace` swaps the recomputed history in.
rows_before=$(ch_query "SELECT count() FROM rating_changes")
kill "$(cat "$STACK_DIR/run/ratingd.pid")"
retry 20 eval '! kill -0 "$(cat "$STACK_DIR/run/ratingd.pid")" 2>/dev/null'
out=$("$MOHSTATS_BIN_DIR/ratingd" recompute --replace 2>&1)
check "ratingd recompute --replace swaps the tables" grep -q '^rating_changes and rating_changes_by_match replaced' \
  <<<"$out"
dump rating_changes >"$STACK_DIR/replaced.tsv"
check "the swapped-in history is the same bytes" cmp "$STACK_DIR/online.tsv" "$STACK_DIR/replaced.tsv"
dump rating_changes_by_match >"$STACK_DIR/replaced_by_match.tsv"
check "and so is its copy by match" cmp "$STACK_DIR/online.tsv" "$STACK_DIR/replaced_by_match.tsv"
rows_before=$(ch_query "SELECT count() FROM rating_changes")
"$STACK_SH" up "$STACK_DIR" --port 0 >/dev/null 2>&1
check "ratingd is back" eval 'curl -fs "$RATINGD_URL/ready" >/dev/null'
retry 20 eval 'curl -fs "$RATINGD_URL/metrics" | grep -q "^ratingd_rating 1"'
sleep 3 # a poll or two
check_eq "after the restart no match is rated twice (rows: $rows_before)" "$rows_before" \
  "$(ch_query "SELECT count() FROM rating_changes")"

# A period lists who played in it, and QUERY_RATING_MIN_MATCHES who has that many rated matches: two objective
# matches of a player last rated in 1970 (written straight into the table, after every comparison with a
# recomputation, and announced on the freshness stream as ratingd announces its inserts), then queryd restarted
# asking for 2.
ch_query "INSERT INTO rating_changes (guid, match_key, kind, end_ms, family, rated, place, weight, mu_before,
                                      sigma_before, mu_after, sigma_after, win_prob)
          VALUES ('old_1', 'old_match_1', 'player', 1000, 'objective', 1, 1, 1, 25, 8.333333333333334, 27, 7, 0.5),
                 ('old_1', 'old_match_2', 'player', 2000, 'objective', 1, 1, 1, 27, 7, 26, 4, 0.5)"
redis_cmd XADD fresh '*' ratings old_1 >/dev/null
totals() {
  echo "$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective&count_only=1" .total) \
$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective&period=week&count_only=1" .total)"
}
retry $((FRESH_S + 5)) eval '[ "$(totals)" = "5 4" ]'
check_eq "rating leaderboard: all time lists the player of 1970, the week only this test's four" "5 4" "$(totals)"
# Stored, old_1's 26 - 3 * 4 = 14 is far above everyone's; served after 56 years away, sigma is a new player's and
# the ordinal 26 - 25 = 1, below 1001's: the board ranks by the sigma it serves.
check_eq "rating leaderboard: old_1 is ranked by its widened sigma (25/3), below 1001" "8.333333333 true" \
  "$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective" \
    '"\(.players[] | select(.guid == "old_1") | .sigma * 1e9 | round / 1e9) \(([.players[].guid] | index("old_1")) > ([.players[].guid] | index("1001")))"')"
kill "$(cat "$STACK_DIR/run/queryd.pid")"
retry 20 eval '! kill -0 "$(cat "$STACK_DIR/run/queryd.pid")" 2>/dev/null'
QUERY_RATING_MIN_MATCHES=2 "$STACK_SH" up "$STACK_DIR" --port 0 >/dev/null 2>&1
check "queryd is back with QUERY_RATING_MIN_MATCHES=2" eval 'curl -fs "$QUERYD_URL/ready" >/dev/null'
# old_1's stored sigma is 6; last rated in 1970, it is served (and ranked) as uncertain as a new player's, 25/3.
check_eq "QUERY_RATING_MIN_MATCHES=2: only the player with two rated matches, at their latest mu, sigma widened by 56 years away to a new player's; none this week" \
  "old_1 26 8.333333333 1 2 2 0" \
  "$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective" \
    '[.players[] | "\(.guid) \(.mu) \(.sigma * 1e9 | round / 1e9) \(.ordinal * 1e9 | round / 1e9) \(.rated_matches)"] + ["\(.min_matches)"] | join(" ")') \
$(json_get "$API/stats/leaderboard/global?stat=rating&family=objective&period=week&count_only=1" .total)"
check_eq "QUERY_RATING_MIN_MATCHES=2: the profile says 1001 (one rated match) is not ranked" "1 false" \
  "$(json_get "$API/stats/player/1001" '"\(.ratings.objective.rated_matches) \(.ratings.objective.ranked)"')"

# One beta for both daemons: E, a rematch of A's four members (the whole 120 s each, so at full weight), is predicted
# by ratingd as queryd predicted forum team Alpha (1001, 1002) against Bravo (2001, 2002) just before it.
served=$(json_get "$API/stats/team/71/rating?family=objective&vs=72" .win_prob)
MATCH=match_00000000000000e1 SESSION=sess_00000000000000e1
e=("$(ev match_start 0 '"map_name": "obj/obj_team2", "gametype": "4"')")
for p in 1001:american 1002:american 2001:german 2002:german; do e+=("$(spawn 0 "${p%%:*}" "${p#*:}")"); done
e+=("$(kill_ev 30 2001 german 1001 american)")
for p in 1001:american 1002:american 2001:german 2002:german; do e+=("$(moved 120 "${p%%:*}" "${p#*:}")"); done
e+=("$(ev team_win 120 '"teamnum": "axis"')" "$(ev match_end 120 '"winning_team": "axis", "gametype": 4, "map": "obj/obj_team2"')")
check_eq "match E's events are accepted" 202 "$(post "${e[@]}")"
retry 20 eval 'E=$(match_of sess_00000000000000e1); [ -n "$E" ] && [ -n "$(rated_row "$E")" ]'
stored=$(ch_query "SELECT win_prob FROM rating_changes FINAL WHERE guid = '1001' AND match_key = '$E'")
# A few seconds of inactivity widen the priors by about 1e-6: the two agree to 1e-4, not to the last digit.
check "ratingd's stored chance for E ($stored) is queryd's served chance for Alpha against Bravo ($served)" \
  awk -v a="$stored" -v b="$served" 'BEGIN { exit !(a != "" && b != "" && (a - b) ^ 2 < 1e-8 && a != 0.5) }'
check_close "ratingd's stored chance for E is the model's with RATING_BETA=$RATING_BETA, RATING_START_WEIGHT=$RATING_START_WEIGHT" \
  "$(ch_query "SELECT 0.5 + (1 / (1 + exp(-(sumIf(mu_before, team = 'allies') - sumIf(mu_before, team = 'axis'))
                                     / sqrt(2 * pow($RATING_BETA, 2) + sum(pow(sigma_before, 2))))) - 0.5)
                           * $RATING_START_WEIGHT
               FROM rating_changes FINAL WHERE match_key = '$E' AND kind = 'player'")" "$stored"

finish
