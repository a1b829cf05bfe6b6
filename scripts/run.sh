#!/usr/bin/env bash
# `make run`: start the whole stack on DIR with the binaries of BUILD and the demo world (scripts/demo.sh) beside it,
# print the URLs, follow the daemons' logs, and stop everything this run started on Ctrl-C.
# Usage: scripts/run.sh BUILD DIR
# Environment: DEMO=0  no demo world (`make demo` sets DEMO=1); DEMO_* as in scripts/demo.sh
set -euo pipefail
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
DIR=${2:-var}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
export MOHSTATS_BIN_DIR=$BUILD

stop() {
  trap - INT TERM EXIT
  echo
  echo "run: stopping the stack in $DIR" >&2
  "$SRC_DIR/scripts/demo.sh" stop "$DIR" || true
  "$SRC_DIR/scripts/stack.sh" down "$DIR" || true
  # The log follower: Ctrl-C reaches it too, a SIGTERM to this script does not.
  [ -z "${TAIL_PID:-}" ] || kill "$TAIL_PID" 2>/dev/null || true
  exit 0
}
trap stop INT TERM EXIT

"$SRC_DIR/scripts/stack.sh" up "$DIR" ${MOHSTATS_PORT:+--port "$MOHSTATS_PORT"} --mqtt
set -a
# shellcheck disable=SC1091
. "$DIR/stack.env"
set +a
DEMO_LINE="  demo world      off (DEMO=0)"
if [ "${DEMO:-1}" != 0 ]; then
  "$SRC_DIR/scripts/demo.sh" start "$DIR"
  DEMO_LINE="  demo world      ${DEMO_SERVERS:-3} simulated servers (log $DIR/logs/demo.log; its data: make demo-purge)"
fi
# Passwords stay out of the terminal: user:***@host.
redact() { sed 's#://\([^:/@]*\):[^@]*@#://\1:***@#' <<<"$1"; }
cat <<MSG

mohstats is running (data in $DIR, settings in $DIR/stack.env):
  dashboard       $MOHSTATS_URL/
  front door      $MOHSTATS_URL      (game servers and the forum point here)
$DEMO_LINE
  ingestd         $INGESTD_URL
  queryd          $QUERYD_URL
  authd           $AUTHD_URL
  achievd         $ACHIEVD_URL
  ratingd         $RATINGD_URL
  MQTT broker     ${MQTT_URL##*@}  (game servers: opm_mqtt_host and opm_mqtt_port; they log in with their id and token)
  ClickHouse      $(redact "$CLICKHOUSE_URL")
  Redis           $(redact "$REDIS_URL")
  PostgreSQL      $(redact "$POSTGRES_URL")
  MariaDB         $(redact "$MARIADB_URL")
  forum secret    FORUM_API_TOKEN in $DIR/forum.env (the forum's mohaa_stats_server_token setting)
Following the daemons' logs; Ctrl-C stops everything.

MSG
LOGS=("$DIR"/logs/ingestd.log "$DIR"/logs/queryd.log "$DIR"/logs/authd.log "$DIR"/logs/achievd.log "$DIR"/logs/ratingd.log)
[ "${DEMO:-1}" = 0 ] || LOGS+=("$DIR/logs/demo.log")
tail -n 0 -F "${LOGS[@]}" &
TAIL_PID=$!
wait $TAIL_PID
