/* The rating leaderboards (docs/ratings.md): every rated player of a family, ranked by the conservative estimate
 * of the rating as served now (mu - 3 sigma, the sigma widened for the time since the player's last rated match).
 *
 * | route                                      | params                                   | answer                  |
 * |--------------------------------------------|------------------------------------------|-------------------------|
 * | GET /stats/leaderboard/global?stat=rating  | family, period, limit, offset, page,     | {players[{rank, guid,   |
 * | (also /stats/leaderboard/rating, ...)      | count_only                               | mu, sigma, ...}], total,|
 * |                                            |                                          | as_of_ms}               |
 * | GET /stats/leaderboard/gametype/{gt}       | the same, the family {gt}'s              | the same                |
 * |     ?stat=rating                           |                                          |                         |
 *
 * The routes are leaderboard.c's and gametype.c's, whose endpoints name these instead for stat=rating. */
#include "ratings.h"
#include "ratings_int.h"

#include <math.h>
#include <stdlib.h>

#include "stats.h"

/* Every player's current rating in one family, with their rated matches and latest rated match; only those with
 * at least {min_matches} and a rated match since {from_ms} (a period), and listed (not hidden by the operator). */
#define RATED_PLAYERS_SQL                                                                                              \
    "SELECT guid, argMax(mu_after, o) AS mu, argMax(sigma_after, o) AS sigma,\n"                                       \
    "       uniqExact(match_key) AS matches, max(end_ms) AS last_ms\n"                                                 \
    "FROM\n"                                                                                                           \
    "(\n"                                                                                                              \
    "    SELECT guid, match_key, mu_after, sigma_after, end_ms, tuple(end_ms, match_key) AS o\n"                       \
    "    FROM rating_changes\n"                                                                                        \
    "    WHERE kind = 'player' AND family = {family} AND " LISTED_PLAYER_SQL(                                          \
        "guid") "\n"                                                                                                   \
                ")\n"                                                                                                  \
                "GROUP BY guid\n"                                                                                      \
                "HAVING matches >= {min_matches} AND last_ms >= {from_ms}\n"

/* The served sigma of a RATED_PLAYERS_SQL row at {now_ms}: rating_sigma_at's rule (common/rating.c), in the same
 * order of operations, so that the page's order is the order of the ordinals served (rating_served): sigma widened
 * by {per_day}^2 a day since last_ms, never beyond a new player's {new_sigma} (nor below its own). */
#define SERVED_SIGMA_SQL                                                                                               \
    "least(sqrt(sigma * sigma + {per_day} * {per_day} * (greatest(toInt64({now_ms}) - toInt64(last_ms), 0) / "         \
    "86400000)), greatest(sigma, {new_sigma}))"

// clang-format off
static const char leaderboard_sql[] =
    "SELECT guid, mu, sigma, mu - 3 * " SERVED_SIGMA_SQL " AS ordinal, matches, last_ms\n"
    "FROM\n"
    "(\n"
    RATED_PLAYERS_SQL
    ")\n"
    "ORDER BY ordinal DESC, guid ASC\n"
    "LIMIT {limit} OFFSET {offset}";
// clang-format on

// clang-format off
static const char leaderboard_count_sql[] =
    "SELECT count() AS total\n"
    "FROM\n"
    "(\n"
    RATED_PLAYERS_SQL
    ")";
// clang-format on

// clang-format off
static const char names_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
    "FROM player_names\n"
    "WHERE guid IN {guids}\n"
    "GROUP BY guid";
// clang-format on

typedef struct {
    const endpoint *ep;
    period p;
    const param_choice *family; /* a rating_default_family entry */
    paging pg;
    bool count_only;
    long min_matches; /* QUERY_RATING_MIN_MATCHES */
    uint64_t from_ms; /* the start of the period when the job started */
    uint64_t now_ms;  /* when it started: what the served sigmas are widened to (rating_served) */
} lb_args;

static void lb_build(qjob *j)
{
    lb_args *a = j->args;
    double total = row_num(job_row(j, 1), "total");
    cJSON *o = cJSON_CreateObject();
    if (a->count_only) {
        cJSON_AddNumberToObject(o, "total", total);
        job_answer(j, 200, o);
        return;
    }
    const cJSON *names = job_rows(j, 2), *r;
    cJSON *players = cJSON_CreateArray();
    long rank = a->pg.offset;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        const char *guid = row_str(r, "guid"), *name = rating_player_name(names, guid);
        rating served_r = rating_served_rating(r, a->now_ms);
        double mu = served_r.mu, sigma = served_r.sigma, ordinal = rating_ordinal(served_r);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "rank", (double)++rank);
        cJSON_AddStringToObject(p, "player_id", guid);
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "id", guid);
        cJSON_AddStringToObject(p, "player_name", name);
        cJSON_AddStringToObject(p, "name", name);
        /* The widget shows row[stat] and value: the conservative estimate, as ranked. */
        json_add_round(p, "value", ordinal, 2);
        json_add_round(p, RATING_STAT, ordinal, 2);
        rating_json_add(p, "", mu, sigma);
        cJSON_AddNumberToObject(p, "rated_matches", row_num(r, "matches"));
        cJSON_AddNumberToObject(p, "last_rated_at", floor(row_num(r, "last_ms") / 1000));
        cJSON_AddItemToArray(players, p);
    }
    cJSON_AddItemToObject(o, "players", players);
    cJSON_AddNumberToObject(o, "total", total);
    cJSON_AddNumberToObject(o, "page", (double)a->pg.page);
    cJSON_AddNumberToObject(o, "limit", (double)a->pg.limit);
    cJSON_AddNumberToObject(o, "offset", (double)a->pg.offset);
    cJSON_AddStringToObject(o, "stat", RATING_STAT);
    cJSON_AddStringToObject(o, "period", period_name(a->p));
    cJSON_AddStringToObject(o, "family", param_choice_value(a->family));
    cJSON_AddNumberToObject(o, "min_matches", (double)a->min_matches);
    cJSON_AddNumberToObject(o, "as_of_ms", (double)a->now_ms);
    job_answer(j, 200, o);
}

/* Step 2: the page's names. */
static void lb_names(qjob *j)
{
    size_t max = (size_t)cJSON_GetArraySize(job_rows(j, 0));
    const char **guids = max ? malloc(max * sizeof *guids) : NULL;
    if (max && !guids) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    size_t n = rows_strings(job_rows(j, 0), "guid", guids, max);
    if (n > 0) {
        sqlv v[] = {SQL_LIST("guids", guids, n)};
        job_ch(j, 2, names_sql, v, 1);
    }
    free(guids);
    job_then(j, lb_build);
}

static void lb_start(qjob *j)
{
    lb_args *a = j->args;
    char day[11];
    a->now_ms = rating_now_ms();
    period_bound(a->p, (int64_t)(a->now_ms / 1000), day, &a->from_ms);
    rating_model m = rating_served_model();
    sqlv v[] = {SQL_STR("family", param_choice_value(a->family)),
                SQL_INT("min_matches", a->min_matches),
                SQL_INT("from_ms", (long long)a->from_ms),
                SQL_INT("limit", a->pg.limit),
                SQL_INT("offset", a->pg.offset),
                SQL_INT("now_ms", (long long)a->now_ms),
                SQL_FLOAT("per_day", rating_served_per_day()),
                SQL_FLOAT("new_sigma", m.sigma)};
    job_ch(j, 1, leaderboard_count_sql, v, 3);
    if (a->count_only) {
        job_then(j, lb_build);
        return;
    }
    job_ch(j, 0, leaderboard_sql, v, 8);
    job_then(j, lb_names);
}

const endpoint rating_leaderboard_endpoint = {
    .path = "/stats/leaderboard/global?stat=rating",
    .key = "lbr",
    .args_size = sizeof(lb_args),
    .params = {{PARAM_PERIOD, "period", offsetof(lb_args, p), 0, "must be all, day, week, month or year", NULL},
               {PARAM_CHOICE, "family", offsetof(lb_args, family), 0, RATING_FAMILY_WHY, rating_default_family},
               {PARAM_PAGING, "limit", offsetof(lb_args, pg), 25, NULL, NULL},
               {PARAM_FLAG, "count_only", offsetof(lb_args, count_only), 0, NULL, NULL},
               {PARAM_SETTING, RATING_MIN_MATCHES_VAR, offsetof(lb_args, min_matches), RATING_MIN_MATCHES_DEFAULT, NULL,
                NULL, 1}},
    .start = lb_start,
};

/* {gt} of /stats/leaderboard/gametype/{gt}?stat=rating: a game type id (gametype.c's; ffa read as dm), standing for
 * the family its matches are rated in (docs/ratings.md, "Families"): ratings are per family, not per game type. */
/* The game types and their rating families, from common's one table (and "ffa", the family's own name). */
#define GT_FAMILY_CHOICE_(id, family, by_map) {id, family, NULL},
static const param_choice gt_families[] = {
    {"ffa", "ffa", NULL},
    VOCAB_GAME_TYPES(GT_FAMILY_CHOICE_, ){NULL, NULL, NULL},
};
#undef GT_FAMILY_CHOICE_

const endpoint rating_gametype_leaderboard_endpoint = {
    .path = "/stats/leaderboard/gametype/{gt}?stat=rating",
    .key = "lbrgt",
    .args_size = sizeof(lb_args),
    .params = {{.kind = PARAM_PATH_CHOICE,
                .name = "gt",
                .at = offsetof(lb_args, family),
                .why = "must be a game type id such as dm, tdm or obj",
                .choices = gt_families,
                .max = 15,
                .shown = "gametype",
                .unknown = "No rating for game type '%s': ratings are kept for dm, tdm, rb, obj, tow, lib and ctf, "
                           "per family (docs/ratings.md)."},
               {PARAM_PERIOD, "period", offsetof(lb_args, p), 0, "must be all, day, week, month or year", NULL},
               {PARAM_PAGING, "limit", offsetof(lb_args, pg), 25, NULL, NULL},
               {PARAM_FLAG, "count_only", offsetof(lb_args, count_only), 0, NULL, NULL},
               {PARAM_SETTING, RATING_MIN_MATCHES_VAR, offsetof(lb_args, min_matches), RATING_MIN_MATCHES_DEFAULT, NULL,
                NULL, 1}},
    .start = lb_start,
};
