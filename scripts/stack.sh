#!/usr/bin/env bash
# Run the whole mohstats system locally on real servers: ClickHouse, Redis (and a second one for queryd's answer
# cache), PostgreSQL, MariaDB, with --mqtt a mosquitto MQTT broker, the five daemons and nginx, every one a background process on 127.0.0.1 with all its data, config, logs and pid files
# under one directory.
#
# Usage: scripts/stack.sh up     DIR [--db-only] [--port N] [--mqtt]
#        scripts/stack.sh down   DIR
#        scripts/stack.sh status DIR
#        scripts/stack.sh port   DIR
#
# up      Starts what is not running yet (a second `up` keeps the data and the ports; a crashed server or daemon
#         comes back), applies the migrations (scripts/migrate.sh), then, unless --db-only, starts the daemons
#         and nginx, and returns once every daemon answers GET /ready with 200. Writes DIR/stack.env: the
#         sourceable KEY=value settings the daemons and tests read. A port that another process holds is named
#         before anything starts; an `up` that fails part-way (or is interrupted) stops what it had started, so
#         what runs is always what the pid files under DIR record. A server or daemon of DIR found running
#         without its pid file (by the port it holds) is recorded, by up, status and down alike.
#         --port N   nginx's port (the front door); default $MOHSTATS_PORT, else the port this DIR used last,
#                    else 8080. 0 picks a free port (tests).
#         --mqtt     also run the MQTT broker game servers may publish to (mosquitto, with ingestd's login plugin);
#                    MQTT_URL in DIR/stack.env. Kept by the later `up`s of DIR. Off by default: most tests need none.
# down    Stops exactly the processes `up` started in DIR (from their pid files): daemons, nginx, databases.
# status  One line per component; exit status 0 only if every expected component runs and answers (a daemon:
#         its GET /ready says 200).
# port    Prints a free port for a program run beside the stack in DIR (tests), and records it for DIR.
#
# Environment: MOHSTATS_BIN_DIR  where the daemon binaries are (default: <repo>/build)
#              MOHSTATS_PORT     nginx's port, as --port
#              MOHSTATS_STACK_TIMEOUT  seconds to wait for each component to answer, and for every daemon
#                                      to be ready (default 60)
#
# Ports: every server and daemon gets a free loopback port chosen at the first `up` and kept in DIR/state.env,
# so a stack can run next to another one (tests start several) and next to system services. The stacks of a user
# are recorded (${TMPDIR:-/tmp}/mohstats-stacks.UID): a new stack never picks a port another has chosen, even one
# whose server is stopped for a while, so stacks can start at the same time.
#
# As root: PostgreSQL refuses to run as root, so it runs as the `postgres` system user with its data directory
# owned by that user (DIR gets o+x so that user can reach it); mariadbd runs with --user=root; nginx's workers
# run as root (`user root;`), which is fine for a loopback-only development stack. As any other user everything
# runs as that user.
#
# Durability: Redis has AOF on with `appendfsync always`, because ingestd acknowledges a batch only once it is
# in the stream, and an acknowledged batch must survive a crash; no eviction policy (noeviction), because stream
# entries and counters must never silently disappear. The answer cache's Redis is the opposite: bounded
# (CACHE_MAXMEMORY, default 256mb, from the environment of each `up`), least recently used answers evicted,
# nothing persisted.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${MOHSTATS_PG_BIN:-/usr/lib/postgresql/15/bin}
TIMEOUT=${MOHSTATS_STACK_TIMEOUT:-60}
DAEMONS=(ingestd queryd authd achievd ratingd)
DATABASES=(clickhouse redis cache postgres mariadb)

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}

# Print the usage part of the header comment.
usage() {
  sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' >&2
  exit 2
}

IS_ROOT=false
[ "$(id -u)" -eq 0 ] && IS_ROOT=true

# --- small helpers ---------------------------------------------------------------------------------------------

# Print the last lines of a log file, indented, so a failure message carries its cause.
show_log_tail() {
  local file=$1
  [ -f "$file" ] || return 0
  printf 'stack: --- last lines of %s ---\n' "$file" >&2
  tail -n 25 "$file" | sed 's/^/  | /' >&2
}

# Succeeds if something accepts TCP connections on 127.0.0.1:PORT.
port_answers() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# The listening TCP sockets (`ss -Hltnp`), read once per command: `up` asks about a dozen ports two or three
# times (choosing them, adopting a server without its pid file, checking that they are free), and each ss or
# connect probe is a process that costs up to 0.1 s on a busy machine (a test suite starting stacks side by side).
# Nothing of this `up` has started when it asks, and ports other stacks chose are excluded by their records (lock
# above), so a snapshot answers as the probes did. LISTENERS_OK=false (no ss answer): each port is probed instead.
LISTENERS="" LISTEN_PORTS=" " LISTENERS_READ=false LISTENERS_OK=false
read_listeners() {
  $LISTENERS_READ && return 0
  LISTENERS_READ=true
  LISTENERS=$(ss -Hltnp 2>/dev/null) || return 0
  LISTENERS_OK=true
  local line
  while IFS= read -r line; do
    # State Recv-Q Send-Q Local-Address:Port Peer-Address:Port Process
    [[ $line =~ ^[^[:space:]]+[[:space:]]+[0-9]+[[:space:]]+[0-9]+[[:space:]]+[^[:space:]]*:([0-9]+)[[:space:]] ]] &&
      LISTEN_PORTS+="${BASH_REMATCH[1]} "
  done <<<"$LISTENERS"
}

# listener_line PORT: the snapshot's first line for a socket listening on PORT, or nothing.
listener_line() {
  local line
  read_listeners
  [[ $LISTEN_PORTS == *" $1 "* ]] || return 0
  while IFS= read -r line; do
    if [[ $line =~ ^[^[:space:]]+[[:space:]]+[0-9]+[[:space:]]+[0-9]+[[:space:]]+[^[:space:]]*:$1[[:space:]] ]]; then
      printf '%s\n' "$line"
      return 0
    fi
  done <<<"$LISTENERS"
}

# port_listening PORT: something listens on PORT (the snapshot, or a connect probe without one).
port_listening() {
  read_listeners
  if $LISTENERS_OK; then [[ $LISTEN_PORTS == *" $1 "* ]]; else port_answers "$1"; fi
}

# A random port in 20000-32767: below Linux's ephemeral range (32768+), so outgoing connections never take it
# between our choice and the server's bind, and not listening now nor taken by another component of this stack.
pick_port() {
  local taken=" $* " port tries
  for tries in $(seq 1 200); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
    if [[ $taken != *" $port "* ]] && ! port_listening "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "found no free port after $tries tries"
}

# Every stack directory of this user, one file each (named by a hash of DIR, holding DIR): a new stack never picks
# a port that another stack has chosen, also while that stack's server is stopped (a fault test's outage, a
# restart) and before it has bound it.
STACKS_DIR=${TMPDIR:-/tmp}/mohstats-stacks.$(id -u)

# stack_ports D: the ports stack directory D has chosen: its servers' and daemons' (state.env), and those taken
# for programs its test runs beside it (`port`: state/ports).
stack_ports() {
  [ ! -f "$1/state.env" ] || sed -n 's/^[A-Z_]*PORT=\([0-9][0-9]*\)$/\1/p' "$1/state.env"
  [ ! -f "$1/state/ports" ] || cat "$1/state/ports"
}

# The ports chosen by this user's other stacks; a stack whose directory is gone is forgotten.
other_stacks_ports() {
  local f d
  [ -d "$STACKS_DIR" ] || return 0
  for f in "$STACKS_DIR"/*; do
    [ -f "$f" ] || continue
    d=$(cat "$f")
    [ "$d" != "$DIR" ] || continue
    if [ -d "$d" ]; then stack_ports "$d"; else rm -f "$f"; fi
  done
}

# Take the lock under which a stack's ports are chosen and recorded (fd 8; `exec 8>&-` releases it).
lock_ports() {
  exec 8>"${TMPDIR:-/tmp}/mohstats-stack-up.$(id -u).lock"
  flock -w 300 8 || die "another stack.sh has been choosing ports for 5 minutes"
}

register_stack() {
  mkdir -p "$STACKS_DIR"
  printf '%s\n' "$DIR" >"$STACKS_DIR/$(printf '%s' "$DIR" | sha256sum | cut -c1-16)"
}

# 24 random alphanumeric characters: safe unquoted in URLs, shell and SQL.
random_password() {
  local pw
  pw=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24) || true
  [ ${#pw} -eq 24 ] || die "could not read /dev/urandom"
  echo "$pw"
}

# Run a command as the PostgreSQL user (root) or as ourselves, from / so it never trips over a cwd it cannot read.
as_pg() {
  if $IS_ROOT; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# --- components: pid files, ports, liveness --------------------------------------------------------------------

pid_file() {
  case $1 in
    postgres) echo "$DIR/postgres/postmaster.pid" ;;
    *) echo "$DIR/run/$1.pid" ;;
  esac
}

port_of() {
  case $1 in
    clickhouse) echo "$CLICKHOUSE_HTTP_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    cache) echo "$CACHE_REDIS_PORT" ;;
    postgres) echo "$POSTGRES_PORT" ;;
    mariadb) echo "$MARIADB_PORT" ;;
    ingestd) echo "$INGESTD_PORT" ;;
    queryd) echo "$QUERYD_PORT" ;;
    authd) echo "$AUTHD_PORT" ;;
    achievd) echo "$ACHIEVD_PORT" ;;
    ratingd) echo "$RATINGD_PORT" ;;
    mqtt) echo "$MQTT_PORT" ;;
    nginx) echo "$NGINX_PORT" ;;
  esac
}

log_file() {
  case $1 in
    clickhouse) echo "$DIR/logs/clickhouse.err.log" ;;
    nginx) echo "$DIR/logs/nginx-error.log" ;;
    *) echo "$DIR/logs/$1.log" ;;
  esac
}

# The pid recorded for a component (empty if none).
recorded_pid() {
  local f
  f=$(pid_file "$1")
  [ -s "$f" ] && head -n 1 "$f" | tr -dc '0-9'
  return 0
}

# Succeeds if PID is a process of this stack: its command line names DIR (servers are started with config
# paths under DIR), or its working directory is under DIR (Redis rewrites its command line but chdirs to its
# data directory), or it carries MOHSTATS_STACK_DIR=DIR in its environment (the daemons). A pid file left by
# a crash may name a pid that an unrelated process got since; this check keeps us from signalling it.
pid_is_ours() {
  local pid=$1 cmdline cwd
  [ -n "$pid" ] && pid_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$DIR/"* ]] && return 0
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || true
  [[ $cwd == "$DIR" || $cwd == "$DIR/"* ]] && return 0
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "MOHSTATS_STACK_DIR=$DIR"
}

# The pid of a running component of this stack, or nothing.
running_pid() {
  local pid
  pid=$(recorded_pid "$1")
  if pid_is_ours "$pid"; then echo "$pid"; fi
  return 0
}

# Wait until CHECK (a command) succeeds, at most TIMEOUT seconds; fail early if the component's process died.
# On failure, say so and show the end of its log.
wait_until() {
  local name=$1 what=$2
  shift 2
  local deadline=$((SECONDS + TIMEOUT))
  while ! "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name does not answer ($what) after ${TIMEOUT}s"
      show_log_tail "$(log_file "$name")"
      return 1
    fi
    if [ -z "$(running_pid "$name")" ] && [ $((SECONDS + TIMEOUT - deadline)) -ge 2 ]; then
      # Given two seconds to write its pid file, the process is gone: it will not answer.
      log "$name exited during start-up"
      show_log_tail "$(log_file "$name")"
      return 1
    fi
    sleep 0.1
  done
}

# Succeeds if PID exists and has not exited. An exited process stays a zombie until its parent (init, for
# our detached servers) reaps it, and init may take a while: kill -0 alone would count the zombie as alive.
pid_alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# Stop one process: SIGTERM, up to 15 s for a clean exit, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 150); do
    pid_alive "$pid" || {
      log "stopped $name (pid $pid)"
      return 0
    }
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM for 15 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# --- state: ports and passwords, chosen once per DIR -----------------------------------------------------------

PORT_VARS=(CLICKHOUSE_HTTP_PORT CLICKHOUSE_TCP_PORT CLICKHOUSE_INTERSERVER_PORT REDIS_PORT CACHE_REDIS_PORT
  POSTGRES_PORT MARIADB_PORT INGESTD_PORT QUERYD_PORT AUTHD_PORT ACHIEVD_PORT RATINGD_PORT MQTT_PORT)

load_state() {
  # shellcheck disable=SC1091
  [ -f "$DIR/state.env" ] && . "$DIR/state.env"
  return 0
}

# Choose whatever DIR does not have yet (ports, passwords, nginx's port) and write DIR/state.env.
ensure_state() {
  local v taken
  read_listeners
  taken=$( (other_stacks_ports; [ ! -f "$DIR/state/ports" ] || cat "$DIR/state/ports") | tr '\n' ' ')
  for v in "${PORT_VARS[@]}" NGINX_PORT; do taken+=" ${!v:-}"; done
  for v in "${PORT_VARS[@]}"; do
    if [ -z "${!v:-}" ]; then
      printf -v "$v" '%s' "$(pick_port "$taken")"
      taken+=" ${!v}"
    fi
  done
  # nginx: an explicit port wins; 0 means "any free one", and a DIR keeps the one it had.
  local want=${OPT_PORT:-${MOHSTATS_PORT:-}}
  if [ -n "$want" ] && [ "$want" != 0 ]; then
    if ! [[ $want =~ ^[0-9]+$ ]] || [ "$want" -gt 65535 ]; then die "--port must be a port number, not '$want'"; fi
    NGINX_PORT=$want
  elif [ -z "${NGINX_PORT:-}" ]; then
    if [ "$want" = 0 ]; then NGINX_PORT=$(pick_port "$taken"); else NGINX_PORT=8080; fi
  elif [ "$want" = 0 ] && [ -z "$(running_pid nginx)" ] && [ -n "$(port_holder "$NGINX_PORT")" ]; then
    # "Any free port", and the one this DIR had is someone else's now.
    NGINX_PORT=$(pick_port "$taken")
  fi
  POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-$(random_password)}
  MARIADB_PASSWORD=${MARIADB_PASSWORD:-$(random_password)}
  # ClickHouse: `default` (migrations, tests, the operator), `mohstats_ingest` (ingestd and ratingd: they write) and
  # `mohstats_read` (queryd and achievd: read-only). Redis: a password for each of the two servers.
  CLICKHOUSE_PASSWORD=${CLICKHOUSE_PASSWORD:-$(random_password)}
  CLICKHOUSE_INGEST_PASSWORD=${CLICKHOUSE_INGEST_PASSWORD:-$(random_password)}
  CLICKHOUSE_READ_PASSWORD=${CLICKHOUSE_READ_PASSWORD:-$(random_password)}
  REDIS_PASSWORD=${REDIS_PASSWORD:-$(random_password)}
  CACHE_REDIS_PASSWORD=${CACHE_REDIS_PASSWORD:-$(random_password)}
  # ... and each daemon's own Redis user (see redis_daemon_users): those are `default`'s, the operator's.
  REDIS_INGESTD_PASSWORD=${REDIS_INGESTD_PASSWORD:-$(random_password)}
  REDIS_QUERYD_PASSWORD=${REDIS_QUERYD_PASSWORD:-$(random_password)}
  REDIS_ACHIEVD_PASSWORD=${REDIS_ACHIEVD_PASSWORD:-$(random_password)}
  REDIS_RATINGD_PASSWORD=${REDIS_RATINGD_PASSWORD:-$(random_password)}
  # authd's secrets (docs/api.md, "Login and identity"): the key login codes derive from, and the forum's
  # token, of which authd gets only the hash. The plain token is kept here for tests and a development forum.
  AUTHD_TOKEN_KEY=${AUTHD_TOKEN_KEY:-$(LC_ALL=C od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
  [ ${#AUTHD_TOKEN_KEY} -eq 64 ] || die "could not read /dev/urandom"
  FORUM_API_TOKEN=${FORUM_API_TOKEN:-msf_$(random_password)}
  # ingestd's login on the MQTT broker (the game servers log in with their id and token).
  MQTT_PASSWORD=${MQTT_PASSWORD:-$(random_password)}
  # --mqtt sticks: a DIR that had the broker keeps it.
  if $OPT_MQTT; then MQTT=on; else MQTT=${MQTT:-off}; fi
  # What `status` expects to run: the mode of the last `up`.
  if $OPT_DB_ONLY; then MODE=db-only; else MODE=full; fi
  (
    umask 077
    {
      echo "# Chosen by scripts/stack.sh at the first 'up' of this directory and kept: ports, passwords, mode."
      for v in "${PORT_VARS[@]}" NGINX_PORT POSTGRES_PASSWORD MARIADB_PASSWORD CLICKHOUSE_PASSWORD \
        CLICKHOUSE_INGEST_PASSWORD CLICKHOUSE_READ_PASSWORD REDIS_PASSWORD CACHE_REDIS_PASSWORD REDIS_INGESTD_PASSWORD \
        REDIS_QUERYD_PASSWORD REDIS_ACHIEVD_PASSWORD REDIS_RATINGD_PASSWORD AUTHD_TOKEN_KEY \
        FORUM_API_TOKEN MQTT_PASSWORD MQTT MODE; do
        printf '%s=%s\n' "$v" "${!v}"
      done
    } >"$DIR/state.env.tmp"
    mv "$DIR/state.env.tmp" "$DIR/state.env"
  )
}

# DIR/stack.env: what the daemons and tests read. Values are plain (no quotes needed) by construction.
write_stack_env() {
  (
    umask 077
    cat >"$DIR/stack.env.tmp" <<EOF
# mohstats stack in $DIR, written by scripts/stack.sh. Source it with: set -a; . $DIR/stack.env; set +a
MOHSTATS_STACK_DIR=$DIR
MOHSTATS_URL=http://127.0.0.1:$NGINX_PORT
CLICKHOUSE_URL=http://default:$CLICKHOUSE_PASSWORD@127.0.0.1:$CLICKHOUSE_HTTP_PORT/?database=mohstats
REDIS_URL=redis://default:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0
CACHE_REDIS_URL=redis://default:$CACHE_REDIS_PASSWORD@127.0.0.1:$CACHE_REDIS_PORT/0
POSTGRES_URL=postgresql://mohstats:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_PORT/mohstats
MARIADB_URL=mysql://mohstats:$MARIADB_PASSWORD@127.0.0.1:$MARIADB_PORT/smf
INGESTD_URL=http://127.0.0.1:$INGESTD_PORT
QUERYD_URL=http://127.0.0.1:$QUERYD_PORT
AUTHD_URL=http://127.0.0.1:$AUTHD_PORT
ACHIEVD_URL=http://127.0.0.1:$ACHIEVD_PORT
RATINGD_URL=http://127.0.0.1:$RATINGD_PORT
MQTT_URL=$([ "$MQTT" = on ] && echo "mqtt://mohstats-ingestd:$MQTT_PASSWORD@127.0.0.1:$MQTT_PORT")
MQTT_ACCOUNTS_FILE=$([ "$MQTT" = on ] && echo "$DIR/mqtt/accounts")
AUTHD_TOKEN_KEY=$AUTHD_TOKEN_KEY
FORUM_API_TOKEN_SHA256=$(printf '%s' "$FORUM_API_TOKEN" | sha256sum | cut -c1-64)
LOG_LEVEL=info
EOF
    mv "$DIR/stack.env.tmp" "$DIR/stack.env"
    # The forum's own secret (its mohaa_stats_server_token setting), for the developer and the tests that play
    # the forum. Not in stack.env: the daemons are started with exactly stack.env, and authd needs only the
    # hash above.
    printf '# The forum secret of the stack in %s (the forum plugin setting mohaa_stats_server_token).\nFORUM_API_TOKEN=%s\n' \
      "$DIR" "$FORUM_API_TOKEN" >"$DIR/forum.env.tmp"
    mv "$DIR/forum.env.tmp" "$DIR/forum.env"
  )
}

# --- ClickHouse ------------------------------------------------------------------------------------------------

write_clickhouse_config() {
  mkdir -p "$DIR/clickhouse/tmp" "$DIR/clickhouse/user_files" "$DIR/clickhouse/format_schemas"
  cat >"$DIR/etc/clickhouse.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/stack.sh: a single loopback ClickHouse for development and tests. -->
<yandex>
  <logger>
    <level>information</level>
    <log>$DIR/logs/clickhouse.log</log>
    <errorlog>$DIR/logs/clickhouse.err.log</errorlog>
    <size>20M</size>
    <count>2</count>
  </logger>
  <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
  <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
  <interserver_http_port>$CLICKHOUSE_INTERSERVER_PORT</interserver_http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$DIR/clickhouse/</path>
  <tmp_path>$DIR/clickhouse/tmp/</tmp_path>
  <user_files_path>$DIR/clickhouse/user_files/</user_files_path>
  <format_schema_path>$DIR/clickhouse/format_schemas/</format_schema_path>
  <users_config>$DIR/etc/clickhouse-users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <!-- Stored DateTime values are rendered in UTC, as in the docker image. -->
  <timezone>UTC</timezone>
  <!-- Modest memory: the stock config reserves 5 GiB of mark cache and 8 GiB of uncompressed cache. -->
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <!-- Honoured by releases from 20.x on; 18.16 ignores it (the per-query limit in the users file applies). -->
  <max_server_memory_usage>2147483648</max_server_memory_usage>
  <max_concurrent_queries>64</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
EOF
  local admin_sha ingest_sha read_sha
  admin_sha=$(printf %s "$CLICKHOUSE_PASSWORD" | sha256sum | cut -d' ' -f1)
  ingest_sha=$(printf %s "$CLICKHOUSE_INGEST_PASSWORD" | sha256sum | cut -d' ' -f1)
  read_sha=$(printf %s "$CLICKHOUSE_READ_PASSWORD" | sha256sum | cut -d' ' -f1)
  (
    umask 077
    cat >"$DIR/etc/clickhouse-users.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/stack.sh: three users with passwords (DIR/state.env), reachable from 127.0.0.1 only:
     default (migrations, tests, the operator), mohstats_ingest (ingestd writes), mohstats_read (queryd and
     achievd: readonly 2, settings may still be given per query). ClickHouse reloads this file when it changes. -->
<yandex>
  <profiles>
    <default>
      <max_memory_usage>1073741824</max_memory_usage>
      <use_uncompressed_cache>0</use_uncompressed_cache>
      <!-- A client silent this long in the middle of its request's body loses the request (1800 s by default).
           Read from the default profile when the server starts, for every HTTP connection. A writer stopped
           mid-insert (SIGSTOP, a suspended VM) leaves its insert running until then, and the writer that takes
           its entries over waits for that insert to end before inserting them (ingestd/stream_writer.c, I4). -->
      <http_receive_timeout>30</http_receive_timeout>
    </default>
    <read>
      <max_memory_usage>1073741824</max_memory_usage>
      <use_uncompressed_cache>0</use_uncompressed_cache>
      <readonly>2</readonly>
      <!-- Reads take at most 32 of the server's 64 query slots: the writer's inserts always find one. -->
      <max_concurrent_queries_for_user>32</max_concurrent_queries_for_user>
    </read>
  </profiles>
  <users>
    <default>
      <password_sha256_hex>$admin_sha</password_sha256_hex>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <mohstats_ingest>
      <password_sha256_hex>$ingest_sha</password_sha256_hex>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <allow_databases><database>mohstats</database></allow_databases>
    </mohstats_ingest>
    <mohstats_read>
      <password_sha256_hex>$read_sha</password_sha256_hex>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>read</profile>
      <quota>default</quota>
      <allow_databases><database>mohstats</database></allow_databases>
    </mohstats_read>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
  )
}

clickhouse_answers() {
  [ "$(curl -s --max-time 2 "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping")" = "Ok." ]
}

start_clickhouse() {
  write_clickhouse_config
  if [ -z "$(running_pid clickhouse)" ]; then
    rm -f "$(pid_file clickhouse)"
    # --daemon forks and writes the pid file itself; its own stdout/stderr go to files in the log directory.
    clickhouse-server --config-file="$DIR/etc/clickhouse.xml" --pid-file="$(pid_file clickhouse)" --daemon \
      </dev/null 8>&- 9>&- >>"$DIR/logs/clickhouse.start.log" 2>&1 || {
      show_log_tail "$DIR/logs/clickhouse.start.log"
      die "clickhouse-server did not start"
    }
    log "started clickhouse (http port $CLICKHOUSE_HTTP_PORT)"
  fi
  wait_until clickhouse "GET /ping on port $CLICKHOUSE_HTTP_PORT" clickhouse_answers
}

# --- Redis -----------------------------------------------------------------------------------------------------

# redis_server_start NAME PORT PASSWORD: start the Redis server NAME (redis or cache) from DIR/etc/NAME.conf's
# common part plus the lines on stdin (its own policy), its data in DIR/NAME, unless it runs; wait for its PONG.
redis_server_start() {
  local name=$1 port=$2 password=$3
  mkdir -p "$DIR/$name"
  (
    umask 077
    cat >"$DIR/etc/$name.conf" <<EOF
# Generated by scripts/stack.sh.
bind 127.0.0.1
port $port
protected-mode yes
requirepass $password
daemonize yes
pidfile $(pid_file "$name")
logfile $DIR/logs/$name.log
dir $DIR/$name
EOF
    cat >>"$DIR/etc/$name.conf"
  )
  if [ -z "$(running_pid "$name")" ]; then
    rm -f "$(pid_file "$name")"
    (cd "$DIR/$name" && redis-server "$DIR/etc/$name.conf") </dev/null 8>&- 9>&- >>"$DIR/logs/$name.log" 2>&1 || {
      show_log_tail "$DIR/logs/$name.log"
      die "redis-server ($name) did not start"
    }
    log "started $name (port $port)"
  fi
  wait_until "$name" "PING on port $port" redis_server_answers "$port" "$password"
}

redis_server_answers() {
  [ "$(REDISCLI_AUTH=$2 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

# The daemons' Redis users (issue 17): each may run only the commands its code sends, the commands its Lua scripts
# call included (Redis checks those against the caller's user too). `default`, with the server's password, stays
# the operator's (and the tests'). Keys: the names of the stream's keys are settings (INGEST_STREAM, the groups,
# the dead-letter stream), so ingestd and achievd may name any key of the stream's server; queryd only reads
# there (%R), and on the cache's server touches only the cache's keys. No daemon publishes or subscribes.
# docker-compose.yml gives the same users the same rules (test_stack.sh compares them). authd uses no Redis.
REDIS_ACL_INGESTD='~* resetchannels -@all +auth +select +ping +time +eval +exists +set +xadd +xgroup +xreadgroup
  +xack +xpending +xautoclaim +xclaim +xtrim +xinfo +xlen +xrange +hset +hget +hgetall +hdel'
REDIS_ACL_ACHIEVD='~* resetchannels -@all +auth +select +ping +eval +get +set +del +hget +hset +hdel +hmget +hscan
  +pexpire +xgroup +xinfo +xpending +xrevrange +xread +xreadgroup +xack +zmscore +zadd +zremrangebyscore +smembers
  +srem'
REDIS_ACL_QUERYD='%R~* resetchannels -@all +auth +select +ping +hget +hgetall +xrevrange +xread'
CACHE_ACL_QUERYD='~q:* ~qs:* ~ql:* resetchannels -@all +auth +select +ping +get +set +del'
# ratingd holds its lease (ratingd/worker.c: a script that GETs, SETs with PX, PEXPIREs or DELs one key) and adds to
# the freshness stream `fresh` (common/fresh_stream.h) after each insert, and nothing else: its keys are the lease
# key's prefix and that stream.
REDIS_ACL_RATINGD='~mohstats:ratingd:* ~fresh resetchannels -@all +auth +select +ping +eval +get +set +pexpire +del
  +xadd'

# redis_daemon_users PORT ADMIN_PASSWORD: (re)define the users of lines "NAME PASSWORD RULES..." on stdin on the
# running server at PORT, as `default`: on every `up`, so a server started before a rule changed gets it too.
# The passwords go through redis-cli's input, never its arguments (visible in ps).
redis_daemon_users() {
  local port=$1 admin=$2 name password rules out
  out=$(while read -r name password rules; do
    printf 'ACL SETUSER %s reset on >%s %s\n' "$name" "$password" "$rules"
  done | REDISCLI_AUTH=$admin redis-cli -h 127.0.0.1 -p "$port" 2>&1)
  [ -z "$(grep -v '^OK$' <<<"$out")" ] || die "Redis on port $port refused a daemon's user: $out"
}

# The event stream's Redis.
start_redis() {
  redis_server_start redis "$REDIS_PORT" "$REDIS_PASSWORD" <<EOF
# An acknowledged ingest batch must survive a crash: every write is fsynced before Redis replies.
appendonly yes
appendfsync always
# The append-only file is the only persistence; no background RDB snapshots.
save ""
# Stream entries and counters must never be dropped to make room: fail writes instead.
maxmemory-policy noeviction
# The stream is trimmed as the writers acknowledge (keeping the last WRITER_RETAIN_MS, 60 s), so the data stays
# small while the AOF grows by every batch: with the default 64mb Redis rewrote it every 4-5 s at 20,000
# events/s, and each rewrite forks (the main thread stops for milliseconds, and every page written afterwards is
# copied). Rewrite at 1 GB instead: hours at a real community's load, a minute at the benchmark's; a restart
# replays at most about that much.
auto-aof-rewrite-min-size 1gb
EOF
  redis_daemon_users "$REDIS_PORT" "$REDIS_PASSWORD" <<EOF
ingestd $REDIS_INGESTD_PASSWORD $(echo $REDIS_ACL_INGESTD)
queryd $REDIS_QUERYD_PASSWORD $REDIS_ACL_QUERYD
achievd $REDIS_ACHIEVD_PASSWORD $(echo $REDIS_ACL_ACHIEVD)
ratingd $REDIS_RATINGD_PASSWORD $(echo $REDIS_ACL_RATINGD)
EOF
}

# The answer cache's Redis (queryd's CACHE_REDIS_URL): bounded memory, least recently used answers evicted,
# nothing persisted. A server of its own, because eviction in the stream's Redis could drop acknowledged batches.
: "${CACHE_MAXMEMORY:=256mb}"
start_cache() {
  redis_server_start cache "$CACHE_REDIS_PORT" "$CACHE_REDIS_PASSWORD" <<EOF
save ""
appendonly no
maxmemory $CACHE_MAXMEMORY
maxmemory-policy allkeys-lru
EOF
  redis_daemon_users "$CACHE_REDIS_PORT" "$CACHE_REDIS_PASSWORD" <<EOF
queryd $REDIS_QUERYD_PASSWORD $CACHE_ACL_QUERYD
EOF
}

# --- MQTT broker -----------------------------------------------------------------------------------------------

# mosquitto, for game servers that publish their events (docs/tracker-wire.md, "MQTT"). Logins go through
# ingestd's plugin (ingestd/broker_auth/): a game server with its id and token, publishing only to
# openmohaa/events/<id>; ingestd with MQTT_PASSWORD. ingestd writes the plugin's accounts (MQTT_ACCOUNTS_FILE).
write_mqtt_config() {
  local plugin
  plugin=${BIN_DIR:-$(cd "${MOHSTATS_BIN_DIR:-$SRC_DIR/build}" 2>/dev/null && pwd)}/mohstats_broker_auth.so
  [ -f "$plugin" ] || die "$plugin is missing; build it (make)"
  mkdir -p "$DIR/mqtt"
  (
    umask 077
    cat >"$DIR/etc/mosquitto.conf" <<EOF
# Generated by scripts/stack.sh.
pid_file $(pid_file mqtt)
user $(id -un)
listener $MQTT_PORT 127.0.0.1
log_dest file $DIR/logs/mqtt.log
log_type error
log_type warning
log_type notice
# Messages queued for ingestd's persistent session survive a restart of the broker: written on a clean stop, and
# every 5 s (a crash loses at most the last 5 s of messages ingestd had not taken yet).
persistence true
persistence_location $DIR/mqtt/
autosave_interval 5
# The tracker publishes with QoS 0: delivered to ingestd with the QoS 1 of its subscription, so they wait in its
# session while it is away and are sent again until it acknowledges them.
upgrade_outgoing_qos true
queue_qos0_messages true
# What ingestd's session may hold while ingestd is away or behind (each ingestd of the group its own). A tracker's
# message is 0.2-3 KB (1 to 20 events) and a busy server sends about one a second (a flush every 2 s, and one per
# kill): some 1 KB/s a server, so 512 MiB hold an ingestd outage of about 30 minutes at 300 busy servers, 90 at
# 100. Past either bound the broker drops each new message for the session (its log: "Outgoing messages are being
# dropped for client ..."): the tracker published with QoS 0, so it does not know, and the message is lost
# (docs/operations.md, "MQTT: when a message is taken"). The messages are also in the broker's memory, and in its
# persistence file, which autosave rewrites: size the broker's memory and disk for the bytes.
max_queued_bytes 536870912
max_queued_messages 1000000
# A message over 2 MiB is refused by the broker (it disconnects the publisher): twice what an HTTP body may be, so
# that ingestd still counts those over 1 MiB as too_large, and small enough that one server cannot fill the queue
# above with a few huge messages.
max_packet_size 2097152
# Nothing reads a retained message (ingestd's session gets each message once): a client that publishes one is
# disconnected, rather than leave it for every later subscriber.
retain_available false
# ingestd asks for a session that expires (MQTT_SESSION_EXPIRY_S, a day); this bounds a session that never would
# (an MQTT 3 client's, or one asking for never): an abandoned session keeps taking a share of the messages.
persistent_client_expiration 7d
allow_anonymous false
plugin $plugin
plugin_opt_accounts_file $DIR/mqtt/accounts
plugin_opt_ingest_user mohstats-ingestd
plugin_opt_ingest_password_sha256 $(printf %s "$MQTT_PASSWORD" | sha256sum | cut -c1-64)
EOF
  )
}

start_mqtt() {
  write_mqtt_config
  if [ -z "$(running_pid mqtt)" ]; then
    rm -f "$(pid_file mqtt)"
    (cd "$DIR/mqtt" && mosquitto -c "$DIR/etc/mosquitto.conf" -d) </dev/null 8>&- 9>&- >>"$DIR/logs/mqtt.log" 2>&1 || {
      show_log_tail "$DIR/logs/mqtt.log"
      die "mosquitto did not start"
    }
    log "started mqtt (port $MQTT_PORT)"
  fi
  wait_until mqtt "TCP connect to port $MQTT_PORT" port_answers "$MQTT_PORT"
}

# --- PostgreSQL ------------------------------------------------------------------------------------------------

pg_admin() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg-socket" -p "$POSTGRES_PORT" -U postgres -d postgres "$@"
}

postgres_answers() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 1
}

start_postgres() {
  local data=$DIR/postgres
  # A directory without the marker is an initdb that did not finish: it holds no data, start it over.
  if [ ! -f "$DIR/state/postgres.initialized" ]; then
    rm -rf "$data"
    mkdir -p "$data" "$DIR/pg-socket"
    touch "$DIR/logs/postgres.log"
    if $IS_ROOT; then chown postgres: "$data" "$DIR/pg-socket" "$DIR/logs/postgres.log"; fi
    chmod 700 "$data"
    # Local (socket) connections are trusted, for the bootstrap below; TCP needs the password, so the
    # daemons' POSTGRES_URL is exercised for real. --no-sync: a fresh cluster has nothing to lose.
    as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >"$DIR/logs/postgres-initdb.log" 2>&1 || {
      show_log_tail "$DIR/logs/postgres-initdb.log"
      die "initdb failed"
    }
    cat >>"$data/postgresql.conf" <<'EOF'

# Added by scripts/stack.sh (port, addresses and socket directory are passed on the command line).
shared_buffers = 64MB
max_connections = 100
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    touch "$DIR/state/postgres.initialized"
  fi
  if [ -z "$(running_pid postgres)" ]; then
    as_pg "$PG_BIN/pg_ctl" start -D "$data" -l "$DIR/logs/postgres.log" -W -s \
      -o "-p $POSTGRES_PORT -k $DIR/pg-socket -c listen_addresses=127.0.0.1" </dev/null 8>&- 9>&- || {
      show_log_tail "$DIR/logs/postgres.log"
      die "pg_ctl start failed"
    }
    log "started postgres (port $POSTGRES_PORT)"
  fi
  wait_until postgres "pg_isready on port $POSTGRES_PORT" postgres_answers || return 1
  # Role and database, idempotently; the password is set every time so it always matches state.env.
  pg_admin -v pw="$POSTGRES_PASSWORD" >/dev/null <<'EOF' || die "could not create the mohstats role and database in PostgreSQL"
SELECT 'CREATE ROLE mohstats LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mohstats') \gexec
ALTER ROLE mohstats LOGIN PASSWORD :'pw';
SELECT 'CREATE DATABASE mohstats OWNER mohstats' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'mohstats') \gexec
EOF
}

# --- MariaDB ---------------------------------------------------------------------------------------------------

mdb_admin() {
  mariadb --no-defaults --protocol=socket -S "$DIR/run/mariadb.sock" -u root
}

mariadb_answers() {
  mariadb-admin --no-defaults --protocol=socket -S "$DIR/run/mariadb.sock" -u root --connect-timeout=1 ping
}

start_mariadb() {
  cat >"$DIR/etc/mariadb.cnf" <<EOF
# Generated by scripts/stack.sh.
[mysqld]
datadir = $DIR/mariadb
socket = $DIR/run/mariadb.sock
pid-file = $(pid_file mariadb)
port = $MARIADB_PORT
bind-address = 127.0.0.1
skip-name-resolve
log-error = $DIR/logs/mariadb.log
# A temporary directory of its own: bootstraps of stacks started side by side in the shared /tmp failed about one
# in three ("Unknown table 'mysql.tmp_user_sys'" after "Could not remove temporary table '/tmp/#sql-temptable-...'").
tmpdir = $DIR/mariadb-tmp
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
# Small footprint: the defaults create a 96 MiB redo log per instance.
innodb_buffer_pool_size = 64M
innodb_log_file_size = 16M
EOF
  local user_opt=()
  $IS_ROOT && user_opt=(--user=root)
  mkdir -p "$DIR/mariadb-tmp"
  if [ ! -f "$DIR/state/mariadb.initialized" ]; then
    rm -rf "$DIR/mariadb"
    # root@localhost without password (normal auth, reachable through the socket under DIR only in practice):
    # the bootstrap below needs it, and nothing else uses it.
    mariadb-install-db --defaults-file="$DIR/etc/mariadb.cnf" "${user_opt[@]}" --skip-test-db \
      --auth-root-authentication-method=normal >"$DIR/logs/mariadb-install.log" 2>&1 || {
      # Its bootstrap server writes the cause to log-error, the script only that it failed.
      show_log_tail "$DIR/logs/mariadb.log"
      die "mariadb-install-db failed (its own output: $DIR/logs/mariadb-install.log)"
    }
    touch "$DIR/state/mariadb.initialized"
  fi
  if [ -z "$(running_pid mariadb)" ]; then
    rm -f "$(pid_file mariadb)"
    # mariadbd does not daemonize itself; setsid detaches it from our terminal and process group.
    setsid mariadbd --defaults-file="$DIR/etc/mariadb.cnf" "${user_opt[@]}" \
      </dev/null 8>&- 9>&- >>"$DIR/logs/mariadb.log" 2>&1 &
    # mariadbd writes this file itself only after InnoDB is up, which can take a while after a crash; written
    # now (same pid: setsid execs), the wait below can tell "still starting" from "died".
    echo $! >"$(pid_file mariadb)"
    log "started mariadb (port $MARIADB_PORT)"
  fi
  wait_until mariadb "ping on $DIR/run/mariadb.sock" mariadb_answers || return 1
  # The forum database and our user; idempotent, the password always matches state.env. Two host entries:
  # with skip-name-resolve, TCP clients match 127.0.0.1 and socket clients match localhost.
  mdb_admin <<EOF || die "could not create the smf database and mohstats user in MariaDB"
CREATE DATABASE IF NOT EXISTS smf CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'mohstats'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
CREATE USER IF NOT EXISTS 'mohstats'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER 'mohstats'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER 'mohstats'@'localhost' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON smf.* TO 'mohstats'@'127.0.0.1';
GRANT ALL PRIVILEGES ON smf.* TO 'mohstats'@'localhost';
EOF
}

# --- daemons ---------------------------------------------------------------------------------------------------

daemon_answers() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/health"
}

start_daemon() {
  local name=$1 bin=$BIN_DIR/$1 port
  port=$(port_of "$name")
  if [ -z "$(running_pid "$name")" ]; then
    # The environment is exactly stack.env on top of ours; the daemon reads nothing else. Started from a
    # subshell that execs setsid, which execs the daemon: $! is the daemon's own pid.
    (
      set -a
      # shellcheck disable=SC1091
      . "$DIR/stack.env"
      # Each daemon reaches ClickHouse as the user its work needs: ingestd and ratingd write, queryd and achievd
      # only read.
      case $name in
        ingestd | ratingd) CLICKHOUSE_URL=http://mohstats_ingest:$CLICKHOUSE_INGEST_PASSWORD@127.0.0.1:$CLICKHOUSE_HTTP_PORT/?database=mohstats ;;
        queryd | achievd) CLICKHOUSE_URL=http://mohstats_read:$CLICKHOUSE_READ_PASSWORD@127.0.0.1:$CLICKHOUSE_HTTP_PORT/?database=mohstats ;;
      esac
      # ... and Redis as its own user, which may run only the commands its code sends (redis_daemon_users).
      case $name in
        ingestd) REDIS_URL=redis://ingestd:$REDIS_INGESTD_PASSWORD@127.0.0.1:$REDIS_PORT/0 ;;
        achievd) REDIS_URL=redis://achievd:$REDIS_ACHIEVD_PASSWORD@127.0.0.1:$REDIS_PORT/0 ;;
        ratingd) REDIS_URL=redis://ratingd:$REDIS_RATINGD_PASSWORD@127.0.0.1:$REDIS_PORT/0 ;;
        queryd)
          REDIS_URL=redis://queryd:$REDIS_QUERYD_PASSWORD@127.0.0.1:$REDIS_PORT/0
          CACHE_REDIS_URL=redis://queryd:$REDIS_QUERYD_PASSWORD@127.0.0.1:$CACHE_REDIS_PORT/0
          ;;
      esac
      set +a
      cd "$DIR"
      exec setsid "$bin"
    ) </dev/null 8>&- 9>&- >>"$DIR/logs/$name.log" 2>&1 &
    echo $! >"$(pid_file "$name")"
    log "started $name (port $port)"
  fi
  wait_until "$name" "GET /health on port $port" daemon_answers "$port"
}

# --- nginx -----------------------------------------------------------------------------------------------------

# The front door's own settings (deploy/nginx/mohstats.conf.template and mohstats-front.conf.stream-template
# explain each), from the environment of each `up`, else these defaults; docker-compose.yml has the same defaults.
NGINX_VARS=(NGINX_PRIVATE_NETS NGINX_EXEMPT_NETS NGINX_REAL_IP NGINX_READS_PER_S NGINX_READS_BURST
  NGINX_CONNS_PER_ADDRESS NGINX_CONN_BYTES_PER_S NGINX_TLS NGINX_CORS_ORIGINS)
: "${NGINX_PRIVATE_NETS=127.0.0.0/8 1; ::1 1;}" "${NGINX_EXEMPT_NETS=127.0.0.0/8 1; ::1 1;}" "${NGINX_REAL_IP=}"
: "${NGINX_TLS=}" "${NGINX_CORS_ORIGINS=}"
# More parameters of the plain port's listen directive, e.g. "proxy_protocol" behind a load balancer that sends the
# PROXY protocol (with NGINX_REAL_IP "set_real_ip_from ADDRESS;"). Default none.
: "${NGINX_LISTEN_PARAMS=}"
: "${NGINX_READS_PER_S:=20}" "${NGINX_READS_BURST:=40}" "${NGINX_CONNS_PER_ADDRESS:=128}"
: "${NGINX_CONN_BYTES_PER_S:=262144}"
# Debian's nginx has the stream module (the TCP side) as a loadable module, from libnginx-mod-stream.
NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

# render_nginx TEMPLATE OUT: OUT from deploy/nginx/TEMPLATE with this stack's values; NGINX_CHANGED=true when
# OUT changed.
render_nginx() {
  local rendered
  rendered=$(export "${NGINX_VARS[@]}" && NGINX_LISTEN="127.0.0.1:$NGINX_PORT $NGINX_LISTEN_PARAMS" INGESTD_UPSTREAM=127.0.0.1:$INGESTD_PORT \
    QUERYD_UPSTREAM=127.0.0.1:$QUERYD_PORT AUTHD_UPSTREAM=127.0.0.1:$AUTHD_PORT \
    ACHIEVD_UPSTREAM=127.0.0.1:$ACHIEVD_PORT RATINGD_UPSTREAM=127.0.0.1:$RATINGD_PORT \
    NGINX_ACCESS_LOG=$DIR/logs/nginx-access.log NGINX_FRONT_SOCKET=$DIR/nginx/front/http.sock \
    envsubst "\${NGINX_LISTEN} \${INGESTD_UPSTREAM} \${QUERYD_UPSTREAM} \${AUTHD_UPSTREAM} \${ACHIEVD_UPSTREAM} \${RATINGD_UPSTREAM} \${NGINX_ACCESS_LOG}
      \${NGINX_PRIVATE_NETS} \${NGINX_EXEMPT_NETS} \${NGINX_REAL_IP} \${NGINX_READS_PER_S} \${NGINX_READS_BURST}
      \${NGINX_CONNS_PER_ADDRESS} \${NGINX_CONN_BYTES_PER_S} \${NGINX_TLS} \${NGINX_CORS_ORIGINS} \${NGINX_FRONT_SOCKET}" <"$SRC_DIR/deploy/nginx/$1")
  if [ ! -f "$2" ] || [ "$rendered" != "$(cat "$2")" ]; then
    printf '%s\n' "$rendered" >"$2"
    NGINX_CHANGED=true
  fi
}

# Settings nginx would refuse with a message that does not say what to do: refused before anything starts.
check_nginx_settings() {
  # Before the TCP side, NGINX_REAL_IP held HTTP realip directives; nginx would only say "unknown directive".
  case $NGINX_REAL_IP in *real_ip_header*)
    die "NGINX_REAL_IP takes only \"set_real_ip_from ADDRESS;\" lines now (whose PROXY header to believe); drop real_ip_header (docs/configuration.md, \"The front door\")" ;;
  esac
  [ -f "$NGINX_STREAM_MODULE" ] || die "nginx's stream module is missing ($NGINX_STREAM_MODULE): install libnginx-mod-stream (scripts/deps.sh)"
}

write_nginx_config() {
  # The hop's socket trusts the PROXY header it receives: only nginx's own user may reach it.
  mkdir -p "$DIR/nginx/tmp" && mkdir -p -m 700 "$DIR/nginx/front"
  NGINX_CHANGED=false
  render_nginx mohstats.conf.template "$DIR/nginx/mohstats.conf"
  render_nginx mohstats-front.conf.stream-template "$DIR/nginx/mohstats-front.conf"
  local user_line=""
  $IS_ROOT && user_line="user root;"
  # Each client connection takes three of a worker's connections (the client's, the hop's two ends) and
  # sometimes a fourth to a daemon: 4096 lets 2 workers hold ~2700 clients, 21 addresses at the default bound.
  cat >"$DIR/nginx/nginx.conf" <<EOF
# Generated by scripts/stack.sh: the main config around deploy/nginx/mohstats.conf.template (HTTP side) and
# mohstats-front.conf.stream-template (TCP side).
load_module $NGINX_STREAM_MODULE;
$user_line
daemon on;
worker_processes 2;
worker_rlimit_nofile 10000;
pid $(pid_file nginx);
error_log $DIR/logs/nginx-error.log warn;

events {
    worker_connections 4096;
}

stream {
    include $DIR/nginx/mohstats-front.conf;
}

http {
    default_type application/octet-stream;
    client_body_temp_path $DIR/nginx/tmp/client_body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;
    keepalive_timeout 65s;
    include $DIR/nginx/mohstats.conf;
}
EOF
}

start_nginx() {
  write_nginx_config
  local nginx=(nginx -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -e "$DIR/logs/nginx-error.log")
  if [ -z "$(running_pid nginx)" ]; then
    # A socket file left by an nginx that was killed would make the bind fail.
    rm -f "$(pid_file nginx)" "$DIR/nginx/front/http.sock"
    "${nginx[@]}" </dev/null 8>&- 9>&- >>"$DIR/logs/nginx-error.log" 2>&1 || {
      show_log_tail "$DIR/logs/nginx-error.log"
      die "nginx did not start"
    }
    log "started nginx (port $NGINX_PORT)"
  elif $NGINX_CHANGED; then
    "${nginx[@]}" -s reload || die "nginx rejected its new configuration (see $DIR/logs/nginx-error.log)"
    log "reloaded nginx (port $NGINX_PORT)"
  fi
  wait_until nginx "TCP connect to port $NGINX_PORT" port_answers "$NGINX_PORT"
}

# --- readiness, ports, and undoing a failed up -----------------------------------------------------------------

# The HTTP status of GET /ready of the daemon on PORT (000: no answer).
daemon_ready_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/ready" || true
}

# Wait until every daemon answers GET /ready with 200, at most TIMEOUT seconds; else name each one that is not
# ready and why (its /ready answer's error, or that it does not answer), and fail.
wait_ready() {
  local deadline=$((SECONDS + TIMEOUT)) t0 name pending body why
  t0=$(date +%s%N)
  while :; do
    pending=()
    for name in "${DAEMONS[@]}"; do
      [ "$(daemon_ready_status "$(port_of "$name")")" = 200 ] && continue
      pending+=("$name")
      if [ -z "$(running_pid "$name")" ]; then
        log "$name exited before it was ready"
        show_log_tail "$(log_file "$name")"
        die "not ready: $name exited (logs in $DIR/logs)"
      fi
    done
    if [ ${#pending[@]} -eq 0 ]; then
      log "every daemon is ready ($((($(date +%s%N) - t0) / 1000000)) ms after they answered /health)"
      return 0
    fi
    if [ $SECONDS -ge $deadline ]; then
      for name in "${pending[@]}"; do
        body=$(curl -s --max-time 2 "http://127.0.0.1:$(port_of "$name")/ready" || true)
        why=$(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' <<<"$body")
        log "$name is not ready: ${why:-${body:-no answer on port $(port_of "$name")}}"
        show_log_tail "$(log_file "$name")"
      done
      die "not ready after ${TIMEOUT}s: ${pending[*]} (GET /ready is not 200; logs in $DIR/logs)"
    fi
    sleep 0.1
  done
}

# The ports a component listens on.
ports_of() {
  case $1 in
    clickhouse) echo "$CLICKHOUSE_HTTP_PORT $CLICKHOUSE_TCP_PORT $CLICKHOUSE_INTERSERVER_PORT" ;;
    *) port_of "$1" ;;
  esac
}

# Who listens on PORT: "pid N (name)" when ss can tell (it can for our own processes, and for all as root),
# else "another process"; nothing if no one does.
port_holder() {
  local line
  line=$(listener_line "$1")
  if [ -z "$line" ]; then
    ! $LISTENERS_OK && port_answers "$1" && echo "another process"
    return 0
  fi
  if [[ $line =~ users:\(\(\"([^\"]*)\",pid=([0-9]+) ]]; then
    echo "pid ${BASH_REMATCH[2]} (${BASH_REMATCH[1]})"
  else
    echo "another process"
  fi
}

# Before anything starts: every port of a component this `up` will start must be free. A port held by another
# process (another stack's nginx on 8080, say) is named, with its holder, and nothing is started.
check_ports() {
  local name port holder problems=()
  for name in "$@"; do
    [ -z "$(running_pid "$name")" ] || continue
    for port in $(ports_of "$name"); do
      holder=$(port_holder "$port")
      [ -z "$holder" ] || problems+=("port $port ($name) is in use by $holder")
    done
  done
  [ ${#problems[@]} -eq 0 ] && return 0
  local p all="" hint=""
  for p in "${problems[@]}"; do all+="${all:+; }$p"; done
  [[ $all == *"(nginx)"* ]] && hint=", or give nginx another port (--port N, 0 = any free one)"
  die "cannot start $DIR: $all; stop what holds it$hint"
}

# A component of this DIR that runs without a pid file saying so (left by an `up` of an older stack.sh that
# failed part-way, or a pid file removed by hand) is found by the port it listens on and recorded, so that
# `up` does not start it a second time on the same data, and `status` and `down` see it. PostgreSQL keeps its
# own postmaster.pid and is left out.
adopt_unrecorded() {
  local name port line pid
  for name in "${DATABASES[@]}" "${DAEMONS[@]}" nginx; do
    if [ "$name" = postgres ] || [ -n "$(running_pid "$name")" ]; then continue; fi
    for port in $(ports_of "$name"); do
      line=$(listener_line "$port")
      # Every process holding the socket is listed (nginx's workers too): the one of this DIR is the one.
      for pid in $(grep -o 'pid=[0-9]*' <<<"$line" | tr -dc '0-9\n'); do
        pid_is_ours "$pid" || continue
        echo "$pid" >"$(pid_file "$name")"
        log "found $name running (pid $pid, port $port) without its pid file: recorded it"
        continue 3
      done
    done
  done
}

# The components running now (pid files and processes agree), one line each.
running_components() {
  local name
  for name in "${DATABASES[@]}" "${DAEMONS[@]}" nginx; do
    [ -z "$(running_pid "$name")" ] || echo "$name"
  done
}

# EXIT trap of `up`: when it fails (or is interrupted) part-way, stop what this `up` started (what runs now and
# did not when it began), daemons first, so that nothing runs that a later `up`, `status` or `down` would not
# expect; what ran before stays.
undo_failed_up() {
  local rc=$? name started=() daemons=() servers=()
  trap - EXIT
  [ "$rc" -ne 0 ] || exit 0
  set +e
  for name in $(running_components); do
    [[ $'\n'$UP_RUNNING_BEFORE$'\n' == *$'\n'$name$'\n'* ]] && continue
    started+=("$name")
    case " ${DAEMONS[*]} nginx " in *" $name "*) daemons+=("$name") ;; *) servers+=("$name") ;; esac
  done
  if [ ${#started[@]} -gt 0 ]; then
    log "up failed: stopping what it started (${started[*]})"
    [ ${#daemons[@]} -eq 0 ] || stop_parallel "${daemons[@]}"
    [ ${#servers[@]} -eq 0 ] || stop_parallel "${servers[@]}"
  fi
  exit "$rc"
}

# --- commands --------------------------------------------------------------------------------------------------

# migrate_database NAME: apply the migrations of database NAME (scripts/migrate.sh NAME), if it has any; its
# messages go to DIR/logs/migrate-NAME.log.
migrate_database() {
  [ -d "$SRC_DIR/schemas/$1" ] || return 0
  (
    set -a
    # shellcheck disable=SC1091
    . "$DIR/stack.env"
    set +a
    "$SRC_DIR/scripts/migrate.sh" "$1"
  ) </dev/null 8>&- 9>&- >>"$DIR/logs/migrate-$1.log" 2>&1 || {
    show_log_tail "$DIR/logs/migrate-$1.log"
    die "the migrations of $1 failed"
  }
}

# start_database NAME: start database NAME, then apply its migrations. Each database is migrated as soon as it
# answers: ClickHouse's migrations (the longest) run while PostgreSQL and MariaDB are still starting, instead of
# all three waiting for the slowest start.
start_database() {
  "start_$1"
  migrate_database "$1"
}

# Start each named component in parallel (start_database <name> for a database, else start_<name>, or
# start_daemon <name>); fail if any failed (each prints its own reason).
start_parallel() {
  local name pids=() failed=()
  for name in "$@"; do
    if [[ " ${DATABASES[*]} " == *" $name "* ]]; then
      start_database "$name" &
    elif declare -F "start_$name" >/dev/null; then "start_$name" & else start_daemon "$name" & fi
    pids+=($!)
  done
  local i
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${@:i+1:1}")
  done
  [ ${#failed[@]} -eq 0 ] || die "could not start: ${failed[*]} (logs in $DIR/logs)"
}

cmd_up() {
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  mkdir -p "$DIR/etc" "$DIR/run" "$DIR/logs" "$DIR/state"
  for tool in clickhouse-server redis-server redis-cli "$PG_BIN/initdb" psql mariadbd mariadb-install-db mariadb \
    nginx envsubst curl ss flock runuser setsid; do
    command -v "$tool" >/dev/null || die "$tool not found; run scripts/deps.sh"
  done
  if $IS_ROOT; then
    # PostgreSQL runs as `postgres`, which must be able to reach its data directory under DIR.
    chmod o+x "$DIR"
    runuser -u postgres -- test -x "$DIR" ||
      die "user postgres cannot reach $DIR (a parent directory is not searchable); use a directory under /tmp"
  fi
  if ! $OPT_DB_ONLY; then
    BIN_DIR=$(cd "${MOHSTATS_BIN_DIR:-$SRC_DIR/build}" 2>/dev/null && pwd) ||
      die "no build directory at ${MOHSTATS_BIN_DIR:-$SRC_DIR/build}; run make, or set MOHSTATS_BIN_DIR"
    local d
    for d in "${DAEMONS[@]}"; do
      [ -x "$BIN_DIR/$d" ] || die "$BIN_DIR/$d is missing; build it (make) or set MOHSTATS_BIN_DIR, or use --db-only"
    done
    check_nginx_settings
  fi

  # One `up` or `down` at a time per DIR; and one `up` at a time per user while ports are chosen and recorded
  # (STACKS_DIR), so two stacks started at once (parallel tests) cannot pick the same free port. Once recorded,
  # no other stack picks them, bound or not: the stacks then start side by side.
  exec 9>"$DIR/state/lock"
  flock -w 300 9 || die "another stack.sh holds $DIR/state/lock"
  lock_ports
  # Every process started below gets `8>&- 9>&-`: an inherited lock descriptor would hold the lock for as long as
  # that server runs.

  load_state
  ensure_state
  register_stack
  exec 8>&-
  write_stack_env
  if [ "$MQTT" = on ]; then
    command -v mosquitto >/dev/null || die "mosquitto not found; run scripts/deps.sh"
    DATABASES+=(mqtt)
  fi

  adopt_unrecorded
  UP_RUNNING_BEFORE=$(running_components)
  trap undo_failed_up EXIT
  trap 'exit 130' INT TERM
  if $OPT_DB_ONLY; then check_ports "${DATABASES[@]}"; else check_ports "${DATABASES[@]}" "${DAEMONS[@]}" nginx; fi
  start_parallel "${DATABASES[@]}"
  if ! $OPT_DB_ONLY; then
    start_parallel "${DAEMONS[@]}"
    start_nginx
    wait_ready
  fi
  trap - EXIT INT TERM
  log "up in $DIR: front door $( $OPT_DB_ONLY && echo "not started (--db-only)" || echo "http://127.0.0.1:$NGINX_PORT"); settings in $DIR/stack.env"
}

# port DIR: a free port for a program that a test runs beside the stack in DIR (a daemon of its own, a TLS
# listener), recorded for DIR like its servers' ports (DIR need not hold a stack yet: `up` avoids it too).
cmd_port() {
  mkdir -p "$DIR/state"
  DIR=$(cd "$DIR" && pwd)
  lock_ports
  load_state
  local v taken port
  taken=$( (other_stacks_ports; stack_ports "$DIR") | tr '\n' ' ')
  for v in "${PORT_VARS[@]}" NGINX_PORT; do taken+=" ${!v:-}"; done
  port=$(pick_port "$taken")
  echo "$port" >>"$DIR/state/ports"
  register_stack
  exec 8>&-
  echo "$port"
}

stop_component() {
  local name=$1 pid
  pid=$(running_pid "$name")
  if [ -n "$pid" ]; then
    if [ "$name" = postgres ]; then
      as_pg "$PG_BIN/pg_ctl" stop -D "$DIR/postgres" -m fast -w -t 15 -s ||
        { log "pg_ctl stop failed; killing postgres (pid $pid)" && kill -KILL "$pid" 2>/dev/null; } || true
      log "stopped postgres (pid $pid)"
    else
      stop_pid "$name" "$pid"
    fi
  fi
  # Daemon pid files are ours to remove; the servers remove their own on a clean exit, and a stale one is
  # harmless (pid_is_ours).
  case " ${DAEMONS[*]} " in *" $name "*) rm -f "$(pid_file "$name")" ;; esac
  return 0
}

stop_parallel() {
  local name pids=()
  for name in "$@"; do
    stop_component "$name" &
    pids+=($!)
  done
  local pid
  for pid in "${pids[@]}"; do wait "$pid" || true; done
}

cmd_down() {
  [ -d "$DIR" ] || {
    log "nothing to stop: $DIR does not exist"
    return 0
  }
  DIR=$(cd "$DIR" && pwd)
  if [ -d "$DIR/state" ]; then
    exec 9>"$DIR/state/lock"
    flock -w 300 9 || die "another stack.sh holds $DIR/state/lock"
  fi
  load_state
  # A broker that runs is stopped whatever the last `up` said.
  DATABASES+=(mqtt)
  [ ! -d "$DIR/run" ] || [ -z "${MODE:-}" ] || adopt_unrecorded
  stop_parallel "${DAEMONS[@]}"
  stop_parallel nginx
  stop_parallel "${DATABASES[@]}"
}

cmd_status() {
  [ -d "$DIR" ] || die "$DIR does not exist"
  DIR=$(cd "$DIR" && pwd)
  load_state
  [ -n "${MODE:-}" ] || die "$DIR holds no stack (no state.env); run: scripts/stack.sh up $DIR"
  [ "${MQTT:-off}" != on ] || DATABASES+=(mqtt)
  [ ! -d "$DIR/run" ] || adopt_unrecorded
  local name pid port state all=0
  for name in "${DATABASES[@]}" "${DAEMONS[@]}" nginx; do
    pid=$(running_pid "$name")
    port=$(port_of "$name")
    if [ -n "$pid" ] && port_answers "$port"; then
      state=running
      case " ${DAEMONS[*]} " in
        *" $name "*) [ "$(daemon_ready_status "$port")" = 200 ] || state="running, not ready (GET /ready)" ;;
      esac
    elif [ -n "$pid" ]; then
      state="not answering"
    else
      state=stopped
    fi
    if [ "$MODE" = db-only ] && [[ " ${DATABASES[*]} " != *" $name "* ]]; then
      [ "$state" = running ] || state="$state (not expected: --db-only)"
    elif [ "$state" != running ]; then
      all=1
    fi
    printf '%-10s %-8s %-6s %s\n' "$name" "${pid:--}" "$port" "$state"
  done
  return $all
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
shift 2
OPT_DB_ONLY=false
OPT_MQTT=false
OPT_PORT=""
while [ $# -gt 0 ]; do
  case $1 in
    --db-only) OPT_DB_ONLY=true ;;
    --mqtt) OPT_MQTT=true ;;
    --port)
      [ $# -ge 2 ] || usage
      OPT_PORT=$2
      shift
      ;;
    --port=*) OPT_PORT=${1#--port=} ;;
    *) usage ;;
  esac
  shift
done

case $CMD in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  port) cmd_port ;;
  *) usage ;;
esac
