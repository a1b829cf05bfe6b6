/* Weapons: totals per weapon, one weapon's detail, and its leaderboard.
 *
 * - GET /stats/weapons: [{id, name, weapon, kills, headshots, hits, shots, accuracy, damage, ...}].
 * - GET /stats/weapons/list: same.
 * - GET /stats/weapon/{weapon}: {weapon, name, kills, hits, shots, headshots, total_kills, total_headshots,
 *   avg_accuracy, ..., stats{}, top_players[]}.
 * - GET /stats/leaderboard/weapon/{weapon}?limit=25: [{rank, player_id, guid, player_name, player, name, kills,
 *   headshots, shots_fired, shots_hit, hits, shots}].
 * - GET /stats/weapon/{weapon}/leaderboard?limit=25: same.
 *
 * Totals come from weapon_daily, players from player_weapon. Weapon names are the tracker's; only names seen
 * on kills, shots, hits or damage count as weapons (not items or game types). An unknown weapon is 404. */
#include "area.h"
#include "endpoint.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const endpoint *ep;
    char weapon[IDENT_MAX + 1];
    long limit;
} weapon_args;

// clang-format off
static const char weapons_sql[] =
    "SELECT weapon, sum(kills) AS kills, sum(headshots) AS headshots,\n"
    "       sum(shots_fired) AS shots, sum(shots_hit) AS hits, sum(damage_dealt) AS damage,\n"
    "       sum(kill_dist_sum) AS dist_sum, sum(kill_dist_n) AS dist_n, max(day) AS last_day\n"
    "FROM weapon_daily\n"
    "WHERE {where}\n"
    "GROUP BY weapon\n"
    "HAVING kills + shots > 0\n"
    "ORDER BY kills DESC, shots DESC, weapon ASC\n"
    "LIMIT 500";
// clang-format on

// clang-format off
static const char users_sql[] =
    "SELECT uniqExactIf(guid, kills + shots_fired > 0) AS unique_users\n"
    "FROM player_weapon\n"
    "WHERE weapon = {weapon} AND " LISTED_PLAYER_SQL("guid");
// clang-format on

// clang-format off
static const char board_sql[] =
    "SELECT guid, sum(kills) AS kills, sum(headshots) AS headshots,\n"
    "       sum(shots_fired) AS shots_fired, sum(shots_hit) AS shots_hit\n"
    "FROM player_weapon\n"
    "WHERE weapon = {weapon} AND " LISTED_PLAYER_SQL("guid") "\n"
    "GROUP BY guid\n"
    "HAVING kills > 0\n"
    "ORDER BY kills DESC, headshots DESC, guid ASC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char names_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
    "FROM player_names\n"
    "WHERE guid IN (SELECT guid FROM player_weapon WHERE weapon = {weapon} AND kills > 0)\n"
    "GROUP BY guid";
// clang-format on

/* One weapons_sql row as served. */
static cJSON *weapon_json(const cJSON *r)
{
    const char *w = row_str(r, "weapon");
    double kills = row_num(r, "kills"), shots = row_num(r, "shots"), hits = row_num(r, "hits");
    double dn = row_num(r, "dist_n");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", w);
    cJSON_AddStringToObject(o, "name", w);
    cJSON_AddStringToObject(o, "weapon", w);
    cJSON_AddStringToObject(o, "weapon_name", w);
    cJSON_AddNumberToObject(o, "kills", kills);
    cJSON_AddNumberToObject(o, "total_kills", kills);
    cJSON_AddNumberToObject(o, "headshots", row_num(r, "headshots"));
    cJSON_AddNumberToObject(o, "total_headshots", row_num(r, "headshots"));
    cJSON_AddNumberToObject(o, "hits", hits);
    cJSON_AddNumberToObject(o, "shots", shots);
    cJSON_AddNumberToObject(o, "shots_fired", shots);
    cJSON_AddNumberToObject(o, "shots_hit", hits);
    json_add_round(o, "accuracy", shots > 0 ? hits * 100 / shots : 0, 1);
    json_add_round(o, "avg_accuracy", shots > 0 ? hits * 100 / shots : 0, 1);
    json_add_round(o, "headshot_ratio", kills > 0 ? row_num(r, "headshots") * 100 / kills : 0, 1);
    json_add_round(o, "damage", row_num(r, "damage"), 0);
    json_add_round(o, "avg_kill_distance", dn > 0 ? row_num(r, "dist_sum") / dn * UNITS_TO_M : 0, 1);
    cJSON_AddStringToObject(o, "last_used", row_str(r, "last_day"));
    return o;
}

static void list_build(qjob *j)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0)) cJSON_AddItemToArray(arr, weapon_json(r));
    job_answer(j, 200, arr);
}

/* The leaderboard rows as served (also the detail's top_players). */
static cJSON *board_json(qjob *j, int slot, int names_slot)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    int rank = 0;
    cJSON_ArrayForEach(r, job_rows(j, slot))
    {
        const char *guid = row_str(r, "guid");
        const char *name = row_str(rows_find(job_rows(j, names_slot), "guid", guid), "name");
        double k = row_num(r, "kills"), f = row_num(r, "shots_fired"), h = row_num(r, "shots_hit");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", ++rank);
        cJSON_AddStringToObject(e, "player_id", guid);
        cJSON_AddStringToObject(e, "guid", guid);
        cJSON_AddStringToObject(e, "id", guid);
        cJSON_AddStringToObject(e, "player_name", name);
        cJSON_AddStringToObject(e, "player", name);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddNumberToObject(e, "kills", k);
        cJSON_AddNumberToObject(e, "headshots", row_num(r, "headshots"));
        json_add_round(e, "hs_ratio", k > 0 ? row_num(r, "headshots") * 100 / k : 0, 1);
        cJSON_AddNumberToObject(e, "shots_fired", f);
        cJSON_AddNumberToObject(e, "shots_hit", h);
        cJSON_AddNumberToObject(e, "shots", f);
        cJSON_AddNumberToObject(e, "hits", h);
        json_add_round(e, "accuracy", f > 0 ? h * 100 / f : 0, 1);
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

static void detail_build(qjob *j)
{
    weapon_args *a = j->args;
    const cJSON *r = job_row(j, 0);
    if (!r) {
        char msg[160];
        snprintf(msg, sizeof msg, "Weapon not found: '%.64s' was never used.", a->weapon);
        job_error(j, 404, msg);
        return;
    }
    cJSON *o = weapon_json(r);
    cJSON_AddNumberToObject(o, "unique_users", row_num(job_row(j, 1), "unique_users"));
    cJSON *stats = cJSON_Duplicate(o, true);
    cJSON_AddItemToObject(o, "stats", stats);
    cJSON_AddItemToObject(o, "top_players", board_json(j, 2, 3));
    job_answer(j, 200, o);
}

static void board_build(qjob *j)
{
    job_answer(j, 200, board_json(j, 0, 1));
}

/* ---- the endpoints ---- */

/* The list's query: {where} every weapon. */
static size_t every_weapon_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    (void)j;
    out[0] = SQL_RAW("where", "1");
    return 1;
}

/* The values of one weapon's queries: {weapon}, {limit} asked for. */
static size_t weapon_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    weapon_args *a = j->args;
    out[0] = SQL_STR("weapon", a->weapon);
    out[1] = SQL_INT("limit", a->limit);
    return 2;
}

/* weapons_sql over one weapon: {where} selects it. */
static void weapon_where_queue(qjob *j, int slot, const char *tmpl, long unused)
{
    (void)unused;
    weapon_args *a = j->args;
    sqlv w[] = {SQL_STR("w", a->weapon)};
    char *where = sqlt_render("weapon = {w}", w, 1);
    if (!where) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("where", where)};
    job_ch(j, slot, tmpl, v, 1);
    free(where);
}

/* The detail's top players: {weapon}, {limit} n. */
static void weapon_top_queue(qjob *j, int slot, const char *tmpl, long n)
{
    weapon_args *a = j->args;
    sqlv v[] = {SQL_STR("weapon", a->weapon), SQL_INT("limit", n)};
    job_ch(j, slot, tmpl, v, 2);
}

#define WEAPONS(p)                                                                                                     \
    {.path = p,                                                                                                        \
     .key = "weapons",                                                                                                 \
     .vals = every_weapon_vals,                                                                                        \
     .queries = {{0, weapons_sql, NULL, 0}},                                                                           \
     .build = list_build}

/* {weapon}, '+' read as a space. */
#define WEAPON_PARAM                                                                                                   \
    {PARAM_IDENT_PLUS, "weapon", offsetof(weapon_args, weapon), 0, "must be a weapon name of 1 to 64 printable bytes", \
     NULL}

#define WEAPON_BOARD(p)                                                                                                \
    {.path = p,                                                                                                        \
     .key = "weaponboard",                                                                                             \
     .args_size = sizeof(weapon_args),                                                                                 \
     .params = {WEAPON_PARAM, {PARAM_LIMIT, "limit", offsetof(weapon_args, limit), 25, NULL, NULL}},                   \
     .vals = weapon_vals,                                                                                              \
     .queries = {{0, board_sql, NULL, 0}, {1, names_sql, NULL, 0}},                                                    \
     .build = board_build}

static const endpoint weapon_endpoints[] = {
    WEAPONS("/stats/weapons"),
    WEAPONS("/stats/weapons/list"),
    {.path = "/stats/weapon/{weapon}",
     .key = "weapon",
     .args_size = sizeof(weapon_args),
     .params = {WEAPON_PARAM},
     .vals = weapon_vals,
     .queries = {{0, weapons_sql, weapon_where_queue, 0},
                 {1, users_sql, NULL, 0},
                 {2, board_sql, weapon_top_queue, 10},
                 {3, names_sql, NULL, 0}},
     .build = detail_build},
    WEAPON_BOARD("/stats/leaderboard/weapon/{weapon}"),
    WEAPON_BOARD("/stats/weapon/{weapon}/leaderboard"),
};

void weapon_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, weapon_endpoints, sizeof weapon_endpoints / sizeof weapon_endpoints[0]);
}
