-- Results of the plugin's player-based brackets (id_player1 / id_player2 without teams, docs/tournaments.md):
-- recorded like a team match's, with the two forum members in place of the teams (id_team_a and id_team_b are
-- then 0, so that no team's history reads them).
ALTER TABLE mohstats_tournament_results ADD COLUMN IF NOT EXISTS id_player_a INT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE mohstats_tournament_results ADD COLUMN IF NOT EXISTS id_player_b INT UNSIGNED NOT NULL DEFAULT 0;
