-- Who was in which forum team, and when (docs/tournaments.md, "While they were members"). The forum keeps only
-- the present: smf_mohaa_team_members has joined_date and a status, and no schema variant has a date of leaving
-- (MohaaTeams_Retire writes a left_date no installer creates). achievd's tournament thread keeps the history here:
-- at each poll it opens a stint for every active member row without one and closes the open stints of members no
-- longer active, so that a member's games count for the team only between joining and leaving, in results,
-- automatic links and queryd's team answers alike.
--
-- forum_prefix: the forum's table prefix (SMF_DB_PREFIX), since this table is the database's and two forums'
-- teams may share ids. joined_ms: the forum's joined_date (in ms), or the end of the member's previous stint if
-- later. left_ms: when achievd saw the member row no longer active (the forum's left_date where a schema has
-- it), NULL while the member is in the team. Milliseconds, as ClickHouse's first_ms: a game started before the
-- forum's change and one started after it fall on either side even within one second.
CREATE TABLE IF NOT EXISTS mohstats_team_memberships (
    forum_prefix VARCHAR(32) NOT NULL,
    id_team INT UNSIGNED NOT NULL,
    id_member INT UNSIGNED NOT NULL,
    joined_ms BIGINT UNSIGNED NOT NULL,
    left_ms BIGINT UNSIGNED NULL,
    PRIMARY KEY (forum_prefix, id_team, id_member, joined_ms),
    KEY idx_member (forum_prefix, id_member)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
