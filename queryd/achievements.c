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
 * here and written into the SQL (MariaDB's LIMIT takes no quoted value); every other value is a "?". */
#include "area.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char id[IDENT_MAX + 1];
    long limit;
    bool by_count;
} ach_args;

#define DEF_COLUMNS                                                                                                    \
    "d.id_achievement, d.code, d.name, d.description, d.category, d.tier, d.icon, d.requirement_type, "                \
    "d.requirement_value, d.points, d.is_hidden, d.sort_order"
#define DEF_NUMERIC "id_achievement,tier,requirement_value,points,is_hidden,sort_order"

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
    "LIMIT %ld";
// clang-format on

// clang-format off
static const char board_sql[] =
    "SELECT pa.id_member, m.member_name, m.real_name, COUNT(*) AS achievement_count,\n"
    "       SUM(d.points) AS total_points\n"
    "FROM {p}mohaa_player_achievements AS pa\n"
    "JOIN {p}mohaa_achievement_defs AS d ON d.id_achievement = pa.id_achievement\n"
    "LEFT JOIN {p}members AS m ON m.id_member = pa.id_member\n"
    "GROUP BY pa.id_member, m.member_name, m.real_name\n"
    "ORDER BY %s, pa.id_member\n"
    "LIMIT %ld";
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
    "LIMIT %ld";
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

/* Queue a MariaDB query: the {p} prefix and an optional %s / %ld filled in (code-chosen text or a number). */
static void queue(qjob *j, int slot, const char *tmpl, const char *order, long limit, int n, const char *const *params,
                  const char *numeric)
{
    char text[2048];
    if (order)
        snprintf(text, sizeof text, tmpl, order, limit);
    else if (strstr(tmpl, "%ld"))
        snprintf(text, sizeof text, tmpl, limit);
    else
        snprintf(text, sizeof text, "%s", tmpl);
    char *sql = smf_sql(j->q, text);
    if (!sql) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    job_mdb(j, slot, sql, n, params, numeric);
    free(sql);
}

static void rows_answer(qjob *j)
{
    job_answer(j, 200, job_take(j, 0));
}

static void defs_start(qjob *j)
{
    queue(j, 0, defs_sql, NULL, 0, 0, NULL, DEF_NUMERIC);
    job_then(j, rows_answer);
}

static void recent_start(qjob *j)
{
    ach_args *a = j->args;
    queue(j, 0, recent_sql, NULL, a->limit, 0, NULL, "id_achievement,id_member,tier,points,unlocked_date");
    job_then(j, rows_answer);
}

static void board_build(qjob *j)
{
    cJSON *rows = job_take(j, 0), *r;
    int rank = 0;
    cJSON_ArrayForEach(r, rows) cJSON_AddNumberToObject(r, "rank", ++rank);
    job_answer(j, 200, rows);
}

static void board_start(qjob *j)
{
    ach_args *a = j->args;
    queue(j, 0, board_sql,
          a->by_count ? "achievement_count DESC, total_points DESC" : "total_points DESC, achievement_count DESC",
          a->limit, 0, NULL, "id_member,achievement_count,total_points");
    job_then(j, board_build);
}

static void rarest_start(qjob *j)
{
    ach_args *a = j->args;
    queue(j, 0, rarest_sql, NULL, a->limit, 0, NULL, DEF_NUMERIC ",unlock_count,unlock_percent");
    job_then(j, rows_answer);
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

static void one_start(qjob *j)
{
    ach_args *a = j->args;
    const char *params[] = {a->id, a->id};
    queue(j, 0, one_sql, NULL, 0, 2, params, DEF_NUMERIC);
    queue(j, 1, unlockers_sql, NULL, 0, 2, params, "id_member,unlocked_date");
    queue(j, 2, unlock_count_sql, NULL, 0, 2, params, "unlock_count");
    job_then(j, one_build);
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

static void player_start(qjob *j)
{
    ach_args *a = j->args;
    const char *params[] = {a->id};
    queue(j, 0, defs_sql, NULL, 0, 0, NULL, DEF_NUMERIC);
    queue(j, 1, player_unlocks_sql, NULL, 0, 1, params, "id_achievement,unlocked_date");
    queue(j, 2, player_progress_sql, NULL, 0, 1, params, "id_achievement,current_progress");
    queue(j, 3, player_member_sql, NULL, 0, 1, params, "id_member");
    job_then(j, player_build);
}

/* ---- handlers ---- */

static void serve(http_request *req, queryd *q, const char *kind, ach_args *a, qjob_fn start)
{
    char key[160];
    snprintf(key, sizeof key, "ach:%s:%s:%ld:%d", kind, a ? a->id : "", a ? a->limit : 0L, a ? a->by_count : 0);
    qcache_serve(q->cache, req, key, q->cache_ttl_s, start, a, free);
}

static ach_args *new_args(http_request *req)
{
    ach_args *a = ARGS_NEW(ach_args);
    if (!a)
        http_respond_error(req, 500, "Out of memory.");
    return a;
}

static void ach_defs(http_request *req, void *arg)
{
    serve(req, arg, "defs", NULL, defs_start);
}

static void ach_recent(http_request *req, void *arg)
{
    queryd *q = arg;
    ach_args *a = new_args(req);
    if (!a)
        return;
    a->limit = param_long(req, "limit", 20, 1, q->max_limit);
    serve(req, q, "recent", a, recent_start);
}

static void ach_board(http_request *req, void *arg)
{
    queryd *q = arg;
    ach_args *a = new_args(req);
    if (!a)
        return;
    a->limit = param_long(req, "limit", 25, 1, q->max_limit);
    const char *sort = http_request_query(req, "sort");
    a->by_count = sort && strcmp(sort, "count") == 0;
    serve(req, q, "board", a, board_start);
}

static void ach_rarest(http_request *req, void *arg)
{
    queryd *q = arg;
    ach_args *a = new_args(req);
    if (!a)
        return;
    a->limit = param_long(req, "limit", 10, 1, q->max_limit);
    serve(req, q, "rarest", a, rarest_start);
}

/* Read a path parameter into a fresh ach_args, or answer 400. */
static ach_args *with_id(http_request *req, const char *param)
{
    const char *id = http_request_param(req, param);
    if (!ident_ok(id, IDENT_MAX)) {
        respond_bad_param(req, param, "must be 1 to 64 printable bytes");
        return NULL;
    }
    ach_args *a = new_args(req);
    if (a)
        snprintf(a->id, sizeof a->id, "%s", id);
    return a;
}

static void ach_one(http_request *req, void *arg)
{
    ach_args *a = with_id(req, "id");
    if (a)
        serve(req, arg, "one", a, one_start);
}

static void ach_player(http_request *req, void *arg)
{
    ach_args *a = with_id(req, "guid");
    if (a)
        serve(req, arg, "player", a, player_start);
}

static const route achievement_table[] = {
    {"/achievements", ach_defs},
    {"/achievements/", ach_defs},
    {"/achievements/recent", ach_recent},
    {"/achievements/leaderboard", ach_board},
    {"/achievements/rarest", ach_rarest},
    {"/achievements/{id}", ach_one},
    {"/achievements/player/{guid}", ach_player},
};

void achievement_routes(queryd *q, http_server *s)
{
    routes_add(s, q, achievement_table, sizeof achievement_table / sizeof achievement_table[0]);
}
