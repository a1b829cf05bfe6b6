#!/usr/bin/env bash
# ingestd against real servers: registration rules, every error status, the docs/tracker-wire.md §4 examples and
# quirks replayed byte for byte and checked column by column in ClickHouse, enrichment and live state.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
DATA=$(dirname "$0")/data

# Revocations must show within the test's patience: ingestd trusts a token lookup this long.
export SERVER_TOKEN_CACHE_MS=1000
# Countries from the tests' own GeoIP databases: documentation networks with known countries (tests/geoip/build.sh).
stack_dir
bash "$(dirname "$0")/../geoip/build.sh" "$STACK_DIR/geoip" || exit 1
export GEOIP_DB=$STACK_DIR/geoip/GeoIP.dat GEOIP6_DB=$STACK_DIR/geoip/GeoIPv6.dat
stack_up || exit 1

# post_events TOKEN BODY_FILE [curl args...]: POST a body as the tracker does (to $POST_URL, default the front
# door); prints "STATUS BODY".
post_events() {
  local token=$1 file=$2
  shift 2
  curl -s --max-time 10 -o /tmp/ingest_resp.$$ -w '%{http_code}' -X POST "${POST_URL:-$MOHSTATS_URL}/api/v1/ingest/events" \
    -H 'Content-Type: application/json' ${token:+-H "X-Server-Token: $token"} --data-binary @"$file" "$@"
  printf ' %s' "$(cat /tmp/ingest_resp.$$)"
  rm -f /tmp/ingest_resp.$$
}

# register URL BODY [curl args...]: POST a registration; prints "STATUS BODY".
register() {
  local url=$1 body=$2
  shift 2
  curl -s --max-time 10 -o /tmp/reg_resp.$$ -w '%{http_code}' -X POST "$url/api/v1/servers/register" \
    -H 'Content-Type: application/json' -d "$body" "$@"
  printf ' %s' "$(cat /tmp/reg_resp.$$)"
  rm -f /tmp/reg_resp.$$
}

# ch_wait SQL EXPECTED: wait (up to 20 s) until the query prints EXPECTED.
ch_wait() {
  retry 20 eval "[ \"\$(ch_query \"$1\")\" = \"$2\" ]"
}

# --- registration ----------------------------------------------------------------------------------------------

out=$(register "$MOHSTATS_URL" '{"name": "Test Server", "ip_address": "localhost", "port": "12203"}')
check_eq "register answers exactly 200" 200 "${out%% *}"
reg=${out#* }
check_eq "register answers exactly {server_id, token}" '["server_id","token"]' "$(jq -c 'keys' <<<"$reg")"
SERVER=$(jq -r .server_id <<<"$reg")
TOKEN=$(jq -r .token <<<"$reg")
check "server_id is a UUID (survives YAML unchanged)" grep -qE '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$SERVER"
check "the token starts with letters (YAML reads it as a string) and is long" grep -qE '^mst_[0-9a-z]{50,}$' <<<"$TOKEN"
check_eq "only the token's hash is stored" "1 0" "$(pg_query "SELECT count(*) FROM servers WHERE token_hash = encode(sha256('$TOKEN'::bytea), 'hex')") $(
  pg_query "SELECT count(*) FROM servers WHERE token_hash = '$TOKEN' OR token_prefix = '$TOKEN'")"

out=$(register "$MOHSTATS_URL" '{"name": "Test Server", "ip_address": "127.0.0.1", "port": 12203}')
check_eq "re-registering from the same address and port (port as a number) keeps the server id" "200 $SERVER" \
  "${out%% *} $(jq -r .server_id <<<"${out#* }")"
OLD_TOKEN=$TOKEN
TOKEN=$(jq -r .token <<<"${out#* }")
check "re-registering issues a new token" test "$TOKEN" != "$OLD_TOKEN"
check_eq "the replaced token is refused with 401" "401 {\"error\":\"Invalid server token\"}" "$(post_events "$OLD_TOKEN" "$DATA/wire_4_3_match_end.json")"

# Another address claiming the same ip:port gets its own identity; the real server keeps working. ingestd trusts
# X-Real-IP only from the front door's address, which a direct call from 127.0.0.1 also is, so this simulates
# a registration arriving through nginx from 198.51.100.7.
out=$(register "$INGESTD_URL" '{"name": "Impostor", "ip_address": "127.0.0.1", "port": "12203"}' -H 'X-Real-IP: 198.51.100.7')
check_eq "a registration from another address gets 200" 200 "${out%% *}"
check "...but another server id: nobody elsewhere takes over an identity" test "$(jq -r .server_id <<<"${out#* }")" != "$SERVER"
check_eq "the real server's token still works after that" 202 "$(post_events "$TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"
out=$(register "$MOHSTATS_URL" '{"name": "Spoofer", "ip_address": "127.0.0.1", "port": "12203"}' -H 'X-Real-IP: 198.51.100.7')
check_eq "X-Real-IP sent by a client through the front door is ignored" "$SERVER" "$(jq -r .server_id <<<"${out#* }")"
TOKEN=$(jq -r .token <<<"${out#* }")
check_eq "a malformed registration is 400" 400 "$(register "$MOHSTATS_URL" '{"name": "x", "port": "http"}' | cut -d' ' -f1)"
check_eq "a registration without a port is 400" 400 "$(register "$MOHSTATS_URL" '{"name": "x"}' | cut -d' ' -f1)"

# Revocation with the operator CLI: the token stops working and the server cannot register again.
out=$(register "$MOHSTATS_URL" '{"name": "Doomed", "ip_address": "127.0.0.1", "port": 27960}')
DOOMED_ID=$(jq -r .server_id <<<"${out#* }")
DOOMED_TOKEN=$(jq -r .token <<<"${out#* }")
check "ingestd servers list shows it" eval "'$MOHSTATS_BIN_DIR/ingestd' servers list | grep -q '$DOOMED_ID'"
check "ingestd servers revoke" "$MOHSTATS_BIN_DIR/ingestd" servers revoke "$DOOMED_ID"
check "a revoked server's token is refused (401)" retry 5 eval \
  "[ \"\$(post_events '$DOOMED_TOKEN' '$DATA/wire_4_3_match_end.json' | cut -d' ' -f1)\" = 401 ]"
check_eq "a revoked server cannot register again (403)" 403 "$(register "$MOHSTATS_URL" '{"name": "Doomed", "ip_address": "127.0.0.1", "port": 27960}' | cut -d' ' -f1)"
out=$("$MOHSTATS_BIN_DIR/ingestd" servers create --name "Operator Made" --ip 203.0.113.9 --port 12300)
check "ingestd servers create prints an id and a token" grep -qE '^token: mst_' <<<"$out"
CREATED_TOKEN=$(sed -n 's/^token: //p' <<<"$out")
check_eq "a created server's token works" 202 "$(post_events "$CREATED_TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"

# --- the stock tracker's registration sequence (docs/tracker-wire.md §3.1), open mode, pinned servers -------------
# Each game host is an address of its own (X-Real-IP straight to ingestd, which believes it from 127.0.0.1): its
# registrations have their own rate-limit allowance, as they would have through the front door.
# host_register ADDRESS PORT: what check_registration sends (no token); prints "STATUS BODY".
host_register() {
  register "$INGESTD_URL" "{\"name\": \"Host $1\", \"ip_address\": \"$1\", \"port\": \"$2\"}" -H "X-Real-IP: $1"
}
# flush TOKEN: what flush_queue sends every 2 s; prints the status.
flush() { POST_URL=$INGESTD_URL post_events "$1" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1; }
rotations() { curl -s "$INGESTD_URL/metrics" | awk '$1 == "mohstats_registration_token_rotations_total" { print $2 }'; }
RUN_TOKENS=()

# Open, unpinned: registers on every process start while its config sets no token, and again after a 401.
out=$(host_register 192.0.2.10 12203)
OPEN_ID=$(jq -r .server_id <<<"${out#* }")
OPEN_T1=$(jq -r .token <<<"${out#* }")
check_eq "open: first start, no token in the config: 200" 200 "${out%% *}"
check_eq "open: its batches are accepted" 202 "$(flush "$OPEN_T1")"
rot0=$(rotations)
out=$(host_register 192.0.2.10 12203) # restart: the cvars are gone, registers again without a token
OPEN_T2=$(jq -r .token <<<"${out#* }")
check_eq "open: a restart that lost its cvars registers again: 200, the same server id" "200 $OPEN_ID" \
  "${out%% *} $(jq -r .server_id <<<"${out#* }")"
check "open: ...with a new token" test "$OPEN_T2" != "$OPEN_T1"
check_eq "open: the rotation is counted in /metrics" "$((rot0 + 1))" "$(rotations)"
check "open: ...and logged (server id, address, port)" retry 5 grep -qF \
  "server $OPEN_ID re-registered from 192.0.2.10 port 12203" "$STACK_DIR/logs/ingestd.log"
check_eq "open: the previous token gets 401" 401 "$(flush "$OPEN_T1")"
out=$(host_register 192.0.2.10 12203) # the tracker's answer to a 401: clear the cvars, register again
OPEN_T3=$(jq -r .token <<<"${out#* }")
check_eq "open: after the 401 it registers again: the same server id, and its batches are accepted" "$OPEN_ID 202" \
  "$(jq -r .server_id <<<"${out#* }") $(flush "$OPEN_T3")"
check_eq "open: a first registration is not counted as a rotation" "$((rot0 + 2))" \
  "$(host_register 192.0.2.10 12299 >/dev/null; rotations)"
RUN_TOKENS+=("$OPEN_T1" "$OPEN_T2" "$OPEN_T3")

# Pinned: the token lives in the server's config; nobody can register the identity again, not even from its own
# address and port (a neighbour on shared hosting sends from that address too).
out=$(host_register 192.0.2.11 12203)
PIN_ID=$(jq -r .server_id <<<"${out#* }")
PIN_T=$(jq -r .token <<<"${out#* }")
check "ingestd servers pin" "$MOHSTATS_BIN_DIR/ingestd" servers pin "$PIN_ID"
check "ingestd servers list shows it pinned" eval "'$MOHSTATS_BIN_DIR/ingestd' servers list | grep '$PIN_ID' | grep -qE 'yes +yes'"
check_eq "pinned: a restart with the token in its config sends without registering: 202" 202 "$(flush "$PIN_T")"
rot0=$(rotations)
out=$(host_register 192.0.2.11 12203) # a restart that lost its cvars, or the neighbour
check_eq "pinned: registering it again (a server that lost its cvars, or a neighbour): 403" 403 "${out%% *}"
check "pinned: ...saying it is pinned and where the token goes" grep -qF "pinned by the operator" <<<"$out"
check "pinned: ...naming opm_server_token" grep -qF "opm_server_token" <<<"$out"
check_eq "pinned: ...its token keeps working, and nothing was rotated" "202 $rot0" "$(flush "$PIN_T") $(rotations)"
check_eq "a created server is pinned: registering from its address and port is 403, its token keeps working" \
  "403 202" "$(host_register 203.0.113.9 12300 | cut -d' ' -f1) $(flush "$CREATED_TOKEN")"
check "ingestd servers unpin" "$MOHSTATS_BIN_DIR/ingestd" servers unpin "$PIN_ID"
out=$(host_register 192.0.2.11 12203)
PIN_T2=$(jq -r .token <<<"${out#* }")
check_eq "unpinned again: it registers as before (the same server id, a new token that works)" "200 $PIN_ID 202" \
  "${out%% *} $(jq -r .server_id <<<"${out#* }") $(flush "$PIN_T2")"
RUN_TOKENS+=("$PIN_T" "$PIN_T2")
check_eq "pin of an unknown server fails" 1 "$("$MOHSTATS_BIN_DIR/ingestd" servers pin no-such-server 2>/dev/null; echo $?)"

# Only servers that sent an accepted batch count for authd's AUTH_VERIFY_FROM=registered (test_authd checks authd).
check "first_batch_at is set when a server's first batch is accepted" retry 5 eval \
  "[ -n \"\$(pg_query \"SELECT first_batch_at FROM servers WHERE id = '$OPEN_ID'\")\" ]"
first=$(pg_query "SELECT first_batch_at FROM servers WHERE id = '$OPEN_ID'")
flush "$OPEN_T3" >/dev/null
sleep 0.2
check_eq "...and never moved by later batches" "$first" "$(pg_query "SELECT first_batch_at FROM servers WHERE id = '$OPEN_ID'")"
check_eq "a server that only registered has none" "" \
  "$(pg_query "SELECT first_batch_at FROM servers WHERE ip_address = '192.0.2.10' AND port = 12299")"

# Registrations are rate limited per address.
codes=""
for i in $(seq 1 12); do codes+=" $(register "$INGESTD_URL" "{\"name\": \"r$i\", \"port\": $((30000 + i))}" -H 'X-Real-IP: 192.0.2.55' | cut -d' ' -f1)"; done
check "a flood of registrations from one address gets 429" grep -q 429 <<<"$codes"

# --- error statuses ----------------------------------------------------------------------------------------------

check_eq "no token: 401 Missing server token" '401 {"error":"Missing server token"}' "$(post_events "" "$DATA/wire_4_1_kill.json")"
check_eq "unknown token: 401 Invalid server token" '401 {"error":"Invalid server token"}' "$(post_events "mst_nope" "$DATA/wire_4_1_kill.json")"
printf '[{"type": "player_kill", "damage" "100.000"}]' >/tmp/bad.$$
out=$(post_events "$TOKEN" /tmp/bad.$$)
check_eq "malformed JSON: 400" 400 "${out%% *}"
check "...with a message that says where" grep -qF "expected ':' after a key, found '\\\"' at byte 34 (line 1, column 35) in event 1" <<<"$out"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >/tmp/big.$$
check_eq "a body over 1 MiB: 413" 413 "$(post_events "$TOKEN" /tmp/big.$$ | cut -d' ' -f1)"
check_eq "...also when announced with Expect: 100-continue" 413 "$(post_events "$TOKEN" /tmp/big.$$ -H 'Expect: 100-continue' | cut -d' ' -f1)"
rm -f /tmp/bad.$$ /tmp/big.$$
# Amplification (issue 17): a 1 MiB body of "a=1" lines was 262,140 events, 60 MB written to Redis. Events per
# batch (INGEST_MAX_EVENTS, 500) and bytes per stored event (INGEST_MAX_EVENT_BYTES, 16384) are capped: 413 with
# the limit named, decided at the 501st event (parsing stops there), and nothing of the batch is stored.
added() { redis_cmd XINFO STREAM "${INGEST_STREAM:-mohstats:events}" | awk 'prev == "entries-added" { print; exit } { prev = $0 }'; }
added0=$(added)
yes 'a=1' | head -c $((1024 * 1024 - 4)) >/tmp/amp.$$
out=$(post_events "$TOKEN" /tmp/amp.$$)
check_eq "1 MiB of 'a=1' lines (262,143 events): 413" 413 "${out%% *}"
check "...saying which limit" grep -qF "more than 500 events (INGEST_MAX_EVENTS)" <<<"$out"
{ printf '['; for i in $(seq 1 501); do printf '%s{"type":"heartbeat","session_id":"s%d"}' "$([ "$i" = 1 ] || echo ,)" "$i"; done; printf ']'; } >/tmp/amp.$$
check_eq "a JSON array of 501 events: 413" 413 "$(post_events "$TOKEN" /tmp/amp.$$ | cut -d' ' -f1)"
{ printf '['; for i in $(seq 1 500); do printf '%s{"type":"heartbeat","session_id":"s%d"}' "$([ "$i" = 1 ] || echo ,)" "$i"; done; printf ']'; } >/tmp/amp.$$
check_eq "...of 500 events: 202 processed 500" '202 {"status":"accepted","processed":500}' "$(post_events "$TOKEN" /tmp/amp.$$)"
printf '[{"type":"chat","session_id":"s1","message":"%s"}]' "$(head -c 20000 /dev/zero | tr '\0' x)" >/tmp/amp.$$
out=$(post_events "$TOKEN" /tmp/amp.$$)
check_eq "an event of 20 kB: 413" 413 "${out%% *}"
check "...saying which limit" grep -qF "Event 1 too large" <<<"$out"
check_eq "only the batch of 500 reached the stream" 1 $(($(added) - added0))
rm -f /tmp/amp.$$
# Servers sending maximal bodies back to back (issue 17): each body is within the limits above, but twenty such
# servers put 30-40 MB/s of rows into Redis, ClickHouse and achievd, and every other server waited a second for its
# 202. Budgets of bytes, 429 with Retry-After beyond them, before the body is parsed or stored: per server
# (INGEST_SERVER_BYTES_PER_S 256 KiB/s, of which INGEST_SERVER_BURST_BYTES 2 MiB at once), and for bodies larger
# than the stock tracker sends (INGEST_LARGE_BODY_BYTES 64 KiB) among all servers (INGEST_LARGE_BYTES_PER_S 1 MiB/s).
# chat_body FILE EVENTS: a body of EVENTS chat events of ~1.9 KB.
chat_body() {
  { printf '['; for i in $(seq 1 "$2"); do printf '%s{"type":"chat","session_id":"f1","message":"%s"}' "$([ "$i" = 1 ] || echo ,)" "$(printf "%01900d" "$i")"; done; printf ']'; } >"$1"
}
# post_until_429 TOKEN FILE MAX: post FILE up to MAX times, stopping at the first 429; prints the statuses. Its
# answer and headers are left in /tmp/budget.$$ and /tmp/budget_h.$$.
post_until_429() {
  local codes="" code i
  for i in $(seq 1 "$3"); do
    code=$(curl -s -o /tmp/budget.$$ -D /tmp/budget_h.$$ -w '%{http_code}' -X POST "$MOHSTATS_URL/api/v1/ingest/events" \
      -H "X-Server-Token: $1" --data-binary @"$2")
    codes+=" $code"
    if [ "$code" = 429 ]; then break; fi
  done
  echo "$codes"
}
retry_after() { awk 'tolower($1) == "retry-after:" { print $2 + 0 }' /tmp/budget_h.$$; }
# Made by the operator's command: registrations from this address are limited (10 a minute) and the test needs them.
flooder() { "$MOHSTATS_BIN_DIR/ingestd" servers create --name "Flooder $1" --ip 203.0.113.20 --port "$1" | sed -n 's/^token: *//p'; }
FTOKEN=$(flooder 12290)
FTOKEN2=$(flooder 12291)
FTOKEN3=$(flooder 12292)
chat_body /tmp/amp.$$ 500
sleep 1.1 # the 1 MiB of 'a=1' lines above was a large body too
added0=$(added)
codes=$(post_until_429 "$FTOKEN" /tmp/amp.$$ 6)
check_eq "bodies of 1 MB back to back: two accepted (a full 1 MiB budget, then its debt), then 429" " 202 202 429" "$codes"
check "...saying which limit" grep -qF "Large bodies (65536 bytes or more) of all servers over their budget of 1048576 bytes a second (INGEST_LARGE_BYTES_PER_S)" /tmp/budget.$$
check "...with Retry-After: the seconds until the debt is paid (1-2 s at 1 MiB/s)" test "$(retry_after)" -ge 1 -a "$(retry_after)" -le 2
# A server known to be over a budget is refused on its headers: with "Expect: 100-continue" the body is never sent.
out=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' -X POST "$INGESTD_URL/api/v1/ingest/events" -H "X-Server-Token: $FTOKEN" \
  -H 'Expect: 100-continue' --data-binary @/tmp/amp.$$)
check_eq "...decided on the headers: the body is not read (Expect: 100-continue, nothing uploaded)" "429 0" "$out"
check_eq "...from another server too" 429 "$(post_events "$FTOKEN2" /tmp/amp.$$ | cut -d' ' -f1)"
check_eq "...while a normal batch is accepted at once" 202 "$(post_events "$FTOKEN2" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"
chat_body /tmp/amp.$$ 30 # 58 KB: under INGEST_LARGE_BODY_BYTES
t0=$(date +%s%N)
codes=$(post_until_429 "$FTOKEN3" /tmp/amp.$$ 200)
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
accepted=$(grep -o 202 <<<"$codes" | wc -l)
size=$(stat -c %s /tmp/amp.$$)
check "bodies of 58 KB back to back: 429 once past 2 MiB" test "$((accepted * size))" -ge 2097152 -a "${codes##* }" = 429
check "...and not before what 256 KiB/s added in $elapsed_ms ms is spent (one body of debt at most)" \
  test "$(((accepted - 1) * size))" -le $((2097152 + 262144 * elapsed_ms / 1000))
check "...saying which limit" grep -qF "Server over its budget of 262144 bytes a second (INGEST_SERVER_BYTES_PER_S)" /tmp/budget.$$
check "...with Retry-After (at most the 1 s that a body of 58 KB of debt takes, and a bit)" test "$(retry_after)" -ge 1 -a "$(retry_after)" -le 2
check_eq "...while another server's batch is accepted at once" 202 "$(post_events "$FTOKEN2" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"
check_eq "only the accepted bodies (and the two batches) reached the stream" $((2 + accepted + 2)) $(($(added) - added0))
rm -f /tmp/amp.$$ /tmp/budget.$$ /tmp/budget_h.$$
codes=""
for i in $(seq 1 40); do
  codes+=" $(POST_URL=$INGESTD_URL post_events "mst_guess$i" "$DATA/wire_4_3_match_end.json" -H 'X-Real-IP: 192.0.2.77' | cut -d' ' -f1)"
done
check "guessing tokens from one address is cut off with 429" grep -q 429 <<<"$codes"
# 30 invalid tokens then 10 refusals within a second or two: each reason is logged at most once a second, with the
# count of those it did not log, so that a flood of refused requests cannot fill the disk.
lines=$(grep -c "192.0.2.77: 401 Invalid server token" "$STACK_DIR/logs/ingestd.log")
check "...and the 30 refusals logged once a second at most (lines: $lines)" test "$lines" -ge 1 -a "$lines" -le 5
# Two more refusals back to back, from an address not cut off: the second falls after the last line logged even
# when the loop above was slow enough (a loaded machine) that its last refusal began a new second and was logged.
for i in 1 2; do
  POST_URL=$INGESTD_URL post_events "mst_guess_more$i" "$DATA/wire_4_3_match_end.json" -H 'X-Real-IP: 192.0.2.79' >/dev/null
done
sleep 1.1 # the count of the unlogged ones comes with the next line of that reason
POST_URL=$INGESTD_URL post_events "mst_guess_last" "$DATA/wire_4_3_match_end.json" -H 'X-Real-IP: 192.0.2.78' >/dev/null
check "...with the count of the others on the next line" grep -qE "192.0.2.78: 401 Invalid server token \(and [0-9]+ more like it since the last line\)" "$STACK_DIR/logs/ingestd.log"
check_eq "...while other addresses are not affected" 202 "$(post_events "$TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"

# --- bodies of senders that are not a known server -----------------------------------------------------------------

# A request without a token, or with one no registration ever issued (not "mst_" and 53 base32 symbols), is refused
# on its headers: its body (1 MiB here, with a buffer reserved from its Content-Length) is never read. With
# "Expect: 100-continue" curl sends nothing of it unless told to go on.
head -c 1048576 /dev/zero | tr '\0' 'a' >/tmp/unauth.$$
# post_unread [curl args...]: the 1 MiB body to ingestd, from an address of its own; prints "STATUS UPLOADED BODY".
post_unread() {
  curl -s --max-time 10 -o /tmp/unauth_resp.$$ -w '%{http_code} %{size_upload}' -X POST "$INGESTD_URL/api/v1/ingest/events$1" \
    -H 'X-Real-IP: 192.0.2.80' -H 'Expect: 100-continue' --data-binary @/tmp/unauth.$$ "${@:2}"
  printf ' %s' "$(cat /tmp/unauth_resp.$$)"
}
check_eq "no token: 401 on the headers, the body never read" '401 0 {"error":"Missing server token"}' "$(post_unread "")"
check_eq "...nor with a query string that holds no token" '401 0 {"error":"Missing server token"}' "$(post_unread "?a=b")"
check_eq "a malformed token: 401 on the headers" '401 0 {"error":"Invalid server token"}' "$(post_unread "" -H 'X-Server-Token: mst_nope')"
check_eq "...in Authorization: Bearer" '401 0 {"error":"Invalid server token"}' "$(post_unread "" -H 'Authorization: Bearer x')"
check_eq "...in ?server_token=" '401 0 {"error":"Invalid server token"}' "$(post_unread "?server_token=mst_n%6Fpe")"
# A well-formed token in no cache may be a server's: the registry is asked once the body is in. Such bodies share
# INGEST_UNVERIFIED_BODY_BYTES (8 MiB), a quarter of it per address: connections announcing 1 MiB each and sending
# none of it, two from each of four addresses, hold all of it.
UNKNOWN_TOKEN=mst_$(printf 'z%.0s' $(seq 1 53))
for fd in 20 21 22 23 24 25 26 27; do
  eval "exec $fd<>/dev/tcp/127.0.0.1/${INGESTD_URL##*:}"
  printf 'POST /api/v1/ingest/events HTTP/1.1\r\nHost: test\r\nX-Real-IP: 192.0.2.%s\r\nX-Server-Token: %s%s\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n' \
    $((81 + (fd - 20) / 2)) "${UNKNOWN_TOKEN:0:51}" "$fd$fd$fd" >&$fd
  if [ "$fd" = 21 ]; then
    sleep 0.5 # ingestd reads the two heads from 192.0.2.81
    check_eq "a third body from one address while two are held: 503 on the headers (its quarter of the bound)" "503 0" \
      "$(post_unread "" -H "X-Server-Token: $UNKNOWN_TOKEN" -H 'X-Real-IP: 192.0.2.81' | cut -d' ' -f1,2)"
  fi
done
sleep 0.5 # ingestd reads the eight heads
check_eq "a ninth body from a sender not known yet, from a fifth address: 503 on the headers" "503 0" \
  "$(post_unread "" -H "X-Server-Token: $UNKNOWN_TOKEN" -H 'X-Real-IP: 192.0.2.90' | cut -d' ' -f1,2)"
check "...saying which limit" grep -qF "INGEST_UNVERIFIED_BODY_BYTES" /tmp/unauth_resp.$$
check_eq "...while a server seen before is taken (its lookup older than SERVER_TOKEN_CACHE_MS)" 202 "$(post_events "$TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"
answers=""
for fd in 20 21 22 23 24 25 26 27; do
  head -c 1048576 /tmp/unauth.$$ >&$fd
  answers+="$(timeout 10 cat <&$fd | tail -n 1) "
  eval "exec $fd<&-"
done
check_eq "the eight bodies, once sent: 401 each" "$(printf '{"error":"Invalid server token"} %.0s' 1 2 3 4 5 6 7 8)" "$answers"
check_eq "...and their bytes are released: an unknown token is read again (and 401)" '401 1048576 {"error":"Invalid server token"}' \
  "$(post_unread "" -H "X-Server-Token: $UNKNOWN_TOKEN")"
rm -f /tmp/unauth.$$ /tmp/unauth_resp.$$

# --- token sources, connection styles ------------------------------------------------------------------------------

check_eq "Authorization: Bearer" 202 "$(post_events "" "$DATA/wire_4_3_match_end.json" -H "Authorization: Bearer $TOKEN" | cut -d' ' -f1)"
check_eq "?server_token=" 202 "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$DATA/wire_4_3_match_end.json" "$MOHSTATS_URL/api/v1/ingest/events?server_token=$TOKEN")"
# Only under its plain name, which the front door scrubs from nginx's logs: spelled with escapes it is no token.
check_eq "?server%5Ftoken= (the name escaped) is no token: 401, decided on the headers (Expect: 100-continue, nothing uploaded)" \
  "401 0" "$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' -X POST -H 'Expect: 100-continue' --data-binary @"$DATA/wire_4_3_match_end.json" "$INGESTD_URL/api/v1/ingest/events?server%5Ftoken=$TOKEN")"
# nginx logs the request line, query string included, with each failure it logs: a failure of a ?server_token=
# request (here a body over nginx's own 2 MB limit) must not put the token in its error log (checked below with
# every other log).
check_eq "?server_token= with a body over nginx's limit: 413" 413 "$(head -c 3000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @- "$MOHSTATS_URL/api/v1/ingest/events?server_token=$TOKEN")"
check_eq "Expect: 100-continue with a normal body" 202 "$(post_events "$TOKEN" "$DATA/wire_4_1_kill.json" -H 'Expect: 100-continue' | cut -d' ' -f1)"
check_eq "one request per connection (Connection: close), directly to ingestd" 202 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Connection: close' -H "X-Server-Token: $TOKEN" --data-binary @"$DATA/wire_4_3_match_end.json" "$INGESTD_URL/api/v1/ingest/events")"
codes=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' -H "X-Server-Token: $TOKEN" --data-binary @"$DATA/wire_4_3_match_end.json" \
  "$INGESTD_URL/api/v1/ingest/events" "$INGESTD_URL/api/v1/ingest/events" "$INGESTD_URL/api/v1/ingest/events" | tr '\n' ' ')
check_eq "keep-alive: three requests on one connection" "202 1 202 0 202 0 " "$codes"
check_eq "an empty array: 202 processed 0" '202 {"status":"accepted","processed":0}' "$(printf '[]' >/tmp/e.$$ && post_events "$TOKEN" /tmp/e.$$)"
rm -f /tmp/e.$$

# --- the wire examples, byte for byte, column by column ------------------------------------------------------------

# A fresh server so that its rows are exactly the ones below.
out=$(register "$MOHSTATS_URL" '{"name": "Wire", "ip_address": "127.0.0.1", "port": 12204}')
WIRE=$(jq -r .server_id <<<"${out#* }")
WTOKEN=$(jq -r .token <<<"${out#* }")
check_eq "§4.1 kill batch: 202 processed 2" '202 {"status":"accepted","processed":2}' "$(post_events "$WTOKEN" "$DATA/wire_4_1_kill.json")"
live() { redis_cmd HGET live_matches "$1"; }
check "live_matches has the server's state (published within a second)" retry 5 eval "[ \"\$(live '$WIRE' | jq '.players | length')\" = 2 ]"
check_eq "live state: kills and deaths, teams" "unauth_3 american 1 0 42 german 0 1" \
  "$(live "$WIRE" | jq -r '[.players[] | select(.guid == "unauth_3" or .guid == "42")] | sort_by(.guid) | reverse | map("\(.guid) \(.team) \(.kills) \(.deaths)") | join(" ")')"
check_eq "§4.2 chat with CP1252 bytes: 202 processed 1" '202 {"status":"accepted","processed":1}' "$(post_events "$WTOKEN" "$DATA/wire_4_2_chat.json")"
check_eq "§4.3 match end: 202 processed 1" '202 {"status":"accepted","processed":1}' "$(post_events "$WTOKEN" "$DATA/wire_4_3_match_end.json")"
check "all four events reach ClickHouse" ch_wait "SELECT count() FROM raw_events WHERE server_id = '$WIRE'" 4

row() { ch_query "SELECT $1 FROM raw_events WHERE server_id = '$WIRE' AND event_type = '$2' FORMAT TSV"; }
check_eq "kill: type, game time, session" "player_kill	734.25	sess_f88106789e6e168b" "$(row "event_type, game_time, session_id" player_kill)"
check_eq "kill: attacker block" "unauth_3	Pvt. Ryan	american	0	-1523.125	1504.86	384.125	0	87.363	stand" \
  "$(row "actor_guid, actor_name, actor_team, actor_smf_id, actor_x, actor_y, actor_z, actor_pitch, actor_yaw, actor_stance" player_kill)"
check_eq "kill: victim block (logged-in victim: guid = forum id)" "42	Hans	german	42	-901.5	1710	392.125	0	253.74	crouch" \
  "$(row "target_guid, target_name, target_team, target_smf_id, target_x, target_y, target_z, target_pitch, target_yaw, target_stance" player_kill)"
check_eq "kill: weapon, means of death, hit location, damage" "Kar98	bullet	head	100" "$(row "weapon, means_of_death, hitloc, damage" player_kill)"
check_eq "distance: step and running total from the bare numbers" "100.412	1843.27	unauth_3	stand" "$(row "distance, total_distance, actor_guid, actor_stance" distance)"
check_eq "no match_id: match key derived from server + session, same for both events" 1 "$(ch_query "SELECT uniqExact(match_key) FROM raw_events WHERE server_id = '$WIRE' AND session_id = 'sess_f88106789e6e168b'")"
check_eq "chat: name as UTF-8 (CP1252 decoded), message unescaped" "[FR]Jérôme&Co	gg \"ez\" C:\\\\temp 100% \\t<3	crouch	german" \
  "$(row "actor_name, message, actor_stance, actor_team" chat)"
check_eq "chat: is_team (no column of its own) kept in raw" 0 "$(row "visitParamExtractInt(raw, 'is_team')" chat)"
check_eq "match_end: map from the event, team, game type as sent (a bare number)" "obj/obj_team2	allies	4" "$(row "map_name, team, gametype" match_end)"
check_eq "receive time is stamped with ms precision, game time kept apart" 1 "$(row "received_at > now() - 600 AND received_ms < 1000 AND game_time = 1201.35" match_end)"
check_eq "every event has a unique id" 4 "$(ch_query "SELECT uniqExact(event_id) FROM raw_events WHERE server_id = '$WIRE'")"

# raw: the original object, byte for byte (compared as hex; the chat object holds raw 0xE9 0xF4 bytes).
hexof() { od -An -tx1 | tr -d ' \n'; }
body=$(cat "$DATA/wire_4_1_kill.json")
distance_obj=${body#[}
distance_obj=${distance_obj%%\},\{*}\}
kill_obj=\{${body#*\},\{}
kill_obj=${kill_obj%]}
check_eq "raw of the distance event is its object byte for byte" "$(printf '%s' "$distance_obj" | hexof)" "$(row "lower(hex(raw))" distance)"
check_eq "raw of the kill event is its object byte for byte" "$(printf '%s' "$kill_obj" | hexof)" "$(row "lower(hex(raw))" player_kill)"
chat=$(cat "$DATA/wire_4_2_chat.json")
chat=${chat#[}
chat=${chat%]}
check_eq "raw of the chat keeps the CP1252 bytes" "$(printf '%s' "$chat" | hexof)" "$(row "lower(hex(raw))" chat)"

# --- quirks (docs/tracker-wire.md §4.4) ----------------------------------------------------------------------------

out=$(register "$MOHSTATS_URL" '{"name": "Quirks", "ip_address": "127.0.0.1", "port": 12205}')
QUIRK=$(jq -r .server_id <<<"${out#* }")
QTOKEN=$(jq -r .token <<<"${out#* }")
q() { ch_query "SELECT $1 FROM raw_events WHERE server_id = '$QUIRK' AND $2 FORMAT TSV"; }
printf '%s' '[{"type": "match_start", "session_id": "sess_q1", "map_name": "dm/mohdm6", "gametype": "1", "match_id": "no_match", "timestamp": "0.050"},'\
'{"type": "explosion", "damage": 56, "attacker_guid": "9", "attacker_name": "Bomber", "session_id": "sess_q1", "timestamp": 12},'\
'{"type": "jump", "jump_height": nan, "player_x": -inf, "player_y": 1.23457e+06, "player_guid": "unauth_1", "session_id": "sess_q1", "timestamp": "13.000"},'\
'{"timestamp": "14.000", "victim_guid": "unauth_2", "victim_name": "Fell", "type": "player_kill", "mod": "falling", "weapon": "world", "session_id": "sess_q1", "team": null, "hitloc": "general"},'\
'{"type": "weapon_change", "player_guid": "unauth_1", "old_weapon": "none", "new_weapon": "MP40", "session_id": "sess_q1", "type": "weapon_change", "player_guid": "unauth_5"},'\
'{"type": "player_say", "player_guid": "unauth_1", "message": "hi", "server_id": "spoofed-server", "server_token": "secret123", "weird_field": {"nested": [1, 2]}, "session_id": "sess_q1"},'\
'{"type": "bot_death", "killer_guid": "unauth_1", "means_of_death": "MOD_RIFLE", "allied_score": "3", "axis_score": 2, "players": "12", "winner": "axis", "game_type": "obj", "session_id": "sess_q1"},'\
'{"type": "door_state_change", "state": "open", "player_guid": "unauth_1", "session_id": "sess_q1"},'\
'{"type": "brand_new_type", "player_guid": "unauth_1", "session_id": "sess_q1", "damage": "1e999"}]' >/tmp/q.$$
check_eq "a batch of quirks is accepted whole" '202 {"status":"accepted","processed":9}' "$(post_events "$QTOKEN" /tmp/q.$$)"
printf '\0 \n {"type":"kill","attacker_guid":"unauth_1","victim_guid":"unauth_3","session_id":"sess_q2"}\n'\
'type=chat&player_name=Tom&Jerry&message=100%% sure & done&session_id=sess_q2&server_token=sekrit\n'\
'type=connect&player_name=Bob%%20Smith&player_guid=unauth_8&session_id=sess_q2\n  \0' >/tmp/q2.$$
check_eq "NDJSON and legacy form lines (NUL bytes, whitespace) in one body" '202 {"status":"accepted","processed":3}' "$(post_events "$QTOKEN" /tmp/q2.$$)"
rm -f /tmp/q.$$ /tmp/q2.$$
check "all quirk events reach ClickHouse" ch_wait "SELECT count() FROM raw_events WHERE server_id = '$QUIRK'" 12
check_eq "events without a map get their session's map" "dm/mohdm6 dm/mohdm6" "$(q "map_name" "event_type = 'jump'") $(q "map_name" "event_type = 'explosion'")"
check_eq "numbers as strings and bare numbers" "56	9	12" "$(q "damage, actor_guid, game_time" "event_type = 'explosion'")"
check_eq "nan/inf store no value; %g exponents parse" "\\N	\\N	1234570" "$(q "amount, actor_x, actor_y" "event_type = 'jump'")"
check_eq "world kill: no attacker, victim kept, null ignored" "		unauth_2	falling	world" "$(q "actor_guid, actor_name, target_guid, means_of_death, weapon" "event_type = 'player_kill' AND session_id = 'sess_q1'")"
check_eq "duplicate keys: the last one wins" "unauth_5	MP40	none" "$(q "actor_guid, weapon, old_weapon" "event_type = 'weapon_change'")"
check_eq "player_say is chat; a server_id in the payload never overrides the token's" "chat	player_say	$QUIRK" "$(q "event_type, type_sent, server_id" "type_sent = 'player_say'")"
check_eq "unknown fields are kept and flagged; secrets are not stored" "weird_field	1	0" \
  "$(q "unknown_fields, position(raw, '\"nested\": [1, 2]') > 0, position(raw, 'secret123')" "event_type = 'chat' AND session_id = 'sess_q1'")"
check_eq "field aliases merge into their columns" "bot_killed	unauth_1	MOD_RIFLE	3	2	12	axis	obj" \
  "$(q "event_type, actor_guid, means_of_death, allies_score, axis_score, player_count, team, gametype" "type_sent = 'bot_death'")"
check_eq "door_state_change becomes door_open" door_open "$(q "event_type" "type_sent = 'door_state_change'")"
check_eq "unknown types are kept, flagged, never dropped; huge numbers store no value" "brand_new_type	0	\\N" "$(q "event_type, known_type, damage" "type_sent = 'brand_new_type'")"
check_eq "kill alias from NDJSON" "player_kill	unauth_1	unauth_3" "$(q "event_type, actor_guid, target_guid" "session_id = 'sess_q2' AND type_sent = 'kill'")"
check_eq "legacy form line: unencoded & and % kept, no secret stored" "Tom&Jerry	100% sure & done	0" \
  "$(q "actor_name, message, position(raw, 'sekrit')" "session_id = 'sess_q2' AND event_type = 'chat'")"
check_eq "legacy form line: percent-encoded value decoded" "Bob Smith" "$(q "actor_name" "session_id = 'sess_q2' AND event_type = 'connect'")"
check_eq "different sessions are different matches" 2 "$(ch_query "SELECT uniqExact(match_key) FROM raw_events WHERE server_id = '$QUIRK'")"

# --- live state ------------------------------------------------------------------------------------------------------

check "live state: a new session (map load) starts scores again" retry 5 eval \
  "[ \"\$(live '$WIRE' | jq '[.players[] | .kills] | add')\" = 0 ]"
check_eq "live state: current map and session" "obj/obj_team2 sess_9d2e4b7a10c3f655" "$(live "$WIRE" | jq -r '"\(.map_name) \(.session_id)"')"

# A guest who logs in mid-match (docs/tracker-wire.md §3.2): the tracker reports them as unauth_<slot> until the
# login succeeds, then queues player_auth and reports them under their member id. The live list names them once.
out=$(register "$MOHSTATS_URL" '{"name": "Login", "ip_address": "127.0.0.1", "port": 12207}')
LOGIN=$(jq -r .server_id <<<"${out#* }")
LTOKEN=$(jq -r .token <<<"${out#* }")
login_batch() { # login_batch EVENTS...: post a batch of these events of the server's session
  local f=$STACK_DIR/login_batch.json
  printf '%s\n' "$@" | jq -s -c 'map(. + {session_id: "sess_login1", match_id: "match_login1", map: "dm/mohdm6",
    timestamp: "12.500"})' >"$f"
  post_events "$LTOKEN" "$f" | cut -d' ' -f1
}
check_eq "login: the guest's events are accepted" 202 "$(login_batch \
  '{"type": "connect", "player_guid": "unauth_5", "player_name": "^1Pvt. Ryan"}' \
  '{"type": "team_join", "player_guid": "unauth_5", "player_name": "^1Pvt. Ryan", "player_team": "american",
    "old_team": "spectator", "new_team": "american"}' \
  '{"type": "connect", "player_guid": "unauth_6", "player_name": "Hans"}' \
  '{"type": "player_kill", "attacker_guid": "unauth_5", "attacker_name": "^1Pvt. Ryan", "attacker_team": "american",
    "victim_guid": "unauth_6", "victim_name": "Hans", "victim_team": "german", "weapon": "Kar98", "hitloc": "head",
    "mod": "bullet", "damage": "100.000"}')"
check_eq "login: the player_auth batch is accepted" 202 "$(login_batch \
  '{"type": "player_auth", "player_guid": "77", "player_smf_id": "77", "player_name": "^1Pvt. Ryan",
    "player_team": "american", "smf_member_id": "77", "smf_member_name": "Ryan"}' \
  '{"type": "player_spawn", "player_guid": "77", "player_smf_id": "77", "player_name": "^1Pvt. Ryan",
    "player_team": "american"}')"
logged_in_once() { # the live page lists the member once, with the guest's kill, and no longer the guest
  [ "$(curl -sS "$MOHSTATS_URL/api/v1/servers/$LOGIN/live" |
    jq -r '[.players[] | select(.name == "Pvt. Ryan") | "\(.guid) \(.kills)"] | join(",")')" = "77 1" ]
}
check "login: the live list names the player once, under their member id, with the score they had as a guest" \
  retry 20 logged_in_once
check_eq "login: the other guest is still listed" "unauth_6 Hans 1" "$(curl -sS "$MOHSTATS_URL/api/v1/servers/$LOGIN/live" |
  jq -r '.players[] | select(.guid == "unauth_6") | "\(.guid) \(.name) \(.deaths)"')"

# --- countries: of the players from the addresses of their connects, of the server from its own -------------------
# Players' addresses are looked up as the batch arrives and never stored (docs/security.md); a guest's country goes
# to the member they log in as, whether the login is in the connect's batch or a later one.

out=$("$MOHSTATS_BIN_DIR/ingestd" servers create --name "Geo Host" --ip 192.0.2.30 --port 12310)
GEO=$(sed -n 's/^server_id: //p' <<<"$out")
GEO_TOKEN=$(sed -n 's/^token: //p' <<<"$out")
geo_batch() { # geo_batch EVENTS...: post a batch of these events of the server's session
  local f=$STACK_DIR/geo_batch.json
  printf '%s\n' "$@" | jq -s -c 'map(. + {session_id: "sess_geo1", match_id: "match_geo1", map: "dm/mohdm6"})' >"$f"
  post_events "$GEO_TOKEN" "$f" | cut -d' ' -f1
}
check_eq "countries: the connects are accepted" 202 "$(geo_batch \
  '{"type": "connect", "player_guid": "601", "player_name": "Geo A", "ip": "198.51.100.77:12203"}' \
  '{"type": "connect", "player_guid": "602", "player_name": "Geo B", "ip": "203.0.113.9"}' \
  '{"type": "connect", "player_guid": "603", "player_name": "Geo C", "ip": "2001:db8::17"}' \
  '{"type": "connect", "player_guid": "604", "player_name": "Geo D", "ip": "[2001:db8:1::4]:12203"}' \
  '{"type": "connect", "player_guid": "607", "player_name": "Geo E", "ip": "10.0.0.1"}' \
  '{"type": "connect", "player_guid": "608", "player_name": "Geo F", "ip": "203.0.113.200"}' \
  '{"type": "connect", "player_guid": "unauth_7", "player_name": "Geo Guest", "ip": "192.0.2.150:12203"}' \
  '{"type": "connect", "player_guid": "unauth_8", "player_name": "Geo Other", "ip": "203.0.113.20"}' \
  '{"type": "player_auth", "player_guid": "606", "player_smf_id": "606", "player_name": "Geo Other"}' \
  '{"type": "player_kill", "attacker_guid": "601", "attacker_name": "Geo A", "victim_guid": "602",
    "victim_name": "Geo B", "weapon": "Kar98", "hitloc": "head", "mod": "bullet", "damage": "100.000"}')"
check "countries: the guest is in the live state" retry 10 eval \
  "[ \"\$(live '$GEO' | jq -r '.players[] | select(.guid == \"unauth_7\") | .country')\" = FR ]"
check_eq "countries: the later login is accepted" 202 "$(geo_batch \
  '{"type": "player_auth", "player_guid": "605", "player_smf_id": "605", "player_name": "Geo Guest"}')"
ch_wait "SELECT count() FROM raw_events WHERE server_id = '$GEO'" 11
check_eq "countries: each row has the country of its address, or of the guest's connect for a login" \
  "601 DE,602 JP,603 BR,604 DE,605 FR,606 JP,607 ,608 ,unauth_7 FR,unauth_8 JP" \
  "$(ch_query "SELECT arrayStringConcat(groupArray(concat(actor_guid, ' ', actor_country)), ',') FROM (SELECT actor_guid,
    actor_country FROM raw_events WHERE server_id = '$GEO' AND event_type IN ('connect', 'player_auth')
    ORDER BY actor_guid)")"
check_eq "countries: no address is stored, in raw or anywhere else of the row" 0 \
  "$(ch_query "SELECT count() FROM raw_events WHERE server_id = '$GEO' AND (position(raw, '\"ip\"') > 0
    OR position(unknown_fields, 'ip') > 0 OR position(raw, '198.51.100') > 0 OR position(raw, '203.0.113') > 0
    OR position(raw, '2001:db8') > 0 OR position(raw, '192.0.2.150') > 0 OR position(raw, '10.0.0.1') > 0)")"
check_eq "countries: GET /servers/{id}/countries: members by country, guests and unknown addresses left out" \
  '[{"country_code":"DE","country_name":"Germany","player_count":2,"percentage":33.3},{"country_code":"JP","country_name":"Japan","player_count":2,"percentage":33.3},{"country_code":"BR","country_name":"Brazil","player_count":1,"percentage":16.7},{"country_code":"FR","country_name":"France","player_count":1,"percentage":16.7}]' \
  "$(curl -sS "$MOHSTATS_URL/api/v1/servers/$GEO/countries")"
check_eq "countries: an unknown server is 404" 404 "$(http_status "$MOHSTATS_URL/api/v1/servers/no-such-server/countries")"
check_eq "countries: the server's own, from its address" "FR France" \
  "$(curl -sS "$MOHSTATS_URL/api/v1/servers/$GEO" | jq -r '"\(.country) \(.country_name)"')"
# The list may be an answer cached before the server was made.
check "countries: ...in the list of servers too" retry 70 eval \
  "[ \"\$(curl -sS '$MOHSTATS_URL/api/v1/servers' | jq -r '.[] | select(.id == \"$GEO\") | .country')\" = FR ]"
# The live state publishes the login within a second of taking it, which may be after its rows reached ClickHouse;
# the live answer is cached QUERY_LIVE_TTL_S (10 s).
geo_live() {
  [ "$(curl -sS "$MOHSTATS_URL/api/v1/servers/$GEO/live" | jq -r '[.players[] | select(.guid | test("^60[1567]$"))
    | "\(.guid) \(.country)"] | sort | join(",")')" = "601 DE,605 FR,606 JP,607 " ]
}
check "countries: the live players' (the member who logged in keeps the guest's)" retry 15 geo_live
# The roster reads player_daily, which its view fills after the insert into raw_events has committed.
ch_wait "SELECT sum(kills) FROM player_daily WHERE server_id = '$GEO'" 1
check_eq "countries: the roster's, with the flag" "601 DE 🇩🇪,602 JP 🇯🇵" \
  "$(curl -sS "$MOHSTATS_URL/api/v1/servers/$GEO/players" | jq -r '[.players[] | select(.guid == "601" or .guid == "602")
    | "\(.guid) \(.country) \(.country_flag)"] | sort | join(",")')"
# (The daemons' logs: ClickHouse's own logs the queries of this test, addresses included. Other parts of the test
# send other addresses of these networks, which ingestd logs as servers' addresses.)
check "countries: no player's address in the daemons' logs" eval \
  "! grep -qF -e 198.51.100.77 -e 192.0.2.150 -e 2001:db8::17 '$STACK_DIR'/logs/{ingestd,queryd,authd,achievd,ratingd}.log"

# --- a database outage never turns into 401 ---------------------------------------------------------------------------

kill -INT "$(head -n 1 "$STACK_DIR/postgres/postmaster.pid")" # fast shutdown: clients are cut off
check "postgres is down" retry 10 eval "! pg_query 'SELECT 1' >/dev/null 2>&1"
sleep 1.2 # past SERVER_TOKEN_CACHE_MS: the next lookup asks the registry, which does not answer
check_eq "a known token keeps working while the registry is down" 202 "$(post_events "$TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"
# A token of the shape every token has (a malformed one is no server's, and 401 whether or not the registry answers),
# and not one asked about in the last 5 s (the registry's "no" is trusted that long).
UNKNOWN_TOKEN=mst_$(printf 'y%.0s' $(seq 1 53))
check_eq "an unknown token gets 503, not 401 (the tracker would wipe its credentials)" 503 "$(post_events "$UNKNOWN_TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"
check "stack.sh up brings postgres back" "$STACK_SH" up "$STACK_DIR"
check_eq "and an unknown token is 401 again" 401 "$(post_events "$UNKNOWN_TOKEN" "$DATA/wire_4_3_match_end.json" | cut -d' ' -f1)"

# --- metrics -------------------------------------------------------------------------------------------------------

metrics=$(curl -s "$INGESTD_URL/metrics")
check "metrics: accepted events counted" grep -qE '^mohstats_ingest_events_accepted_total [1-9]' <<<"$metrics"
check "metrics: rejections by reason" grep -qE '^mohstats_ingest_rejected_total\{reason="malformed_body"\} [1-9]' <<<"$metrics"
check "metrics: 413s counted as too_large" grep -qE '^mohstats_ingest_rejected_total\{reason="too_large"\} [1-9]' <<<"$metrics"
check "metrics: budget 429s counted as over_budget" grep -qE '^mohstats_ingest_rejected_total\{reason="over_budget"\} [1-9]' <<<"$metrics"
check "metrics: bodies refused for the unverified bound counted" grep -qE '^mohstats_ingest_rejected_total\{reason="unverified_bodies_full"\} [1-9]' <<<"$metrics"

# --- large bodies are parsed off the event loop, in each server's order ----------------------------------------------

# A body of 64 KiB or more is parsed on a thread (issue 17: a 1 MiB body took the loop for milliseconds). A server's
# later batch that arrives meanwhile, on another connection, must still be handled after it: here the small batch
# has no map and must get the one the large batch named for its session, and both must be stored whole.
out=$("$MOHSTATS_BIN_DIR/ingestd" servers create --name "Off Loop" --ip 203.0.113.10 --port 12301)
OFF=$(sed -n 's/^server_id: *//p' <<<"$out")
OFF_TOKEN=$(sed -n 's/^token: *//p' <<<"$out")
awk 'BEGIN {
  printf "["
  for (i = 1; i <= 400; i++) {
    printf "%s{\"type\": \"player_say\", \"session_id\": \"sess_off\", \"timestamp\": \"%d.000\"", (i > 1 ? ", " : ""), i
    if (i == 1) printf ", \"map\": \"mp/offloop\""
    for (k = 1; k <= 200; k++) printf ", \"x%d\": %d", k, k
    printf "}"
  }
  printf "]"
}' >/tmp/off_big.$$
printf '%s' '[{"type": "jump", "session_id": "sess_off", "player_guid": "unauth_3", "timestamp": "999.000"}]' >/tmp/off_small.$$
check "the large body is over 64 KiB and within 1 MiB" eval "[ $(stat -c %s /tmp/off_big.$$) -gt 65536 ] && [ $(stat -c %s /tmp/off_big.$$) -le 1048576 ]"
# The token is looked up once first, so that neither request waits for PostgreSQL and the small one arrives while a
# thread still parses the large one (~8 ms for 400 events of 200 fields). Two connections of our own, so that the
# small request goes out right after the large one.
printf '%s' '[{"type": "heartbeat", "session_id": "sess_warm"}]' >/tmp/off_warm.$$
check_eq "the server's first batch" 202 "$(post_events "$OFF_TOKEN" /tmp/off_warm.$$ | cut -d' ' -f1)"
# raw_post FD BODY_FILE: write one request on the open connection FD.
raw_post() {
  printf 'POST /api/v1/ingest/events HTTP/1.1\r\nHost: test\r\nX-Server-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
    "$OFF_TOKEN" "$(stat -c %s "$2")" >&"$1"
  cat "$2" >&"$1"
}
parses() { curl -s "$INGESTD_URL/metrics" | awk -v w="$1" '$1 == "mohstats_ingest_parses_total{where=\"" w "\"}" { print $2 }'; }
on_thread0=$(parses thread) on_loop0=$(parses loop)
ingestd_port=${INGESTD_URL##*:}
exec 7<>"/dev/tcp/127.0.0.1/$ingestd_port" 8<>"/dev/tcp/127.0.0.1/$ingestd_port"
raw_post 7 /tmp/off_big.$$
# Once written, the large body may still wait in ingestd's receive buffer: a small request completed before it would
# rightly go first. A few ms let ingestd read it and hand it to a thread, well within its parse.
sleep 0.005
raw_post 8 /tmp/off_small.$$
big_answer=$(timeout 10 cat <&7 | tail -n 1)
small_answer=$(timeout 10 cat <&8 | tail -n 1)
exec 7<&- 8<&-
check_eq "the large batch: 202 processed 400" '{"status":"accepted","processed":400}' "$big_answer"
check_eq "the small batch sent right after it: 202 processed 1" '{"status":"accepted","processed":1}' "$small_answer"
# The metric counts the parses where they ran: the large body on a thread (on_parsed_off_loop is reached only from a
# threadpool's work), the small one on the loop.
check_eq "the large body was parsed on a thread, the small one on the loop (mohstats_ingest_parses_total)" "1 1" \
  "$(($(parses thread) - ${on_thread0:-0})) $(($(parses loop) - ${on_loop0:-0}))"
check "both reach ClickHouse" ch_wait "SELECT count() FROM raw_events WHERE server_id = '$OFF'" 402
check_eq "the small batch was handled after the large one: it got the map the large one named" mp/offloop \
  "$(ch_query "SELECT map_name FROM raw_events WHERE server_id = '$OFF' AND event_type = 'jump' AND game_time = 999 FORMAT TSV")"
check_eq "the large batch's rows are whole" "400	400" \
  "$(ch_query "SELECT count(), countIf(endsWith(raw, '\"x200\": 200}')) FROM raw_events WHERE server_id = '$OFF' AND event_type = 'chat' FORMAT TSV")"
# Large batches are appended on a Redis connection of their own (ingestd/ingest_api.c, append_lane_for), small ones on
# the other: the small batch, rendered while the large one's XADD was in flight, must follow it on its connection.
# The stream keeps entries WRITER_RETAIN_MS (60 s) after their insert: the counts of the server's entries, oldest first.
stream_counts() {
  redis_cmd EVAL "local o = {}
    for _, e in ipairs(redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 200)) do
      local f, srv, n = e[2]
      for i = 1, #f, 2 do
        if f[i] == 'srv' then srv = f[i + 1] elseif f[i] == 'n' then n = f[i + 1] end
      end
      if srv == ARGV[1] then table.insert(o, 1, n) end
    end
    return o" 1 "${INGEST_STREAM:-mohstats:events}" "$1" | tr '\n' ' '
}
check_eq "in the stream too, the small batch follows the large one" "1 400 1 " "$(stream_counts "$OFF")"
rm -f /tmp/off_big.$$ /tmp/off_small.$$ /tmp/off_warm.$$

# --- the sessions' maps outlive a restart of ingestd ----------------------------------------------------------------

# A map runs on for as long as the server stays on it; the tracker names it only when it loads. Before, the map of a
# session was known to the process that saw the map load, and for LIVE_TTL_MS after the server's last event.
check "the sessions' maps are saved in Redis" retry 5 eval \
  "redis_cmd HGET ingest_session_maps '$QUIRK' | jq -e '.sessions.sess_q1 == \"dm/mohdm6\"' >/dev/null"
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -TERM "$pid"
check "ingestd stops on SIGTERM" retry 10 eval "! kill -0 $pid 2>/dev/null"
# It comes back with REGISTRATION_MODE=closed, checked after the sessions' maps.
check "stack.sh up brings ingestd back" env REGISTRATION_MODE=closed "$STACK_SH" up "$STACK_DIR"
check "ingestd is ready once its live state is read back" retry 10 curl -fsS -o /dev/null "$INGESTD_URL/ready"
printf '%s' '[{"type": "jump", "player_guid": "unauth_1", "session_id": "sess_q1", "timestamp": "30.000"}]' >/tmp/q3.$$
check_eq "a batch after the restart is accepted" 202 "$(post_events "$QTOKEN" /tmp/q3.$$ | cut -d' ' -f1)"
rm -f /tmp/q3.$$
check "it reaches ClickHouse" ch_wait "SELECT count() FROM raw_events WHERE server_id = '$QUIRK' AND event_type = 'jump'" 2
check_eq "after a restart, an event without a map still gets its session's map" dm/mohdm6 \
  "$(q "map_name" "event_type = 'jump' AND game_time = 30")"

# --- REGISTRATION_MODE=closed (ingestd was restarted so above) ----------------------------------------------------
# No registration makes a new server; a pinned one (every created one) is never registered again; an existing
# unpinned one re-registers from its address and port as in open mode, so the stock tracker's sequence still works.
out=$(host_register 192.0.2.12 12203)
check_eq "closed: a server nobody created: 403" 403 "${out%% *}"
check "closed: ...saying that registration is closed" grep -qF "Registration is closed" <<<"$out"
check_eq "closed: ...and no server was made" 0 "$(pg_query "SELECT count(*) FROM servers WHERE ip_address = '192.0.2.12'")"
check_eq "closed: a created (pinned) server that lost its cvars: 403, its token keeps working" "403 202" \
  "$(host_register 203.0.113.9 12300 | cut -d' ' -f1) $(flush "$CREATED_TOKEN")"
out=$("$MOHSTATS_BIN_DIR/ingestd" servers create --name "Closed Host" --ip 192.0.2.13 --port 12203)
C_ID=$(sed -n 's/^server_id: //p' <<<"$out")
C_T1=$(sed -n 's/^token: //p' <<<"$out")
check "closed: ingestd servers unpin of a created server" "$MOHSTATS_BIN_DIR/ingestd" servers unpin "$C_ID"
check_eq "closed: its token from the config works" 202 "$(flush "$C_T1")"
rot0=$(rotations)
out=$(host_register 192.0.2.13 12203) # a restart that lost its cvars
C_T2=$(jq -r .token <<<"${out#* }")
check_eq "closed: once unpinned, a restart that lost its cvars registers: 200, the same id, a working token" \
  "200 $C_ID 202" "${out%% *} $(jq -r .server_id <<<"${out#* }") $(flush "$C_T2")"
check_eq "closed: ...the rotation is counted" "$((rot0 + 1))" "$(rotations)"
check_eq "closed: the previous token gets 401" 401 "$(flush "$C_T1")"
out=$(host_register 192.0.2.13 12203) # the tracker's answer to a 401
C_T3=$(jq -r .token <<<"${out#* }")
check_eq "closed: after the 401 it registers again: the same id, a working token" "$C_ID 202" \
  "$(jq -r .server_id <<<"${out#* }") $(flush "$C_T3")"
check_eq "closed: an unpinned server registered in open mode re-registers too" "200 $OPEN_ID" \
  "$(out=$(host_register 192.0.2.10 12203); echo "${out%% *} $(jq -r .server_id <<<"${out#* }")")"
RUN_TOKENS+=("$C_T1" "$C_T2" "$C_T3" "$CREATED_TOKEN")
check "no server token of the registration runs appears in the logs" eval \
  "! grep -rqF $(printf -- "-e '%s' " "${RUN_TOKENS[@]}") '$STACK_DIR/logs'"

check "no token ever appears in the logs" eval "! grep -rqF -e '$TOKEN' -e '$OLD_TOKEN' -e secret123 -e sekrit '$STACK_DIR/logs'"

finish
