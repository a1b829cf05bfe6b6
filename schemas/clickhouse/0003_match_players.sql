-- The players of each match, ordered by match: scoreboards, the top killer of a match (free-for-all wins),
-- game-type leaderboards. Same columns and definitions as player_match (0002), which is ordered by player.
CREATE TABLE IF NOT EXISTS match_players
(
    match_key String,
    guid String,
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
ORDER BY (match_key, guid)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS match_players_mv TO match_players AS
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
    match_key,
    if(role = 1, actor_guid, target_guid) AS guid,
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
GROUP BY match_key, guid;
