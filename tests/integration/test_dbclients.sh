#!/usr/bin/env bash
# The common/ database clients against real servers: runs tests/tools/dbclients_check (Redis, ClickHouse,
# PostgreSQL, MariaDB on one libuv loop) on a throwaway --db-only stack.
set -euo pipefail
MOHSTATS_SRC_DIR=${MOHSTATS_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MOHSTATS_BIN_DIR=${MOHSTATS_BIN_DIR:-$MOHSTATS_SRC_DIR/build}
CHECK=$MOHSTATS_BIN_DIR/tests/dbclients_check

if [ -f "$(dirname "${BASH_SOURCE[0]}")/lib.sh" ]; then
  # shellcheck source=tests/integration/lib.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
  stack_up --db-only
  if "$CHECK"; then
    pass "dbclients_check: every database client check passed"
  else
    fail "dbclients_check: see the FAIL lines above"
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
"$CHECK"
