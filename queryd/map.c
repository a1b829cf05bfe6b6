/* Maps: the list with totals, popularity, one map's detail and its leaderboard.
 *
 * - GET /stats/maps: [{name, map_name, display_name, total_kills, total_matches, matches_played, unique_players,
 *   avg_playtime, ...}].
 * - GET /stats/maps/list: same.
 * - GET /stats/maps/popularity: [{map_name, matches_played, kills}].
 * - GET /stats/server/maps: same as popularity, top 10.
 * - GET /stats/map/{map}: {name, map_name, display_name, total_kills, total_matches, total_playtime, unique_players,
 *   top_players, heatmap_data{kills, deaths}}.
 * - GET /stats/leaderboard/map/{map}?limit=25: {leaderboard:[{rank, player_id, player_name, kills, deaths, kd_ratio,
 *   headshots}], map}.
 * - GET /stats/map/{map}/leaderboard?limit=25: same.
 *
 * A map's numbers are its matches' (match_summary: a match's map is the last one its events named); "unknown"
 * stands for the matches of trackers that send no map. An unknown map is 404. */
#include "area.h"
#include "endpoint.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const endpoint *ep; /* its part: "popularity" for the short rows of the lists */
    char map[IDENT_MAX + 1];
    long limit;
} map_args;

/* Per map: matches, kills, durations. {having} selects maps (by map_name, '' for unknown). */
// clang-format off
static const char maps_sql[] =
    "SELECT map_name, count() AS matches, sum(k) AS kills, sum(d) AS deaths, sum(h) AS headshots,\n"
    "       sum(dur) AS total_s, avg(dur) AS avg_s, max(last) AS last_ms,\n"
    "       " MAP_DISPLAY_SQL("map_name") " AS display_name\n"
    "FROM\n"
    "(\n"
    "    SELECT argMaxMerge(map) AS map_name, sumMerge(kills) AS k, sumMerge(deaths) AS d,\n"
    "           sumMerge(headshots) AS h, maxMerge(last_ms) AS last,\n"
    "           maxMerge(last_t) - minMerge(first_t) AS dur\n"
    "    FROM match_summary\n"
    "    GROUP BY match_key\n"
    ")\n"
    "WHERE {where}\n"
    "GROUP BY map_name\n"
    "ORDER BY matches DESC, kills DESC, map_name ASC\n"
    "LIMIT {limit}";
// clang-format on

/* Distinct players (not unauth_ slots) per map, from the players' matches. */
// clang-format off
static const char map_players_sql[] =
    "SELECT map_name, uniqExact(guid) AS unique_players\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, argMaxMerge(map) AS map_name\n"
    "    FROM player_match\n"
    "    WHERE " LISTED_PLAYER_SQL("guid") "\n"
    "    GROUP BY guid, match_key\n"
    ")\n"
    "WHERE {where}\n"
    "GROUP BY map_name";
// clang-format on

// clang-format off
static const char map_board_sql[] =
    "SELECT guid, sum(kills) AS kills, sum(deaths) AS deaths, sum(headshots) AS headshots\n"
    "FROM player_map\n"
    "WHERE map_name = {map} AND " LISTED_PLAYER_SQL("guid") "\n"
    "GROUP BY guid\n"
    "HAVING kills > 0\n"
    "ORDER BY kills DESC, deaths ASC, guid ASC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char names_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
    "FROM player_names\n"
    "WHERE guid IN (SELECT guid FROM player_map WHERE map_name = {map})\n"
    "GROUP BY guid";
// clang-format on

/* The stored map name for a URL's map: "unknown" is the matches without a map. */
static const char *stored(const char *map)
{
    return strcmp(map, "unknown") == 0 ? "" : map;
}

/* One maps_sql row (with its player count) as served. */
static cJSON *map_json(const cJSON *r, const cJSON *players)
{
    const char *m = row_str(r, "map_name");
    const char *name = *m ? m : "unknown";
    double matches = row_num(r, "matches");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", name);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "map_name", name);
    cJSON_AddStringToObject(o, "display_name", row_str(r, "display_name"));
    cJSON_AddNumberToObject(o, "total_kills", row_num(r, "kills"));
    cJSON_AddNumberToObject(o, "kills", row_num(r, "kills"));
    cJSON_AddNumberToObject(o, "total_deaths", row_num(r, "deaths"));
    cJSON_AddNumberToObject(o, "total_headshots", row_num(r, "headshots"));
    cJSON_AddNumberToObject(o, "total_matches", matches);
    cJSON_AddNumberToObject(o, "matches_played", matches);
    cJSON_AddNumberToObject(o, "unique_players", row_num(rows_find(players, "map_name", m), "unique_players"));
    json_add_round(o, "avg_playtime", row_num(r, "avg_s"), 0);
    json_add_round(o, "avg_duration", row_num(r, "avg_s"), 0);
    json_add_round(o, "total_playtime", row_num(r, "total_s"), 0);
    cJSON_AddNumberToObject(o, "last_played", floor(row_num(r, "last_ms") / 1000));
    return o;
}

static void maps_build(qjob *j)
{
    const char *part = job_endpoint(j)->part;
    bool popularity = part && strcmp(part, "popularity") == 0;
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        if (popularity) {
            const char *m = row_str(r, "map_name");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "map_name", *m ? m : "unknown");
            cJSON_AddNumberToObject(e, "matches_played", row_num(r, "matches"));
            cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
            cJSON_AddItemToArray(arr, e);
        } else {
            cJSON_AddItemToArray(arr, map_json(r, job_rows(j, 1)));
        }
    }
    job_answer(j, 200, arr);
}

/* ---- one map ---- */

// clang-format off
static const char heat_sql[] =
    "SELECT kind, cx, cy, sum(n) AS n\n"
    "FROM heat_cells\n"
    "WHERE map_name = {map}\n"
    "GROUP BY kind, cx, cy\n"
    "ORDER BY n DESC, cx ASC, cy ASC\n"
    "LIMIT 3000";
// clang-format on

/* Heat cells of one kind as {x, y, count} in game units (cell centres). */
static cJSON *cells_json(const cJSON *rows, const char *kind)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        if (strcmp(row_str(r, "kind"), kind) != 0)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "x", row_num(r, "cx") * 64 + 32);
        cJSON_AddNumberToObject(e, "y", row_num(r, "cy") * 64 + 32);
        cJSON_AddNumberToObject(e, "count", row_num(r, "n"));
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

static void detail_build(qjob *j)
{
    map_args *a = j->args;
    const cJSON *r = job_row(j, 0);
    if (!r) {
        char msg[160];
        snprintf(msg, sizeof msg, "Map not found: no match was played on '%.64s'.", a->map);
        job_error(j, 404, msg);
        return;
    }
    cJSON *o = map_json(r, job_rows(j, 1));
    cJSON *top = cJSON_AddArrayToObject(o, "top_players");
    const cJSON *p;
    int rank = 0;
    cJSON_ArrayForEach(p, job_rows(j, 2))
    {
        if (rank >= 10)
            break;
        const char *guid = row_str(p, "guid");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", ++rank);
        cJSON_AddStringToObject(e, "player_id", guid);
        cJSON_AddStringToObject(e, "player_name", row_str(rows_find(job_rows(j, 3), "guid", guid), "name"));
        cJSON_AddNumberToObject(e, "kills", row_num(p, "kills"));
        cJSON_AddNumberToObject(e, "deaths", row_num(p, "deaths"));
        cJSON_AddItemToArray(top, e);
    }
    cJSON *heat = cJSON_AddObjectToObject(o, "heatmap_data");
    cJSON_AddItemToObject(heat, "kills", cells_json(job_rows(j, 4), "kill"));
    cJSON_AddItemToObject(heat, "deaths", cells_json(job_rows(j, 4), "death"));
    job_answer(j, 200, o);
}

/* ---- map leaderboard ---- */

static void board_build(qjob *j)
{
    map_args *a = j->args;
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "leaderboard");
    const cJSON *r;
    int rank = 0;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        double k = row_num(r, "kills"), d = row_num(r, "deaths");
        const char *guid = row_str(r, "guid"), *name = row_str(rows_find(job_rows(j, 1), "guid", guid), "name");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", ++rank);
        cJSON_AddStringToObject(e, "player_id", guid);
        cJSON_AddStringToObject(e, "guid", guid);
        cJSON_AddStringToObject(e, "player_name", name);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddNumberToObject(e, "kills", k);
        cJSON_AddNumberToObject(e, "deaths", d);
        json_add_round(e, "kd_ratio", d > 0 ? k / d : k, 2);
        cJSON_AddNumberToObject(e, "headshots", row_num(r, "headshots"));
        cJSON_AddNumberToObject(e, "value", k);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddStringToObject(o, "map", a->map);
    job_answer(j, 200, o);
}

/* ---- the endpoints ---- */

/* A query over every map: {where} 1, {limit} n. */
static void maps_queue(qjob *j, int slot, const char *tmpl, long n)
{
    sqlv v[] = {SQL_RAW("where", "1"), SQL_INT("limit", n)};
    job_ch(j, slot, tmpl, v, 2);
}

/* A query over one map's matches: {where} selects them, {limit} n, {map}. */
static void map_where_queue(qjob *j, int slot, const char *tmpl, long n)
{
    map_args *a = j->args;
    sqlv w[] = {SQL_STR("m", stored(a->map))};
    char *where = sqlt_render("map_name = {m}", w, 1);
    if (!where) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("where", where), SQL_INT("limit", n), SQL_STR("map", stored(a->map))};
    job_ch(j, slot, tmpl, v, 3);
    free(where);
}

/* A query over one map's players: {map}, {limit} n. */
static void map_top_queue(qjob *j, int slot, const char *tmpl, long n)
{
    map_args *a = j->args;
    sqlv v[] = {SQL_STR("map", stored(a->map)), SQL_INT("limit", n)};
    job_ch(j, slot, tmpl, v, 2);
}

/* The values of the leaderboard's queries: {map}, {limit} asked for. */
static size_t board_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    map_args *a = j->args;
    out[0] = SQL_STR("map", stored(a->map));
    out[1] = SQL_INT("limit", a->limit);
    return 2;
}

/* Every map with its totals and player count. */
#define MAPS(p)                                                                                                        \
    {.path = p,                                                                                                        \
     .key = "maps:0:1000",                                                                                             \
     .queries = {{0, maps_sql, maps_queue, 1000}, {1, map_players_sql, maps_queue, 1000}},                             \
     .build = maps_build}

/* {map}, '+' read as a space. */
#define MAP_PARAM                                                                                                      \
    {PARAM_IDENT_PLUS, "map", offsetof(map_args, map), 0, "must be a map name of 1 to 64 printable bytes", NULL, 0, 0}

/* A map's leaderboard. */
#define MAP_BOARD(p)                                                                                                   \
    {.path = p,                                                                                                        \
     .key = "mapboard",                                                                                                \
     .args_size = sizeof(map_args),                                                                                    \
     .params = {MAP_PARAM, {PARAM_LIMIT, "limit", offsetof(map_args, limit), 25, NULL, NULL}},                         \
     .vals = board_vals,                                                                                               \
     .queries = {{0, map_board_sql, NULL, 0}, {1, names_sql, NULL, 0}},                                                \
     .build = board_build}

static const endpoint map_endpoints[] = {
    MAPS("/stats/maps"),
    MAPS("/stats/maps/list"),
    {.path = "/stats/maps/popularity",
     .key = "maps:1:1000",
     .part = "popularity",
     .queries = {{0, maps_sql, maps_queue, 1000}},
     .build = maps_build},
    {.path = "/stats/server/maps",
     .key = "maps:1:10",
     .part = "popularity",
     .queries = {{0, maps_sql, maps_queue, 10}},
     .build = maps_build},
    {.path = "/stats/map/{map}",
     .key = "map",
     .args_size = sizeof(map_args),
     .params = {MAP_PARAM},
     .queries = {{0, maps_sql, map_where_queue, 1},
                 {1, map_players_sql, map_where_queue, 1},
                 {2, map_board_sql, map_top_queue, 10},
                 {3, names_sql, map_top_queue, 10},
                 {4, heat_sql, map_top_queue, 10}},
     .build = detail_build},
    MAP_BOARD("/stats/leaderboard/map/{map}"),
    MAP_BOARD("/stats/map/{map}/leaderboard"),
};

void map_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, map_endpoints, sizeof map_endpoints / sizeof map_endpoints[0]);
}
