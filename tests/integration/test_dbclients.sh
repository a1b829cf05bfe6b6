#!/usr/bin/env bash
# The common/ database clients against real servers: runs the checks tests/tools/dbclients_*.c (Redis, ClickHouse,
# PostgreSQL, MariaDB, each on a libuv loop of its own) on a throwaway --db-only stack.
set -euo pipefail
MOHSTATS_SRC_DIR=${MOHSTATS_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MOHSTATS_BIN_DIR=${MOHSTATS_BIN_DIR:-$MOHSTATS_SRC_DIR/build}
# Every check runs, whatever the one before found; the status: 0 only if all passed.
dbclients_checks() {
  local rc=0 c
  for c in dbclients_redis dbclients_clickhouse dbclients_postgres dbclients_mariadb; do
    "$MOHSTATS_BIN_DIR/tests/$c" || rc=1
  done
  return $rc
}

if [ -f "$(dirname "${BASH_SOURCE[0]}")/lib.sh" ]; then
  # shellcheck source=tests/integration/lib.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
  stack_up --db-only
  if dbclients_checks; then
    pass "dbclients: every database client check passed"
  else
    fail "dbclients: see the FAIL lines above"
  fi
  check "the PostgreSQL and MariaDB pool cmocka tests against the real servers" "$MOHSTATS_BIN_DIR/tests/test_pg_mariadb"
  finish
fi

# Without the helper library: the same, inline.
DIR=$(mktemp -d)
trap '"$MOHSTATS_SRC_DIR/scripts/stack.sh" down "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
"$MOHSTATS_SRC_DIR/scripts/stack.sh" up "$DIR" --db-only
set -a
# shellcheck disable=SC1091
. "$DIR/stack.env"
set +a
dbclients_checks
