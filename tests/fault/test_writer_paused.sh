#!/usr/bin/env bash
# Fault test: a stream writer is paused at the worst moments of its ownership check, for longer than
# WRITER_CLAIM_IDLE_MS, under load. gdb stops it on entry to a callback of the check (a breakpoint, so the pause
# lands exactly there, which SIGSTOP at a random time rarely does), holds it 9 s, then lets it go:
#   lease_start    the set is read and about to be confirmed: nothing sent yet;
#   on_lease_time  Redis's clock answered "fresh" before the pause, and the callback runs after it;
#   on_lease       the lease script answered "yours" before the pause, and the callback runs after it;
#   body_read      the insert is under way, its body half sent (ClickHouse waits for the rest; our request's
#                  timeout, due when the process resumes, must end it before it completes).
# Meanwhile the other writer takes the entries over and inserts them. The paused one must notice, by a clock read
# when it resumes, that its answer is stale, and leave the entries (I3 in ingestd/stream_writer.c). libuv's loop
# time does not notice: it was read before the callbacks of the turn in which the pause fell. Every acknowledged
# event must end up in ClickHouse exactly once.
#
# Layout: one ingestd accepting batches (INGESTD_ROLE=api) and two writer-only ingestds, paused in turn.
set -uo pipefail
. "$(dirname "$0")/fault_lib.sh"

# Take over after 6 s (30 s in production); inserts every 300 ms, so that each callback comes round often.
export WRITER_CLAIM_IDLE_MS=6000 WRITER_FLUSH_MS=300

if ! command -v gdb >/dev/null; then
  fail "gdb is not installed (scripts/deps.sh installs it)"
  finish
fi

# pause_at NAME FUNCTION [OTHER]: stop writer NAME when it enters FUNCTION, hold it 9 s (past WRITER_CLAIM_IDLE_MS
# and a maintenance tick of the other writer), then detach. Succeeds if the breakpoint was hit.
# With OTHER, writer OTHER is held (by a second gdb) from its next lease_start until the breakpoint is hit: NAME then
# takes OTHER's entries over, and inserting entries taken over always goes through the lease script. That makes
# on_lease sure to come; otherwise it runs only when some entry of a set was read more than op_timeout_ms / 2 before
# its insert, which depends on the machine's speed (a CI run once saw none in 60 s). Held at lease_start and not at a
# random moment (SIGSTOP): OTHER then has a set read and no insert under way, while an insert of OTHER's still
# running in ClickHouse (its body half sent when the process stopped) makes NAME wait for it before inserting what it
# took over (I4 in ingestd/stream_writer.c), for as long as OTHER stays stopped (a CI run waited 60 s so).
pause_at() {
  local out thaw=() holder="" held=$STACK_DIR/held.$round release=$STACK_DIR/release.$round
  if [ -n "${3:-}" ]; then
    timeout 150 gdb -p "${INGESTD_PIDS[$3]}" -batch -nx -q -ex 'set pagination off' -ex 'set confirm off' \
      -ex 'break lease_start' -ex 'continue' -ex "shell touch $held" \
      -ex "shell while [ ! -e $release ]; do sleep 0.1; done" -ex 'delete' -ex 'detach' \
      >"$STACK_DIR/logs/gdb-$3-$round.log" 2>&1 &
    holder=$!
    for _ in $(seq 1 600); do
      [ -e "$held" ] && break
      sleep 0.1
    done
    if [ ! -e "$held" ]; then
      touch "$release"
      wait "$holder"
      echo "  $3 did not reach lease_start within 60 s"
      tail -n 5 "$STACK_DIR/logs/gdb-$3-$round.log"
      return 1
    fi
    thaw=(-ex "shell touch $release")
  fi
  out=$(timeout 60 gdb -p "${INGESTD_PIDS[$1]}" -batch -nx -q \
    -ex 'set pagination off' -ex 'set confirm off' -ex "break $2" -ex 'continue' "${thaw[@]}" \
    -ex 'shell sleep 9' -ex 'delete' -ex 'detach' 2>&1)
  if [ -n "$holder" ]; then
    touch "$release"
    wait "$holder"
  fi
  grep -Eq "Breakpoint 1(\.[0-9]+)?, $2 " <<<"$out" && return 0
  echo "$out" | tail -n 5
  echo "  stream entries held: w1 $(writer_pending w1), w2 $(writer_pending w2); taken over so far:" \
    "$(metric_sum mohstats_writer_entries_taken_over_total); last lines of $1's log:"
  tail -n 5 "$STACK_DIR/logs/$1.log"
  return 1
}

writers_up || exit 1

load_start api --seconds 600 --concurrency 8 --batch 25
round=0
for fn in lease_start on_lease_time on_lease body_read; do
  for victim in w1 w2; do
    round=$((round + 1))
    sleep 1
    other=
    if [ "$fn" = on_lease ]; then
      other=w1
      [ "$victim" = w1 ] && other=w2
    fi
    check "round $round: $victim paused in $fn" pause_at "$victim" "$fn" ${other:+"$other"}
  done
done
sleep 3
load_stop

check "the writers catch up" wait_caught_up 120
left=$(cat "$STACK_DIR"/logs/w1.log "$STACK_DIR"/logs/w2.log | grep -c "taken over by another writer")
check "a resumed writer found entries taken over while it was paused, and left them ($left times)" test "$left" -gt 0
echo "  entries taken over: $(metric_sum mohstats_writer_entries_taken_over_total)," \
  "inserts confirmed by Redis's clock: $(metric_sum 'mohstats_writer_ownership_checks_total{by="clock"}')," \
  "by the lease script: $(metric_sum 'mohstats_writer_ownership_checks_total{by="script"}')"
verify_exactly_once
check_eq "nothing went to the dead-letter stream" 0 "$(redis_cmd XLEN "$STREAM:dead")"
finish
