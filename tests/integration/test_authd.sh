#!/usr/bin/env bash
# authd against real servers: every rule and call of docs/api.md, "Login and identity (authd)". Forum members
# go into MariaDB's smf_members; the forum's calls carry the stack's forum secret (FORUM_API_TOKEN); logins are
# sent as the tracker sends them (a JSON body of strings under curl's default form Content-Type) through the
# front door. The address that counts for a login is the sender's (nginx's X-Real-IP): game servers are
# registered from several loopback addresses (127.0.0.1-6, curl --interface) and each login is sent from the
# server's own address. Links are checked in smf_mohaa_identities, codes must never reach a log, codes are stored
# only as MACs under AUTHD_TOKEN_KEY (never a bare SHA-256), and the failed-login limits (per player: 5 a minute;
# per game server: 30 a minute; then 429) are checked near the end, on players and addresses of their own.
set -uo pipefail
# shellcheck disable=SC1091
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

stack_up || exit 1
API=$MOHSTATS_URL/api/v1/auth
FT=${FORUM_API_TOKEN:-}
RESP=$STACK_DIR/authd_resp.json
ISO='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'
ISO_JQ=${ISO//\\/\\\\}  # the same inside a jq string literal
CROCKFORD='^MOH-[0-9A-HJKMNP-TV-Z]{12}$'
SECRETS=()  # every code authd gave out and every way it was typed: none may appear in a log
# secret CODE: remember a code authd gave out (when it is one).
secret() {
  if [[ $1 =~ $CROCKFORD ]]; then SECRETS+=("$1"); fi
}
# secret_typed TEXT: remember a way a code was typed (when it is long enough to be one).
secret_typed() {
  if [ ${#1} -ge 15 ]; then SECRETS+=("$1"); fi
}

# ---- helpers -----------------------------------------------------------------------------------------------
# req METHOD PATH [BODY [curl args...]]: a request to ${TARGET:-$API}/PATH; sets ST (the status) and B (the body).
req() {
  local method=$1 path=$2 body=${3:-}
  shift 2
  [ $# -gt 0 ] && shift
  ST=$(curl -s --max-time 10 -o "$RESP" -w '%{http_code}' -X "$method" "${TARGET:-$API}/$path" \
    ${body:+--data-binary "$body"} "$@")
  B=$(cat "$RESP" 2>/dev/null)
}
# forum METHOD PATH [BODY]: a forum call, with the forum secret and a JSON body.
forum() {
  req "$1" "$2" "${3:-}" -H "X-Server-Token: $FT" -H 'Content-Type: application/json'
}
# j JQ: the filter applied to the last answer's body (raw strings, compact JSON).
j() {
  jq -c -r "$1" <<<"$B" 2>/dev/null || echo "(not JSON: ${B:0:200})"
}
# The game servers registered below, by the loopback address they are registered from.
declare -A SRV_ID SRV_PORT
# send_events TOKEN: a batch of events from a game server; prints the status. Logins count only from the
# address of a server that has sent events (registering alone is open to anyone).
send_events() {
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST "$MOHSTATS_URL/api/v1/ingest/events" \
    -H 'Content-Type: application/json' -H "X-Server-Token: $1" \
    --data-binary @"$(dirname "$0")/data/wire_4_3_match_end.json"
}
# register FROM NAME PORT: register a game server through the front door from the address FROM, and send its
# first batch of events, as the tracker does.
register() {
  local out
  out=$(curl -s --max-time 10 --interface "$1" -X POST "$MOHSTATS_URL/api/v1/servers/register" \
    -H 'Content-Type: application/json' -d "{\"name\": \"$2\", \"ip_address\": \"$1\", \"port\": \"$3\"}")
  SRV_ID[$1]=$(jq -r '.server_id // empty' <<<"$out" 2>/dev/null)
  SRV_PORT[$1]=$3
  [ "$(send_events "$(jq -r '.token // empty' <<<"$out" 2>/dev/null)")" = 202 ] || fail "the first batch of $2 ($1)"
  # ingestd records it after answering 202
  retry 5 eval "[ -n \"\$(pg_query \"SELECT first_batch_at FROM servers WHERE id = '${SRV_ID[$1]}'\")\" ]" ||
    fail "the first batch of $2 ($1) recorded"
}
# tb CODE GUID NAME [FROM [EXTRA]]: the verify body the tracker of the server at FROM (default 127.0.0.1)
# sends: every value a string; EXTRA is more JSON members (', "k": "v"').
tb() {
  local from=${4:-127.0.0.1}
  printf '{"token": "%s", "player_guid": "%s", "player_name": "%s", "server_id": "%s", "server_ip": "%s", "server_port": "%s"%s}' \
    "$1" "$2" "$3" "${SRV_ID[$from]:-}" "$from" "${SRV_PORT[$from]:-12203}" "${5:-}"
}
# verify BODY [curl args...]: POST /auth/verify with no Content-Type of our own (curl's default form type).
verify() {
  local body=$1
  shift
  req POST verify "$body" "$@"
}
# vfrom FROM CODE GUID NAME [EXTRA]: a login sent by the game server at FROM, through the front door.
vfrom() {
  verify "$(tb "$2" "$3" "$4" "$1" "${5:-}")" --interface "$1"
}
iso() { [[ $1 =~ $ISO ]]; }
# jq: ts, an ISO 8601 UTC time in whole seconds; tsf, with its fraction.
# shellcheck disable=SC2016
jq_ts='def ts: sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601;
  def tsf: (sub("Z$"; "") | split(".")) as $p | ($p[0] + "Z" | fromdateiso8601) + ("0." + ($p[1] // "0") | tonumber);'
# mdb QUERY: MariaDB rows, tabs turned into spaces.
mdb() { mdb_query "$1" | tr '\t' ' '; }

# failing [FROM [GUID]]: a login that must fail is about to be sent from FROM (default 127.0.0.1) for the player
# GUID (default 5). authd allows 30 failed logins per game server and 5 per player on it, a minute; this keeps at
# most 25 per address and 4 per player in any 62 seconds (waiting when needed), so no check but the limits' own
# ever meets a limit, whatever window authd uses.
declare -A FAILED_AT
failing() {
  local from=${1:-127.0.0.1} guid=${2:-5}
  under_limit "$from" 25
  under_limit "$from $guid" 4
}
# under_limit KEY MAX: wait until KEY has had fewer than MAX failures in the last 62 s, then count one more.
under_limit() {
  local key=$1 max=$2 now t
  local -a all recent
  while :; do
    now=$(date +%s)
    recent=()
    read -r -a all <<<"${FAILED_AT[$key]:-}"
    for t in "${all[@]}"; do
      if [ $((now - t)) -lt 62 ]; then recent+=("$t"); fi
    done
    [ ${#recent[@]} -ge "$max" ] || break
    echo "# waiting $((recent[0] + 62 - now)) s so that failed logins of $key stay below the per-minute limit"
    sleep $((recent[0] + 62 - now))
  done
  recent+=("$now")
  FAILED_AT[$key]=${recent[*]}
}
# mac CODE: what login_tokens.token_hash must hold for CODE: HMAC-SHA256 under AUTHD_TOKEN_KEY of the labelled
# code (authd/login_code.c), computed here by openssl, independently of authd.
mac() {
  printf 'mohstats login code hash v1\0%s' "$1" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:${AUTHD_TOKEN_KEY:-}" | sed 's/^.*= *//'
}
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# H42: member 42's login attempts as (success:failure_reason), oldest first, as the history must list them.
H42=()

check "stack.env has the forum secret, its SHA-256 and AUTHD_TOKEN_KEY" \
  test -n "$FT" -a -n "${FORUM_API_TOKEN_SHA256:-}" -a -n "${AUTHD_TOKEN_KEY:-}"
check_eq "FORUM_API_TOKEN_SHA256 is the SHA-256 of the forum secret" \
  "$(printf '%s' "$FT" | sha256sum | cut -d' ' -f1)" "${FORUM_API_TOKEN_SHA256:-}"
check_eq "authd is ready (/ops/authd/ready through the front door)" 200 "$(http_status "$MOHSTATS_URL/ops/authd/ready")"
SECRETS+=("$FT" "${AUTHD_TOKEN_KEY:-}")

# ---- forum fixtures ----------------------------------------------------------------------------------------
# 42 Alice (most checks), 43 Bob (real_name empty; another member), 44 Carol and 45 Dave (GUID links), 46 Erin
# (three GUIDs already), 47 Frank (registered servers only), 48 Gina (an expired code), 49 Hank (the limit),
# 50 Ivan (a long history), 51 Judy (look-alikes), 52 Karl (AUTH_VERIFY_FROM=any), 53 Liam (leaves the forum),
# 54 Mona and 55 Nils (codes stored before schema 0004), 56 Olga (one player's mistakes on a busy server).
mdb_query "INSERT INTO smf_members (id_member, member_name, real_name) VALUES (42, 'alice_forum', 'Alice'),
  (43, 'bob_forum', ''), (44, 'carol_forum', 'Carol'), (45, 'dave_forum', 'Dave'), (46, 'erin_forum', 'Erin'),
  (47, 'frank_forum', 'Frank'), (48, 'gina_forum', 'Gina'), (49, 'hank_forum', 'Hank'), (50, 'ivan_forum', 'Ivan'),
  (51, 'judy_forum', 'Judy'), (52, 'karl_forum', 'Karl'), (53, 'liam_forum', 'Liam'), (54, 'mona_forum', 'Mona'),
  (55, 'nils_forum', 'Nils'), (56, 'olga_forum', 'Olga');
  INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at, verified) VALUES
  (45, 'feedfacecafebeef', 'Dave', 1700000000, 1),
  (46, 'e1e1e1e1e1e1e1e1', 'Erin', 1700000000, 1), (46, 'e2e2e2e2e2e2e2e2', 'Erin', 1700000000, 1),
  (46, 'e3e3e3e3e3e3e3e3', 'Erin', 1700000000, 1);" || fail "MariaDB fixtures"

# ---- the forum secret --------------------------------------------------------------------------------------
for call in "POST device" "POST claim/init" "GET login-history/42" "GET history/42" "GET history?forum_user_id=42" \
  "GET trusted-ips/42" "GET trusted-ips?forum_user_id=42" "POST trusted-ips/42/delete" \
  "DELETE trusted-ip/1?forum_user_id=42" "DELETE trusted-ips/1?forum_user_id=42" "GET pending-approvals/42" \
  "GET pending-ips/42" "GET pending-ips?forum_user_id=42" "POST pending-approvals/42/resolve" \
  "POST pending-ip/resolve" "POST pending-ips/1" "POST pending-ips/mark-notified"; do
  body=""
  [ "${call%% *}" = POST ] && body='{"forum_user_id": 42, "approval_id": 1, "ip_id": 1, "ids": [1], "action": "deny"}'
  req "${call%% *}" "${call#* }" "$body" -H 'Content-Type: application/json'
  check_eq "$call without X-Server-Token: 401 Forum token required" "401 Forum token required" "$ST $(j .error)"
done
failing 127.0.0.1 forum
req POST device '{"forum_user_id": 42}' -H 'X-Server-Token: not-the-forum-secret' -H 'Content-Type: application/json'
check_eq "device with a wrong X-Server-Token: 401 Invalid forum token" "401 Invalid forum token" "$ST $(j .error)"
failing 127.0.0.1 forum
req GET trusted-ips/42 "" -H 'X-Server-Token: not-the-forum-secret'
check_eq "trusted-ips with a wrong X-Server-Token: 401 Invalid forum token" "401 Invalid forum token" "$ST $(j .error)"

# ---- codes (device, claim/init) ----------------------------------------------------------------------------
forum POST device '{"forum_user_id": 999}'
check_eq "device for a member not in smf_members: 404" 404 "$ST"
check_eq "...with a JSON error" string "$(j '.error | type')"
forum POST device '{"forum_user_id": "abc"}'
check_eq "device with a member id that is not an integer: 400" 400 "$ST"
forum POST device '{"forum_user_id": 0}'
check_eq "device with member id 0 (ids are > 0): 400" 400 "$ST"

forum POST device '{"forum_user_id": 42}'
check_eq "device for member 42: 200" 200 "$ST"
CODE1=$(j .user_code)
secret "$CODE1"
check "user_code is MOH- and 12 Crockford base32 characters" grep -qE "$CROCKFORD" <<<"$CODE1"
check_eq "...is_new true (the member had no code)" true "$(j .is_new)"
check_eq "...expires_in is 365 days (LOGIN_TOKEN_TTL_DAYS) in seconds, give or take 2 minutes" true \
  "$(j '.expires_in | type == "number" and . > 365 * 86400 - 120 and . <= 365 * 86400')"
check "...expires_at is ISO 8601 UTC" iso "$(j .expires_at)"
check_eq "...expires_at is now + expires_in (within 2 minutes)" true \
  "$(j "$jq_ts ((.expires_at | ts) - now - .expires_in) | fabs < 120")"
check_eq "login_tokens has one row for member 42" 1 "$(pg_query "SELECT count(*) FROM login_tokens WHERE forum_user_id = 42")"
check_eq "...and the code itself is stored nowhere in login_tokens" 0 \
  "$(pg_query "SELECT t::text FROM login_tokens t" | grep -ciF "${CODE1#MOH-}")"
stored=$(pg_query "SELECT hash_scheme || ' ' || token_hash FROM login_tokens WHERE forum_user_id = 42")
check_eq "...it holds the code's HMAC-SHA256 under AUTHD_TOKEN_KEY (as openssl computes it)" \
  "hmac-sha256 $(mac "$CODE1")" "$stored"
check "...which is not the code's bare SHA-256 (a copied database cannot be searched for 60-bit codes)" \
  test "${stored#* }" != "$(sha "$CODE1")" -a "${stored#* }" != "$(sha "${CODE1#MOH-}")"

forum POST device '{"forum_user_id": 42}'
check_eq "device again: 200, the same code, is_new false" "200 $CODE1 false" "$ST $(j '"\(.user_code) \(.is_new)"')"
forum POST device '{"forum_user_id": "42"}'
check_eq "device with forum_user_id as a string: the same code" "200 $CODE1 false" "$ST $(j '"\(.user_code) \(.is_new)"')"
forum POST claim/init '{"forum_user_id": 42}'
check_eq "claim/init: 200 with the member's current code" "200 $CODE1" "$ST $(j .code)"
check_eq "...and the message naming it" "In game, open the console and type: login $CODE1" "$(j .message)"
check_eq "...expires_in a number, expires_at ISO 8601" "number true" \
  "$(j '"\(.expires_in | type) \(.expires_at | test("'"$ISO_JQ"'"))"')"
forum POST claim/init '{"forum_user_id": "42"}'
check_eq "claim/init with forum_user_id as a string" "200 $CODE1" "$ST $(j .code)"
forum POST claim/init '{"forum_user_id": 999}'
check_eq "claim/init for a member not in smf_members: 404" 404 "$ST"

# ---- logins only from registered game servers (none registered yet) ----------------------------------------
failing
verify "$(tb "$CODE1" 5 Alice)"
check_eq "verify before any game server is registered: 403" \
  "403 false Logins are accepted only from registered game servers" "$ST $(j '"\(.valid) \(.error)"')"
failing
req POST smf-verify "token=$CODE1&guid=5&player_name=Alice&server_id=x"
check_eq "smf-verify before any game server is registered: 403, success false" "403 false" "$ST $(j .success)"
check_eq "...no link was written" 0 "$(mdb "SELECT count(*) FROM smf_mohaa_identities WHERE id_member = 42")"

register 127.0.0.1 Alpha 12203
SID=${SRV_ID[127.0.0.1]}
check "a game server registered from 127.0.0.1" test -n "$SID"
register 127.0.0.2 Bravo 12204
register 127.0.0.3 Charlie 12205
register 127.0.0.4 Delta 12206
register 127.0.0.5 Echo 12207
register 127.0.0.6 Foxtrot 12208
check "five more registered from 127.0.0.2-6" test -n "${SRV_ID[127.0.0.2]}" -a -n "${SRV_ID[127.0.0.3]}" \
  -a -n "${SRV_ID[127.0.0.4]}" -a -n "${SRV_ID[127.0.0.5]}" -a -n "${SRV_ID[127.0.0.6]}"

# ---- regenerating revokes --------------------------------------------------------------------------------------
forum POST device '{"forum_user_id": 42, "regenerate": true}'
CODE2=$(j .user_code)
secret "$CODE2"
check_eq "device with regenerate true: 200, is_new true" "200 true" "$ST $(j .is_new)"
check "...a new code of the same form" grep -qE "$CROCKFORD" <<<"$CODE2"
check "...different from the old one" test "$CODE2" != "$CODE1"
failing
verify "$(tb "$CODE1" 5 Alice)"
H42+=("false:token_revoked")
check_eq "the old code: 401 Token has been revoked" "401 false Token has been revoked" "$ST $(j '"\(.valid) \(.error)"')"
forum POST device '{"forum_user_id": "42", "force": true}'
CODE3=$(j .user_code)
secret "$CODE3"
check_eq "device with force true: 200, is_new true" "200 true" "$ST $(j .is_new)"
check "...a third code, different from both" test "$CODE3" != "$CODE2" -a "$CODE3" != "$CODE1" -a -n "$CODE3"
failing
verify "$(tb "$CODE2" 5 Alice)"
H42+=("false:token_revoked")
check_eq "the second code: 401 Token has been revoked" "401 false Token has been revoked" "$ST $(j '"\(.valid) \(.error)"')"
forum POST device '{"forum_user_id": 42}'
check_eq "device now shows the current code, is_new false" "200 $CODE3 false" "$ST $(j '"\(.user_code) \(.is_new)"')"
forum POST claim/init '{"forum_user_id": 42}'
check_eq "claim/init shows the current code" "$CODE3" "$(j .code)"

# ---- the first login -------------------------------------------------------------------------------------------
verify "$(tb "$CODE3" 5 Alice)"
H42+=("true:null")
check_eq "verify as the tracker sends it (strings, form Content-Type): 200" 200 "$ST"
check_eq "...valid true" true "$(j .valid)"
check_eq "...forum_user_id 42 as a JSON number" "number 42" "$(j '"\(.forum_user_id | type) \(.forum_user_id)"')"
check_eq "...member_name is the member's real_name" Alice "$(j .member_name)"
check_eq "...message Identity verified successfully" "Identity verified successfully" "$(j .message)"
check_eq "...ip_trusted true" true "$(j .ip_trusted)"
check_eq "...player_guid echoed as sent (the string \"5\")" '"5"' "$(j '.player_guid | tojson')"
check_eq "the link: member 42, player_guid '42' (5 is a slot number), name Alice, verified" "42 42 Alice 1" \
  "$(mdb "SELECT id_member, player_guid, player_name, verified FROM smf_mohaa_identities WHERE id_member = 42")"
check_eq "...linked_at is now (Unix seconds)" 1 \
  "$(mdb "SELECT ABS(CAST(linked_at AS SIGNED) - UNIX_TIMESTAMP()) < 300 FROM smf_mohaa_identities WHERE id_member = 42")"
forum GET trusted-ips/42
check_eq "the first login trusted its address: 127.0.0.1, source token_login" "200 1 127.0.0.1:token_login" \
  "$ST $(j '"\(.count) \([.trusted_ips[] | "\(.ip_address):\(.source)"] | join(","))"')"

verify "$(tb "$CODE3" 5 Alice)"
H42+=("true:null")
check_eq "a second verify from the same address: 200 valid" "200 true" "$ST $(j .valid)"
check_eq "...message Reconnected from trusted IP" "Reconnected from trusted IP" "$(j .message)"
check_eq "...trusted_ip true" true "$(j .trusted_ip)"
check_eq "...forum_user_id and member_name" "42 Alice" "$(j '"\(.forum_user_id) \(.member_name)"')"

core=${CODE3#MOH-}
typed="moh${core,,}"
secret_typed "$typed"
verify "$(tb "$typed" 5 Alice)"
H42+=("true:null")
check_eq "the code in lowercase without its dash: 200 valid, member 42" "200 true 42" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"
alike=$(tr '01' 'OL' <<<"$core")
typed="MOH ${alike:0:4} ${alike:4:4} ${alike:8:4}"
secret_typed "$typed"
verify "$(tb "$typed" 5 Alice)"
H42+=("true:null")
check_eq "the code with spaces and O for 0, L for 1: 200 valid" "200 true" "$ST $(j .valid)"
alike=$(tr '01' 'oi' <<<"${core,,}")
typed="moh-${alike:0:6}-${alike:6:6}"
secret_typed "$typed"
verify "$(tb "$typed" 5 Alice)"
H42+=("true:null")
check_eq "the code with dashes elsewhere and o for 0, i for 1: 200 valid" "200 true" "$ST $(j .valid)"
verify "token=$CODE3&player_guid=5&player_name=Alice&server_id=$SID&server_ip=127.0.0.1&server_port=12203"
H42+=("true:null")
check_eq "verify with a form body: 200 valid" "200 true" "$ST $(j .valid)"
verify "{\"token\": \"$CODE3\", \"player_guid\": 7, \"player_name\": \"Alice\", \"server_id\": \"$SID\"}" \
  -H 'Content-Type: application/json'
H42+=("true:null")
check_eq "verify with player_guid as a JSON number: 200 valid" "200 true" "$ST $(j .valid)"
check_eq "...player_guid echoed as sent (the number 7)" 7 "$(j '.player_guid | tojson')"
check_eq "member 42 still has exactly one link, '42'" "42" \
  "$(mdb "SELECT GROUP_CONCAT(player_guid) FROM smf_mohaa_identities WHERE id_member = 42")"

# The look-alikes for certain: member 51's code is regenerated until it has both a 0 and a 1.
forum POST device '{"forum_user_id": 51}'
C51=$(j .user_code)
secret "$C51"
# has01 CODE: a code with both a 0 and a 1 among its 12 symbols.
has01() { [[ $1 =~ $CROCKFORD && ${1#MOH-} == *0* && ${1#MOH-} == *1* ]]; }
for ((i = 0; i < 100; i++)); do
  if has01 "$C51"; then break; fi
  forum POST device '{"forum_user_id": 51, "regenerate": true}'
  C51=$(j .user_code)
  secret "$C51"
done
check "a code with both a 0 and a 1 (member 51, after $i regenerations)" has01 "$C51"
typed="MOH-$(tr '01' 'OI' <<<"${C51#MOH-}")"
secret_typed "$typed"
verify "$(tb "$typed" 5 Judy)"
check_eq "that code typed with O for 0 and I for 1: 200 valid, member 51" "200 true 51" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"
typed=${C51#MOH-}
typed="moh$(tr '01' 'ol' <<<"${typed,,}")"
secret_typed "$typed"
verify "$(tb "$typed" 5 Judy)"
check_eq "typed in lowercase with o for 0 and l for 1: 200 valid, member 51" "200 true 51" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"

# ---- the address that counts is the sender's ---------------------------------------------------------------
verify "$(tb "$CODE3" 5 Alice 127.0.0.1 ', "player_ip": "203.0.113.9"')"
H42+=("true:null")
check_eq "a player_ip in the body is ignored: 200, Reconnected from trusted IP (127.0.0.1 sent it)" \
  "200 true Reconnected from trusted IP" "$ST $(j '"\(.valid) \(.message)"')"
forum GET pending-ips/42
check_eq "...and no request is pending" "0 []" "$(j '"\(.count) \(.pending_ips)"')"

# ---- a new address waits for the member's approval ---------------------------------------------------------
failing 127.0.0.2
# The body names another server (Alpha, 127.0.0.1:12203): the request must name the one that sent it.
vfrom 127.0.0.2 "$CODE3" 5 Alice ', "server_name": "Alpha", "server_address": "127.0.0.1:12203"'
H42+=("false:new_ip_pending_approval")
check_eq "a login sent from another registered server's address (127.0.0.2): 403" 403 "$ST"
check_eq "...valid false, error new_ip_detected, pending_approval true" "false new_ip_detected true" \
  "$(j '"\(.valid) \(.error) \(.pending_approval)"')"
check_eq "...with a message" string "$(j '.message | type')"
for path in pending-approvals/42 pending-ips/42 "pending-ips?forum_user_id=42"; do
  forum GET "$path"
  check_eq "GET $path: 200, member 42, one open request for 127.0.0.2" "200 42 1 127.0.0.2" \
    "$ST $(j '"\(.forum_user_id) \(.count) \([.pending_ips[].ip_address] | join(","))"')"
done
P1=$(j '.pending_ips[0].id')
check_eq "...its id is an integer" true "$(j '.pending_ips[0].id | type == "number" and . == floor')"
check_eq "...it has every documented field" "[]" \
  "$(j '["id","ip_address","player_guid","player_name","server_name","server_address","requested_at","expires_at"] - (.pending_ips[0] | keys)')"
check_eq "...player_name from the login; server_name, server_address of the server registered at its sender" \
  "Alice Bravo 127.0.0.2:12204" "$(j '.pending_ips[0] | "\(.player_name) \(.server_name) \(.server_address)"')"
check_eq "...requested_at and expires_at ISO 8601" "true true" \
  "$(j '.pending_ips[0] | "\(.requested_at | test("'"$ISO_JQ"'")) \(.expires_at | test("'"$ISO_JQ"'"))"')"
check_eq "...expires 24 hours (PENDING_IP_TTL_H) after it was requested" true \
  "$(j "$jq_ts .pending_ips[0] | ((.expires_at | ts) - (.requested_at | ts) - 86400) | fabs <= 2")"
failing 127.0.0.2
vfrom 127.0.0.2 "$CODE3" 5 Alice
H42+=("false:new_ip_pending_approval")
check_eq "another attempt while it is pending: 403 new_ip_detected" "403 new_ip_detected" "$ST $(j .error)"
forum GET pending-ips/42
check_eq "...still one open request, the same one" "1 $P1" "$(j '"\(.count) \(.pending_ips[0].id)"')"

forum POST pending-ips/mark-notified "{\"forum_user_id\": 42, \"ids\": [$P1, 999999]}"
check_eq "mark-notified: 200 updated 1 (the open request; an unknown id is not counted)" "200 1" "$ST $(j .updated)"
forum POST pending-ips/mark-notified "{\"forum_user_id\": 42, \"ids\": [$P1]}"
check_eq "mark-notified again: updated 0" "200 0" "$ST $(j .updated)"

forum POST pending-approvals/42/resolve "{\"approval_id\": $P1, \"action\": \"deny\"}"
check_eq "deny (pending-approvals/{member}/resolve): 200 success true, status denied" "200 true denied" \
  "$ST $(j '"\(.success) \(.status)"')"
forum GET "pending-ips?forum_user_id=42"
check_eq "...the pending list is empty" "0 []" "$(j '"\(.count) \(.pending_ips)"')"
forum GET trusted-ips/42
check_eq "...and 127.0.0.2 is not trusted" "127.0.0.1" "$(j '[.trusted_ips[].ip_address] | join(",")')"
forum POST pending-approvals/42/resolve "{\"approval_id\": $P1, \"action\": \"approve\"}"
check_eq "resolving a decided request: 404 Pending request not found" "404 Pending request not found" "$ST $(j .error)"

failing 127.0.0.2
vfrom 127.0.0.2 "$CODE3" 5 Alice
H42+=("false:new_ip_pending_approval")
check_eq "a new attempt after the denial: 403 new_ip_detected, pending_approval true" "403 new_ip_detected true" \
  "$ST $(j '"\(.error) \(.pending_approval)"')"
forum GET pending-approvals/42
check_eq "...a new open request for 127.0.0.2" "1 127.0.0.2" "$(j '"\(.count) \(.pending_ips[0].ip_address)"')"
P2=$(j '.pending_ips[0].id')
forum POST pending-ips/mark-notified "{\"forum_user_id\": 42, \"ids\": [$P1, $P2]}"
check_eq "...not marked notified yet (mark-notified of the denied and the new one: updated 1)" "200 1" "$ST $(j .updated)"

forum POST pending-approvals/42/resolve "{\"approval_id\": $P2, \"action\": \"approve\", \"label\": \"home\"}"
check_eq "approve (pending-approvals/{member}/resolve): 200 success true, status approved" "200 true approved" \
  "$ST $(j '"\(.success) \(.status)"')"
forum GET pending-ips/42
check_eq "...the pending list is empty" "0 []" "$(j '"\(.count) \(.pending_ips)"')"
vfrom 127.0.0.2 "$CODE3" 5 Alice
H42+=("true:null")
check_eq "a login from the approved 127.0.0.2: 200 valid, Reconnected from trusted IP, trusted_ip" \
  "200 true Reconnected from trusted IP true" "$ST $(j '"\(.valid) \(.message) \(.trusted_ip)"')"

failing 127.0.0.3
vfrom 127.0.0.3 "$CODE3" 5 Alice
H42+=("false:new_ip_pending_approval")
check_eq "a login from 127.0.0.3: 403 new_ip_detected" "403 new_ip_detected" "$ST $(j .error)"
forum GET "pending-ips?forum_user_id=42"
P3=$(j '.pending_ips[] | select(.ip_address == "127.0.0.3") | .id')
forum POST pending-ip/resolve "{\"forum_user_id\": 42, \"approval_id\": $P3, \"action\": \"approve\", \"label\": \"office\"}"
check_eq "approve (pending-ip/resolve): 200 success true, status approved" "200 true approved" \
  "$ST $(j '"\(.success) \(.status)"')"
vfrom 127.0.0.3 "$CODE3" 5 Alice
H42+=("true:null")
check_eq "a login from the approved 127.0.0.3: 200 valid" "200 true" "$ST $(j .valid)"

failing 127.0.0.4
vfrom 127.0.0.4 "$CODE3" 5 Alice
H42+=("false:new_ip_pending_approval")
check_eq "a login from 127.0.0.4: 403 new_ip_detected" "403 new_ip_detected" "$ST $(j .error)"
forum GET pending-ips/42
P4=$(j '.pending_ips[] | select(.ip_address == "127.0.0.4") | .id')
forum POST "pending-ips/$P4" '{"forum_user_id": 42, "action": "approve", "label": "lan"}'
check_eq "approve (pending-ips/{id}): 200 success true, status approved" "200 true approved" \
  "$ST $(j '"\(.success) \(.status)"')"
vfrom 127.0.0.4 "$CODE3" 5 Alice
H42+=("true:null")
check_eq "a login from the approved 127.0.0.4: 200 valid" "200 true" "$ST $(j .valid)"

# (the label of an address trusted by a login is not specified; an approval's is the one given)
trusted='[.trusted_ips[] | "\(.ip_address):\(.source)\(if .source == "manual_approval" then ":\(.label)" else "" end)"] | sort | join(",")'
for path in trusted-ips/42 "trusted-ips?forum_user_id=42"; do
  forum GET "$path"
  check_eq "GET $path: the login's address and the three approved ones, with source and label" \
    "200 42 4 127.0.0.1:token_login,127.0.0.2:manual_approval:home,127.0.0.3:manual_approval:office,127.0.0.4:manual_approval:lan" \
    "$ST $(j '"\(.forum_user_id) \(.count) "')$(j "$trusted")"
done
check_eq "...ids are integers" true "$(j '[.trusted_ips[].id | type == "number" and . == floor] | all')"
check_eq "...every documented field" "[]" \
  "$(j '[.trusted_ips[] | ["id","ip_address","source","label","created_at","last_used_at"] - keys] | add')"
check_eq "...created_at and last_used_at ISO 8601 (each was used)" true \
  "$(j '[.trusted_ips[] | (.created_at | test("'"$ISO_JQ"'")) and (.last_used_at | test("'"$ISO_JQ"'"))] | all')"
T2=$(j '.trusted_ips[] | select(.ip_address == "127.0.0.2") | .id')
T3=$(j '.trusted_ips[] | select(.ip_address == "127.0.0.3") | .id')
T4=$(j '.trusted_ips[] | select(.ip_address == "127.0.0.4") | .id')

# ---- another member's requests and addresses -------------------------------------------------------------------
forum POST device '{"forum_user_id": 43}'
C43=$(j .user_code)
secret "$C43"
check_eq "device for member 43: 200, is_new true" "200 true" "$ST $(j .is_new)"
verify "$(tb "$C43" 6 Bob)"
check_eq "member 43's login: 200 valid, member_name falls back to member_name (real_name empty)" \
  "200 true 43 bob_forum" "$ST $(j '"\(.valid) \(.forum_user_id) \(.member_name)"')"
check_eq "...linked as '43'" "43 43 Bob 1" \
  "$(mdb "SELECT id_member, player_guid, player_name, verified FROM smf_mohaa_identities WHERE id_member = 43")"
failing 127.0.0.5
vfrom 127.0.0.5 "$C43" 6 Bob
check_eq "member 43 from 127.0.0.5: 403 new_ip_detected" "403 new_ip_detected" "$ST $(j .error)"
forum GET pending-ips/43
Q1=$(j '.pending_ips[0].id')
check_eq "...member 43 has one open request" "1 127.0.0.5" "$(j '"\(.count) \(.pending_ips[0].ip_address)"')"
forum GET pending-ips/42
check_eq "...member 42's list does not show it" "0 []" "$(j '"\(.count) \(.pending_ips)"')"
forum POST pending-approvals/42/resolve "{\"approval_id\": $Q1, \"action\": \"approve\"}"
check_eq "member 42 resolving 43's request (pending-approvals/42/resolve): 404 Pending request not found" \
  "404 Pending request not found" "$ST $(j .error)"
forum POST pending-ip/resolve "{\"forum_user_id\": 42, \"approval_id\": $Q1, \"action\": \"approve\"}"
check_eq "member 42 resolving 43's request (pending-ip/resolve): 404" "404 Pending request not found" "$ST $(j .error)"
forum POST "pending-ips/$Q1" '{"forum_user_id": 42, "action": "approve"}'
check_eq "member 42 resolving 43's request (pending-ips/{id}): 404" "404 Pending request not found" "$ST $(j .error)"
forum POST pending-approvals/42/resolve '{"approval_id": 999999, "action": "approve"}'
check_eq "resolving an unknown id: 404 Pending request not found" "404 Pending request not found" "$ST $(j .error)"
forum POST pending-ips/mark-notified "{\"forum_user_id\": 42, \"ids\": [$Q1]}"
check_eq "member 42 marking 43's request notified: updated 0" "200 0" "$ST $(j .updated)"
forum POST pending-approvals/43/resolve "{\"approval_id\": $Q1, \"action\": \"maybe\"}"
check_eq "action maybe: 400" 400 "$ST"
forum GET pending-ips/43
check_eq "...member 43's request is still open after all that" "1 $Q1" "$(j '"\(.count) \(.pending_ips[0].id)"')"
forum GET trusted-ips/42
check_eq "...and member 42 trusts no new address" 4 "$(j .count)"

pg_query "UPDATE pending_ip_approvals SET expires_at = now() - interval '1 minute'
  WHERE forum_user_id = 43 AND host(ip_address) = '127.0.0.5'" >/dev/null || fail "expiring member 43's request"
forum GET pending-ips/43
check_eq "an expired request is not listed" "0 []" "$(j '"\(.count) \(.pending_ips)"')"
forum POST pending-approvals/43/resolve "{\"approval_id\": $Q1, \"action\": \"approve\"}"
check_eq "...and resolving it: 404 Pending request not found" "404 Pending request not found" "$ST $(j .error)"
failing 127.0.0.5
vfrom 127.0.0.5 "$C43" 6 Bob
check_eq "a new attempt after the expiry: 403 new_ip_detected" "403 new_ip_detected" "$ST $(j .error)"
forum GET pending-ips/43
check_eq "...and an open request again" "1 127.0.0.5" "$(j '"\(.count) \(.pending_ips[0].ip_address)"')"

forum POST device '{"forum_user_id": 43, "regenerate": true}'
C43B=$(j .user_code)
secret "$C43B"
vfrom 127.0.0.6 "$C43B" 6 Bob
check_eq "the first login with a regenerated code from a new address (127.0.0.6): 200, trusted, verified" \
  "200 true true Identity verified successfully" "$ST $(j '"\(.valid) \(.ip_trusted) \(.message)"')"
forum GET "trusted-ips?forum_user_id=43"
check_eq "...member 43 now trusts 127.0.0.1 and 127.0.0.6 (token_login)" \
  "127.0.0.1:token_login,127.0.0.6:token_login" \
  "$(j '[.trusted_ips[] | "\(.ip_address):\(.source)"] | sort | join(",")')"
T43=$(j '.trusted_ips[] | select(.ip_address == "127.0.0.1") | .id')

# ---- deleting trusted addresses ----------------------------------------------------------------------------------
forum POST trusted-ips/42/delete "{\"ip_id\": $T43}"
check_eq "member 42 deleting 43's address (trusted-ips/42/delete): 404 Trusted IP not found" \
  "404 Trusted IP not found" "$ST $(j .error)"
forum DELETE "trusted-ip/$T43?forum_user_id=42"
check_eq "member 42 deleting 43's address (DELETE trusted-ip/{id}): 404" "404 Trusted IP not found" "$ST $(j .error)"
forum DELETE "trusted-ips/$T43?forum_user_id=42"
check_eq "member 42 deleting 43's address (DELETE trusted-ips/{id}): 404" "404 Trusted IP not found" "$ST $(j .error)"
forum DELETE "trusted-ip/999999?forum_user_id=42"
check_eq "deleting an unknown id: 404 Trusted IP not found" "404 Trusted IP not found" "$ST $(j .error)"
forum GET trusted-ips/43
check_eq "...member 43 still trusts both addresses" 2 "$(j .count)"

forum POST trusted-ips/42/delete "{\"ip_id\": $T2}"
check_eq "delete 127.0.0.2 (POST trusted-ips/{member}/delete): 200 success true, status deleted" "200 true deleted" \
  "$ST $(j '"\(.success) \(.status)"')"
forum DELETE "trusted-ip/$T3?forum_user_id=42"
check_eq "delete 127.0.0.3 (DELETE trusted-ip/{id}): 200 success true, status deleted" "200 true deleted" \
  "$ST $(j '"\(.success) \(.status)"')"
forum DELETE "trusted-ips/$T4?forum_user_id=42"
check_eq "delete 127.0.0.4 (DELETE trusted-ips/{id}): 200 success true, status deleted" "200 true deleted" \
  "$ST $(j '"\(.success) \(.status)"')"
forum GET trusted-ips/42
check_eq "...only 127.0.0.1 is left" "1 127.0.0.1" "$(j '"\(.count) \([.trusted_ips[].ip_address] | join(","))"')"
forum DELETE "trusted-ips/$T2?forum_user_id=42"
check_eq "deleting it again: 404 Trusted IP not found" "404 Trusted IP not found" "$ST $(j .error)"
failing 127.0.0.2
vfrom 127.0.0.2 "$CODE3" 5 Alice
H42+=("false:new_ip_pending_approval")
check_eq "a deleted address is not trusted any more: 403 new_ip_detected" "403 new_ip_detected" "$ST $(j .error)"

# ---- login history -----------------------------------------------------------------------------------------------
n=${#H42[@]}
expected=""
for ((i = n - 1; i >= 0; i--)); do expected+="${expected:+,}${H42[i]}"; done
hist='[.history[] | "\(.success):\(.failure_reason)"] | join(",")'
for path in "login-history/42?limit=100" "history/42?limit=100" "history?forum_user_id=42&limit=100"; do
  forum GET "$path"
  check_eq "GET $path: 200, member 42, all $n attempts newest first (success:failure_reason)" "200 42 $n $expected" \
    "$ST $(j '"\(.forum_user_id) \(.count) "')$(j "$hist")"
done
check_eq "...success is a boolean" '["boolean"]' "$(j '[.history[].success | type] | unique')"
check_eq "...failure_reason is null or a documented value" true \
  "$(j '[.history[].failure_reason | . == null or . == "token_revoked" or . == "token_expired" or . == "new_ip_pending_approval"] | all')"
check_eq "...attempt_at is ISO 8601 UTC" true "$(j '[.history[].attempt_at | test("'"$ISO_JQ"'")] | all')"
check_eq "...newest first by attempt_at" true "$(j "$jq_ts [.history[].attempt_at | tsf] | . == (sort | reverse)")"
check_eq "...every documented field" "[]" \
  "$(j '[.history[] | ["attempt_at","server_name","server_address","player_ip","player_guid","player_name","success","failure_reason"] - keys] | add')"
check_eq "...the newest: player_ip 127.0.0.2 (its sender), player_name Alice, server_address 127.0.0.2:12204" \
  "127.0.0.2 Alice 127.0.0.2:12204" "$(j '.history[0] | "\(.player_ip) \(.player_name) \(.server_address)"')"
check_eq "...an earlier one has the sender's address as player_ip" 127.0.0.1 \
  "$(j '[.history[] | select(.success)][-1].player_ip')"
full=$(j "$hist")
forum GET history/42
want=$((n < 20 ? n : 20))
check_eq "without limit: the newest $want (default 20)" "$want $(cut -d, -f1-"$want" <<<"$full")" \
  "$(j '"\(.count) "')$(j "$hist")"
forum GET "history/42?limit=2"
check_eq "limit=2: the newest two" "2 $(cut -d, -f1-2 <<<"$full")" "$(j '"\(.count) "')$(j "$hist")"
forum GET history/45
check_eq "history of a member without attempts: 200, count 0, []" "200 0 []" "$ST $(j '"\(.count) \(.history)"')"
forum POST device '{"forum_user_id": 50}'
C50=$(j .user_code)
secret "$C50"
ok50=0
for i in $(seq 1 101); do
  verify "$(tb "$C50" 5 Ivan)"
  if [ "$ST" = 200 ]; then ok50=$((ok50 + 1)); fi
done
check_eq "101 logins by member 50: all 200" 101 "$ok50"
verify "{\"token\": \"$C50\", \"player_guid\": \"5\", \"player_name\": \"Ivan\", \"server_id\": \"$SID\", \"server_name\": \"Alpha\", \"server_address\": \"127.0.0.1:12203\"}"
check_eq "a login naming server_address (instead of server_ip and server_port): 200 valid" "200 true" "$ST $(j .valid)"
forum GET "history/50?limit=1"
check_eq "...its history entry: server_name Alpha, server_address 127.0.0.1:12203" "1 Alpha 127.0.0.1:12203" \
  "$(j '"\(.count) \(.history[0].server_name) \(.history[0].server_address)"')"
verify "$(tb "$C50" 5 $'\xc9mile \xab\x80\xbb')"
check_eq "a player name in CP1252 bytes (not UTF-8): 200 valid, not an outage" "200 true" "$ST $(j .valid)"
forum GET "history/50?limit=1"
check_eq "...recorded as faithful UTF-8" "Émile «€»" "$(j '.history[0].player_name')"
forum GET "history/50?limit=1000"
check_eq "limit=1000 is capped at 100" "100 100" "$(j '"\(.count) \(.history | length)"')"
forum GET history/50
check_eq "the default limit is 20" "20 20" "$(j '"\(.count) \(.history | length)"')"

# ---- which GUID is linked ------------------------------------------------------------------------------------------
forum POST device '{"forum_user_id": 44}'
C44=$(j .user_code)
secret "$C44"
verify "$(tb "$C44" abcdef0123456789 Carol)"
check_eq "a GUID sent as player_guid: 200 valid, echoed" "200 true abcdef0123456789" \
  "$ST $(j '"\(.valid) \(.player_guid)"')"
check_eq "...that GUID is linked to member 44, verified" "44 abcdef0123456789 Carol 1" \
  "$(mdb "SELECT id_member, player_guid, player_name, verified FROM smf_mohaa_identities WHERE id_member = 44")"
verify "$(tb "$C44" 45 Carol)"
check_eq "a member id that is not the member's own sent as the GUID (45, by member 44): 200 valid" "200 true" \
  "$ST $(j .valid)"
check_eq "...links member 44's own id, never 45 (stats recorded under '45' stay member 45's)" \
  "44,abcdef0123456789 0" "$(mdb "SELECT GROUP_CONCAT(player_guid ORDER BY player_guid), (SELECT COUNT(*)
    FROM smf_mohaa_identities WHERE player_guid = '45') FROM smf_mohaa_identities WHERE id_member = 44")"
mdb_query "DELETE FROM smf_mohaa_identities WHERE id_member = 44 AND player_guid = '44'" || fail "removing link 44"
failing 127.0.0.1 feedfacecafebeef
verify "$(tb "$C44" feedfacecafebeef Carol)"
check_eq "a GUID linked to member 45 is not taken over by 44" "45 Dave 1700000000" \
  "$(mdb "SELECT id_member, player_name, linked_at FROM smf_mohaa_identities WHERE player_guid = 'feedfacecafebeef'")"
check_eq "...member 44 still has only its own link" abcdef0123456789 \
  "$(mdb "SELECT GROUP_CONCAT(player_guid) FROM smf_mohaa_identities WHERE id_member = 44")"
forum POST device '{"forum_user_id": 46}'
C46=$(j .user_code)
secret "$C46"
verify "$(tb "$C46" 0123456789abcdef Erin)"
check_eq "a member with 3 other GUIDs: the login still succeeds (200 valid, member 46)" "200 true 46" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"
check_eq "...but no new link (AUTH_MAX_IDENTITIES 3)" "3 0" \
  "$(mdb "SELECT COUNT(*), SUM(player_guid = '0123456789abcdef') FROM smf_mohaa_identities WHERE id_member = 46")"
mdb_query "INSERT INTO smf_settings (variable, value) VALUES ('mohaa_stats_max_identities', '4')" ||
  fail "setting mohaa_stats_max_identities"
verify "$(tb "$C46" 1111222233334444 Erin)"
check_eq "the forum allowing 4 (mohaa_stats_max_identities): 200 valid" "200 true" "$ST $(j .valid)"
check_eq "...and a fourth link" "4 1" \
  "$(mdb "SELECT COUNT(*), SUM(player_guid = '1111222233334444') FROM smf_mohaa_identities WHERE id_member = 46")"
verify "$(tb "$C46" 5555666677778888 Erin)"
check_eq "...a fifth GUID: 200 valid" "200 true" "$ST $(j .valid)"
check_eq "...but no fifth link" "4 0" \
  "$(mdb "SELECT COUNT(*), SUM(player_guid = '5555666677778888') FROM smf_mohaa_identities WHERE id_member = 46")"
mdb_query "DELETE FROM smf_settings WHERE variable = 'mohaa_stats_max_identities'" || fail "removing the setting"

# ---- only from registered, active game servers (directly to authd: it believes X-Real-IP from 127.0.0.1) --------
forum POST device '{"forum_user_id": 47}'
C47=$(j .user_code)
secret "$C47"
TARGET=$AUTHD_URL/api/v1/auth verify "$(tb "$C47" 9 Frank)" -H 'X-Real-IP: 198.51.100.7'
check_eq "a login from an address without a registered server (198.51.100.7): 403" \
  "403 false Logins are accepted only from registered game servers" "$ST $(j '"\(.valid) \(.error)"')"
reg=$(curl -s --max-time 10 -X POST "$INGESTD_URL/api/v1/servers/register" -H 'Content-Type: application/json' \
  -H 'X-Real-IP: 198.51.100.8' -d '{"name": "Bravo", "ip_address": "198.51.100.8", "port": "12204"}')
SID2=$(jq -r .server_id <<<"$reg" 2>/dev/null)
check "a second game server registered from 198.51.100.8" test -n "$SID2" -a "$SID2" != null
# Anyone can register in open mode: an address counts only once a server there has sent events.
TARGET=$AUTHD_URL/api/v1/auth verify "$(tb "$C47" 9 Frank)" -H 'X-Real-IP: 198.51.100.8'
check_eq "a login from the address of a server that registered but never sent events: 403" \
  "403 false Logins are accepted only from registered game servers" "$ST $(j '"\(.valid) \(.error)"')"
check_eq "...and the code was not used up" "" "$(pg_query "SELECT used_at FROM login_tokens WHERE forum_user_id = 47")"
check_eq "the server sends its first batch" 202 "$(send_events "$(jq -r .token <<<"$reg")")"
# shellcheck disable=SC2016
check "a login from its address then: 200 valid, member 47" retry 10 eval \
  'TARGET=$AUTHD_URL/api/v1/auth verify "$(tb "$C47" 9 Frank)" -H "X-Real-IP: 198.51.100.8"
   [ "$ST $(j .valid)" = "200 true" ]'
check_eq "...as member 47" "200 true 47" "$ST $(j '"\(.valid) \(.forum_user_id)"')"
"$MOHSTATS_BIN_DIR/ingestd" servers revoke "$SID2" >/dev/null || fail "ingestd servers revoke $SID2"
# shellcheck disable=SC2016
check "once that server is revoked: 403 Logins are accepted only from registered game servers" retry 10 eval \
  'TARGET=$AUTHD_URL/api/v1/auth verify "$(tb "$C47" 9 Frank)" -H "X-Real-IP: 198.51.100.8"
   [ "$ST $(j .error)" = "403 Logins are accepted only from registered game servers" ]'

# ---- an expired code -----------------------------------------------------------------------------------------------
forum POST device '{"forum_user_id": 48}'
C48=$(j .user_code)
secret "$C48"
pg_query "UPDATE login_tokens SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
  WHERE forum_user_id = 48" >/dev/null || fail "expiring member 48's code"
failing 127.0.0.1 15
verify "$(tb "$C48" 15 Gina)"
check_eq "an expired code: 401 Token has expired" "401 false Token has expired" "$ST $(j '"\(.valid) \(.error)"')"
forum GET history/48
check_eq "...member 48's history: one failure, token_expired" "1 false:token_expired" "$(j '"\(.count) "')$(j "$hist")"

# ---- the old tracker's calls ---------------------------------------------------------------------------------------
req POST smf-verify "token=$CODE3&guid=5&player_name=Alice&server_id=$SID"
check_eq "smf-verify with the old tracker's form: 200" 200 "$ST"
check_eq "...success true, member_id 42 (a number), member_name Alice" "true number 42 Alice" \
  "$(j '"\(.success) \(.member_id | type) \(.member_id) \(.member_name)"')"
check_eq "...guid echoed as sent (the string \"5\")" '"5"' "$(j '.guid | tojson')"
req POST smf-verify "{\"token\": \"$CODE3\", \"guid\": \"5\", \"player_name\": \"Alice\", \"server_id\": \"$SID\"}" \
  -H 'Content-Type: application/json'
check_eq "smf-verify with a JSON body: 200 success true, member 42" "200 true 42" "$ST $(j '"\(.success) \(.member_id)"')"
req POST smf-verify "{\"token\": \"$CODE3\", \"guid\": 5, \"player_name\": \"Alice\", \"server_id\": \"$SID\"}"
check_eq "smf-verify with guid as a JSON number: 200, guid echoed as sent (the number 5)" "200 5" "$ST $(j '.guid | tojson')"
failing 127.0.0.1 16
req POST smf-verify "token=MOH-ZZZZZZZZZZZZ&guid=16&player_name=Alice&server_id=$SID"
check_eq "smf-verify with an unknown code: 401 success false" "401 false" "$ST $(j .success)"
check_eq "...with a message" string "$(j '.message | type')"
failing 127.0.0.1 6
req POST smf-verify "token=$CODE1&guid=6&player_name=Alice&server_id=$SID"
check_eq "smf-verify with a revoked code: 401 success false" "401 false" "$ST $(j .success)"
links=$(mdb "SELECT id_member, player_guid, player_name, linked_at, verified FROM smf_mohaa_identities ORDER BY id_identity")
req POST smf-logout '{"forum_user_id": 42, "player_guid": "42"}'
check_eq "smf-logout: 200 success true, Logged out" "200 true Logged out" "$ST $(j '"\(.success) \(.message)"')"
check_eq "...the identity rows are unchanged" "$links" \
  "$(mdb "SELECT id_member, player_guid, player_name, linked_at, verified FROM smf_mohaa_identities ORDER BY id_identity")"

# ---- malformed and unknown codes -----------------------------------------------------------------------------------
failing 127.0.0.1 7
verify "{\"player_guid\": \"7\", \"player_name\": \"Alice\", \"server_id\": \"$SID\"}"
check_eq "verify without a token: 400 token is required" "400 false token is required" "$ST $(j '"\(.valid) \(.error)"')"
failing 127.0.0.1 17
verify "$(tb MOH-ZZZZZZZZZZZZ 17 Alice)"
check_eq "verify with an unknown code: 401 Invalid token" "401 false Invalid token" "$ST $(j '"\(.valid) \(.error)"')"
failing 127.0.0.1 7
req POST smf-verify "guid=7&player_name=Alice&server_id=$SID"
check_eq "smf-verify without a token: 400 success false" "400 false" "$ST $(j .success)"

# ---- codes stored before schema 0004 (a bare SHA-256) are rewritten as MACs by a starting authd ----------------------
# Mona's row as 0003 stored it (the SHA-256 of her code); Nils's as a row made under an earlier AUTHD_TOKEN_KEY (the
# SHA-256 of a code this key does not derive). The authd started below (the first of the next section) rewrites both.
forum POST device '{"forum_user_id": 54}'
C54=$(j .user_code)
secret "$C54"
forum POST device '{"forum_user_id": 55}'
C55=$(j .user_code)
secret "$C55"
pg_query "UPDATE login_tokens SET token_hash = '$(sha "$C54")', hash_scheme = 'sha256' WHERE forum_user_id = 54;
  UPDATE login_tokens SET token_hash = '$(sha MOH-0LD0KEY0C0DE)', hash_scheme = 'sha256' WHERE forum_user_id = 55" \
  >/dev/null || fail "storing members 54 and 55's codes as before 0004"
forum POST device '{"forum_user_id": 54}'
check_eq "a code stored as before 0004, before any rewrite: the forum is still shown it (200, same code, is_new false)" \
  "200 $C54 false" "$ST $(j '"\(.user_code) \(.is_new)"')"

# ---- settings: the forum secret empty (503), authd keygen's secret, AUTH_VERIFY_FROM=any -----------------------------
# Two more authd processes on the same databases, started here with other settings.
port=$(free_port)
env -u FORUM_API_TOKEN FORUM_API_TOKEN_SHA256= AUTHD_URL="http://127.0.0.1:$port" "$MOHSTATS_BIN_DIR/authd" \
  >"$STACK_DIR/logs/authd-noforum.log" 2>&1 &
NOFORUM=$!
retry 10 eval "curl -s -o /dev/null http://127.0.0.1:$port/health"
TARGET=http://127.0.0.1:$port/api/v1/auth forum POST device '{"forum_user_id": 42}'
check_eq "an authd without FORUM_API_TOKEN_SHA256: forum calls answer 503" 503 "$ST"
check "a starting authd rewrites the codes stored before 0004: its /ready says 200 once done" \
  retry 10 eval "[ \"\$(http_status http://127.0.0.1:$port/ready)\" = 200 ]"
check_eq "...both rows now hold the MAC of the code the key derives for them" \
  "hmac-sha256 $(mac "$C54") hmac-sha256 $(mac "$C55")" \
  "$(pg_query "SELECT string_agg(hash_scheme || ' ' || token_hash, ' ' ORDER BY forum_user_id) FROM login_tokens
               WHERE forum_user_id IN (54, 55)")"
check "...it says so in its log, and that one had been made under an earlier key" grep -q \
  "rewrote 2 stored login codes as MACs.*1 of them had been made under an earlier AUTHD_TOKEN_KEY" \
  <(tr '\n' ' ' <"$STACK_DIR/logs/authd-noforum.log")
vfrom 127.0.0.1 "$C54" 9 Mona
check_eq "...Mona's code, stored before 0004, still logs in: 200 valid, member 54" "200 true 54" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"
forum POST device '{"forum_user_id": 55}'
check_eq "...Nils is shown the code the current key derives (200, is_new false), and it logs in" \
  "200 $C55 false 200 true 55" "$ST $(j '"\(.user_code) \(.is_new)"') $(vfrom 127.0.0.1 "$C55" 10 Nils
  echo "$ST $(j '"\(.valid) \(.forum_user_id)"')")"
failing 127.0.0.1 11
vfrom 127.0.0.1 MOH-0LD0KEY0C0DE 11 Nils
check_eq "...while the code of the earlier key does not: 401 Invalid token" "401 Invalid token" "$ST $(j .error)"
kill "$NOFORUM" 2>/dev/null
wait "$NOFORUM" 2>/dev/null

kg=$("$MOHSTATS_BIN_DIR/authd" keygen)
kg_key=$(sed -n 's/^AUTHD_TOKEN_KEY=//p' <<<"$kg")
kg_hash=$(sed -n 's/^FORUM_API_TOKEN_SHA256=//p' <<<"$kg")
kg_secret=""
read -r -a words <<<"$(tr '\n' ' ' <<<"$kg")"
for w in "${words[@]}"; do
  if [ "$(printf '%s' "$w" | sha256sum | cut -c1-64)" = "$kg_hash" ]; then kg_secret=$w; fi
done
SECRETS+=("$kg_key" "$kg_secret")
check "authd keygen: AUTHD_TOKEN_KEY is 64 hex digits" grep -qE '^[0-9a-f]{64}$' <<<"$kg_key"
check "...and it prints a forum secret whose SHA-256 is the FORUM_API_TOKEN_SHA256 it prints" test -n "$kg_secret"
forum POST device '{"forum_user_id": 52}'
C52=$(j .user_code)
secret "$C52"
port=$(free_port)
env -u FORUM_API_TOKEN FORUM_API_TOKEN_SHA256="$kg_hash" AUTHD_TOKEN_KEY="$kg_key" AUTH_VERIFY_FROM=any \
  AUTHD_URL="http://127.0.0.1:$port" "$MOHSTATS_BIN_DIR/authd" >"$STACK_DIR/logs/authd-keygen.log" 2>&1 &
KEYGEN=$!
retry 10 eval "curl -s -o /dev/null http://127.0.0.1:$port/health"
TARGET=http://127.0.0.1:$port/api/v1/auth req GET trusted-ips/42 "" -H "X-Server-Token: $kg_secret"
check_eq "an authd with keygen's hash: keygen's secret is accepted" "200 42" "$ST $(j .forum_user_id)"
TARGET=http://127.0.0.1:$port/api/v1/auth req GET trusted-ips/42 "" -H "X-Server-Token: $FT"
check_eq "...the old secret is not: 401 Invalid forum token" "401 Invalid forum token" "$ST $(j .error)"
# That authd also has keygen's AUTHD_TOKEN_KEY (docs/configuration.md: codes are stored as MACs under the key, so a
# code made with the old key no longer logs in; the forum is shown a new one when it next asks, and the old one is
# revoked).
TARGET=http://127.0.0.1:$port/api/v1/auth verify "$(tb "$C52" 5 Karl)" -H 'X-Real-IP: 198.51.100.77'
check_eq "a new AUTHD_TOKEN_KEY: a code made under the old key no longer logs in (401 Invalid token)" \
  "401 Invalid token" "$ST $(j .error)"
TARGET=http://127.0.0.1:$port/api/v1/auth req POST device '{"forum_user_id": 52}' -H "X-Server-Token: $kg_secret"
C52B=$(j .user_code)
secret "$C52B"
check_eq "...the forum asking for member 52's code gets a new one" "200 true" \
  "$ST $([[ $C52B =~ $CROCKFORD && $C52B != "$C52" ]] && echo true || echo "false ($C52B)")"
failing 127.0.0.1 8
vfrom 127.0.0.1 "$C52" 8 Karl
check_eq "...and the old one is revoked (seen by the stack's authd, which has the old key)" \
  "401 Token has been revoked" "$ST $(j .error)"
TARGET=http://127.0.0.1:$port/api/v1/auth verify "$(tb "$C52B" 5 Karl)" -H 'X-Real-IP: 198.51.100.77'
check_eq "AUTH_VERIFY_FROM=any: the new code from an address without a game server (198.51.100.77): 200 valid" \
  "200 true 52" "$ST $(j '"\(.valid) \(.forum_user_id)"')"
kill "$KEYGEN" 2>/dev/null
wait "$KEYGEN" 2>/dev/null

# ---- failed logins are limited per player (5 a minute) and per game server (30 a minute), then 429 ----------------
forum POST claim/init '{"forum_user_id": 49}'
C49=$(j .code)
secret "$C49"
check "claim/init for a member without a code gives one" grep -qE "$CROCKFORD" <<<"$C49"
forum POST device '{"forum_user_id": 49}'
check_eq "...the one device then shows, is_new false" "200 $C49 false" "$ST $(j '"\(.user_code) \(.is_new)"')"
forum POST device '{"forum_user_id": 56}'
C56=$(j .user_code)
secret "$C56"
reg=$(curl -s --max-time 10 -X POST "$INGESTD_URL/api/v1/servers/register" -H 'Content-Type: application/json' \
  -H 'X-Real-IP: 198.51.100.9' -d '{"name": "Charlie", "ip_address": "198.51.100.9", "port": "12205"}')
check "a third game server registered from 198.51.100.9" test -n "$(jq -r '.server_id // empty' <<<"$reg" 2>/dev/null)"
check_eq "...and sent its first batch" 202 "$(send_events "$(jq -r .token <<<"$reg")")"

# One player (slot 12 of the server at 127.0.0.1, a slot no other check used) mistypes again and again.
codes=""
for i in $(seq 1 8); do
  verify "$(tb "MOH-ZZZZZZZZZZ$((i + 10))" 12 Alice)"
  codes+="${codes:+ }$ST"
done
check_eq "8 logins with wrong codes from one player: 5 times 401, then 429" "401 401 401 401 401 429 429 429" "$codes"
check_eq "...the 429 says which limit" "Too many failed logins for this player; wait a minute" "$(j .error)"
verify "$(tb "$CODE3" 12 Alice)"
check_eq "...then even the right code from that player: 429" 429 "$ST"
vfrom 127.0.0.1 "$C56" 13 Olga
check_eq "...while another player on the same server logs in with her code (200 valid, member 56)" "200 true 56" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"
failing 127.0.0.1 14
verify "$(tb MOH-ZZZZZZZZZZZZ 14 Alice)"
check_eq "...and another player's own mistake is a 401, not a 429" "401 Invalid token" "$ST $(j .error)"

# The limits also hold for wrong logins sent all at once (directly to authd): each takes its share of both
# allowances before its code is looked up, so they cannot all pass the check before any failure is counted. The
# allowances refill (5 a minute: one every 12 s; 30 a minute: one every 2 s): a burst slowed down by a loaded
# machine may earn one or two more.
# burst FROM GUID...: one wrong login per GUID, all at once, from FROM; prints the statuses, one a line.
burst() {
  local from=$1 i=0 g
  shift
  for g in "$@"; do
    i=$((i + 1))
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 -X POST "$AUTHD_URL/api/v1/auth/verify" \
      -H "X-Real-IP: $from" --data-binary "$(tb "MOH-ZZZZZZZZZ$((i + 100))" "$g" Alice)" &
  done
  wait
}
burst_start=$(date +%s)
# shellcheck disable=SC2046
burst 198.51.100.9 $(for i in $(seq 1 50); do echo 7; done) >"$STACK_DIR/parallel.txt"
wrong=$(grep -c '^40[13]$' "$STACK_DIR/parallel.txt")
limited=$(grep -c '^429$' "$STACK_DIR/parallel.txt")
allowed=$((5 + ($(date +%s) - burst_start + 1) / 12))
echo "# 50 wrong logins at once from one player: $wrong refused as wrong, $limited with 429 (at most $allowed may be wrong)"
check "50 wrong logins at once from one player: 5 refused as wrong (no more than the refill allows), the rest 429" \
  test "$wrong" -ge 5 -a "$wrong" -le "$allowed" -a $((wrong + limited)) -eq 50
TARGET=$AUTHD_URL/api/v1/auth verify "$(tb "$C49" 9 Hank)" -H 'X-Real-IP: 198.51.100.9'
check_eq "...while another player on that server logs in (200 valid, member 49)" "200 true 49" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"
burst_start=$(date +%s)
# shellcheck disable=SC2046
burst 198.51.100.123 $(seq 1 50) >"$STACK_DIR/parallel.txt"
wrong=$(grep -c '^40[13]$' "$STACK_DIR/parallel.txt")
limited=$(grep -c '^429$' "$STACK_DIR/parallel.txt")
allowed=$((30 + ($(date +%s) - burst_start + 1) / 2))
echo "# 50 wrong logins at once, 50 GUIDs, one server: $wrong refused as wrong, $limited with 429 (at most $allowed may be wrong)"
check "50 wrong logins at once, each naming another GUID (a hostile server): 30 refused as wrong (no more than the refill allows), the rest 429" \
  test "$wrong" -ge 30 -a "$wrong" -le "$allowed" -a $((wrong + limited)) -eq 50
TARGET=$AUTHD_URL/api/v1/auth verify "$(tb MOH-ZZZZZZZZZZZZ 99 Alice)" -H 'X-Real-IP: 198.51.100.123'
check_eq "...then that server is cut off whatever GUID it names" \
  "429 Too many failed logins from this game server; wait a minute" "$ST $(j .error)"
TARGET=$AUTHD_URL/api/v1/auth verify "$(tb "$C49" 9 Hank)" -H 'X-Real-IP: 198.51.100.9'
check_eq "...while another server's players are not limited (200 valid, member 49)" "200 true 49" \
  "$ST $(j '"\(.valid) \(.forum_user_id)"')"

# IPv6 addresses are limited by /64: a host holds the whole /64, and a fresh address per guess must not bring a
# fresh allowance. 35 wrong logins, one after another, each from another address of 2001:db8:5:5::/64 and for
# another GUID.
codes=""
for i in $(seq 1 35); do
  codes+=" $(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST "$AUTHD_URL/api/v1/auth/verify" \
    -H "X-Real-IP: 2001:db8:5:5::$i" --data-binary "$(tb "MOH-YYYYYYYYYY$((i + 10))" "$i" Alice)")"
done
echo "# 35 wrong logins from 35 addresses of one /64:$codes"
check "35 wrong logins from 35 addresses of one IPv6 /64: cut off with 429 like one server" grep -q 429 <<<"$codes"

# Wrong forum secrets are limited per address too (directly to authd, from 198.51.100.99).
codes=""
for i in $(seq 1 40); do
  TARGET=$AUTHD_URL/api/v1/auth req GET trusted-ips/42 "" -H "X-Server-Token: wrong-$i" -H 'X-Real-IP: 198.51.100.99'
  codes+=" $ST"
done
check "40 wrong forum secrets from one address: cut off with 429" grep -q 429 <<<"$codes"
TARGET=$AUTHD_URL/api/v1/auth req GET trusted-ips/42 "" -H "X-Server-Token: $FT" -H 'X-Real-IP: 198.51.100.99'
check_eq "...while the right secret from that same address still passes (no lock-out of the forum)" 200 "$ST"
forum GET trusted-ips/42
check_eq "...while the forum at another address is not affected" 200 "$ST"

# ---- a member removed from the forum ------------------------------------------------------------------------------
# Liam gets a code, then is removed from the forum before he uses it: the code was right, but nobody is left to log
# in as, and nothing may be linked to a member id that no longer exists.
forum POST device '{"forum_user_id": 53}'
CODE53=$(j .user_code)
secret "$CODE53"
mdb_query "DELETE FROM smf_members WHERE id_member = 53"
register 127.0.0.9 Golf 12209 # an address with its failed-login allowance whole: the login takes its share too
vfrom 127.0.0.9 "$CODE53" 7 Liam
check_eq "a member removed from the forum after getting a code: 403 This forum account no longer exists" \
  "403 false This forum account no longer exists" "$ST $(j '"\(.valid) \(.error)"')"
check_eq "...and nothing is linked to that member id" 0 \
  "$(mdb_query "SELECT COUNT(*) FROM smf_mohaa_identities WHERE id_member = 53")"
check_eq "...the login is recorded as failed (member_deleted), not as the first login it was decided as" \
  "f member_deleted" "$(pg_query "SELECT success, failure_reason FROM login_token_history WHERE forum_user_id = 53
                                  ORDER BY id DESC LIMIT 1" | tr '|' ' ')"
check_eq "...the member's codes are revoked and no address of theirs stays trusted" "0 0" \
  "$(pg_query "SELECT (SELECT COUNT(*) FROM login_tokens WHERE forum_user_id = 53 AND is_active),
                      (SELECT COUNT(*) FROM trusted_ips WHERE forum_user_id = 53 AND is_active)" | tr '|' ' ')"
vfrom 127.0.0.9 "$CODE53" 7 Liam
check_eq "...so the same code again ends in PostgreSQL: 401 Token has been revoked" "401 Token has been revoked" \
  "$ST $(j .error)"

# ---- codes stored only as MACs --------------------------------------------------------------------------------------
bare=""
for s in "${SECRETS[@]}"; do
  if [[ $s =~ $CROCKFORD ]]; then bare+="${bare:+,}'$(sha "$s")'"; fi
done
check_eq "no code authd gave out is stored as its bare SHA-256, and every row holds a MAC (hmac-sha256)" "0 0" \
  "$(pg_query "SELECT (SELECT count(*) FROM login_tokens WHERE token_hash IN ($bare)),
                      (SELECT count(*) FROM login_tokens WHERE hash_scheme <> 'hmac-sha256')" | tr '|' ' ')"

# ---- secrets never logged ------------------------------------------------------------------------------------------
: >"$STACK_DIR/secrets.txt"
for s in "${SECRETS[@]}"; do
  [ -n "$s" ] || continue
  printf '%s\n' "$s" >>"$STACK_DIR/secrets.txt"
  [[ $s == MOH-* ]] && printf '%s\n' "${s#MOH-}" >>"$STACK_DIR/secrets.txt"
done
check_eq "no login code (as given or as typed), forum secret or AUTHD_TOKEN_KEY in any log of the stack" "" \
  "$(grep -rilF -f "$STACK_DIR/secrets.txt" "$STACK_DIR/logs" | tr '\n' ' ')"

finish
