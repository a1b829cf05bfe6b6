/* Game servers (the game's, not queryd's HTTP server): the registered list (PostgreSQL) with live state (Redis
 * live_matches, written by ingestd) and activity (ClickHouse server_hourly), rankings, one server's detail, live
 * matches.
 *
 * - GET /servers: [{id, name, address, port, is_online, current_map, current_players, avg_players_24h,
 *   peak_players_24h, rank, ...}].
 * - GET /servers/stats: {total_servers, online_servers, total_players_now, total_kills_today, total_matches_today,
 *   peak_players_today, ...}.
 * - GET /servers/rankings?limit=50: [{server_id, name, rank, score, trend, kills_24h, players_24h, matches_24h}].
 * - GET /servers/{id}: {id, name, ..., stats{}, stats_24h{}, uptime{}}.
 * - GET /servers/{id}/live: {is_online, current_map, player_count, players[], current_match, team_scores}.
 * - GET /servers/{id}/top-players, maps, weapons, ...: game_server_parts.c; /servers/{id}/players and
 *   /servers/{id}/stats: game_server_players.c.
 * - GET /stats/live/matches: [{server_id, server_name, match_id, map_name, player_count, max_players, team_match,
 *   allies_score, axis_score}], without the servers the operator hid (mohstats-admin hide --server).
 *
 * Online = an event within the last 120 s (ingestd drops older live_matches entries; checked here again).
 * Rank and score: score = kills in 24 h + 10 x players in 24 h + 5 x matches in 24 h (the old API's formula,
 * kept so rankings look familiar); rank = position by score. An unknown server id is 404. */
#include "area.h"
#include "live_matches.h"
#include "game_server.h"
#include "geoip.h"

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
    return last + live_window_ms() >= now_ms ? v : NULL;
}

/* Players of a live entry seen within the live window. */
static int live_players(const cJSON *live)
{
    double now_ms = (double)time(NULL) * 1000;
    int n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(
        p, cJSON_GetObjectItem(live, LIVE_PLAYERS)) if (row_num(p, LIVE_PLAYER_LAST_SEEN_MS) + live_window_ms() >= now_ms)
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

/* The fields every server view shares: identity, country and live state. */
static void add_identity(qjob *j, cJSON *o, const cJSON *s, const cJSON *live)
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
    /* A server's address is its identity, stored at registration; its country is looked up as it is shown, so
     * a newer database corrects it. */
    char country[3];
    geoip_country(j->q->geo, addr, strlen(addr), country);
    cJSON_AddStringToObject(o, "country", country);
    cJSON_AddStringToObject(o, "country_name", geoip_country_name(country));
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

/* Which list a job builds: its endpoint's part. */
static list_view view_of(qjob *j)
{
    const char *part = job_endpoint(j)->part;
    return strcmp(part, "stats") == 0 ? VIEW_STATS : strcmp(part, "rankings") == 0 ? VIEW_RANKINGS : VIEW_LIST;
}

static void list_build(qjob *j)
{
    server_args *a = j->args;
    list_view view = view_of(j);
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
            add_identity(j, o, s, server_live_entry(live, id));
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

/* The lists' queries: the servers, their live state, their activity, and what each view adds. */
static void list_start(qjob *j)
{
    list_view view = view_of(j);
    job_pg(j, 0, listed_servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    j->optional |= 1u << 1; /* without Redis every server just looks offline */
    job_redis_hash(j, 1, LIVE_MATCHES_KEY, NULL);
    sqlv v[] = {SQL_RAW("where", "1"), SQL_INT("span", 24)};
    job_ch(j, 2, activity_sql, v, 1);
    if (view == VIEW_LIST)
        job_ch(j, 3, hourly_sql, v, 2);
    if (view == VIEW_STATS) {
        job_ch(j, 4, today_sql, NULL, 0);
        job_ch(j, 5, peak_today_sql, NULL, 0);
    }
}

/* ---- one server ---- */

const cJSON *server_row(qjob *j, int slot)
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

void server_unknown(qjob *j)
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
        server_unknown(j);
        return;
    }
    const cJSON *servers = job_rows(j, 0), *live = job_rows(j, 1), *act = job_rows(j, 2);
    const cJSON *ar = rows_find(act, "server_id", a->id);
    const cJSON *l = server_live_entry(live, a->id);
    cJSON *o = cJSON_CreateObject();
    add_identity(j, o, s, l);
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

/* The server, its live state, every server's activity (for the rank), its hours, playtime and uptime. */
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
        if (row_num(p, LIVE_PLAYER_LAST_SEEN_MS) + live_window_ms() < now_ms)
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
        cJSON_AddStringToObject(e, "country", row_str(p, LIVE_PLAYER_COUNTRY));
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
        server_unknown(j);
        return;
    }
    job_answer(j, 200, live_json(s, server_live_entry(job_rows(j, 1), a->id)));
}

/* The live state of every server (Redis live_matches). */
static void live_queue(qjob *j, int slot, const char *unused_sql, long unused)
{
    (void)unused_sql;
    (void)unused;
    job_redis_hash(j, slot, LIVE_MATCHES_KEY, NULL);
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
        if (rows_find(job_rows(j, 2), "id", id))
            continue; /* hidden by the operator (mohstats-admin hide --server): out of every public list */
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

/* The servers' names are only names here: without PostgreSQL a live match shows "Unknown Server" (a hidden
 * server too: nothing says it is hidden then). The hidden servers are read apart from the registered ones: a live
 * server missing from those is a revoked one, shown. */
static void live_matches_start(qjob *j)
{
    j->optional |= 1u << 0 | 1u << 2;
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    job_redis_hash(j, 1, LIVE_MATCHES_KEY, NULL);
    job_pg(j, 2, hidden_servers_pg_sql, 0, NULL, NULL, NULL);
}

/* ---- the endpoints ---- */

size_t server_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    server_args *a = j->args;
    out[0] = SQL_STR("id", a->id);
    out[1] = SQL_INT("limit", a->limit);
    out[2] = SQL_INT("days", a->days);
    /* The activity timeline asks for days and reads {hours}: its hours are the days'. */
    out[3] = SQL_INT("hours", a->hours ? a->hours : a->days * 24);
    return 4;
}

void server_job_registered(qjob *j, int slot, const char *sql, long unused)
{
    (void)unused;
    job_pg(j, slot, sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
}

/* Every server, as a list, as totals or ranked: their answers are live (QUERY_LIVE_TTL_S). */
#define SERVER_LIST(p, k, view, ...)                                                                                   \
    {.path = p,                                                                                                        \
     .key = k,                                                                                                         \
     .ttl = TTL_LIVE,                                                                                                  \
     .args_size = sizeof(server_args),                                                                                 \
     .params = {__VA_ARGS__},                                                                                          \
     .part = view,                                                                                                     \
     .start = list_start,                                                                                              \
     .build = list_build}

static const endpoint server_endpoints[] = {
    SERVER_LIST("/servers", "servers:0:0", "list", {PARAM_END}),
    SERVER_LIST("/servers/stats", "servers:1:0", "stats", {PARAM_END}),
    SERVER_LIST("/servers/rankings", "servers:2", "rankings",
                {PARAM_LIMIT, "limit", offsetof(server_args, limit), 50, NULL, NULL, 0, 0}),
    {.path = "/servers/{id}",
     .key = "srvd",
     .ttl = TTL_LIVE,
     .args_size = sizeof(server_args),
     .params = {SERVER_ID_PARAM},
     .start = detail_start,
     .build = detail_build},
    {.path = "/servers/{id}/live",
     .key = "srvl",
     .ttl = TTL_LIVE,
     .args_size = sizeof(server_args),
     .params = {SERVER_ID_PARAM},
     .queries = {{0, servers_pg_sql, server_job_registered, 0}, {1, NULL, live_queue, 0}},
     .build = live_build},
    {.path = "/stats/live/matches",
     .key = "livematches",
     .ttl = TTL_LIVE,
     .start = live_matches_start,
     .build = live_matches_build},
};

void game_server_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, server_endpoints, sizeof server_endpoints / sizeof server_endpoints[0]);
}
