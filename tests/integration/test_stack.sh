#!/usr/bin/env bash
# The local stack end to end: every database answers with every schema object in place, migrations are
# idempotent and never touch data, every daemon answers through nginx, a crashed daemon and a crashed database
# come back with their data on the next `up`, and `down` leaves no process behind.
# One build (sanitizer): its subject is stack.sh, the servers' configuration, nginx and docker-compose.yml, the same
# in both builds; the daemons' paths it drives (SIGTERM, a crash and restart) are checked where ASan can see them.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DAEMONS=(ingestd queryd authd achievd ratingd)
SCHEMAS=$MOHSTATS_SRC_DIR/schemas

# Only 127.0.0.1 is private and exempt here, so that the test can be a client from elsewhere by connecting from
# another loopback address (Linux answers all of 127/8: curl --interface 127.0.0.N) as well as the local
# operator; tight per-address limits and a short request timeout keep the checks of the limits quick.
export NGINX_PRIVATE_NETS='127.0.0.1 1; ::1 1;' NGINX_EXEMPT_NETS='127.0.0.1 1; ::1 1;'
export NGINX_CONNS_PER_ADDRESS=4 NGINX_READS_PER_S=5 NGINX_READS_BURST=5 HTTP_REQUEST_TIMEOUT_MS=4000
export NGINX_CONN_BYTES_PER_S=131072
# A TLS listener with a self-signed certificate, beside the plain one.
TLS_DIR=$(mktemp -d /tmp/mohstats-tls.XXXXXX)
stack_dir
TLS_PORT=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$TLS_DIR/key.pem" \
  -out "$TLS_DIR/cert.pem" 2>/dev/null
export NGINX_TLS="listen 127.0.0.1:$TLS_PORT ssl; ssl_certificate $TLS_DIR/cert.pem; ssl_certificate_key $TLS_DIR/key.pem;"
# shellcheck disable=SC2119
stack_up

# `up` returns only once every daemon is ready: their /ready answers 200 at once, without waiting.
ready_now=""
for d in "${DAEMONS[@]}"; do ready_now+="$d:$(http_status "$MOHSTATS_URL/ops/$d/ready") "; done
check_eq "every daemon's /ready is 200 the moment up returned" "ingestd:200 queryd:200 authd:200 achievd:200 ratingd:200 " \
  "$ready_now"

# --- databases and schema objects ------------------------------------------------------------------------------

check_eq "clickhouse answers" 1 "$(ch_query 'SELECT 1')"
check_eq "redis answers" PONG "$(redis_cmd PING)"
# Credentials (issue 17): no server answers without its password, and each daemon reaches ClickHouse as the
# user its work needs (the passwords are in state.env; stack.env has the operator's URLs).
redis_port=${REDIS_URL##*:} cache_port=${CACHE_REDIS_URL##*:}
check_eq "Redis refuses a client without the password" NOAUTH \
  "$(redis-cli -h 127.0.0.1 -p "${redis_port%/*}" ping 2>&1 | cut -d' ' -f1)"
check_eq "the cache's Redis too" NOAUTH "$(redis-cli -h 127.0.0.1 -p "${cache_port%/*}" ping 2>&1 | cut -d' ' -f1)"
# Each daemon uses Redis as a user of its own, which may run only the commands its code sends (scripts/stack.sh,
# redis_daemon_users); `default` is the operator's.
daemon_redis_user() { tr '\0' '\n' <"/proc/$(cat "$STACK_DIR/run/$1.pid")/environ" | sed -n "s|^$2=redis://\([^:]*\):.*|\1|p"; }
check_eq "Redis users: ingestd, queryd (on both servers), achievd and ratingd each its own" \
  "ingestd queryd queryd achievd ratingd" "$(daemon_redis_user ingestd REDIS_URL) $(daemon_redis_user queryd REDIS_URL) $(
    daemon_redis_user queryd CACHE_REDIS_URL) $(daemon_redis_user achievd REDIS_URL) $(daemon_redis_user ratingd REDIS_URL)"
# as_user PORT USER COMMAND...: the first word of the answer to COMMAND run as USER (its password from state.env).
as_user() {
  local pw
  pw=$(sed -n "s/^REDIS_$(tr a-z A-Z <<<"$2")_PASSWORD=//p" "$STACK_DIR/state.env")
  REDISCLI_AUTH=$pw redis-cli --user "$2" -h 127.0.0.1 -p "$1" "${@:3}" 2>&1 | head -n 1 | cut -d' ' -f1
}
stream_key=mohstats:events
check_eq "ingestd's Redis user runs its commands (XLEN) but no other (FLUSHALL, CONFIG, KEYS: NOPERM)" \
  "0 NOPERM NOPERM NOPERM" "$(as_user "${redis_port%/*}" ingestd XLEN nokey) $(as_user "${redis_port%/*}" ingestd FLUSHALL) $(
    as_user "${redis_port%/*}" ingestd CONFIG GET dir) $(as_user "${redis_port%/*}" ingestd KEYS '*')"
check_eq "achievd's: FLUSHALL, XADD, XTRIM refused" "NOPERM NOPERM NOPERM" \
  "$(as_user "${redis_port%/*}" achievd FLUSHALL) $(as_user "${redis_port%/*}" achievd XADD $stream_key '*' a 1) $(
    as_user "${redis_port%/*}" achievd XTRIM $stream_key MAXLEN 0)"
check "...(ZMSCORE answers)" eval "[ \"\$(as_user '${redis_port%/*}' achievd ZMSCORE nokey m)\" != NOPERM ]"
check_eq "ratingd's: its lease key and XADD to fresh (GET yes, XADD fresh allowed; GET of another key, XADD to the events, FLUSHALL no)" \
  " OK NOPERM NOPERM NOPERM" \
  "$(as_user "${redis_port%/*}" ratingd GET mohstats:ratingd:none) $(redis_cmd ACL DRYRUN ratingd XADD fresh '*' ratings x) $(
    as_user "${redis_port%/*}" ratingd GET $stream_key) $(as_user "${redis_port%/*}" ratingd XADD $stream_key '*' a 1) $(
    as_user "${redis_port%/*}" ratingd FLUSHALL)"
check_eq "queryd's on the stream's server only reads: XREVRANGE yes; XADD, DEL, HSET no" " NOPERM NOPERM NOPERM" \
  "$(as_user "${redis_port%/*}" queryd XREVRANGE nokey + - COUNT 1) $(as_user "${redis_port%/*}" queryd XADD $stream_key '*' a 1) $(
    as_user "${redis_port%/*}" queryd DEL $stream_key) $(as_user "${redis_port%/*}" queryd HSET live x y)"
check_eq "queryd's on the cache's server: its keys (q:...) yes, others no" " NOPERM NOPERM" \
  "$(as_user "${cache_port%/*}" queryd GET q:none) $(as_user "${cache_port%/*}" queryd GET other) $(
    as_user "${cache_port%/*}" queryd FLUSHALL)"
ch_port=${CLICKHOUSE_URL##*@127.0.0.1:}
ch_port=${ch_port%%/*}
check "ClickHouse's default user needs its password" eval \
  "curl -s 'http://127.0.0.1:$ch_port/' --data-binary 'SELECT 1' | grep -q 'Password required for user default'"
read_pw=$(sed -n 's/^CLICKHOUSE_READ_PASSWORD=//p' "$STACK_DIR/state.env")
check "the read-only user (queryd, achievd) reads" eval \
  "[ \"\$(curl -s -u 'mohstats_read:$read_pw' 'http://127.0.0.1:$ch_port/?database=mohstats' --data-binary 'SELECT 1')\" = 1 ]"
check "...and cannot write" eval "curl -s -u 'mohstats_read:$read_pw' 'http://127.0.0.1:$ch_port/?database=mohstats' \
  --data-binary 'CREATE TABLE x (a UInt8) ENGINE = Memory' | grep -q 'readonly mode'"
daemon_ch_user() { tr '\0' '\n' <"/proc/$(cat "$STACK_DIR/run/$1.pid")/environ" | sed -n 's|^CLICKHOUSE_URL=http://\([^:]*\):.*|\1|p'; }
check_eq "ClickHouse users: ingestd and ratingd write as theirs, queryd and achievd read" \
  "mohstats_ingest mohstats_read mohstats_read mohstats_ingest" \
  "$(daemon_ch_user ingestd) $(daemon_ch_user queryd) $(daemon_ch_user achievd) $(daemon_ch_user ratingd)"
# Reads may never take all of ClickHouse's query slots: the writer's inserts must always find one.
ch_read() { curl -s -u "mohstats_read:$read_pw" "http://127.0.0.1:$ch_port/?database=mohstats${2:-}" --data-binary "$1"; }
check_eq "the read-only user may run 32 queries at once, of the server's 64 (max_concurrent_queries_for_user)" 32 \
  "$(ch_read "SELECT value FROM system.settings WHERE name = 'max_concurrent_queries_for_user'")"
# A writer stopped mid-insert must not hold up the writer that takes its entries over for ClickHouse's default 30
# minutes (scripts/stack.sh, deploy/clickhouse/mohstats-ingest.xml).
check_eq "ClickHouse's default profile gives a stalled request body 30 s (http_receive_timeout), not 1800" 30 \
  "$(curl -s -u "mohstats_ingest:$(sed -n 's/^CLICKHOUSE_INGEST_PASSWORD=//p' "$STACK_DIR/state.env")" \
    "http://127.0.0.1:$ch_port/?database=mohstats" --data-binary "SELECT value FROM system.settings WHERE name = 'http_receive_timeout'")"
# queryd bounds each query with settings on its URL (readonly=2 lets the read-only user give them): ClickHouse
# 18.16 enforces them for that user. The time bound, on a query that would run for minutes:
t0=$(date +%s%N)
out=$(ch_read "SELECT count() FROM numbers(100000000000)" "&readonly=2&max_execution_time=1")
t1=$(date +%s%N)
check "...and a query over max_execution_time=1 (QUERY_CH_MAX_SECONDS) is stopped (Code 159) within 3 s" eval \
  "grep -q 'Code: 159' <<<\"\$out\" && [ $(((t1 - t0) / 1000000)) -lt 3000 ]"
check_eq "the stream's Redis never evicts (noeviction)" noeviction "$(redis_cmd CONFIG GET maxmemory-policy | tail -n 1)"
check_eq "queryd's answer cache is a Redis of its own, bounded and evicting (allkeys-lru, 256 MB)" \
  "allkeys-lru 268435456" "$(cache_cmd CONFIG GET maxmemory-policy | tail -n 1) $(cache_cmd CONFIG GET maxmemory | tail -n 1)"
check_eq "postgres answers as mohstats with its password" mohstats "$(pg_query 'SELECT current_user')"
check_eq "mariadb answers as mohstats in database smf" smf "$(mdb_query 'SELECT DATABASE()')"

# raw_events must have exactly the columns its DDL declares, in order (the column lines of the file are
# indented "name Type" lines), with the types 18.16 might have balked at, then those later migrations add (the
# stored ones: MATERIALIZED columns are computed, not written).
expected_cols=$( (sed -nE 's/^    ([a-z_0-9]+) [A-Z].*/\1/p' "$SCHEMAS/clickhouse/0001_raw_events.sql"
  cat "$SCHEMAS"/clickhouse/*.sql | grep -v MATERIALIZED |
    sed -nE 's/^ALTER TABLE raw_events ADD COLUMN ([a-z_0-9]+) .*/\1/p') | paste -sd' ')
actual_cols=$(ch_query "SELECT name FROM system.columns WHERE database = 'mohstats' AND table = 'raw_events'
  AND default_kind != 'MATERIALIZED'" | paste -sd' ')
check_eq "clickhouse raw_events has the columns of its DDL" "$expected_cols" "$actual_cols"
# ... and the normalised columns ClickHouse computes itself (0005), which the writer never sends.
check_eq "clickhouse raw_events has the normalised columns" "actor_side target_side team_side hit_class" \
  "$(ch_query "SELECT name FROM system.columns WHERE database = 'mohstats' AND table = 'raw_events'
    AND default_kind = 'MATERIALIZED'" | paste -sd' ')"
check_eq "clickhouse raw_events column types" "Nullable(Float32) UUID Nullable(Float64) DateTime" \
  "$(ch_query "SELECT type FROM system.columns WHERE database = 'mohstats' AND table = 'raw_events'
    AND name IN ('event_id', 'actor_x', 'received_at', 'game_time') ORDER BY name" | paste -sd' ')"

for t in servers login_tokens login_token_history trusted_ips pending_ip_approvals smf_user_mappings schema_migrations; do
  check_eq "postgres table $t exists" t "$(pg_query "SELECT to_regclass('public.$t') IS NOT NULL")"
done
if pg_query "INSERT INTO servers (id, name, ip_address, port, token_hash) VALUES ('x', 'x', '10.0.0.1', 1, 'plain')" \
  >/dev/null 2>&1; then
  fail "postgres servers.token_hash accepted a plaintext token"
else
  pass "postgres servers.token_hash accepts only SHA-256 hex"
fi

mdb_tables=" $(mdb_query 'SHOW TABLES' | paste -sd' ') "
for t in smf_members smf_mohaa_identities smf_mohaa_achievement_defs smf_mohaa_player_achievements \
  smf_mohaa_achievement_progress smf_mohaa_teams smf_mohaa_team_members smf_mohaa_team_invites smf_mohaa_team_matches \
  smf_mohaa_tournaments smf_mohaa_tournament_registrations smf_mohaa_tournament_matches smf_mohaa_tournament_admins \
  mohstats_schema_migrations mohstats_tournament_links mohstats_tournament_results mohstats_team_memberships; do
  if [[ $mdb_tables == *" $t "* ]]; then pass "mariadb table $t exists"; else fail "mariadb table $t is missing"; fi
done
check_eq "mariadb smf_mohaa_identities has the forum's columns" \
  "id_identity id_member player_guid player_name linked_at verified" \
  "$(mdb_query "SELECT column_name FROM information_schema.columns WHERE table_schema = 'smf'
    AND table_name = 'smf_mohaa_identities' ORDER BY ordinal_position" | paste -sd' ')"
check_eq "mariadb player_achievements has the columns achievd writes" \
  "id_unlock id_member player_guid id_achievement unlocked_date match_id progress" \
  "$(mdb_query "SELECT column_name FROM information_schema.columns WHERE table_schema = 'smf'
    AND table_name = 'smf_mohaa_player_achievements' ORDER BY ordinal_position" | paste -sd' ')"

n_files() { find "$SCHEMAS/$1" -name '*.sql' | wc -l | tr -d ' '; }
check_eq "clickhouse records each migration once" "$(n_files clickhouse)" "$(ch_query 'SELECT count() FROM schema_migrations')"
check_eq "postgres records each migration once" "$(n_files postgres)" "$(pg_query 'SELECT count(*) FROM schema_migrations')"
check_eq "mariadb records each migration once" "$(n_files mariadb)" "$(mdb_query 'SELECT COUNT(*) FROM mohstats_schema_migrations')"

# --- migrations are idempotent and never touch data ------------------------------------------------------------

ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, event_type)
  VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'probe', 'probe')" >/dev/null
pg_query "INSERT INTO smf_user_mappings (smf_member_id, smf_username, primary_guid) VALUES (42, 'probe', 'guid42')"
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at) VALUES (42, 'guid42', 'probe', 1)"

# Row counts of every table of every database, as one string to compare.
snapshot() {
  ch_query "SELECT count() FROM raw_events"
  ch_query "SELECT version, checksum FROM schema_migrations ORDER BY version"
  pg_query "SELECT 'servers', count(*) FROM servers UNION ALL SELECT 'smf_user_mappings', count(*) FROM smf_user_mappings
    UNION ALL SELECT 'schema_migrations', count(*) FROM schema_migrations"
  mdb_query "SELECT table_name FROM information_schema.tables WHERE table_schema = 'smf' ORDER BY table_name" |
    while read -r t; do printf '%s %s\n' "$t" "$(mdb_query "SELECT COUNT(*) FROM \`$t\`")"; done
  pg_query "SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) FROM schema_migrations"
}
before=$(snapshot)
check "migrate.sh runs again" "$MOHSTATS_SRC_DIR/scripts/migrate.sh"
check "migrate.sh runs a third time" "$MOHSTATS_SRC_DIR/scripts/migrate.sh"
check_eq "re-running migrations changes no table and no migration record" "$before" "$(snapshot)"
check_eq "the probe rows survive" "1 1 1" "$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'probe'") $(
  pg_query "SELECT count(*) FROM smf_user_mappings WHERE smf_member_id = 42") $(
  mdb_query "SELECT COUNT(*) FROM smf_mohaa_identities WHERE player_guid = 'guid42'")"

# A changed, already applied file is reported and not re-applied; a new file is applied once; a file that drops
# a table is refused. Done on a copy of schemas/, never on the tree.
alt=$STACK_DIR/schemas-copy
cp -r "$SCHEMAS" "$alt"
echo "-- edited after it was applied" >>"$alt/postgres/0001_auth.sql"
echo "CREATE TABLE IF NOT EXISTS migrate_probe (id integer PRIMARY KEY);" >"$alt/postgres/9990_probe.sql"
out=$(MOHSTATS_SCHEMA_DIR=$alt "$MOHSTATS_SRC_DIR/scripts/migrate.sh" 2>&1) && rc=0 || rc=$?
check_eq "migrate.sh with a changed and a new file succeeds" 0 "$rc"
check "a changed migration is reported" grep -q "0001_auth.sql changed since it was applied" <<<"$out"
check_eq "a new migration is applied and recorded" "t 1" "$(pg_query "SELECT to_regclass('migrate_probe') IS NOT NULL") $(
  pg_query "SELECT count(*) FROM schema_migrations WHERE version = '9990_probe.sql'")"
echo "DROP TABLE servers;" >"$alt/postgres/9991_drop.sql"
out=$(MOHSTATS_SCHEMA_DIR=$alt "$MOHSTATS_SRC_DIR/scripts/migrate.sh" 2>&1) && rc=0 || rc=$?
check "a migration that drops a table is refused" test "$rc" -ne 0
check_eq "and nothing was dropped" t "$(pg_query "SELECT to_regclass('public.servers') IS NOT NULL")"

# --- daemons through the front door ----------------------------------------------------------------------------

for d in "${DAEMONS[@]}"; do
  check_eq "$d /health through nginx (/ops/$d/health)" "$d" "$(json_get "$MOHSTATS_URL/ops/$d/health" .service)"
  # /ready waits for the daemon's dependencies; give it a few seconds to connect.
  check "$d /ready through nginx answers 200" retry 15 \
    eval "[ \"\$(http_status '$MOHSTATS_URL/ops/$d/ready')\" = 200 ]"
  check_eq "$d /metrics through nginx answers 200" 200 "$(http_status "$MOHSTATS_URL/ops/$d/metrics")"
done
check_eq "plain /health goes to queryd" queryd "$(json_get "$MOHSTATS_URL/health" .service)"

# Hardening of the front door (issue 17): private paths in every spelling the daemons' router accepts, the
# ?server_token= scrubbing on every ingest path, per-address limits, and a body trickled in is cut off.
# remote ADDRESS CURL_ARGS...: the HTTP status of a request sent from ADDRESS (one of 127/8).
remote() { curl -s -o /dev/null -w '%{http_code}' --interface "$1" "${@:2}"; }
for p in /metrics /metrics/ //metrics /%6detrics /ops/queryd/metrics /ops/ingestd/metrics/ /ops/authd/health; do
  check_eq "$p from elsewhere: 403" 403 "$(remote 127.0.0.21 "$MOHSTATS_URL$p")"
done
check_eq "/metrics/ from loopback (private by default): 200" 200 "$(http_status "$MOHSTATS_URL/metrics/")"
check_eq "public /health from elsewhere: 200" 200 "$(remote 127.0.0.22 "$MOHSTATS_URL/health")"
check "...and the HTTP side sees that address (the TCP side names it in a PROXY header)" \
  retry 5 grep -q '^127.0.0.22 .*"GET /health ' "$STACK_DIR/logs/nginx-access.log"
codes=$(for i in $(seq 1 30); do remote 127.0.0.23 "$MOHSTATS_URL/health"; echo; done | sort | uniq -c | tr -s ' \n' ' ')
check "30 quick reads from one address (5/s, burst 5): some 429 (${codes})" grep -q " 429" <<<"$codes"
check "...the others 200" grep -q " 200" <<<"$codes"
check_eq "...while another address is served" 200 "$(remote 127.0.0.24 "$MOHSTATS_URL/health")"
codes=$(for i in $(seq 1 30); do http_status "$MOHSTATS_URL/health"; echo; done | sort -u | tr '\n' ' ')
check_eq "...and the exempt address (the forum on this host) is not limited" "200 " "$codes"
# Connections that send nothing count too (the TCP side counts each from its accept): four idle ones from
# 127.0.0.2 fill its bound, a fifth is closed at once, 127.0.0.3 is served meanwhile, and the idle ones are
# closed by the HTTP side's client_header_timeout (10 s), after which 127.0.0.2 is served again.
idle=$(python3 - "${MOHSTATS_URL##*:}" <<'PY'
import socket, subprocess, sys, time
port = int(sys.argv[1])
def connect(src):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s
def closed_within(s, seconds):
    # True when the server closes S (EOF or reset) within SECONDS, sending nothing first.
    s.settimeout(seconds)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
def status(src):
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--interface",
                           src, "http://127.0.0.1:%d/health" % port], capture_output=True, text=True).stdout
held = [connect("127.0.0.2") for i in range(4)]
time.sleep(0.5)
fifth = connect("127.0.0.2")
out = ["fifth_closed=%s" % closed_within(fifth, 2), "other=%s" % status("127.0.0.3"), "same=%s" % status("127.0.0.2")]
t0 = time.time()
out.append("idle_closed=%s" % all(closed_within(s, 15 - (time.time() - t0)) for s in held))
out.append("idle_s=%.0f" % (time.time() - t0))
time.sleep(0.5)
out.append("after=%s" % status("127.0.0.2"))
print(" ".join(out))
PY
)
check "four idle connections from 127.0.0.2 (NGINX_CONNS_PER_ADDRESS=4): a fifth is closed at once ($idle)" \
  grep -q "fifth_closed=True" <<<"$idle"
check "...and a request from it gets no answer" grep -q "same=000" <<<"$idle"
check "...while 127.0.0.3 is served" grep -q "other=200" <<<"$idle"
check "...the idle ones are closed within 15 s" grep -q "idle_closed=True" <<<"$idle"
check "...and 127.0.0.2 is served again then" grep -q "after=200" <<<"$idle"
# A body sent a byte every 2 s: the daemon's HTTP_REQUEST_TIMEOUT_MS (4 s here, 30 s by default) cuts it off. (A
# token of the right shape: a malformed one is refused on the headers, before any body.)
trickle=$(python3 - "${MOHSTATS_URL##*:}" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nX-Server-Token: mst_" + b"z" * 53 + b"\r\nContent-Length: 1000\r\n\r\n")
t0 = time.time()
s.settimeout(2)
while time.time() - t0 < 60:
    try:
        s.sendall(b" ")
        d = s.recv(100)
        print("%s %.0f" % (d.split(b" ")[1].decode() if d else "closed", time.time() - t0))
        break
    except socket.timeout:
        pass
    except OSError:
        print("reset %.0f" % (time.time() - t0))
        break
PY
)
check "a body trickled in a byte every 2 s is cut off by a 408 within 10 s ($trickle)" \
  eval '[ "${trickle% *}" = 408 ] && [ "${trickle#* }" -le 10 ]'
# A client pushing bytes as fast as it can is read at NGINX_CONN_BYTES_PER_S (128 KiB/s here, the first second's
# worth at once) unless it is exempt: three 256 KiB bodies on one connection to nginx's own /ops/nginx/health,
# which reads and drops each body, ~4 s from 127.0.0.2 (the socket buffers between take a little at once); from
# 127.0.0.1 no bound.
upload=$(python3 - "${MOHSTATS_URL##*:}" <<'PY'
import socket, sys, time
def seconds(src):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=(src, 0))
    s.settimeout(30)
    body, got, t0 = b"x" * (256 * 1024), b"", time.time()
    for i in range(3):
        s.sendall(b"POST /ops/nginx/health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    while got.count(b"HTTP/1.1 200") < 3:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return "%d:%.1f" % (got.count(b"HTTP/1.1 200"), time.time() - t0)
print("limited=%s exempt=%s" % (seconds("127.0.0.2"), seconds("127.0.0.1")))
PY
)
check "768 KiB from 127.0.0.2 are read at NGINX_CONN_BYTES_PER_S: 2 s or more ($upload)" \
  eval '[[ $upload =~ limited=3:([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 2 ]'
check "...and from an exempt address without that bound: under 2 s" \
  eval '[[ $upload =~ exempt=3:([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -lt 2 ]'
# The token in the query string: failures are not logged with it, on the path's trailing-slash spelling too.
head -c 3000000 /dev/zero >"$STACK_DIR/big.bin"
check_eq "?server_token= on /api/v1/ingest/events/ with a body over nginx's limit: 413" 413 \
  "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$STACK_DIR/big.bin" "$MOHSTATS_URL/api/v1/ingest/events/?server_token=mst_secret_probe")"
rm -f "$STACK_DIR/big.bin"
check "...and nginx's error log does not hold the token" eval '! grep -q mst_secret_probe "$STACK_DIR"/logs/nginx-*.log'

check_eq "the TLS listener (NGINX_TLS) serves the same routes" queryd \
  "$(curl -s --cacert "$TLS_DIR/cert.pem" "https://localhost:$TLS_PORT/health" | jq -r .service)"
rm -rf "$TLS_DIR"

check "stack.sh status: everything runs" "$STACK_SH" status "$STACK_DIR"
check_eq "stack.sh status lists 11 running components" 11 "$("$STACK_SH" status "$STACK_DIR" | grep -c ' running$')"

# --- docker-compose.yml stays consistent with the local stack (it cannot run here) ------------------------------

compose=$MOHSTATS_SRC_DIR/docker-compose.yml
missing=""
while IFS= read -r key; do
  [ "$key" = MOHSTATS_STACK_DIR ] && continue
  grep -qE "^ +$key:" "$compose" || missing+=" $key"
done < <(sed -nE 's/^([A-Z_]+)=.*/\1/p' "$STACK_DIR/stack.env")
check_eq "docker-compose.yml sets every variable of stack.env" "" "$missing"
missing=""
for var in $(cat "$MOHSTATS_SRC_DIR"/deploy/nginx/mohstats{.conf.template,-front.conf.stream-template} |
  grep -oE '\$\{[A-Z_]+\}' | tr -d '{}$' | sort -u); do
  if ! grep -qE "^ +$var:" "$compose" || ! grep -q "NGINX_ENVSUBST_FILTER:.*$var" "$compose" ||
    ! grep -qF "\\\${$var}" "$STACK_SH"; then
    missing+=" $var"
  fi
done
check_eq "the nginx templates' variables are set and listed in compose and stack.sh" "" "$missing"
check "compose mounts the TCP side's template where the image renders stream templates" \
  grep -qF "./deploy/nginx/mohstats-front.conf.stream-template:/etc/nginx/templates/mohstats-front.conf.stream-template:ro" "$compose"
# Credentials under compose, as under stack.sh: each daemon reaches ClickHouse as the user its work needs (never the
# migrations' user), each such user is defined in a users.d file mounted into ClickHouse, and every secret compose
# requires is listed in .env.example.
check_eq "compose: ingestd and ratingd write to ClickHouse as their own user, queryd and achievd read" \
  "achievd=mohstats_read ingestd=mohstats_ingest queryd=mohstats_read ratingd=mohstats_ingest" "$(python3 - "$compose" <<'PY'
import re, sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
print(" ".join(sorted("%s=%s" % (name, re.match(r"http://([^:]+):", svc["environment"]["CLICKHOUSE_URL"]).group(1))
                      for name, svc in services.items() if name in ("ingestd", "queryd", "achievd", "ratingd"))))
PY
)"
missing=""
for user in mohstats_ingest mohstats_read; do
  file=$(grep -l "<$user>" "$MOHSTATS_SRC_DIR"/deploy/clickhouse/*.xml | head -n 1)
  if [ -z "$file" ] || ! grep -qF "./deploy/clickhouse/$(basename "$file"):/etc/clickhouse-server/users.d/" "$compose"; then
    missing+=" $user"
  fi
done
check_eq "compose: those users are defined in users.d files it mounts" "" "$missing"
missing=""
for var in $(grep -oE '\$\{[A-Z_]+:\?' "$compose" | tr -d '${:?' | sort -u); do
  grep -q "^$var=" "$MOHSTATS_SRC_DIR/.env.example" || missing+=" $var"
done
check_eq "compose: every secret it requires is listed in .env.example" "" "$missing"
check_eq "compose: its Redis servers give the daemons' users the rules stack.sh gives them" \
  "achievd:ok ingestd:ok queryd:ok queryd@cache:ok ratingd:ok" "$(python3 - "$compose" "$STACK_SH" <<'PY'
import re, sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
stack = open(sys.argv[2]).read()
rules = lambda var: re.search(var + r"='([^']*)'", stack).group(1).split()
want = {"ingestd": rules("REDIS_ACL_INGESTD"), "queryd": rules("REDIS_ACL_QUERYD"), "achievd": rules("REDIS_ACL_ACHIEVD"),
        "ratingd": rules("REDIS_ACL_RATINGD"),
        "queryd@cache": rules("CACHE_ACL_QUERYD")}
out = []
for server, suffix in (("redis", ""), ("cache", "@cache")):
    args = services[server]["command"]
    starts = [i for i, a in enumerate(args) if a == "--user"] + [len(args)]
    for a, b in zip(starts, starts[1:]):
        name = args[a + 1] + suffix
        # --user NAME on >PASSWORD RULES...
        out.append("%s:%s" % (name, "ok" if args[a + 2] == "on" and args[a + 4:b] == want.get(name) else "differs"))
print(" ".join(sorted(out)))
PY
)"

# --- crash and recovery ----------------------------------------------------------------------------------------

redis_cmd SET mohstats:test:durable kept >/dev/null
queryd_pid=$(cat "$STACK_DIR/run/queryd.pid")
redis_pid=$(cat "$STACK_DIR/run/redis.pid")
kill -KILL "$queryd_pid" "$redis_pid"
check "killed queryd and redis are gone" retry 5 eval "! pid_running $queryd_pid && ! pid_running $redis_pid"
# /ready of a daemon that uses Redis now says 503 and names it.
for d in ingestd achievd; do
  check_eq "$d /ready is 503 while redis is down" 503 "$(http_status "$MOHSTATS_URL/ops/$d/ready")"
  check "$d /ready names redis" retry 3 eval "curl -s '$MOHSTATS_URL/ops/$d/ready' | jq -e '.error | test(\"redis\")' >/dev/null"
done
check_eq "authd (no redis) stays ready" 200 "$(http_status "$MOHSTATS_URL/ops/authd/ready")"
if "$STACK_SH" status "$STACK_DIR" >/dev/null; then fail "status notices the crash"; else pass "status notices the crash"; fi
check "stack.sh up brings them back" "$STACK_SH" up "$STACK_DIR"
check "stack.sh status: everything runs again" "$STACK_SH" status "$STACK_DIR"
check_eq "redis kept the key written before the crash (AOF)" kept "$(redis_cmd GET mohstats:test:durable)"
check_eq "queryd answers again through nginx" queryd "$(json_get "$MOHSTATS_URL/ops/queryd/health" .service)"
check_eq "the other daemons were left alone" 1 "$(pid_running "$(cat "$STACK_DIR/run/ingestd.pid")" && echo 1)"
check_eq "postgres data survived" 1 "$(pg_query "SELECT count(*) FROM smf_user_mappings WHERE smf_member_id = 42")"

# --- each daemon: --help, and a clean exit on SIGTERM ---------------------------------------------------------

for d in "${DAEMONS[@]}"; do
  upper=$(tr a-z A-Z <<<"$d")
  check "$d --help exits 0 and documents ${upper}_URL" eval "'$MOHSTATS_BIN_DIR/$d' --help | grep ${upper}_URL >/dev/null"
  check_eq "$d rejects an unknown argument with exit 2" 2 "$("$MOHSTATS_BIN_DIR/$d" --bogus >/dev/null 2>&1; echo $?)"
done
for d in "${DAEMONS[@]}"; do
  pid=$(cat "$STACK_DIR/run/$d.pid")
  kill -TERM "$pid"
  check "$d exits on SIGTERM" retry 10 eval "! pid_running $pid"
  check "$d logged a clean stop" grep -q " INFO stopped" "$STACK_DIR/logs/$d.log"
done
check "stack.sh up restarts the stopped daemons" "$STACK_SH" up "$STACK_DIR"

# --- queryd's ClickHouse bounds are in force ---------------------------------------------------------------------

# QUERY_CH_MAX_ROWS (max_rows_to_read) on every query of queryd's: a queryd started with a bound of 1 row gets
# ClickHouse's refusal for a stats read over a few events, answers 500 saying where the error is, and logs which
# limit it was. (No board is built at start: that would be refused too, and /ready waits for the boards.)
token=$(curl -s -X POST "$MOHSTATS_URL/api/v1/servers/register" -H 'Content-Type: application/json' \
  -d '{"name": "Bounds", "ip_address": "127.0.0.1", "port": "12399"}' | jq -r .token)
for f in "$MOHSTATS_SRC_DIR"/tests/integration/data/wire_4_*.json; do
  curl -s -o /dev/null -X POST "$MOHSTATS_URL/api/v1/ingest/events" -H "X-Server-Token: $token" --data-binary @"$f"
done
check "a few events reach ClickHouse" retry 20 eval "[ \"\$(ch_query 'SELECT count() FROM match_summary')\" -ge 2 ]"
stop_queryd() {
  local pid
  pid=$(cat "$STACK_DIR/run/queryd.pid")
  kill -TERM "$pid"
  retry 10 eval "! pid_running $pid"
}
stop_queryd
check "queryd comes back with QUERY_CH_MAX_ROWS=1" env QUERY_CH_MAX_ROWS=1 QUERY_BOARD_WARM=0 "$STACK_SH" up "$STACK_DIR"
out=$(curl -s -w ' %{http_code}' "$MOHSTATS_URL/api/v1/stats/matches?limit=5")
check_eq "a read over the bound: 500, pointing at the log" \
  '{"error":"The statistics query failed; the error is in queryd'"'"'s log."} 500' "$out"
check "...whose line names the limit" grep -q "Limit for rows to read exceeded: .* maximum: 1" "$STACK_DIR/logs/queryd.log"
stop_queryd
check "queryd comes back with its default bounds" "$STACK_SH" up "$STACK_DIR"
check_eq "...and the same read is answered" 200 "$(http_status "$MOHSTATS_URL/api/v1/stats/matches?limit=5")"

# --- ready means ready; a failed up leaves nothing behind ------------------------------------------------------

# dir_processes DIR: the pids of processes that belong to the stack in DIR (its path in their command line or
# working directory, or MOHSTATS_STACK_DIR=DIR in their environment), as stack.sh tells its own.
dir_processes() {
  local f pid
  for f in /proc/[0-9]*; do
    pid=${f#/proc/}
    [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
    if tr '\0' '\n' 2>/dev/null <"$f/cmdline" | grep -qF "$1/" ||
      [[ $(readlink "$f/cwd" 2>/dev/null) == "$1"* ]] ||
      tr '\0' '\n' 2>/dev/null <"$f/environ" | grep -qxF "MOHSTATS_STACK_DIR=$1"; then
      pid_running "$pid" && echo "$pid"
    fi
  done
  return 0
}
other=$(mktemp -d /tmp/mohstats-test.XXXXXX)
echo $$ >"$other/owner.pid"
nginx_port=${MOHSTATS_URL##*:}
# The second stack's nginx gets no TLS listener (this stack's has the port).
export NGINX_TLS=
# nginx's port held by another process (this stack's nginx): nothing starts, and the error names the port.
out=$("$STACK_SH" up "$other" --port "$nginx_port" 2>&1) && rc=0 || rc=$?
check "up with nginx's port in use fails" test "$rc" -ne 0
check "...naming the port and its holder" grep -q "port $nginx_port (nginx) is in use by pid [0-9]* (nginx)" <<<"$out"
check_eq "...and starts nothing" "" "$(dir_processes "$other")"
# A daemon that cannot start: the servers and daemons that this up started are stopped again.
fakebin=$(mktemp -d /tmp/mohstats-bin.XXXXXX)
for d in ingestd authd achievd ratingd; do ln -s "$MOHSTATS_BIN_DIR/$d" "$fakebin/$d"; done
printf '#!/bin/sh\necho "queryd: broken on purpose" >&2\nexit 1\n' >"$fakebin/queryd"
chmod +x "$fakebin/queryd"
out=$(MOHSTATS_BIN_DIR=$fakebin "$STACK_SH" up "$other" --port 0 2>&1) && rc=0 || rc=$?
check "up with a daemon that cannot start fails" test "$rc" -ne 0
check "...naming it" grep -q "could not start: queryd" <<<"$out"
grep -q "could not start: queryd" <<<"$out" || tail -n 8 <<<"$out" | sed 's/^/  up: /'
check "...and stops what it started" grep -q "up failed: stopping what it started (clickhouse redis cache postgres mariadb ingestd authd achievd ratingd)" <<<"$out"
check_eq "...so nothing of it runs" "" "$(dir_processes "$other")"
rm -rf "$fakebin"
# Then a good up on the same directory: one ClickHouse, every daemon ready, status agrees, down stops it all.
check "up on the same directory then succeeds" "$STACK_SH" up "$other" --port 0
check_eq "...with one ClickHouse on its data" 1 \
  "$(for p in $(dir_processes "$other"); do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done | grep -c '^clickhouse-server')"
check "...and status says every component runs (and every daemon is ready)" "$STACK_SH" status "$other"
check_eq "...all 11" 11 "$("$STACK_SH" status "$other" | grep -c ' running$')"
# Servers and daemons running without their pid files (as an `up` of an older stack.sh that failed part-way
# left them) are found by their ports and recorded: status sees them, up starts no second one, down stops them.
rm -f "$other"/run/{clickhouse,redis,queryd,nginx}.pid
check_eq "...pid files lost: status finds all 11 running" 11 "$("$STACK_SH" status "$other" 2>/dev/null | grep -c ' running$')"
rm -f "$other"/run/{clickhouse,mariadb,authd}.pid
check "...and up" "$STACK_SH" up "$other"
check_eq "...starts no second ClickHouse" 1 \
  "$(for p in $(dir_processes "$other"); do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done | grep -c '^clickhouse-server')"
rm -f "$other"/run/{clickhouse,cache,ingestd,nginx}.pid
check "...and down stops it" "$STACK_SH" down "$other"
check_eq "...all of it" "" "$(dir_processes "$other")"
rm -rf "$other"

# --- behind a load balancer speaking the PROXY protocol (NGINX_LISTEN_PARAMS) ---------------------------------

check "up with NGINX_LISTEN_PARAMS=proxy_protocol (and realip from it) reloads nginx" env NGINX_LISTEN_PARAMS=proxy_protocol \
  NGINX_REAL_IP='set_real_ip_from 127.0.0.1;' "$STACK_SH" up "$STACK_DIR"
# proxied ADDRESS PATH: the status of GET PATH sent after a PROXY header naming ADDRESS as the client.
proxied() {
  python3 - "${MOHSTATS_URL##*:}" "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(("PROXY TCP4 %s 127.0.0.1 40000 %s\r\nGET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
           % (sys.argv[2], sys.argv[1], sys.argv[3])).encode())
print(s.recv(100).split(b" ")[1].decode())
PY
}
check "the front door takes the PROXY protocol: /health is 200" retry 5 eval '[ "$(proxied 192.0.2.30 /health)" = 200 ]'
check_eq "...and believes the client it names: /metrics is 403 for 192.0.2.30, 200 for 127.0.0.1" "403 200" \
  "$(proxied 192.0.2.30 /metrics) $(proxied 127.0.0.1 /metrics)"
check_eq "...a request without the PROXY header gets nothing" 000 "$(http_status "$MOHSTATS_URL/health")"
# The bound is per client the PROXY header names (the load balancer's own address is not the one counted).
bound=$(python3 - "${MOHSTATS_URL##*:}" <<'PY'
import socket, sys, time
def proxied(client):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
    s.sendall(("PROXY TCP4 %s 127.0.0.1 40000 %s\r\n" % (client, sys.argv[1])).encode())
    return s
def get(s):
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        d = s.recv(100)
        return d.split(b" ")[1].decode() if d else "closed"
    except OSError:
        return "closed"
held = [proxied("192.0.2.40") for i in range(4)]
time.sleep(0.5)
print(get(proxied("192.0.2.40")), get(proxied("192.0.2.41")))
PY
)
check_eq "...four idle connections for 192.0.2.40: its fifth is closed, 192.0.2.41 is served" "closed 200" "$bound"
# A PROXY header is believed only from the balancers NGINX_REAL_IP names: a client reaching the port itself from
# another address cannot name 127.0.0.1 (private) for itself. Only 127.0.0.1 is private here, 127.0.0.20 the
# balancer.
check "up with the balancer at 127.0.0.20 and only 127.0.0.1 private" env NGINX_LISTEN_PARAMS=proxy_protocol \
  NGINX_REAL_IP='set_real_ip_from 127.0.0.20;' NGINX_PRIVATE_NETS='127.0.0.1 1;' NGINX_EXEMPT_NETS='127.0.0.1 1;' \
  "$STACK_SH" up "$STACK_DIR"
spoof=$(python3 - "${MOHSTATS_URL##*:}" <<'PY'
import socket, sys
def metrics(source):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5, source_address=(source, 0))
        s.sendall(("PROXY TCP4 127.0.0.1 127.0.0.1 40000 %s\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n"
                   "Connection: close\r\n\r\n" % sys.argv[1]).encode())
        d = s.recv(100)
        return d.split(b" ")[1].decode() if d else "closed"
    except OSError:
        return "closed"
print(metrics("127.0.0.20"), metrics("127.0.0.21"))
PY
)
check_eq "...a header naming 127.0.0.1 opens /metrics from the balancer only (200), not from 127.0.0.21 (403)" \
  "200 403" "$spoof"
out=$(NGINX_REAL_IP='set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;' "$STACK_SH" up "$STACK_DIR" 2>&1) && rc=0 || rc=$?
check "...NGINX_REAL_IP in its old HTTP form is refused, saying what it takes now" \
  eval '[ "$rc" -ne 0 ] && grep -q "NGINX_REAL_IP takes only" <<<"$out"'
check "up without it: plain HTTP again" "$STACK_SH" up "$STACK_DIR"
check "...answered" retry 5 eval '[ "$(http_status "$MOHSTATS_URL/health")" = 200 ]'

# --- down ------------------------------------------------------------------------------------------------------

pids=$(stack_pids)
check "stack.sh down" "$STACK_SH" down "$STACK_DIR"
left=""
for p in $pids; do pid_running "$p" && left+=" $p"; done
check_eq "no process of the stack is left after down" "" "$left"
if "$STACK_SH" status "$STACK_DIR" >/dev/null; then fail "status says stopped after down"; else pass "status says stopped after down"; fi
check "stack.sh down again is harmless" "$STACK_SH" down "$STACK_DIR"

finish
