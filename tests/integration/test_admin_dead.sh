#!/usr/bin/env bash
# mohstats-admin dead (issue 24): the dead-letter stream listed, shown, replayed and trimmed, while ingest runs.
#
# Two entries end up there: one as the writer stores a batch ClickHouse refused, but whose rows are good (the
# cause "fixed"), and one really refused by ClickHouse (a row whose event_id is not a UUID). Checked: list and show
# give them; the operator is asked (and "no" does nothing); replay stores the good batch exactly once and puts the
# bad one back where it was (refused again, under a new id); nothing is in both streams at once; trim keeps what is
# newer than its days and deletes the rest; every action is logged with who did it; every event acknowledged
# meanwhile is stored once.
# One build (sanitizer): its subject is mohstats-admin, an operator's command, whose memory ASan checks; the
# daemons it drives run in both builds' other tests.
. "$(dirname "$0")/../fault/fault_lib.sh"

ADMIN=$MOHSTATS_BIN_DIR/mohstats-admin
DEAD=$STREAM:dead
GOOD=00000000-0000-4000-8000-00000000d001
BAD=00000000-0000-4000-8000-00000000d002

admin() {
  "$ADMIN" --by test-operator "$@" 2>>"$STACK_DIR/logs/admin.log"
}

# copy_entry DEST BID [broken]: the stream's first entry again, as batch BID (its rows' batch_id too): into the
# dead-letter stream as the writer stores a refused batch, or into the event stream with its first row's event_id
# broken. Prints the entry's event count.
copy_entry() {
  redis_cmd EVAL "local e = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
    local m = {}
    for i = 1, #e[2], 2 do m[e[2][i]] = e[2][i + 1] end
    local rows = string.gsub(m['rows'], string.gsub(m['bid'], '%-', '%%-'), ARGV[1])
    if ARGV[2] == 'broken' then
      rows = string.gsub(rows, '^[^\t]*', 'not-a-uuid')
      redis.call('XADD', KEYS[1], '*', 'bid', ARGV[1], 'srv', m['srv'], 'n', m['n'], 'rows', rows, 'dup', '0')
    else
      redis.call('XADD', KEYS[2], '*', 'src', e[1], 'bid', ARGV[1], 'n', m['n'], 'rows', rows, 'err', 'test: refused')
    end
    return m['n']" 2 "$STREAM" "$DEAD" "$2" "${3:-}"
}

stored() {
  ch_query "SELECT count() FROM raw_events WHERE batch_id = toUUID('$1')"
}

dead_bids() {
  redis_cmd EVAL "local o = {}
    for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
      for i = 1, #e[2], 2 do if e[2][i] == 'bid' then o[#o + 1] = e[2][i + 1] end end
    end
    return table.concat(o, ' ')" 1 "$DEAD"
}

# dead_is BIDS / stored_any BID: predicates for retry (which runs its command again, arguments as they were).
dead_is() {
  [ "$(dead_bids)" = "$1" ]
}
stored_any() {
  [ "$(stored "$1")" -gt 0 ]
}

writers_up || exit 1
load_start api --seconds 3 --batch 5 --concurrency 1 --rate 20
load_wait
wait_caught_up 60 || fail "the writers did not catch up"

N=$(copy_entry "$DEAD" "$GOOD")
check "the copied batch has events" test "${N:-0}" -gt 0
copy_entry "$STREAM" "$BAD" broken >/dev/null
check "the writer moves the batch ClickHouse refuses to the dead-letter stream" \
  retry 30 dead_is "$GOOD $BAD"
check_eq "nothing of either batch is stored" "0 0" "$(stored "$GOOD") $(stored "$BAD")"

LIST=$(admin dead list)
check "list counts both entries" grep -q "^$DEAD: 2 entries" <<<"$LIST"
check "list shows the good batch and why it was refused" grep -q "batch $GOOD  $N events  test: refused" <<<"$LIST"
check "list shows ClickHouse's answer for the bad one" grep -q "batch $BAD  .*[Cc]annot\|batch $BAD  .*UUID" <<<"$LIST"
GOOD_ID=$(grep "batch $GOOD" <<<"$LIST" | cut -d' ' -f1)
check_eq "show gives the entry's rows" "$N" "$(admin dead show "$GOOD_ID" | grep -vc '^#')"

echo n | admin dead replay --all >/dev/null
check "a replay the operator declines fails" test $? -ne 0
check_eq "a declined replay changes nothing" "$GOOD $BAD" "$(dead_bids)"

load_start api --seconds 10 --batch 5 --concurrency 2 --rate 40
sleep 1
check "dead replay --all, ingest running" admin --yes dead replay --all
check "the good batch is stored" retry 30 stored_any "$GOOD"
check_eq "the good batch is stored once" "$N" "$(stored "$GOOD")"
check "the bad batch is refused again and back in the dead-letter stream, alone" retry 30 dead_is "$BAD"
check_eq "the bad batch is stored nowhere" 0 "$(stored "$BAD")"
load_wait
wait_caught_up 60 || fail "the writers did not catch up"
check_eq "the good batch is stored once, after the writers caught up" "$N" "$(stored "$GOOD")"

check "trim --days 1" admin --yes dead trim --days 1
check_eq "a trim by days keeps the newer entries" "$BAD" "$(dead_bids)"
check "trim --days 0" admin --yes dead trim --days 0
check_eq "trim --days 0 deletes every entry" 0 "$(redis_cmd XLEN "$DEAD")"
check_eq "replays and trims are logged with who did it" "dead-replay dead-trim dead-trim" \
  "$(ch_query "SELECT arrayStringConcat(groupArray(action), ' ') FROM (SELECT action FROM admin_actions
               WHERE who = 'test-operator' ORDER BY at, action)")"
verify_stored_once "batch_id != toUUID('$GOOD')"
check_eq "no sanitizer reports in mohstats-admin's log" "" "$(grep -E "$SANITIZER_REPORT" "$STACK_DIR/logs/admin.log")"
finish
