-- Aggregates maintained at insert time: materialized views on raw_events, each writing into its own table.
-- queryd reads these (and raw_events only with a key bound), never scans raw_events per request.
-- The definitions they implement are docs/definitions.md; keep both in step.
--
-- Runs on ClickHouse 18.16 and current releases. Rules that follow from 18.16:
--   * Summing tables (SummingMergeTree) hold plain counters; anything else (min/max/argMax/uniq) is an
--     AggregatingMergeTree column written with *State and read with *Merge. Queries always GROUP BY and
--     sum/merge, so results never depend on background merges having happened.
--   * A view's derived values are WITH expressions (18.16 does not resolve aliases of subqueries in views).
--   * sumState of a UInt8 has a UInt8 state type: counters are cast to UInt64 before *State.
--   * argMax "latest non-empty value": argMax(value, if(value != '', ts, 0)), so an empty value never wins
--     over a real one, whatever the order of the insert blocks.
--   * Days and hours are UTC.
--   * Tables read by one key (a player, a match, a map) have index_granularity 256 instead of 8192: a
--     player's rows are a few hundred, and with wide rows of counters a coarse index makes every lookup
--     decompress tens of megabytes it then throws away.
--   * Fields kept only in raw (the tracker's JSON) are read with visitParamExtractRaw, which keeps the
--     whitespace after the colon and the quotes of string values: both are stripped before converting.
-- The views see only rows inserted after they exist; to fill them from older raw_events, run each view's
-- SELECT as INSERT INTO <table> SELECT ... FROM raw_events WHERE <time range> once.
--
-- Player roles: a player_kill row describes two players. Views that count per player ARRAY JOIN the roles
-- present (1 = actor/attacker, 2 = target/victim), so every counter below is counted for the right one.

-- Per player, UTC day and server: every counter of the leaderboards and profiles.
CREATE TABLE IF NOT EXISTS player_daily
(
    guid String,
    day Date,
    server_id String,
    events UInt64,
    kills UInt64,
    deaths UInt64,
    suicides UInt64,
    teamkills UInt64,
    teamkilled UInt64,
    headshots UInt64,
    bot_kills UInt64,
    torso_kills UInt64,
    limb_kills UInt64,
    nutshots UInt64,
    bash_kills UInt64,
    grenade_kills UInt64,
    roadkills UInt64,
    telefrags UInt64,
    crushed UInt64,
    fall_deaths UInt64,
    standing_kills UInt64,
    crouch_kills UInt64,
    prone_kills UInt64,
    kill_dist_sum Float64,
    kill_dist_n UInt64,
    shots_fired UInt64,
    shots_hit UInt64,
    damage_dealt Float64,
    damage_taken Float64,
    reloads UInt64,
    weapon_swaps UInt64,
    no_ammo UInt64,
    items_picked UInt64,
    health_picked UInt64,
    ammo_picked UInt64,
    armor_picked UInt64,
    distance_units Float64,
    sprinted_units Float64,
    swam_units Float64,
    driven_units Float64,
    jumps UInt64,
    crouches UInt64,
    prones UInt64,
    ladders UInt64,
    objectives UInt64,
    chat_messages UInt64,
    team_messages UInt64,
    spawns UInt64,
    grenades_thrown UInt64,
    vehicle_enters UInt64,
    turret_enters UInt64,
    doors_opened UInt64,
    spectates UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (guid, day, server_id)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_daily_mv TO player_daily AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    replaceRegexpOne(lower(means_of_death), '^mod_', '') AS md,
    lower(hitloc) AS hl,
    lower(actor_stance) AS st,
    lower(item) AS it,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at IN ('allies', 'axis') AND at = tt) AS team_kill,
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
    sum(is_kill AND hl IN ('head', 'helmet', 'neck')) AS headshots,
    sum(role = 1 AND event_type IN ('bot_killed', 'actor_killed')) AS bot_kills,
    sum(is_kill AND hl IN ('torso_upper', 'torso_mid', 'torso_lower', 'pelvis')) AS torso_kills,
    sum(is_kill AND match(hl, '_(arm|leg)_|_(hand|foot)$')) AS limb_kills,
    sum(is_kill AND hl = 'pelvis') AS nutshots,
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

-- Per player and match: when they played it, on which team, and their kill counts in it (matches played,
-- playtime, wins and losses, recent matches, per-map and per-game-type breakdowns). first_ms/last_ms are
-- receive times (when), first_t/last_t the event order time t (how long: the tracker's game time when sent,
-- exact to the frame; batching makes receive times coarse).
CREATE TABLE IF NOT EXISTS player_match
(
    guid String,
    match_key String,
    server_id AggregateFunction(any, String),
    map AggregateFunction(argMax, String, UInt64),
    team AggregateFunction(argMax, String, UInt64),
    name AggregateFunction(argMax, String, UInt64),
    first_ms AggregateFunction(min, UInt64),
    last_ms AggregateFunction(max, UInt64),
    kills AggregateFunction(sum, UInt64),
    deaths AggregateFunction(sum, UInt64),
    suicides AggregateFunction(sum, UInt64),
    teamkills AggregateFunction(sum, UInt64),
    headshots AggregateFunction(sum, UInt64),
    first_t AggregateFunction(min, Float64),
    last_t AggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
ORDER BY (guid, match_key)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_match_mv TO player_match AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    if(role = 1, actor_team, target_team) AS raw_team,
    transform(lower(raw_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(raw_team)) AS tm,
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at IN ('allies', 'axis') AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (role = 2 AND event_type = 'player_kill') AS death,
    if(role = 1, actor_name, target_name) AS nm
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    match_key,
    anyState(server_id) AS server_id,
    argMaxState(map_name, if(map_name != '', ts, toUInt64(0))) AS map,
    argMaxState(if(tm IN ('allies', 'axis'), tm, ''), if(tm IN ('allies', 'axis'), ts, toUInt64(0))) AS team,
    argMaxState(nm, if(nm != '', ts, toUInt64(0))) AS name,
    minState(ts) AS first_ms,
    maxState(ts) AS last_ms,
    sumState(toUInt64(is_kill)) AS kills,
    sumState(toUInt64(death)) AS deaths,
    sumState(toUInt64(death AND (actor_guid = '' OR actor_guid = target_guid))) AS suicides,
    sumState(toUInt64(role = 1 AND team_kill)) AS teamkills,
    sumState(toUInt64(is_kill AND lower(hitloc) IN ('head', 'helmet', 'neck'))) AS headshots,
    minState(t) AS first_t,
    maxState(t) AS last_t
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
GROUP BY guid, match_key;

-- Per player and weapon: the weapon pages, a player's weapons, weapon leaderboards. Deaths are counted
-- for the victim under the weapon that killed them.
CREATE TABLE IF NOT EXISTS player_weapon
(
    guid String,
    weapon String,
    kills UInt64,
    headshots UInt64,
    torso_kills UInt64,
    limb_kills UInt64,
    deaths UInt64,
    shots_fired UInt64,
    shots_hit UInt64,
    damage_dealt Float64,
    kill_dist_sum Float64,
    kill_dist_n UInt64
)
ENGINE = SummingMergeTree
ORDER BY (guid, weapon)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_weapon_mv TO player_weapon AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    lower(hitloc) AS hl,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at IN ('allies', 'axis') AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (isNotNull(actor_x) AND isNotNull(actor_y) AND isNotNull(actor_z)
        AND isNotNull(target_x) AND isNotNull(target_y) AND isNotNull(target_z)) AS has_dist,
    ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2) + pow(actor_z - target_z, 2)), 0) AS dist
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    weapon,
    sum(is_kill) AS kills,
    sum(is_kill AND hl IN ('head', 'helmet', 'neck')) AS headshots,
    sum(is_kill AND hl IN ('torso_upper', 'torso_mid', 'torso_lower', 'pelvis')) AS torso_kills,
    sum(is_kill AND match(hl, '_(arm|leg)_|_(hand|foot)$')) AS limb_kills,
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

-- Per player and map: a player's maps and the map leaderboards.
CREATE TABLE IF NOT EXISTS player_map
(
    guid String,
    map_name String,
    kills UInt64,
    deaths UInt64,
    headshots UInt64,
    suicides UInt64,
    teamkills UInt64
)
ENGINE = SummingMergeTree
ORDER BY (guid, map_name)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_map_mv TO player_map AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at IN ('allies', 'axis') AND at = tt) AS team_kill,
    (role = 1 AND pvp AND NOT team_kill) AS is_kill,
    (role = 2) AS death
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    map_name,
    sum(is_kill) AS kills,
    sum(death) AS deaths,
    sum(is_kill AND lower(hitloc) IN ('head', 'helmet', 'neck')) AS headshots,
    sum(death AND (actor_guid = '' OR actor_guid = target_guid)) AS suicides,
    sum(role = 1 AND team_kill) AS teamkills
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
WHERE event_type = 'player_kill'
GROUP BY guid, map_name;

-- Per match: the match lists, map and game-type totals, winners.
CREATE TABLE IF NOT EXISTS match_summary
(
    match_key String,
    server_id AggregateFunction(any, String),
    session_id AggregateFunction(any, String),
    map AggregateFunction(argMax, String, UInt64),
    gt AggregateFunction(argMax, String, UInt64),
    winner AggregateFunction(argMax, String, UInt64),
    allies_score AggregateFunction(argMax, Int32, UInt64),
    axis_score AggregateFunction(argMax, Int32, UInt64),
    first_ms AggregateFunction(min, UInt64),
    last_ms AggregateFunction(max, UInt64),
    events AggregateFunction(count),
    kills AggregateFunction(sum, UInt64),
    deaths AggregateFunction(sum, UInt64),
    headshots AggregateFunction(sum, UInt64),
    teamkills AggregateFunction(sum, UInt64),
    suicides AggregateFunction(sum, UInt64),
    ends AggregateFunction(sum, UInt64),
    rounds AggregateFunction(sum, UInt64),
    max_players AggregateFunction(max, UInt32),
    players AggregateFunction(uniqExactArray, Array(String)),
    first_t AggregateFunction(min, Float64),
    last_t AggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
ORDER BY match_key
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS match_summary_mv TO match_summary AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    transform(lower(team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(team)) AS win_team,
    (event_type IN ('match_end', 'team_win') AND team != '') AS is_result,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at IN ('allies', 'axis') AND at = tt) AS team_kill,
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
    sumState(toUInt64(is_kill AND lower(hitloc) IN ('head', 'helmet', 'neck'))) AS headshots,
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

-- Heat-map cells (64 x 64 game units): kills at the killer's position, deaths at the victim's; per map and
-- player (map and player heat maps), and per match.
CREATE TABLE IF NOT EXISTS heat_cells
(
    map_name String,
    kind String,
    guid String,
    cx Int32,
    cy Int32,
    n UInt64
)
ENGINE = SummingMergeTree
ORDER BY (map_name, kind, guid, cx, cy)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS heat_match_cells
(
    match_key String,
    kind String,
    cx Int32,
    cy Int32,
    n UInt64
)
ENGINE = SummingMergeTree
ORDER BY (match_key, kind, cx, cy)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS heat_cells_mv TO heat_cells AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid
        AND NOT (at IN ('allies', 'axis') AND at = tt)) AS is_kill
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

CREATE MATERIALIZED VIEW IF NOT EXISTS heat_match_cells_mv TO heat_match_cells AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid
        AND NOT (at IN ('allies', 'axis') AND at = tt)) AS is_kill
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

-- Per server and UTC hour: server pages, rankings, peak hours, activity, global totals.
CREATE TABLE IF NOT EXISTS server_hourly
(
    server_id String,
    hour DateTime,
    events AggregateFunction(count),
    kills AggregateFunction(sum, UInt64),
    deaths AggregateFunction(sum, UInt64),
    headshots AggregateFunction(sum, UInt64),
    match_starts AggregateFunction(sum, UInt64),
    players AggregateFunction(uniqExactArray, Array(String)),
    matches AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (server_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS server_hourly_mv TO server_hourly AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND NOT (at IN ('allies', 'axis') AND at = tt)) AS is_kill
SELECT
    server_id,
    toStartOfHour(received_at, 'UTC') AS hour,
    countState() AS events,
    sumState(toUInt64(is_kill)) AS kills,
    sumState(toUInt64(event_type = 'player_kill' AND target_guid != '')) AS deaths,
    sumState(toUInt64(is_kill AND lower(hitloc) IN ('head', 'helmet', 'neck'))) AS headshots,
    sumState(toUInt64(event_type = 'match_start')) AS match_starts,
    uniqExactArrayState(arrayFilter(g -> g != '', [actor_guid, target_guid])) AS players,
    uniqExactState(match_key) AS matches
FROM raw_events
GROUP BY server_id, hour;

-- Per weapon, UTC day and server: the weapon list and detail, a server's weapons.
CREATE TABLE IF NOT EXISTS weapon_daily
(
    weapon String,
    day Date,
    server_id String,
    kills UInt64,
    headshots UInt64,
    shots_fired UInt64,
    shots_hit UInt64,
    damage_dealt Float64,
    kill_dist_sum Float64,
    kill_dist_n UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (weapon, day, server_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS weapon_daily_mv TO weapon_daily AS
WITH
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid
        AND NOT (at IN ('allies', 'axis') AND at = tt)) AS is_kill,
    (isNotNull(actor_x) AND isNotNull(actor_y) AND isNotNull(actor_z)
        AND isNotNull(target_x) AND isNotNull(target_y) AND isNotNull(target_z)) AS has_dist,
    ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2) + pow(actor_z - target_z, 2)), 0) AS dist
SELECT
    weapon,
    toDate(received_at, 'UTC') AS day,
    server_id,
    sum(is_kill) AS kills,
    sum(is_kill AND lower(hitloc) IN ('head', 'helmet', 'neck')) AS headshots,
    sum(event_type = 'weapon_fire' AND actor_guid != '') AS shots_fired,
    sum(event_type = 'weapon_hit' AND actor_guid != '') AS shots_hit,
    sumIf(ifNull(damage, 0), event_type = 'damage' AND actor_guid != '' AND target_guid != actor_guid) AS damage_dealt,
    sumIf(dist, is_kill AND has_dist) AS kill_dist_sum,
    sum(is_kill AND has_dist) AS kill_dist_n
FROM raw_events
WHERE event_type IN ('player_kill', 'weapon_fire', 'weapon_hit', 'damage') AND weapon != ''
GROUP BY weapon, day, server_id;

-- Every kill, twice: once in the killer's log and once in the victim's, ordered by player and time. The
-- per-player analyses that need order or pairs (streaks, multi-kills, rivals, combos, hourly form) read
-- one player's rows by key instead of scanning raw_events.
CREATE TABLE IF NOT EXISTS player_fights
(
    guid String,
    ts_ms UInt64,
    t Float64,
    role UInt8,
    kind UInt8,
    match_key String,
    server_id String,
    map_name String,
    other_guid String,
    other_name String,
    weapon String,
    mod String,
    hitloc String,
    stance String,
    dist Float32,
    headshot UInt8,
    team_kill UInt8
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_ms, 1000)))
ORDER BY (guid, ts_ms)
SETTINGS index_granularity = 256;

-- kind: 1 = kill, 2 = death (any), 3 = team kill (the killer's row), 4 = bot kill (the killer's row).
-- A suicide is the victim's row (kind 2) with other_guid '' or equal to guid; team_kill marks both rows of a
-- team kill. dist is the kill distance in game units, -1 when a position is missing. t orders events inside a match:
-- the tracker's game time (seconds since the map started) when sent, else the receive time in seconds.
CREATE MATERIALIZED VIEW IF NOT EXISTS player_fights_mv TO player_fights AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    transform(lower(actor_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(actor_team)) AS at,
    transform(lower(target_team), ['american', 'allies', 'allied', 'german', 'axis'],
              ['allies', 'allies', 'allies', 'axis', 'axis'], lower(target_team)) AS tt,
    (event_type = 'player_kill' AND actor_guid != '' AND target_guid != '' AND actor_guid != target_guid) AS pvp,
    (pvp AND at IN ('allies', 'axis') AND at = tt) AS tk,
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
    lower(if(side = 1, actor_stance, target_stance)) AS stance,
    toFloat32(if(has_dist, ifNull(sqrt(pow(actor_x - target_x, 2) + pow(actor_y - target_y, 2)
        + pow(actor_z - target_z, 2)), -1), -1)) AS dist,
    toUInt8(side = 1 AND pvp AND NOT tk AND lower(hitloc) IN ('head', 'helmet', 'neck')) AS headshot,
    toUInt8(tk) AS team_kill
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '' AND actor_guid != target_guid)
                         OR (r = 2 AND target_guid != '' AND event_type = 'player_kill'), [1, 2]) AS side
WHERE event_type IN ('player_kill', 'bot_killed', 'actor_killed');

-- Names by GUID: the latest name of a GUID (argMax over last_ms), and the GUIDs that used a name.
CREATE TABLE IF NOT EXISTS player_names
(
    guid String,
    name String,
    last_ms UInt64,
    smf_id UInt64
)
ENGINE = ReplacingMergeTree(last_ms)
ORDER BY (guid, name)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS player_names_mv TO player_names AS
SELECT
    if(role = 1, actor_guid, target_guid) AS guid,
    if(role = 1, actor_name, target_name) AS name,
    max(toUInt64(received_at) * 1000 + received_ms) AS last_ms,
    max(if(role = 1, actor_smf_id, target_smf_id)) AS smf_id
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '' AND actor_name != '')
                         OR (r = 2 AND target_guid != '' AND target_name != ''), [1, 2]) AS role
GROUP BY guid, name;
