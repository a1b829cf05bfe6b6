/* A player's rating history: the rated matches of one family or all, each with the rating before and after.
 *
 * | route                                      | params                                   | answer                  |
 * |--------------------------------------------|------------------------------------------|-------------------------|
 * | GET /stats/player/{guid}/ratings           | family, limit                            | {guid, points[], total} |
 *
 * The route is player.c's (its table registers rating_player_endpoints). */
#include "ratings.h"
#include "ratings_int.h"

#include <math.h>
#include <stdio.h>

#include "stats.h"

#define HISTORY_DEFAULT_LIMIT 200
/* A chart's points are small: more than QUERY_MAX_LIMIT rows of a list, so that a year of play fits one answer. */
#define HISTORY_MAX_LIMIT 1000

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

typedef struct {
    const endpoint *ep;
    char guid[IDENT_MAX + 1];
    const param_choice *family; /* a rating_any_family entry: its value "all", or one family */
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
        double end_ms = row_num(r, "end_ms");
        char iso[32];
        iso_time((uint64_t)end_ms, iso);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "match_id", row_str(r, "match_key"));
        cJSON_AddNumberToObject(p, "ended_at", floor(end_ms / 1000));
        cJSON_AddStringToObject(p, "date", iso);
        cJSON_AddStringToObject(p, "family", row_str(r, "family"));
        cJSON_AddStringToObject(p, "game_type", row_str(r, "game_type"));
        rating_change_json_add(p, r);
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
    bool all = a->family == rating_any_family;
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
                {PARAM_CHOICE, "family", offsetof(history_args, family), 0, RATING_FAMILY_WHY, rating_any_family},
                {PARAM_NUMBER, "limit", offsetof(history_args, limit), HISTORY_DEFAULT_LIMIT, NULL, NULL, 1,
                 HISTORY_MAX_LIMIT}},
     .vals = history_vals,
     .queries = {{0, history_sql, NULL, 0}, {1, history_count_sql, NULL, 0}, {2, known_sql, NULL, 0}},
     .build = history_build},
};
const size_t rating_player_endpoints_n = sizeof rating_player_endpoints / sizeof rating_player_endpoints[0];
