#!/usr/bin/env bash
# Integration test: schemas/clickhouse/0005_normalised_columns.sql on real servers. A database migrated to 0003
# gets events, then 0005: every aggregate table it re-creates a view for reads the same before and after, the
# new columns say on the old rows what the old expressions said, and events inserted after it are counted as a
# database migrated from scratch counts them (nothing lost or doubled across the views' swap). Then the
# migrate.sh rules 0005 relies on: a re-run skips the columns that exist, and a DROP of anything but a
# materialized view writing TO a table of its own is refused.
# One build (sanitizer): its subject is the migrations (SQL and migrate.sh), the same in both builds.
. "$(dirname "$0")/lib.sh"

SCHEMAS=$MOHSTATS_SRC_DIR/schemas
MIGRATE=$MOHSTATS_SRC_DIR/scripts/migrate.sh
WORK=$(mktemp -d /tmp/mohstats-migration.XXXXXX)

# A schema directory holding the PostgreSQL and MariaDB migrations and the ClickHouse ones named.
schema_dir() {
  local dir=$1 f
  shift
  mkdir -p "$dir/clickhouse"
  cp -r "$SCHEMAS/postgres" "$SCHEMAS/mariadb" "$dir/"
  for f in "$@"; do cp "$SCHEMAS/clickhouse/$f" "$dir/clickhouse/"; done
}
schema_dir "$WORK/upto3" 0001_raw_events.sql 0002_aggregates.sql 0003_match_players.sql
export MOHSTATS_SCHEMA_DIR=$WORK/upto3
stack_up --db-only || {
  rm -rf "$WORK"
  finish
}
# The schema directories go with the stack's directory, which the test's end removes.
mv "$WORK" "$STACK_DIR/schemas-test"
WORK=$STACK_DIR/schemas-test
export MOHSTATS_SCHEMA_DIR=$WORK/upto3
CH_BASE=${CLICKHOUSE_URL%%\?*}
OLD_URL=$CLICKHOUSE_URL

# migrate_to URL SCHEMA_DIR: run scripts/migrate.sh against the ClickHouse database of URL; prints its messages.
migrate_to() {
  CLICKHOUSE_URL=$1 MOHSTATS_SCHEMA_DIR=$2 "$MIGRATE"
}

# chq URL SQL: a query on the database of URL; ClickHouse's message on stderr if it fails.
chq() {
  local out
  if out=$(curl -sS --max-time 60 --fail-with-body --data-binary "$2" "$1"); then
    [ -z "$out" ] || printf '%s\n' "$out"
  else
    printf 'clickhouse: %s\nquery: %.300s\n' "$out" "$2" >&2
    return 1
  fi
}

# The tables whose views 0005 re-creates.
TABLES=(player_daily player_match player_weapon player_map match_summary heat_cells heat_match_cells server_hourly
  weapon_daily player_fights match_players)

# Every row of every such table, merged (OPTIMIZE FINAL) and finalised, sorted: what any query of them can see.
# Columns 0005 adds are left out (raw_events' are MATERIALIZED; player_fights.hit_class is checked on its own),
# so a database before and after it compare.
snapshot() {
  local url=$1 t cols
  for t in "${TABLES[@]}"; do
    chq "$url" "OPTIMIZE TABLE $t FINAL" >/dev/null
    cols=$(chq "$url" "SELECT arrayStringConcat(groupArray(multiIf(startsWith(type, 'AggregateFunction'),
        concat('toString(finalizeAggregation(', name, '))'), match(type, 'Float'), concat('round(', name, ', 3)'),
        name)), ', ') FROM (SELECT name, type FROM system.columns WHERE database = currentDatabase()
        AND table = '$t' AND default_kind != 'MATERIALIZED' AND NOT (table = 'player_fights' AND name = 'hit_class'))")
    chq "$url" "SELECT '$t', $cols FROM $t FORMAT TabSeparated" | LC_ALL=C sort
  done
}

# 3,000 events that walk the vocabulary: every spelling of a side and non-sides, every body location in odd
# cases and non-body ones, kills, bot kills, self kills, team kills, shots, damage, results, positions present
# and missing, two servers, four matches.
insert_events() {
  chq "$1" "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, received_ms, game_time,
    session_id, match_key, map_name, event_type, type_sent, known_type, actor_guid, actor_name, actor_team,
    actor_x, actor_y, actor_z, actor_stance, target_guid, target_name, target_team, target_x, target_y, target_z,
    target_stance, weapon, means_of_death, hitloc, damage, team, gametype, allies_score, axis_score, player_count,
    raw)
  SELECT generateUUIDv4(), generateUUIDv4(), concat('srv', toString(n % 2)), toDateTime(1764000000 + n * 7),
    toUInt16(n % 1000), if(n % 5 = 0, NULL, toFloat64(n)), 'sess', concat('m', toString(n % 4)),
    ['obj/obj_team2', 'dm/mohdm1', ''][n % 3 + 1], ev, ev, 1, ag, concat('name_', ag),
    ['american', 'Allies', 'allied', 'German', 'axis', 'spectator', '', 'ALLIED'][n % 8 + 1],
    if(n % 6 = 0, NULL, toFloat32(n % 100)), toFloat32(n % 37), toFloat32(n % 11),
    ['stand', 'crouching', 'prone', ''][n % 4 + 1], tg, concat('name_', tg),
    ['american', 'Allies', 'allied', 'German', 'axis', 'spectator', '', 'Axis'][intDiv(n, 8) % 8 + 1],
    toFloat32(n % 53), if(n % 9 = 0, NULL, toFloat32(n % 29)), toFloat32(n % 7), 'stand',
    ['Thompson', 'KAR98 Sniper', 'M1 Garand', '', 'Colt 45'][n % 5 + 1],
    ['MOD_BULLET', 'grenade', 'bash', 'MOD_ROADKILL', 'telefrag', 'crush', 'falling'][n % 7 + 1],
    ['head', 'Helmet', 'NECK', 'torso_upper', 'torso_mid', 'torso_lower', 'pelvis', 'r_arm_upper', 'l_arm_lower',
     'r_leg_upper', 'l_leg_lower', 'r_hand', 'L_Foot', 'general', '', 'miss', 'Torso_Mid'][n % 17 + 1],
    if(n % 4 = 0, NULL, toFloat32(n % 90)),
    ['allies', 'axis', 'Allied', 'american', 'GERMAN', 'draw', ''][n % 7 + 1], 'obj',
    if(n % 2 = 0, toInt32(n % 10), NULL), if(n % 3 = 0, toInt32(n % 6), NULL), toInt32(n % 20),
    '{\"sprinted\": 5, \"maxclients\": \"12\", \"is_team\": 1}'
  FROM (SELECT number AS n,
    ['player_kill', 'player_kill', 'player_kill', 'bot_killed', 'weapon_fire', 'weapon_hit', 'damage', 'match_end',
     'team_win', 'match_start', 'round_end', 'distance', 'chat', 'player_spawn', 'player_kill'][number % 15 + 1] AS ev,
    ['g1', 'g2', 'g3', 'g4', ''][number % 5 + 1] AS ag,
    ['g2', 'g3', 'g1', '', 'g4', 'g5'][intDiv(number, 5) % 6 + 1] AS tg
    FROM system.numbers LIMIT 3000)" >/dev/null
}

insert_events "$OLD_URL"
before=$(snapshot "$OLD_URL")
check "the aggregate tables hold rows before 0005" test "$(wc -l <<<"$before")" -gt 500

schema_dir "$WORK/all" 0001_raw_events.sql 0002_aggregates.sql 0003_match_players.sql 0005_normalised_columns.sql
check "0005 applies on a database migrated to 0003" migrate_to "$OLD_URL" "$WORK/all"
after=$(snapshot "$OLD_URL")
check_eq "every re-created view's table reads the same after 0005" "$before" "$after"

# The columns, computed on read for the rows written before 0005, say what the views' old expressions said.
old_side() {
  echo "if(transform(lower($1), ['american', 'allies', 'allied', 'german', 'axis'],
    ['allies', 'allies', 'allies', 'axis', 'axis'], lower($1)) IN ('allies', 'axis'),
    transform(lower($1), ['american', 'allies', 'allied', 'german', 'axis'],
    ['allies', 'allies', 'allies', 'axis', 'axis'], lower($1)), '')"
}
check_eq "actor_side, target_side, team_side on old rows are the old normalisation" "3000 0" \
  "$(chq "$OLD_URL" "SELECT count(), countIf(actor_side != $(old_side actor_team) OR target_side != $(old_side target_team)
      OR team_side != $(old_side team)) FROM raw_events FORMAT TabSeparated" | tr '\t' ' ')"
check_eq "hit_class on old rows is the old head/torso/limb lists" "0" \
  "$(chq "$OLD_URL" "SELECT countIf((hit_class = 'head') != (lower(hitloc) IN ('head', 'helmet', 'neck'))
      OR (hit_class IN ('torso', 'pelvis')) != (lower(hitloc) IN ('torso_upper', 'torso_mid', 'torso_lower', 'pelvis'))
      OR (hit_class IN ('arm', 'hand', 'leg', 'foot')) != match(lower(hitloc), '_(arm|leg)_|_(hand|foot)\$')
      OR (hit_class = 'pelvis') != (lower(hitloc) = 'pelvis')) FROM raw_events")"
check_eq "the sides seen: allies, axis and none" "allies axis none" \
  "$(chq "$OLD_URL" "SELECT DISTINCT if(actor_side = '', 'none', actor_side) AS s FROM raw_events ORDER BY s" |
    paste -sd' ')"

# player_fights.hit_class: the DEFAULT on the old rows, from the view on the new ones, says the same.
fights_hit_classes() {
  chq "$1" "SELECT hit_class, (hit_class = 'head') = (hitloc IN ('head', 'helmet', 'neck')), count() FROM player_fights
    GROUP BY hit_class, hitloc ORDER BY hit_class, hitloc FORMAT TabSeparated"
}
fights_before=$(fights_hit_classes "$OLD_URL")
check "player_fights.hit_class on old rows is the class of their hitloc" \
  test -n "$fights_before" -a "$(cut -f2 <<<"$fights_before" | sort -u)" = 1

# The same events in a database migrated from scratch (0002's views replaced by 0005's before any event).
FRESH_URL="$CH_BASE?database=mohstats_fresh"
check "a fresh database migrates 0001-0005" migrate_to "$FRESH_URL" "$WORK/all"
insert_events "$FRESH_URL"
check_eq "a fresh database's tables read the same as the old views wrote" "$before" "$(snapshot "$FRESH_URL")"
check_eq "player_fights.hit_class, written by the view, is the old rows' DEFAULT" "$fights_before" \
  "$(fights_hit_classes "$FRESH_URL")"

# Events after the swap: the old database (half old views, half new) and the fresh one count them alike.
insert_events "$OLD_URL"
insert_events "$FRESH_URL"
twice=$(snapshot "$FRESH_URL")
check "the second insert changed the fresh tables" test "$twice" != "$before"
check_eq "events after 0005 counted once, as from scratch" "$twice" "$(snapshot "$OLD_URL")"

# A run that stopped half-way is run again: the columns that exist are skipped, the views re-created.
chq "$OLD_URL" "ALTER TABLE schema_migrations DELETE WHERE version = '0005_normalised_columns.sql'" >/dev/null
retry 30 test "$(chq "$OLD_URL" "SELECT count() FROM schema_migrations WHERE version = '0005_normalised_columns.sql'")" = 0
out=$(migrate_to "$OLD_URL" "$WORK/all" 2>&1)
check "0005 applies again over itself" grep -q 'applied 0005_normalised_columns.sql' <<<"$out"
check "a re-run skips the columns that exist" grep -q 'raw_events.actor_side exists already' <<<"$out"
check_eq "and the tables read the same" "$twice" "$(snapshot "$OLD_URL")"

# The DROP rule: a materialized view with a table of its own (an inner table: data) is never dropped, and no
# migration file may drop anything else.
GUARD_URL="$CH_BASE?database=mohstats_guard"
schema_dir "$WORK/guard" 0001_raw_events.sql
cat >"$WORK/guard/clickhouse/0002_inner.sql" <<'EOF'
CREATE MATERIALIZED VIEW IF NOT EXISTS kept_mv ENGINE = SummingMergeTree ORDER BY server_id
AS SELECT server_id, count() AS n FROM raw_events GROUP BY server_id;
EOF
check "a view with an inner table is created" migrate_to "$GUARD_URL" "$WORK/guard"
printf 'DROP TABLE IF EXISTS kept_mv;\n' >"$WORK/guard/clickhouse/0003_drop.sql"
out=$(migrate_to "$GUARD_URL" "$WORK/guard" 2>&1) && fail "migrate.sh dropped a view holding data" ||
  check "migrate.sh refuses to drop a view holding data" grep -q 'refusing to drop kept_mv' <<<"$out"
check_eq "the view is still there" 1 "$(chq "$GUARD_URL" "EXISTS TABLE kept_mv")"
printf 'DROP TABLE IF EXISTS raw_events;\n' >"$WORK/guard/clickhouse/0003_drop.sql"
out=$(migrate_to "$GUARD_URL" "$WORK/guard" 2>&1) && fail "migrate.sh ran a DROP TABLE of a table" ||
  check "migrate.sh refuses a migration file dropping a table" grep -q 'drops or truncates data' <<<"$out"
check_eq "raw_events is still there" 1 "$(chq "$GUARD_URL" "EXISTS TABLE raw_events")"
printf 'ALTER TABLE raw_events ADD COLUMN a UInt8 DEFAULT 1, ADD COLUMN b UInt8 DEFAULT 2;\n' \
  >"$WORK/guard/clickhouse/0003_drop.sql"
out=$(migrate_to "$GUARD_URL" "$WORK/guard" 2>&1) && fail "migrate.sh ran two ADD COLUMNs in one statement" ||
  check "migrate.sh wants one ADD COLUMN per statement" grep -q 'one ADD COLUMN per ALTER statement' <<<"$out"

finish
