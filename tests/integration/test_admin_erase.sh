#!/usr/bin/env bash
# mohstats-admin export and erase (issue 24) on a stack with known data, while ingest runs.
#
# A forum member (4242) with two GUIDs (era-x, era-x2) plays two other players (era-b, era-c, member 4343) in the
# previous and the current month; each store holds rows of both members. Checked: the operator is asked (and "no"
# does nothing); export gives every row of the member's, as JSON lines; erase deletes the events only theirs,
# keeps the events shared with era-b without their identity (also in the raw JSON), leaves no trace of their GUIDs,
# names or member id in any ClickHouse table (a name pinned by rename included), deletes their PostgreSQL, forum and
# Redis rows, takes them out of ingestd's live view and empties queryd's answer cache; export shows no other party's
# country; the action log keeps the hide and rename of their GUIDs without the GUIDs or names; everything of era-b's and era-c's is as before, the tables without a guid column equal what
# raw_events says, every event acknowledged meanwhile is stored once, and the action log names the member, not
# the GUIDs.
# One build (sanitizer): its subject is mohstats-admin, an operator's command, whose memory ASan checks; the
# daemons it drives run in both builds' other tests.
. "$(dirname "$0")/../fault/fault_lib.sh"

ADMIN=$MOHSTATS_BIN_DIR/mohstats-admin
THEIRS="'era-x', 'era-x2'"
OTHERS="'era-b', 'era-c'"

admin() {
  "$ADMIN" --by test-operator "$@" 2>>"$STACK_DIR/logs/admin.log"
}

# seed MONTHS_AGO: 50 of each kind of event in that month (received at the month's start plus a few hours; in the
# current month, before now).
seed() {
  ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, match_key, map_name, event_type,
      actor_guid, actor_name, actor_team, actor_smf_id, target_guid, target_name, target_team, target_smf_id, weapon,
      hitloc, raw, actor_country)
    SELECT generateUUIDv4(), generateUUIDv4(), 'era-srv', toDateTime(addMonths(toStartOfMonth(today()), -$1)) + number * 60,
      concat('era-m$1-', toString(number % 5)), 'dm/mohdm1', e.1, e.2, e.3, 'allies', e.4, e.5, e.6, 'axis', e.7,
      'kar98', 'head',
      concat('{\"type\":\"', e.1, '\",\"attacker_guid\":\"', e.2, '\",\"attacker_name\":\"',
             replaceAll(e.3, '\"', '\\\\\"'), '\",\"attacker_smf_id\":', toString(e.4), ',\"victim_guid\":\"', e.5,
             '\",\"victim_name\":\"', replaceAll(e.6, '\"', '\\\\\"'),
             '\",\"victim_smf_id\":', toString(e.7), '}'),
      multiIf(e.2 = 'era-b', 'FR', startsWith(e.2, 'era-x'), 'DE', '')
    FROM numbers(50) ARRAY JOIN [
      ('player_kill', 'era-x', 'X \"the\" name', toUInt64(4242), 'era-b', 'Bname', toUInt64(4343)),
      ('player_kill', 'era-b', 'Bname', toUInt64(4343), 'era-x', 'X \"the\" name', toUInt64(4242)),
      ('chat', 'era-x', 'X \"the\" name', toUInt64(4242), '', '', toUInt64(0)),
      ('weapon_fire', 'era-x2', 'X2', toUInt64(4242), '', '', toUInt64(0)),
      ('player_kill', '', '', toUInt64(0), 'era-x', 'X \"the\" name', toUInt64(4242)),
      ('player_kill', 'era-x', 'X \"the\" name', toUInt64(4242), 'era-x2', 'X2', toUInt64(4242)),
      ('player_kill', 'era-b', 'Bname', toUInt64(4343), 'era-c', 'Cname', toUInt64(0)),
      ('damage', 'era-c', 'Cname', toUInt64(0), 'era-b', 'Bname', toUInt64(4343)),
      ('match_start', '', '', toUInt64(0), '', '', toUInt64(0))] AS e"
}

# others: a fingerprint of everything of era-b's and era-c's in ClickHouse.
others() {
  ch_query "SELECT
      (SELECT concat(toString(sum(events)), '/', toString(sum(kills)), '/', toString(sum(deaths))) FROM player_daily
         WHERE guid IN ($OTHERS)),
      (SELECT sum(d) FROM (SELECT guid, match_key, sumMerge(deaths) AS d FROM player_match WHERE guid IN ($OTHERS)
         GROUP BY guid, match_key)),
      (SELECT count() FROM player_fights WHERE guid IN ($OTHERS)),
      (SELECT sum(kills) FROM player_weapon WHERE guid IN ($OTHERS)),
      (SELECT sum(kills) FROM player_map WHERE guid IN ($OTHERS)),
      (SELECT count() FROM (SELECT match_key, guid FROM match_players WHERE guid IN ($OTHERS) GROUP BY match_key, guid)),
      (SELECT count() FROM rating_changes WHERE guid IN ($OTHERS)),
      (SELECT count() FROM raw_events WHERE actor_guid IN ($OTHERS) OR target_guid IN ($OTHERS))"
}

# traces: rows naming the member's GUIDs, names or member id anywhere in ClickHouse (0 after the erase).
traces() {
  local t c n=0 sum
  while IFS=$'\t' read -r t c; do
    sum=$(ch_query "SELECT count() FROM $t WHERE $c IN ($THEIRS)")
    n=$((n + sum))
  done < <(ch_query "SELECT table, name FROM system.columns WHERE database = currentDatabase()
                       AND name IN ('guid', 'other_guid', 'actor_guid', 'target_guid')
                       AND table NOT LIKE '%\\_mv' AND table NOT LIKE 'admin\\_%'")
  sum=$(ch_query "SELECT count() FROM raw_events WHERE actor_smf_id = 4242 OR target_smf_id = 4242
                    OR position(raw, 'era-x') > 0 OR position(raw, ' name') > 0 OR position(raw, ':4242') > 0
                    OR position(raw, '\"X2\"') > 0 OR actor_name IN ('X2', 'X \"the\" name')")
  echo $((n + sum))
}

# pg_of MEMBER / forum_of MEMBER: their rows in each table of PostgreSQL / the forum, as one line.
pg_of() {
  pg_query "SELECT (SELECT count(*) FROM smf_user_mappings WHERE smf_member_id = $1),
                   (SELECT count(*) FROM login_tokens WHERE forum_user_id = $1),
                   (SELECT count(*) FROM login_token_history WHERE forum_user_id = $1),
                   (SELECT count(*) FROM trusted_ips WHERE forum_user_id = $1),
                   (SELECT count(*) FROM pending_ip_approvals WHERE forum_user_id = $1)"
}
forum_of() {
  mdb_query "SELECT (SELECT count(*) FROM smf_mohaa_identities WHERE id_member = $1),
                    (SELECT count(*) FROM smf_mohaa_player_achievements WHERE id_member = $1),
                    (SELECT count(*) FROM smf_mohaa_achievement_progress WHERE id_member = $1)" | tr '\t' ' '
}

# server_counts [SERVER]: events per month of the seeded server (era-srv) in server_hourly and in raw_events (equal after a rebuild).
server_counts() {
  ch_query "SELECT toYYYYMM(hour) AS m, countMerge(events) FROM server_hourly WHERE server_id = '${1:-era-srv}'
            GROUP BY m ORDER BY m"
}
raw_counts() {
  ch_query "SELECT toYYYYMM(received_at) AS m, count() FROM raw_events WHERE server_id = '${1:-era-srv}'
            GROUP BY m ORDER BY m"
}

writers_up || exit 1
seed 1
seed 0
ch_query "INSERT INTO rating_changes (guid, match_key, kind) VALUES ('era-x', 'era-m1-0', 'player'),
    ('era-x2', 'era-m1-1', 'player'), ('era-b', 'era-m1-0', 'player')"
ch_query "INSERT INTO rating_changes_by_match (guid, match_key, kind) VALUES ('era-x', 'era-m1-0', 'player'),
    ('era-b', 'era-m1-0', 'player')"
for m in 4242:era-x 4343:era-b; do
  id=${m%%:*} g=${m#*:}
  pg_query "INSERT INTO smf_user_mappings (smf_member_id, primary_guid) VALUES ($id, '$g');
    INSERT INTO login_tokens (token_hash, forum_user_id, expires_at, used_player_guid)
      VALUES (repeat('${id: -1}', 64), $id, now() + interval '1 day', '$g');
    INSERT INTO login_token_history (forum_user_id, player_guid, player_name, success) VALUES ($id, '$g', 'n', true);
    INSERT INTO trusted_ips (forum_user_id, ip_address, source) VALUES ($id, '198.51.100.${id: -1}', 'website');
    INSERT INTO pending_ip_approvals (forum_user_id, ip_address, player_guid, expires_at)
      VALUES ($id, '203.0.113.${id: -1}', '$g', now() + interval '1 day')" >/dev/null
  mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name) VALUES ($id, '$g', 'n');
    INSERT INTO smf_mohaa_player_achievements (id_member, player_guid, id_achievement) VALUES ($id, '$g', 1);
    INSERT INTO smf_mohaa_achievement_progress (id_member, id_achievement, current_progress) VALUES ($id, 2, 5)"
  redis_cmd HSET "$STREAM:achievd:state" "p:$id" blob >/dev/null
  redis_cmd HSET "$STREAM:achievd:links" "$g" "$id" >/dev/null
done
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name) VALUES (4242, 'era-x2', 'X2')"
cache_cmd SET q:some-answer '{"players": ["era-x"]}' >/dev/null
cache_cmd SET ql:some-answer lock >/dev/null

# The action log names a GUID hidden or renamed (to find it again); ingestd's live view lists era-x on a server
# beside era-b (an entry as ingestd writes it; the load's servers write theirs meanwhile).
admin hide --guid era-x2 && admin unhide --guid era-x2 && admin --yes rename era-x "Ex Renamed" ||
  fail "hide, unhide and rename before the erase"
redis_cmd HSET live_matches era-srv "{\"server_id\":\"era-srv\",\"last_event_ms\":$(date +%s)000,\"players\":[
  {\"guid\":\"era-x\",\"name\":\"X\",\"kills\":3},{\"guid\":\"era-b\",\"name\":\"Bname\",\"kills\":1}],
  \"player_count\":2}" >/dev/null
OTHERS_BEFORE=$(others)
PG_4343=$(pg_of 4343)
FORUM_4343=$(forum_of 4343)
RAW_BEFORE=$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'era-srv'")
check_eq "the seeded events are all there" 900 "$RAW_BEFORE"
check_eq "the member's rows are everywhere before" "1 1 1 1 1|2 1 1" "$(pg_of 4242 | tr '|' ' ')|$(forum_of 4242)"

# Export: every row of the member's, one JSON object a line.
admin export --member 4242 --out "$STACK_DIR/export.jsonl"
check "export --member 4242" test $? -eq 0
check "every exported line is a JSON object with its source" \
  jq -e -s 'all(.[]; type == "object" and (._source | type == "string"))' "$STACK_DIR/export.jsonl"
check_eq "export: the rows per source" \
  "clickhouse.rating_changes 2
clickhouse.raw_events 600
forum.mohaa_achievement_progress 1
forum.mohaa_identities 2
forum.mohaa_player_achievements 1
postgres.login_token_history 1
postgres.login_tokens 1
postgres.pending_ip_approvals 1
postgres.smf_user_mappings 1
postgres.trusted_ips 1" \
  "$(jq -r ._source "$STACK_DIR/export.jsonl" | sort | uniq -c | awk '{print $2, $1}')"
check_eq "export: the member's own country, not era-b's (the other party's)" "DE|" \
  "$(jq -r 'select(._source == "clickhouse.raw_events" and (.actor_guid | startswith("era-x"))) | .actor_country' \
    "$STACK_DIR/export.jsonl" | sort -u)|$(jq -r 'select(.actor_guid == "era-b") | .actor_country' \
    "$STACK_DIR/export.jsonl" | sort -u)"
check_eq "export of a GUID alone: its events and its rows" 202 "$(admin export --guid era-x2 | wc -l)"

# The operator says no: nothing happens.
echo n | admin erase --member 4242 >/dev/null
check "an erase the operator declines fails" test $? -ne 0
check_eq "a declined erase changes nothing" "$RAW_BEFORE 1 1 1 1 1" \
  "$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'era-srv'") $(pg_of 4242 | tr '|' ' ')"

# The erase, with load posted through ingestd meanwhile (the writers insert into the current month, which the
# erase rebuilds).
load_start api --seconds 20 --batch 20 --concurrency 4 --rate 40
sleep 2
check "erase --member 4242 during ingest" admin --yes erase --member 4242
load_wait
wait_caught_up 120 || fail "the writers did not catch up"

check_eq "no trace of the member's GUIDs, names or member id in ClickHouse" 0 "$(traces)"
check_eq "the events only theirs are deleted (4 kinds x 50 x 2 months)" $((RAW_BEFORE - 400)) \
  "$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'era-srv'")"
check_eq "the events shared with era-b are kept, without their identity" \
  "200 200" "$(ch_query "SELECT count(), countIf(position(raw, '\"~erased\"') > 0) FROM raw_events
                          WHERE server_id = 'era-srv' AND (actor_guid = '~erased' OR target_guid = '~erased')
                            AND (actor_guid = 'era-b' OR target_guid = 'era-b')" | tr '\t' ' ')"
check_eq "everything of era-b's and era-c's is as before" "$OTHERS_BEFORE" "$(others)"
check_eq "player_fights: era-b's opponent is anonymous (killer and victim, 50 each, 2 months)" 200 \
  "$(ch_query "SELECT count() FROM player_fights WHERE guid = 'era-b' AND other_guid = '~erased' AND other_name = ''")"
check_eq "server_hourly equals raw_events again (rebuilt for both months)" "$(raw_counts)" "$(server_counts)"
check_eq "PostgreSQL: the member's rows are gone" "0|0|0|0|0" "$(pg_of 4242)"
check_eq "PostgreSQL: the other member's rows are kept" "$PG_4343" "$(pg_of 4343)"
check_eq "the forum: the member's rows are gone" "0 0 0" "$(forum_of 4242)"
check_eq "the forum: the other member's rows are kept" "$FORUM_4343" "$(forum_of 4343)"
check_eq "achievd's state: the member's is gone, the other's kept" "0 1" \
  "$(redis_cmd HEXISTS "$STREAM:achievd:state" p:4242) $(redis_cmd HEXISTS "$STREAM:achievd:state" p:4343)"
check_eq "achievd's links: the member's GUIDs are gone, the other's kept" "0 0 1" \
  "$(redis_cmd HEXISTS "$STREAM:achievd:links" era-x) $(redis_cmd HEXISTS "$STREAM:achievd:links" era-x2) $(redis_cmd HEXISTS "$STREAM:achievd:links" era-b)"
check_eq "queryd's answers are dropped, its locks kept" "0 1" \
  "$(cache_cmd EXISTS q:some-answer) $(cache_cmd EXISTS ql:some-answer)"
check_eq "an export after the erase finds nothing" 0 "$(admin export --member 4242 | wc -l)"
check "the erase is logged with who did it" \
  test "$(ch_query "SELECT count() FROM admin_actions WHERE who = 'test-operator' AND action = 'erase'
                    AND detail LIKE 'member 4242 %'")" = 1
check_eq "the action log names no GUID of theirs, nor the names of the rename" 0 \
  "$(ch_query "SELECT count() FROM admin_actions WHERE position(detail, 'era-x') > 0 OR position(detail, 'Renamed') > 0")"
H2=$(echo -n era-x2 | sha256sum | cut -c1-16) HX=$(echo -n era-x | sha256sum | cut -c1-16)
check_eq "...and keeps the hide, unhide and rename, the GUIDs as their hashes" \
  "hide GUID sha256:$H2: sha256:$H2
rename GUID sha256:$HX: names erased
unhide GUID sha256:$H2: sha256:$H2" \
  "$(ch_query "SELECT concat(action, ' ', detail) FROM admin_actions
               WHERE who = 'test-operator' AND action IN ('hide', 'unhide', 'rename') ORDER BY action")"
check_eq "the live view lists era-b, not era-x" "era-b 1" \
  "$(redis_cmd HGET live_matches era-srv | jq -r '([.players[].guid] | join(",")) + " " + (.player_count | tostring)')"
check_eq "no scratch table or tap view is left" "" \
  "$(ch_query "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'admin\\_%'
               AND name NOT IN ('admin_actions', 'admin_rebuild_tap')")"
verify_stored_once "server_id != 'era-srv'"

# A member with no GUID at all (a trusted address only): nothing in ClickHouse is theirs, in particular not the
# events without any player.
pg_query "INSERT INTO trusted_ips (forum_user_id, ip_address, source) VALUES (4545, '198.51.100.45', 'website')" >/dev/null
check "erase --member 4545 (no GUID)" admin --yes erase --member 4545
check_eq "a member without GUIDs: raw_events untouched, their address gone" "$((RAW_BEFORE - 400)) 100 0" \
  "$(ch_query "SELECT count(), countIf(actor_guid = '' AND target_guid = '') FROM raw_events
               WHERE server_id = 'era-srv'" | tr '\t' ' ') $(pg_query "SELECT count(*) FROM trusted_ips WHERE forum_user_id = 4545")"
admin --yes erase --guid '~erased'
check "the erased stand-in cannot be erased (it is nobody)" test $? -ne 0
admin hide --guid '~erased'
check "nor hidden or shown" test $? -ne 0

# A GUID alone: era-c, linked to nobody, whose events are all shared with era-b.
RAW_AFTER=$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'era-srv'")
check "erase --guid era-c" admin --yes erase --guid era-c
check_eq "era-c's events are kept, without era-c" "$RAW_AFTER 0 400" \
  "$(ch_query "SELECT countIf(server_id = 'era-srv'), countIf(actor_guid = 'era-c' OR target_guid = 'era-c'),
                      countIf((actor_guid = 'era-b' OR target_guid = 'era-b')
                              AND (actor_guid = '~erased' OR target_guid = '~erased'))
               FROM raw_events" | tr '\t' ' ')"

# ---- merge: mrg-a (forum member 4646) into mrg-b (linked to nobody), with load posted meanwhile ----
# mseed MONTHS_AGO: per month, 10 kills each of mrg-a and mrg-b on mrg-c, 10 of mrg-c on mrg-a, 10 chats of mrg-a.
# The current month only: the one the writers insert into meanwhile (each month seeded costs the merge a rebuild
# of every table partitioned by month).
mseed() {
  ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, match_key, map_name, event_type,
      actor_guid, actor_name, actor_team, target_guid, target_name, target_team, weapon, hitloc)
    SELECT generateUUIDv4(), generateUUIDv4(), 'mrg-srv',
      toDateTime(addMonths(toStartOfMonth(today()), -$1)) + number * 60, concat('mrg-m$1-', toString(number % 3)),
      'dm/mohdm1', e.1, e.2, e.3, 'allies', e.4, e.5, 'axis', 'kar98', 'head'
    FROM numbers(10) ARRAY JOIN [('player_kill', 'mrg-a', 'A', 'mrg-c', 'C'), ('player_kill', 'mrg-b', 'B', 'mrg-c', 'C'),
      ('player_kill', 'mrg-c', 'C', 'mrg-a', 'A'), ('chat', 'mrg-a', 'A', '', '')] AS e"
}
# mrg_of GUID: events/kills/deaths in player_daily, kills in player_weapon, matches in match_players.
mrg_of() {
  ch_query "SELECT concat(toString(sum(events)), '/', toString(sum(kills)), '/', toString(sum(deaths)),
      '/', toString((SELECT sum(kills) FROM player_weapon WHERE guid = '$1')),
      '/', toString((SELECT uniqExact(match_key) FROM match_players WHERE guid = '$1')))
    FROM player_daily WHERE guid = '$1'"
}
mseed 0
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name) VALUES (4646, 'mrg-a', 'A')"
pg_query "INSERT INTO smf_user_mappings (smf_member_id, primary_guid) VALUES (4646, 'mrg-a')" >/dev/null
check_eq "merge: the seeded players before (events/kills/deaths/weapon kills/matches)" "30/10/10/10/3 10/10/0/10/3" \
  "$(mrg_of mrg-a) $(mrg_of mrg-b)"
C_BEFORE=$(mrg_of mrg-c)
MRG_RAW=$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'mrg-srv'")
echo n | admin merge --from mrg-a --into mrg-b >/dev/null
check "a merge the operator declines fails" test $? -ne 0
check_eq "...and changes nothing" "30/10/10/10/3" "$(mrg_of mrg-a)"
admin --yes merge --from era-b --into mrg-a
check "a merge of GUIDs of two forum members is refused" test $? -ne 0
check_eq "...and changes nothing" "30/10/10/10/3 0" \
  "$(mrg_of mrg-a) $(ch_query "SELECT count() FROM raw_events WHERE actor_guid = 'era-b' AND target_guid = 'mrg-a'")"
load_start api --seconds 15 --batch 20 --concurrency 4 --rate 40
sleep 2
check "merge --from mrg-a --into mrg-b during ingest" admin --yes merge --from mrg-a --into mrg-b
load_wait
wait_caught_up 120 || fail "the writers did not catch up"
check_eq "merge: mrg-b has both players' numbers" "40/20/10/20/3" "$(mrg_of mrg-b)"
check_eq "...and no table has a row of mrg-a (ratings aside)" 0 "$(
  n=0
  while IFS=$'\t' read -r t c; do
    n=$((n + $(ch_query "SELECT count() FROM $t WHERE $c = 'mrg-a'")))
  done < <(ch_query "SELECT table, name FROM system.columns WHERE database = currentDatabase()
                       AND name IN ('guid', 'other_guid', 'actor_guid', 'target_guid')
                       AND table NOT LIKE '%\\_mv' AND table NOT LIKE 'admin\\_%'
                       AND table NOT IN ('hidden_players', 'rating_changes', 'rating_changes_by_match')")
  echo $n)"
check_eq "mrg-c's numbers are as before; its fights name mrg-b only" "$C_BEFORE 0 30" \
  "$(mrg_of mrg-c) $(ch_query "SELECT countIf(other_guid = 'mrg-a'), countIf(other_guid = 'mrg-b') FROM player_fights
                                 WHERE guid = 'mrg-c'" | tr '\t' ' ')"
check_eq "raw_events: every event kept" "$MRG_RAW" "$(ch_query "SELECT count() FROM raw_events WHERE server_id = 'mrg-srv'")"
check_eq "server_hourly equals raw_events (rebuilt)" "$(raw_counts mrg-srv)" "$(server_counts mrg-srv)"
check_eq "the forum and authd link mrg-b to member 4646, mrg-a to nobody" "mrg-b mrg-b" \
  "$(mdb_query "SELECT group_concat(player_guid) FROM smf_mohaa_identities WHERE id_member = 4646") $(
    pg_query "SELECT primary_guid FROM smf_user_mappings WHERE smf_member_id = 4646")"
check "mrg-a is hidden (its ratings until ratingd recompute)" grep -qx mrg-a <<<"$(admin hidden)"
check_eq "the merge is logged with who did it" 1 \
  "$(ch_query "SELECT count() FROM admin_actions WHERE who = 'test-operator' AND action = 'merge'
               AND detail LIKE 'GUID mrg-a into GUID mrg-b%'")"
# --force over two members: frc-a (member 4747) into frc-b (member 4848). A's side of each event takes B's member
# as well: the events' member column is how export and erase find a member's GUIDs, so 4747's must not find frc-b.
ch_query "INSERT INTO raw_events (event_id, batch_id, server_id, received_at, match_key, map_name, event_type,
    actor_guid, actor_name, actor_smf_id, target_guid, target_name, target_smf_id)
  SELECT generateUUIDv4(), generateUUIDv4(), 'frc-srv', now() - number, 'frc-m', 'dm/mohdm1', 'player_kill',
    e.1, e.2, e.3, e.4, e.5, e.6
  FROM numbers(5) ARRAY JOIN [('frc-a', 'FA', 4747, 'frc-b', 'FB', 4848), ('frc-b', 'FB', 4848, 'frc-a', 'FA', 4747)] AS e"
mdb_query "INSERT INTO smf_mohaa_identities (id_member, player_guid, player_name) VALUES (4747, 'frc-a', 'FA'), (4848, 'frc-b', 'FB')"
check "merge --force of two members' GUIDs" admin --yes merge --force --from frc-a --into frc-b
check_eq "...frc-a's events are frc-b's and member 4848's, on both sides" "0 10" \
  "$(ch_query "SELECT countIf(actor_smf_id = 4747 OR target_smf_id = 4747),
                      countIf(actor_guid = 'frc-b' AND actor_smf_id = 4848 AND target_guid = 'frc-b' AND target_smf_id = 4848)
               FROM raw_events WHERE server_id = 'frc-srv'" | tr '\t' ' ')"
admin export --member 4747 --out "$STACK_DIR/export-4747.jsonl"
check_eq "...so member 4747's export holds none of frc-b's events" 0 \
  "$(jq -s '[.[] | select(._source == "clickhouse.raw_events")] | length' "$STACK_DIR/export-4747.jsonl")"
admin --yes merge --from unauth_3 --into frc-b
check "a guest slot (unauth_N) is refused: it is every guest in it" test $? -ne 0

verify_stored_once "server_id NOT IN ('era-srv', 'mrg-srv', 'frc-srv')"
check_eq "no sanitizer reports in mohstats-admin's log" "" "$(grep -E "$SANITIZER_REPORT" "$STACK_DIR/logs/admin.log")"
finish
