/* Heat maps: kill and death positions in 64 x 64 game-unit cells (docs/definitions.md), per map, per player
 * on a map, per match; and where a player gets hit.
 *
 * - GET /stats/map/{map}/heatmap?type=kills (or type=deaths): [{x, y, count, value, world_x, world_y}], x and y in
 *   0..1.
 * - GET /stats/match/{id}/heatmap?type=kills (or type=deaths): same.
 * - GET /stats/player/{guid}/heatmap/{map}: {map_name, type: "kills", points:[...]}.
 * - GET /stats/player/{guid}/deaths/{map}: {map_name, type: "deaths", points:[...]}.
 * - GET /stats/player/{guid}/heatmap/body: {"<hitloc>": count}, where the player was hit by kills.
 *
 * Cells come from heat_cells (by map, kind, player) and heat_match_cells (by match). The forum places dots at
 * x * 100 %, so x and y are normalised over the cells returned; y is flipped (0 = north, the largest y). */
#include "area.h"
#include "endpoint.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_CELLS 3000

typedef struct {
    const endpoint *ep;
    char key[IDENT_MAX + 1]; /* map or match */
    char guid[IDENT_MAX + 1];
    const param_choice *type; /* ?type= (a heat_types entry); NULL: the path says (endpoint.part) */
} heat_args;

/* What ?type= accepts: value the kind served, data the kind stored (heat_cells.kind). */
static const param_choice heat_types[] = {
    {"kills", NULL, "kill"}, {"kill", "kills", "kill"}, {"deaths", NULL, "death"}, {"death", "deaths", "death"}, {NULL},
};

/* The kind of positions asked for: ?type=, or the path's (a player's kills or deaths: the endpoint's part). */
static const param_choice *heat_type(qjob *j)
{
    heat_args *a = j->args;
    const char *part = job_endpoint(j)->part;
    if (a->type)
        return a->type;
    return part && strcmp(part, "deaths") == 0 ? &heat_types[2] : &heat_types[0];
}

// clang-format off
static const char map_cells_sql[] =
    "SELECT cx, cy, sum(n) AS n\n"
    "FROM heat_cells\n"
    "WHERE map_name = {key} AND kind = {kind}\n"
    "GROUP BY cx, cy\n"
    "ORDER BY n DESC, cx ASC, cy ASC\n"
    "LIMIT {max}";
// clang-format on

// clang-format off
static const char player_cells_sql[] =
    "SELECT cx, cy, sum(n) AS n\n"
    "FROM heat_cells\n"
    "WHERE map_name = {key} AND kind = {kind} AND guid = {guid}\n"
    "GROUP BY cx, cy\n"
    "ORDER BY n DESC, cx ASC, cy ASC\n"
    "LIMIT {max}";
// clang-format on

// clang-format off
static const char match_cells_sql[] =
    "SELECT cx, cy, sum(n) AS n\n"
    "FROM heat_match_cells\n"
    "WHERE match_key = {key} AND kind = {kind}\n"
    "GROUP BY cx, cy\n"
    "ORDER BY n DESC, cx ASC, cy ASC\n"
    "LIMIT {max}";
// clang-format on

/* Whether the map / match exists at all (an existing one without positions answers []). */
// clang-format off
static const char map_exists_sql[] =
    "SELECT count() AS n\n"
    "FROM (SELECT argMaxMerge(map) AS m FROM match_summary GROUP BY match_key)\n"
    "WHERE m = {key}";
// clang-format on
// clang-format off
static const char match_exists_sql[] =
    "SELECT count() AS n FROM match_summary WHERE match_key = {key}";
// clang-format on
// clang-format off
static const char player_exists_sql[] =
    "SELECT count() AS n FROM player_names WHERE guid = {guid}";
// clang-format on

// clang-format off
static const char body_sql[] =
    "SELECT if(hitloc = '', 'unknown', hitloc) AS loc, count() AS n\n"
    "FROM player_fights\n"
    "WHERE guid = {guid} AND role = 2\n"
    "GROUP BY loc\n"
    "ORDER BY n DESC, loc ASC";
// clang-format on

/* Cells as served: normalised x/y over the returned cells, the cell centre in game units, the count. */
static cJSON *points_json(const cJSON *rows)
{
    double minx = INFINITY, maxx = -INFINITY, miny = INFINITY, maxy = -INFINITY;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        double x = row_num(r, "cx"), y = row_num(r, "cy");
        minx = fmin(minx, x);
        maxx = fmax(maxx, x);
        miny = fmin(miny, y);
        maxy = fmax(maxy, y);
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(r, rows)
    {
        double cx = row_num(r, "cx"), cy = row_num(r, "cy");
        cJSON *e = cJSON_CreateObject();
        json_add_round(e, "x", maxx > minx ? (cx - minx) / (maxx - minx) : 0.5, 4);
        json_add_round(e, "y", maxy > miny ? (maxy - cy) / (maxy - miny) : 0.5, 4);
        cJSON_AddNumberToObject(e, "count", row_num(r, "n"));
        cJSON_AddNumberToObject(e, "value", row_num(r, "n"));
        cJSON_AddNumberToObject(e, "world_x", cx * 64 + 32);
        cJSON_AddNumberToObject(e, "world_y", cy * 64 + 32);
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

/* The positions' owner exists (slot 1 counted it); else answer 404 naming it and return false. */
static bool heat_found(qjob *j, const char *what, const char *id)
{
    if (row_num(job_row(j, 1), "n") > 0)
        return true;
    char msg[200];
    snprintf(msg, sizeof msg, "%s not found: '%.64s'.", what, id);
    job_error(j, 404, msg);
    return false;
}

static void map_build(qjob *j)
{
    heat_args *a = j->args;
    if (heat_found(j, "Map", a->key))
        job_answer(j, 200, points_json(job_rows(j, 0)));
}

static void match_build(qjob *j)
{
    heat_args *a = j->args;
    if (heat_found(j, "Match", a->key))
        job_answer(j, 200, points_json(job_rows(j, 0)));
}

static void player_build(qjob *j)
{
    heat_args *a = j->args;
    if (!heat_found(j, "Player", a->guid))
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "map_name", a->key);
    cJSON_AddStringToObject(o, "type", param_choice_value(heat_type(j)));
    cJSON_AddItemToObject(o, "points", points_json(job_rows(j, 0)));
    job_answer(j, 200, o);
}

static void body_build(qjob *j)
{
    heat_args *a = j->args;
    if (!heat_found(j, "Player", a->guid))
        return;
    cJSON *o = cJSON_CreateObject();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0)) cJSON_AddNumberToObject(o, row_str(r, "loc"), row_num(r, "n"));
    job_answer(j, 200, o);
}

/* ---- the endpoints ---- */

/* The values of the queries: {key} the map or match, {kind} kill or death, {guid}, {max} cells. */
static size_t heat_vals_of(qjob *j, const char *key, sqlv out[ENDPOINT_VALS])
{
    heat_args *a = j->args;
    out[0] = SQL_STR("key", key);
    out[1] = SQL_STR("kind", heat_type(j)->data);
    out[2] = SQL_STR("guid", a->guid);
    out[3] = SQL_INT("max", MAX_CELLS);
    return 4;
}

/* A map's values: "unknown" in the URL is the matches without a map (map_name ''). */
static size_t map_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    heat_args *a = j->args;
    return heat_vals_of(j, strcmp(a->key, "unknown") == 0 ? "" : a->key, out);
}

/* A match's values: its id as it is. */
static size_t match_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    heat_args *a = j->args;
    return heat_vals_of(j, a->key, out);
}

#define HEAT_WHY "must be 1 to 64 printable bytes"
#define TYPE_PARAM                                                                                                     \
    {PARAM_CHOICE, "type", offsetof(heat_args, type), 0, "must be kills or deaths", heat_types}
#define GUID_PARAM                                                                                                     \
    {PARAM_IDENT, "guid", offsetof(heat_args, guid), 0, HEAT_WHY, NULL}
#define MAP_PARAM                                                                                                      \
    {PARAM_IDENT_PLUS, "map", offsetof(heat_args, key), 0, HEAT_WHY, NULL}

/* A player's kill (kind "kills") or death positions on one map: the kind is the path's. */
#define PLAYER_HEAT(p, k, kind)                                                                                        \
    {.path = p,                                                                                                        \
     .key = k,                                                                                                         \
     .args_size = sizeof(heat_args),                                                                                   \
     .params = {GUID_PARAM, MAP_PARAM},                                                                                \
     .part = kind,                                                                                                     \
     .vals = map_vals,                                                                                                 \
     .queries = {{0, player_cells_sql, NULL, 0}, {1, player_exists_sql, NULL, 0}},                                     \
     .build = player_build}

static const endpoint heatmap_endpoints[] = {
    {.path = "/stats/map/{map}/heatmap",
     .key = "heatmap",
     .args_size = sizeof(heat_args),
     .params = {MAP_PARAM, TYPE_PARAM},
     .vals = map_vals,
     .queries = {{0, map_cells_sql, NULL, 0}, {1, map_exists_sql, NULL, 0}},
     .build = map_build},
    {.path = "/stats/match/{id}/heatmap",
     .key = "heatmatch",
     .args_size = sizeof(heat_args),
     .params = {{PARAM_IDENT, "id", offsetof(heat_args, key), 0, HEAT_WHY, NULL}, TYPE_PARAM},
     .vals = match_vals,
     .queries = {{0, match_cells_sql, NULL, 0}, {1, match_exists_sql, NULL, 0}},
     .build = match_build},
    {.path = "/stats/player/{guid}/heatmap/body",
     .key = "heatbody",
     .args_size = sizeof(heat_args),
     .params = {GUID_PARAM},
     .vals = map_vals,
     .queries = {{0, body_sql, NULL, 0}, {1, player_exists_sql, NULL, 0}},
     .build = body_build},
    PLAYER_HEAT("/stats/player/{guid}/heatmap/{map}", "heatkills", "kills"),
    PLAYER_HEAT("/stats/player/{guid}/deaths/{map}", "heatdeaths", "deaths"),
};

void heatmap_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, heatmap_endpoints, sizeof heatmap_endpoints / sizeof heatmap_endpoints[0]);
}
