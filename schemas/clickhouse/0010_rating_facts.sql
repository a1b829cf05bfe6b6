-- The facts ratingd rates a match by (ratingd/facts.c, docs/ratings.md), kept per match and per (match, player) at
-- insert time (issue 21 item 5): reading them from raw_events aggregated every event of a match again, 98% of a
-- recomputation's time at 2,100 events a match. match_summary and match_players (0002, 0003) are close but not the
-- same facts: their latest map, team and winner are by receive time, the rating's by game time (then receive time,
-- then event id: ties never depend on the order ClickHouse reads its parts in), and they have neither a player's
-- first side nor a match's start and end times. Every expression below is facts.c's raw_events query's, so that the
-- two give the same bytes: facts.c reads these tables for a match whose events all fall within its window (first_ms
-- and last_ms, the match's first and last receive time, tell) and raw_events for any other.
-- The kill rule is ENEMY_KILL_SQL of common/game_vocab.h verbatim (tests/unit/test_match_rating.c checks); sides are
-- raw_events' normalised columns (0005). Runs on ClickHouse 18.16 and current releases.
--
-- The events already stored are added by the INSERTs at the end, each for the keys not yet in its table: a run that
-- stopped half-way adds the rest when run again (a row of a GROUP BY holds all of its key's events, so a key is in
-- a table whole or not at all). As for 0005, migrations run before ingestd's writer starts (scripts/migrate.sh):
-- an event inserted between the view's creation and the INSERT would make its match look present and skip the rest.

CREATE TABLE IF NOT EXISTS rating_match_facts
(
    match_key String,
    gametype AggregateFunction(argMax, String, Tuple(UInt8, Float64, UInt64, String)),
    map AggregateFunction(argMax, String, Tuple(UInt8, Float64, UInt64, String)),
    starts AggregateFunction(sum, UInt64),
    start_at AggregateFunction(minIf, Float64, UInt8),
    first_t AggregateFunction(min, Float64),
    ends AggregateFunction(sum, UInt64),
    end_at AggregateFunction(minIf, Float64, UInt8),
    last_t AggregateFunction(max, Float64),
    winner AggregateFunction(argMax, String, Tuple(UInt8, Float64, UInt64, String)),
    first_ms AggregateFunction(min, UInt64),
    last_ms AggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY match_key
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS rating_player_facts
(
    match_key String,
    guid String,
    last_side AggregateFunction(argMax, String, Tuple(UInt8, Float64, UInt64, String)),
    first_side AggregateFunction(argMin, String, Tuple(UInt8, Float64, UInt64, String)),
    first_t AggregateFunction(min, Float64),
    last_t AggregateFunction(max, Float64),
    kills AggregateFunction(sum, UInt64),
    suicides AggregateFunction(sum, UInt64),
    deaths AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (match_key, guid)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS rating_match_facts_mv TO rating_match_facts AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    toString(event_id) AS id,
    if(event_type IN ('match_end', 'team_win'), team_side, '') AS win
SELECT
    match_key,
    argMaxState(gametype, tuple(gametype != '', t, ts, id)) AS gametype,
    argMaxState(map_name, tuple(map_name != '', t, ts, id)) AS map,
    sumState(toUInt64(event_type = 'match_start')) AS starts,
    minIfState(t, event_type = 'match_start') AS start_at,
    minState(t) AS first_t,
    sumState(toUInt64(event_type = 'match_end')) AS ends,
    minIfState(t, event_type = 'match_end') AS end_at,
    maxState(t) AS last_t,
    argMaxState(win, tuple(win != '', t, ts, id)) AS winner,
    minState(ts) AS first_ms,
    maxState(ts) AS last_ms
FROM raw_events
GROUP BY match_key;

CREATE MATERIALIZED VIEW IF NOT EXISTS rating_player_facts_mv TO rating_player_facts AS
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    toString(event_id) AS id,
    if(role = 1, actor_side, target_side) AS side,
    (event_type = 'player_kill') AS kill_event
SELECT
    match_key,
    if(role = 1, actor_guid, target_guid) AS guid,
    argMaxState(side, tuple(side != '', t, ts, id)) AS last_side,
    argMinState(side, tuple(side = '', t, ts, id)) AS first_side,
    minState(t) AS first_t,
    maxState(t) AS last_t,
    sumState(toUInt64(role = 1 AND kill_event AND (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid AND NOT (actor_side != '' AND actor_side = target_side)))) AS kills,
    sumState(toUInt64(role = 2 AND kill_event AND (actor_guid = '' OR actor_guid = target_guid))) AS suicides,
    sumState(toUInt64(role = 2 AND kill_event)) AS deaths
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
GROUP BY match_key, guid;

INSERT INTO rating_match_facts
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    toString(event_id) AS id,
    if(event_type IN ('match_end', 'team_win'), team_side, '') AS win
SELECT
    match_key,
    argMaxState(gametype, tuple(gametype != '', t, ts, id)) AS gametype,
    argMaxState(map_name, tuple(map_name != '', t, ts, id)) AS map,
    sumState(toUInt64(event_type = 'match_start')) AS starts,
    minIfState(t, event_type = 'match_start') AS start_at,
    minState(t) AS first_t,
    sumState(toUInt64(event_type = 'match_end')) AS ends,
    minIfState(t, event_type = 'match_end') AS end_at,
    maxState(t) AS last_t,
    argMaxState(win, tuple(win != '', t, ts, id)) AS winner,
    minState(ts) AS first_ms,
    maxState(ts) AS last_ms
FROM raw_events
WHERE match_key NOT IN (SELECT match_key FROM rating_match_facts)
GROUP BY match_key;

INSERT INTO rating_player_facts
WITH
    toUInt64(received_at) * 1000 + received_ms AS ts,
    ifNull(game_time, toFloat64(ts) / 1000) AS t,
    toString(event_id) AS id,
    if(role = 1, actor_side, target_side) AS side,
    (event_type = 'player_kill') AS kill_event
SELECT
    match_key,
    if(role = 1, actor_guid, target_guid) AS guid,
    argMaxState(side, tuple(side != '', t, ts, id)) AS last_side,
    argMinState(side, tuple(side = '', t, ts, id)) AS first_side,
    minState(t) AS first_t,
    maxState(t) AS last_t,
    sumState(toUInt64(role = 1 AND kill_event AND (actor_guid != '' AND target_guid != '' AND actor_guid != target_guid AND NOT (actor_side != '' AND actor_side = target_side)))) AS kills,
    sumState(toUInt64(role = 2 AND kill_event AND (actor_guid = '' OR actor_guid = target_guid))) AS suicides,
    sumState(toUInt64(role = 2 AND kill_event)) AS deaths
FROM raw_events
ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role
WHERE (match_key, if(role = 1, actor_guid, target_guid)) NOT IN (SELECT match_key, guid FROM rating_player_facts)
GROUP BY match_key, guid;
