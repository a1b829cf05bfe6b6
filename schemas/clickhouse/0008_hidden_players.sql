-- Players hidden from the public lists (mohstats-admin hide / unhide, docs/operations.md): leaderboards, a weapon's,
-- map's or server's top players, the player search, the counts of players. Their pages and matches stay. queryd
-- leaves out every GUID whose latest row (highest version: argMax) says hidden = 1 (queryd/stats.h,
-- NOT_UNAUTH_SQL: the one place that filters). version is mohstats-admin's clock in milliseconds, so an unhide
-- right after a hide is the latest.
CREATE TABLE IF NOT EXISTS hidden_players
(
    guid String,
    hidden UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY guid
SETTINGS index_granularity = 256;

-- What stands in for erased players in the events they shared (admin/erase.c) is nobody: never listed. Version 0,
-- so a second run inserts an equal row (the same answer), and any hide or unhide of it comes after.
INSERT INTO hidden_players (guid, hidden, version) VALUES ('~erased', 1, 0);
