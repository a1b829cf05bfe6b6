-- Names the operator pinned (mohstats-admin rename, docs/operations.md): the name served for a GUID everywhere
-- queryd names players (SERVED_NAME_SQL in queryd/stats.h), instead of the name of its latest event. A row per
-- change, the latest per GUID counting (argMax over at_ms, mohstats-admin's clock in milliseconds): pinned = 1 holds
-- the name, pinned = 0 (rename --clear) gives the GUID back its events' name. In ClickHouse, beside player_names,
-- so the queries that name players read it in the same statement (no second store to ask). Erase deletes a GUID's
-- rows as it does from every table with a guid column; backups copy it with every table.
CREATE TABLE IF NOT EXISTS player_name_pins
(
    guid String,
    name String,
    pinned UInt8,
    at_ms UInt64
)
ENGINE = ReplacingMergeTree(at_ms)
ORDER BY guid
SETTINGS index_granularity = 256;
