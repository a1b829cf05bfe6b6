#!/usr/bin/env bash
# mohstats-admin (issue 24): rebuild and retention on a stack with known data, while ingest runs.
#
# Two past months of known events go straight into raw_events; one view then misses a batch (detached while it
# was inserted) and its table gets a row no event made: the damage rebuild repairs. Load is posted through ingestd
# (one API process, two writers) during the rebuilds, which include the current month, where the writers insert.
# Checked: the rebuilt tables equal what raw_events says (counted independently of the views), every acknowledged
# event is stored once, months and tables outside the target are untouched, the operator is asked (and "no" does
# nothing), a second rebuild is refused while one runs, every action is logged with who did it, a view an
# interrupted rebuild left detached comes back, and retention, with load posted meanwhile, drops the old month of
# raw_events and keeps its aggregates (and rebuild then refuses to lose them) and every event the load stored.
# One build (sanitizer): its subject is mohstats-admin, an operator's command, whose memory ASan checks; the
# daemons it drives run in both builds' other tests.
. "$(dirname "$0")/../fault/fault_lib.sh"

ADMIN=$MOHSTATS_BIN_DIR/mohstats-admin

# admin ARGS...: run mohstats-admin as the test's operator; its log goes to the stack's logs/admin.log.
admin() {
  "$ADMIN" --by test-operator "$@" 2>>"$STACK_DIR/logs/admin.log"
}

# seed MONTHS_AGO OFFSET: 10,000 known events (1,000 batches of 10) in the month MONTHS_AGO before this one.
seed() {
  ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, match_key, map_name, event_type,
      actor_guid, actor_name, actor_team, target_guid, target_name, target_team, weapon, hitloc)
    SELECT generateUUIDv4(), toUUID(concat('00000000-0000-4000-8000-', toString(100000000000 + $2 + intDiv(number, 10)))),
      concat('adm-srv', toString(number % 3)),
      toDateTime(addMonths(toStartOfMonth(today()), -$1)) + number * 37 % 2000000,
      concat('adm-m', toString($2 + intDiv(number, 500))), 'dm/mohdm1',
      if(number % 5 = 0, 'weapon_fire', 'player_kill'),
      concat('adm-g', toString(number % 40)), 'A', if(number % 2 = 0, 'allies', 'axis'),
      concat('adm-g', toString((number * 7 + 1) % 40)), 'B', if(number % 2 = 0, 'axis', 'allies'),
      'kar98', if(number % 4 = 0, 'head', 'torso_upper')
    FROM numbers(10000)"
}

# month MONTHS_AGO: that month as YYYYMM.
month() {
  ch_query "SELECT toYYYYMM(addMonths(toStartOfMonth(today()), -$1))"
}

# player_daily_says YYYYMM: events and deaths of the month in player_daily, merged as queryd reads it.
player_daily_says() {
  ch_query "SELECT sum(events), sum(deaths) FROM player_daily WHERE toYYYYMM(day) = $1"
}

# raw_says YYYYMM: the same two counts from raw_events, without the views (docs/definitions.md: a row counts
# an event for each player in it; a death is a player_kill with a victim).
raw_says() {
  ch_query "SELECT countIf(actor_guid != '') + countIf(target_guid != ''),
                   countIf(event_type = 'player_kill' AND target_guid != '')
            FROM raw_events WHERE toYYYYMM(received_at) = $1"
}

# untouched YYYYMM: a fingerprint of everything a rebuild of player_daily for another month and of player_match
# must leave alone: the month in every other monthly table, the seeded keys of the tables not partitioned by month.
untouched() {
  ch_query "SELECT
      (SELECT count() FROM raw_events WHERE toYYYYMM(received_at) = $1),
      (SELECT sum(kills) FROM weapon_daily WHERE toYYYYMM(day) = $1),
      (SELECT count() FROM player_fights WHERE toYYYYMM(toDateTime(intDiv(ts_ms, 1000))) = $1),
      (SELECT countMerge(events) FROM server_hourly WHERE toYYYYMM(hour) = $1),
      (SELECT sum(kills) + sum(deaths) FROM player_weapon WHERE guid LIKE 'adm-%'),
      (SELECT sum(kills) FROM player_map WHERE guid LIKE 'adm-%'),
      (SELECT count() FROM (SELECT match_key FROM match_summary WHERE match_key LIKE 'adm-%' GROUP BY match_key))"
}

# player_match_says: deaths in player_match, merged; raw_deaths: the same from raw_events.
player_match_says() {
  ch_query "SELECT sum(d) FROM (SELECT guid, match_key, sumMerge(deaths) AS d FROM player_match GROUP BY guid, match_key)"
}
raw_deaths() {
  ch_query "SELECT countIf(event_type = 'player_kill' AND target_guid != '') FROM raw_events"
}

writers_up || exit 1
OLD=$(month 2)
PREV=$(month 1)
NOW=$(month 0)
seed 2 0
seed 1 100000
# The damage: a batch player_daily_mv missed, and a row no event made.
ch_query "DETACH TABLE player_daily_mv"
ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, event_type, actor_guid, actor_team,
    target_guid, target_team) SELECT generateUUIDv4(), toUUID('00000000-0000-4000-8000-999999999999'), 'adm-srv0',
    toDateTime(addMonths(toStartOfMonth(today()), -1)) + 3600, 'player_kill', 'adm-g1', 'allies', 'adm-g2', 'axis'
    FROM numbers(7)"
ch_query "ATTACH TABLE player_daily_mv"
ch_query "INSERT INTO player_daily (guid, day, server_id, events, deaths) VALUES
    ('adm-junk', toDate(addMonths(toStartOfMonth(today()), -1)) + 2, 'adm-srv0', 1000, 1000)"
check "the damage shows: player_daily of $PREV differs from raw_events" \
  test "$(player_daily_says "$PREV")" != "$(raw_says "$PREV")"
UNTOUCHED_OLD=$(untouched "$OLD")
UNTOUCHED_PREV_BEFORE=$(ch_query "SELECT sum(kills) FROM weapon_daily WHERE toYYYYMM(day) = $PREV")
DAILY_OLD=$(player_daily_says "$OLD")

# The operator says no: nothing happens.
DAMAGED=$(player_daily_says "$PREV")
echo n | admin rebuild player_daily_mv --month "$PREV" >/dev/null
check "a rebuild the operator declines fails" test $? -ne 0
check_eq "a declined rebuild changes nothing" "$DAMAGED" "$(player_daily_says "$PREV")"

# A rebuild runs alone: a second one is refused while the first holds the lock.
ch_query "CREATE TABLE admin_rebuild_lock ENGINE = Memory AS SELECT now() AS since, 1 AS pid"
admin --yes rebuild player_daily_mv --month "$PREV"
check "a rebuild is refused while another holds the lock" test $? -ne 0
check_eq "a refused rebuild changes nothing" "$DAMAGED" "$(player_daily_says "$PREV")"
ch_query "DROP TABLE admin_rebuild_lock"

# A view an interrupted rebuild left detached (its detach recorded, no attach) is attached again by the next run.
ch_query "INSERT INTO admin_actions (at, who, action, detail) VALUES (now(), 'test', 'rebuild-detach',
    'player_map_mv detached for run interrupted')"
ch_query "DETACH TABLE player_map_mv"

load_start api --seconds 30 --batch 20 --concurrency 4 --rate 40
sleep 2
check "rebuild player_daily of $PREV during ingest" admin --yes rebuild player_daily_mv --month "$PREV"
check "player_map_mv, left detached, is attached again" \
  test "$(ch_query "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'player_map_mv'")" = 1
check_eq "player_daily of $PREV equals raw_events after the rebuild (missed batch in, stray row out)" \
  "$(raw_says "$PREV")" "$(player_daily_says "$PREV")"
for i in 1 2 3; do
  check "rebuild player_daily of the current month $NOW while the writers insert into it ($i)" \
    admin --yes rebuild player_daily_mv --month "$NOW"
done
check "rebuild player_match (all time) while the writers insert" admin --yes rebuild player_match_mv
load_wait
wait_caught_up 120 || fail "the writers did not catch up"
echo "  rounds per rebuild: $(grep -o '([0-9]* rounds\?)' "$STACK_DIR/logs/admin.log" | tr -dc '0-9\n' | paste -sd ' ')"
check_eq "player_daily of the current month equals raw_events (no batch lost or doubled by the rebuilds)" \
  "$(raw_says "$NOW")" "$(player_daily_says "$NOW")"
check_eq "player_match equals raw_events (deaths, all time)" "$(raw_deaths)" "$(player_match_says)"
check_eq "the month $OLD is untouched everywhere" "$UNTOUCHED_OLD" "$(untouched "$OLD")"
check_eq "player_daily of $OLD is untouched" "$DAILY_OLD" "$(player_daily_says "$OLD")"
check_eq "weapon_daily of $PREV is untouched" "$UNTOUCHED_PREV_BEFORE" \
  "$(ch_query "SELECT sum(kills) FROM weapon_daily WHERE toYYYYMM(day) = $PREV")"
check_eq "no scratch table or tap view is left" "" \
  "$(ch_query "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'admin\\_%'
               AND name NOT IN ('admin_actions', 'admin_rebuild_tap')")"
check "every rebuild is logged with who did it" \
  test "$(ch_query "SELECT count() FROM admin_actions WHERE who = 'test-operator' AND action = 'rebuild'")" -ge 5

# Retention: keep one month before this one, while the writers insert into the current month.
RAW_PREV=$(ch_query "SELECT count() FROM raw_events WHERE toYYYYMM(received_at) = $PREV")
# A short load: retention's drops take about a second, all of it within the load.
load_start api --seconds 4 --batch 20 --concurrency 4 --rate 40
sleep 1
check "retention --keep-months 1 during ingest" admin --yes retention --keep-months 1
load_wait
wait_caught_up 120 || fail "the writers did not catch up"
check_eq "player_daily of the current month equals raw_events after it (nothing of the ingest lost)" \
  "$(raw_says "$NOW")" "$(player_daily_says "$NOW")"
verify_stored_once "server_id NOT LIKE 'adm-%'"
stop_all_cleanly
check_eq "raw_events of $OLD is dropped" 0 "$(ch_query "SELECT count() FROM raw_events WHERE toYYYYMM(received_at) = $OLD")"
check_eq "raw_events of $PREV is kept" "$RAW_PREV" \
  "$(ch_query "SELECT count() FROM raw_events WHERE toYYYYMM(received_at) = $PREV")"
check_eq "player_daily of $OLD is kept" "$DAILY_OLD" "$(player_daily_says "$OLD")"
admin --yes rebuild player_daily_mv --month "$OLD"
check "rebuilding the dropped month $OLD is refused" test $? -ne 0
admin --yes rebuild player_match_mv
check "rebuilding a table of all time after retention dropped a month is refused" test $? -ne 0
check_eq "player_daily of $OLD is still kept after the refusals" "$DAILY_OLD" "$(player_daily_says "$OLD")"
check "the drop is logged with who did it" \
  test "$(ch_query "SELECT count() FROM admin_actions WHERE who = 'test-operator' AND action = 'retention-drop'
                    AND detail = '$OLD'")" = 1
check_eq "no sanitizer reports in mohstats-admin's log" "" "$(grep -E "$SANITIZER_REPORT" "$STACK_DIR/logs/admin.log")"
finish
