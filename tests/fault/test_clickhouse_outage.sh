#!/usr/bin/env bash
# Fault test: ClickHouse hangs (SIGSTOP for longer than the writer's request timeout, so inserts end with an unknown
# outcome while ClickHouse may still execute them), then is stopped for 60 s, under steady load. ingestd keeps
# accepting (the stream absorbs the backlog), the writer retries with backoff and checks before re-inserting, and
# every acknowledged event ends up in ClickHouse exactly once.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

OUTAGE_S=${FAULT_OUTAGE_S:-60}
# The writer's ClickHouse requests time out after a third of this: 3 s, well within the 15 s hang.
export WRITER_CLAIM_IDLE_MS=9000

stack_up --db-only || exit 1
ingestd_start a INGESTD_ROLE=all || exit 1
ingestd_start b INGESTD_ROLE=writer || exit 1
check "a game server registers" register_server a

# 100 batches of 20 events per second, until a few seconds after ClickHouse is back (load_stop below): the
# writers catch up under load. (A fixed length ran the load half a minute past the outage, for nothing.)
load_start a --seconds 600 --concurrency 4 --batch 20 --rate 100
sleep 8

ch=$(server_pid clickhouse)
echo "  ClickHouse frozen (SIGSTOP) for 15 s"
kill -STOP "$ch"
sleep 15
kill -CONT "$ch"
sleep 8
check "inserts failed while ClickHouse was frozen (and were retried)" \
  test "$(metric_sum mohstats_writer_insert_errors_total)" != 0

echo "  ClickHouse stopped for $OUTAGE_S s"
server_stop clickhouse
sleep "$OUTAGE_S"
# Not XLEN: the stream also keeps acknowledged entries for a while (WRITER_RETAIN_MS).
backlog=$(($(stream_group_field pending) + $(stream_group_field lag)))
check "the stream absorbed the batches accepted meanwhile ($backlog entries)" test "${backlog:-0}" -gt 0
check_eq "ingestd stayed ready to accept batches (GET /health)" 200 "$(http_status "$(ingestd_url a)/health")"
servers_up
sleep 5
load_stop
check "the writers catch up once ClickHouse is back" wait_caught_up 180
echo "  errors by reason: $(curl -s "$(ingestd_url a)/metrics" | grep '^mohstats_writer_insert_errors_total' | tr '\n' ' ')"
echo "  batches found already inserted: $(metric_sum mohstats_writer_duplicates_skipped_total)," \
  "waits for running inserts: $(metric_sum mohstats_writer_check_waits_total)"
verify_exactly_once
finish
