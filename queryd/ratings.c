/* Ratings: what ratingd wrote into rating_changes (docs/ratings.md), served. This file: the model queryd serves
 * ratings with, a player's current ratings, and the families; each endpoint is in a file of its own:
 *
 * | route                                            | file                  |
 * |--------------------------------------------------|-----------------------|
 * | GET /stats/leaderboard/global?stat=rating        | ratings_leaderboard.c |
 * | GET /stats/leaderboard/gametype/{gt}?stat=rating | ratings_leaderboard.c |
 * | GET /stats/player/{guid}/ratings                 | ratings_history.c     |
 * | GET /stats/match/{id}/ratings, .../predictions   | ratings_match.c       |
 * | GET /stats/team/{id}/rating                      | ratings_team.c        |
 *
 * The profile's "ratings" and the predictions' "win_prob" are built in player.c and player_trends.c with the helpers
 * here (ratings.h). The routes are registered by player.c's, match.c's and global.c's tables (their paths are
 * theirs) and leaderboard.c and gametype.c hand stat=rating to ratings_leaderboard.c.
 *
 * A rating is a current value: a player's latest 'player' row per family in rating order (end_ms, match_key), read
 * with argMax (duplicate rows of a repeated insert are equal, so argMax needs no FINAL; counts use uniqExact or
 * FINAL). Freshness: ratingd adds an entry to the freshness stream (common/fresh_stream.h) after each insert, so an
 * answer carrying a rating is cached like any other (QUERY_CACHE_TTL_S, under its data generation, fresh.h) and a
 * new rating is served within the same bound as a new event: about 0.5 s after ratingd's insert, itself about
 * RATING_SETTLE_MS (2 s) after the match's end. */
#include "ratings.h"
#include "ratings_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "rating_settings.h"
#include "stats.h"

const config_var rating_config_vars[] = {
    {RATING_MIN_MATCHES_VAR, "10",
     "rated matches a player needs in a family to be on its rating leaderboard: fewer leave the rating too uncertain "
     "to rank"},
    {NULL, NULL, NULL},
};

#define DEFAULT_FAMILY "team"
const param_choice rating_any_family[RATING_NFAMILIES + 2] = {{"", "all", NULL}, RATING_FAMILY_CHOICES};
const param_choice rating_default_family[RATING_NFAMILIES + 2] = {{"", DEFAULT_FAMILY, NULL}, RATING_FAMILY_CHOICES};
/* rating_any_family's entries but the absent one and the end. */
static const param_choice *const families = rating_any_family + 1;

/* QUERY_RATING_MIN_MATCHES, at least 1. */
static long min_matches(void)
{
    long long n = config_get_int(RATING_MIN_MATCHES_VAR, RATING_MIN_MATCHES_DEFAULT);
    return n < 1 ? 1 : (long)n;
}

/* The model queryd predicts with: ratingd's, from the same settings (RATING_BETA: rating_settings.h), so that a
 * chance served here is the one ratingd would store for the same sides. Written once by rating_settings_load before
 * the loop starts, read-only after. */
static rating_model served;
static bool served_loaded;
/* RATING_INACTIVITY_SIGMA_PER_DAY, ratingd's: how a served sigma widens with the time since the last rated match. */
static double served_per_day = 0.4;

int rating_settings_load(void)
{
    int rc = rating_model_load(&served);
    rc |= rating_inactivity_load(&served_per_day);
    served_loaded = rc == 0;
    return rc ? -EINVAL : 0;
}

/* OpenSkill's defaults only before rating_settings_load ran (main.c runs it before
 * serving anything). */
rating_model rating_served_model(void)
{
    rating_model m;
    if (served_loaded)
        return served;
    rating_model_default(&m);
    return m;
}

uint64_t rating_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rating_served(const cJSON *row, uint64_t now_ms, double *mu, double *sigma)
{
    rating_model m = rating_served_model();
    if (!row) {
        rating_new_player(mu, sigma);
        return;
    }
    double last = row_num(row, "last_ms");
    *mu = row_num(row, "mu");
    *sigma = rating_sigma_at(&m, row_num(row, "sigma"), last > 0 ? (uint64_t)last : 0, now_ms, served_per_day);
}

rating rating_served_rating(const cJSON *row, uint64_t now_ms)
{
    rating r;
    rating_served(row, now_ms, &r.mu, &r.sigma);
    return r;
}

double rating_served_per_day(void)
{
    return served_per_day;
}

void rating_new_player(double *mu, double *sigma)
{
    rating_model m = rating_served_model();
    rating r = rating_new(&m);
    *mu = r.mu;
    *sigma = r.sigma;
}

double rating_duel_win_prob(double mu_a, double sigma_a, double mu_b, double sigma_b)
{
    rating_model m = rating_served_model();
    rating_player a = {.r = {mu_a, sigma_a}, .weight = 1}, b = {.r = {mu_b, sigma_b}, .weight = 1};
    rating_team teams[2] = {{.players = &a, .nplayers = 1, .rank = 1}, {.players = &b, .nplayers = 1, .rank = 2}};
    double p[2];
    rating_win_probabilities(&m, teams, 2, p);
    return p[0];
}

/* One player's current rating per family: one range of the table's index (ordered by guid first). */
// clang-format off
static const char current_sql[] =
    "SELECT family, argMax(mu_after, o) AS mu, argMax(sigma_after, o) AS sigma,\n"
    "       uniqExact(match_key) AS matches, max(end_ms) AS last_ms\n"
    "FROM\n"
    "(\n"
    "    SELECT family, match_key, mu_after, sigma_after, end_ms, tuple(end_ms, match_key) AS o\n"
    "    FROM rating_changes\n"
    "    WHERE guid = {guid} AND kind = 'player'\n"
    ")\n"
    "GROUP BY family";
// clang-format on

// clang-format off
static const char players_sql[] =
    "SELECT guid, argMax(mu_after, o) AS mu, argMax(sigma_after, o) AS sigma, uniqExact(match_key) AS matches,\n"
    "       max(end_ms) AS last_ms\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, match_key, mu_after, sigma_after, end_ms, tuple(end_ms, match_key) AS o\n"
    "    FROM rating_changes\n"
    "    WHERE kind = 'player' AND family = {family} AND guid IN {guids}\n"
    ")\n"
    "GROUP BY guid";
// clang-format on

const char *rating_player_name(const cJSON *names, const char *guid)
{
    const char *n = row_str(rows_find(names, "guid", guid), "name");
    return *n ? n : "Unknown Soldier";
}

void rating_json_add(cJSON *o, const char *prefix, double mu, double sigma)
{
    char k[32];
    snprintf(k, sizeof k, "%smu", prefix);
    cJSON_AddNumberToObject(o, k, mu);
    snprintf(k, sizeof k, "%ssigma", prefix);
    cJSON_AddNumberToObject(o, k, sigma);
    snprintf(k, sizeof k, "%sordinal", prefix);
    cJSON_AddNumberToObject(o, k, rating_ordinal((rating){mu, sigma}));
}

void rating_change_json_add(cJSON *o, const cJSON *r)
{
    double mu0 = row_num(r, "mu_before"), s0 = row_num(r, "sigma_before");
    double mu1 = row_num(r, "mu_after"), s1 = row_num(r, "sigma_after");
    cJSON_AddStringToObject(o, "team", row_str(r, "team"));
    cJSON_AddNumberToObject(o, "place", row_num(r, "place"));
    cJSON_AddBoolToObject(o, "won", row_num(r, "place") == 1);
    cJSON_AddNumberToObject(o, "weight", row_num(r, "weight"));
    cJSON_AddNumberToObject(o, "win_prob", row_num(r, "win_prob"));
    rating_json_add(o, "before_", mu0, s0);
    rating_json_add(o, "", mu1, s1);
    cJSON_AddNumberToObject(o, "mu_change", mu1 - mu0);
    cJSON_AddNumberToObject(o, "ordinal_change", rating_ordinal((rating){mu1, s1}) - rating_ordinal((rating){mu0, s0}));
}

/* ---- a player's current ratings ---- */

void rating_job_current(qjob *j, int slot, const char *guid)
{
    sqlv v[] = {SQL_STR("guid", guid)};
    job_ch(j, slot, current_sql, v, 1);
}

cJSON *rating_family_json(const cJSON *rows, const char *family, uint64_t now_ms)
{
    const cJSON *r = rows_find(rows, "family", family);
    rating served_r = rating_served_rating(r, now_ms);
    double matches = row_num(r, "matches");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "family", family);
    rating_json_add(o, "", served_r.mu, served_r.sigma);
    cJSON_AddNumberToObject(o, "as_of_ms", (double)now_ms);
    cJSON_AddNumberToObject(o, "rated_matches", matches);
    /* Whether the rating leaderboard lists the player (QUERY_RATING_MIN_MATCHES). */
    cJSON_AddBoolToObject(o, "ranked", matches >= (double)min_matches());
    if (r)
        cJSON_AddNumberToObject(o, "last_rated_at", floor(row_num(r, "last_ms") / 1000));
    else
        cJSON_AddNullToObject(o, "last_rated_at");
    return o;
}

cJSON *rating_families_json(const cJSON *rows, uint64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < RATING_NFAMILIES; i++)
        cJSON_AddItemToObject(o, families[i].name, rating_family_json(rows, families[i].name, now_ms));
    return o;
}

const char *rating_main_family(const cJSON *rows)
{
    const char *best = DEFAULT_FAMILY;
    double most = 0;
    for (size_t i = 0; i < RATING_NFAMILIES; i++) {
        double n = row_num(rows_find(rows, "family", families[i].name), "matches");
        if (n > most) {
            most = n;
            best = families[i].name;
        }
    }
    return best;
}

void rating_job_players(qjob *j, int slot, const char *family, const char *const *guids, size_t n)
{
    sqlv v[] = {SQL_STR("family", family), SQL_LIST("guids", guids, n)};
    job_ch(j, slot, players_sql, v, 2);
}
