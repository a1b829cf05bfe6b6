/* A match's ratings: its sides, with the chance each had before the match, and each player's rating before and
 * after (or why the match was not rated, or not yet).
 *
 * | route                                      | params                                   | answer                  |
 * |--------------------------------------------|------------------------------------------|-------------------------|
 * | GET /stats/match/{id}/ratings              | -                                        | {rated, reason, teams[],|
 * | GET /stats/match/{id}/predictions          | -                                        | players[], skipped[]}   |
 *
 * The routes are match.c's (its table registers rating_match_endpoints). */
#include "ratings.h"
#include "ratings_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"

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
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
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
            cJSON_AddStringToObject(s, "name", rating_player_name(names, guid));
            cJSON_AddStringToObject(s, "reason", row_str(r, "reason"));
            cJSON_AddItemToArray(skipped, s);
            continue;
        }
        if (strcmp(kind, "player") != 0)
            continue;
        cJSON_AddItemReferenceToArray(players_rows, (cJSON *)r);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "player_id", guid);
        cJSON_AddStringToObject(p, "name", rating_player_name(names, guid));
        rating_change_json_add(p, r);
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
    {                                                                                                                  \
        .path = p, .key = "mr", .args_size = sizeof(match_args),                                                       \
        .params = {{PARAM_IDENT, "id", offsetof(match_args, id), 0, "must be a match id of 1 to 64 printable bytes",   \
                    NULL}},                                                                                            \
        .vals = match_vals,                                                                                            \
        .queries = {{0, match_rows_sql, NULL, 0}, {1, match_names_sql, NULL, 0}, {2, match_known_sql, NULL, 0}},       \
        .build = match_build                                                                                           \
    }

const endpoint rating_match_endpoints[] = {
    MATCH_RATINGS("/stats/match/{id}/ratings"),
    MATCH_RATINGS("/stats/match/{id}/predictions"),
};
const size_t rating_match_endpoints_n = sizeof rating_match_endpoints / sizeof rating_match_endpoints[0];
