/* Matches: the list and one match (summary, teams and scores, players, top weapons, versus, timeline).
 *
 * - GET /stats/matches?limit=20&offset&page=1&count_only&server_id: see below.
 * - GET /stats/match/{id}: {match_id, summary, scoreboard, info, players, ...}.
 * - GET /stats/match/{id}/advanced: same.
 * - GET /stats/match/{id}/timeline: [{timestamp, event_type, actor_name, target_name, weapon, hitloc}].
 * - GET /stats/match/{id}/ratings: {rated, reason, teams[{win_prob, ...}], players[{mu_change, ...}]}: ratings.c.
 * - GET /stats/match/{id}/predictions: same (the forum's name for it).
 *
 * /stats/matches is read two ways by the forum with the same parameters (docs/forum.md §2.2): the server
 * dashboard reads .list, the main page and the dashboards iterate the answer. With `offset` in the URL (the
 * paged callers) the answer is the bare array; without it, an object whose first members are the matches
 * under "0", "1", ... (what iterating callers see first, in order) followed by list and total. count_only=1
 * answers {total}. A match's rows are read by key: match_summary and match_players by match, raw_events by
 * (event type, server, match). */
#include "area.h"
#include "endpoint.h"
#include "event_model.h"
#include "ratings.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const endpoint *ep;
    char id[IDENT_MAX + 1];
    char server[IDENT_MAX + 1];
    paging pg;
    bool count_only, bare;
} match_args;

/* One row per match: the columns every match list serves. {where} restricts match_summary rows. */
// clang-format off
static const char match_list_sql[] =
    "SELECT match_key, anyMerge(server_id) AS server_id, argMaxMerge(map) AS map_name,\n"
    "       " GAMETYPE_SQL("argMaxMerge(gt)", "map_name") " AS gametype,\n"
    "       minMerge(first_ms) AS first_ms, maxMerge(last_ms) AS last_ms,\n"
    "       minMerge(first_t) AS first_t, maxMerge(last_t) AS last_t,\n"
    "       sumMerge(kills) AS kills, sumMerge(deaths) AS deaths,\n"
    "       sumMerge(headshots) AS headshots, uniqExactArrayMerge(players) AS player_count,\n"
    "       maxMerge(max_players) AS max_players, argMaxMerge(winner) AS winner,\n"
    "       argMaxMerge(allies_score) AS allies_score, argMaxMerge(axis_score) AS axis_score,\n"
    "       sumMerge(ends) AS ends, sumMerge(rounds) AS rounds\n"
    "FROM match_summary\n"
    "WHERE {where}\n"
    "GROUP BY match_key\n"
    "HAVING {having}\n"
    "ORDER BY first_ms DESC, match_key ASC\n"
    "LIMIT {limit} OFFSET {offset}";
// clang-format on

// clang-format off
static const char match_count_sql[] =
    "SELECT count() AS total\n"
    "FROM (SELECT match_key, anyMerge(server_id) AS server_id FROM match_summary\n"
    "      GROUP BY match_key HAVING {having})";
// clang-format on

// clang-format off
static const char match_players_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMaxMerge(name)") " AS name, argMaxMerge(team) AS team,\n"
    "       sumMerge(kills) AS kills, sumMerge(deaths) AS deaths,\n"
    "       sumMerge(headshots) AS headshots, sumMerge(suicides) AS suicides,\n"
    "       sumMerge(teamkills) AS teamkills, minMerge(first_ms) AS first_ms,\n"
    "       maxMerge(last_ms) AS last_ms, minMerge(first_t) AS first_t, maxMerge(last_t) AS last_t\n"
    "FROM match_players\n"
    "WHERE match_key = {id}\n"
    "GROUP BY guid\n"
    "ORDER BY kills - suicides - teamkills DESC, kills DESC, deaths ASC, guid ASC";
// clang-format on

// clang-format off
static const char top_weapons_sql[] =
    "SELECT weapon AS name, count() AS kills, countIf(" HEADSHOT_SQL ") AS headshots\n"
    "FROM raw_events\n"
    "WHERE event_type = " EVT_SQL_PLAYER_KILL " AND server_id = {server} AND match_key = {id}\n"
    "  AND weapon != '' AND " ENEMY_KILL_SQL "\n"
    "GROUP BY weapon\n"
    "ORDER BY kills DESC, name ASC\n"
    "LIMIT 10";
// clang-format on

// clang-format off
static const char versus_sql[] =
    "SELECT actor_guid AS killer_guid, any(actor_name) AS killer, target_guid AS victim_guid,\n"
    "       any(target_name) AS victim, count() AS kills\n"
    "FROM raw_events\n"
    "WHERE event_type = " EVT_SQL_PLAYER_KILL " AND server_id = {server} AND match_key = {id}\n"
    "  AND " ENEMY_KILL_SQL "\n"
    "GROUP BY killer_guid, victim_guid\n"
    "ORDER BY kills DESC, killer_guid ASC, victim_guid ASC";
// clang-format on

/* The events a timeline shows, in game order (the tracker's game time, then arrival). */
// clang-format off
static const char timeline_sql[] =
    "SELECT event_type, actor_guid, actor_name, target_guid, target_name, weapon, hitloc, team, map_name,\n"
    "       toUInt64(received_at) * 1000 + received_ms AS ts_ms, game_time,\n"
    "       toUInt8(event_type = " EVT_SQL_PLAYER_KILL " AND " ENEMY_KILL_SQL ") AS enemy_kill\n"
    "FROM raw_events\n"
    "WHERE event_type IN (" EVT_SQL_PLAYER_KILL ", " EVT_SQL_MATCH_START ", " EVT_SQL_MATCH_END ",\n"
    "                     " EVT_SQL_ROUND_START ", " EVT_SQL_ROUND_END ", " EVT_SQL_TEAM_WIN ",\n"
    "                     " EVT_SQL_OBJECTIVE_CAPTURE ")\n"
    "  AND server_id = {server} AND match_key = {id}\n"
    "ORDER BY ifNull(game_time, 0), ts_ms, event_type\n"
    "LIMIT 1000";
// clang-format on

/* The server name of server_id from the servers rows (PostgreSQL), or "". */
static const char *server_name(const cJSON *servers, const char *id)
{
    return row_str(rows_find(servers, "id", id), "name");
}

/* One match_list_sql row as served; iso_times: times as ISO text (the server dashboard reads them with
 * strtotime) instead of epoch seconds (the dashboards read them with timeformat). */
static cJSON *match_json(const cJSON *r, const cJSON *servers, bool iso_times)
{
    cJSON *o = cJSON_CreateObject();
    const char *mk = row_str(r, "match_key"), *map = row_str(r, "map_name"), *gt = row_str(r, "gametype");
    const char *winner = row_str(r, "winner");
    double first = row_num(r, "first_ms"), last = row_num(r, "last_ms");
    cJSON_AddStringToObject(o, "id", mk);
    cJSON_AddStringToObject(o, "match_id", mk);
    cJSON_AddStringToObject(o, "map_name", *map ? map : "unknown");
    cJSON_AddStringToObject(o, "map", *map ? map : "unknown");
    cJSON_AddStringToObject(o, "game_mode", gt);
    cJSON_AddStringToObject(o, "gametype", gt);
    cJSON_AddNumberToObject(o, "player_count", row_num(r, "player_count"));
    double maxp = row_num(r, "max_players");
    if (maxp > 0)
        cJSON_AddNumberToObject(o, "max_players", maxp);
    else
        cJSON_AddNullToObject(o, "max_players");
    if (iso_times) {
        char a[32], b[32];
        iso_time((uint64_t)first, a);
        iso_time((uint64_t)last, b);
        cJSON_AddStringToObject(o, "start_time", a);
        cJSON_AddStringToObject(o, "started_at", a);
        cJSON_AddStringToObject(o, "end_time", b);
        cJSON_AddStringToObject(o, "ended_at", b);
    } else {
        cJSON_AddNumberToObject(o, "start_time", floor(first / 1000));
        cJSON_AddNumberToObject(o, "started_at", floor(first / 1000));
        cJSON_AddNumberToObject(o, "end_time", floor(last / 1000));
        cJSON_AddNumberToObject(o, "ended_at", floor(last / 1000));
    }
    double secs = row_num(r, "last_t") - row_num(r, "first_t");
    json_add_round(o, "duration", secs, 0);
    cJSON_AddNumberToObject(o, "duration_mins", floor(secs / 60));
    cJSON_AddNumberToObject(o, "kills", row_num(r, "kills"));
    cJSON_AddNumberToObject(o, "total_kills", row_num(r, "kills"));
    cJSON_AddNumberToObject(o, "deaths", row_num(r, "deaths"));
    cJSON_AddNumberToObject(o, "headshots", row_num(r, "headshots"));
    cJSON_AddStringToObject(o, "server_id", row_str(r, "server_id"));
    const char *sname = server_name(servers, row_str(r, "server_id"));
    cJSON_AddStringToObject(o, "server_name", *sname ? sname : "Unknown Server");
    bool has_winner = vocab_team_side(winner) != SIDE_NONE; /* a side name already (the views normalise it) */
    if (has_winner) {
        cJSON_AddStringToObject(o, "winning_team", winner);
        cJSON_AddStringToObject(o, "winner", winner);
    } else {
        cJSON_AddNullToObject(o, "winning_team");
        cJSON_AddNullToObject(o, "winner");
    }
    cJSON_AddNumberToObject(o, "allies_score", row_num(r, "allies_score"));
    cJSON_AddNumberToObject(o, "axis_score", row_num(r, "axis_score"));
    cJSON_AddNumberToObject(o, "rounds", row_num(r, "rounds"));
    cJSON_AddBoolToObject(o, "finished", row_num(r, "ends") > 0);
    return o;
}

/* ---- GET /stats/matches ---- */

static void list_build(qjob *j)
{
    match_args *a = j->args;
    double total = row_num(job_row(j, 1), "total");
    if (a->count_only) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "total", total);
        job_answer(j, 200, o);
        return;
    }
    const cJSON *servers = job_rows(j, 2), *r;
    if (a->bare) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_ArrayForEach(r, job_rows(j, 0)) cJSON_AddItemToArray(arr, match_json(r, servers, false));
        job_answer(j, 200, arr);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *list = cJSON_CreateArray();
    int i = 0;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        char k[16];
        snprintf(k, sizeof k, "%d", i++);
        cJSON_AddItemToObject(o, k, match_json(r, servers, false));
        cJSON_AddItemToArray(list, match_json(r, servers, true));
    }
    cJSON_AddItemToObject(o, "list", list);
    cJSON_AddNumberToObject(o, "total", total);
    cJSON_AddNumberToObject(o, "limit", (double)a->pg.limit);
    cJSON_AddNumberToObject(o, "offset", (double)a->pg.offset);
    cJSON_AddNumberToObject(o, "page", (double)a->pg.page);
    job_answer(j, 200, o);
}

/* The list's queries: its rows (none for count_only), their count, the servers' names. */
static void list_start(qjob *j)
{
    match_args *a = j->args;
    char *having = NULL;
    if (*a->server) {
        sqlv hv[] = {SQL_STR("s", a->server)};
        having = sqlt_render("server_id = {s}", hv, 1);
    } else {
        having = strdup("1");
    }
    if (!having) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("where", "1"), SQL_RAW("having", having), SQL_INT("limit", a->pg.limit),
                SQL_INT("offset", a->pg.offset)};
    if (!a->count_only)
        job_ch(j, 0, match_list_sql, v, 4);
    job_ch(j, 1, match_count_sql, v, 4);
    free(having);
    j->optional |= 1u << 2;
    job_pg(j, 2, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
}

/* ---- GET /stats/match/{id}[/advanced] ---- */

static void detail_build(qjob *j)
{
    match_args *a = j->args;
    const cJSON *m = job_row(j, 0), *r;
    const cJSON *servers = job_rows(j, 6);
    cJSON *o = cJSON_CreateObject();
    cJSON *info = match_json(m, servers, false);
    const char *map = row_str(info, "map_name");
    cJSON_AddStringToObject(o, "match_id", a->id);
    cJSON_AddStringToObject(o, "map_name", map);
    cJSON_AddStringToObject(o, "game_mode", row_str(info, "gametype"));
    cJSON_AddNumberToObject(o, "duration", row_num(info, "duration"));
    cJSON_AddNumberToObject(o, "started_at", row_num(info, "started_at"));
    cJSON_AddNumberToObject(o, "ended_at", row_num(info, "ended_at"));
    cJSON_AddNumberToObject(o, "allies_score", row_num(m, "allies_score"));
    cJSON_AddNumberToObject(o, "axis_score", row_num(m, "axis_score"));
    json_copy(o, info, "winning_team", NULL);

    cJSON *players = cJSON_CreateObject(), *board = cJSON_CreateArray();
    bool teams = false;
    cJSON_ArrayForEach(r, job_rows(j, 1))
    {
        const char *guid = row_str(r, "guid"), *team = row_str(r, "team");
        double kills = row_num(r, "kills"), deaths = row_num(r, "deaths");
        teams |= *team != '\0';
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "player_id", guid);
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "name", row_str(r, "name"));
        cJSON_AddStringToObject(p, "player_name", row_str(r, "name"));
        cJSON_AddStringToObject(p, "team", team);
        cJSON_AddNumberToObject(p, "kills", kills);
        cJSON_AddNumberToObject(p, "deaths", deaths);
        json_add_round(p, "kd", deaths > 0 ? kills / deaths : kills, 2);
        cJSON_AddNumberToObject(p, "headshots", row_num(r, "headshots"));
        cJSON_AddNumberToObject(p, "suicides", row_num(r, "suicides"));
        cJSON_AddNumberToObject(p, "teamkills", row_num(r, "teamkills"));
        cJSON_AddNumberToObject(p, "score", kills - row_num(r, "suicides") - row_num(r, "teamkills"));
        cJSON_AddNumberToObject(p, "time_played", round(row_num(r, "last_t") - row_num(r, "first_t")));
        cJSON_AddItemToArray(board, cJSON_Duplicate(p, true));
        cJSON_AddItemToObject(players, guid, p);
    }
    cJSON_AddBoolToObject(o, "team_match", teams);
    cJSON_AddBoolToObject(info, "team_match", teams);
    cJSON_AddItemToObject(o, "players", players);
    cJSON_AddItemToObject(o, "scoreboard", board);

    cJSON *summary = cJSON_AddObjectToObject(o, "summary");
    cJSON_AddStringToObject(summary, "map_name", map);
    cJSON_AddNumberToObject(summary, "started_at", row_num(info, "started_at"));
    cJSON_AddNumberToObject(summary, "ended_at", row_num(info, "ended_at"));
    cJSON_AddNumberToObject(summary, "total_kills", row_num(info, "kills"));
    cJSON_AddNumberToObject(summary, "unique_players", row_num(info, "player_count"));

    cJSON *top = cJSON_AddArrayToObject(o, "top_weapons");
    cJSON_ArrayForEach(r, job_rows(j, 2)) cJSON_AddItemToArray(top, cJSON_Duplicate(r, true));

    /* versus: per killer, the opponents they killed and were killed by. */
    cJSON *versus = cJSON_AddObjectToObject(o, "versus");
    cJSON_ArrayForEach(r, job_rows(j, 3))
    {
        const char *killer = row_str(r, "killer");
        cJSON *list = cJSON_GetObjectItem(versus, killer);
        if (!list)
            list = cJSON_AddArrayToObject(versus, killer);
        double back = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, job_rows(j, 3)) if (strcmp(row_str(x, "killer_guid"), row_str(r, "victim_guid")) == 0 &&
                                                  strcmp(row_str(x, "victim_guid"), row_str(r, "killer_guid")) == 0)
            back = row_num(x, "kills");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "opponent_name", row_str(r, "victim"));
        cJSON_AddStringToObject(e, "opponent_guid", row_str(r, "victim_guid"));
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "deaths", back);
        cJSON_AddItemToArray(list, e);
    }

    cJSON *tl = cJSON_AddArrayToObject(o, "timeline");
    cJSON_ArrayForEach(r, job_rows(j, 4))
    {
        const char *type = row_str(r, "event_type");
        cJSON *e = cJSON_CreateObject();
        const event_type_def *def = event_type_resolve(type, strlen(type), false);
        bool kill = event_type_has(def, EVF_KILL);
        bool head = kill && row_num(r, "enemy_kill") > 0 && vocab_hit_class(row_str(r, "hitloc")) == HIT_HEAD;
        const char *shown = head ? "headshot" : event_type_has(def, EVF_CAPTURE) ? "flag_capture" : type;
        cJSON_AddStringToObject(e, "type", shown);
        cJSON_AddStringToObject(e, "event_type", type);
        cJSON_AddStringToObject(e, "actor", row_str(r, "actor_name"));
        cJSON_AddStringToObject(e, "target", row_str(r, "target_name"));
        const char *detail = kill                  ? row_str(r, "weapon")
                             : *row_str(r, "team") ? row_str(r, "team")
                                                   : row_str(r, "map_name");
        cJSON_AddStringToObject(e, "detail", detail);
        cJSON_AddNumberToObject(e, "timestamp", row_num(r, "ts_ms") / 1000);
        const cJSON *gt = cJSON_GetObjectItem(r, "game_time");
        if (cJSON_IsNumber(gt))
            cJSON_AddNumberToObject(e, "game_time", gt->valuedouble);
        else
            cJSON_AddNullToObject(e, "game_time");
        cJSON_AddItemToArray(tl, e);
    }
    cJSON_AddItemToObject(o, "info", info);
    job_answer(j, 200, o);
}

/* Step 2: the match exists; read its events by (type, server, match). */
static void detail_events(qjob *j)
{
    match_args *a = j->args;
    const cJSON *m = job_row(j, 0);
    if (!m || row_num(m, "first_ms") <= 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Match not found: '%.64s'.", a->id);
        job_error(j, 404, msg);
        return;
    }
    snprintf(a->server, sizeof a->server, "%s", row_str(m, "server_id"));
    sqlv v[] = {SQL_STR("id", a->id), SQL_STR("server", a->server)};
    job_ch(j, 2, top_weapons_sql, v, 2);
    job_ch(j, 3, versus_sql, v, 2);
    job_ch(j, 4, timeline_sql, v, 2);
    job_then(j, detail_build);
}

/* The match's summary and players, and the servers' names; then detail_events. */
static void detail_start(qjob *j)
{
    match_args *a = j->args;
    sqlv w[] = {SQL_STR("id", a->id)};
    char *where = sqlt_render("match_key = {id}", w, 1);
    if (!where) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("where", where), SQL_RAW("having", "1"), SQL_INT("limit", 1), SQL_INT("offset", 0),
                SQL_STR("id", a->id)};
    job_ch(j, 0, match_list_sql, v, 4);
    job_ch(j, 1, match_players_sql, v + 4, 1);
    free(where);
    j->optional |= 1u << 6;
    job_pg(j, 6, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
}

/* ---- GET /stats/match/{id}/timeline ---- */

/* Where the match was played, and whether it was. */
// clang-format off
static const char timeline_match_sql[] =
    "SELECT minMerge(first_ms) AS first_ms, anyMerge(server_id) AS server_id\n"
    "FROM match_summary\n"
    "WHERE match_key = {id}";
// clang-format on

static void timeline_build(qjob *j)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 4))
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "timestamp", row_num(r, "ts_ms") / 1000);
        json_copy(e, r, "game_time", NULL);
        json_copy(e, r, "event_type", NULL);
        json_copy(e, r, "actor_name", NULL);
        json_copy(e, r, "actor_guid", NULL);
        json_copy(e, r, "target_name", NULL);
        json_copy(e, r, "target_guid", NULL);
        json_copy(e, r, "weapon", NULL);
        json_copy(e, r, "hitloc", NULL);
        cJSON_AddItemToArray(arr, e);
    }
    job_answer(j, 200, arr);
}

static void timeline_events(qjob *j)
{
    match_args *a = j->args;
    const cJSON *m = job_row(j, 0);
    if (!m || row_num(m, "first_ms") <= 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Match not found: '%.64s'.", a->id);
        job_error(j, 404, msg);
        return;
    }
    snprintf(a->server, sizeof a->server, "%s", row_str(m, "server_id"));
    sqlv v[] = {SQL_STR("id", a->id), SQL_STR("server", a->server)};
    job_ch(j, 4, timeline_sql, v, 2);
    job_then(j, timeline_build);
}

/* ---- the endpoints ---- */

static size_t id_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    match_args *a = j->args;
    out[0] = SQL_STR("id", a->id);
    return 1;
}

#define MATCH_ID_PARAM                                                                                                 \
    {PARAM_IDENT, "id", offsetof(match_args, id), 0, "must be a match id of 1 to 64 printable bytes", NULL}

/* One match, at two paths; its second step (detail_events) needs the server the first found. */
#define MATCH_DETAIL(p)                                                                                                \
    {.path = p,                                                                                                        \
     .key = "match",                                                                                                   \
     .args_size = sizeof(match_args),                                                                                  \
     .params = {MATCH_ID_PARAM},                                                                                       \
     .start = detail_start,                                                                                            \
     .build = detail_events}

static const endpoint match_endpoints[] = {
    {.path = "/stats/matches",
     .key = "matches",
     .args_size = sizeof(match_args),
     .params = {{PARAM_QUERY_IDENT, "server_id", offsetof(match_args, server), 0, "must be 1 to 64 printable bytes",
                 NULL},
                {PARAM_FLAG, "count_only", offsetof(match_args, count_only), 0, NULL, NULL},
                /* offset in the URL: the paged callers, who read the bare array */
                {PARAM_GIVEN, "offset", offsetof(match_args, bare), 0, NULL, NULL},
                {PARAM_PAGING, "limit", offsetof(match_args, pg), 20, NULL, NULL}},
     .start = list_start,
     .build = list_build},
    MATCH_DETAIL("/stats/match/{id}"),
    MATCH_DETAIL("/stats/match/{id}/advanced"),
    {.path = "/stats/match/{id}/timeline",
     .key = "mtl",
     .args_size = sizeof(match_args),
     .params = {MATCH_ID_PARAM},
     .vals = id_vals,
     .queries = {{0, timeline_match_sql, NULL, 0}},
     .build = timeline_events},
};

void match_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, match_endpoints, sizeof match_endpoints / sizeof match_endpoints[0]);
    endpoints_add(q, s, rating_match_endpoints, rating_match_endpoints_n);
}
