-- A match's rating rows by match (issue 21, docs/ratings.md): rating_changes is ordered by guid (a player's history
-- is one range), so reading one match's rows (/stats/match/{id}/ratings) scanned all of it. A data-skipping index
-- would do on current releases (bloom_filter on match_key), but 18.16 has none: `INDEX ... TYPE ...` in CREATE
-- TABLE is a syntax error there. So ratingd writes each match's rows twice: here first, then into
-- rating_changes. A crash between the two leaves the match here only; ratingd rates it again (it goes by
-- rating_changes) and inserts equal rows under the same (match_key, guid), which ReplacingMergeTree keeps once, as
-- in rating_changes: read with FINAL.
CREATE TABLE IF NOT EXISTS rating_changes_by_match
(
    guid String,
    match_key String,
    kind String,
    end_ms UInt64,
    family String,
    game_type String,
    rated UInt8,
    reason String,
    team String,
    place UInt16,
    weight Float64,
    mu_before Float64,
    sigma_before Float64,
    mu_after Float64,
    sigma_after Float64,
    win_prob Float64
)
ENGINE = ReplacingMergeTree
ORDER BY (match_key, guid)
SETTINGS index_granularity = 256;

-- The history rated before this migration (migrations run before ratingd starts). Run again after a failure, it
-- inserts equal rows that FINAL reads once.
INSERT INTO rating_changes_by_match SELECT * FROM rating_changes;
