/* What the ratings files share (ratings.c: the served model, a player's current ratings and the families;
 * ratings_leaderboard.c, ratings_history.c, ratings_match.c, ratings_team.c: one endpoint each). Not for the rest of
 * queryd: ratings.h is its interface. */
#ifndef MOHSTATS_QUERYD_RATINGS_INT_H
#define MOHSTATS_QUERYD_RATINGS_INT_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "endpoint.h"
#include "rating.h"

/* The setting of the rating leaderboard's threshold, and its default (the text and the number). */
#define RATING_MIN_MATCHES_VAR "QUERY_RATING_MIN_MATCHES"
#define RATING_MIN_MATCHES_DEFAULT 10

/* The families in the order they are served (ratingd/facts.c names them), then the end: what ?family= accepts after
 * what an absent one means (its name "", which no value given equals). rating_any_family's absent one means every
 * family, rating_default_family's the team family. */
#define RATING_NFAMILIES 3
#define RATING_FAMILY_CHOICES                                                                                          \
    {"ffa", NULL, NULL}, {"team", NULL, NULL}, {"objective", NULL, NULL},                                              \
    {                                                                                                                  \
        NULL, NULL, NULL                                                                                               \
    }
#define RATING_FAMILY_WHY "must be ffa, team or objective (the game mode families of docs/ratings.md)"
extern const param_choice rating_any_family[RATING_NFAMILIES + 2];
extern const param_choice rating_default_family[RATING_NFAMILIES + 2];

/* The model queryd predicts with (ratingd's settings, rating_settings_load), and the sigma it widens by per day of
 * inactivity (RATING_INACTIVITY_SIGMA_PER_DAY). */
rating_model rating_served_model(void);
double rating_served_per_day(void);
/* rating_served as a rating. */
rating rating_served_rating(const cJSON *row, uint64_t now_ms);

/* Add mu, sigma and the conservative estimate to o, each key prefixed, at full precision: the numbers ratingd
 * stored, so that a client (and the tests) can compare them with rating_changes. */
void rating_json_add(cJSON *o, const char *prefix, double mu, double sigma);
/* Add a rating_changes row r's change to o: team, place, won, weight, win_prob, the rating before (before_mu, ...)
 * and after (mu, ...), mu_change and ordinal_change. A player's history and a match's players serve the same keys. */
void rating_change_json_add(cJSON *o, const cJSON *r);
/* The name of guid in names rows ({guid, name}), or "Unknown Soldier". */
const char *rating_player_name(const cJSON *names, const char *guid);

#endif
