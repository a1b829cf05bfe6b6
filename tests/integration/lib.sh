# shellcheck shell=bash
# Helpers for integration tests: a throwaway stack of real servers, pass/fail bookkeeping, HTTP and database
# queries. Source it from a test (`. "$(dirname "$0")/lib.sh"`), call stack_up, check things with pass/fail
# (or check/check_eq), and end with finish.
#
# Environment: MOHSTATS_BIN_DIR  the CMake build directory (the daemons at its top level); set by ctest
#              MOHSTATS_SRC_DIR  the source tree; set by ctest, defaults to this file's ../..
#              KEEP_STACK=1      leave the stack running and its directory in place after the test (it says where)
#
# The summary line `N passed, M failed` is always the last line printed, also when the test stops early; the
# exit status is 0 only if nothing failed and the test reached finish.

MOHSTATS_SRC_DIR=${MOHSTATS_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MOHSTATS_BIN_DIR=${MOHSTATS_BIN_DIR:-$MOHSTATS_SRC_DIR/build}
export MOHSTATS_SRC_DIR MOHSTATS_BIN_DIR
STACK_SH=$MOHSTATS_SRC_DIR/scripts/stack.sh
STACK_DIR=""
TESTS_PASSED=0
TESTS_FAILED=0
_LIB_FINISHED=false

pass() {
  TESTS_PASSED=$((TESTS_PASSED + 1))
  printf 'ok   - %s\n' "$*"
}

fail() {
  TESTS_FAILED=$((TESTS_FAILED + 1))
  printf 'FAIL - %s\n' "$*"
}

# check DESCRIPTION COMMAND...: pass if the command succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then
    pass "$1"
  else
    fail "$1: expected '$2', got '$3'"
  fi
}

# retry SECONDS COMMAND...: run the command until it succeeds, at most SECONDS (for things that settle).
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# Print the end of every log of the stack (on failure, so the cause is in the test's output), then a diagnosis.
# DEAD names the daemons found not running before the stack was stopped.
stack_logs() {
  local dead=$1 f
  [ -n "$STACK_DIR" ] && [ -d "$STACK_DIR/logs" ] || return 0
  for f in "$STACK_DIR"/logs/*.log; do
    # clickhouse.log repeats every query at information level; its errors are in clickhouse.err.log.
    if [ ! -s "$f" ] || [ "${f##*/}" = clickhouse.log ]; then continue; fi
    printf '\n--- %s (last 20 lines) ---\n' "$f"
    tail -n 20 "$f"
  done
  # What usually explains a failure comes last, so that it survives a viewer that keeps only the end of the
  # output: daemons that had died, sanitizer reports, nginx's errors (a 502 names its cause there).
  printf '\n--- diagnosis of %s ---\n' "$STACK_DIR"
  [ -z "$dead" ] || echo "not running before the stack was stopped:$dead"
  # A report's stack frames, not its shadow-byte legend: a CI viewer that keeps a few dozen lines must still show
  # where the fault was and where the memory was freed and allocated.
  grep -H -m 1 -A 120 -E "$SANITIZER_REPORT" $(daemon_logs) /dev/null |
    grep -E "$SANITIZER_REPORT|(READ|WRITE) of size|freed by|previously allocated|located in|#[0-9]+ 0x|SUMMARY" |
    grep -v -E 'in (__interceptor_|__asan_|__libc_start|_start\b)' | head -n 60
  grep -H -E '\[(error|crit|alert|emerg)\]' "$STACK_DIR/logs/nginx-error.log" 2>/dev/null | tail -n 5
  return 0
}

# The first line of an AddressSanitizer, LeakSanitizer or UBSan report.
SANITIZER_REPORT='ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: '

# The logs our own programs write (the databases' and nginx's are left out).
daemon_logs() {
  local f
  for f in "$STACK_DIR"/logs/*.log; do
    case ${f##*/} in clickhouse* | redis* | postgres* | mariadb* | nginx* | migrate*) ;; *) echo "$f" ;; esac
  done
}

# The stack's daemons that are not running although their pid file says they were started.
dead_daemons() {
  local d pid
  for d in ingestd queryd authd achievd ratingd; do
    [ -f "$STACK_DIR/run/$d.pid" ] || continue
    pid=$(cat "$STACK_DIR/run/$d.pid" 2>/dev/null)
    kill -0 "$pid" 2>/dev/null || printf ' %s (pid %s)' "$d" "$pid"
  done
}

# The EXIT trap: stop and remove the stack (unless KEEP_STACK=1), then print the summary as the last line.
# Every test also checks that no daemon wrote a sanitizer report, leaks included: those are written when the
# daemons exit, so the check runs once the stack is stopped.
_lib_on_exit() {
  local rc=$?
  trap - EXIT
  set +e
  if ! $_LIB_FINISHED; then
    fail "the test stopped early (exit status $rc) at: ${BASH_COMMAND:-?}"
  fi
  if [ -n "$STACK_DIR" ]; then
    local dead
    dead=$(dead_daemons)
    if [ "${KEEP_STACK:-0}" != 1 ]; then
      "$STACK_SH" down "$STACK_DIR" >/dev/null 2>&1 || echo "warning: stack.sh down $STACK_DIR failed"
      # shellcheck disable=SC2046
      check_eq "no sanitizer reports in the daemons' logs" "" \
        "$(grep -l -E "$SANITIZER_REPORT" $(daemon_logs) /dev/null)"
    fi
    [ "$TESTS_FAILED" -eq 0 ] || stack_logs "$dead"
    if [ "${KEEP_STACK:-0}" = 1 ]; then
      rm -f "$STACK_DIR/owner.pid"
      echo "KEEP_STACK=1: the stack keeps running in $STACK_DIR (stop it: $STACK_SH down $STACK_DIR)"
    else
      rm -rf "$STACK_DIR"
    fi
  fi
  echo "$TESTS_PASSED passed, $TESTS_FAILED failed"
  if [ "$TESTS_FAILED" -eq 0 ] && $_LIB_FINISHED; then exit 0; fi
  exit 1
}

# End the test: the EXIT trap prints the summary and sets the exit status.
finish() {
  _LIB_FINISHED=true
  exit 0
}

trap _lib_on_exit EXIT
# One stream, so the servers' and scripts' messages appear in order with the results, and the summary is last.
exec 2>&1
trap 'exit 130' INT TERM

# Stop and remove the stacks of earlier tests that were killed before their EXIT trap could run (a ctest
# timeout, say): their owner process is gone. Stacks kept on purpose (KEEP_STACK=1) have no owner file.
_sweep_orphan_stacks() {
  local d owner
  for d in /tmp/mohstats-test.*; do
    [ -f "$d/owner.pid" ] || continue
    owner=$(cat "$d/owner.pid" 2>/dev/null) || continue
    if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
      echo "removing the orphaned stack $d (its test, pid $owner, is gone)"
      "$STACK_SH" down "$d" >/dev/null 2>&1 || true
      rm -rf "$d"
    fi
  done
}

# stack_dir: the test's stack directory, a new one under /tmp, made by stack_up or earlier (for a free_port
# that the stack's settings need).
stack_dir() {
  [ -z "$STACK_DIR" ] || return 0
  _sweep_orphan_stacks
  STACK_DIR=$(mktemp -d /tmp/mohstats-test.XXXXXX)
  echo $$ >"$STACK_DIR/owner.pid"
}

# stack_up [--db-only] [stack.sh options...]: a fresh stack in the test's stack directory, nginx on a free
# port; its settings (stack.env) exported into this shell.
stack_up() {
  stack_dir
  if ! "$STACK_SH" up "$STACK_DIR" --port 0 "$@"; then
    fail "stack.sh up $STACK_DIR $*"
    return 1
  fi
  stack_env
}

# (Re)load the stack's settings into the environment.
stack_env() {
  set -a
  # shellcheck disable=SC1091
  . "$STACK_DIR/stack.env"
  # The forum's secret, for tests that play the forum (not in stack.env: no daemon reads it).
  # shellcheck disable=SC1091
  . "$STACK_DIR/forum.env"
  set +a
}

# http_get URL: print the body; fails on a connection error or an HTTP status >= 400.
http_get() {
  curl -sS --max-time 10 --fail-with-body "$1"
}

# http_status URL [curl options...]: print only the HTTP status code (000 if nothing answered).
http_status() {
  local url=$1
  shift
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$@" "$url" || true
}

# json_get URL JQ_FILTER: GET a JSON document and print the filter's result (raw strings).
json_get() {
  local body
  body=$(http_get "$1") || return 1
  jq -r "$2" <<<"$body"
}

# ch_query SQL: run SQL on ClickHouse (CLICKHOUSE_URL) and print the result as TabSeparated.
ch_query() {
  curl -sS --max-time 30 --fail-with-body --data-binary "$1" "$CLICKHOUSE_URL"
}

# pg_query SQL: run SQL on PostgreSQL (POSTGRES_URL) and print the rows unaligned, '|'-separated.
pg_query() {
  PGOPTIONS='-c client_min_messages=warning' psql "$POSTGRES_URL" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# mdb_query SQL: run SQL on MariaDB (MARIADB_URL) and print the rows tab-separated, without a header.
mdb_query() {
  local cnf=${STACK_DIR:-/tmp}/.mdb_query.$$.cnf
  if [ ! -f "$cnf" ]; then
    local re='^mysql://([^:@/]*):?([^@/]*)@([^:/]+):([0-9]+)/([^?]+)'
    [[ $MARIADB_URL =~ $re ]] || {
      echo "mdb_query: cannot parse MARIADB_URL" >&2
      return 1
    }
    (
      umask 077
      printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\ndatabase=%s\nprotocol=TCP\n' \
        "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[5]}" >"$cnf"
    )
  fi
  mariadb --defaults-file="$cnf" --batch -N -e "$1"
}

# redis_cmd ARGS...: run one Redis command (REDIS_URL).
redis_cmd() {
  redis-cli --no-auth-warning -u "$REDIS_URL" "$@" 2>/dev/null
}

# cache_cmd ARGS...: a command to queryd's answer cache (its own Redis, CACHE_REDIS_URL).
cache_cmd() {
  redis-cli --no-auth-warning -u "$CACHE_REDIS_URL" "$@" 2>/dev/null
}

# The pids recorded in the stack's pid files, one per line (databases, daemons, nginx).
stack_pids() {
  local f
  for f in "$STACK_DIR"/run/*.pid "$STACK_DIR"/postgres/postmaster.pid; do
    [ -s "$f" ] && head -n 1 "$f"
  done
  return 0
}

# Succeeds if PID runs and is not a zombie waiting to be reaped.
pid_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# free_port: a loopback port for a program a test starts itself beside its stack (stack.sh port: 20000-32767,
# below Linux's ephemeral range, nothing listening on it, and recorded with the stack's ports, so that no other
# stack started meanwhile picks it). Call stack_dir or stack_up first: $(free_port) runs in a subshell.
free_port() {
  [ -n "$STACK_DIR" ] || {
    echo "free_port: no stack directory yet (call stack_dir first)" >&2
    return 1
  }
  "$STACK_SH" port "$STACK_DIR"
}
