#!/usr/bin/env bash
# Fault test: Redis restarts under load, cleanly (SIGTERM) and by crashing (SIGKILL; the AOF with appendfsync
# always keeps every acknowledged XADD). XADDs cut off by the restart have an unknown outcome and are spooled and
# replayed flagged as possible duplicates; XREADGROUP replies lost with the connection leave entries pending that
# the writers re-read or take over. Every acknowledged event ends up in ClickHouse exactly once.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

export WRITER_CLAIM_IDLE_MS=6000

stack_up --db-only || exit 1
ingestd_start a INGESTD_ROLE=all || exit 1
ingestd_start b INGESTD_ROLE=all || exit 1
check "a game server registers" register_server a

# Both ingestds take load: two load runs at once, numbered apart. The rate is bounded (2 x 5,000 events/s,
# several times a busy server's) so that catching up afterwards depends on the writers, not on how fast this
# machine happens to accept load into Redis. They run until a few seconds after the last restart (load_stop).
load_start a --seconds 600 --concurrency 6 --batch 20 --rate 250
load_start b --seconds 600 --concurrency 6 --batch 20 --rate 250

restarts=0
for how in TERM KILL TERM KILL; do
  sleep 6
  old=$(server_pid redis)
  if [ "$how" = TERM ]; then server_stop redis; else server_kill redis; fi
  sleep 0.$((RANDOM % 10))
  servers_up
  [ "$(server_pid redis)" != "$old" ] && restarts=$((restarts + 1))
done
sleep 3
load_stop
check_eq "Redis was restarted 4 times (2 clean, 2 crashes)" 4 "$restarts"

check "the writers catch up" wait_caught_up 120
echo "  spooled batches: $(metric_sum mohstats_spool_batches_total), replayed: $(metric_sum mohstats_spool_replayed_total)," \
  "entries re-read or taken over: $(metric_sum mohstats_writer_entries_taken_over_total)," \
  "batches found already inserted: $(metric_sum mohstats_writer_duplicates_skipped_total)"
verify_exactly_once
finish
