#!/usr/bin/env bash
# The demo world (build/demo_world): simulated game servers that play on a running stack through its front door.
# scripts/run.sh starts it beside the stack (`make run`, `make demo`); scripts/stack.sh never does, so tests keep a
# quiet stack.
#
# Usage: scripts/demo.sh start DIR   start it in the background against the stack in DIR (log: DIR/logs/demo.log)
#        scripts/demo.sh stop  DIR   stop it
#        scripts/demo.sh purge DIR   stop it and delete its data from the stack in DIR
#
# Environment: MOHSTATS_BIN_DIR   where demo_world is (default: <repo>/build)
#              DEMO_SERVERS (3), DEMO_PLAYERS (36), DEMO_RATE (3 events/s per server), DEMO_MATCH_SECONDS (600),
#              DEMO_SEED (the time): how big and how busy the demo community is
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
# Nothing to stop where no stack ever ran.
[ "$CMD" != stop ] || [ -f "$2/stack.env" ] || exit 0
DIR=$(cd "$2" 2>/dev/null && pwd) || die "no stack directory $2"
[ -f "$DIR/stack.env" ] || die "no stack in $DIR (start one with scripts/stack.sh up $DIR)"
set -a
# shellcheck disable=SC1091
. "$DIR/stack.env"
set +a
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

# The forum's database as root through the stack's socket (the members are written where the forum keeps them).
forum_sql() {
  mariadb --no-defaults --protocol=socket -S "$DIR/run/mariadb.sock" -u root "${MARIADB_URL##*/}"
}

start() {
  [ -x "$BIN_DIR/demo_world" ] || die "$BIN_DIR/demo_world is missing: run make build"
  if [ -n "$(demo_pid)" ]; then
    log "already running (pid $(demo_pid))"
    return 0
  fi
  mkdir -p "$DIR/demo" "$DIR/logs" "$DIR/run"
  rm -f "$DIR/demo/members.sql"
  MOHSTATS_DEMO_DIR=$DIR setsid "$BIN_DIR/demo_world" --url "$MOHSTATS_URL" --servers "${DEMO_SERVERS:-3}" \
    --players "${DEMO_PLAYERS:-36}" --rate "${DEMO_RATE:-3}" --match-seconds "${DEMO_MATCH_SECONDS:-600}" \
    --seed "${DEMO_SEED:-1}" --state "$DIR/demo/servers.txt" --members "$DIR/demo/members.sql" \
    --skills "$DIR/demo/skills.txt" \
    </dev/null >>"$DIR/logs/demo.log" 2>&1 &
  echo $! >"$PID_FILE"
  # It writes its members before it registers the servers; the forum has their names soon after the first events.
  for _ in $(seq 1 50); do
    [ -s "$DIR/demo/members.sql" ] && break
    sleep 0.1
  done
  forum_sql <"$DIR/demo/members.sql" ||
    log "could not add the demo's members to the forum (their names will be missing)"
  log "started the demo world (pid $!, log $DIR/logs/demo.log)"
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

purge() {
  stop
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
  *) die "unknown command $CMD (start, stop or purge)" ;;
esac
