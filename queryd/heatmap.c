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

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_CELLS 3000

typedef struct {
    char key[IDENT_MAX + 1]; /* map or match */
    char guid[IDENT_MAX + 1];
    bool deaths;
    enum { HEAT_MAP, HEAT_MATCH, HEAT_PLAYER, HEAT_BODY } what;
} heat_args;

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

static void heat_build(qjob *j)
{
    heat_args *a = j->args;
    if (row_num(job_row(j, 1), "n") == 0) {
        char msg[200];
        const char *what = a->what == HEAT_MATCH ? "Match" : a->what == HEAT_MAP ? "Map" : "Player";
        snprintf(msg, sizeof msg, "%s not found: '%.64s'.", what,
                 a->what == HEAT_PLAYER || a->what == HEAT_BODY ? a->guid : a->key);
        job_error(j, 404, msg);
        return;
    }
    if (a->what == HEAT_BODY) {
        cJSON *o = cJSON_CreateObject();
        const cJSON *r;
        cJSON_ArrayForEach(r, job_rows(j, 0)) cJSON_AddNumberToObject(o, row_str(r, "loc"), row_num(r, "n"));
        job_answer(j, 200, o);
        return;
    }
    cJSON *points = points_json(job_rows(j, 0));
    if (a->what != HEAT_PLAYER) {
        job_answer(j, 200, points);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "map_name", a->key);
    cJSON_AddStringToObject(o, "type", a->deaths ? "deaths" : "kills");
    cJSON_AddItemToObject(o, "points", points);
    job_answer(j, 200, o);
}

static void heat_start(qjob *j)
{
    heat_args *a = j->args;
    const char *key = strcmp(a->key, "unknown") == 0 && a->what != HEAT_MATCH ? "" : a->key;
    sqlv v[] = {SQL_STR("key", key), SQL_STR("kind", a->deaths ? "death" : "kill"), SQL_STR("guid", a->guid),
                SQL_INT("max", MAX_CELLS)};
    switch (a->what) {
    case HEAT_MAP:
        job_ch(j, 0, map_cells_sql, v, 4);
        job_ch(j, 1, map_exists_sql, v, 1);
        break;
    case HEAT_MATCH:
        job_ch(j, 0, match_cells_sql, v, 4);
        job_ch(j, 1, match_exists_sql, v, 1);
        break;
    case HEAT_PLAYER:
        job_ch(j, 0, player_cells_sql, v, 4);
        job_ch(j, 1, player_exists_sql, v, 3);
        break;
    case HEAT_BODY:
        job_ch(j, 0, body_sql, v, 3);
        job_ch(j, 1, player_exists_sql, v, 3);
        break;
    }
    job_then(j, heat_build);
}

/* Read a path parameter into out ('+' as space for names PHP urlencoded), or answer 400. */
static bool take(http_request *req, const char *name, char out[IDENT_MAX + 1], bool plus_is_space)
{
    const char *v = http_request_param(req, name);
    if (!ident_ok(v, IDENT_MAX)) {
        respond_bad_param(req, name, "must be 1 to 64 printable bytes");
        return false;
    }
    snprintf(out, IDENT_MAX + 1, "%s", v);
    if (plus_is_space)
        for (char *p = out; *p; p++)
            if (*p == '+')
                *p = ' ';
    return true;
}

static void serve(http_request *req, queryd *q, heat_args *a)
{
    char key[600], k1[QCACHE_PART_MAX], k2[QCACHE_PART_MAX];
    snprintf(key, sizeof key, "heat:%d:%d:%s:%s", (int)a->what, a->deaths, qcache_part(a->key, k1),
             qcache_part(a->guid, k2));
    qcache_serve(q->cache, req, key, q->cache_ttl_s, heat_start, a, free);
}

/* type=kills (default) or deaths; anything else is 400. */
static bool heat_type(http_request *req, heat_args *a)
{
    const char *t = http_request_query(req, "type");
    if (!t || !*t || strcmp(t, "kills") == 0 || strcmp(t, "kill") == 0)
        return true;
    if (strcmp(t, "deaths") == 0 || strcmp(t, "death") == 0) {
        a->deaths = true;
        return true;
    }
    respond_bad_param(req, "type", "must be kills or deaths");
    return false;
}

static void map_heat(http_request *req, void *arg)
{
    heat_args *a = ARGS_NEW(heat_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->what = HEAT_MAP;
    if (!take(req, "map", a->key, true) || !heat_type(req, a)) {
        free(a);
        return;
    }
    serve(req, arg, a);
}

static void match_heat(http_request *req, void *arg)
{
    heat_args *a = ARGS_NEW(heat_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->what = HEAT_MATCH;
    if (!take(req, "id", a->key, false) || !heat_type(req, a)) {
        free(a);
        return;
    }
    serve(req, arg, a);
}

/* /stats/player/{guid}/heatmap/{map} and /deaths/{map}. */
static void player_heat(http_request *req, void *arg, bool deaths)
{
    heat_args *a = ARGS_NEW(heat_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->what = HEAT_PLAYER;
    a->deaths = deaths;
    if (!take(req, "guid", a->guid, false) || !take(req, "map", a->key, true)) {
        free(a);
        return;
    }
    serve(req, arg, a);
}

static void player_kill_heat(http_request *req, void *arg)
{
    player_heat(req, arg, false);
}

static void player_death_heat(http_request *req, void *arg)
{
    player_heat(req, arg, true);
}

static void player_body(http_request *req, void *arg)
{
    heat_args *a = ARGS_NEW(heat_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->what = HEAT_BODY;
    if (!take(req, "guid", a->guid, false)) {
        free(a);
        return;
    }
    serve(req, arg, a);
}

static const route heatmap_table[] = {
    {"/stats/map/{map}/heatmap", map_heat},
    {"/stats/match/{id}/heatmap", match_heat},
    {"/stats/player/{guid}/heatmap/body", player_body},
    {"/stats/player/{guid}/heatmap/{map}", player_kill_heat},
    {"/stats/player/{guid}/deaths/{map}", player_death_heat},
};

void heatmap_routes(queryd *q, http_server *s)
{
    routes_add(s, q, heatmap_table, sizeof heatmap_table / sizeof heatmap_table[0]);
}
