/* A game server's players: the roster with each player's totals there, and the server's totals with its top
 * killers and maps (the old API's one-call summary).
 *
 * - GET /servers/{id}/players?limit=50&offset=0 (limit up to 200): {players: [{guid, name, first_seen,
 *   last_seen, total_sessions, total_time_played_hours, total_kills, total_deaths, kd_ratio, total_headshots,
 *   hs_percent, favorite_weapon, favorite_map, is_online, kills_7d, kills_30d, trend, country, country_flag}],
 *   total, limit, offset}, by kills on the server.
 * - GET /stats/server/{id}/stats: {server_id, total_matches, total_kills, total_deaths,
 *   total_playtime_seconds, unique_players, last_activity, top_killers: [{player_id, player_name, value,
 *   rank}], map_stats: [{map_name, times_played}], top_kdr: [...], top_playtime: [...], activity_graph:
 *   [{timestamp, kills, players}]}.
 *
 * Kills, deaths and headshots on the server come from player_daily (per player, day and server); sessions,
 * time played, first and last seen and the favourite map from the player's matches on that server
 * (player_match, read by the page's players only). The favourite weapon is the player's overall one
 * (player_weapon has no server). The country is the player's latest there (game_server_countries.c), the flag
 * its emoji; both "" when unknown. An unknown server is 404. */
#include "area.h"
#include "live_matches.h"
#include "game_server.h"
#include "geoip.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ROSTER_MAX 200

typedef struct {
    const endpoint *ep;
    char id[IDENT_MAX + 1];
    long limit, offset;
} roster_args;

/* Per player on the server: the counters of player_daily, by kills. "7 days" is today and the 6 before, as
 * the week period (docs/definitions.md); the trend compares them with the 7 days before. */
// clang-format off
static const char roster_sql[] =
    "SELECT guid, sum(kills) AS total_kills, sum(deaths) AS total_deaths, sum(headshots) AS total_headshots,\n"
    "       sumIf(kills, day >= toDate(now() - 6 * 86400, 'UTC')) AS kills_7d,\n"
    "       sumIf(kills, day >= toDate(now() - 29 * 86400, 'UTC')) AS kills_30d,\n"
    "       sumIf(kills, day >= toDate(now() - 13 * 86400, 'UTC') AND day < toDate(now() - 6 * 86400, 'UTC'))\n"
    "           AS kills_prev_7d\n"
    "FROM player_daily\n"
    "WHERE server_id = {id} AND " LISTED_PLAYER_SQL("guid") "\n"
    "GROUP BY guid\n"
    "ORDER BY total_kills DESC, total_deaths ASC, guid ASC\n"
    "LIMIT {limit} OFFSET {offset}";

static const char roster_count_sql[] =
    "SELECT uniqExact(guid) AS total\n"
    "FROM player_daily\n"
    "WHERE server_id = {id} AND " LISTED_PLAYER_SQL("guid");

/* The page's players' matches on the server: read by their keys, kept when the match was on this server. */
static const char roster_matches_sql[] =
    "SELECT guid, count() AS sessions, sum(l - f) AS playtime_s, min(fm) AS first_ms, max(lm) AS last_ms,\n"
    "       groupArray(map) AS maps\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, match_key, argMaxMerge(map) AS map, minMerge(first_t) AS f, maxMerge(last_t) AS l,\n"
    "           minMerge(first_ms) AS fm, maxMerge(last_ms) AS lm, anyMerge(server_id) AS s\n"
    "    FROM player_match\n"
    "    WHERE guid IN {guids}\n"
    "    GROUP BY guid, match_key\n"
    "    HAVING s = {id}\n"
    ")\n"
    "GROUP BY guid";

/* The page's players' countries on the server (game_server_countries.c says where they come from). */
static const char roster_country_sql[] =
    "SELECT actor_guid AS guid, argMax(actor_country, received_at) AS country\n"
    "FROM raw_events\n"
    "WHERE " SERVER_COUNTRY_ROWS_SQL " AND actor_guid IN {guids}\n"
    "GROUP BY actor_guid";

static const char roster_weapon_sql[] =
    "SELECT guid, weapon, sum(kills) AS k\n"
    "FROM player_weapon\n"
    "WHERE guid IN {guids}\n"
    "GROUP BY guid, weapon\n"
    "HAVING k > 0\n"
    "ORDER BY guid ASC, k DESC, weapon ASC\n"
    "LIMIT 1 BY guid";
// clang-format on

/* The most frequent non-empty map of a player's matches (ties: the first by name), or "". */
static const char *favourite_map(const cJSON *maps)
{
    const char *best = "";
    int best_n = 0;
    const cJSON *m, *o;
    cJSON_ArrayForEach(m, maps)
    {
        if (!cJSON_IsString(m) || !*m->valuestring)
            continue;
        int n = 0;
        cJSON_ArrayForEach(o, maps) n += cJSON_IsString(o) && strcmp(o->valuestring, m->valuestring) == 0;
        if (n > best_n || (n == best_n && strcmp(m->valuestring, best) < 0)) {
            best = m->valuestring;
            best_n = n;
        }
    }
    return best;
}

/* Whether guid is among the players of a live entry seen within the live window. */
static bool live_has(const cJSON *live, const char *guid)
{
    double now_ms = (double)time(NULL) * 1000;
    const cJSON *players = live ? cJSON_GetObjectItem(live, LIVE_PLAYERS) : NULL, *p;
    cJSON_ArrayForEach(p, players)
    {
        if (strcmp(row_str(p, LIVE_PLAYER_GUID), guid) == 0 &&
            row_num(p, LIVE_PLAYER_LAST_SEEN_MS) + live_window_ms() >= now_ms)
            return true;
    }
    return false;
}

static void roster_build(qjob *j)
{
    roster_args *a = j->args;
    const cJSON *live = server_live_entry(job_rows(j, 3), a->id), *r;
    cJSON *players = cJSON_CreateArray();
    cJSON_ArrayForEach(r, job_rows(j, 1))
    {
        const char *guid = row_str(r, "guid");
        const cJSON *m = rows_find(job_rows(j, 5), "guid", guid);
        double k = row_num(r, "total_kills"), d = row_num(r, "total_deaths"), hs = row_num(r, "total_headshots");
        double k7 = row_num(r, "kills_7d"), prev = row_num(r, "kills_prev_7d");
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "name", row_str(rows_find(job_rows(j, 4), "guid", guid), "name"));
        const char *country = row_str(rows_find(job_rows(j, 7), "guid", guid), "country");
        char flag[9];
        geoip_country_flag(country, flag);
        cJSON_AddStringToObject(p, "country", country);
        cJSON_AddStringToObject(p, "country_flag", flag);
        cJSON_AddNumberToObject(p, "first_seen", floor(row_num(m, "first_ms") / 1000));
        cJSON_AddNumberToObject(p, "last_seen", floor(row_num(m, "last_ms") / 1000));
        cJSON_AddNumberToObject(p, "total_sessions", row_num(m, "sessions"));
        json_add_round(p, "total_time_played_hours", row_num(m, "playtime_s") / 3600, 2);
        cJSON_AddNumberToObject(p, "total_kills", k);
        cJSON_AddNumberToObject(p, "total_deaths", d);
        json_add_round(p, "kd_ratio", d > 0 ? k / d : k, 2);
        cJSON_AddNumberToObject(p, "total_headshots", hs);
        json_add_round(p, "hs_percent", k > 0 ? hs * 100 / k : 0, 1);
        cJSON_AddStringToObject(p, "favorite_weapon", row_str(rows_find(job_rows(j, 6), "guid", guid), "weapon"));
        cJSON_AddStringToObject(p, "favorite_map", favourite_map(cJSON_GetObjectItem(m, "maps")));
        cJSON_AddBoolToObject(p, "is_online", live_has(live, guid));
        cJSON_AddNumberToObject(p, "kills_7d", k7);
        cJSON_AddNumberToObject(p, "kills_30d", row_num(r, "kills_30d"));
        cJSON_AddStringToObject(p, "trend", k7 > prev ? "up" : k7 < prev ? "down" : "stable");
        cJSON_AddItemToArray(players, p);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "players", players);
    cJSON_AddNumberToObject(o, "total", row_num(job_row(j, 2), "total"));
    cJSON_AddNumberToObject(o, "limit", (double)a->limit);
    cJSON_AddNumberToObject(o, "offset", (double)a->offset);
    job_answer(j, 200, o);
}

/* Step 2: the page's players' names, matches on the server and favourite weapon, by key. */
static void roster_details(qjob *j)
{
    roster_args *a = j->args;
    if (!rows_find(job_rows(j, 0), "id", a->id)) {
        server_not_found(j, a->id);
        return;
    }
    const char *guids[ROSTER_MAX];
    size_t n = rows_strings(job_rows(j, 1), "guid", guids, ROSTER_MAX);
    if (n > 0) {
        sqlv v[] = {SQL_LIST("guids", guids, n), SQL_STR("id", a->id)};
        job_ch(j, 4, player_names_sql, v, 1);
        job_ch(j, 5, roster_matches_sql, v, 2);
        job_ch(j, 6, roster_weapon_sql, v, 1);
        job_ch(j, 7, roster_country_sql, v, 2);
    }
    job_then(j, roster_build);
}

/* Step 1: the server, the page of players and the count, and the live state. */
static void roster_start(qjob *j)
{
    roster_args *a = j->args;
    job_pg(j, 0, servers_pg_sql, 0, NULL, "port,created_s,last_seen_s", "is_active");
    sqlv v[] = {SQL_STR("id", a->id), SQL_INT("limit", a->limit), SQL_INT("offset", a->offset)};
    job_ch(j, 1, roster_sql, v, 3);
    job_ch(j, 2, roster_count_sql, v, 1);
    j->optional |= 1u << 3; /* no live state is not an error (set first: a failure may be reported at once) */
    job_redis_hash(j, 3, LIVE_MATCHES_KEY, a->id);
}

/* ---- the server's totals ---- */

#define TOP_N 10

// clang-format off
static const char totals_sql[] =
    "SELECT sumMerge(kills) AS kills, sumMerge(deaths) AS deaths, uniqExactMerge(matches) AS matches,\n"
    "       uniqExactArrayMerge(players) AS players, toUInt32(max(hour)) AS last_hour\n"
    "FROM server_hourly\n"
    "WHERE server_id = {id}";

/* Time played on the server: every player's matches there. */
static const char playtime_sql[] =
    "SELECT sum(l - f) AS playtime_s\n"
    "FROM\n"
    "(\n"
    "    SELECT minMerge(first_t) AS f, maxMerge(last_t) AS l, anyMerge(server_id) AS s\n"
    "    FROM match_players\n"
    "    GROUP BY match_key, guid\n"
    "    HAVING s = {id}\n"
    ")";

/* Per player on the server: kills, K/D (with at least one death... or kill) and time played, ranked three ways
 * in queryd (the rows are one per player of the server). */
static const char players_sql[] =
    "SELECT guid, sum(kills) AS kills, sum(deaths) AS deaths\n"
    "FROM player_daily\n"
    "WHERE server_id = {id} AND " LISTED_PLAYER_SQL("guid") "\n"
    "GROUP BY guid";

static const char player_time_sql[] =
    "SELECT guid, sum(l - f) AS playtime_s\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, minMerge(first_t) AS f, maxMerge(last_t) AS l, anyMerge(server_id) AS s\n"
    "    FROM match_players\n"
    "    WHERE " LISTED_PLAYER_SQL("guid") "\n"
    "    GROUP BY match_key, guid\n"
    "    HAVING s = {id}\n"
    ")\n"
    "GROUP BY guid";

static const char maps_sql[] =
    "SELECT map_name, count() AS times_played\n"
    "FROM\n"
    "(\n"
    "    SELECT argMaxMerge(map) AS map_name, anyMerge(server_id) AS s\n"
    "    FROM match_summary\n"
    "    GROUP BY match_key\n"
    "    HAVING s = {id}\n"
    ")\n"
    "GROUP BY map_name\n"
    "ORDER BY times_played DESC, map_name ASC";

static const char activity_sql[] =
    "SELECT toUInt32(toStartOfDay(hour, 'UTC')) AS ts, sumMerge(kills) AS kills,\n"
    "       uniqExactArrayMerge(players) AS players\n"
    "FROM server_hourly\n"
    "WHERE server_id = {id} AND hour >= toStartOfDay(now() - 29 * 86400, 'UTC')\n"
    "GROUP BY ts\n"
    "ORDER BY ts";
// clang-format on

typedef struct {
    const cJSON *row;
    double value;
} ranked_row;

static int ranked_cmp(const void *x, const void *y)
{
    const ranked_row *a = x, *b = y;
    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    return strcmp(row_str(a->row, "guid"), row_str(b->row, "guid"));
}

/* The top TOP_N rows by value (> 0), as [{player_id, player_name, value, rank}]. */
static cJSON *top_list(const cJSON *rows, const cJSON *names, double (*value)(const cJSON *), int decimals)
{
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(rows);
    ranked_row *r = malloc((cap ? cap : 1) * sizeof *r);
    cJSON *out = cJSON_CreateArray();
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        double v = value(row);
        if (r && v > 0)
            r[n++] = (ranked_row){row, v};
    }
    if (r)
        qsort(r, n, sizeof *r, ranked_cmp);
    for (size_t i = 0; i < n && i < TOP_N; i++) {
        const char *guid = row_str(r[i].row, "guid");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "player_id", guid);
        cJSON_AddStringToObject(e, "player_name", row_str(rows_find(names, "guid", guid), "name"));
        json_add_round(e, "value", r[i].value, decimals);
        cJSON_AddNumberToObject(e, "rank", (double)(i + 1));
        cJSON_AddItemToArray(out, e);
    }
    free(r);
    return out;
}

static double kills_of(const cJSON *row)
{
    return row_num(row, "kills");
}

/* K/D of players with at least one kill: deaths 0 counts as 1 (docs/definitions.md). */
static double kd_of(const cJSON *row)
{
    double k = row_num(row, "kills"), d = row_num(row, "deaths");
    return d > 0 ? k / d : k;
}

static double playtime_of(const cJSON *row)
{
    return row_num(row, "playtime_s");
}

static void stats_build(qjob *j)
{
    server_args *a = j->args;
    if (!rows_find(job_rows(j, 0), "id", a->id)) {
        server_not_found(j, a->id);
        return;
    }
    const cJSON *t = job_row(j, 1), *names = job_rows(j, 7), *r;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "server_id", a->id);
    cJSON_AddNumberToObject(o, "total_matches", row_num(t, "matches"));
    cJSON_AddNumberToObject(o, "total_kills", row_num(t, "kills"));
    cJSON_AddNumberToObject(o, "total_deaths", row_num(t, "deaths"));
    json_add_round(o, "total_playtime_seconds", row_num(job_row(j, 2), "playtime_s"), 0);
    cJSON_AddNumberToObject(o, "unique_players", row_num(t, "players"));
    cJSON_AddNumberToObject(o, "last_activity", row_num(t, "last_hour"));
    cJSON_AddItemToObject(o, "top_killers", top_list(job_rows(j, 3), names, kills_of, 0));
    cJSON_AddItemToObject(o, "top_kdr", top_list(job_rows(j, 3), names, kd_of, 2));
    cJSON_AddItemToObject(o, "top_playtime", top_list(job_rows(j, 4), names, playtime_of, 0));
    cJSON *maps = cJSON_AddArrayToObject(o, "map_stats");
    cJSON_ArrayForEach(r, job_rows(j, 5))
    {
        const char *m = row_str(r, "map_name");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "map_name", *m ? m : "unknown");
        cJSON_AddNumberToObject(e, "times_played", row_num(r, "times_played"));
        cJSON_AddItemToArray(maps, e);
    }
    cJSON *graph = cJSON_AddArrayToObject(o, "activity_graph");
    cJSON_ArrayForEach(r, job_rows(j, 6))
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "timestamp", row_num(r, "ts"));
        cJSON_AddNumberToObject(e, "kills", row_num(r, "kills"));
        cJSON_AddNumberToObject(e, "players", row_num(r, "players"));
        cJSON_AddItemToArray(graph, e);
    }
    job_answer(j, 200, o);
}

/* ---- the endpoints ---- */

static const endpoint players_endpoints[] = {
    {.path = "/servers/{id}/players",
     .key = "srvp",
     .args_size = sizeof(roster_args),
     .params = {{PARAM_IDENT, "id", offsetof(roster_args, id), 0, "must be a server id of 1 to 64 printable bytes",
                 NULL, 0, 0},
                {PARAM_NUMBER, "limit", offsetof(roster_args, limit), 50, NULL, NULL, 1, ROSTER_MAX},
                {PARAM_OFFSET, "offset", offsetof(roster_args, offset), 0, NULL, NULL, 0, 0}},
     .start = roster_start,
     .build = roster_details},
    {.path = "/stats/server/{id}/stats",
     .key = "srvs",
     .args_size = sizeof(server_args),
     .params = {SERVER_ID_PARAM},
     .vals = server_vals,
     .queries = {{0, servers_pg_sql, server_job_registered, 0},
                 {1, totals_sql, NULL, 0},
                 {2, playtime_sql, NULL, 0},
                 {3, players_sql, NULL, 0},
                 {4, player_time_sql, NULL, 0},
                 {5, maps_sql, NULL, 0},
                 {6, activity_sql, NULL, 0},
                 {7, server_names_sql, NULL, 0}},
     .build = stats_build},
};

void game_server_players_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, players_endpoints, sizeof players_endpoints / sizeof players_endpoints[0]);
}
