-- One row per accepted game event. Written only by ingestd's stream writer.
-- Runs on ClickHouse 18.16 (Debian 12) and current releases: no LowCardinality, DateTime64, TTL or CODEC.
--
-- Identity: event_id is unique per event; batch_id is shared by the events of one accepted HTTP batch
-- and is how the writer makes retries idempotent (it checks which batches already landed).
-- Time: received_at + received_ms is the server's receive time (ms precision); game_time is the
-- tracker's `timestamp` as sent (seconds since the map started), NULL when absent or not finite.
-- Numbers sent as nan/inf are stored as NULL. raw holds the original event object byte for byte.
CREATE TABLE IF NOT EXISTS raw_events
(
    event_id UUID,
    batch_id UUID,
    server_id String,
    received_at DateTime,
    received_ms UInt16,
    game_time Nullable(Float64),
    session_id String,
    match_key String,
    map_name String,
    event_type String,
    type_sent String,
    known_type UInt8,

    actor_guid String,
    actor_name String,
    actor_team String,
    actor_smf_id UInt64,
    actor_x Nullable(Float32),
    actor_y Nullable(Float32),
    actor_z Nullable(Float32),
    actor_pitch Nullable(Float32),
    actor_yaw Nullable(Float32),
    actor_stance String,

    target_guid String,
    target_name String,
    target_team String,
    target_smf_id UInt64,
    target_x Nullable(Float32),
    target_y Nullable(Float32),
    target_z Nullable(Float32),
    target_pitch Nullable(Float32),
    target_yaw Nullable(Float32),
    target_stance String,

    weapon String,
    old_weapon String,
    means_of_death String,
    hitloc String,
    damage Nullable(Float32),
    distance Nullable(Float64),
    total_distance Nullable(Float64),
    amount Nullable(Float64),
    message String,
    item String,
    team String,
    gametype String,
    round_number Nullable(Int32),
    allies_score Nullable(Int32),
    axis_score Nullable(Int32),
    player_count Nullable(Int32),
    unknown_fields String,
    raw String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (event_type, server_id, match_key, received_at, event_id)
SETTINGS index_granularity = 8192;
