# shellcheck shell=bash
# Helpers for tests that play whole matches through ingestd's API as the stock tracker posts them (test_ratings,
# test_tournaments): events of the current match (MATCH, SESSION) built by name, and a batch posted with the token
# of the server register_server registered. Source after lib.sh, once the stack is up (API set).

# register_server NAME PORT: registers a game server at 127.0.0.1:PORT; sets TOKEN. Fails if no token came back.
register_server() {
  local reg
  reg=$(curl -s -X POST "$API/servers/register" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$1\", \"ip_address\": \"127.0.0.1\", \"port\": \"$2\"}")
  TOKEN=$(jq -r .token <<<"$reg")
  [ -n "$TOKEN" ] && [ "$TOKEN" != null ]
}

# post EVENT_JSON...: one batch; prints the HTTP status.
post() {
  local batch
  batch=$(IFS=,; echo "[$*]")
  curl -s -o /dev/null -w '%{http_code}' -X POST "$API/ingest/events" -H 'Content-Type: application/json' \
    -H "X-Server-Token: $TOKEN" --data-binary "$batch"
}

# ev TYPE T EXTRA: an event of the current match (MATCH, SESSION) at game time T, with EXTRA keys.
ev() {
  printf '{"type": "%s", "match_id": "%s", "session_id": "%s", "timestamp": "%s.000"%s}' "$1" "$MATCH" "$SESSION" \
    "$2" "${3:+, $3}"
}
# who PREFIX GUID TEAM: a player block (name P<GUID>).
who() { printf '"%s_name": "P%s", "%s_guid": "%s", "%s_team": "%s"' "$1" "$2" "$1" "$2" "$1" "$3"; }
# spawn T GUID TEAM, kill_ev T ATTACKER TEAM VICTIM TEAM (a Thompson to the upper torso).
spawn() { ev player_spawn "$1" "$(who player "$2" "$3")"; }
kill_ev() {
  ev player_kill "$1" "$(who attacker "$2" "$3"), $(who victim "$4" "$5"), \"weapon\": \"Thompson\", \
\"hitloc\": \"torso_upper\", \"mod\": \"bullet\", \"damage\": \"100.000\""
}
