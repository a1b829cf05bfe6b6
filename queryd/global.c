/* Network-wide numbers: totals, activity by weekday and hour, the last day's pulse, Axis against Allies.
 *
 * - GET /stats/global: {total_kills, total_players, total_matches, total_headshots, total_achievements_unlocked,
 *   active_today, server_avg_accuracy, server_avg_kd, ...}.
 * - GET /stats/global/activity?days=30: [{day, hour, value}], events per weekday (1 = Monday) and UTC hour.
 * - GET /stats/server/pulse: {lethality_rating, total_lead_poured, meat_grinder_map, active_players} (last 24 h).
 * - GET /stats/teams/performance?days=30: {allies:{kills, deaths, kd_ratio, wins, losses, win_rate, matches},
 *   axis:{...}}.
 * - GET /stats/team/{id}/rating?family&vs: a forum team by its members' skill ratings (ratings_team.c).
 * - GET /health: {status: "ok"} (the forum's installer probes {api}/health).
 *
 * Totals come from server_hourly (per server and hour), player_daily and player_names, never raw_events. */
#include "area.h"
#include "endpoint.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ratings.h"

typedef struct {
    const endpoint *ep;
    long days;
} global_args;

// clang-format off
static const char totals_sql[] =
    "SELECT sumMerge(kills) AS total_kills, sumMerge(deaths) AS total_deaths,\n"
    "       sumMerge(headshots) AS total_headshots, uniqExactMerge(matches) AS total_matches,\n"
    "       countMerge(events) AS total_events\n"
    "FROM server_hourly";
// clang-format on

// clang-format off
static const char players_sql[] =
    "SELECT uniqExact(guid) AS total_players\n"
    "FROM player_names\n"
    "WHERE " LISTED_PLAYER_SQL("guid");
// clang-format on

// clang-format off
static const char daily_sql[] =
    "SELECT uniqExactIf(guid, day = toDate(now(), 'UTC') AND " LISTED_PLAYER_SQL( "guid") ")\n"
    "           AS active_today,\n"
    "       sum(shots_fired) AS fired, sum(shots_hit) AS hit, sum(kills) AS kills,\n"
    "       sum(deaths) AS deaths\n"
    "FROM player_daily";
// clang-format on

// clang-format off
static const char active_24h_sql[] =
    "SELECT count() AS active_24h\n"
    "FROM\n"
    "(\n"
    "    SELECT guid FROM player_match\n"
    "    WHERE " LISTED_PLAYER_SQL("guid") "\n"
    "    GROUP BY guid\n"
    "    HAVING maxMerge(last_ms) >= (toUInt64(now()) - 86400) * 1000\n"
    ")";
// clang-format on

// clang-format off
static const char unlocked_sql[] =
    "SELECT COUNT(*) AS n FROM {p}mohaa_player_achievements";
// clang-format on

// clang-format off
static const char servers_count_sql[] =
    "SELECT count(*) AS n FROM servers WHERE is_active";
// clang-format on

static void global_build(qjob *j)
{
    const cJSON *t = job_row(j, 0), *d = job_row(j, 2);
    double kills = row_num(d, "kills"), deaths = row_num(d, "deaths");
    double fired = row_num(d, "fired"), hit = row_num(d, "hit");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total_kills", row_num(t, "total_kills"));
    cJSON_AddNumberToObject(o, "total_deaths", row_num(t, "total_deaths"));
    cJSON_AddNumberToObject(o, "total_players", row_num(job_row(j, 1), "total_players"));
    cJSON_AddNumberToObject(o, "total_matches", row_num(t, "total_matches"));
    cJSON_AddNumberToObject(o, "total_headshots", row_num(t, "total_headshots"));
    cJSON_AddNumberToObject(o, "total_events", row_num(t, "total_events"));
    cJSON_AddNumberToObject(o, "total_achievements_unlocked", row_num(job_row(j, 4), "n"));
    cJSON_AddNumberToObject(o, "active_today", row_num(d, "active_today"));
    cJSON_AddNumberToObject(o, "active_players_24h", row_num(job_row(j, 3), "active_24h"));
    json_add_round(o, "server_avg_accuracy", fired > 0 ? hit * 100 / fired : 0, 1);
    json_add_round(o, "server_avg_kd", deaths > 0 ? kills / deaths : kills, 2);
    cJSON_AddNumberToObject(o, "server_count", row_num(job_row(j, 5), "n"));
    job_answer(j, 200, o);
}

/* What the table cannot say: the forum's and the servers' counts, each optional. */
static void global_start(qjob *j)
{
    char *sql = smf_sql(j->q, unlocked_sql);
    if (sql) {
        j->optional |= 1u << 4; /* the forum's database is optional for these numbers */
        job_mdb(j, 4, sql, 0, NULL, "n");
        free(sql);
    }
    j->optional |= 1u << 5;
    job_pg(j, 5, servers_count_sql, 0, NULL, "n", NULL);
}

/* ---- activity ---- */

// clang-format off
static const char activity_sql[] =
    "SELECT toDayOfWeek(hour, 'UTC') AS day, toHour(hour, 'UTC') AS h,\n"
    "       countMerge(events) AS value\n"
    "FROM server_hourly\n"
    "WHERE hour >= now() - {days} * 86400\n"
    "GROUP BY day, h\n"
    "ORDER BY day, h";
// clang-format on

static void activity_build(qjob *j)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, job_rows(j, 0))
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "day", row_num(r, "day"));
        cJSON_AddNumberToObject(e, "hour", row_num(r, "h"));
        cJSON_AddNumberToObject(e, "value", row_num(r, "value"));
        cJSON_AddItemToArray(arr, e);
    }
    job_answer(j, 200, arr);
}

/* ---- pulse ---- */

// clang-format off
static const char pulse_sql[] =
    "SELECT sumMerge(kills) AS kills, uniqExactArrayMerge(players) AS players\n"
    "FROM server_hourly\n"
    "WHERE hour >= toStartOfHour(now() - 86400)";
// clang-format on

// clang-format off
static const char pulse_map_sql[] =
    "SELECT map_name, sum(k) AS kills\n"
    "FROM\n"
    "(\n"
    "    SELECT argMaxMerge(map) AS map_name, sumMerge(kills) AS k,\n"
    "           maxMerge(last_ms) AS last_ms\n"
    "    FROM match_summary\n"
    "    GROUP BY match_key\n"
    "    HAVING last_ms >= (toUInt64(now()) - 86400) * 1000\n"
    ")\n"
    "GROUP BY map_name\n"
    "ORDER BY kills DESC, map_name ASC\n"
    "LIMIT 1";
// clang-format on

// clang-format off
static const char pulse_shots_sql[] =
    "SELECT sum(shots_fired) AS fired, sum(shots_hit) AS hit\n"
    "FROM player_daily\n"
    "WHERE day >= toDate(now() - 86400, 'UTC')";
// clang-format on

static void pulse_build(qjob *j)
{
    const cJSON *p = job_row(j, 0), *m = job_row(j, 1), *s = job_row(j, 2);
    cJSON *o = cJSON_CreateObject();
    json_add_round(o, "lethality_rating", row_num(p, "kills") / 24, 2);
    cJSON_AddNumberToObject(o, "kills_24h", row_num(p, "kills"));
    cJSON_AddNumberToObject(o, "total_lead_poured", row_num(s, "fired"));
    cJSON_AddNumberToObject(o, "lead_exchange_rate", row_num(s, "hit"));
    const char *map = row_str(m, "map_name");
    if (m && row_num(m, "kills") > 0)
        cJSON_AddStringToObject(o, "meat_grinder_map", *map ? map : "unknown");
    else
        cJSON_AddNullToObject(o, "meat_grinder_map");
    cJSON_AddNumberToObject(o, "active_players", row_num(p, "players"));
    job_answer(j, 200, o);
}

/* ---- Axis against Allies ---- */

// clang-format off
static const char sides_sql[] =
    "SELECT team, sum(k) AS kills, sum(d) AS deaths, uniqExact(match_key) AS matches\n"
    "FROM\n"
    "(\n"
    "    SELECT match_key, guid, argMaxMerge(team) AS team, sumMerge(kills) AS k,\n"
    "           sumMerge(deaths) AS d, minMerge(first_ms) AS f\n"
    "    FROM match_players\n"
    "    GROUP BY match_key, guid\n"
    "    HAVING f >= (toUInt64(now()) - {days} * 86400) * 1000\n"
    ")\n"
    "WHERE team IN ('allies', 'axis')\n"
    "GROUP BY team";
// clang-format on

// clang-format off
static const char winners_sql[] =
    "SELECT winner, count() AS n\n"
    "FROM\n"
    "(\n"
    "    SELECT argMaxMerge(winner) AS winner, minMerge(first_ms) AS f\n"
    "    FROM match_summary\n"
    "    GROUP BY match_key\n"
    "    HAVING f >= (toUInt64(now()) - {days} * 86400) * 1000\n"
    ")\n"
    "WHERE winner IN ('allies', 'axis')\n"
    "GROUP BY winner";
// clang-format on

static void teams_build(qjob *j)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const sides[] = {"allies", "axis"};
    for (int i = 0; i < 2; i++) {
        const cJSON *r = rows_find(job_rows(j, 0), "team", sides[i]);
        double wins = row_num(rows_find(job_rows(j, 1), "winner", sides[i]), "n");
        double losses = row_num(rows_find(job_rows(j, 1), "winner", sides[1 - i]), "n");
        double kills = row_num(r, "kills"), deaths = row_num(r, "deaths");
        cJSON *t = cJSON_AddObjectToObject(o, sides[i]);
        cJSON_AddNumberToObject(t, "kills", kills);
        cJSON_AddNumberToObject(t, "deaths", deaths);
        json_add_round(t, "kd_ratio", deaths > 0 ? kills / deaths : kills, 2);
        cJSON_AddNumberToObject(t, "wins", wins);
        cJSON_AddNumberToObject(t, "losses", losses);
        json_add_round(t, "win_rate", wins + losses > 0 ? wins * 100 / (wins + losses) : 0, 1);
        cJSON_AddNumberToObject(t, "matches", row_num(r, "matches"));
    }
    job_answer(j, 200, o);
}

/* GET /api/v1/health: liveness for the forum's installer (the daemon's own /health is not under /api/v1). Not on the
 * endpoint table: it answers the time of the request, never a cached answer. */
static void api_health(http_request *req, void *arg)
{
    (void)arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddNumberToObject(o, "timestamp", (double)time(NULL));
    http_respond_json(req, 200, o);
}

/* ---- the endpoints ---- */

static size_t days_vals(qjob *j, sqlv out[ENDPOINT_VALS])
{
    global_args *a = j->args;
    out[0] = SQL_INT("days", a->days);
    return 1;
}

static const endpoint global_endpoints[] = {
    {.path = "/stats/global",
     .key = "global",
     .queries =
         {{0, totals_sql, NULL, 0}, {1, players_sql, NULL, 0}, {2, daily_sql, NULL, 0}, {3, active_24h_sql, NULL, 0}},
     .start = global_start,
     .build = global_build},
    {.path = "/stats/global/activity",
     .key = "activity",
     .args_size = sizeof(global_args),
     .params = {{PARAM_NUMBER, "days", offsetof(global_args, days), 30, NULL, NULL, 1, 366}},
     .vals = days_vals,
     .queries = {{0, activity_sql, NULL, 0}},
     .build = activity_build},
    {.path = "/stats/server/pulse",
     .key = "pulse",
     .queries = {{0, pulse_sql, NULL, 0}, {1, pulse_map_sql, NULL, 0}, {2, pulse_shots_sql, NULL, 0}},
     .build = pulse_build},
    {.path = "/stats/teams/performance",
     .key = "sides",
     .args_size = sizeof(global_args),
     .params = {{PARAM_NUMBER, "days", offsetof(global_args, days), 30, NULL, NULL, 1, 3660}},
     .vals = days_vals,
     .queries = {{0, sides_sql, NULL, 0}, {1, winners_sql, NULL, 0}},
     .build = teams_build},
};

static const route global_table[] = {
    {"/health", api_health},
};

void global_routes(queryd *q, http_server *s)
{
    endpoints_add(q, s, global_endpoints, sizeof global_endpoints / sizeof global_endpoints[0]);
    endpoints_add(q, s, rating_team_endpoints, rating_team_endpoints_n);
    routes_add(s, q, global_table, sizeof global_table / sizeof global_table[0]);
}
