-- The SMF forum tables the daemons read or write, in the forum's own database (`smf`).
--
-- These tables belong to the forum. On a real forum they already exist, created by whichever installer the
-- forum ran, and CREATE TABLE IF NOT EXISTS leaves them exactly as they are: this file never alters, drops or
-- rewrites a forum table. On a fresh database (dev stack, tests, docker-compose) it creates them with the union
-- of the columns the forum's PHP code uses (docs/forum.md §1), so that every variant of the forum
-- code works against them. Daemons must still detect columns (SHOW COLUMNS) on a real forum and write only
-- those that exist.
--
-- Conventions of the forum kept here: times are Unix epoch seconds in INT UNSIGNED columns, member ids are
-- INT UNSIGNED (a superset of SMF's MEDIUMINT), no foreign keys, enumerations are VARCHAR (a superset of the
-- plugin variants' ENUMs, and the code writes values the ENUMs lack, e.g. status 'archived').

-- SMF 2.1's member table, only the core columns (SMF's own DDL has many more). Read for names and avatars.
CREATE TABLE IF NOT EXISTS smf_members (
    id_member MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT,
    member_name VARCHAR(80) NOT NULL DEFAULT '',
    date_registered INT UNSIGNED NOT NULL DEFAULT 0,
    posts MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
    id_group SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    last_login INT UNSIGNED NOT NULL DEFAULT 0,
    real_name VARCHAR(255) NOT NULL DEFAULT '',
    passwd VARCHAR(64) NOT NULL DEFAULT '',
    password_salt VARCHAR(255) NOT NULL DEFAULT '',
    email_address VARCHAR(255) NOT NULL DEFAULT '',
    additional_groups VARCHAR(255) NOT NULL DEFAULT '',
    is_activated TINYINT UNSIGNED NOT NULL DEFAULT 1,
    avatar VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (id_member),
    KEY idx_member_name (member_name),
    KEY idx_real_name (real_name),
    KEY idx_email_address (email_address),
    KEY idx_id_group (id_group)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Player GUID <-> forum member. A GUID belongs to at most one member; a member may have several GUIDs, and
-- "the" GUID of a member is the most recently linked one.
CREATE TABLE IF NOT EXISTS smf_mohaa_identities (
    id_identity INT UNSIGNED NOT NULL AUTO_INCREMENT,
    id_member INT UNSIGNED NOT NULL DEFAULT 0,
    player_guid VARCHAR(64) NOT NULL DEFAULT '',
    player_name VARCHAR(255) NOT NULL DEFAULT '',
    linked_at INT UNSIGNED NOT NULL DEFAULT 0,
    verified TINYINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_identity),
    UNIQUE KEY idx_guid (player_guid),
    KEY idx_member (id_member)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Achievement definitions. Seeded by a later migration; resolve by `code`, never cache id_achievement (the
-- forum's master installer REPLACEs rows, which renumbers them).
CREATE TABLE IF NOT EXISTS smf_mohaa_achievement_defs (
    id_achievement INT UNSIGNED NOT NULL AUTO_INCREMENT,
    code VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT NULL,
    category VARCHAR(50) NOT NULL DEFAULT 'basic',
    tier INT UNSIGNED NOT NULL DEFAULT 1,
    icon VARCHAR(100) NULL DEFAULT 'trophy',
    requirement_type VARCHAR(50) NOT NULL DEFAULT '',
    requirement_value INT UNSIGNED NOT NULL DEFAULT 1,
    points INT UNSIGNED NOT NULL DEFAULT 10,
    is_hidden TINYINT UNSIGNED NOT NULL DEFAULT 0,
    sort_order INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_achievement),
    UNIQUE KEY idx_code (code),
    KEY idx_category (category),
    KEY idx_tier (tier)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Unlocks, written by achievd. UNIQUE(id_member, id_achievement) makes an unlock idempotent (INSERT IGNORE /
-- ON DUPLICATE KEY), so a replayed event cannot unlock twice.
CREATE TABLE IF NOT EXISTS smf_mohaa_player_achievements (
    id_unlock INT UNSIGNED NOT NULL AUTO_INCREMENT,
    id_member INT UNSIGNED NOT NULL,
    player_guid VARCHAR(64) NULL DEFAULT NULL,
    id_achievement INT UNSIGNED NOT NULL,
    unlocked_date INT UNSIGNED NOT NULL DEFAULT 0,
    match_id VARCHAR(64) NULL DEFAULT NULL,
    progress INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_unlock),
    UNIQUE KEY idx_member_achievement (id_member, id_achievement),
    KEY idx_member (id_member),
    KEY idx_achievement (id_achievement),
    KEY idx_date (unlocked_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Progress towards not yet unlocked achievements; upserted with ON DUPLICATE KEY UPDATE.
CREATE TABLE IF NOT EXISTS smf_mohaa_achievement_progress (
    id_member INT UNSIGNED NOT NULL,
    id_achievement INT UNSIGNED NOT NULL,
    current_progress INT UNSIGNED NOT NULL DEFAULT 0,
    last_updated INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_member, id_achievement),
    KEY idx_achievement (id_achievement)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Clans. draws and banner_url come from the plugin installer, website and recruiting from smf-mohaa's; the
-- templates read all of them.
CREATE TABLE IF NOT EXISTS smf_mohaa_teams (
    id_team INT UNSIGNED NOT NULL AUTO_INCREMENT,
    team_name VARCHAR(255) NOT NULL,
    team_tag VARCHAR(10) NOT NULL DEFAULT '',
    description TEXT NULL,
    logo_url VARCHAR(255) NOT NULL DEFAULT '',
    banner_url VARCHAR(255) NOT NULL DEFAULT '',
    website VARCHAR(255) NOT NULL DEFAULT '',
    id_captain INT UNSIGNED NOT NULL DEFAULT 0,
    founded_date INT UNSIGNED NOT NULL DEFAULT 0,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    rating INT NOT NULL DEFAULT 1000,
    wins INT UNSIGNED NOT NULL DEFAULT 0,
    losses INT UNSIGNED NOT NULL DEFAULT 0,
    draws INT UNSIGNED NOT NULL DEFAULT 0,
    recruiting TINYINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_team),
    UNIQUE KEY idx_team_name (team_name),
    KEY idx_status (status),
    KEY idx_rating (rating),
    KEY idx_captain (id_captain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- role: captain, officer, member, substitute. status: active, left, kicked, archived, inactive.
-- left_date is written by the forum's MohaaTeams_Retire although no forum installer creates it.
CREATE TABLE IF NOT EXISTS smf_mohaa_team_members (
    id_team INT UNSIGNED NOT NULL,
    id_member INT UNSIGNED NOT NULL,
    role VARCHAR(20) NOT NULL DEFAULT 'member',
    joined_date INT UNSIGNED NOT NULL DEFAULT 0,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    left_date INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_team, id_member),
    KEY idx_member (id_member)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- invite_type: invite | request. status: pending, accepted, declined, expired.
CREATE TABLE IF NOT EXISTS smf_mohaa_team_invites (
    id_invite INT UNSIGNED NOT NULL AUTO_INCREMENT,
    id_team INT UNSIGNED NOT NULL,
    id_member INT UNSIGNED NOT NULL,
    id_inviter INT UNSIGNED NOT NULL DEFAULT 0,
    invite_type VARCHAR(20) NOT NULL DEFAULT 'invite',
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    created_date INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_invite),
    KEY idx_team (id_team),
    KEY idx_member (id_member),
    KEY idx_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A team's match history. Both column families exist: the templates read the plugin names (opponent_name,
-- team_score, opponent_score), smf-mohaa's queries the others (score_us, score_them). A writer sets both pairs.
CREATE TABLE IF NOT EXISTS smf_mohaa_team_matches (
    id_match INT UNSIGNED NOT NULL AUTO_INCREMENT,
    id_team INT UNSIGNED NOT NULL,
    id_opponent INT UNSIGNED NULL DEFAULT NULL,
    opponent_name VARCHAR(100) NOT NULL DEFAULT '',
    id_tournament INT UNSIGNED NULL DEFAULT NULL,
    match_date INT UNSIGNED NOT NULL DEFAULT 0,
    -- win, loss or draw.
    result VARCHAR(10) NOT NULL DEFAULT '',
    map VARCHAR(100) NOT NULL DEFAULT '',
    team_score INT NOT NULL DEFAULT 0,
    opponent_score INT NOT NULL DEFAULT 0,
    score_us INT NOT NULL DEFAULT 0,
    score_them INT NOT NULL DEFAULT 0,
    PRIMARY KEY (id_match),
    KEY idx_team (id_team),
    KEY idx_date (match_date),
    KEY idx_tournament (id_tournament)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Tournaments. Two forum designs (team-based smf-mohaa, player-based plugin) and several installers disagree
-- on names, so synonyms sit side by side: format / tournament_type, game_type / game_mode, created_by /
-- id_creator, created_at / created_date, tournament_start / start_date, id_winner_team / winner_id_team,
-- prize_description / prize_info. created_at is epoch seconds like every other time here.
CREATE TABLE IF NOT EXISTS smf_mohaa_tournaments (
    id_tournament INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(255) NOT NULL,
    description TEXT NULL,
    format VARCHAR(20) NOT NULL DEFAULT 'single_elim',
    tournament_type VARCHAR(20) NOT NULL DEFAULT 'single_elim',
    game_type VARCHAR(50) NOT NULL DEFAULT 'tdm',
    game_mode VARCHAR(50) NOT NULL DEFAULT 'tdm',
    team_size TINYINT UNSIGNED NOT NULL DEFAULT 1,
    max_teams INT UNSIGNED NOT NULL DEFAULT 16,
    maps TEXT NULL,
    rules TEXT NULL,
    prize_description TEXT NULL,
    prize_info TEXT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'open',
    registration_start INT UNSIGNED NOT NULL DEFAULT 0,
    registration_end INT UNSIGNED NOT NULL DEFAULT 0,
    tournament_start INT UNSIGNED NOT NULL DEFAULT 0,
    tournament_end INT UNSIGNED NOT NULL DEFAULT 0,
    start_date INT UNSIGNED NOT NULL DEFAULT 0,
    created_by INT UNSIGNED NOT NULL DEFAULT 0,
    id_creator INT UNSIGNED NOT NULL DEFAULT 0,
    created_at INT UNSIGNED NOT NULL DEFAULT 0,
    created_date INT UNSIGNED NOT NULL DEFAULT 0,
    id_winner_team INT UNSIGNED NOT NULL DEFAULT 0,
    winner_id_team INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_tournament),
    KEY idx_status (status),
    KEY idx_creator (id_creator)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A team (team-based design) or a member (player-based design) entered in a tournament. The surrogate key
-- serves both; each design's natural key stays unique (NULLs do not collide in a UNIQUE key).
CREATE TABLE IF NOT EXISTS smf_mohaa_tournament_registrations (
    id_registration INT UNSIGNED NOT NULL AUTO_INCREMENT,
    id_tournament INT UNSIGNED NOT NULL,
    id_team INT UNSIGNED NULL DEFAULT NULL,
    id_member INT UNSIGNED NULL DEFAULT NULL,
    player_guid VARCHAR(64) NULL DEFAULT NULL,
    seed INT UNSIGNED NOT NULL DEFAULT 0,
    -- pending, approved, rejected, withdrawn, disqualified.
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    registration_date INT UNSIGNED NOT NULL DEFAULT 0,
    registered_date INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id_registration),
    UNIQUE KEY idx_tournament_team (id_tournament, id_team),
    UNIQUE KEY idx_tournament_member (id_tournament, id_member),
    KEY idx_team (id_team),
    KEY idx_member (id_member)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Bracket matches, both designs' columns: round / bracket_group / id_team_a / id_team_b / score_a / score_b /
-- winner_id (smf-mohaa; bracket_group 0 = main or upper, 1 = lower) and round_number / match_number /
-- bracket_position / id_team1 / id_team2 / id_player1 / id_player2 / team1_score / team2_score / id_winner /
-- game_match_id (plugin; game_match_id links to a stats match).
CREATE TABLE IF NOT EXISTS smf_mohaa_tournament_matches (
    id_match INT UNSIGNED NOT NULL AUTO_INCREMENT,
    id_tournament INT UNSIGNED NOT NULL,
    `round` INT UNSIGNED NOT NULL DEFAULT 1,
    round_number INT UNSIGNED NOT NULL DEFAULT 1,
    match_number INT UNSIGNED NOT NULL DEFAULT 1,
    bracket_group INT UNSIGNED NOT NULL DEFAULT 0,
    bracket_position VARCHAR(20) NOT NULL DEFAULT '',
    id_team_a INT UNSIGNED NOT NULL DEFAULT 0,
    id_team_b INT UNSIGNED NOT NULL DEFAULT 0,
    score_a INT UNSIGNED NOT NULL DEFAULT 0,
    score_b INT UNSIGNED NOT NULL DEFAULT 0,
    winner_id INT UNSIGNED NOT NULL DEFAULT 0,
    id_team1 INT UNSIGNED NULL DEFAULT NULL,
    id_team2 INT UNSIGNED NULL DEFAULT NULL,
    id_player1 INT UNSIGNED NULL DEFAULT NULL,
    id_player2 INT UNSIGNED NULL DEFAULT NULL,
    team1_score INT NOT NULL DEFAULT 0,
    team2_score INT NOT NULL DEFAULT 0,
    id_winner INT UNSIGNED NULL DEFAULT NULL,
    game_match_id VARCHAR(64) NULL DEFAULT NULL,
    -- pending, scheduled, live, completed, forfeit.
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    match_date INT UNSIGNED NOT NULL DEFAULT 0,
    scheduled_time INT UNSIGNED NULL DEFAULT NULL,
    completed_time INT UNSIGNED NULL DEFAULT NULL,
    PRIMARY KEY (id_match),
    KEY idx_tournament (id_tournament),
    KEY idx_tournament_round (id_tournament, round_number),
    KEY idx_team_a (id_team_a),
    KEY idx_team_b (id_team_b)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who may manage a tournament. role: owner, admin, referee.
CREATE TABLE IF NOT EXISTS smf_mohaa_tournament_admins (
    id_tournament INT UNSIGNED NOT NULL,
    id_member INT UNSIGNED NOT NULL,
    role VARCHAR(20) NOT NULL DEFAULT 'admin',
    PRIMARY KEY (id_tournament, id_member),
    KEY idx_member (id_member)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
