#!/usr/bin/env bash
# Apply the schema migrations in schemas/{clickhouse,postgres,mariadb}/*.sql, each file once per database.
#
# Usage: scripts/migrate.sh [KIND...]  (reads CLICKHOUSE_URL, POSTGRES_URL, MARIADB_URL from the environment)
#   KIND: clickhouse, postgres or mariadb; default all three, in that order. stack.sh migrates each database as
#   soon as it answers, while the others are still starting.
#
# Used by scripts/stack.sh after the databases answer, and by docker-compose's one-shot `migrate` service.
# Files are applied in lexical order (so name them NNNN_what.sql). Each applied file is recorded (version = file
# name, its SHA-256, applied_at) in a table of the database it went to: `schema_migrations` in ClickHouse and
# PostgreSQL, `mohstats_schema_migrations` in MariaDB (that database is the forum's, so our table says whose it
# is). A recorded file is skipped; if its checksum changed since, we warn and do not re-apply it: an applied
# migration is history, a change goes into a new file.
#
# Every migration must itself be idempotent (IF NOT EXISTS) and must never drop or rewrite data: a run that
# failed half-way is simply run again, and ClickHouse and MariaDB have no transactional DDL to roll back.
# ClickHouse has two checked exceptions, both because 18.16 lacks the statement that would make them plain:
#   * `ALTER TABLE <table> ADD COLUMN <column> ...;` (one column per statement) is skipped when system.columns
#     already lists that column: 18.16 rejects ADD COLUMN IF NOT EXISTS as a syntax error.
#   * `DROP TABLE IF EXISTS <name>_mv;` (alone on its line) may re-create a materialized view, which has no
#     CREATE OR REPLACE. Before running it we check in system.tables that <name>_mv, if it exists, is a
#     MaterializedView writing TO a table of its own: such a view holds no data (a view without TO keeps its
#     rows in an inner table, and any other DROP is refused). Migrations run before ingestd's writer starts
#     (stack.sh migrates before it starts the daemons; in docker-compose ingestd waits for the migrate
#     service), so no insert falls between a view's drop and its re-creation; see
#     schemas/clickhouse/0005_normalised_columns.sql for upgrading a running deployment.
# PostgreSQL files run in one transaction together with their record (so they must not contain BEGIN/COMMIT or
# CREATE INDEX CONCURRENTLY). Statements in ClickHouse files end with `;` at the end of a line; lines starting
# with `--` are comments.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCHEMA_DIR=${MOHSTATS_SCHEMA_DIR:-$SRC_DIR/schemas}

log() { printf 'migrate: %s\n' "$*" >&2; }
die() {
  printf 'migrate: error: %s\n' "$*" >&2
  exit 1
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Decode %XX escapes of a URL component (a password with special characters must be percent-encoded).
urldecode() {
  local s=${1//+/ }
  printf '%b' "${s//%/\\x}"
}

# The migration files of one kind, checked for names we can store unquoted and for statements we never run.
migration_files() {
  local kind=$1 f name
  shopt -s nullglob
  for f in "$SCHEMA_DIR/$kind"/*.sql; do
    name=$(basename "$f")
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "$f: migration file names may only use letters, digits, '_', '.', '-'"
    # The rule "never drop or rewrite data" is checked, not just written down. The one DROP allowed (ClickHouse,
    # a materialized view's) is checked again against the server before it runs (ch_check_drop).
    if grep -iE '^[[:space:]]*(DROP[[:space:]]+(TABLE|VIEW|DATABASE|SCHEMA)|TRUNCATE)\b' "$f" |
      { if [ "$kind" = clickhouse ]; then grep -vE "^$CH_DROP_VIEW_RE\$"; else cat; fi; } | grep -q .; then
      die "$f drops or truncates data; migrations only add (see the header of scripts/migrate.sh)"
    fi
    printf '%s\n' "$f"
  done
  shopt -u nullglob
}

checksum() { sha256sum "$1" | cut -d' ' -f1; }

# Load "version<TAB>checksum" lines into the associative array APPLIED.
declare -A APPLIED
load_applied() {
  APPLIED=()
  local version sum
  while IFS=$'\t' read -r version sum; do
    if [ -n "$version" ]; then APPLIED[$version]=$sum; fi
  done
  return 0
}

# Decide whether a file must be applied: returns 0 to apply, 1 to skip (warning on a changed checksum).
must_apply() {
  local kind=$1 name=$2 sum=$3
  [ -z "${APPLIED[$name]+set}" ] && return 0
  if [ "${APPLIED[$name]}" != "$sum" ]; then
    log "warning: $kind/$name changed since it was applied (recorded ${APPLIED[$name]:0:12}, now ${sum:0:12});" \
      "not re-applying it. Put the change in a new migration file."
  fi
  return 1
}

# --- ClickHouse (HTTP interface, with curl) -------------------------------------------------------------------

# POST one statement to ClickHouse; on failure print ClickHouse's message and exit.
ch_exec() {
  local url=$1 sql=$2 code
  code=$(curl -sS --max-time 120 -o "$TMP/ch.out" -w '%{http_code}' --data-binary "$sql" "$url") ||
    die "ClickHouse at ${url%%\?*} is unreachable (curl failed); is it running?"
  if [ "$code" != 200 ]; then
    die "ClickHouse rejected a statement (HTTP $code): $(head -c 2000 "$TMP/ch.out")"$'\n'"statement: ${sql:0:500}"
  fi
  cat "$TMP/ch.out"
}

# The one DROP a ClickHouse migration may hold, and the one ALTER that is skipped when already applied.
CH_DROP_VIEW_RE='DROP TABLE IF EXISTS ([a-z][a-z0-9_]*_mv);[[:space:]]*'
CH_ADD_COLUMN_RE='^ALTER TABLE ([a-z][a-z0-9_]*) ADD COLUMN ([a-z][a-z0-9_]*) '

# Refuse to drop <name> unless it is absent or a materialized view writing TO another table (no data of its own).
ch_check_drop() {
  local url=$1 name=$2 found
  found=$(ch_exec "$url" "SELECT engine, match(create_table_query, '^CREATE MATERIALIZED VIEW [^ ]+ TO ')
    FROM system.tables WHERE database = currentDatabase() AND name = '$name' FORMAT TabSeparated")
  case $found in
    '' | $'MaterializedView\t1') ;;
    *) die "refusing to drop $name: it is not a materialized view writing TO a table of its own ($found)" ;;
  esac
}

# Whether <table> of the URL's database already has <column> (so its ADD COLUMN was applied before).
ch_has_column() {
  [ "$(ch_exec "$1" "SELECT count() FROM system.columns WHERE database = currentDatabase()
    AND table = '$2' AND name = '$3'")" = 1 ]
}

# Run one statement of a ClickHouse file, with the checks and skips of the header's two exceptions.
ch_apply_statement() {
  local url=$1 sql=$2
  if [[ $sql =~ $CH_ADD_COLUMN_RE ]]; then
    [[ ${sql#*ADD COLUMN} == *"ADD COLUMN"* ]] && die "one ADD COLUMN per ALTER statement: ${sql:0:200}"
    if ch_has_column "$url" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; then
      log "clickhouse: ${BASH_REMATCH[1]}.${BASH_REMATCH[2]} exists already; skipping its ADD COLUMN"
      return 0
    fi
  elif [[ $sql =~ ^DROP ]]; then
    [[ "$sql;" =~ ^$CH_DROP_VIEW_RE$ ]] || die "only DROP TABLE IF EXISTS <name>_mv may run: ${sql:0:200}"
    ch_check_drop "$url" "${BASH_REMATCH[1]}"
  fi
  ch_exec "$url" "$sql" >/dev/null
}

# Run the statements of a ClickHouse file one by one (the HTTP interface takes one statement per request):
# full-line comments and blank lines are dropped, a statement ends at a line ending with ';'.
ch_apply_file() {
  local url=$1 file=$2 line buf=""
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[[:space:]]*(--|$) ]] && continue
    if [[ $line =~ ^(.*)\;[[:space:]]*$ ]]; then
      ch_apply_statement "$url" "$buf${BASH_REMATCH[1]}"
      buf=""
    else
      buf+="$line"$'\n'
    fi
  done <"$file"
  if [[ $buf =~ [^[:space:]] ]]; then ch_apply_statement "$url" "$buf"; fi
}

migrate_clickhouse() {
  local kind=clickhouse
  local url=${CLICKHOUSE_URL:?CLICKHOUSE_URL is not set (e.g. http://default@127.0.0.1:8123/?database=mohstats)}
  local base=${url%%\?*} query="" db="default" param params=() rest=""
  [[ $url == *\?* ]] && query=${url#*\?}
  # The database named in the URL may not exist yet: create it through the same URL without it.
  IFS='&' read -ra params <<<"$query"
  for param in "${params[@]}"; do
    case $param in
      database=*) db=${param#database=} ;;
      '') ;;
      *) rest+="${rest:+&}$param" ;;
    esac
  done
  local server_url=$base${rest:+?$rest}
  [[ $db =~ ^[A-Za-z0-9_]+$ ]] || die "CLICKHOUSE_URL names database '$db'; use letters, digits and '_'"

  ch_exec "$server_url" "CREATE DATABASE IF NOT EXISTS $db" >/dev/null
  ch_exec "$url" "CREATE TABLE IF NOT EXISTS schema_migrations
    (version String, checksum String, applied_at DateTime DEFAULT now())
    ENGINE = MergeTree ORDER BY version" >/dev/null
  local applied
  applied=$(ch_exec "$url" "SELECT version, checksum FROM schema_migrations FORMAT TabSeparated")
  load_applied <<<"$applied"

  local files f name sum count=0
  # Collected first, not read from a process substitution: a failed check must stop the run.
  files=$(migration_files "$kind")
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    name=$(basename "$f")
    sum=$(checksum "$f")
    must_apply clickhouse "$name" "$sum" || continue
    ch_apply_file "$url" "$f"
    ch_exec "$url" "INSERT INTO schema_migrations (version, checksum, applied_at) VALUES ('$name', '$sum', now())" >/dev/null
    log "clickhouse: applied $name"
    count=$((count + 1))
  done <<<"$files"
  log "clickhouse ($db): $count applied, ${#APPLIED[@]} already recorded"
}

# --- PostgreSQL (psql) -----------------------------------------------------------------------------------------

migrate_postgres() {
  local kind=postgres
  local url=${POSTGRES_URL:?POSTGRES_URL is not set (e.g. postgresql://mohstats:secret@127.0.0.1:5432/mohstats)}
  command -v psql >/dev/null || die "psql not found; install postgresql-client"
  # NOTICEs such as "relation already exists, skipping" are expected on every run; keep the output quiet.
  export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
  local psql=(psql "$url" -X -q -v ON_ERROR_STOP=1)

  "${psql[@]}" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())" ||
    die "cannot reach PostgreSQL or create schema_migrations (see psql's message above)"
  local applied
  applied=$("${psql[@]}" -At -F $'\t' -c "SELECT version, checksum FROM schema_migrations") ||
    die "cannot read schema_migrations from PostgreSQL"
  load_applied <<<"$applied"

  local files f name sum count=0
  # Collected first, not read from a process substitution: a failed check must stop the run.
  files=$(migration_files "$kind")
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    name=$(basename "$f")
    sum=$(checksum "$f")
    must_apply postgres "$name" "$sum" || continue
    # The file and its record commit together or not at all.
    { cat "$f"; printf '\nINSERT INTO schema_migrations (version, checksum) VALUES (:%s, :%s) ON CONFLICT (version) DO NOTHING;\n' \
      "'mig_version'" "'mig_checksum'"; } |
      "${psql[@]}" --single-transaction -v mig_version="$name" -v mig_checksum="$sum" -f - ||
      die "postgres: $name failed and was rolled back (see psql's message above)"
    log "postgres: applied $name"
    count=$((count + 1))
  done <<<"$files"
  log "postgres: $count applied, ${#APPLIED[@]} already recorded"
}

# --- MariaDB (mariadb client) ----------------------------------------------------------------------------------

migrate_mariadb() {
  local kind=mariadb
  local url=${MARIADB_URL:?MARIADB_URL is not set (e.g. mysql://mohstats:secret@127.0.0.1:3306/smf)}
  command -v mariadb >/dev/null || die "mariadb client not found; install mariadb-client"
  local re='^(mysql|mariadb)://([^:@/]*)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?/([^?]+)'
  [[ $url =~ $re ]] || die "MARIADB_URL must look like mysql://user:password@host:port/database"
  local user password host port db
  user=$(urldecode "${BASH_REMATCH[2]}")
  password=$(urldecode "${BASH_REMATCH[4]}")
  host=${BASH_REMATCH[5]}
  port=${BASH_REMATCH[7]:-3306}
  db=${BASH_REMATCH[8]}
  # Credentials go in a private option file, not on the command line where `ps` shows them. --defaults-file
  # also keeps a system-wide client config from changing what we connect to.
  (
    umask 077
    printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\nprotocol=TCP\ndatabase=%s\ndefault-character-set=utf8mb4\n' \
      "$user" "$password" "$host" "$port" "$db" >"$TMP/mariadb.cnf"
  )
  local mdb=(mariadb --defaults-file="$TMP/mariadb.cnf" --batch)

  "${mdb[@]}" -e "CREATE TABLE IF NOT EXISTS mohstats_schema_migrations (
      version VARCHAR(255) NOT NULL PRIMARY KEY, checksum CHAR(64) NOT NULL,
      applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" ||
    die "cannot reach MariaDB or create mohstats_schema_migrations (see the client's message above)"
  local applied
  applied=$("${mdb[@]}" -N -e "SELECT version, checksum FROM mohstats_schema_migrations") ||
    die "cannot read mohstats_schema_migrations from MariaDB"
  load_applied <<<"$applied"

  local files f name sum count=0
  # Collected first, not read from a process substitution: a failed check must stop the run.
  files=$(migration_files "$kind")
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    name=$(basename "$f")
    sum=$(checksum "$f")
    must_apply mariadb "$name" "$sum" || continue
    # MariaDB commits DDL implicitly, so a failure can leave part of a file applied; the file is then not
    # recorded and, being idempotent, is applied again on the next run.
    { cat "$f"; printf '\nINSERT IGNORE INTO mohstats_schema_migrations (version, checksum) VALUES (%s, %s);\n' \
      "'$name'" "'$sum'"; } | "${mdb[@]}" ||
      die "mariadb: $name failed (see the client's message above); fix it and run again"
    log "mariadb: applied $name"
    count=$((count + 1))
  done <<<"$files"
  log "mariadb ($db): $count applied, ${#APPLIED[@]} already recorded"
}

[ -d "$SCHEMA_DIR" ] || die "no schema directory at $SCHEMA_DIR"
command -v curl >/dev/null || die "curl not found"
[ $# -gt 0 ] || set -- clickhouse postgres mariadb
for kind in "$@"; do
  case $kind in
    clickhouse | postgres | mariadb) "migrate_$kind" ;;
    *) die "unknown kind '$kind' (clickhouse, postgres or mariadb)" ;;
  esac
done
