/* Ratings: what ratingd wrote into rating_changes (docs/ratings.md), served.
 *
 * | route                                      | params                                   | answer                  |
 * |--------------------------------------------|------------------------------------------|-------------------------|
 * | GET /stats/leaderboard/global?stat=rating  | family, period, limit, offset, page,     | {players[{rank, guid,   |
 * | (also /stats/leaderboard/rating, ...)      | count_only                               | mu, sigma, ...}], total}|
 * | GET /stats/leaderboard/gametype/{gt}       | the same, the family {gt}'s              | the same                |
 * |     ?stat=rating                           |                                          |                         |
 * | GET /stats/player/{guid}/ratings           | family, limit                            | {guid, points[], total} |
 * | GET /stats/match/{id}/ratings              | -                                        | {rated, reason, teams[],|
 * | GET /stats/match/{id}/predictions          | -                                        | players[], skipped[]}   |
 * | GET /stats/team/{id}/rating                | family, vs (another team's id)           | {mu, sigma, members[],  |
 * |                                            |                                          | opponent, win_prob}     |
 *
 * The profile's "ratings" and the predictions' "win_prob" are built in player.c and player_trends.c with the helpers
 * here (ratings.h). The routes are registered by player.c's, match.c's and global.c's tables (their paths are
 * theirs) and leaderboard.c hands stat=rating here.
 *
 * A rating is a current value: a player's latest 'player' row per family in rating order (end_ms, match_key), read
 * with argMax (duplicate rows of a repeated insert are equal, so argMax needs no FINAL; counts use uniqExact or
 * FINAL). Freshness: ratingd adds an entry to the freshness stream (common/fresh_stream.h) after each insert, so an
 * answer carrying a rating is cached like any other (QUERY_CACHE_TTL_S, under its data generation, fresh.h) and a
 * new rating is served within the same bound as a new event: about 0.5 s after ratingd's insert, itself about
 * RATING_SETTLE_MS (2 s) after the match's end. */
#include "ratings.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "endpoint.h"
#include "rating.h"
#include "rating_settings.h"
#include "stats.h"

/* The setting of the rating leaderboard's threshold, and its default (the text and the number). */
#define MIN_MATCHES_VAR "QUERY_RATING_MIN_MATCHES"
#define MIN_MATCHES_DEFAULT 10

const config_var rating_config_vars[] = {
    {MIN_MATCHES_VAR, "10",
     "rated matches a player needs in a family to be on its rating leaderboard: fewer leave the rating too uncertain "
     "to rank"},
    {NULL, NULL, NULL},
};

#define DEFAULT_FAMILY "team"
/* The families in the order they are served (ratingd/facts.c names them): what ?family= accepts, after what an
 * absent one means (its name "", which no value given equals): every family, or DEFAULT_FAMILY. */
#define FAMILY_CHOICES                                                                                                 \
    {"ffa", NULL, NULL}, {"team", NULL, NULL}, {"objective", NULL, NULL}, {NULL, NULL, NULL}
#define FAMILY_WHY "must be ffa, team or objective (the game mode families of docs/ratings.md)"
static const param_choice any_family[] = {{"", "all", NULL}, FAMILY_CHOICES};
static const param_choice default_family[] = {{"", DEFAULT_FAMILY, NULL}, FAMILY_CHOICES};
static const param_choice *const families = any_family + 1;
/* any_family's entries but the absent one and the end. */
#define NFAMILIES (sizeof any_family / sizeof any_family[0] - 2)

#define HISTORY_DEFAULT_LIMIT 200
/* A chart's points are small: more than QUERY_MAX_LIMIT rows of a list, so that a year of play fits one answer. */
#define HISTORY_MAX_LIMIT 1000

/* QUERY_RATING_MIN_MATCHES, at least 1. */
static long min_matches(void)
{
    long long n = config_get_int(MIN_MATCHES_VAR, MIN_MATCHES_DEFAULT);
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

/* The model to predict with; OpenSkill's defaults only before rating_settings_load ran (main.c runs it before
 * serving anything). */
static rating_model served_model(void)
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
    rating_model m = served_model();
    if (!row) {
        rating_new_player(mu, sigma);
        return;
    }
    double last = row_num(row, "last_ms");
    *mu = row_num(row, "mu");
    *sigma = rating_sigma_at(&m, row_num(row, "sigma"), last > 0 ? (uint64_t)last : 0, now_ms, served_per_day);
}

/* rating_served as a rating. */
static rating served_rating(const cJSON *row, uint64_t now_ms)
{
    rating r;
    rating_served(row, now_ms, &r.mu, &r.sigma);
    return r;
}

void rating_new_player(double *mu, double *sigma)
{
    rating_model m = served_model();
    rating r = rating_new(&m);
    *mu = r.mu;
    *sigma = r.sigma;
}

double rating_duel_win_prob(double mu_a, double sigma_a, double mu_b, double sigma_b)
{
    rating_model m = served_model();
    rating_player a = {.r = {mu_a, sigma_a}, .weight = 1}, b = {.r = {mu_b, sigma_b}, .weight = 1};
    rating_team teams[2] = {{.players = &a, .nplayers = 1, .rank = 1}, {.players = &b, .nplayers = 1, .rank = 2}};
    double p[2];
    rating_win_probabilities(&m, teams, 2, p);
    return p[0];
}

/* The family named by the URL's "family" into out; def when absent. Returns false (after answering 400) when it
 * names none. */
static bool family_param(http_request *req, const char *def, const char **out)
{
    const char *f = http_request_query(req, "family");
    if (!f || !*f) {
        *out = def;
        return true;
    }
    for (size_t i = 0; i < NFAMILIES; i++)
        if (strcmp(f, families[i].name) == 0) {
            *out = families[i].name;
            return true;
        }
    respond_bad_param(req, "family", FAMILY_WHY);
    return false;
}

/* ---- SQL ---- */

/* Every player's current rating in one family, with their rated matches and latest rated match; only those with
 * at least {min_matches} and a rated match since {from_ms} (a period), and listed (not hidden by the operator). */
#define RATED_PLAYERS_SQL                                                                                              \
    "SELECT guid, argMax(mu_after, o) AS mu, argMax(sigma_after, o) AS sigma,\n"                                       \
    "       uniqExact(match_key) AS matches, max(end_ms) AS last_ms\n"                                                 \
    "FROM\n"                                                                                                           \
    "(\n"                                                                                                              \
    "    SELECT guid, match_key, mu_after, sigma_after, end_ms, tuple(end_ms, match_key) AS o\n"                       \
    "    FROM rating_changes\n"                                                                                        \
    "    WHERE kind = 'player' AND family = {family} AND " LISTED_PLAYER_SQL("guid") "\n"                              \
    ")\n"                                                                                                              \
    "GROUP BY guid\n"                                                                                                  \
    "HAVING matches >= {min_matches} AND last_ms >= {from_ms}\n"

/* The served sigma of a RATED_PLAYERS_SQL row at {now_ms}: rating_sigma_at's rule (common/rating.c), in the same
 * order of operations, so that the page's order is the order of the ordinals served (rating_served): sigma widened
 * by {per_day}^2 a day since last_ms, never beyond a new player's {new_sigma} (nor below its own). */
#define SERVED_SIGMA_SQL                                                                                               \
    "least(sqrt(sigma * sigma + {per_day} * {per_day} * (greatest(toInt64({now_ms}) - toInt64(last_ms), 0) / "     \
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
    "SELECT guid, argMax(name, last_ms) AS name\n"
    "FROM player_names\n"
    "WHERE guid IN {guids}\n"
    "GROUP BY guid";
// clang-format on

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

/* A player's rated matches, newest first ({all} = 1: every family). FINAL: a repeated insert is one point. */
// clang-format off
static const char history_sql[] =
    "SELECT match_key, end_ms, family, game_type, team, place, weight, mu_before, sigma_before,\n"
    "       mu_after, sigma_after, win_prob\n"
    "FROM rating_changes FINAL\n"
    "WHERE guid = {guid} AND kind = 'player' AND ({all} = 1 OR family = {family})\n"
    "ORDER BY end_ms DESC, match_key DESC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char history_count_sql[] =
    "SELECT uniqExact(match_key) AS total, max(end_ms) AS last_ms\n"
    "FROM rating_changes\n"
    "WHERE guid = {guid} AND kind = 'player' AND ({all} = 1 OR family = {family})";
// clang-format on

// clang-format off
static const char known_sql[] =
    "SELECT max(last_ms) AS seen_ms\n"
    "FROM player_names\n"
    "WHERE guid = {guid}";
// clang-format on

/* A match's rows, from ratingd's copy of rating_changes ordered by match (0006_rating_changes_by_match.sql): one
 * range of its index, not a scan of every rating. */
// clang-format off
static const char match_rows_sql[] =
    "SELECT guid, kind, end_ms, family, game_type, rated, reason, team, place, weight,\n"
    "       mu_before, sigma_before, mu_after, sigma_after, win_prob\n"
    "FROM rating_changes_by_match FINAL\n"
    "WHERE match_key = {id}\n"
    "ORDER BY kind ASC, place ASC, team ASC, guid ASC";
// clang-format on

// clang-format off
static const char match_names_sql[] =
    "SELECT guid, argMax(name, last_ms) AS name\n"
    "FROM player_names\n"
    "WHERE guid IN (SELECT guid FROM rating_changes_by_match WHERE match_key = {id} AND guid != '')\n"
    "GROUP BY guid";
// clang-format on

// clang-format off
static const char match_known_sql[] =
    "SELECT minMerge(first_ms) AS first_ms\n"
    "FROM match_summary\n"
    "WHERE match_key = {id}";
// clang-format on

/* The name of guid in names rows ({guid, name}), or "Unknown Soldier". */
static const char *name_of(const cJSON *names, const char *guid)
{
    const char *n = row_str(rows_find(names, "guid", guid), "name");
    return *n ? n : "Unknown Soldier";
}

/* mu, sigma and the conservative estimate, at full precision: the numbers ratingd stored, so that a client (and
 * the tests) can compare them with rating_changes. */
static void add_rating(cJSON *o, const char *prefix, double mu, double sigma)
{
    char k[32];
    snprintf(k, sizeof k, "%smu", prefix);
    cJSON_AddNumberToObject(o, k, mu);
    snprintf(k, sizeof k, "%ssigma", prefix);
    cJSON_AddNumberToObject(o, k, sigma);
    snprintf(k, sizeof k, "%sordinal", prefix);
    cJSON_AddNumberToObject(o, k, rating_ordinal((rating){mu, sigma}));
}

/* ---- the rating leaderboard ---- */

typedef struct {
    const endpoint *ep;
    period p;
    const param_choice *family; /* a default_family entry */
    paging pg;
    bool count_only;
    long min_matches;  /* QUERY_RATING_MIN_MATCHES */
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
        const char *guid = row_str(r, "guid"), *name = name_of(names, guid);
        rating served_r = served_rating(r, a->now_ms);
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
        add_rating(p, "", mu, sigma);
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
    rating_model m = served_model();
    sqlv v[] = {SQL_STR("family", param_choice_value(a->family)), SQL_INT("min_matches", a->min_matches),
                SQL_INT("from_ms", (long long)a->from_ms), SQL_INT("limit", a->pg.limit),
                SQL_INT("offset", a->pg.offset), SQL_INT("now_ms", (long long)a->now_ms),
                SQL_FLOAT("per_day", served_per_day), SQL_FLOAT("new_sigma", m.sigma)};
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
               {PARAM_CHOICE, "family", offsetof(lb_args, family), 0, FAMILY_WHY, default_family},
               {PARAM_PAGING, "limit", offsetof(lb_args, pg), 25, NULL, NULL},
               {PARAM_FLAG, "count_only", offsetof(lb_args, count_only), 0, NULL, NULL},
               {PARAM_SETTING, MIN_MATCHES_VAR, offsetof(lb_args, min_matches), MIN_MATCHES_DEFAULT, NULL, NULL, 1}},
    .start = lb_start,
};

/* {gt} of /stats/leaderboard/gametype/{gt}?stat=rating: a game type id (gametype.c's; ffa read as dm), standing for
 * the family its matches are rated in (docs/ratings.md, "Families"): ratings are per family, not per game type. */
static const param_choice gt_families[] = {
    {"dm", "ffa", NULL},        {"ffa", "ffa", NULL},       {"tdm", "team", NULL},      {"rb", "objective", NULL},
    {"obj", "objective", NULL}, {"tow", "objective", NULL}, {"lib", "objective", NULL}, {"ctf", "objective", NULL},
    {NULL, NULL, NULL},
};

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
               {PARAM_SETTING, MIN_MATCHES_VAR, offsetof(lb_args, min_matches), MIN_MATCHES_DEFAULT, NULL, NULL, 1}},
    .start = lb_start,
};

/* ---- a player's current ratings ---- */

void rating_job_current(qjob *j, int slot, const char *guid)
{
    sqlv v[] = {SQL_STR("guid", guid)};
    job_ch(j, slot, current_sql, v, 1);
}

cJSON *rating_family_json(const cJSON *rows, const char *family, uint64_t now_ms)
{
    const cJSON *r = rows_find(rows, "family", family);
    rating served_r = served_rating(r, now_ms);
    double matches = row_num(r, "matches");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "family", family);
    add_rating(o, "", served_r.mu, served_r.sigma);
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
    for (size_t i = 0; i < NFAMILIES; i++)
        cJSON_AddItemToObject(o, families[i].name, rating_family_json(rows, families[i].name, now_ms));
    return o;
}

const char *rating_main_family(const cJSON *rows)
{
    const char *best = DEFAULT_FAMILY;
    double most = 0;
    for (size_t i = 0; i < NFAMILIES; i++) {
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

/* ---- GET /stats/player/{guid}/ratings ---- */

typedef struct {
    const endpoint *ep;
    char guid[IDENT_MAX + 1];
    const param_choice *family; /* an any_family entry: its value "all", or one family */
    long limit;
} history_args;

static void history_build(qjob *j)
{
    history_args *a = j->args;
    const cJSON *rows = job_rows(j, 0);
    if (cJSON_GetArraySize(rows) == 0 && row_num(job_row(j, 2), "seen_ms") <= 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Player not found: no events for GUID '%.64s'.", a->guid);
        job_error(j, 404, msg);
        return;
    }
    cJSON *points = cJSON_CreateArray();
    /* Oldest first, as a chart draws them: the rows are the newest {limit}, newest first. */
    for (int i = cJSON_GetArraySize(rows) - 1; i >= 0; i--) {
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        double end_ms = row_num(r, "end_ms"), place = row_num(r, "place");
        double mu0 = row_num(r, "mu_before"), s0 = row_num(r, "sigma_before");
        double mu1 = row_num(r, "mu_after"), s1 = row_num(r, "sigma_after");
        char iso[32];
        iso_time((uint64_t)end_ms, iso);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "match_id", row_str(r, "match_key"));
        cJSON_AddNumberToObject(p, "ended_at", floor(end_ms / 1000));
        cJSON_AddStringToObject(p, "date", iso);
        cJSON_AddStringToObject(p, "family", row_str(r, "family"));
        cJSON_AddStringToObject(p, "game_type", row_str(r, "game_type"));
        cJSON_AddStringToObject(p, "team", row_str(r, "team"));
        cJSON_AddNumberToObject(p, "place", place);
        cJSON_AddBoolToObject(p, "won", place == 1);
        cJSON_AddNumberToObject(p, "weight", row_num(r, "weight"));
        cJSON_AddNumberToObject(p, "win_prob", row_num(r, "win_prob"));
        add_rating(p, "", mu1, s1);
        add_rating(p, "before_", mu0, s0);
        cJSON_AddNumberToObject(p, "mu_change", mu1 - mu0);
        cJSON_AddNumberToObject(p, "ordinal_change",
                                rating_ordinal((rating){mu1, s1}) - rating_ordinal((rating){mu0, s0}));
        cJSON_AddItemToArray(points, p);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "guid", a->guid);
    cJSON_AddStringToObject(o, "family", param_choice_value(a->family));
    cJSON_AddItemToObject(o, "points", points);
    cJSON_AddNumberToObject(o, "total", row_num(job_row(j, 1), "total"));
    cJSON_AddNumberToObject(o, "limit", (double)a->limit);
    job_answer(j, 200, o);
}

/* The values of the history's queries: {guid}, {all} 1 for every family, else {family}, {limit} asked for. */
static size_t history_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    history_args *a = j->args;
    bool all = a->family == any_family;
    out[0] = SQL_STR("guid", a->guid);
    out[1] = SQL_INT("all", all);
    out[2] = SQL_STR("family", all ? "" : a->family->name);
    out[3] = SQL_INT("limit", a->limit);
    return 4;
}

const endpoint rating_player_endpoints[] = {
    {.path = "/stats/player/{guid}/ratings",
     .key = "pr",
     .args_size = sizeof(history_args),
     .params = {{PARAM_IDENT, "guid", offsetof(history_args, guid), 0, "must be 1 to 64 printable bytes", NULL},
                {PARAM_CHOICE, "family", offsetof(history_args, family), 0, FAMILY_WHY, any_family},
                {PARAM_NUMBER, "limit", offsetof(history_args, limit), HISTORY_DEFAULT_LIMIT, NULL, NULL, 1,
                 HISTORY_MAX_LIMIT}},
     .vals = history_vals,
     .queries = {{0, history_sql, NULL, 0}, {1, history_count_sql, NULL, 0}, {2, known_sql, NULL, 0}},
     .build = history_build},
};
const size_t rating_player_endpoints_n = sizeof rating_player_endpoints / sizeof rating_player_endpoints[0];

/* ---- GET /stats/match/{id}/ratings (and /predictions) ---- */

typedef struct {
    const endpoint *ep;
    char id[IDENT_MAX + 1];
} match_args;

/* The sides of a rated match: one per team (per player in free-for-all, whose team is ''), with the chance it had
 * to win before the match (every player of a side carries the side's), its place and its players' mean prior. */
static cJSON *match_sides_json(const cJSON *players)
{
    cJSON *sides = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, players)
    {
        const char *team = row_str(r, "team"), *guid = row_str(r, "guid");
        /* Team games: the side of that team, once seen; free-for-all: a side of its own. */
        cJSON *side = NULL, *s;
        if (*team) {
            cJSON_ArrayForEach(s, sides)
            {
                if (strcmp(row_str(s, "team"), team) == 0)
                    side = s;
            }
        }
        if (!side) {
            side = cJSON_CreateObject();
            cJSON_AddStringToObject(side, "team", team);
            if (!*team)
                cJSON_AddStringToObject(side, "guid", guid);
            cJSON_AddNumberToObject(side, "place", row_num(r, "place"));
            cJSON_AddBoolToObject(side, "won", row_num(r, "place") == 1);
            cJSON_AddNumberToObject(side, "win_prob", row_num(r, "win_prob"));
            cJSON_AddNumberToObject(side, "players", 0);
            cJSON_AddNumberToObject(side, "mu_before_mean", 0);
            cJSON_AddItemToArray(sides, side);
        }
        cJSON *n = cJSON_GetObjectItem(side, "players"), *m = cJSON_GetObjectItem(side, "mu_before_mean");
        double k = n->valuedouble;
        cJSON_SetNumberValue(m, (m->valuedouble * k + row_num(r, "mu_before")) / (k + 1));
        cJSON_SetNumberValue(n, k + 1);
    }
    return sides;
}

static void match_build(qjob *j)
{
    match_args *a = j->args;
    const cJSON *rows = job_rows(j, 0), *names = job_rows(j, 1), *r;
    const cJSON *head = rows_find(rows, "kind", "match");
    if (!head && row_num(job_row(j, 2), "first_ms") <= 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Match not found: '%.64s'.", a->id);
        job_error(j, 404, msg);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "match_id", a->id);
    if (!head) {
        /* Played, not finished or not rated yet: ratingd rates a match RATING_SETTLE_MS after its match_end. */
        cJSON_AddBoolToObject(o, "rated", false);
        cJSON_AddStringToObject(o, "status", "pending");
        cJSON_AddStringToObject(o, "reason", "not rated yet: the match has not ended, or ended moments ago");
    } else {
        bool rated = row_num(head, "rated") > 0;
        cJSON_AddBoolToObject(o, "rated", rated);
        cJSON_AddStringToObject(o, "status", rated ? "rated" : "not_rated");
        cJSON_AddStringToObject(o, "reason", row_str(head, "reason"));
        cJSON_AddStringToObject(o, "family", row_str(head, "family"));
        cJSON_AddStringToObject(o, "game_type", row_str(head, "game_type"));
        cJSON_AddNumberToObject(o, "ended_at", floor(row_num(head, "end_ms") / 1000));
    }
    cJSON *players_rows = cJSON_CreateArray(), *players = cJSON_CreateArray(), *skipped = cJSON_CreateArray();
    cJSON_ArrayForEach(r, rows)
    {
        const char *kind = row_str(r, "kind"), *guid = row_str(r, "guid");
        if (strcmp(kind, "skipped") == 0) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "guid", guid);
            cJSON_AddStringToObject(s, "name", name_of(names, guid));
            cJSON_AddStringToObject(s, "reason", row_str(r, "reason"));
            cJSON_AddItemToArray(skipped, s);
            continue;
        }
        if (strcmp(kind, "player") != 0)
            continue;
        cJSON_AddItemReferenceToArray(players_rows, (cJSON *)r);
        double mu0 = row_num(r, "mu_before"), s0 = row_num(r, "sigma_before");
        double mu1 = row_num(r, "mu_after"), s1 = row_num(r, "sigma_after");
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "player_id", guid);
        cJSON_AddStringToObject(p, "name", name_of(names, guid));
        cJSON_AddStringToObject(p, "team", row_str(r, "team"));
        cJSON_AddNumberToObject(p, "place", row_num(r, "place"));
        cJSON_AddBoolToObject(p, "won", row_num(r, "place") == 1);
        cJSON_AddNumberToObject(p, "weight", row_num(r, "weight"));
        cJSON_AddNumberToObject(p, "win_prob", row_num(r, "win_prob"));
        add_rating(p, "before_", mu0, s0);
        add_rating(p, "", mu1, s1);
        cJSON_AddNumberToObject(p, "mu_change", mu1 - mu0);
        cJSON_AddNumberToObject(p, "ordinal_change",
                                rating_ordinal((rating){mu1, s1}) - rating_ordinal((rating){mu0, s0}));
        cJSON_AddItemToArray(players, p);
    }
    cJSON_AddItemToObject(o, "teams", match_sides_json(players_rows));
    cJSON_Delete(players_rows);
    cJSON_AddItemToObject(o, "players", players);
    cJSON_AddItemToObject(o, "skipped", skipped);
    job_answer(j, 200, o);
}

/* The values of a match's queries: {id}. */
static size_t match_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    match_args *a = j->args;
    out[0] = SQL_STR("id", a->id);
    return 1;
}

/* A match's ratings, at two paths. */
#define MATCH_RATINGS(p)                                                                                               \
    {.path = p,                                                                                                        \
     .key = "mr",                                                                                                      \
     .args_size = sizeof(match_args),                                                                                  \
     .params = {{PARAM_IDENT, "id", offsetof(match_args, id), 0, "must be a match id of 1 to 64 printable bytes",      \
                 NULL}},                                                                                               \
     .vals = match_vals,                                                                                               \
     .queries = {{0, match_rows_sql, NULL, 0}, {1, match_names_sql, NULL, 0}, {2, match_known_sql, NULL, 0}},          \
     .build = match_build}

const endpoint rating_match_endpoints[] = {
    MATCH_RATINGS("/stats/match/{id}/ratings"),
    MATCH_RATINGS("/stats/match/{id}/predictions"),
};
const size_t rating_match_endpoints_n = sizeof rating_match_endpoints / sizeof rating_match_endpoints[0];

/* ---- GET /stats/team/{id}/rating: a forum team (docs/tournaments.md) by its members' ratings ---- */

/* The teams' active members and every GUID each has linked; a member without one has player_guid ''. */
// clang-format off
static const char team_members_sql[] =
    "SELECT t.id_team, t.team_name, t.team_tag, m.id_member, COALESCE(i.player_guid, '') AS player_guid\n"
    "FROM {p}mohaa_teams AS t\n"
    "LEFT JOIN {p}mohaa_team_members AS m ON m.id_team = t.id_team AND m.status = 'active'\n"
    "LEFT JOIN {p}mohaa_identities AS i ON i.id_member = m.id_member AND i.player_guid != ''\n"
    "WHERE t.id_team IN (?, ?)\n"
    "ORDER BY t.id_team, m.id_member, i.player_guid";
// clang-format on

typedef struct {
    long id, vs; /* vs: 0 when no opponent was asked for */
    const char *family;
} team_args;

/* One member's rating: of the GUIDs the member linked, the one with the most rated matches in the family (a member
 * may have played under several; ties: the first GUID in order). */
typedef struct {
    double member_id;
    const char *guid; /* "" when none is rated */
    rating_member rating;
} team_member;

/* The members of team id from the MariaDB rows (ordered by team, then member), each with their rating (guid ""
 * when none of theirs is rated). Returns how many, at most max. */
static size_t team_members_of(const cJSON *members, const cJSON *ratings, long id, uint64_t now_ms, team_member *out,
                              size_t max)
{
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, members)
    {
        if (row_num(r, "id_team") != (double)id || row_num(r, "id_member") <= 0)
            continue;
        double member = row_num(r, "id_member");
        team_member *m = n > 0 && out[n - 1].member_id == member ? &out[n - 1] : NULL;
        if (!m) {
            if (n == max)
                break;
            m = &out[n++];
            *m = (team_member){.member_id = member, .guid = ""};
        }
        const cJSON *rated = rows_find(ratings, "guid", row_str(r, "player_guid"));
        if (rated && rating_member_offer(&m->rating, served_rating(rated, now_ms), row_num(rated, "matches")))
            m->guid = row_str(rated, "guid");
    }
    return n;
}

#define TEAM_MAX_MEMBERS RATING_TEAM_MAX_MEMBERS

/* The first row of team id, or NULL: the team does not exist. */
static const cJSON *team_row(const cJSON *members, long id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, members)
    {
        if (row_num(r, "id_team") == (double)id)
            return r;
    }
    return NULL;
}

/* A team as served, and its rated members as a team of the model (players[] of at least TEAM_MAX_MEMBERS). The
 * team's rating is rating_team_mean's, the one achievd writes into the forum on its scale (forum_rating). */
static cJSON *team_json(const cJSON *members, const cJSON *ratings, long id, uint64_t now_ms, rating_player *players,
                        size_t *nrated)
{
    const cJSON *head = team_row(members, id);
    team_member ms[TEAM_MAX_MEMBERS];
    size_t n = team_members_of(members, ratings, id, now_ms, ms, TEAM_MAX_MEMBERS);
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "team_id", (double)id);
    cJSON_AddStringToObject(o, "team_name", row_str(head, "team_name"));
    cJSON_AddStringToObject(o, "team_tag", row_str(head, "team_tag"));
    rating_member rms[TEAM_MAX_MEMBERS];
    *nrated = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        bool rated = *ms[i].guid != '\0';
        rms[i] = ms[i].rating;
        cJSON_AddNumberToObject(m, "member_id", ms[i].member_id);
        cJSON_AddStringToObject(m, "guid", ms[i].guid);
        cJSON_AddBoolToObject(m, "rated", rated);
        if (rated) {
            add_rating(m, "", ms[i].rating.r.mu, ms[i].rating.r.sigma);
            cJSON_AddNumberToObject(m, "rated_matches", ms[i].rating.matches);
            players[(*nrated)++] = (rating_player){.r = ms[i].rating.r, .weight = 1};
        }
        cJSON_AddItemToArray(list, m);
    }
    cJSON_AddNumberToObject(o, "members_count", (double)n);
    cJSON_AddNumberToObject(o, "rated_members", (double)*nrated);
    rating team;
    if (rating_team_mean(rms, n, &team)) {
        add_rating(o, "", team.mu, team.sigma);
        rating_model model = served_model();
        cJSON_AddNumberToObject(o, "forum_rating", rating_forum_points(&model, team));
    } else {
        cJSON_AddNullToObject(o, "mu");
        cJSON_AddNullToObject(o, "sigma");
        cJSON_AddNullToObject(o, "ordinal");
        cJSON_AddNullToObject(o, "forum_rating");
    }
    cJSON_AddItemToObject(o, "members", list);
    return o;
}

static void team_build(qjob *j)
{
    team_args *a = j->args;
    const cJSON *members = job_rows(j, 0), *ratings = job_rows(j, 1);
    long missing = !team_row(members, a->id) ? a->id : a->vs && !team_row(members, a->vs) ? a->vs : 0;
    if (missing) {
        char msg[96];
        snprintf(msg, sizeof msg, "Team not found: no forum team %ld.", missing);
        job_error(j, 404, msg);
        return;
    }
    rating_player mine[TEAM_MAX_MEMBERS], theirs[TEAM_MAX_MEMBERS];
    size_t nmine, ntheirs = 0;
    uint64_t now_ms = rating_now_ms();
    cJSON *o = team_json(members, ratings, a->id, now_ms, mine, &nmine);
    cJSON_AddStringToObject(o, "family", a->family);
    cJSON_AddNumberToObject(o, "as_of_ms", (double)now_ms);
    if (a->vs) {
        cJSON_AddItemToObject(o, "opponent", team_json(members, ratings, a->vs, now_ms, theirs, &ntheirs));
        if (nmine > 0 && ntheirs > 0) {
            /* The chance of this team against the other, the model's prediction for a match of their rated members
             * (as ratingd predicts a match's sides: rating_win_probabilities). */
            rating_model m = served_model();
            rating_team teams[2] = {{.players = mine, .nplayers = nmine, .rank = 1},
                                    {.players = theirs, .nplayers = ntheirs, .rank = 2}};
            double p[2];
            rating_win_probabilities(&m, teams, 2, p);
            cJSON_AddNumberToObject(o, "win_prob", p[0]);
        } else {
            cJSON_AddNullToObject(o, "win_prob");
        }
    }
    job_answer(j, 200, o);
}

/* Step 2: the ratings of every GUID the members linked. */
static void team_ratings(qjob *j)
{
    team_args *a = j->args;
    size_t max = (size_t)cJSON_GetArraySize(job_rows(j, 0));
    const char **guids = max ? malloc(max * sizeof *guids) : NULL;
    if (max && !guids) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        const char *g = row_str(r, "player_guid");
        if (*g)
            guids[n++] = g;
    }
    if (n > 0)
        rating_job_players(j, 1, a->family, guids, n);
    free(guids);
    job_then(j, team_build);
}

static void team_start(qjob *j)
{
    team_args *a = j->args;
    char *sql = smf_sql(j->q, team_members_sql);
    if (!sql) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    char id[24], vs[24];
    snprintf(id, sizeof id, "%ld", a->id);
    snprintf(vs, sizeof vs, "%ld", a->vs ? a->vs : a->id);
    const char *params[] = {id, vs};
    job_mdb(j, 0, sql, 2, params, "id_team,id_member");
    free(sql);
    job_then(j, team_ratings);
}

void rating_forum_team(http_request *req, void *arg)
{
    queryd *q = arg;
    long id = param_long_parse(http_request_param(req, "id"), -1, -1, 2147483647L);
    if (id <= 0) {
        respond_bad_param(req, "id", "must be a forum team id (a positive number)");
        return;
    }
    const char *vs_text = http_request_query(req, "vs");
    long vs = vs_text && *vs_text ? param_long_parse(vs_text, -1, -1, 2147483647L) : 0;
    if ((vs_text && *vs_text && vs <= 0) || vs == id) {
        respond_bad_param(req, "vs", "must be another forum team's id (a positive number)");
        return;
    }
    const char *family;
    /* the family achievd rates forum teams in, so that the default answer's forum_rating is the forum's */
    if (!family_param(req, RATING_TEAM_FAMILY, &family))
        return;
    team_args *a = ARGS_NEW(team_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->id = id;
    a->vs = vs;
    a->family = family;
    char key[96];
    snprintf(key, sizeof key, "tr:%ld:%ld:%s", id, vs, family);
    qcache_serve(q->cache, req, key, q->cache_ttl_s, team_start, a, free);
}
