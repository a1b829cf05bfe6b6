/* Achievements, read side: the forum's own tables in MariaDB (written by achievd), with member names from
 * smf_members. Table names carry SMF_DB_PREFIX.
 *
 * - GET /achievements/: [{id_achievement, code, name, description, category, tier, icon, requirement_type,
 *   requirement_value, points, is_hidden}].
 * - GET /achievements: same.
 * - GET /achievements/recent?limit=20: [{id_achievement, id_member, member_name, real_name, code, name, description,
 *   icon, tier, points, unlocked_date}].
 * - GET /achievements/leaderboard?limit=25&sort=points (or sort=count): [{rank, id_member, member_name, real_name,
 *   achievement_count, total_points}].
 * - GET /achievements/rarest?limit=10: definitions with unlock_count and unlock_percent (of the members who played;
 *   null under 20 of them), rarest first.
 * - GET /achievements/{id}: one definition (by id or code) with unlock_count and unlocked_by[].
 * - GET /achievements/player/{guid}: {achievements:[...all, with unlocked], unlocked:[...], progress:[...], member_id,
 *   total_points}.
 *
 * A GUID linked to no member has no unlocks: 200 with every definition locked. Limits are integers checked
 * by the endpoint table and written into the SQL (MariaDB's LIMIT takes no quoted value); every other value is a
 * "?". */
#include "area.h"
#include "endpoint.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const endpoint *ep;
    char id[IDENT_MAX + 1]; /* an achievement's id or code, or a player's GUID */
    long limit;
    const param_choice *sort; /* the leaderboard's order: a board_orders entry */
} ach_args;

#define DEF_COLUMNS                                                                                                    \
    "d.id_achievement, d.code, d.name, d.description, d.category, d.tier, d.icon, d.requirement_type, "                \
    "d.requirement_value, d.points, d.is_hidden, d.sort_order"
/* The columns every query here reads as numbers (each name means one thing in every query). */
#define ACH_NUMERIC                                                                                                    \
    "id_achievement,id_member,tier,requirement_value,points,is_hidden,sort_order,unlocked_date,achievement_count,"     \
    "total_points,unlock_count,unlock_percent,current_progress"

/* Rarity = unlockers / members who played (docs/achievements.md): achievd writes a progress row for every member
 * with an event (a day played counts towards the daily streak), so the members with a progress or unlock row are
 * the members with at least one match. Below RARITY_MIN_PLAYERS a percentage says nothing: null. */
#define RARITY_MIN_PLAYERS "20"
#define PLAYERS_SQL                                                                                                    \
    "SELECT COUNT(*) AS players FROM (SELECT id_member FROM {p}mohaa_achievement_progress "                            \
    "UNION SELECT id_member FROM {p}mohaa_player_achievements) AS played"

// clang-format off
static const char defs_sql[] =
    "SELECT " DEF_COLUMNS "\n"
    "FROM {p}mohaa_achievement_defs AS d\n"
    "ORDER BY d.sort_order, d.id_achievement";
// clang-format on

// clang-format off
static const char recent_sql[] =
    "SELECT pa.id_achievement, pa.id_member, m.member_name, m.real_name, d.code, d.name,\n"
    "       d.description, d.icon, d.tier, d.points, d.category, pa.unlocked_date\n"
    "FROM {p}mohaa_player_achievements AS pa\n"
    "JOIN {p}mohaa_achievement_defs AS d ON d.id_achievement = pa.id_achievement\n"
    "LEFT JOIN {p}members AS m ON m.id_member = pa.id_member\n"
    "ORDER BY pa.unlocked_date DESC, pa.id_unlock DESC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char board_sql[] =
    "SELECT pa.id_member, m.member_name, m.real_name, COUNT(*) AS achievement_count,\n"
    "       SUM(d.points) AS total_points\n"
    "FROM {p}mohaa_player_achievements AS pa\n"
    "JOIN {p}mohaa_achievement_defs AS d ON d.id_achievement = pa.id_achievement\n"
    "LEFT JOIN {p}members AS m ON m.id_member = pa.id_member\n"
    "GROUP BY pa.id_member, m.member_name, m.real_name\n"
    "ORDER BY {order}, pa.id_member\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char rarest_sql[] =
    "SELECT " DEF_COLUMNS ", COUNT(pa.id_unlock) AS unlock_count,\n"
    "       IF(pl.players >= " RARITY_MIN_PLAYERS ", ROUND(100 * COUNT(pa.id_unlock) / pl.players, 2), NULL)\n"
    "           AS unlock_percent\n"
    "FROM {p}mohaa_achievement_defs AS d\n"
    "LEFT JOIN {p}mohaa_player_achievements AS pa ON pa.id_achievement = d.id_achievement\n"
    "CROSS JOIN (" PLAYERS_SQL ") AS pl\n"
    "WHERE d.is_hidden = 0\n"
    "GROUP BY d.id_achievement, pl.players\n"
    "ORDER BY unlock_count ASC, d.id_achievement\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
static const char one_sql[] =
    "SELECT " DEF_COLUMNS "\n"
    "FROM {p}mohaa_achievement_defs AS d\n"
    "WHERE d.code = ? OR CAST(d.id_achievement AS CHAR) = ?\n"
    "LIMIT 1";
// clang-format on

// clang-format off
static const char unlockers_sql[] =
    "SELECT pa.id_member, m.member_name, m.real_name, pa.unlocked_date\n"
    "FROM {p}mohaa_player_achievements AS pa\n"
    "JOIN {p}mohaa_achievement_defs AS d ON d.id_achievement = pa.id_achievement\n"
    "LEFT JOIN {p}members AS m ON m.id_member = pa.id_member\n"
    "WHERE d.code = ? OR CAST(d.id_achievement AS CHAR) = ?\n"
    "ORDER BY pa.unlocked_date, pa.id_member\n"
    "LIMIT 100";
// clang-format on

/* Every unlocker counted, not only the 100 listed. */
// clang-format off
static const char unlock_count_sql[] =
    "SELECT COUNT(*) AS unlock_count\n"
    "FROM {p}mohaa_player_achievements AS pa\n"
    "JOIN {p}mohaa_achievement_defs AS d ON d.id_achievement = pa.id_achievement\n"
    "WHERE d.code = ? OR CAST(d.id_achievement AS CHAR) = ?";
// clang-format on

// clang-format off
static const char player_unlocks_sql[] =
    "SELECT pa.id_achievement, pa.unlocked_date\n"
    "FROM {p}mohaa_identities AS i\n"
    "JOIN {p}mohaa_player_achievements AS pa ON pa.id_member = i.id_member\n"
    "WHERE i.player_guid = ?";
// clang-format on

// clang-format off
static const char player_progress_sql[] =
    "SELECT pr.id_achievement, pr.current_progress\n"
    "FROM {p}mohaa_identities AS i\n"
    "JOIN {p}mohaa_achievement_progress AS pr ON pr.id_member = i.id_member\n"
    "WHERE i.player_guid = ?";
// clang-format on

// clang-format off
static const char player_member_sql[] =
    "SELECT i.id_member, m.member_name, m.real_name\n"
    "FROM {p}mohaa_identities AS i\n"
    "LEFT JOIN {p}members AS m ON m.id_member = i.id_member\n"
    "WHERE i.player_guid = ?\n"
    "LIMIT 1";
// clang-format on

static void rows_answer(qjob *j)
{
    job_answer(j, 200, job_take(j, 0));
}

static void board_build(qjob *j)
{
    cJSON *rows = job_take(j, 0), *r;
    int rank = 0;
    cJSON_ArrayForEach(r, rows) cJSON_AddNumberToObject(r, "rank", ++rank);
    job_answer(j, 200, rows);
}

static void one_build(qjob *j)
{
    ach_args *a = j->args;
    cJSON *d = cJSON_Duplicate(job_row(j, 0), true);
    if (!d) {
        char msg[160];
        snprintf(msg, sizeof msg, "Achievement not found: no id or code '%.64s'.", a->id);
        job_error(j, 404, msg);
        return;
    }
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(job_row(j, 2), "unlock_count");
    cJSON_AddNumberToObject(d, "unlock_count",
                            cJSON_IsNumber(count) ? count->valuedouble : cJSON_GetArraySize(job_rows(j, 1)));
    cJSON_AddItemToObject(d, "unlocked_by", job_take(j, 1));
    job_answer(j, 200, d);
}

static void player_build(qjob *j)
{
    ach_args *a = j->args;
    const cJSON *member = job_row(j, 3), *d;
    cJSON *o = cJSON_CreateObject();
    cJSON *all = cJSON_CreateArray(), *unlocked = cJSON_CreateArray(), *progress = cJSON_CreateArray();
    double points = 0;
    cJSON_ArrayForEach(d, job_rows(j, 0))
    {
        char id[24];
        snprintf(id, sizeof id, "%.0f", row_num(d, "id_achievement"));
        const cJSON *u = NULL, *p = NULL, *x;
        cJSON_ArrayForEach(x, job_rows(j, 1)) if (row_num(x, "id_achievement") == row_num(d, "id_achievement")) u = x;
        cJSON_ArrayForEach(x, job_rows(j, 2)) if (row_num(x, "id_achievement") == row_num(d, "id_achievement")) p = x;
        if (!u && row_num(d, "is_hidden") > 0)
            continue; /* hidden until unlocked */
        double req = row_num(d, "requirement_value"), cur = u ? req : row_num(p, "current_progress");
        cJSON *e = cJSON_Duplicate(d, true);
        cJSON_AddStringToObject(e, "achievement_code", row_str(d, "code"));
        cJSON_AddBoolToObject(e, "unlocked", u != NULL);
        if (u)
            cJSON_AddNumberToObject(e, "unlocked_date", row_num(u, "unlocked_date"));
        else
            cJSON_AddNullToObject(e, "unlocked_date");
        cJSON_AddNumberToObject(e, "current_progress", cur);
        double pct = req > 0 ? cur * 100 / req : (u ? 100 : 0);
        json_add_round(e, "progress_percent", pct > 100 ? 100 : pct, 0);
        cJSON_AddItemToArray(all, e);
        if (u) {
            cJSON *ue = cJSON_Duplicate(d, true);
            cJSON_AddNumberToObject(ue, "unlocked_date", row_num(u, "unlocked_date"));
            cJSON_AddItemToArray(unlocked, ue);
            points += row_num(d, "points");
        }
        if (p) {
            cJSON *pe = cJSON_CreateObject();
            cJSON_AddNumberToObject(pe, "id_achievement", row_num(d, "id_achievement"));
            cJSON_AddNumberToObject(pe, "current_progress", row_num(p, "current_progress"));
            cJSON_AddItemToArray(progress, pe);
        }
    }
    cJSON_AddStringToObject(o, "guid", a->id);
    if (member) {
        cJSON_AddNumberToObject(o, "member_id", row_num(member, "id_member"));
        cJSON_AddStringToObject(o, "member_name", row_str(member, "member_name"));
    } else {
        cJSON_AddNullToObject(o, "member_id");
        cJSON_AddNullToObject(o, "member_name");
    }
    cJSON_AddNumberToObject(o, "unlocked_count", cJSON_GetArraySize(unlocked));
    cJSON_AddNumberToObject(o, "total_count", cJSON_GetArraySize(all));
    cJSON_AddNumberToObject(o, "total_points", points);
    cJSON_AddItemToObject(o, "achievements", all);
    cJSON_AddItemToObject(o, "unlocked", unlocked);
    cJSON_AddItemToObject(o, "progress", progress);
    job_answer(j, 200, o);
}

/* ---- the endpoints ---- */

/* What ?sort= orders the leaderboard by (anything else: points). */
static const param_choice board_orders[] = {
    {"points", NULL, "total_points DESC, achievement_count DESC"},
    {"count", NULL, "achievement_count DESC, total_points DESC"},
    {NULL, NULL, NULL},
};

/* The values of the queries: {limit} asked for, {order} the leaderboard's. */
static size_t ach_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    ach_args *a = j->args;
    out[0] = SQL_INT("limit", a->limit);
    out[1] = SQL_RAW("order", a->sort ? a->sort->data : "");
    return 2;
}

/* A query of the forum's tables (MariaDB): {p} their prefix, the endpoint's values (ach_vals: code-chosen text or a
 * number, as MariaDB's LIMIT takes no quoted value), and n "?", each the id asked for. */
static void ach_queue(qjob *j, int slot, const char *tmpl, long n)
{
    ach_args *a = j->args;
    sqlv v[ENDPOINT_VALS + 1];
    size_t nv = ach_vals(j, v);
    v[nv++] = SQL_RAW("p", j->q->smf_prefix);
    char *sql = sqlt_render(tmpl, v, nv);
    if (!sql) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    const char *params[] = {a->id, a->id};
    job_mdb(j, slot, sql, (int)n, params, ACH_NUMERIC);
    free(sql);
}

#define ACH_LIMIT(def)                                                                                                 \
    {PARAM_LIMIT, "limit", offsetof(ach_args, limit), def, NULL, NULL}
#define ACH_ID(name)                                                                                                   \
    {PARAM_IDENT, name, offsetof(ach_args, id), 0, "must be 1 to 64 printable bytes", NULL}

/* The definitions, at two paths. */
#define DEFS(p)                                                                                                        \
    {.path = p,                                                                                                        \
     .key = "ach:defs",                                                                                                \
     .args_size = sizeof(ach_args),                                                                                    \
     .vals = ach_vals,                                                                                                 \
     .queries = {{0, defs_sql, ach_queue, 0}},                                                                         \
     .build = rows_answer}

static const endpoint achievement_endpoints[] = {
    DEFS("/achievements"),
    DEFS("/achievements/"),
    {.path = "/achievements/recent",
     .key = "ach:recent",
     .args_size = sizeof(ach_args),
     .params = {ACH_LIMIT(20)},
     .vals = ach_vals,
     .queries = {{0, recent_sql, ach_queue, 0}},
     .build = rows_answer},
    {.path = "/achievements/leaderboard",
     .key = "ach:board",
     .args_size = sizeof(ach_args),
     .params = {ACH_LIMIT(25), {PARAM_CHOICE_ANY, "sort", offsetof(ach_args, sort), 0, NULL, board_orders}},
     .vals = ach_vals,
     .queries = {{0, board_sql, ach_queue, 0}},
     .build = board_build},
    {.path = "/achievements/rarest",
     .key = "ach:rarest",
     .args_size = sizeof(ach_args),
     .params = {ACH_LIMIT(10)},
     .vals = ach_vals,
     .queries = {{0, rarest_sql, ach_queue, 0}},
     .build = rows_answer},
    {.path = "/achievements/{id}",
     .key = "ach:one",
     .args_size = sizeof(ach_args),
     .params = {ACH_ID("id")},
     .vals = ach_vals,
     .queries = {{0, one_sql, ach_queue, 2}, {1, unlockers_sql, ach_queue, 2}, {2, unlock_count_sql, ach_queue, 2}},
     .build = one_build},
    {.path = "/achievements/player/{guid}",
     .key = "ach:player",
     .args_size = sizeof(ach_args),
     .params = {ACH_ID("guid")},
     .vals = ach_vals,
     .queries = {{0, defs_sql, ach_queue, 0},
                 {1, player_unlocks_sql, ach_queue, 1},
                 {2, player_progress_sql, ach_queue, 1},
                 {3, player_member_sql, ach_queue, 1}},
     .build = player_build},
};

void achievement_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, achievement_endpoints, sizeof achievement_endpoints / sizeof achievement_endpoints[0]);
}
