#!/usr/bin/env bash
# MQTT ingest (issue 23) through a real mosquitto, mosquitto_pub standing in for the tracker (same topic, same
# bytes, QoS 0): the docs/tracker-wire.md §4 examples land as over HTTP; logins are checked against the servers'
# tokens and client ids (wrong password, another server's topic or client id, ingestd's client id, a revoked server:
# refused; a denied publish is in the broker's log); a malformed message is counted; with ingestd killed (SIGKILL)
# and the broker restarted, every message published meanwhile is stored exactly once; a backlog over a server's byte
# budget is held back and stored, not refused, and a flood past what its budget passes in MQTT_HOLD_MAX_MS is
# refused while other servers' messages are stored; with ingestd killed and then the broker restarted while thousands of
# messages are being taken (under load), and with the broker killed (SIGKILL) meanwhile, every event is stored
# exactly once; with Redis stopped, messages are spooled, and sent again by the broker (restarted from an older
# save), spooled again, and sent a third time once Redis is back: each is stored once; with Redis down and the spool
# full, a batch over HTTP gets a 503 and a message over MQTT stays with the broker, and is stored once when Redis is
# back; a subscription granted with QoS 0 is refused.
# One build (sanitizer): most of its time is a fault test's (ingestd killed, the broker restarted and killed, Redis
# stopped, each under load and counted end to end), which runs once, where ASan also sees the reconnect, hold-back
# and spool paths; the MQTT code is the same in the plain build.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
DATA=$(dirname "$0")/data

# New and revoked tokens reach the broker within this.
export MQTT_ACCOUNTS_REFRESH_MS=500
# The loads below replay one server's 5 MB backlog at once, more than its byte budget's burst (the default
# INGEST_SERVER_BURST_BYTES, 2 MB): over MQTT the rest is held back and stored as the budget allows, none dropped.
stack_up --mqtt || exit 1
# shellcheck disable=SC1091
MQTT_PORT=$(. "$STACK_DIR/state.env" && echo "$MQTT_PORT")

# create NAME PORT: a pinned server; sets SID and TOKEN.
create() {
  local out
  out=$("$MOHSTATS_BIN_DIR/ingestd" servers create --name "$1" --ip 203.0.113.50 --port "$2")
  SID=$(sed -n 's/^server_id: *//p' <<<"$out") TOKEN=$(sed -n 's/^token: *//p' <<<"$out")
}
create "MQTT A" 12301 && A_ID=$SID A_TOKEN=$TOKEN
create "MQTT B" 12302 && B_ID=$SID B_TOKEN=$TOKEN
create "HTTP twin" 12303 && H_ID=$SID H_TOKEN=$TOKEN
check "three servers created" test -n "$A_TOKEN" -a -n "$B_TOKEN" -a -n "$H_TOKEN"
check "ingestd exports them for the broker" retry 10 eval "[ \"\$(wc -l <'$STACK_DIR/mqtt/accounts')\" -ge 3 ]"

# publish ID TOKEN TOPIC_ID [mosquitto_pub args...]: publish as the tracker does (client id opm-game-<id>, QoS 0).
publish() {
  local id=$1 token=$2 topic=$3
  shift 3
  mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -i "opm-game-$id" -u "$id" -P "$token" -t "openmohaa/events/$topic" -q 0 "$@"
}
metric() { curl -s "$INGESTD_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
count_of() { ch_query "SELECT count() FROM raw_events WHERE server_id = '$1'"; }
# named_count SERVER NAME: the stored events of SERVER's player NAME. stored_once SERVER NAME: their count and how
# many distinct game times (each event of a section has its own): "N N" when each is stored once.
named_count() { ch_query "SELECT count() FROM raw_events WHERE server_id = '$1' AND actor_name = '$2'"; }
stored_once() {
  ch_query "SELECT count(), uniqExact(game_time) FROM raw_events WHERE server_id = '$1' AND actor_name = '$2'" | tr '\t' ' '
}

# --- the §4 examples: over MQTT as over HTTP -----------------------------------------------------------------------

for f in wire_4_1_kill wire_4_2_chat wire_4_3_match_end; do
  check "$f over MQTT: published" publish "$A_ID" "$A_TOKEN" "$A_ID" -f "$DATA/$f.json"
  check_eq "$f over HTTP: 202" 202 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$MOHSTATS_URL/api/v1/ingest/events" \
    -H 'Content-Type: application/json' -H "X-Server-Token: $H_TOKEN" --data-binary @"$DATA/$f.json")"
done
n_http=$(retry 20 eval "[ \"\$(count_of '$H_ID')\" -gt 0 ]" && count_of "$H_ID")
check "the HTTP twin's events are in ClickHouse" test "${n_http:-0}" -gt 0
check "the MQTT server's events are in ClickHouse, as many as the twin's" retry 20 eval "[ \"\$(count_of '$A_ID')\" = '$n_http' ]"
# Every column but the ones that differ by sender and by arrival (ids, server, receive time, the match key, which
# names the server).
cols=$(ch_query "SELECT arrayStringConcat(groupArray(name), ', ') FROM system.columns WHERE database = 'mohstats'
  AND table = 'raw_events' AND name NOT IN ('event_id', 'batch_id', 'server_id', 'received_at', 'received_ms', 'match_key')")
rows_of() { ch_query "SELECT $cols FROM raw_events WHERE server_id = '$1' ORDER BY game_time, event_type, raw"; }
check_eq "the MQTT rows equal the HTTP rows, column by column" "$(rows_of "$H_ID")" "$(rows_of "$A_ID")"

# --- logins and topics ---------------------------------------------------------------------------------------------

check "a wrong password is refused" eval "! publish '$A_ID' wrong '$A_ID' -m '[]' 2>/dev/null"
check "...and the broker's log names the server and says why" grep -q "refused the login of $A_ID as client opm-game-$A_ID: wrong token" \
  "$STACK_DIR/logs/mqtt.log"
check "no credentials are refused" eval "! mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -t 'openmohaa/events/$A_ID' -m '[]' 2>/dev/null"
# A client that logs in with another's client id takes over its session (and a persistent session's queue).
ingestd_client=$(sed -n 's/.*(session \(mohstats-ingestd-[^)]*\)).*/\1/p' "$STACK_DIR/logs/ingestd.log" | tail -1)
check "ingestd's client id is in its log" test -n "$ingestd_client"
check "a server cannot log in with ingestd's client id" eval "! mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT \
  -i '$ingestd_client' -u '$A_ID' -P '$A_TOKEN' -t 'openmohaa/events/$A_ID' -m '[]' 2>/dev/null"
check "...nor with another server's" eval "! mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i 'opm-game-$B_ID' \
  -u '$A_ID' -P '$A_TOKEN' -t 'openmohaa/events/$A_ID' -m '[]' 2>/dev/null"
check "...and the broker's log says why" grep -q "refused the login of $A_ID as client opm-game-$B_ID" \
  "$STACK_DIR/logs/mqtt.log"
check "the tracker's client id before it has a server id is taken" mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" \
  -i opm-game-unknown -u "$A_ID" -P "$A_TOKEN" -t openmohaa/events/unknown -m '[]'
received=$(metric mohstats_mqtt_received_total)
# MQTT 3.1.1 has no refusal for a publish: the broker drops it. QoS 1 so that the broker has handled it when
# mosquitto_pub returns.
publish "$A_ID" "$A_TOKEN" "$B_ID" -q 1 -f "$DATA/wire_4_3_match_end.json"
publish "$A_ID" "$A_TOKEN" unknown -q 1 -f "$DATA/wire_4_3_match_end.json"
publish "$B_ID" "$B_TOKEN" "$B_ID" -q 1 -m '[{"type": "jump", "player_guid": "1", "timestamp": "1.000"}]'
check "B's own message arrives" retry 10 eval "[ \"\$(count_of '$B_ID')\" = 1 ]"
check_eq "A's messages to B's topic and to openmohaa/events/unknown never reach ingestd" $((received + 1)) \
  "$(metric mohstats_mqtt_received_total)"
check_eq "...nor ClickHouse" 1 "$(count_of "$B_ID")"
check "the broker logs a denied publish" grep -q \
  "denied game server $A_ID (client opm-game-unknown) publishing to openmohaa/events/unknown" "$STACK_DIR/logs/mqtt.log"

# --- refusals: counted by reason, never retried ------------------------------------------------------------------

publish "$B_ID" "$B_TOKEN" "$B_ID" -m '[{"type": 5'
check "a malformed message is counted (outcome malformed_body)" \
  retry 10 eval "[ \"\$(metric 'mohstats_mqtt_messages_total{outcome=\"malformed_body\"}')\" = 1 ]"
check "...and logged" grep -q "rejected batch from mqtt server $B_ID: 400" "$STACK_DIR/logs/ingestd.log"
# Larger than an HTTP body may be (1 MiB), which the broker would carry.
head -c 1100000 /dev/zero | tr '\0' ' ' >"$STACK_DIR/big.json"
publish "$B_ID" "$B_TOKEN" "$B_ID" -f "$STACK_DIR/big.json"
check "a message over 1 MiB is refused as too_large" \
  retry 10 eval "[ \"\$(metric 'mohstats_mqtt_messages_total{outcome=\"too_large\"}')\" = 1 ]"

# --- revocation ----------------------------------------------------------------------------------------------------

# B stays connected, as a tracker does (it listens to its commands topic).
logins_of_b() { grep -c "as opm-game-$B_ID " "$STACK_DIR/logs/mqtt.log"; }
ends_of_b() { grep -c "Client opm-game-$B_ID been disconnected by administrative action" "$STACK_DIR/logs/mqtt.log"; }
n_logins=$(logins_of_b)
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -i "opm-game-$B_ID" -u "$B_ID" -P "$B_TOKEN" -t "openmohaa/commands/$B_ID" \
  -q 1 >/dev/null 2>&1 &
SUB_PID=$!
check "B stays connected" retry 5 eval "[ \"\$(logins_of_b)\" -gt $n_logins ]"
n_ends=$(ends_of_b)
"$MOHSTATS_BIN_DIR/ingestd" servers revoke "$B_ID" >/dev/null
# (Closed before B's client id logs in again below: a login that got in before the broker read the revocation
# would take over the listener's session.)
check "a revoked server's open connection is closed" retry 10 eval "[ \"\$(ends_of_b)\" -gt $n_ends ]"
check "...and it cannot log in any more" retry 10 eval "! publish '$B_ID' '$B_TOKEN' '$B_ID' -m '[]' 2>/dev/null"
check "...and the broker's log says why" grep -q "refused the login of $B_ID as client opm-game-$B_ID: no active game server" \
  "$STACK_DIR/logs/mqtt.log"
kill "$SUB_PID" 2>/dev/null
wait "$SUB_PID" 2>/dev/null

# --- nothing lost: ingestd killed, the broker restarted -----------------------------------------------------------

N=60
before=$(count_of "$A_ID")
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -KILL "$pid"
check "ingestd is gone" retry 10 eval "! kill -0 $pid 2>/dev/null"
# The tracker's own bytes, one event per message, each with its number in the game time.
for i in $(seq 1 $N); do
  publish "$A_ID" "$A_TOKEN" "$A_ID" -m "[{\"type\": \"jump\", \"player_guid\": \"9\", \"player_name\": \"Restart\", \"timestamp\": \"$i.000\", \"match_id\": \"no_match\", \"session_id\": \"sess_restart\"}]" ||
    fail "publish $i"
  # Halfway, the broker restarts (a clean stop writes the queued messages to disk).
  if [ "$i" = $((N / 2)) ]; then
    mpid=$(cat "$STACK_DIR/run/mqtt.pid")
    kill -TERM "$mpid"
    retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not stop"
    "$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (broker and ingestd back)"
  fi
done
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up after the messages"
check "every message published while ingestd was down or the broker restarted is stored" \
  retry 30 eval "[ \"\$(count_of '$A_ID')\" -ge $((before + N)) ]"
sleep 2
check_eq "...exactly once" "$N $N" "$(stored_once "$A_ID" Restart)"

# --- a backlog over the byte budget's burst ------------------------------------------------------------------------

# After an outage the broker replays a server's queue at once: here 500 messages of 10 events, 0.7 MB, five times
# the burst, both lowered for this ingestd (128 KB, and 128 KB/s: the defaults, 2 MB and 256 KB/s, needed a
# backlog of 8.6 MB and 26 s to show the same). The broker sends 200 at once (MQTT_MAX_IN_FLIGHT, lowered too),
# 290 KB, over the burst however slowly ingestd runs, and ingestd stops reading while the held ones fill that
# window. Over HTTP the rest would be refused (429); over MQTT it waits, unacknowledged, and is stored later.
awk 'BEGIN { for (i = 1; i <= 500; i++) { s = "["; for (k = 0; k < 10; k++)
  s = s sprintf("%s{\"type\": \"jump\", \"player_guid\": \"6\", \"player_name\": \"Backlog\", \"timestamp\": \"%d.000\", \"match_id\": \"no_match\", \"session_id\": \"sess_backlog\"}", k ? ", " : "", i * 10 + k)
  print s "]" } }' >"$STACK_DIR/backlog.txt"
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -TERM "$pid"
retry 15 eval "! kill -0 $pid 2>/dev/null" || fail "ingestd did not stop"
check "a backlog of $(wc -c <"$STACK_DIR/backlog.txt") bytes published" publish "$A_ID" "$A_TOKEN" "$A_ID" -l <"$STACK_DIR/backlog.txt"
INGEST_SERVER_BURST_BYTES=131072 INGEST_SERVER_BYTES_PER_S=131072 MQTT_MAX_IN_FLIGHT=200 \
  "$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (ingestd back)"
backlog_count() { named_count "$A_ID" Backlog; }
check "every event of the backlog is stored" retry 60 eval "[ \"\$(backlog_count)\" -ge 5000 ]"
check_eq "...exactly once" "5000 5000" "$(stored_once "$A_ID" Backlog)"
check "...the messages past the burst held back, none refused" eval "[ \"\$(metric mohstats_mqtt_held_total)\" -gt 0 ] &&
  [ -z \"\$(metric 'mohstats_mqtt_messages_total{outcome=\"over_budget\"}')\" ]"

# A held message holds back the acknowledgement of every later one (PUBACKs go in order), so a hold is bounded: a
# message the budget would pass only after MQTT_HOLD_MAX_MS (10 s) is refused as over HTTP (429). Here the HTTP
# twin floods 200 messages of 50 events (1.6 MB, over the 128 KB burst plus 10 s at 128 KB/s): some are held and
# stored, the rest refused, and A's messages published after the flood are stored meanwhile.
awk 'BEGIN { for (i = 1; i <= 200; i++) { s = "["; for (k = 0; k < 50; k++)
  s = s sprintf("%s{\"type\": \"jump\", \"player_guid\": \"5\", \"player_name\": \"Flood\", \"timestamp\": \"%d.000\", \"match_id\": \"no_match\", \"session_id\": \"sess_flood_%032d\"}", k ? ", " : "", i * 50 + k, i)
  print s "]" } }' >"$STACK_DIR/flood.txt"
check "a flood of $(wc -c <"$STACK_DIR/flood.txt") bytes published" publish "$H_ID" "$H_TOKEN" "$H_ID" -l <"$STACK_DIR/flood.txt"
publish "$A_ID" "$A_TOKEN" "$A_ID" -m '[{"type": "jump", "player_guid": "6", "player_name": "AfterFlood", "timestamp": "1.000"}]'
over_budget() { metric 'mohstats_mqtt_messages_total{outcome="over_budget"}'; }
flood_count() { named_count "$H_ID" Flood; }
check "...the messages past what 10 s of budget passes are refused (over_budget)" \
  retry 30 eval "[ \"\$(over_budget)\" -gt 0 ] 2>/dev/null"
check "...another server's message is stored meanwhile" retry 30 eval "[ \"\$(ch_query \"SELECT count() FROM raw_events
  WHERE server_id = '$A_ID' AND actor_name = 'AfterFlood'\")\" = 1 ]"
check "...every message is either stored, whole, or refused" retry 60 eval "[ \$((\$(flood_count) / 50 + \$(over_budget))) = 200 ]"
flooded=$(flood_count)
check_eq "...each stored event once" "$flooded $flooded" "$(stored_once "$H_ID" Flood)"

# --- under load: ingestd killed mid-stream, then the broker restarted mid-stream ---------------------------------

# The messages between their PUBACK and their XADD were what a SIGKILL lost while libmosquitto acknowledged on
# read: here ingestd is killed while hundreds are in flight (MQTT_MAX_IN_FLIGHT), and the broker is stopped while
# the next ingestd has hundreds in flight, some of them stored and not acknowledged yet. The messages are all
# published first (QoS 0 into the broker, which queues them for ingestd's session), so that the broker's restart
# cannot lose any on the publisher's side (what can be lost there is README's, Known limits).
M=3000 E=10
awk -v m=$M -v e=$E 'BEGIN { for (i = 1; i <= m; i++) { s = "["; for (k = 0; k < e; k++)
  s = s sprintf("%s{\"type\": \"jump\", \"player_guid\": \"7\", \"player_name\": \"Load\", \"timestamp\": \"%d.000\", \"match_id\": \"no_match\", \"session_id\": \"sess_load\"}", k ? ", " : "", i * e + k)
  print s "]" } }' >"$STACK_DIR/load.txt"
accepted() { metric 'mohstats_mqtt_messages_total{outcome="accepted"}'; }
# ingestd is stopped while the messages are published, so that all of them wait in its session.
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -TERM "$pid"
retry 15 eval "! kill -0 $pid 2>/dev/null" || fail "ingestd did not stop"
check "$M messages of $E events published" publish "$A_ID" "$A_TOKEN" "$A_ID" -l <"$STACK_DIR/load.txt"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (ingestd back)"
check "ingestd takes a quarter of them" retry 60 eval "[ \"\$(accepted)\" -ge $((M / 4)) ] 2>/dev/null"
# Read just before the kill: the next ingestd gets at least the rest. (Waiting for "another quarter" failed at a load
# of 40-50: the first one takes its budget's 2 MB burst, some 1,400 messages, at once, and by the time a slow poll
# saw a quarter it could have taken more than three.)
taken=$(accepted)
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -KILL "$pid"
retry 10 eval "! kill -0 $pid 2>/dev/null" || fail "ingestd did not die"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (ingestd back after SIGKILL)"
next=$(((M - ${taken:-0}) / 2))
[ $next -le $((M / 4)) ] || next=$((M / 4))
echo "# the killed ingestd had acknowledged at most ${taken:-?} of $M; the next one is restarted once it took $next"
check "the next ingestd takes half of the rest, at most a quarter" \
  retry 60 eval "[ \"\$(accepted)\" -ge $next ] 2>/dev/null"
mpid=$(cat "$STACK_DIR/run/mqtt.pid")
kill -TERM "$mpid"
retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not stop"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (broker back)"
load_count() { named_count "$A_ID" Load; }
check "every event of the load is stored" retry 120 eval "[ \"\$(load_count)\" -ge $((M * E)) ]"
sleep 3
check_eq "...exactly once" "$((M * E)) $((M * E))" "$(stored_once "$A_ID" Load)"
echo "# redelivered by the broker (DUP) to the last ingestd: $(metric mohstats_mqtt_redelivered_total);" \
  "batches the writer found in ClickHouse already: $(metric mohstats_writer_duplicates_skipped_total)"

# --- the broker killed (SIGKILL) mid-stream ------------------------------------------------------------------------

# A broker that crashes restarts from its last save (autosave_interval, 5 s): it sends again what it had sent since,
# some of it stored and acknowledged already, and the messages it had not sent at that save carry no DUP mark. Their
# appends find their batches' dedupe keys (mqtt_ingest_messages.c, point 3): each event is stored once. The messages
# are all queued, and saved (a clean restart of the broker writes its file), before ingestd reads them, so that the
# crash loses none.
sed 's/"Load"/"Crash"/g' "$STACK_DIR/load.txt" >"$STACK_DIR/crash.txt"
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -TERM "$pid"
retry 15 eval "! kill -0 $pid 2>/dev/null" || fail "ingestd did not stop"
check "$M more messages published" publish "$A_ID" "$A_TOKEN" "$A_ID" -l <"$STACK_DIR/crash.txt"
mpid=$(cat "$STACK_DIR/run/mqtt.pid")
kill -TERM "$mpid"
retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not stop"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (ingestd back)"
check "ingestd takes a third of them" retry 60 eval "[ \"\$(accepted)\" -ge $((M / 3)) ] 2>/dev/null"
mpid=$(cat "$STACK_DIR/run/mqtt.pid")
kill -KILL "$mpid"
retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not die"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (broker back after SIGKILL)"
crash_count() { named_count "$A_ID" Crash; }
check "every event published before the crash is stored" retry 120 eval "[ \"\$(crash_count)\" -ge $((M * E)) ]"
sleep 3
check_eq "...exactly once" "$((M * E)) $((M * E))" "$(stored_once "$A_ID" Crash)"

# --- Redis down: spooled, sent again, stored once -----------------------------------------------------------------

# With Redis stopped ingestd stores each message in its spool and acknowledges it. The broker then sends them all
# again: killed, and restarted from a save taken before ingestd had them (a copy of its file), as a crash before
# its autosave does. (The paused ingestd may also read them from the first broker's connection, which then breaks
# before their PUBACKs: more copies, the same outcome.) ingestd spools the copies too; once Redis is back the replay meets each batch's dedupe key
# (stream.h), and each event is stored once. Then, Redis up, the broker sends them a third time, long after the
# first copies were stored: the appends find the keys, and nothing is added.
K=200
already() { metric "mohstats_stream_already_stored_total{when=\"$1\"}"; }
# restart_broker_from SAVED: the broker killed and started again from the persistence file SAVED.
restart_broker_from() {
  local mpid
  mpid=$(cat "$STACK_DIR/run/mqtt.pid")
  kill -KILL "$mpid"
  retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not die"
  cp "$1" "$STACK_DIR/mqtt/mosquitto.db"
  (cd "$STACK_DIR/mqtt" && mosquitto -c "$STACK_DIR/etc/mosquitto.conf" -d) </dev/null >>"$STACK_DIR/logs/mqtt.log" 2>&1 ||
    fail "mosquitto did not start"
}
awk -v k=$K 'BEGIN { for (i = 1; i <= k; i++) { s = "["; for (e = 0; e < 5; e++)
  s = s sprintf("%s{\"type\": \"jump\", \"player_guid\": \"8\", \"player_name\": \"Spooled\", \"timestamp\": \"%d.000\", \"match_id\": \"no_match\", \"session_id\": \"sess_spool\"}", e ? ", " : "", i * 5 + e)
  print s "]" } }' >"$STACK_DIR/spooled.txt"
rpid=$(cat "$STACK_DIR/run/redis.pid")
kill -TERM "$rpid"
retry 30 eval "! kill -0 $rpid 2>/dev/null" || fail "redis did not stop"
# ingestd is paused while they are published, so that they wait in its session, sent and not acknowledged.
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -STOP "$pid"
check "$K messages of 5 events published with Redis down" publish "$A_ID" "$A_TOKEN" "$A_ID" -l <"$STACK_DIR/spooled.txt"
mpid=$(cat "$STACK_DIR/run/mqtt.pid")
kill -TERM "$mpid"
retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not stop"
cp "$STACK_DIR/mqtt/mosquitto.db" "$STACK_DIR/mosquitto-saved.db"
(cd "$STACK_DIR/mqtt" && mosquitto -c "$STACK_DIR/etc/mosquitto.conf" -d) </dev/null >>"$STACK_DIR/logs/mqtt.log" 2>&1 ||
  fail "mosquitto did not start"
kill -CONT "$pid"
taken=$(accepted)
check "ingestd spools them and acknowledges them" retry 60 eval "[ \"\$(accepted)\" -ge $((taken + K)) ]"
restart_broker_from "$STACK_DIR/mosquitto-saved.db"
check "the broker sends them again, and ingestd spools them again" \
  retry 60 eval "[ \"\$(accepted)\" -ge $((taken + 2 * K)) ]"
check_eq "...and nothing reached ClickHouse meanwhile" 0 \
  "$(ch_query "SELECT count() FROM raw_events WHERE server_id = '$A_ID' AND actor_name = 'Spooled'")"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (Redis back)"
spooled_count() { named_count "$A_ID" Spooled; }
check "once Redis is back, the spool's replay stores every event" retry 60 eval "[ \"\$(spooled_count)\" -ge $((K * 5)) ]"
check "...a later copy of each message found its first (the dedupe key)" \
  retry 30 eval "[ \"\$(already replay)\" -ge $K ]"
appended_again=$(already append)
restart_broker_from "$STACK_DIR/mosquitto-saved.db"
check "sent a third time, Redis up: each append finds its key" \
  retry 60 eval "[ \"\$(already append)\" -ge $((${appended_again:-0} + K)) ]"
check_eq "each event stored once" "$((K * 5)) $((K * 5))" "$(stored_once "$A_ID" Spooled)"

# --- Redis down and the spool full: left with the broker, stored once later --------------------------------------

# A batch that neither Redis nor the spool can take earns a 503 over HTTP (the spool's limit, SPOOL_MAX_BYTES, keeps
# an outage of Redis from filling the disk). Over MQTT the message is not acknowledged: ingestd ends the connection,
# so that the broker keeps it and sends it again on the next one, and reconnects with a growing backoff until a
# message is stored. Once Redis is back every message is stored, once. (This ingestd's spool takes nothing: a
# record is larger than one byte.)
pid=$(cat "$STACK_DIR/run/ingestd.pid")
kill -TERM "$pid"
retry 15 eval "! kill -0 $pid 2>/dev/null" || fail "ingestd did not stop"
log_from=$(($(wc -l <"$STACK_DIR/logs/ingestd.log") + 1))
SPOOL_MAX_BYTES=1 "$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (ingestd with a full spool)"
rpid=$(cat "$STACK_DIR/run/redis.pid")
kill -TERM "$rpid"
retry 30 eval "! kill -0 $rpid 2>/dev/null" || fail "redis did not stop"
body=$(curl -s -w ' %{http_code}' -X POST "$MOHSTATS_URL/api/v1/ingest/events" -H 'Content-Type: application/json'   -H "X-Server-Token: $H_TOKEN" --data-binary @"$DATA/wire_4_2_chat.json")
check "over HTTP: 503, naming the full spool" eval "[[ '$body' == *'spool is full'*' 503' ]]"
K2=50
awk -v k=$K2 'BEGIN { for (i = 1; i <= k; i++) { s = "["; for (e = 0; e < 4; e++)
  s = s sprintf("%s{\"type\": \"jump\", \"player_guid\": \"9\", \"player_name\": \"Unstored\", \"timestamp\": \"%d.000\", \"match_id\": \"no_match\", \"session_id\": \"sess_full\"}", e ? ", " : "", i * 4 + e)
  print s "]" } }' >"$STACK_DIR/unstored.txt"
check "$K2 messages of 4 events published with Redis down" publish "$A_ID" "$A_TOKEN" "$A_ID" -l <"$STACK_DIR/unstored.txt"
unavailable() { metric 'mohstats_mqtt_messages_total{outcome="storage_unavailable"}'; }
check "over MQTT: counted as not stored, left with the broker" retry 30 eval "[ \"\$(unavailable)\" -gt 0 ] 2>/dev/null"
check "...and the spool refused them for its limit" eval "[ \"\$(metric mohstats_spool_refused_full_total)\" -gt 0 ] 2>/dev/null"
check "...ingestd reconnects with a backoff" eval "tail -n +$log_from '$STACK_DIR/logs/ingestd.log' | grep -q 'reconnecting with a backoff'"
"$STACK_SH" up "$STACK_DIR" >/dev/null 2>&1 || fail "stack.sh up (Redis back)"
unstored_count() { named_count "$A_ID" Unstored; }
check "once Redis is back, the broker's copies are stored" retry 90 eval "[ \"\$(unstored_count)\" -ge $((K2 * 4)) ]"
sleep 2
check_eq "...each event once" "$((K2 * 4)) $((K2 * 4))" "$(stored_once "$A_ID" Unstored)"

# --- a broker that grants only QoS 0 -------------------------------------------------------------------------------

# Then it would neither queue messages for ingestd while it is away nor wait for their PUBACK: ingestd must not
# take that for a subscription.
mpid=$(cat "$STACK_DIR/run/mqtt.pid")
kill -TERM "$mpid"
retry 15 eval "! kill -0 $mpid 2>/dev/null" || fail "mosquitto did not stop"
sed 's/^listener .*/&\nmax_qos 0/' "$STACK_DIR/etc/mosquitto.conf" >"$STACK_DIR/etc/mosquitto-qos0.conf"
(cd "$STACK_DIR/mqtt" && mosquitto -c "$STACK_DIR/etc/mosquitto-qos0.conf" -d) </dev/null >>"$STACK_DIR/logs/mqtt.log" 2>&1 ||
  fail "mosquitto with max_qos 0"
check "ingestd refuses a subscription granted with QoS 0" \
  retry 30 grep -q "granted only QoS 0 (not 1) to the subscription" "$STACK_DIR/logs/ingestd.log"

finish
