-- SMF's own settings table, as SMF 2.1 creates it, only so that a fresh database (dev stack, tests) has one. On a
-- real forum it exists and this changes nothing. authd reads the forum's mohaa_stats_max_identities from it.
CREATE TABLE IF NOT EXISTS smf_settings (
    variable VARCHAR(255) NOT NULL DEFAULT '',
    value TEXT NOT NULL,
    PRIMARY KEY (variable(30))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
