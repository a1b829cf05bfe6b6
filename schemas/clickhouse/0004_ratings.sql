-- Skill ratings (issue 21, docs/ratings.md): every rating change with its match, written only by ratingd.
-- Runs on ClickHouse 18.16 and current releases.
--
-- One table, three kinds of row per finished match, all inserted by one INSERT (so a crash never leaves half a
-- match):
--   kind 'match'   guid '': the match was rated or not (rated), and why not (reason); one per match. ratingd
--                  rates a match only while this row is missing.
--   kind 'player'  a rated player: team ('' in free-for-all), place (1 = won), weight (the fraction of the match
--                  played), mu/sigma before (widened for inactivity) and after, and win_prob, the chance the player's
--                  team had to win as predicted before the match.
--   kind 'skipped' a member who played but was not rated this match (reason: too little of it, on no team).
-- Guests (unauth_*) and bots have no rows.
--
-- Exactly once as read: a repeated insert of a match (two ratingd processes racing at a lease handover, a retry
-- after a lost answer) writes equal rows under the same (guid, match_key), which ReplacingMergeTree keeps once;
-- reads that count rows use FINAL. Rating order is (end_ms, match_key): a player's current rating in a family is
-- that of their latest 'player' row in that order. Ordered by guid first: a player's history (and the current
-- ratings ratingd reads each step) is one range of the index.
CREATE TABLE IF NOT EXISTS rating_changes
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
ORDER BY (guid, match_key)
SETTINGS index_granularity = 256;
