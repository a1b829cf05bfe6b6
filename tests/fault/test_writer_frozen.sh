#!/usr/bin/env bash
# Fault test: a stream writer is frozen (SIGSTOP) under load for longer than WRITER_CLAIM_IDLE_MS, again and again.
# The other writer takes its entries over and inserts them; the frozen one then resumes with entries in its
# buffer, in an insert, or in an XREADGROUP answer still unread in its socket, and must leave them to the writer
# that took them (I3 in ingestd/stream_writer.c: each insert confirms ownership first, by Redis's clock when its
# entries were read moments before by that clock, else with the lease script). Every acknowledged event must end
# up in ClickHouse exactly once. SIGSTOP at random times rarely lands between Redis's answer and the step that
# acts on it: test_writer_paused.sh pauses a writer exactly there (it fails when the clock check is removed; this
# test did not).
#
# Layout: one ingestd accepting batches (INGESTD_ROLE=api) and two writer-only ingestds, frozen in turn.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

ROUNDS=${FAULT_ROUNDS:-4}
# Take over after 6 s (30 s in production): the writers' ClickHouse requests then time out after 2 s, and Redis's
# clock confirms an insert whose entries it delivered less than 1 s before. Inserts every 300 ms, so that both
# ways of confirming ownership run.
export WRITER_CLAIM_IDLE_MS=6000 WRITER_FLUSH_MS=300

writers_up || exit 1

load_start api --seconds 600 --concurrency 8 --batch 25
for round in $(seq 1 "$ROUNDS"); do
  sleep $((2 + RANDOM % 3))
  victim=w$((1 + round % 2))
  kill -STOP "${INGESTD_PIDS[$victim]}"
  # Past WRITER_CLAIM_IDLE_MS, and a maintenance tick of the other writer (it takes over idle entries each second).
  sleep 9
  kill -CONT "${INGESTD_PIDS[$victim]}"
done
sleep 3
load_stop

check "the writers catch up" wait_caught_up 120
left=$(cat "$STACK_DIR"/logs/w1.log "$STACK_DIR"/logs/w2.log | grep -c "taken over by another writer")
check "a resumed writer found entries taken over while it was frozen, and left them ($left times)" test "$left" -gt 0
by_clock=$(metric_sum 'mohstats_writer_ownership_checks_total{by="clock"}')
by_script=$(metric_sum 'mohstats_writer_ownership_checks_total{by="script"}')
echo "  entries taken over: $(metric_sum mohstats_writer_entries_taken_over_total)," \
  "inserts confirmed by Redis's clock: $by_clock, by the lease script: $by_script"
check "inserts were confirmed both ways" test "$by_clock" -gt 0 -a "$by_script" -gt 0
verify_exactly_once
check_eq "nothing went to the dead-letter stream" 0 "$(redis_cmd XLEN "$STREAM:dead")"
finish
