#!/usr/bin/env bash
# Fault test for authd: concurrent first logins with one code, and database outages.
# - 8 logins at once with one unused code: one is the first login, the others reconnect from the trusted address.
# - PostgreSQL stopped: logins and forum calls answer 503 (never 401, which the tracker would take as a bad code)
#   and /ready says so; once it is back, logins work again.
# - MariaDB stopped during a first login: 503, the login is recorded in PostgreSQL; the retry once MariaDB is back
#   answers 200 and writes the link.
# - A new AUTHD_TOKEN_KEY: the forum is shown new codes, the old ones are revoked.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

stack_up || exit 1
AUTH=$MOHSTATS_URL/api/v1/auth
FORUM=(-H "X-Server-Token: $FORUM_API_TOKEN")
mdb_query "INSERT INTO smf_members (id_member, member_name, real_name) VALUES (42, 'alice', 'Alice'), (43, 'bob', 'Bob')"
reg=$(curl -s --max-time 10 -X POST "$MOHSTATS_URL/api/v1/servers/register" \
  -d '{"name":"Fault","ip_address":"127.0.0.1","port":"12203"}')
check "a game server registers" test -n "$(jq -r '.token // empty' <<<"$reg" 2>/dev/null)"
# Logins count only from the address of a server that has sent events.
check_eq "...and sends its first batch" 202 "$(http_status "$MOHSTATS_URL/api/v1/ingest/events" -X POST \
  -H "X-Server-Token: $(jq -r .token <<<"$reg")" -d '[{"type": "jump", "player_guid": "3", "timestamp": "1.000"}]')"
check "...which ingestd records" retry 5 eval \
  "[ -n \"\$(pg_query \"SELECT first_batch_at FROM servers WHERE id = '$(jq -r .server_id <<<"$reg")'\")\" ]"

# code MEMBER: the member's login code.
code() {
  curl -s --max-time 10 "${FORUM[@]}" -X POST -d "{\"forum_user_id\":$1}" "$AUTH/device" | jq -r .user_code
}
# verify CODE [SLOT]: the HTTP status of a login as the tracker sends it, for the player in SLOT (default 3).
verify() {
  http_status "$AUTH/verify" -X POST \
    -d "{\"token\":\"$1\",\"player_guid\":\"${2:-3}\",\"player_name\":\"P\",\"server_id\":\"x\"}"
}
logins() {
  curl -s --max-time 5 "$AUTHD_URL/metrics" | awk -v o="$1" '$1 == "authd_logins_total{outcome=\"" o "\"}" { print $2 }'
}

c42=$(code 42)
c43=$(code 43)
check "login codes for both members" test "${#c42}" = 16 -a "${#c43}" = 16

# --- 8 logins at once with one unused code ---
# Each from a player slot of its own: one player's logins in flight at once count against that player's
# failed-login allowance (5) until they are decided, as they must for wrong codes sent at once to be limited.
tmp=$STACK_DIR/parallel
mkdir -p "$tmp"
for i in 1 2 3 4 5 6 7 8; do { verify "$c42" "$i"; echo; } >"$tmp/$i" & done
wait
check_eq "8 logins at once with one code: all answered 200" "200 200 200 200 200 200 200 200" \
  "$(cat "$tmp"/1 "$tmp"/2 "$tmp"/3 "$tmp"/4 "$tmp"/5 "$tmp"/6 "$tmp"/7 "$tmp"/8 | tr '\n' ' ' | sed 's/ $//')"
check_eq "exactly one of them was the first login" 1 "$(logins first_login)"
check_eq "the other 7 reconnected from the trusted address" 7 "$(logins trusted_ip)"
check_eq "8 successful attempts in the history" 8 \
  "$(pg_query "SELECT count(*) FROM login_token_history WHERE forum_user_id = 42 AND success")"
check_eq "one identity row for member 42" 1 "$(mdb_query "SELECT count(*) FROM smf_mohaa_identities WHERE id_member = 42")"

# --- PostgreSQL down ---
server_stop postgres
check_eq "PostgreSQL down: a login answers 503 (not 401)" 503 "$(verify "$c42")"
check_eq "PostgreSQL down: an unknown code answers 503 too (nothing can be decided)" 503 \
  "$(verify MOH-000000000000)"
check_eq "PostgreSQL down: the forum's login code call answers 503" 503 \
  "$(http_status "$AUTH/device" "${FORUM[@]}" -X POST -d '{"forum_user_id":42}')"
check_eq "PostgreSQL down: the forum's history call answers 503" 503 \
  "$(http_status "$AUTH/history/42" "${FORUM[@]}")"
check_eq "PostgreSQL down: authd is not ready" 503 "$(http_status "$AUTHD_URL/ready")"
servers_up
check "PostgreSQL back: logins work again" retry 30 eval '[ "$(verify "$c42")" = 200 ]'
check_eq "PostgreSQL back: the login code is the same" "$c42" "$(code 42)"

# --- MariaDB down during a first login ---
server_stop mariadb
check_eq "MariaDB down: member 43's first login answers 503" 503 "$(verify "$c43")"
check_eq "the login was still recorded (the code is used, the address trusted)" "1|1" \
  "$(pg_query "SELECT count(*) FILTER (WHERE used_at IS NOT NULL), (SELECT count(*) FROM trusted_ips WHERE forum_user_id = 43 AND is_active) FROM login_tokens WHERE forum_user_id = 43 AND is_active")"
check_eq "MariaDB down: the forum's login code call answers 503" 503 \
  "$(http_status "$AUTH/device" "${FORUM[@]}" -X POST -d '{"forum_user_id":43}')"
servers_up
check "MariaDB back: the retry answers 200" retry 30 eval '[ "$(verify "$c43")" = 200 ]'
check_eq "and writes the link" "43|43|1" \
  "$(mdb_query "SELECT id_member, player_guid, verified FROM smf_mohaa_identities WHERE id_member = 43" | tr '\t' '|')"
check_eq "no login was answered 401 with a good code" 0 "$(logins token_unknown)"

# --- a new AUTHD_TOKEN_KEY: codes cannot be shown again, so each is replaced when the forum next asks ---
pid=$(head -n 1 "$STACK_DIR/run/authd.pid")
kill -TERM "$pid"
retry 15 bash -c "! kill -0 $pid 2>/dev/null"
# Started from a subshell, so it is not a job of ours (the exit trap waits for those); its pid file is the
# stack's, so that the stack's `down` stops it.
(
  (
    export AUTHD_TOKEN_KEY
    AUTHD_TOKEN_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    cd "$STACK_DIR" && exec "$MOHSTATS_BIN_DIR/authd"
  ) </dev/null >>"$STACK_DIR/logs/authd.log" 2>&1 &
  echo $! >"$STACK_DIR/run/authd.pid"
)
check "authd restarted with a new key" retry 20 curl -fs -o /dev/null "$AUTHD_URL/health"
new=$(code 42)
check "member 42 is shown a new code" test "${#new}" = 16 -a "$new" != "$c42"
check_eq "the old code is revoked" 401 "$(verify "$c42")"
check_eq "the new code works" 200 "$(verify "$new")"
check_eq "asked again, the forum gets the same new code" "$new" "$(code 42)"

finish
