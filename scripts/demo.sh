#!/usr/bin/env bash
# The demo world (build/demo_world): simulated game servers that play on a running stack through its front door.
# scripts/run.sh starts it beside the stack (`make run`, `make demo`); scripts/stack.sh never does, so tests keep a
# quiet stack.
#
# Usage: scripts/demo.sh start DIR   start it in the background against the stack in DIR (log: DIR/logs/demo.log)
#        scripts/demo.sh stop  DIR   stop it
#        scripts/demo.sh purge DIR   stop it and delete its data from the stack in DIR
#        scripts/demo.sh run   DIR   run it in the foreground against MOHSTATS_URL, its members written to the forum
#                                    at MARIADB_URL, its state in DIR (docker-compose.yml's `demo` service)
#
# Environment: MOHSTATS_BIN_DIR   where demo_world is (default: <repo>/build)
#              MOHSTATS_URL, MARIADB_URL   for run only (start, stop and purge read DIR/stack.env)
#              DEMO_SERVERS (3), DEMO_PLAYERS (36), DEMO_RATE (3 events/s per server), DEMO_MATCH_SECONDS (600),
#              DEMO_SEED (1): how big and how busy the demo community is
#
# The players' hidden skills (what decides their fights) are in DIR/demo/skills.txt, best first.
#
# The demo's data is marked: its servers are named "[demo] ..." and their ids are kept in DIR/demo/servers.txt;
# its logged-in players are forum members 900001 and up (added to the forum's smf_members with their names, and
# their identity links to smf_mohaa_identities).
# purge deletes from ClickHouse every row of those servers (events, matches, per-server and per-match totals),
# the per-player totals of those members, their achievements and forum accounts in MariaDB, and the servers'
# registrations in PostgreSQL. Guests play as unauth_<slot> like every tracker's guests: their per-player weapon,
# map and heat-map totals, which do not record a server, cannot be told from real guests' and are kept; only
# `scripts/stack.sh down DIR && rm -rf DIR` removes everything. Cached answers expire within QUERY_CACHE_TTL_S
# and leaderboards follow at their next rebuild (QUERY_BOARD_REFRESH_S).
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${MOHSTATS_BIN_DIR:-$SRC_DIR/build}
MEMBER_FIRST=900001
MEMBER_LAST=900256

log() { printf 'demo: %s\n' "$*" >&2; }
die() {
  printf 'demo: error: %s\n' "$*" >&2
  exit 1
}

[ $# -eq 2 ] || {
  sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' >&2
  exit 2
}
CMD=$1
if [ "$CMD" = run ]; then
  mkdir -p "$2" || die "cannot make the state directory $2"
  DIR=$(cd "$2" && pwd)
else
  # Nothing to stop where no stack ever ran.
  [ "$CMD" != stop ] || [ -f "$2/stack.env" ] || exit 0
  DIR=$(cd "$2" 2>/dev/null && pwd) || die "no stack directory $2"
  [ -f "$DIR/stack.env" ] || die "no stack in $DIR (start one with scripts/stack.sh up $DIR)"
  set -a
  # shellcheck disable=SC1091
  . "$DIR/stack.env"
  set +a
fi
PID_FILE=$DIR/run/demo.pid

# The pid of the running demo of DIR, or nothing.
demo_pid() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 0
  if [ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "MOHSTATS_DEMO_DIR=$DIR"; then
    echo "$pid"
  fi
  return 0
}

# The forum's database: as root through the stack's socket (the members are written where the forum keeps them);
# for run, as MARIADB_URL's user (mysql://USER:PASSWORD@HOST[:PORT]/DB), the password passed in the environment so
# that no process list shows it.
forum_sql() {
  if [ "$CMD" != run ]; then
    mariadb --no-defaults --protocol=socket -S "$DIR/run/mariadb.sock" -u root "${MARIADB_URL##*/}"
    return
  fi
  local rest=${MARIADB_URL#*://} creds hostport host port
  creds=${rest%%@*}
  rest=${rest#*@}
  hostport=${rest%%/*}
  host=${hostport%%:*}
  port=${hostport##*:}
  [ "$port" != "$hostport" ] || port=3306
  MYSQL_PWD=${creds#*:} mariadb --no-defaults -h "$host" -P "$port" -u "${creds%%:*}" "${rest#*/}"
}

# The demo_world command line for state directory $1, into DEMO_CMD: the same settings for start and run.
demo_command() {
  DEMO_CMD=("$BIN_DIR/demo_world" --url "$MOHSTATS_URL" --servers "${DEMO_SERVERS:-3}"
    --players "${DEMO_PLAYERS:-36}" --rate "${DEMO_RATE:-3}" --match-seconds "${DEMO_MATCH_SECONDS:-600}"
    --seed "${DEMO_SEED:-1}" --state "$1/servers.txt" --members "$1/members.sql" --skills "$1/skills.txt")
}

# Wait (5 s at most) for demo_world to write its members, then add them to the forum.
add_members() {
  for _ in $(seq 1 50); do
    [ -s "$1" ] && break
    sleep 0.1
  done
  forum_sql <"$1" || log "could not add the demo's members to the forum (their names will be missing)"
}

start() {
  [ -x "$BIN_DIR/demo_world" ] || die "$BIN_DIR/demo_world is missing: run make build"
  if [ -n "$(demo_pid)" ]; then
    log "already running (pid $(demo_pid))"
    return 0
  fi
  mkdir -p "$DIR/demo" "$DIR/logs" "$DIR/run"
  rm -f "$DIR/demo/members.sql"
  demo_command "$DIR/demo"
  MOHSTATS_DEMO_DIR=$DIR setsid "${DEMO_CMD[@]}" </dev/null >>"$DIR/logs/demo.log" 2>&1 &
  echo $! >"$PID_FILE"
  # It writes its members before it registers the servers; the forum has their names soon after the first events.
  add_members "$DIR/demo/members.sql"
  log "started the demo world (pid $!, log $DIR/logs/demo.log)"
}

# In the foreground until demo_world ends or this script is told to stop (a container's SIGTERM), which stops it.
run() {
  [ -x "$BIN_DIR/demo_world" ] || die "$BIN_DIR/demo_world is missing"
  [ -n "${MOHSTATS_URL:-}" ] || die "MOHSTATS_URL is not set: the front door the demo's servers post to"
  [ -n "${MARIADB_URL:-}" ] || die "MARIADB_URL is not set: the forum database its members are added to"
  rm -f "$DIR/members.sql"
  demo_command "$DIR"
  "${DEMO_CMD[@]}" </dev/null &
  local pid=$!
  trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
  add_members "$DIR/members.sql"
  log "running the demo world against $MOHSTATS_URL (${DEMO_SERVERS:-3} servers, ${DEMO_PLAYERS:-36} players)"
  # wait returns early when a signal arrives: wait again until demo_world has gone.
  local rc=0
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || rc=$?
  done
  return "$rc"
}

stop() {
  local pid
  pid=$(demo_pid)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$PID_FILE"
  log "stopped the demo world (pid $pid)"
}

# SQL list of the demo's server ids: 'id1', 'id2'.
server_list() {
  awk '$1 ~ /^[0-9a-f-]+$/ { printf "%s'"'"'%s'"'"'", (n++ ? ", " : ""), $1 }' "$DIR/demo/servers.txt"
}

ch() {
  curl -sS --fail-with-body "$CLICKHOUSE_URL" --data-binary @- >/dev/null
}

# Waits until the writers have moved every event of the ingest stream into ClickHouse: their group has been given
# the stream's last entry and holds none unacknowledged. Events the API accepted just before demo_world stopped are
# still on their way; a delete issued before they land would leave them behind (a ClickHouse delete only reaches
# the rows already there).
wait_written() {
  local stream=${INGEST_STREAM:-mohstats:events} group=${WRITER_GROUP:-clickhouse} last delivered pending
  for _ in $(seq 1 600); do
    # awk reads its input to the end: leaving early would kill redis-cli with SIGPIPE, which pipefail and set -e
    # turn into the end of this script (exit status 141).
    last=$(redis-cli --no-auth-warning -u "$REDIS_URL" XINFO STREAM "$stream" 2>/dev/null |
      awk 'prev == "last-generated-id" { v = $0 } { prev = $0 } END { print v }') || last=""
    read -r delivered pending < <(redis-cli --no-auth-warning -u "$REDIS_URL" XINFO GROUPS "$stream" 2>/dev/null |
      awk -v g="$group" 'prev == "name" { mine = ($0 == g) }
        mine && prev == "last-delivered-id" { d = $0 } mine && prev == "pending" { p = $0 }
        { prev = $0 } END { print d, p }') || true
    [ -n "$last" ] && [ "$last" = "$delivered" ] && [ "$pending" = 0 ] && return 0
    sleep 0.1
  done
  die "the writers have not written the stream's last events to ClickHouse after 60 s (stream $stream, group" \
    "$group: last entry ${last:-?}, last given ${delivered:-?}, ${pending:-?} unacknowledged); is ingestd running?"
}

purge() {
  stop
  wait_written
  [ -s "$DIR/demo/servers.txt" ] || die "no demo servers recorded in $DIR/demo/servers.txt: nothing to purge"
  local servers matches members t
  servers=$(server_list)
  members="toUInt64OrZero(guid) BETWEEN $MEMBER_FIRST AND $MEMBER_LAST"
  # The demo's matches, listed before the events that name them are deleted (ClickHouse deletes in the background).
  matches=$(curl -sS --fail-with-body "$CLICKHOUSE_URL" --data-binary @- <<<"SELECT DISTINCT match_key FROM raw_events
            WHERE server_id IN ($servers) FORMAT TSV" | awk '{ printf "%s'"'"'%s'"'"'", (n++ ? ", " : ""), $1 }')
  if [ -n "$matches" ]; then
    # The per-match tables keep their server as an aggregate state: they are found by match.
    for t in heat_match_cells match_players match_summary player_match; do
      ch <<<"ALTER TABLE $t DELETE WHERE match_key IN ($matches)"
    done
  fi
  for t in raw_events player_daily player_fights server_hourly weapon_daily; do
    ch <<<"ALTER TABLE $t DELETE WHERE server_id IN ($servers)"
  done
  for t in player_map player_weapon heat_cells player_names; do
    ch <<<"ALTER TABLE $t DELETE WHERE $members"
  done
  forum_sql <<EOF
DELETE FROM smf_mohaa_player_achievements WHERE id_member BETWEEN $MEMBER_FIRST AND $MEMBER_LAST;
DELETE FROM smf_mohaa_achievement_progress WHERE id_member BETWEEN $MEMBER_FIRST AND $MEMBER_LAST;
DELETE FROM smf_mohaa_identities WHERE id_member BETWEEN $MEMBER_FIRST AND $MEMBER_LAST;
DELETE FROM smf_members WHERE id_member BETWEEN $MEMBER_FIRST AND $MEMBER_LAST;
EOF
  psql -X -q -v ON_ERROR_STOP=1 "$POSTGRES_URL" -c "DELETE FROM servers WHERE id IN ($servers)"
  mv "$DIR/demo/servers.txt" "$DIR/demo/servers.purged.txt"
  log "deleted the demo's data from $DIR (ClickHouse applies its deletes in the background, in seconds)"
}

case $CMD in
  start) start ;;
  stop) stop ;;
  purge) purge ;;
  run) run ;;
  *) die "unknown command $CMD (start, stop, purge or run)" ;;
esac
