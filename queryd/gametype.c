/* Game types: totals per type, one type's maps, its leaderboard.
 *
 * - GET /stats/gametypes: [{id, name, description, icon, map_count, total_kills, total_matches, unique_players,
 *   total_deaths}].
 * - GET /stats/gametypes/list: {gametypes:[{id, name, display_name}]}.
 * - GET /stats/gametype/{gt}: one /stats/gametypes item plus maps[{name, display_name, kills, matches}].
 * - GET /stats/leaderboard/gametype/{gt}?limit=25: {leaderboard:[{rank, id, player_id, name, player_name, kills,
 *   deaths, kd_ratio}], game_type}; with stat=rating, ratings_leaderboard.c's rating leaderboard of the type's family.
 *
 * A match's game type is decided by GAMETYPE_SQL (stats.h, docs/definitions.md): gameflow events first, then
 * the map name's prefix. Every known type is listed, with zeros when it was never played; "other" only when
 * some match is of no known type. An unknown type id is 404 (ffa is read as dm). */
#include "area.h"
#include "endpoint.h"
#include "ratings.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const endpoint *ep;
    const param_choice *gt; /* a gt_choices entry: its value is a gametypes[] id */
    long limit;
} gt_args;

static const struct {
    const char *id, *name, *description, *icon;
} gametypes[] = {
    {"dm", "Deathmatch", "Free-for-all: every player for themselves", "skull"},
    {"tdm", "Team Deathmatch", "Allies against Axis, most kills wins", "users"},
    {"rb", "Round-Based", "Team rounds without respawn", "refresh"},
    {"obj", "Objective", "Mission objectives: plant, defend, destroy", "target"},
    {"tow", "Tug of War", "Teams push a line of objectives", "flag"},
    {"lib", "Liberation", "Capture the enemy to free your own", "unlock"},
    {"ctf", "Capture the Flag", "Bring the enemy flag home", "flag"},
    {"other", "Other", "Matches of no known game type (no gameflow events, no map name)", "question"},
};

/* What {gt} accepts: the ids of gametypes[], and ffa, read as dm. */
static const param_choice gt_choices[] = {
    {"dm", NULL, NULL},  {"tdm", NULL, NULL}, {"rb", NULL, NULL},    {"obj", NULL, NULL}, {"tow", NULL, NULL},
    {"lib", NULL, NULL}, {"ctf", NULL, NULL}, {"other", NULL, NULL}, {"ffa", "dm", NULL}, {NULL, NULL, NULL},
};

/* Per match: its type, map, kills, deaths. */
// clang-format off
#define MATCHES_SQL                                                                                                 \
    "    SELECT match_key, argMaxMerge(map) AS map_name,\n"                                                         \
    "           " GAMETYPE_SQL("argMaxMerge(gt)", "map_name") " AS gametype,\n"                                     \
    "           sumMerge(kills) AS k, sumMerge(deaths) AS d\n"                                                      \
    "    FROM match_summary\n"                                                                                      \
    "    GROUP BY match_key\n"

static const char types_sql[] =
    "SELECT gametype, count() AS matches, sum(k) AS kills, sum(d) AS deaths,\n"
    "       uniqExact(map_name) AS map_count\n"
    "FROM\n"
    "(\n" MATCHES_SQL ")\n"
    "GROUP BY gametype";

/* Distinct players (not unauth_ slots) per game type: the players' matches joined to the matches' types. */
static const char type_players_sql[] =
    "SELECT gametype, uniqExact(guid) AS unique_players\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, match_key FROM player_match\n"
    "    WHERE " LISTED_PLAYER_SQL("guid") "\n"
    "    GROUP BY guid, match_key\n"
    ")\n"
    "ANY INNER JOIN\n"
    "(\n" MATCHES_SQL ") USING match_key\n"
    "GROUP BY gametype";

static const char type_maps_sql[] =
    "SELECT map_name, count() AS matches, sum(k) AS kills,\n"
    "       " MAP_DISPLAY_SQL("map_name") " AS display_name\n"
    "FROM\n"
    "(\n" MATCHES_SQL ")\n"
    "WHERE gametype = {gt}\n"
    "GROUP BY map_name\n"
    "ORDER BY matches DESC, kills DESC, map_name ASC";
// clang-format on

// clang-format off
static const char board_sql[] =
    "SELECT guid, sum(kills) AS kills, sum(deaths) AS deaths\n"
    "FROM ({facts})\n"
    "WHERE gametype = {gt}\n"
    "GROUP BY guid\n"
    "HAVING kills > 0\n"
    "ORDER BY kills DESC, deaths ASC, guid ASC\n"
    "LIMIT {limit}";
// clang-format on

/* One game type as served, with its totals from the rows (or zeros). */
static cJSON *type_json(size_t i, const cJSON *totals, const cJSON *players)
{
    const cJSON *t = rows_find(totals, "gametype", gametypes[i].id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", gametypes[i].id);
    cJSON_AddStringToObject(o, "name", gametypes[i].name);
    cJSON_AddStringToObject(o, "display_name", gametypes[i].name);
    cJSON_AddStringToObject(o, "description", gametypes[i].description);
    cJSON_AddStringToObject(o, "icon", gametypes[i].icon);
    cJSON_AddNumberToObject(o, "map_count", row_num(t, "map_count"));
    cJSON_AddNumberToObject(o, "total_kills", row_num(t, "kills"));
    cJSON_AddNumberToObject(o, "total_deaths", row_num(t, "deaths"));
    cJSON_AddNumberToObject(o, "total_matches", row_num(t, "matches"));
    cJSON_AddNumberToObject(o, "unique_players",
                            row_num(rows_find(players, "gametype", gametypes[i].id), "unique_players"));
    return o;
}

/* Index of a game type id (one of gametypes[]), or -1. */
static int type_index(const char *id)
{
    for (size_t i = 0; i < sizeof gametypes / sizeof gametypes[0]; i++)
        if (strcmp(id, gametypes[i].id) == 0)
            return (int)i;
    return -1;
}

static void list_build(qjob *j)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof gametypes / sizeof gametypes[0]; i++) {
        bool other = strcmp(gametypes[i].id, "other") == 0;
        if (other && !rows_find(job_rows(j, 0), "gametype", "other"))
            continue;
        cJSON_AddItemToArray(arr, type_json(i, job_rows(j, 0), job_rows(j, 1)));
    }
    job_answer(j, 200, arr);
}

/* GET /stats/gametypes/list: the ids and names only. A constant (no query), on the table all the same so that every
 * endpoint is served one way; cached like the others, it costs a cache lookup. */
static void names_build(qjob *j)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "gametypes");
    for (size_t i = 0; i < sizeof gametypes / sizeof gametypes[0]; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", gametypes[i].id);
        cJSON_AddStringToObject(e, "name", gametypes[i].name);
        cJSON_AddStringToObject(e, "display_name", gametypes[i].name);
        cJSON_AddItemToArray(arr, e);
    }
    job_answer(j, 200, o);
}

static void detail_build(qjob *j)
{
    gt_args *a = j->args;
    cJSON *o = type_json((size_t)type_index(param_choice_value(a->gt)), job_rows(j, 0), job_rows(j, 1));
    cJSON *maps = cJSON_AddArrayToObject(o, "maps");
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 2))
    {
        const char *m = row_str(r, "map_name");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", *m ? m : "unknown");
        cJSON_AddStringToObject(e, "display_name", row_str(r, "display_name"));
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "matches", row_num(r, "matches"));
        cJSON_AddItemToArray(maps, e);
    }
    job_answer(j, 200, o);
}

static void board_build(qjob *j)
{
    gt_args *a = j->args;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "leaderboard");
    const cJSON *r;
    int rank = 0;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        double k = row_num(r, "kills"), d = row_num(r, "deaths");
        const char *guid = row_str(r, "guid"), *name = row_str(rows_find(job_rows(j, 1), "guid", guid), "name");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", ++rank);
        cJSON_AddStringToObject(e, "id", guid);
        cJSON_AddStringToObject(e, "player_id", guid);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddStringToObject(e, "player_name", name);
        cJSON_AddNumberToObject(e, "kills", k);
        cJSON_AddNumberToObject(e, "deaths", d);
        json_add_round(e, "kd_ratio", d > 0 ? k / d : k, 2);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddStringToObject(o, "game_type", param_choice_value(a->gt));
    job_answer(j, 200, o);
}

/* Step 2 of the leaderboard: its players' names. */
static void board_names(qjob *j)
{
    const char *guids[128];
    size_t n = rows_strings(job_rows(j, 0), "guid", guids, 128);
    sqlv v[] = {SQL_LIST("guids", guids, n)};
    job_ch(j, 1, player_names_sql, v, 1);
    job_then(j, board_build);
}

/* ---- the endpoints ---- */

/* The values of one game type's queries: {gt}, {limit} asked for. */
static size_t gt_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    gt_args *a = j->args;
    out[0] = SQL_STR("gt", param_choice_value(a->gt));
    out[1] = SQL_INT("limit", a->limit);
    return 2;
}

/* The leaderboard's query: over every match's facts ({facts}, the players' but unauth_ slots). */
static void board_queue(qjob *j, int slot, const char *tmpl, long unused)
{
    (void)unused;
    sqlv fv[] = {SQL_RAW("pm_where", LISTED_PLAYER_SQL("guid")), SQL_INT("bound_ms", 0)};
    char *facts = sqlt_render(match_facts_sql, fv, 2);
    if (!facts) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[ENDPOINT_VALS + 1];
    size_t n = gt_vals(j, v);
    v[n++] = SQL_RAW("facts", facts);
    job_ch(j, slot, tmpl, v, n);
    free(facts);
}

/* {gt}: a known id in any case (ffa is dm); else 404 before any query. */
#define GT_PARAM                                                                                                       \
    {                                                                                                                  \
        .kind = PARAM_PATH_CHOICE, .name = "gt", .at = offsetof(gt_args, gt),                                          \
        .why = "must be a game type id such as dm, tdm or obj", .choices = gt_choices, .max = 15, .shown = "gametype", \
        .unknown = "Game type not found: '%s' (known: dm, tdm, rb, obj, tow, lib, ctf)."                               \
    }

static const endpoint gametype_endpoints[] = {
    {.path = "/stats/gametypes",
     .key = "gametypes",
     .queries = {{0, types_sql, NULL, 0}, {1, type_players_sql, NULL, 0}},
     .build = list_build},
    {.path = "/stats/gametypes/list", .key = "gtnames", .build = names_build},
    {.path = "/stats/gametype/{gt}",
     .key = "gametype",
     .args_size = sizeof(gt_args),
     .params = {GT_PARAM},
     .vals = gt_vals,
     .queries = {{0, types_sql, NULL, 0}, {1, type_players_sql, NULL, 0}, {2, type_maps_sql, NULL, 0}},
     .build = detail_build},
    {.path = "/stats/leaderboard/gametype/{gt}",
     .key = "gtboard",
     .args_size = sizeof(gt_args),
     .params = {GT_PARAM, {PARAM_LIMIT, "limit", offsetof(gt_args, limit), 25, NULL, NULL}},
     .vals = gt_vals,
     .queries = {{0, board_sql, board_queue, 0}},
     .build = board_names,
     /* ranked by kills; stat=rating: the rating leaderboard of the type's family (ratings_leaderboard.c) */
     .instead = {"stat", RATING_STAT, &rating_gametype_leaderboard_endpoint}},
};

void gametype_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, gametype_endpoints, sizeof gametype_endpoints / sizeof gametype_endpoints[0]);
}
