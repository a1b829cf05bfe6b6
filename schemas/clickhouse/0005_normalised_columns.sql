-- Normalised columns: the side of each team and the class of the hit location, computed once per row by
-- ClickHouse, so the views and queryd read columns instead of re-deriving them from the strings as sent.
-- Runs on ClickHouse 18.16 and current releases.
--
-- Why MATERIALIZED expressions and not the writer: a MATERIALIZED column is computed at insert for new rows
-- and on read for the parts written before this migration, so old and new rows are classified by the same
-- expression, the writer's row format and the stream stay as they are, and no DEFAULT for old rows is needed
-- beside a C copy (a writer-computed column would need both: the C for new rows, an SQL DEFAULT for old ones).
-- The expressions are generated from the C tables: each one below is, byte for byte, VOCAB_SIDE_SQL(col) or
-- VOCAB_HIT_CLASS_SQL(col) of common/game_vocab.h, and tests/unit/test_event_model.c fails if they differ. They
-- are the only spelling of the team and body-location lists that views and queries use (0002 and 0003 keep
-- theirs: applied migrations are history).
--
--   actor_side, target_side, team_side  'allies', 'axis' or '' (not a side), from actor_team, target_team, team
--   hit_class                           'head', 'torso', 'pelvis', 'arm', 'hand', 'leg', 'foot' or '' (not a
--                                       body part: miss, general, ...), from hitloc
--
-- player_fights gets hit_class too, for queryd's per-weapon hit classes: written by its view from raw_events'
-- column, and for the rows written before this migration a DEFAULT of the same expression over its (lower-cased)
-- hitloc. Not MATERIALIZED there: 18.16 refuses a view's insert into a table with a MATERIALIZED column
-- ("Expected column hit_class").
--
-- An ADD COLUMN statement adds one column and scripts/migrate.sh skips it when system.columns already has the
-- column (18.16 has no ADD COLUMN IF NOT EXISTS), so a run that stopped half-way is simply run again.

ALTER TABLE raw_events ADD COLUMN actor_side String MATERIALIZED transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'], ['allies', 'allies', 'allies', 'axis', 'axis'], '');
ALTER TABLE raw_events ADD COLUMN target_side String MATERIALIZED transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'], ['allies', 'allies', 'allies', 'axis', 'axis'], '');
ALTER TABLE raw_events ADD COLUMN team_side String MATERIALIZED transform(lower(team), ['american', 'allies', 'allied', 'german', 'axis'], ['allies', 'allies', 'allies', 'axis', 'axis'], '');
ALTER TABLE raw_events ADD COLUMN hit_class String MATERIALIZED transform(lower(hitloc), ['head', 'helmet', 'neck', 'torso_upper', 'torso_mid', 'torso_lower', 'pelvis', 'r_arm_upper', 'l_arm_upper', 'r_leg_upper', 'l_leg_upper', 'r_arm_lower', 'l_arm_lower', 'r_leg_lower', 'l_leg_lower', 'r_hand', 'l_hand', 'r_foot', 'l_foot'], ['head', 'head', 'head', 'torso', 'torso', 'torso', 'pelvis', 'arm', 'arm', 'leg', 'leg', 'arm', 'arm', 'leg', 'leg', 'hand', 'hand', 'foot', 'foot'], '');
ALTER TABLE player_fights ADD COLUMN hit_class String DEFAULT transform(lower(hitloc), ['head', 'helmet', 'neck', 'torso_upper', 'torso_mid', 'torso_lower', 'pelvis', 'r_arm_upper', 'l_arm_upper', 'r_leg_upper', 'l_leg_upper', 'r_arm_lower', 'l_arm_lower', 'r_leg_lower', 'l_leg_lower', 'r_hand', 'l_hand', 'r_foot', 'l_foot'], ['head', 'head', 'head', 'torso', 'torso', 'torso', 'pelvis', 'arm', 'arm', 'leg', 'leg', 'arm', 'arm', 'leg', 'leg', 'hand', 'hand', 'foot', 'foot'], '');

-- The aggregate views, re-created to read the columns. Each keeps its definition (0002, 0003) with the
-- derived team sides and headshot/torso/limb tests replaced by the columns; the target tables and their data
-- are untouched. One difference, for values outside the vocabulary only: a hitloc that is none of the engine's
-- 19 body locations but matched the old limb pattern ('_(arm|leg)_|_(hand|foot)$', e.g. 'x_arm_y') no longer
-- counts as a limb kill.
--
-- A view is dropped and created again, and an event inserted between the two would be missed by it. This file
-- runs from scripts/migrate.sh, which runs only before ingestd's writer starts: scripts/stack.sh migrates
-- before it starts the daemons, and docker-compose's ingestd depends on the one-shot migrate service having
-- completed successfully. Upgrading a deployment that is running: stop ingestd first (`docker compose stop
-- ingestd`, or `scripts/stack.sh down`), then migrate, then start it; events wait in the Redis stream meanwhile,
-- and the writer inserts them afterwards, through the new views. scripts/migrate.sh checks each DROP: only
-- `DROP TABLE IF EXISTS <name>_mv` of a materialized view that writes TO a table of its own (so the view holds
-- no data).

DROP TABLE IF EXISTS player_daily_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS player_daily_mv TO player_daily AS
WITH
    actor_side AS at,
    target_side AS tt,
    replaceRegexpOne(lower(means_of_death), '^mod_', '') AS md,
    hit_class AS hc,
    lower(actor_stance) AS st,
    lower(item) AS it,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (role = 2 AND event_type = 'player_kill') AS death,
    (role = 1 AND event_type = 'distance') AS moved,
    (isNotNull(actor_x) AND isNotNull(actor_y) AND isNotNull(actor_z)
        AND isNotNull(target_x) AND isNotNull(target_y) AND isNotNull(target_z)) AS has_dist,
    ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2) + pow(actor_z - target_z, 2)), 0) AS dist,
    (role = 1 AND event_type IN ('item_pickup', 'health_pickup', 'ammo_pickup', 'armor_pickup')) AS pickup
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    toDate(received_at, 'UTC') AS day,
    server_id,
    count() AS events,
    sum(is_kill) AS kills,
    sum(death) AS deaths,
    sum(death AND (actor_guid = '' OR actor_guid = target_guid)) AS suicides,
    sum(role = 1 AND team_kill) AS teamkills,
    sum(role = 2 AND team_kill) AS teamkilled,
    sum(is_kill AND hc = 'head') AS headshots,
    sum(role = 1 AND event_type IN ('bot_killed', 'actor_killed')) AS bot_kills,
    sum(is_kill AND hc IN ('torso', 'pelvis')) AS torso_kills,
    sum(is_kill AND hc IN ('arm', 'hand', 'leg', 'foot')) AS limb_kills,
    sum(is_kill AND hc = 'pelvis') AS nutshots,
    sum(is_kill AND md = 'bash') AS bash_kills,
    sum(is_kill AND md = 'grenade') AS grenade_kills,
    sum(is_kill AND md IN ('vehicle', 'roadkill')) AS roadkills,
    sum(is_kill AND md = 'telefrag') AS telefrags,
    sum(death AND md IN ('crush', 'crush_every_frame')) AS crushed,
    sum(death AND md = 'falling') AS fall_deaths,
    sum(is_kill AND st IN ('stand', 'standing')) AS standing_kills,
    sum(is_kill AND st IN ('crouch', 'crouching')) AS crouch_kills,
    sum(is_kill AND st = 'prone') AS prone_kills,
    sumIf(dist, is_kill AND has_dist) AS kill_dist_sum,
    sum(is_kill AND has_dist) AS kill_dist_n,
    sum(role = 1 AND event_type = 'weapon_fire') AS shots_fired,
    sum(role = 1 AND event_type = 'weapon_hit') AS shots_hit,
    sumIf(ifNull(damage, 0), role = 1 AND event_type = 'damage' AND target_guid != actor_guid) AS damage_dealt,
    sumIf(ifNull(damage, 0), role = 2 AND event_type = 'damage') AS damage_taken,
    sum(role = 1 AND event_type IN ('reload', 'weapon_reload_done')) AS reloads,
    sum(role = 1 AND event_type = 'weapon_change') AS weapon_swaps,
    sum(role = 1 AND event_type = 'weapon_no_ammo') AS no_ammo,
    sum(pickup) AS items_picked,
    sum(pickup AND (event_type = 'health_pickup' OR (event_type = 'item_pickup' AND match(it, 'health|medkit|canteen')))) AS health_picked,
    sum(pickup AND (event_type = 'ammo_pickup' OR (event_type = 'item_pickup' AND match(it, 'ammo')))) AS ammo_picked,
    sum(pickup AND (event_type = 'armor_pickup' OR (event_type = 'item_pickup' AND match(it, 'armor|armour')))) AS armor_picked,
    sumIf(ifNull(distance, 0), moved) AS distance_units,
    sumIf(toFloat64OrZero(replaceRegexpAll(visitParamExtractRaw(raw, 'sprinted'), '[" ]', '')), moved) AS sprinted_units,
    sumIf(toFloat64OrZero(replaceRegexpAll(visitParamExtractRaw(raw, 'swam'), '[" ]', '')), moved) AS swam_units,
    sumIf(toFloat64OrZero(replaceRegexpAll(visitParamExtractRaw(raw, 'driven'), '[" ]', '')), moved) AS driven_units,
    sum(role = 1 AND event_type = 'jump') AS jumps,
    sum(role = 1 AND event_type = 'crouch') AS crouches,
    sum(role = 1 AND event_type = 'prone') AS prones,
    sum(role = 1 AND event_type = 'ladder_mount') AS ladders,
    sum(role = 1 AND event_type = 'objective_capture') AS objectives,
    sum(role = 1 AND event_type = 'chat') AS chat_messages,
    sum(role = 1 AND event_type = 'chat' AND replaceRegexpAll(visitParamExtractRaw(raw, 'is_team'), '[" ]', '') = '1') AS team_messages,
    sum(role = 1 AND event_type = 'player_spawn') AS spawns,
    sum(role = 1 AND event_type = 'grenade_throw') AS grenades_thrown,
    sum(role = 1 AND event_type = 'vehicle_enter') AS vehicle_enters,
    sum(role = 1 AND event_type = 'turret_enter') AS turret_enters,
    sum(role = 1 AND event_type = 'door_open') AS doors_opened,
    sum(role = 1 AND event_type = 'player_spectate') AS spectates
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
GROUP BY guid, day, server_id;

DROP TABLE IF EXISTS player_match_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS player_match_mv TO player_match AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    if(role = 1, actor_side, target_side) AS tm,
    actor_side AS at,
    target_side AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (role = 2 AND event_type = 'player_kill') AS death,
    if(role = 1, actor_name, target_name) AS nm
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    match_key,
    anyState(server_id) AS server_id,
    argMaxState(map_name, if(map_name != '', ts, toUInt64(0))) AS map,
    argMaxState(tm, if(tm != '', ts, toUInt64(0))) AS team,
    argMaxState(nm, if(nm != '', ts, toUInt64(0))) AS name,
    minState(ts) AS first_ms,
    maxState(ts) AS last_ms,
    sumState(toUInt64(is_kill)) AS kills,
    sumState(toUInt64(death)) AS deaths,
    sumState(toUInt64(death AND (actor_guid = '' OR actor_guid = target_guid))) AS suicides,
    sumState(toUInt64(role = 1 AND team_kill)) AS teamkills,
    sumState(toUInt64(is_kill AND hit_class = 'head')) AS headshots,
    minState(t) AS first_t,
    maxState(t) AS last_t
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
GROUP BY guid, match_key;

DROP TABLE IF EXISTS player_weapon_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS player_weapon_mv TO player_weapon AS
WITH
    actor_side AS at,
    target_side AS tt,
    hit_class AS hc,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (isNotNull(actor_x) AND isNotNull(actor_y) AND isNotNull(actor_z)
        AND isNotNull(target_x) AND isNotNull(target_y) AND isNotNull(target_z)) AS has_dist,
    ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2) + pow(actor_z - target_z, 2)), 0) AS dist
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    weapon,
    sum(is_kill) AS kills,
    sum(is_kill AND hc = 'head') AS headshots,
    sum(is_kill AND hc IN ('torso', 'pelvis')) AS torso_kills,
    sum(is_kill AND hc IN ('arm', 'hand', 'leg', 'foot')) AS limb_kills,
    sum(role = 2 AND event_type = 'player_kill') AS deaths,
    sum(role = 1 AND event_type = 'weapon_fire') AS shots_fired,
    sum(role = 1 AND event_type = 'weapon_hit') AS shots_hit,
    sumIf(ifNull(damage, 0), role = 1 AND event_type = 'damage' AND target_guid != actor_guid) AS damage_dealt,
    sumIf(dist, is_kill AND has_dist) AS kill_dist_sum,
    sum(is_kill AND has_dist) AS kill_dist_n
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
WHERE event_type IN ('player_kill', 'weapon_fire', 'weapon_hit', 'damage') AND weapon != ''
GROUP BY guid, weapon;

DROP TABLE IF EXISTS player_map_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS player_map_mv TO player_map AS
WITH
    actor_side AS at,
    target_side AS tt,
    (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (role = 2) AS death
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    map_name,
    sum(is_kill) AS kills,
    sum(death) AS deaths,
    sum(is_kill AND hit_class = 'head') AS headshots,
    sum(death AND (actor_guid = '' OR actor_guid = target_guid)) AS suicides,
    sum(role = 1 AND team_kill) AS teamkills
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
WHERE event_type = 'player_kill'
GROUP BY guid, map_name;

DROP TABLE IF EXISTS match_summary_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS match_summary_mv TO match_summary AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    actor_side AS at,
    target_side AS tt,
    if(team_side != '', team_side, lower(team)) AS win_team,
    (event_type IN ('match_end', 'team_win') AND team != '') AS is_result,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS team_kill,
    (pvp AND NOT team_kill) AS is_kill,
    (event_type = 'player_kill' AND target_guid != '') AS death
SELECT
    match_key,
    anyState(server_id) AS server_id,
    anyState(session_id) AS session_id,
    argMaxState(map_name, if(map_name != '', ts, toUInt64(0))) AS map,
    argMaxState(gametype, if(gametype != '', ts, toUInt64(0))) AS gt,
    argMaxState(if(is_result, win_team, ''), if(is_result, ts, toUInt64(0))) AS winner,
    argMaxState(ifNull(allies_score, toInt32(0)), if(isNotNull(allies_score), ts, toUInt64(0))) AS allies_score,
    argMaxState(ifNull(axis_score, toInt32(0)), if(isNotNull(axis_score), ts, toUInt64(0))) AS axis_score,
    minState(ts) AS first_ms,
    maxState(ts) AS last_ms,
    countState() AS events,
    sumState(toUInt64(is_kill)) AS kills,
    sumState(toUInt64(death)) AS deaths,
    sumState(toUInt64(is_kill AND hit_class = 'head')) AS headshots,
    sumState(toUInt64(team_kill)) AS teamkills,
    sumState(toUInt64(death AND (actor_guid = '' OR actor_guid = target_guid))) AS suicides,
    sumState(toUInt64(event_type = 'match_end')) AS ends,
    sumState(toUInt64(event_type = 'round_end')) AS rounds,
    maxState(toUInt32(greatest(ifNull(player_count, 0),
        toInt64OrZero(replaceRegexpAll(visitParamExtractRaw(raw, 'maxclients'), '[" ]', ''))))) AS max_players,
    uniqExactArrayState(arrayFilter(g -> g != '', [actor_guid, target_guid])) AS players,
    minState(t) AS first_t,
    maxState(t) AS last_t
FROM raw_events
GROUP BY match_key;

DROP TABLE IF EXISTS heat_cells_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS heat_cells_mv TO heat_cells AS
WITH
    actor_side AS at,
    target_side AS tt,
    (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid
        AND NOT (at != '' AND at = tt)) AS is_kill
SELECT
    map_name,
    if(role = 1, 'kill', 'death') AS kind,
    if(role = 1, actor_guid, target_guid) AS guid,
    toInt32(floor(ifNull(if(role = 1, actor_x, target_x), 0) / 64)) AS cx,
    toInt32(floor(ifNull(if(role = 1, actor_y, target_y), 0) / 64)) AS cy,
    count() AS n
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND is_kill AND isNotNull(actor_x) AND isNotNull(actor_y))
                         OR (r = 2 AND target_guid != '' AND isNotNull(target_x) AND isNotNull(target_y)), [1, 2]) AS role
WHERE event_type = 'player_kill'
GROUP BY map_name, kind, guid, cx, cy;

DROP TABLE IF EXISTS heat_match_cells_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS heat_match_cells_mv TO heat_match_cells AS
WITH
    actor_side AS at,
    target_side AS tt,
    (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid
        AND NOT (at != '' AND at = tt)) AS is_kill
SELECT
    match_key,
    if(role = 1, 'kill', 'death') AS kind,
    toInt32(floor(ifNull(if(role = 1, actor_x, target_x), 0) / 64)) AS cx,
    toInt32(floor(ifNull(if(role = 1, actor_y, target_y), 0) / 64)) AS cy,
    count() AS n
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND is_kill AND isNotNull(actor_x) AND isNotNull(actor_y))
                         OR (r = 2 AND target_guid != '' AND isNotNull(target_x) AND isNotNull(target_y)), [1, 2]) AS role
WHERE event_type = 'player_kill'
GROUP BY match_key, kind, cx, cy;

DROP TABLE IF EXISTS server_hourly_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS server_hourly_mv TO server_hourly AS
WITH
    actor_side AS at,
    target_side AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND NOT (at != '' AND at = tt)) AS is_kill
SELECT
    server_id,
    toStartOfHour(received_at, 'UTC') AS hour,
    countState() AS events,
    sumState(toUInt64(is_kill)) AS kills,
    sumState(toUInt64(event_type = 'player_kill' AND target_guid != '')) AS deaths,
    sumState(toUInt64(is_kill AND hit_class = 'head')) AS headshots,
    sumState(toUInt64(event_type = 'match_start')) AS match_starts,
    uniqExactArrayState(arrayFilter(g -> g != '', [actor_guid, target_guid])) AS players,
    uniqExactState(match_key) AS matches
FROM raw_events
GROUP BY server_id, hour;

DROP TABLE IF EXISTS weapon_daily_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS weapon_daily_mv TO weapon_daily AS
WITH
    actor_side AS at,
    target_side AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid
        AND NOT (at != '' AND at = tt)) AS is_kill,
    (isNotNull(actor_x) AND isNotNull(actor_y) AND isNotNull(actor_z)
        AND isNotNull(target_x) AND isNotNull(target_y) AND isNotNull(target_z)) AS has_dist,
    ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2) + pow(actor_z - target_z, 2)), 0) AS dist
SELECT
    weapon,
    toDate(received_at, 'UTC') AS day,
    server_id,
    sum(is_kill) AS kills,
    sum(is_kill AND hit_class = 'head') AS headshots,
    sum(event_type = 'weapon_fire' AND actor_guid != '') AS shots_fired,
    sum(event_type = 'weapon_hit' AND actor_guid != '') AS shots_hit,
    sumIf(ifNull(damage, 0), event_type = 'damage' AND actor_guid != '' AND target_guid != actor_guid) AS damage_dealt,
    sumIf(dist, is_kill AND has_dist) AS kill_dist_sum,
    sum(is_kill AND has_dist) AS kill_dist_n
FROM raw_events
WHERE event_type IN ('player_kill', 'weapon_fire', 'weapon_hit', 'damage') AND weapon != ''
GROUP BY weapon, day, server_id;

DROP TABLE IF EXISTS player_fights_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS player_fights_mv TO player_fights AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    actor_side AS at,
    target_side AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS tk,
    (isNotNull(actor_x) AND isNotNull(actor_y) AND isNotNull(actor_z)
        AND isNotNull(target_x) AND isNotNull(target_y) AND isNotNull(target_z)) AS has_dist
SELECT
    if(side = 1, actor_guid, target_guid) AS guid,
    ts AS ts_ms,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    side AS role,
    toUInt8(multiIf(side = 2, 2, event_type != 'player_kill', 4, tk, 3, 1)) AS kind,
    match_key,
    server_id,
    map_name,
    if(side = 1, target_guid, actor_guid) AS other_guid,
    if(side = 1, target_name, actor_name) AS other_name,
    weapon,
    replaceRegexpOne(lower(means_of_death), '^mod_', '') AS mod,
    lower(hitloc) AS hitloc,
    hit_class,
    lower(if(side = 1, actor_stance, target_stance)) AS stance,
    toFloat32(if(has_dist, ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2)
        + pow(actor_z - target_z, 2)), -1), -1)) AS dist,
    toUInt8(side = 1 AND pvp AND NOT tk AND hit_class = 'head') AS headshot,
    toUInt8(tk) AS team_kill
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '' AND actor_guid != target_guid)
                         OR (r = 2 AND target_guid != '' AND event_type = 'player_kill'), [1, 2]) AS side
WHERE event_type IN ('player_kill', 'bot_killed', 'actor_killed');

DROP TABLE IF EXISTS match_players_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS match_players_mv TO match_players AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    if(role = 1, actor_side, target_side) AS tm,
    actor_side AS at,
    target_side AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at != '' AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (role = 2 AND event_type = 'player_kill') AS death,
    if(role = 1, actor_name, target_name) AS nm
SELECT
    match_key,
    if(role = 1, actor_guid, target_guid) AS guid,
    anyState(server_id) AS server_id,
    argMaxState(map_name, if(map_name != '', ts, toUInt64(0))) AS map,
    argMaxState(tm, if(tm != '', ts, toUInt64(0))) AS team,
    argMaxState(nm, if(nm != '', ts, toUInt64(0))) AS name,
    minState(ts) AS first_ms,
    maxState(ts) AS last_ms,
    sumState(toUInt64(is_kill)) AS kills,
    sumState(toUInt64(death)) AS deaths,
    sumState(toUInt64(death AND (actor_guid = '' OR actor_guid = target_guid))) AS suicides,
    sumState(toUInt64(role = 1 AND team_kill)) AS teamkills,
    sumState(toUInt64(is_kill AND hit_class = 'head')) AS headshots,
    minState(t) AS first_t,
    maxState(t) AS last_t
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
GROUP BY match_key, guid;
