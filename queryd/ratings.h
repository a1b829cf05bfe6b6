/* What the ratings area (ratings.c) gives the other areas: the rating leaderboard (leaderboard.c), a player's
 * current ratings (the profile in player.c, the predictions in player_trends.c), the rating history, match and
 * forum team routes (registered in player.c's, match.c's and global.c's tables), and its settings. */
#ifndef MOHSTATS_QUERYD_RATINGS_H
#define MOHSTATS_QUERYD_RATINGS_H

#include "area.h"

/* The leaderboard stat that ranks by rating: not a stat of the board (stats.c), since a rating is a current value
 * read from ratingd's rating_changes, not a sum of events. */
#define RATING_STAT "rating"

/* QUERY_RATING_MIN_MATCHES (registered by main.c beside queryd_config_vars and rating_model_config_vars). */
extern const config_var rating_config_vars[];
/* Read the rating model's settings (RATING_BETA, ratingd's: rating_settings.h) that every served chance is computed
 * with. Once, before the loop starts. 0 or -EINVAL (logged). */
int rating_settings_load(void);

/* GET /stats/leaderboard...?stat=rating: answers req (family, limit, offset, page from the URL). */
void rating_leaderboard(http_request *req, queryd *q, period p, bool count_only);

/* Queue one player's current rating per family into slot: rows {family, mu, sigma, matches, last_ms}. */
void rating_job_current(qjob *j, int slot, const char *guid);
/* {ffa: {...}, team: {...}, objective: {...}} from those rows: every family, a new player's rating where the
 * player has none. */
cJSON *rating_families_json(const cJSON *rows);
/* The family the player has most rated matches in ("team" when none): what a single rating shows. */
const char *rating_main_family(const cJSON *rows);
/* One family's entry of rating_families_json (a copy, with "family" set). */
cJSON *rating_family_json(const cJSON *rows, const char *family);

/* Queue the current ratings of guids in one family into slot: rows {guid, mu, sigma}. */
void rating_job_players(qjob *j, int slot, const char *family, const char *const *guids, size_t n);
/* The chance that a player of rating (mu_a, sigma_a) beats one of (mu_b, sigma_b) one against one, by the
 * model's prediction (rating_win_probabilities). */
double rating_duel_win_prob(double mu_a, double sigma_a, double mu_b, double sigma_b);
/* A new player's mu and sigma. */
void rating_new_player(double *mu, double *sigma);

/* Route handlers, in the tables of player.c, match.c and global.c. */
void rating_player_history(http_request *req, void *arg); /* GET /stats/player/{guid}/ratings */
void rating_match(http_request *req, void *arg);          /* GET /stats/match/{id}/ratings, .../predictions */
void rating_forum_team(http_request *req, void *arg);     /* GET /stats/team/{id}/rating */

#endif
