#!/usr/bin/env bash
# mohstats-admin backup and restore (issue 24), end to end. A stack gets known data in every store: matches played
# through the API (raw_events, every aggregate table, ratings, the forum's achievements), linked members in
# PostgreSQL and the forum. It is backed up while a game server keeps posting (one batch after another, each with
# players of its own), then destroyed; a fresh stack (`up --db-only`) gets the backup, then its daemons, and the
# writers re-deliver what the ClickHouse snapshot lacked. Checked: the stream's length and Redis's keys are the
# backup's; the live server's batches are back as a prefix of what it sent (nothing acknowledged before the backup
# began is missing, nothing is twice); once the events of the batches acknowledged after the backup are copied to
# the new stack too, every count equals the old stack's: raw_events by type, each ClickHouse table (its rows once
# merged, and the sums of the SummingMergeTree ones), each PostgreSQL table, the forum tables mohstats writes. A
# second restore onto the restored stack is refused, and so are, before any store changes, a restore onto a Redis
# that is not fresh and one of a damaged forum dump; the restored stack takes new batches.
# One build (sanitizer): its subject is mohstats-admin, an operator's command, whose memory ASan checks; the
# daemons it drives run in both builds' other tests.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
# The backup copies ClickHouse in a gap between two writer inserts. On this project's shared machines an insert
# with its twelve views took 2.5 s at a load average of 44, longer than the default WRITER_FLUSH_MS (1 s) between
# two: there was never a gap. Inserts 3 s apart leave one whatever the machine's load (docs/operations.md).
export WRITER_FLUSH_MS=3000
# achievd writes its progress rows every ACHIEVD_PROGRESS_MS (10 s by default): the counts below are taken once
# they stop moving for a second, which a 10 s interval passed half-way (36 progress rows taken, 67 once written).
export ACHIEVD_PROGRESS_MS=200 ACHIEVD_FLUSH_MS=100
ADMIN=$MOHSTATS_BIN_DIR/mohstats-admin
OLD_DIR=""
SENDER_PID=""

# The old stack is stopped and removed here (lib.sh takes care of the new one, STACK_DIR).
_backup_on_exit() {
  local rc=$?
  [ -z "$SENDER_PID" ] || kill "$SENDER_PID" 2>/dev/null
  if [ -n "$OLD_DIR" ] && [ "${KEEP_STACK:-0}" != 1 ]; then
    "$STACK_SH" down "$OLD_DIR" >/dev/null 2>&1
    rm -rf "$OLD_DIR"
  fi
  (exit "$rc")
  _lib_on_exit
}
trap _backup_on_exit EXIT

admin() {
  "$ADMIN" --by test-operator "$@" 2>>"$STACK_DIR/logs/admin.log"
}

stack_up || exit 1
API=$MOHSTATS_URL/api/v1
. "$(dirname "$0")/match_lib.sh"
check "a game server registered" register_server Backup 12500

# --- known data ------------------------------------------------------------------------------------------------
# Three team matches won by the Allies: members 5101 and 5102 (logged in: their GUID is their member id) and the
# guest bk-g1 beat 6201 and 6202; each ends with match_end, so ratingd rates it.
A_EVENTS=0
for m in 1 2 3; do
  MATCH=match_00000000000000b$m SESSION=sess_00000000000000b$m
  a=("$(ev match_start 0 '"map_name": "obj/obj_team2", "gametype": "4"')")
  for g in 5101 5102 bk-g1; do a+=("$(spawn 1 $g american)"); done
  for g in 6201 6202; do a+=("$(spawn 1 $g german)"); done
  for t in 10 20 30 40; do
    a+=("$(ev player_kill $t "$(who attacker 5101 american), \"attacker_smf_id\": \"5101\", $(who victim 6201 german), \
\"weapon\": \"Kar98\", \"hitloc\": \"head\", \"mod\": \"bullet\", \"damage\": \"100.000\"")")
    a+=("$(kill_ev $((t + 1)) 5102 american 6202 german)" "$(kill_ev $((t + 2)) 6201 german bk-g1 american)")
  done
  a+=("$(ev team_win 99 '"teamnum": "allies"')" \
    "$(ev match_end 100 '"winning_team": "allies", "gametype": 4, "map": "obj/obj_team2"')")
  check_eq "match $m is accepted" 202 "$(post "${a[@]}")"
  A_EVENTS=$((A_EVENTS + ${#a[@]}))
done
events_are() { [ "$(ch_query "$1")" = "$2" ]; }
check "the matches are in raw_events" retry 30 events_are "SELECT count() FROM raw_events" "$A_EVENTS"
echo "raw_events: $(ch_query "SELECT count() FROM raw_events") events of the $A_EVENTS posted"
check "ratingd rated the three matches" retry 30 events_are "SELECT uniqExact(match_key) FROM rating_changes" 3
# Links as authd and the forum keep them, and an achievement the forum granted by hand.
pg_query "INSERT INTO smf_user_mappings (smf_member_id, smf_username, primary_guid) VALUES
  (5101, 'Abel', '5101'), (5102, 'Bea', '5102')" >/dev/null
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name, linked_at, verified) VALUES
  (5101, '5101', 'P5101', 1700000000, 1), (5102, '5102', 'P5102', 1700000000, 1);
  INSERT INTO smf_mohaa_player_achievements (id_member, player_guid, id_achievement, unlocked_date)
  SELECT 5102, '5102', id_achievement, 1700000000 FROM smf_mohaa_achievement_defs ORDER BY id_achievement LIMIT 1"

# --- the live server, posting during the backup -----------------------------------------------------------------
# live_batch SEQ: batch SEQ of the live match: its own two players, a spawn and a kill (LIVE_EVENTS events), the
# first player's GUID lv<SEQ>a the actor of both.
LIVE_EVENTS=2
live_batch() {
  MATCH=match_00000000000000c1 SESSION=sess_00000000000000c1
  post "$(ev player_spawn 1 "$(who player "lv$1a" american), \"map_name\": \"dm/mohdm1\"")" \
    "$(ev player_kill 2 "$(who attacker "lv$1a" american), $(who victim "lv$1b" german), \"weapon\": \"Thompson\", \
\"hitloc\": \"torso_upper\", \"mod\": \"bullet\", \"damage\": \"100.000\", \"map_name\": \"dm/mohdm1\"")"
}
SENT=$STACK_DIR/live.sent
: >"$SENT"
(
  seq=0
  while [ ! -f "$STACK_DIR/live.stop" ]; do
    seq=$((seq + 1))
    [ "$(live_batch $seq)" = 202 ] || { echo "live batch $seq refused" >&2; exit 1; }
    echo "$seq" >>"$SENT"
  done
) &
SENDER_PID=$!
sent_at_least() { [ "$(wc -l <"$SENT")" -ge "$1" ]; }
retry 20 sent_at_least 5 || fail "the live server posts"
BEFORE=$(wc -l <"$SENT")

BK=$STACK_DIR/backup
t0=$(date +%s%N)
if ! admin backup "$BK"; then
  fail "backup, ingest running: $(tail -n 3 "$STACK_DIR/logs/admin.log")"
  exit 1
fi
pass "backup, ingest running"
echo "backup took $((($(date +%s%N) - t0) / 1000000)) ms"
touch "$STACK_DIR/live.stop"
wait "$SENDER_PID"
check_eq "the live server posted until the backup ended" 0 $?
SENDER_PID=""
SENT_N=$(tail -n 1 "$SENT")
echo "live batches: $BEFORE acknowledged before the backup began, $SENT_N in all"
grep -v '^seconds=' "$BK/manifest"
LIVE_COUNT="SELECT count() FROM raw_events WHERE startsWith(actor_guid, 'lv')"
check "the old stack stored every live batch" retry 30 events_are "$LIVE_COUNT" "$((SENT_N * LIVE_EVENTS))"

# fingerprint: every count the restore must bring back, one line each: raw_events by type; each ClickHouse table
# but the action log (the backup and the restore are recorded on one side each) as its rows once merged (FINAL, but
# on plain MergeTree tables, whose rows never merge), with the sums of the SummingMergeTree ones; each PostgreSQL
# table; the forum tables mohstats writes.
fingerprint() {
  local t engine
  ch_query "SELECT event_type, count() FROM raw_events GROUP BY event_type ORDER BY event_type FORMAT TSV"
  while IFS=$'\t' read -r t engine; do
    case $engine in
      MergeTree) printf '%s\t%s\n' "$t" "$(ch_query "SELECT count() FROM $t")" ;;
      SummingMergeTree) printf '%s\t%s\n' "$t" "$(ch_query "SELECT count(), sum(cityHash64(*)) FROM $t FINAL")" ;;
      *) printf '%s\t%s\n' "$t" "$(ch_query "SELECT count() FROM $t FINAL")" ;;
    esac
  done < <(ch_query "SELECT name, engine FROM system.tables WHERE database = currentDatabase()
                       AND engine LIKE '%MergeTree' AND name NOT LIKE 'admin\\_%' ORDER BY name FORMAT TSV")
  while read -r t; do
    printf 'pg %s\t%s\n' "$t" "$(pg_query "SELECT count(*) FROM $t")"
  done < <(pg_query "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
  for t in smf_mohaa_identities smf_mohaa_player_achievements smf_mohaa_achievement_progress \
    smf_mohaa_achievement_defs mohstats_tournament_links mohstats_tournament_results mohstats_team_memberships; do
    printf 'forum %s\t%s\n' "$t" "$(mdb_query "SELECT count(*) FROM $t")"
  done
}
# achievd writes progress every ACHIEVD_PROGRESS_MS: the old stack's numbers are taken once they stopped moving.
settled() {
  local a b
  a=$(fingerprint)
  sleep 1
  b=$(fingerprint)
  [ "$a" = "$b" ] && [ -n "$a" ] && printf '%s\n' "$a" >"$1"
}
check "the old stack's counts settle" retry 40 settled "$STACK_DIR/old.fp"
check "the old stack has achievement unlocks" test "$(mdb_query "SELECT count(*) FROM smf_mohaa_player_achievements")" -gt 1
# The live batches' rows as the old stack stored them, each after its batch's number, for the restored stack to get
# those the backup lacked. Copied, not posted again: a batch posted again would be stored with a receive time of
# its own, and the rows an hour, a day or a month apart are other rows of the aggregates (this test waited out an
# hour's last 3 minutes so that its copies could not straddle one, up to 3 minutes of `make test`).
ch_query "SELECT toUInt64(substring(actor_guid, 3, length(actor_guid) - 3)), * FROM raw_events
            WHERE startsWith(actor_guid, 'lv') FORMAT TabSeparated" >"$STACK_DIR/live_rows.tsv"
check_eq "the live batches' rows are kept" "$((SENT_N * LIVE_EVENTS))" "$(wc -l <"$STACK_DIR/live_rows.tsv")"

# --- destroy, then restore onto a fresh stack -------------------------------------------------------------------
"$STACK_SH" down "$STACK_DIR" >/dev/null 2>&1
check_eq "no sanitizer reports in the old stack's daemons' logs" "" \
  "$(grep -l -E "$SANITIZER_REPORT" $(daemon_logs) /dev/null)"
rm -rf "$STACK_DIR"/{clickhouse,redis,postgres,mariadb}
OLD_DIR=$STACK_DIR
STACK_DIR=""
stack_up --db-only || exit 1
# Refused before any store changes: a Redis that is not fresh; a backup whose forum dump is damaged.
redis_cmd SET not-fresh 1 >/dev/null
check "a restore onto a Redis that holds a key is refused" test "$(admin --yes restore "$OLD_DIR/backup"; echo $?)" != 0
redis_cmd DEL not-fresh >/dev/null
mkdir "$STACK_DIR/damaged" && ln -s "$OLD_DIR"/backup/* "$STACK_DIR/damaged/" && rm "$STACK_DIR/damaged/mariadb.sql" &&
  echo "not a dump" >"$STACK_DIR/damaged/mariadb.sql"
check "a restore of a backup whose forum dump is damaged is refused" \
  test "$(admin --yes restore "$STACK_DIR/damaged"; echo $?)" != 0
check_eq "...both before any store changed" "0 0 0" "$(ch_query "SELECT count() FROM raw_events") $(redis_cmd DBSIZE) $(
  ch_query "SELECT count() FROM admin_actions")"
t0=$(date +%s%N)
check "restore onto the fresh stack" admin --yes restore "$OLD_DIR/backup"
echo "restore took $((($(date +%s%N) - t0) / 1000000)) ms"
check_eq "the stream's length is the backup's" "$(sed -n 's/^stream_length=//p' "$OLD_DIR/backup/manifest")" \
  "$(redis_cmd XLEN mohstats:events)"
check_eq "Redis holds the backup's keys" "$(sed -n 's/^redis_keys=//p' "$OLD_DIR/backup/manifest")" \
  "$(redis_cmd DBSIZE)"
"$STACK_SH" up "$STACK_DIR" --port 0 >/dev/null 2>&1 || fail "the restored stack's daemons start"
stack_env
API=$MOHSTATS_URL/api/v1

# The writers re-deliver: the guard's recovery is done (a start time recorded again), and the writers' group has
# nothing pending and has read the stream to its end.
field() { awk -v k="$1" 'p == k {print; exit} {p = $0}'; }
delivered() {
  local groups
  [ "$(redis_cmd HGET mohstats:events:guard start)" != 0 ] || return 1
  groups=$(redis_cmd XINFO GROUPS mohstats:events | awk '/^name$/ {n = NR} NR == n + 1 {g = ($0 == "clickhouse")} g')
  [ "$(field pending <<<"$groups")" = 0 ] &&
    [ "$(field last-delivered-id <<<"$groups")" = "$(redis_cmd XINFO STREAM mohstats:events | field last-generated-id)" ]
}
check "the restored writers re-delivered the stream" retry 60 delivered
K=$(ch_query "SELECT max(toUInt64(substring(actor_guid, 3, length(actor_guid) - 3))) FROM raw_events
                WHERE startsWith(actor_guid, 'lv')")
echo "live batches in the restored stack: 1 to $K"
check "every live batch acknowledged before the backup began is restored" test "$K" -ge "$BEFORE"
check_eq "the live batches restored are 1 to $K, each once" "$K $((K * LIVE_EVENTS))" \
  "$(ch_query "SELECT uniqExact(substring(actor_guid, 3, length(actor_guid) - 3)), count() FROM raw_events
                 WHERE startsWith(actor_guid, 'lv') FORMAT TSV" | tr '\t' ' ')"

# The batches acknowledged after the backup went to the old stack only: the new one gets their rows now, into
# raw_events, whose views fill the aggregates as the writers' inserts do (TabSeparated gives every value back
# exactly; the first column, the batch's number, is dropped).
{
  echo "INSERT INTO raw_events FORMAT TabSeparated"
  awk -F '\t' -v k="$K" '$1 > k' "$OLD_DIR/live_rows.tsv" | cut -f 2-
} | curl -sS --max-time 30 --fail-with-body --data-binary @- "$CLICKHOUSE_URL" ||
  fail "the rows of the batches after the backup are copied"
check "the restored stack has every live batch" events_are "$LIVE_COUNT" "$((SENT_N * LIVE_EVENTS))"
same_counts() {
  fingerprint >"$STACK_DIR/new.fp"
  cmp -s "$OLD_DIR/old.fp" "$STACK_DIR/new.fp"
}
if retry 40 same_counts; then
  pass "every count of the restored stack equals the old stack's ($(wc -l <"$STACK_DIR/new.fp") counts)"
else
  fail "every count of the restored stack equals the old stack's: $(diff "$OLD_DIR/old.fp" "$STACK_DIR/new.fp" | tr '\n' ' ')"
fi
check "a restore onto a stack that holds events is refused" test "$(admin --yes restore "$OLD_DIR/backup"; echo $?)" != 0
check_eq "the refused restore changed nothing" "$(cat "$STACK_DIR/new.fp")" "$(fingerprint)"
check "the action log has the restore" test "$(ch_query "SELECT count() FROM admin_actions WHERE action = 'restore'")" = 1
check_eq "the restored stack takes a new batch" 202 "$(live_batch $((SENT_N + 1)))"
check "...and stores it" retry 30 events_are "$LIVE_COUNT" "$(((SENT_N + 1) * LIVE_EVENTS))"
finish
