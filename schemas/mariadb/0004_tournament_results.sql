-- mohstats' own bookkeeping for the forum's tournaments (docs/tournaments.md), in the forum's database. Not forum
-- tables: named mohstats_ like mohstats_schema_migrations, without the forum's prefix.

-- Which game match decided a tournament match (smf_mohaa_tournament_matches.id_match -> the match id queryd's
-- match endpoints use). Kept here and not only in the forum's game_match_id, which only the plugin's schema
-- variant has. source: 'forum' (the authenticated link call) or 'auto' (inferred by achievd).
CREATE TABLE IF NOT EXISTS mohstats_tournament_links (
    id_match INT UNSIGNED NOT NULL,
    match_id VARCHAR(64) NOT NULL,
    source VARCHAR(10) NOT NULL DEFAULT 'forum',
    linked_at INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_match),
    KEY idx_match_id (match_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per tournament match whose result was written into the forum's tables, inserted in the same
-- transaction as those writes: its primary key is what makes the write happen exactly once (a replay, a restart
-- or a second achievd finds the row and writes nothing). result: 'a', 'b' (the winning side of the tournament
-- match) or 'draw'.
CREATE TABLE IF NOT EXISTS mohstats_tournament_results (
    id_match INT UNSIGNED NOT NULL,
    match_id VARCHAR(64) NOT NULL,
    id_team_a INT UNSIGNED NOT NULL,
    id_team_b INT UNSIGNED NOT NULL,
    result VARCHAR(10) NOT NULL,
    score_a INT NOT NULL DEFAULT 0,
    score_b INT NOT NULL DEFAULT 0,
    -- the game's end (a member's tournament record counts the games played while they were in the team)
    ended_at INT UNSIGNED NOT NULL DEFAULT 0,
    recorded_at INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_match),
    KEY idx_team_a (id_team_a),
    KEY idx_team_b (id_team_b)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
