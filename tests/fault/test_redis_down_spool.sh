#!/usr/bin/env bash
# Fault test: Redis is down for a while under load. ingestd answers 202 from its local spool (fsync'd), survives a
# SIGKILL while spooling (and a torn record at the end of a spool file), and replays the spool into the stream
# once Redis is back. Every acknowledged event ends up in ClickHouse exactly once and the spool empties.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

DOWN_S=${FAULT_DOWN_S:-20}

# The default: a dead writer's entries are taken over after 30 s, so they are still held by the dead consumer
# when Redis comes back and the spool is replayed.
export WRITER_CLAIM_IDLE_MS=30000

stack_up --db-only || exit 1
ingestd_start a INGESTD_ROLE=all || exit 1
check "a game server registers" register_server a
# Load until the spool has been replayed (load_stop below): replay and new batches meet in the stream.
load_start a --seconds 600 --concurrency 4 --batch 20 --rate 150
sleep 5

# A crash in the middle of an insert: the dead writer's entries stay pending with its consumer. Batches replayed
# from spool files a killed ingestd left (the crash while spooling below) are flagged dup=1, since it may have
# replayed some; the writer must not wait for those older entries forever (it takes them over after
# WRITER_CLAIM_IDLE_MS) nor insert anything twice.
wait_insert_running 10
ingestd_signal a KILL
ingestd_start a || exit 1
check "the dead writer left entries pending" test "$(stream_group_field pending)" -gt 0

echo "  Redis stopped for about $DOWN_S s"
server_stop redis
sleep $((DOWN_S / 2))
spooled=$(metric_sum mohstats_spool_batches_total)
check "batches are spooled while Redis is down ($spooled so far)" test "${spooled%.*}" -gt 0
check "spool files are on disk" compgen -G "$STACK_DIR/spool-a/spool-*.log"

# A crash while spooling; then a torn record at the end of the newest spool file, as a crash in the middle of a
# write leaves it. The restarted ingestd must keep every complete record and skip the torn one.
ingestd_signal a KILL
newest=$(ls "$STACK_DIR"/spool-a/spool-*.log | tail -n 1)
printf 'MSP1\x40\x00\x00\x00partial' >>"$newest"
ingestd_start a || exit 1
sleep $((DOWN_S / 2))
check "the restarted ingestd spools too" test "$(metric_sum mohstats_spool_batches_total)" != 0

servers_up
check "the spool is replayed and emptied once Redis is back" retry 60 eval \
  '! compgen -G "$STACK_DIR/spool-a/spool-*.log" >/dev/null'
check "the torn record was noticed and skipped" grep -q "incomplete record" "$STACK_DIR/logs/a.log"
replayed=$(metric_sum mohstats_spool_replayed_total)
flagged=$(metric_sum mohstats_spool_replayed_flagged_total)
echo "  replayed batches: $replayed, flagged as possible duplicates: $flagged"
# Flagged: the killed ingestd's files. Not flagged: what the restarted one spooled itself and never sent (Redis
# was down), so nothing else can be in the stream; flagging those made the writers wait on each other.
check "replayed batches of the killed ingestd's files are flagged dup, the restarted one's own are not" \
  test "${flagged%.*}" -gt 0 -a "${flagged%.*}" -lt "${replayed%.*}"
load_stop
check "the writer catches up (taking over the dead writer's entries)" wait_caught_up 120
echo "  entries taken over: $(metric_sum mohstats_writer_entries_taken_over_total)," \
  "batches found already inserted: $(metric_sum mohstats_writer_duplicates_skipped_total)"
verify_exactly_once
finish
