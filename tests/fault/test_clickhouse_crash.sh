#!/usr/bin/env bash
# Fault test: ClickHouse's machine crashes (a power cut). ClickHouse had answered the last inserts, and the writers
# had acknowledged their stream entries, but the parts were still in the page cache: ClickHouse 18.16 never fsyncs
# them (ingestd/ch_guard.c). Simulated under load: merges stopped (so every insert stays a part of its own),
# ClickHouse killed, the parts written in its last LOSS_S seconds deleted from every table, ClickHouse started
# again. The writers see that it restarted and copy the entries they kept (WRITER_RETAIN_MS, 60 s) for checking;
# every acknowledged event must end up in ClickHouse exactly once.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

# What the crash loses: Linux writes dirty pages back after 30 s (vm.dirty_expire_centisecs); 15 s of inserts
# is plenty to show that they come back.
LOSS_S=15

writers_up || exit 1
db=$(ch_query "SELECT currentDatabase()")
ch_query "SYSTEM STOP MERGES" >/dev/null

# 100 batches of 20 events per second.
# 20 s: the parts of the first 5 s survive the crash, those of the last LOSS_S are lost.
load_start api --seconds 35 --concurrency 4 --batch 20 --rate 100
sleep 20
cut=$(($(date +%s) - LOSS_S))
server_kill clickhouse
lost_rows=0 lost_parts=0
while IFS= read -r part; do
  if [ "$(basename "$(dirname "$part")")" = raw_events ] && [ -f "$part/count.txt" ]; then
    lost_rows=$((lost_rows + $(cat "$part/count.txt")))
  fi
  rm -rf "$part"
  lost_parts=$((lost_parts + 1))
done < <(find "$STACK_DIR/clickhouse/data/$db" -mindepth 2 -maxdepth 2 -type d -newermt "@$cut" \
  ! -name detached ! -name 'tmp*')
echo "  ClickHouse killed; the parts of its last $LOSS_S s deleted: $lost_parts parts, $lost_rows rows of raw_events"
check "the crash took acknowledged rows with it" test "$lost_rows" -gt 0
sleep 5
servers_up
load_wait
check "the writers catch up" wait_caught_up 180
check "the writers saw ClickHouse restart" grep -q "ClickHouse restarted" "$STACK_DIR"/logs/w1.log "$STACK_DIR"/logs/w2.log
copies=$(metric_sum mohstats_writer_restart_copies_total)
echo "  entries copied for checking: $copies, batches found already inserted:" \
  "$(metric_sum mohstats_writer_duplicates_skipped_total)"
check "a writer copied the entries it kept for checking" test "$copies" -gt 0
verify_exactly_once
check_eq "nothing went to the dead-letter stream" 0 "$(redis_cmd XLEN "$STREAM:dead")"
finish
