/* What the ratings area (ratings.c, and one file per endpoint: ratings_*.c) gives the other areas: the rating
 * leaderboard (leaderboard.c), a player's current ratings (the profile in player.c, the predictions in
 * player_trends.c), the rating history's and a match's endpoints and the forum team's route (registered with
 * player.c's, match.c's and global.c's), and its settings. */
#ifndef MOHSTATS_QUERYD_RATINGS_H
#define MOHSTATS_QUERYD_RATINGS_H

#include "area.h"
#include "endpoint.h"

/* The leaderboard stat that ranks by rating: not a stat of the board (stats.c), since a rating is a current value
 * read from ratingd's rating_changes, not a sum of events. */
#define RATING_STAT "rating"

/* QUERY_RATING_MIN_MATCHES (registered by main.c beside queryd_config_vars and rating_model_config_vars). */
extern const config_var rating_config_vars[];
/* Read the rating model's settings (RATING_BETA, ratingd's: rating_settings.h) that every served chance is computed
 * with. Once, before the loop starts. 0 or -EINVAL (logged). */
int rating_settings_load(void);

/* GET /stats/leaderboard...?stat=rating (family, period, limit, offset, page, count_only): the endpoint that answers
 * instead of the stats' leaderboard (leaderboard.c's endpoint.instead). */
extern const endpoint rating_leaderboard_endpoint;
/* GET /stats/leaderboard/gametype/{gt}?stat=rating: the same board of the family {gt} is rated in (gametype.c's
 * endpoint.instead). */
extern const endpoint rating_gametype_leaderboard_endpoint;

/* The time the served sigmas are widened to (rating_served): now, in ms since the epoch. */
uint64_t rating_now_ms(void);
/* A current-rating row ({mu, sigma, last_ms}, last_ms the end of the player's latest rated match in the family) as
 * served at now_ms: sigma widened for the time since, by the rule ratingd widens a returning player's prior by
 * (rating_sigma_at, RATING_INACTIVITY_SIGMA_PER_DAY), so that what is shown, ranked and predicted with is the
 * uncertainty the player's next match would start from. NULL: a new player's rating. */
void rating_served(const cJSON *row, uint64_t now_ms, double *mu, double *sigma);

/* Queue one player's current rating per family into slot: rows {family, mu, sigma, matches, last_ms}. */
void rating_job_current(qjob *j, int slot, const char *guid);
/* {ffa: {...}, team: {...}, objective: {...}} from those rows, as served at now_ms (rating_served; "as_of_ms" says
 * when): every family, a new player's rating where the player has none. */
cJSON *rating_families_json(const cJSON *rows, uint64_t now_ms);
/* The family the player has most rated matches in ("team" when none): what a single rating shows. */
const char *rating_main_family(const cJSON *rows);
/* One family's entry of rating_families_json (a copy, with "family" set). */
cJSON *rating_family_json(const cJSON *rows, const char *family, uint64_t now_ms);

/* Queue the current ratings of guids in one family into slot: rows {guid, mu, sigma, matches, last_ms}. */
void rating_job_players(qjob *j, int slot, const char *family, const char *const *guids, size_t n);
/* The chance that a player of rating (mu_a, sigma_a) beats one of (mu_b, sigma_b) one against one, by the
 * model's prediction (rating_win_probabilities). */
double rating_duel_win_prob(double mu_a, double sigma_a, double mu_b, double sigma_b);
/* A new player's mu and sigma. */
void rating_new_player(double *mu, double *sigma);

/* The endpoints at other areas' paths, registered by their files: a player's rating history (player.c: GET
 * /stats/player/{guid}/ratings) and a match's ratings (match.c: GET /stats/match/{id}/ratings, .../predictions). */
extern const endpoint rating_player_endpoints[];
extern const size_t rating_player_endpoints_n;
extern const endpoint rating_match_endpoints[];
extern const size_t rating_match_endpoints_n;

/* GET /stats/team/{id}/rating (global.c registers it): a forum team by its members' ratings. */
extern const endpoint rating_team_endpoints[];
extern const size_t rating_team_endpoints_n;

#endif
