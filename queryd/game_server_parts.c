/* Game servers: the breakdowns of one server's play (top players, maps, weapons, peak hours, player history,
 * matches, activity), each from ClickHouse beside the server's registration (PostgreSQL; an unknown id is 404).
 *
 * - GET /servers/{id}/top-players?limit=25: [{rank, guid, name, kills, deaths, kd_ratio, ...}].
 * - GET /servers/{id}/maps: [{map_name, matches, popularity, kills, ...}].
 * - GET /servers/{id}/map-rotation: same as /servers/{id}/maps.
 * - GET /servers/{id}/weapons: [{weapon_name, kills, headshots, hs_percent, avg_distance, usage_rate_pct}].
 * - GET /servers/{id}/peak-hours?days=30: {data[7][24], hours, days, peak{day, hour, players}}.
 * - GET /servers/{id}/player-history?hours=24: [{timestamp, hour, players, peak, avg}].
 * - GET /servers/{id}/matches?limit=20: [{match_id, map_name, gametype, player_count, duration_mins, total_kills,
 *   winner, ...}].
 * - GET /servers/{id}/activity-timeline?days=7: [{timestamp, kills, deaths, players, match_starts, events}]. */
#include "area.h"
#include "game_server.h"
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

// clang-format off
static const char top_players_sql[] =
    "SELECT guid, sum(kills) AS kills, sum(deaths) AS deaths, sum(headshots) AS headshots,\n"
    "       max(day) AS last_day, count() AS days\n"
    "FROM player_daily\n"
    "WHERE server_id = {id} AND " LISTED_PLAYER_SQL("guid") "\n"
    "GROUP BY guid\n"
    "HAVING kills + deaths > 0\n"
    "ORDER BY kills DESC, deaths ASC, guid ASC\n"
    "LIMIT {limit}";
// clang-format on

// clang-format off
const char server_names_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
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

/* A part's answer from its rows (slot 1) and the job's other slots. */
typedef cJSON *(*part_fn)(qjob *j, const cJSON *rows);

/* The sum of key over rows: what a part's shares are of. */
static double rows_total(const cJSON *rows, const char *key)
{
    double total = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) total += row_num(r, key);
    return total;
}

static cJSON *top_json(qjob *j, const cJSON *rows)
{
    cJSON *arr = cJSON_CreateArray();
    int rank = 0;
    const cJSON *r;
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
    return arr;
}

static cJSON *maps_json(qjob *j, const cJSON *rows)
{
    (void)j;
    cJSON *arr = cJSON_CreateArray();
    double total = rows_total(rows, "matches");
    const cJSON *r;
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
    return arr;
}

static cJSON *weapons_json(qjob *j, const cJSON *rows)
{
    (void)j;
    cJSON *arr = cJSON_CreateArray();
    double total = rows_total(rows, "kills");
    const cJSON *r;
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
    return arr;
}

static cJSON *peak_json(qjob *j, const cJSON *rows)
{
    (void)j;
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
    const cJSON *best = NULL, *r;
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
    return o;
}

/* Every hour of the last span hours, hours without events at 0, so charts have no gaps: the player counts, and
 * with activity the kills, deaths, match starts and events too. */
static cJSON *hours_json(const cJSON *rows, long span, bool activity)
{
    cJSON *arr = cJSON_CreateArray();
    time_t now = time(NULL);
    long start = (long)(now - now % 3600) - (span - 1) * 3600;
    for (long t = start; t <= (long)now; t += 3600) {
        const cJSON *h = NULL, *r;
        cJSON_ArrayForEach(r, rows) if ((long)row_num(r, "ts") == t) h = r;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "timestamp", (double)t);
        char iso[32];
        iso_time((uint64_t)t * 1000, iso);
        cJSON_AddStringToObject(e, "hour", iso);
        cJSON_AddNumberToObject(e, "players", row_num(h, "players"));
        if (!activity) {
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
    return arr;
}

static cJSON *history_json(qjob *j, const cJSON *rows)
{
    server_args *a = j->args;
    return hours_json(rows, a->hours, /* activity= */ false);
}

static cJSON *activity_json(qjob *j, const cJSON *rows)
{
    server_args *a = j->args;
    return hours_json(rows, a->days * 24, /* activity= */ true);
}

static cJSON *matches_json(qjob *j, const cJSON *rows)
{
    (void)j;
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
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
    return arr;
}

/* The builder of each part, by the name its endpoints give (endpoint.part). */
static const struct {
    const char *name;
    part_fn json;
} parts[] = {
    {"top", top_json},         {"maps", maps_json},       {"weapons", weapons_json},   {"peak", peak_json},
    {"history", history_json}, {"matches", matches_json}, {"activity", activity_json},
};

/* Every part's build: 404 for an unknown server, else the part's answer. */
static void part_build(qjob *j)
{
    if (!server_row(j, 0)) {
        server_unknown(j);
        return;
    }
    const char *name = job_endpoint(j)->part;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strcmp(name, parts[i].name) == 0) {
            job_answer(j, 200, parts[i].json(j, job_rows(j, 1)));
            return;
        }
    job_error(j, 500, "This server part has no builder.");
}

/* ---- the endpoints ---- */

/* One part of a server's page: the server (slot 0) and the part's rows (slot 1). */
#define PART(p, k, part_name, sql, ...)                                                                                \
    {                                                                                                                  \
        .path = p, .key = k, .args_size = sizeof(server_args), .params = {SERVER_ID_PARAM, __VA_ARGS__},               \
        .part = part_name, .vals = server_vals,                                                                        \
        .queries = {{0, servers_pg_sql, server_job_registered, 0}, {1, sql, NULL, 0}}, .build = part_build             \
    }

#define NUMBER(name, field, def, min, max)                                                                             \
    {                                                                                                                  \
        PARAM_NUMBER, name, offsetof(server_args, field), def, NULL, NULL, min, max                                    \
    }
#define LIMIT(def)                                                                                                     \
    {                                                                                                                  \
        PARAM_LIMIT, "limit", offsetof(server_args, limit), def, NULL, NULL, 0, 0                                      \
    }

static const endpoint parts_endpoints[] = {
    {.path = "/servers/{id}/top-players",
     .key = "srv:top",
     .args_size = sizeof(server_args),
     .params = {SERVER_ID_PARAM, LIMIT(25)},
     .part = "top",
     .vals = server_vals,
     .queries = {{0, servers_pg_sql, server_job_registered, 0},
                 {1, top_players_sql, NULL, 0},
                 {2, server_names_sql, NULL, 0}},
     .build = part_build},
    PART("/servers/{id}/maps", "srv:maps", "maps", maps_sql, {PARAM_END}),
    PART("/servers/{id}/map-rotation", "srv:maps", "maps", maps_sql, {PARAM_END}),
    PART("/servers/{id}/weapons", "srv:weapons", "weapons", weapons_sql, {PARAM_END}),
    PART("/servers/{id}/peak-hours", "srv:peak", "peak", peak_sql, NUMBER("days", days, 30, 1, 366)),
    PART("/servers/{id}/player-history", "srv:history", "history", history_sql, NUMBER("hours", hours, 24, 1, 24 * 31)),
    PART("/servers/{id}/matches", "srv:matches", "matches", server_matches_sql, LIMIT(20)),
    {.path = "/servers/{id}/activity-timeline",
     .key = "srv:activity",
     .args_size = sizeof(server_args),
     .params = {SERVER_ID_PARAM, NUMBER("days", days, 7, 1, 31)},
     .part = "activity",
     .vals = server_vals,
     .queries = {{0, servers_pg_sql, server_job_registered, 0}, {1, history_sql, NULL, 0}},
     .build = part_build},
};

void game_server_parts_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, parts_endpoints, sizeof parts_endpoints / sizeof parts_endpoints[0]);
}
