/* Game servers: the registered list (PostgreSQL) with live state (Redis live_matches, written by ingestd)
 * and activity (ClickHouse server_hourly), rankings, one server's detail and breakdowns, live matches.
 *
 * - GET /servers: [{id, name, address, port, is_online, current_map, current_players, avg_players_24h,
 *   peak_players_24h, rank, ...}].
 * - GET /servers/stats: {total_servers, online_servers, total_players_now, total_kills_today, total_matches_today,
 *   peak_players_today, ...}.
 * - GET /servers/rankings?limit=50: [{server_id, name, rank, score, trend, kills_24h, players_24h, matches_24h}].
 * - GET /servers/{id}: {id, name, ..., stats{}, stats_24h{}, uptime{}}.
 * - GET /servers/{id}/live: {is_online, current_map, player_count, players[], current_match, team_scores}.
 * - GET /servers/{id}/top-players?limit=25: [{rank, guid, name, kills, deaths, kd_ratio, ...}].
 * - GET /servers/{id}/maps: [{map_name, matches, popularity, kills, ...}].
 * - GET /servers/{id}/map-rotation: same as /servers/{id}/maps.
 * - GET /servers/{id}/weapons: [{weapon_name, kills, headshots, hs_percent, avg_distance, usage_rate_pct}].
 * - GET /servers/{id}/peak-hours?days=30: {data[7][24], hours, days, peak{day, hour, players}}.
 * - GET /servers/{id}/player-history?hours=24: [{timestamp, hour, players, peak, avg}].
 * - GET /servers/{id}/matches?limit=20: [{match_id, map_name, gametype, player_count, duration_mins, total_kills,
 *   winner, ...}].
 * - GET /servers/{id}/activity-timeline?days=7: [{timestamp, kills, deaths, players, match_starts, events}].
 * - GET /stats/live/matches: [{server_id, server_name, match_id, map_name, player_count, max_players, team_match,
 *   allies_score, axis_score}].
 *
 * Online = an event within the last 120 s (ingestd drops older live_matches entries; checked here again).
 * Rank and score: score = kills in 24 h + 10 x players in 24 h + 5 x matches in 24 h (the old API's formula,
 * kept so rankings look familiar); rank = position by score. An unknown server id is 404. */
#include "area.h"
#include "live_matches.h"
#include "server.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Per server: last 24 h and the 24 h before, and all time. */
// clang-format off
static const char activity_sql[] =
    "SELECT server_id,\n"
    "       sumMergeIf(kills, hour >= toStartOfHour(now() - 86400)) AS kills_24h,\n"
    "       sumMergeIf(kills, hour < toStartOfHour(now() - 86400) AND hour >= toStartOfHour(now() - 172800))\n"
    "           AS kills_prev_24h,\n"
    "       uniqExactArrayMergeIf(players, hour >= toStartOfHour(now() - 86400)) AS players_24h,\n"
    "       uniqExactMergeIf(matches, hour >= toStartOfHour(now() - 86400)) AS matches_24h,\n"
    "       sumMerge(kills) AS total_kills, sumMerge(deaths) AS total_deaths,\n"
    "       sumMerge(headshots) AS total_headshots, uniqExactMerge(matches) AS total_matches,\n"
    "       uniqExactArrayMerge(players) AS unique_players, min(hour) AS first_hour, max(hour) AS last_hour\n"
    "FROM server_hourly\n"
    "WHERE {where}\n"
    "GROUP BY server_id";
// clang-format on

/* Per server and hour of the last 24 (and 7 / 30 days for uptime). */
// clang-format off
static const char hourly_sql[] =
    "SELECT server_id, hour, uniqExactArrayMerge(players) AS players\n"
    "FROM server_hourly\n"
    "WHERE {where} AND hour >= toStartOfHour(now() - {span} * 3600)\n"
    "GROUP BY server_id, hour";
// clang-format on

/* The live entry of a server, when fresh. */
const cJSON *server_live_entry(const cJSON *live_rows, const char *id)
{
    const cJSON *row = rows_find(live_rows, "field", id);
    const cJSON *v = cJSON_GetObjectItem(row, "value");
    if (!cJSON_IsObject(v))
        return NULL;
    double last = row_num(v, LIVE_LAST_EVENT_MS);
    double now_ms = (double)time(NULL) * 1000;
    return last + LIVE_WINDOW_MS >= now_ms ? v : NULL;
}

/* Players of a live entry seen within the live window. */
static int live_players(const cJSON *live)
{
    double now_ms = (double)time(NULL) * 1000;
    int n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(
        p, cJSON_GetObjectItem(live, LIVE_PLAYERS)) if (row_num(p, LIVE_PLAYER_LAST_SEEN_MS) + LIVE_WINDOW_MS >= now_ms)
        n++;
    return n;
}

/* Score of an activity row (see the header). */
static double score_of(const cJSON *a)
{
    return row_num(a, "kills_24h") + 10 * row_num(a, "players_24h") + 5 * row_num(a, "matches_24h");
}

/* Rank (1-based) of server id among the servers by score; ties by id. */
static int rank_of(const cJSON *servers, const cJSON *activity, const char *id)
{
    double mine = score_of(rows_find(activity, "server_id", id));
    int rank = 1;
    const cJSON *s;
    cJSON_ArrayForEach(s, servers)
    {
        const char *other = row_str(s, "id");
        double sc = score_of(rows_find(activity, "server_id", other));
        if (sc > mine || (sc == mine && strcmp(other, id) < 0))
            rank++;
    }
    return rank;
}

/* avg and peak of the hourly player counts of one server over the last 24 hours. */
static void players_24h(const cJSON *hourly, const char *id, double *avg, double *peak)
{
    double sum = 0, max = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, hourly)
    {
        if (strcmp(row_str(h, "server_id"), id) != 0)
            continue;
        double p = row_num(h, "players");
        sum += p;
        if (p > max)
            max = p;
    }
    *avg = sum / 24;
    *peak = max;
}

/* The fields every server view shares: identity and live state. */
static void add_identity(cJSON *o, const cJSON *s, const cJSON *live)
{
    const char *id = row_str(s, "id"), *name = row_str(s, "name"), *addr = row_str(s, "address");
    char display[300];
    snprintf(display, sizeof display, "%s:%d", name, (int)row_num(s, "port"));
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "server_id", id);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "display_name", display);
    cJSON_AddStringToObject(o, "address", addr);
    cJSON_AddStringToObject(o, "ip_address", addr);
    cJSON_AddNumberToObject(o, "port", row_num(s, "port"));
    /* Countries would need a GeoIP database this deployment does not have. */
    cJSON_AddStringToObject(o, "country", "");
    cJSON_AddStringToObject(o, "country_name", "");
    bool online = live != NULL;
    int players = online ? live_players(live) : 0;
    const char *map = online ? row_str(live, LIVE_MAP_NAME) : "";
    cJSON_AddBoolToObject(o, "is_online", online);
    cJSON_AddBoolToObject(o, "online", online);
    cJSON_AddBoolToObject(o, "is_active", cJSON_IsTrue(cJSON_GetObjectItem(s, "is_active")));
    cJSON_AddStringToObject(o, "current_map", *map ? map : online ? "unknown" : "");
    cJSON_AddNumberToObject(o, "current_players", players);
    cJSON_AddNumberToObject(o, "players", players);
    cJSON_AddNullToObject(o, "max_players");
    cJSON_AddStringToObject(o, "gametype", "");
    double last_seen = row_num(s, "last_seen_s");
    if (live && row_num(live, LIVE_LAST_EVENT_MS) / 1000 > last_seen)
        last_seen = floor(row_num(live, LIVE_LAST_EVENT_MS) / 1000);
    cJSON_AddNumberToObject(o, "last_seen", last_seen);
}

/* ---- GET /servers, /servers/stats, /servers/rankings ---- */

typedef enum { VIEW_LIST, VIEW_STATS, VIEW_RANKINGS } list_view;

static void list_build(qjob *j)
{
    server_args *a = j->args;
    list_view view = (list_view)a->days;
    const cJSON *servers = job_rows(j, 0), *live = job_rows(j, 1), *act = job_rows(j, 2), *hourly = job_rows(j, 3);
    const cJSON *s;
    if (view == VIEW_STATS) {
        int online = 0, now_players = 0;
        cJSON_ArrayForEach(s, servers)
        {
            const cJSON *l = server_live_entry(live, row_str(s, "id"));
            if (l) {
                online++;
                now_players += live_players(l);
            }
        }
        const cJSON *t = job_row(j, 4);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "total_servers", cJSON_GetArraySize(servers));
        cJSON_AddNumberToObject(o, "online_servers", online);
        cJSON_AddNumberToObject(o, "online_now", online);
        cJSON_AddNumberToObject(o, "total_players_now", now_players);
        cJSON_AddNumberToObject(o, "players_online", now_players);
        json_add_round(o, "avg_players_now", online > 0 ? (double)now_players / online : 0, 1);
        cJSON_AddNumberToObject(o, "total_kills_today", row_num(t, "kills_today"));
        cJSON_AddNumberToObject(o, "total_matches_today", row_num(t, "matches_today"));
        cJSON_AddNumberToObject(o, "total_matches", row_num(t, "matches_today"));
        cJSON_AddNumberToObject(o, "peak_players_today", row_num(job_row(j, 5), "peak"));
        cJSON_AddNumberToObject(o, "total_kills_all_time", row_num(t, "all_kills"));
        job_answer(j, 200, o);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(s, servers)
    {
        const char *id = row_str(s, "id");
        const cJSON *ar = rows_find(act, "server_id", id);
        cJSON *o = cJSON_CreateObject();
        int rank = rank_of(servers, act, id);
        if (view == VIEW_RANKINGS) {
            cJSON_AddStringToObject(o, "server_id", id);
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "name", row_str(s, "name"));
            cJSON_AddNumberToObject(o, "rank", rank);
            cJSON_AddNumberToObject(o, "score", score_of(ar));
            cJSON_AddNumberToObject(o, "trend", row_num(ar, "kills_24h") - row_num(ar, "kills_prev_24h"));
            cJSON_AddNumberToObject(o, "kills_24h", row_num(ar, "kills_24h"));
            cJSON_AddNumberToObject(o, "players_24h", row_num(ar, "players_24h"));
            cJSON_AddNumberToObject(o, "matches_24h", row_num(ar, "matches_24h"));
        } else {
            double avg, peak;
            add_identity(o, s, server_live_entry(live, id));
            players_24h(hourly, id, &avg, &peak);
            cJSON_AddNumberToObject(o, "rank", rank);
            json_add_round(o, "avg_players_24h", avg, 1);
            cJSON_AddNumberToObject(o, "peak_players_24h", peak);
            cJSON_AddNumberToObject(o, "total_kills", row_num(ar, "total_kills"));
            cJSON_AddNumberToObject(o, "total_matches", row_num(ar, "total_matches"));
            cJSON_AddNumberToObject(o, "unique_players", row_num(ar, "unique_players"));
        }
        cJSON_AddItemToArray(arr, o);
    }
    /* Sorted by rank: the list pages show the busiest first. */
    int n = cJSON_GetArraySize(arr);
    cJSON *sorted = cJSON_CreateArray();
    for (int want = 1; want <= n; want++) {
        cJSON *e;
        cJSON_ArrayForEach(e, arr) if ((int)row_num(e, "rank") == want && (view != VIEW_RANKINGS || want <= a->limit))
            cJSON_AddItemToArray(sorted, cJSON_Duplicate(e, true));
    }
    cJSON_Delete(arr);
    job_answer(j, 200, sorted);
}

// clang-format off
static const char today_sql[] =
    "SELECT sumMergeIf(kills, hour >= toStartOfDay(now(), 'UTC')) AS kills_today,\n"
    "       uniqExactMergeIf(matches, hour >= toStartOfDay(now(), 'UTC')) AS matches_today,\n"
    "       sumMerge(kills) AS all_kills\n"
    "FROM server_hourly";
// clang-format on

// clang-format off
static const char peak_today_sql[] =
    "SELECT max(p) AS peak\n"
    "FROM\n"
    "(\n"
    "    SELECT hour, uniqExactArrayMerge(players) AS p\n"
    "    FROM server_hourly\n"
    "    WHERE hour >= toStartOfDay(now(), 'UTC')\n"
    "    GROUP BY hour\n"
    ")";
// clang-format on

static void list_start(qjob *j)
{
    server_args *a = j->args;
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    j->optional |= 1u << 1; /* without Redis every server just looks offline */
    job_redis_hash(j, 1, LIVE_MATCHES_KEY, NULL);
    sqlv v[] = {SQL_RAW("where", "1"), SQL_INT("span", 24)};
    job_ch(j, 2, activity_sql, v, 1);
    if ((list_view)a->days == VIEW_LIST)
        job_ch(j, 3, hourly_sql, v, 2);
    if ((list_view)a->days == VIEW_STATS) {
        job_ch(j, 4, today_sql, NULL, 0);
        job_ch(j, 5, peak_today_sql, NULL, 0);
    }
    job_then(j, list_build);
}

static void serve_list(http_request *req, queryd *q, list_view view, long limit)
{
    server_args *a = ARGS_NEW(server_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->days = view; /* the view rides in days: list endpoints have no days parameter */
    a->limit = limit;
    char key[64];
    snprintf(key, sizeof key, "servers:%d:%ld", (int)view, limit);
    qcache_serve(q->cache, req, key, q->live_ttl_s, list_start, a, free);
}

static void servers_list(http_request *req, void *arg)
{
    serve_list(req, arg, VIEW_LIST, 0);
}

static void servers_stats(http_request *req, void *arg)
{
    serve_list(req, arg, VIEW_STATS, 0);
}

static void servers_rankings(http_request *req, void *arg)
{
    queryd *q = arg;
    serve_list(req, q, VIEW_RANKINGS, param_long(req, "limit", 50, 1, q->max_limit));
}

/* ---- one server ---- */

/* The server's registration row, or NULL. */
static const cJSON *server_row(qjob *j, int slot)
{
    server_args *a = j->args;
    return rows_find(job_rows(j, slot), "id", a->id);
}

void server_not_found(qjob *j, const char *id)
{
    char msg[160];
    snprintf(msg, sizeof msg, "Server not found: '%.64s' is not a registered server.", id);
    job_error(j, 404, msg);
}

static void unknown_server(qjob *j)
{
    server_args *a = j->args;
    server_not_found(j, a->id);
}

// clang-format off
static const char playtime_sql[] =
    "SELECT sum(last - first) AS playtime_s\n"
    "FROM\n"
    "(\n"
    "    SELECT minMerge(first_t) AS first, maxMerge(last_t) AS last,\n"
    "           anyMerge(server_id) AS server_id\n"
    "    FROM player_match\n"
    "    GROUP BY guid, match_key\n"
    "    HAVING server_id = {id}\n"
    ")";
// clang-format on

// clang-format off
static const char uptime_sql[] =
    "SELECT countIf(hour >= toStartOfHour(now() - 86400)) AS hours_24h,\n"
    "       countIf(hour >= toStartOfHour(now() - 7 * 86400)) AS hours_7d,\n"
    "       countIf(hour >= toStartOfHour(now() - 30 * 86400)) AS hours_30d, max(hour) AS last_hour\n"
    "FROM (SELECT hour FROM server_hourly WHERE server_id = {id} AND hour >= toStartOfHour(now() - 30 * 86400)\n"
    "      GROUP BY hour)";
// clang-format on

static void detail_build(qjob *j)
{
    server_args *a = j->args;
    const cJSON *s = server_row(j, 0);
    if (!s) {
        unknown_server(j);
        return;
    }
    const cJSON *servers = job_rows(j, 0), *live = job_rows(j, 1), *act = job_rows(j, 2);
    const cJSON *ar = rows_find(act, "server_id", a->id);
    const cJSON *l = server_live_entry(live, a->id);
    cJSON *o = cJSON_CreateObject();
    add_identity(o, s, l);
    cJSON_AddNumberToObject(o, "rank", rank_of(servers, act, a->id));
    double avg, peak;
    players_24h(job_rows(j, 3), a->id, &avg, &peak);
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    cJSON_AddNumberToObject(st, "total_kills", row_num(ar, "total_kills"));
    cJSON_AddNumberToObject(st, "total_deaths", row_num(ar, "total_deaths"));
    cJSON_AddNumberToObject(st, "total_headshots", row_num(ar, "total_headshots"));
    cJSON_AddNumberToObject(st, "total_matches", row_num(ar, "total_matches"));
    cJSON_AddNumberToObject(st, "unique_players", row_num(ar, "unique_players"));
    json_add_round(st, "total_playtime_hours", row_num(job_row(j, 4), "playtime_s") / 3600, 1);
    cJSON_AddNumberToObject(st, "first_seen", row_num(s, "created_s"));
    cJSON *d = cJSON_AddObjectToObject(o, "stats_24h");
    cJSON_AddNumberToObject(d, "kills", row_num(ar, "kills_24h"));
    cJSON_AddNumberToObject(d, "matches", row_num(ar, "matches_24h"));
    cJSON_AddNumberToObject(d, "unique_players", row_num(ar, "players_24h"));
    json_add_round(d, "avg_players", avg, 1);
    cJSON_AddNumberToObject(d, "peak_players", peak);
    const cJSON *u = job_row(j, 5);
    cJSON *up = cJSON_AddObjectToObject(o, "uptime");
    json_add_round(up, "uptime_24h", row_num(u, "hours_24h") * 100 / 24, 1);
    json_add_round(up, "uptime_7d", row_num(u, "hours_7d") * 100 / 168, 1);
    json_add_round(up, "uptime_30d", row_num(u, "hours_30d") * 100 / 720, 1);
    cJSON_AddNumberToObject(up, "last_online", row_num(o, "last_seen"));
    job_answer(j, 200, o);
}

static void detail_start(qjob *j)
{
    server_args *a = j->args;
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    j->optional |= 1u << 1;
    job_redis_hash(j, 1, LIVE_MATCHES_KEY, NULL);
    sqlv w[] = {SQL_STR("id", a->id)};
    char *where = sqlt_render("server_id = {id}", w, 1);
    if (!where) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    /* Every server's activity: the rank needs the others' scores. */
    sqlv all[] = {SQL_RAW("where", "1"), SQL_INT("span", 24)};
    job_ch(j, 2, activity_sql, all, 1);
    sqlv v[] = {SQL_RAW("where", where), SQL_INT("span", 24), SQL_STR("id", a->id)};
    job_ch(j, 3, hourly_sql, v, 2);
    job_ch(j, 4, playtime_sql, v + 2, 1);
    job_ch(j, 5, uptime_sql, v + 2, 1);
    free(where);
    job_then(j, detail_build);
}

/* ---- /servers/{id}/live and /stats/live/matches ---- */

/* The live view of one server's entry (live may be NULL: offline). */
static cJSON *live_json(const cJSON *s, const cJSON *live)
{
    cJSON *o = cJSON_CreateObject();
    double now_ms = (double)time(NULL) * 1000;
    const char *map = live ? row_str(live, LIVE_MAP_NAME) : "";
    cJSON_AddStringToObject(o, "server_id", row_str(s, "id"));
    cJSON_AddStringToObject(o, "server_name", row_str(s, "name"));
    cJSON_AddBoolToObject(o, "is_online", live != NULL);
    cJSON_AddStringToObject(o, "current_map", live ? (*map ? map : "unknown") : "");
    cJSON_AddStringToObject(o, "map_name", live ? (*map ? map : "unknown") : "");
    cJSON_AddStringToObject(o, "gametype", "");
    cJSON_AddNullToObject(o, "max_players");
    cJSON *players = cJSON_AddArrayToObject(o, "players");
    int allies = 0, axis = 0;
    bool teams = false;
    const cJSON *p;
    const cJSON *plist = live ? cJSON_GetObjectItem(live, LIVE_PLAYERS) : NULL;
    cJSON_ArrayForEach(p, plist)
    {
        if (row_num(p, LIVE_PLAYER_LAST_SEEN_MS) + LIVE_WINDOW_MS < now_ms)
            continue;
        double k = row_num(p, LIVE_PLAYER_KILLS), d = row_num(p, LIVE_PLAYER_DEATHS);
        const char *team = row_str(p, LIVE_PLAYER_TEAM);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", row_str(p, LIVE_PLAYER_NAME));
        cJSON_AddStringToObject(e, "guid", row_str(p, LIVE_PLAYER_GUID));
        cJSON_AddNumberToObject(e, "kills", k);
        cJSON_AddNumberToObject(e, "deaths", d);
        cJSON_AddNumberToObject(e, "score", k);
        cJSON_AddStringToObject(e, "team", team);
        json_add_round(e, "kd_ratio", d > 0 ? k / d : k, 2);
        cJSON_AddStringToObject(e, "country", "");
        cJSON_AddNullToObject(e, "rank");
        json_add_round(e, "time_played_hours", (now_ms - row_num(live, LIVE_STARTED_AT_MS)) / 3600000, 2);
        cJSON_AddItemToArray(players, e);
        team_side side = vocab_team_side(team);
        if (side == SIDE_ALLIES)
            allies += (int)k;
        else if (side == SIDE_AXIS)
            axis += (int)k;
        teams |= side != SIDE_NONE;
    }
    int n = cJSON_GetArraySize(players);
    cJSON_AddNumberToObject(o, "player_count", n);
    cJSON_AddNumberToObject(o, "current_players", n);
    cJSON_AddBoolToObject(o, "team_match", teams);
    /* Without gameflow events there is no real score: the teams' kills stand in for it. */
    cJSON_AddNumberToObject(o, "allies_score", allies);
    cJSON_AddNumberToObject(o, "axis_score", axis);
    cJSON *ts = cJSON_AddObjectToObject(o, "team_scores");
    cJSON_AddNumberToObject(ts, "allies", allies);
    cJSON_AddNumberToObject(ts, "axis", axis);
    if (live) {
        cJSON *cm = cJSON_AddObjectToObject(o, "current_match");
        cJSON_AddStringToObject(cm, "match_id", row_str(live, LIVE_MATCH_ID));
        cJSON_AddStringToObject(cm, "map_name", *map ? map : "unknown");
        cJSON_AddNumberToObject(cm, "started_at", floor(row_num(live, LIVE_STARTED_AT_MS) / 1000));
        cJSON_AddNumberToObject(cm, "player_count", n);
        cJSON_AddStringToObject(o, "match_id", row_str(live, LIVE_MATCH_ID));
        cJSON_AddNumberToObject(o, "started_at", floor(row_num(live, LIVE_STARTED_AT_MS) / 1000));
        cJSON_AddNumberToObject(o, "last_update", floor(row_num(live, LIVE_LAST_EVENT_MS) / 1000));
    } else {
        cJSON_AddNullToObject(o, "current_match");
    }
    return o;
}

static void live_build(qjob *j)
{
    server_args *a = j->args;
    const cJSON *s = server_row(j, 0);
    if (!s) {
        unknown_server(j);
        return;
    }
    job_answer(j, 200, live_json(s, server_live_entry(job_rows(j, 1), a->id)));
}

static void live_start(qjob *j)
{
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    job_redis_hash(j, 1, LIVE_MATCHES_KEY, NULL);
    job_then(j, live_build);
}

static void live_matches_build(qjob *j)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 1))
    {
        const char *id = row_str(r, "field");
        const cJSON *l = server_live_entry(job_rows(j, 1), id);
        if (!l)
            continue;
        const cJSON *s = rows_find(job_rows(j, 0), "id", id);
        cJSON *fake = NULL;
        if (!s) {
            /* Live but no longer registered (revoked): still shown, without a name. */
            fake = cJSON_CreateObject();
            cJSON_AddStringToObject(fake, "id", id);
            cJSON_AddStringToObject(fake, "name", "Unknown Server");
            s = fake;
        }
        cJSON_AddItemToArray(arr, live_json(s, l));
        cJSON_Delete(fake);
    }
    job_answer(j, 200, arr);
}

static void live_matches_start(qjob *j)
{
    j->optional |= 1u << 0;
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    job_redis_hash(j, 1, LIVE_MATCHES_KEY, NULL);
    job_then(j, live_matches_build);
}

static void live_matches(http_request *req, void *arg)
{
    queryd *q = arg;
    qcache_serve(q->cache, req, "livematches", q->live_ttl_s, live_matches_start, NULL, NULL);
}

/* ---- breakdowns of one server ---- */

// clang-format off
static const char top_players_sql[] =
    "SELECT guid, sum(kills) AS kills, sum(deaths) AS deaths, sum(headshots) AS headshots,\n"
    "       max(day) AS last_day, count() AS days\n"
    "FROM player_daily\n"
    "WHERE server_id = {id} AND " NOT_UNAUTH_SQL("guid") "\n"
    "GROUP BY guid\n"
    "HAVING kills + deaths > 0\n"
    "ORDER BY kills DESC, deaths ASC, guid ASC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
const char server_names_sql[] =
    "SELECT guid, argMax(name, last_ms) AS name\n"
    "FROM player_names\n"
    "WHERE guid IN (SELECT guid FROM player_daily WHERE server_id = {id})\n"
    "GROUP BY guid";
// clang-format on

// clang-format off
static const char maps_sql[] =
    "SELECT map_name, count() AS matches, sum(k) AS kills, avg(dur) AS avg_dur,\n"
    "       max(last) AS last_played, avg(p) AS avg_players\n"
    "FROM\n"
    "(\n"
    "    SELECT argMaxMerge(map) AS map_name, sumMerge(kills) AS k, anyMerge(server_id) AS s,\n"
    "           maxMerge(last_t) - minMerge(first_t) AS dur, maxMerge(last_ms) AS last,\n"
    "           uniqExactArrayMerge(players) AS p\n"
    "    FROM match_summary\n"
    "    GROUP BY match_key\n"
    "    HAVING s = {id}\n"
    ")\n"
    "GROUP BY map_name\n"
    "ORDER BY matches DESC, kills DESC, map_name ASC";
// clang-format on

// clang-format off
static const char weapons_sql[] =
    "SELECT weapon, sum(kills) AS kills, sum(headshots) AS headshots,\n"
    "       sum(kill_dist_sum) AS dist_sum, sum(kill_dist_n) AS dist_n\n"
    "FROM weapon_daily\n"
    "WHERE server_id = {id}\n"
    "GROUP BY weapon\n"
    "HAVING kills > 0\n"
    "ORDER BY kills DESC, weapon ASC\n"
    "LIMIT 20";
// clang-format on

// clang-format off
static const char peak_sql[] =
    "SELECT toDayOfWeek(hour, 'UTC') AS d, toHour(hour, 'UTC') AS h,\n"
    "       uniqExactArrayMerge(players) AS players\n"
    "FROM server_hourly\n"
    "WHERE server_id = {id} AND hour >= toStartOfHour(now() - {days} * 86400)\n"
    "GROUP BY d, h";
// clang-format on

// clang-format off
static const char history_sql[] =
    "SELECT toUInt32(hour) AS ts, uniqExactArrayMerge(players) AS players,\n"
    "       sumMerge(kills) AS kills, sumMerge(deaths) AS deaths,\n"
    "       sumMerge(match_starts) AS match_starts, countMerge(events) AS events\n"
    "FROM server_hourly\n"
    "WHERE server_id = {id} AND hour >= toStartOfHour(now() - {hours} * 3600)\n"
    "GROUP BY hour\n"
    "ORDER BY hour";
// clang-format on

// clang-format off
static const char server_matches_sql[] =
    "SELECT match_key, argMaxMerge(map) AS map_name, minMerge(first_ms) AS first_ms, maxMerge(last_ms) AS last_ms,\n"
    "       minMerge(first_t) AS first_t, maxMerge(last_t) AS last_t,\n"
    "       sumMerge(kills) AS kills, uniqExactArrayMerge(players) AS players, argMaxMerge(winner) AS winner,\n"
    "       " GAMETYPE_SQL("argMaxMerge(gt)", "map_name") " AS gametype, anyMerge(server_id) AS s\n"
    "FROM match_summary\n"
    "GROUP BY match_key\n"
    "HAVING s = {id}\n"
    "ORDER BY first_ms DESC, match_key ASC\n"
    "LIMIT {limit}";
// clang-format on

typedef enum { PART_TOP, PART_MAPS, PART_WEAPONS, PART_PEAK, PART_HISTORY, PART_MATCHES, PART_ACTIVITY } part;

typedef struct {
    server_args base;
    part what;
} part_args;

static void part_build(qjob *j)
{
    part_args *a = j->args;
    if (!server_row(j, 0)) {
        unknown_server(j);
        return;
    }
    const cJSON *rows = job_rows(j, 1), *r;
    cJSON *arr = cJSON_CreateArray();
    double total = 0;
    cJSON_ArrayForEach(r, rows) total += row_num(r, a->what == PART_MAPS ? "matches" : "kills");
    int rank = 0;
    switch (a->what) {
    case PART_TOP:
        cJSON_ArrayForEach(r, rows)
        {
            double k = row_num(r, "kills"), d = row_num(r, "deaths");
            const char *guid = row_str(r, "guid");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "rank", ++rank);
            cJSON_AddStringToObject(e, "guid", guid);
            cJSON_AddStringToObject(e, "player_id", guid);
            cJSON_AddStringToObject(e, "name", row_str(rows_find(job_rows(j, 2), "guid", guid), "name"));
            cJSON_AddNumberToObject(e, "kills", k);
            cJSON_AddNumberToObject(e, "deaths", d);
            json_add_round(e, "kd_ratio", d > 0 ? k / d : k, 2);
            cJSON_AddNumberToObject(e, "headshots", row_num(r, "headshots"));
            json_add_round(e, "hs_percent", k > 0 ? row_num(r, "headshots") * 100 / k : 0, 1);
            cJSON_AddStringToObject(e, "last_seen", row_str(r, "last_day"));
            cJSON_AddNumberToObject(e, "days_played", row_num(r, "days"));
            cJSON_AddItemToArray(arr, e);
        }
        break;
    case PART_MAPS:
        cJSON_ArrayForEach(r, rows)
        {
            const char *m = row_str(r, "map_name");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "map_name", *m ? m : "unknown");
            cJSON_AddNumberToObject(e, "matches", row_num(r, "matches"));
            cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
            json_add_round(e, "popularity", total > 0 ? row_num(r, "matches") * 100 / total : 0, 1);
            json_add_round(e, "popularity_pct", total > 0 ? row_num(r, "matches") * 100 / total : 0, 1);
            json_add_round(e, "avg_duration_mins", row_num(r, "avg_dur") / 60, 1);
            json_add_round(e, "avg_players", row_num(r, "avg_players"), 1);
            cJSON_AddNumberToObject(e, "last_played", floor(row_num(r, "last_played") / 1000));
            cJSON_AddItemToArray(arr, e);
        }
        break;
    case PART_WEAPONS:
        cJSON_ArrayForEach(r, rows)
        {
            double k = row_num(r, "kills"), dn = row_num(r, "dist_n");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "weapon_name", row_str(r, "weapon"));
            cJSON_AddNumberToObject(e, "kills", k);
            cJSON_AddNumberToObject(e, "headshots", row_num(r, "headshots"));
            json_add_round(e, "hs_percent", k > 0 ? row_num(r, "headshots") * 100 / k : 0, 1);
            json_add_round(e, "avg_distance", dn > 0 ? row_num(r, "dist_sum") / dn * UNITS_TO_M : 0, 1);
            json_add_round(e, "usage_rate_pct", total > 0 ? k * 100 / total : 0, 1);
            cJSON_AddItemToArray(arr, e);
        }
        break;
    case PART_PEAK: {
        cJSON_Delete(arr);
        cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
        const cJSON *best = NULL;
        for (int d = 1; d <= 7; d++) {
            cJSON *row = cJSON_CreateArray();
            for (int h = 0; h < 24; h++) {
                double v = 0;
                cJSON_ArrayForEach(r, rows) if ((int)row_num(r, "d") == d && (int)row_num(r, "h") == h)
                {
                    v = row_num(r, "players");
                    if (!best || v > row_num(best, "players"))
                        best = r;
                }
                cJSON_AddItemToArray(row, cJSON_CreateNumber(v));
            }
            cJSON_AddItemToArray(data, row);
        }
        cJSON *hours = cJSON_AddArrayToObject(o, "hours"), *days = cJSON_AddArrayToObject(o, "days");
        for (int h = 0; h < 24; h++) {
            char hh[4];
            snprintf(hh, sizeof hh, "%02d", h);
            cJSON_AddItemToArray(hours, cJSON_CreateString(hh));
        }
        static const char *const names[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
        for (int d = 0; d < 7; d++)
            cJSON_AddItemToArray(days, cJSON_CreateString(names[d]));
        cJSON *peak = cJSON_AddObjectToObject(o, "peak");
        cJSON_AddNumberToObject(peak, "day", best ? row_num(best, "d") : 0);
        cJSON_AddNumberToObject(peak, "hour", best ? row_num(best, "h") : 0);
        cJSON_AddNumberToObject(peak, "players", best ? row_num(best, "players") : 0);
        job_answer(j, 200, o);
        return;
    }
    case PART_HISTORY:
    case PART_ACTIVITY: {
        /* Every hour of the span, hours without events at 0, so charts have no gaps. */
        long span = a->what == PART_HISTORY ? a->base.hours : a->base.days * 24;
        time_t now = time(NULL);
        long start = (long)(now - now % 3600) - (span - 1) * 3600;
        for (long t = start; t <= (long)now; t += 3600) {
            const cJSON *h = NULL;
            cJSON_ArrayForEach(r, rows) if ((long)row_num(r, "ts") == t) h = r;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "timestamp", (double)t);
            char iso[32];
            iso_time((uint64_t)t * 1000, iso);
            cJSON_AddStringToObject(e, "hour", iso);
            cJSON_AddNumberToObject(e, "players", row_num(h, "players"));
            if (a->what == PART_HISTORY) {
                cJSON_AddNumberToObject(e, "peak", row_num(h, "players"));
                cJSON_AddNumberToObject(e, "avg", row_num(h, "players"));
            } else {
                cJSON_AddNumberToObject(e, "kills", row_num(h, "kills"));
                cJSON_AddNumberToObject(e, "deaths", row_num(h, "deaths"));
                cJSON_AddNumberToObject(e, "match_starts", row_num(h, "match_starts"));
                cJSON_AddNumberToObject(e, "events", row_num(h, "events"));
            }
            cJSON_AddItemToArray(arr, e);
        }
        break;
    }
    case PART_MATCHES:
        cJSON_ArrayForEach(r, rows)
        {
            const char *m = row_str(r, "map_name"), *w = row_str(r, "winner");
            double first = row_num(r, "first_ms"), last = row_num(r, "last_ms");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "match_id", row_str(r, "match_key"));
            cJSON_AddStringToObject(e, "id", row_str(r, "match_key"));
            cJSON_AddStringToObject(e, "map_name", *m ? m : "unknown");
            cJSON_AddStringToObject(e, "gametype", row_str(r, "gametype"));
            cJSON_AddNumberToObject(e, "player_count", row_num(r, "players"));
            cJSON_AddNumberToObject(e, "duration_mins", floor((row_num(r, "last_t") - row_num(r, "first_t")) / 60));
            cJSON_AddNumberToObject(e, "total_kills", row_num(r, "kills"));
            if (vocab_team_side(w) != SIDE_NONE) /* w is a side name already (the views normalise it) */
                cJSON_AddStringToObject(e, "winner", w);
            else
                cJSON_AddNullToObject(e, "winner");
            cJSON_AddNumberToObject(e, "started_at", floor(first / 1000));
            cJSON_AddNumberToObject(e, "ended_at", floor(last / 1000));
            cJSON_AddItemToArray(arr, e);
        }
        break;
    }
    job_answer(j, 200, arr);
}

static void part_start(qjob *j)
{
    part_args *a = j->args;
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    sqlv v[] = {SQL_STR("id", a->base.id), SQL_INT("limit", a->base.limit), SQL_INT("days", a->base.days),
                SQL_INT("hours", a->base.hours)};
    static const char *const sql[] = {top_players_sql, maps_sql,           weapons_sql, peak_sql,
                                      history_sql,     server_matches_sql, history_sql};
    job_ch(j, 1, sql[a->what], v, 4);
    if (a->what == PART_TOP)
        job_ch(j, 2, server_names_sql, v, 1);
    job_then(j, part_build);
}

bool server_id_param(http_request *req, char out[IDENT_MAX + 1])
{
    const char *id = http_request_param(req, "id");
    if (!ident_ok(id, IDENT_MAX)) {
        respond_bad_param(req, "id", "must be a server id of 1 to 64 printable bytes");
        return false;
    }
    snprintf(out, IDENT_MAX + 1, "%s", id);
    return true;
}

static void serve_part(http_request *req, queryd *q, part what, long limit, long days, long hours)
{
    part_args *a = ARGS_NEW(part_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    if (!server_id_param(req, a->base.id)) {
        free(a);
        return;
    }
    a->what = what;
    a->base.limit = limit;
    a->base.days = days;
    a->base.hours = hours;
    char key[160];
    snprintf(key, sizeof key, "srv:%d:%s:%ld:%ld:%ld", (int)what, a->base.id, limit, days, hours);
    qcache_serve(q->cache, req, key, q->cache_ttl_s, part_start, a, free);
}

static void server_top(http_request *req, void *arg)
{
    queryd *q = arg;
    serve_part(req, q, PART_TOP, param_long(req, "limit", 25, 1, q->max_limit), 0, 0);
}

static void server_maps(http_request *req, void *arg)
{
    serve_part(req, arg, PART_MAPS, 0, 0, 0);
}

static void server_weapons(http_request *req, void *arg)
{
    serve_part(req, arg, PART_WEAPONS, 0, 0, 0);
}

static void server_peak(http_request *req, void *arg)
{
    serve_part(req, arg, PART_PEAK, 0, param_long(req, "days", 30, 1, 366), 0);
}

static void server_history(http_request *req, void *arg)
{
    serve_part(req, arg, PART_HISTORY, 0, 0, param_long(req, "hours", 24, 1, 24 * 31));
}

static void server_matches(http_request *req, void *arg)
{
    queryd *q = arg;
    serve_part(req, q, PART_MATCHES, param_long(req, "limit", 20, 1, q->max_limit), 0, 0);
}

static void server_activity(http_request *req, void *arg)
{
    long days = param_long(req, "days", 7, 1, 31);
    serve_part(req, arg, PART_ACTIVITY, 0, days, days * 24);
}

void server_serve(http_request *req, queryd *q, const char *prefix, int ttl_s, qjob_fn start)
{
    server_args *a = ARGS_NEW(server_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    if (!server_id_param(req, a->id)) {
        free(a);
        return;
    }
    char key[96];
    snprintf(key, sizeof key, "%s:%s", prefix, a->id);
    qcache_serve(q->cache, req, key, ttl_s, start, a, free);
}

static void server_detail(http_request *req, void *arg)
{
    queryd *q = arg;
    server_serve(req, q, "srvd", q->live_ttl_s, detail_start);
}

static void server_live(http_request *req, void *arg)
{
    queryd *q = arg;
    server_serve(req, q, "srvl", q->live_ttl_s, live_start);
}

static const route server_table[] = {
    {"/servers", servers_list},
    {"/servers/stats", servers_stats},
    {"/servers/rankings", servers_rankings},
    {"/servers/{id}", server_detail},
    {"/servers/{id}/live", server_live},
    {"/servers/{id}/top-players", server_top},
    {"/servers/{id}/maps", server_maps},
    {"/servers/{id}/map-rotation", server_maps},
    {"/servers/{id}/weapons", server_weapons},
    {"/servers/{id}/peak-hours", server_peak},
    {"/servers/{id}/player-history", server_history},
    {"/servers/{id}/matches", server_matches},
    {"/servers/{id}/activity-timeline", server_activity},
    {"/stats/live/matches", live_matches},
};

void server_routes(queryd *q, http_server *s)
{
    routes_add(s, q, server_table, sizeof server_table / sizeof server_table[0]);
}
