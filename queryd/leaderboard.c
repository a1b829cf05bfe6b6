/* Leaderboards: any stat of the vocabulary (stats.c) over a period, paged, and the cards page.
 *
 * | route                                   | params                                             | answer |
 * |-----------------------------------------|----------------------------------------------------|--------|
 * | GET /stats/leaderboard/global           | stat, period, limit, offset, page, count_only      | {players, total,
 * page, ...} or {total} | | GET /stats/leaderboard                  | same | same | | GET /stats/leaderboard/{stat} |
 * period, limit, offset, page, count_only            | same | | GET /stats/leaderboard/cards            | - |
 * {<metric>: [{player_id, player_name, value}] x3} |
 *
 * Ranking reads player_daily (daily stats) or the per-match facts (wins, games, playtime...), then the rows
 * of the page get the rest of their stats and their names by key. */
#include "area.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LB_DEFAULT_LIMIT 25
#define LB_MAX_GUIDS 100

typedef struct {
    const lb_stat *stat;
    period p;
    paging pg;
    bool count_only;
} lb_args;

/* Ranking: only the player and the value, so ClickHouse reads just the columns the stat needs (the
 * totals subquery's other sums are pruned); the page's rows get their other stats by key afterwards. */
// clang-format off
static const char lb_rank_sql[] =
    "SELECT guid, {value} AS value\n"
    "FROM ({totals})\n"
    "WHERE value > 0\n"
    "ORDER BY value DESC, guid ASC\n"
    "LIMIT {limit} OFFSET {offset}";
// clang-format on

// clang-format off
static const char lb_count_sql[] =
    "SELECT count() AS total\n"
    "FROM (SELECT {value} AS value FROM ({totals}))\n"
    "WHERE value > 0";
// clang-format on

// clang-format off
static const char lb_names_sql[] =
    "SELECT guid, argMax(name, last_ms) AS name\n"
    "FROM player_names\n"
    "WHERE guid IN {guids}\n"
    "GROUP BY guid";
// clang-format on

/* The day and millisecond bounds of the job's period. */
static void bounds(period p, char day[11], uint64_t *ms)
{
    period_bound(p, (int64_t)time(NULL), day, ms);
}

/* The totals query (daily or match: the parts of match_totals_render) for the players `where` selects,
 * rendered (malloc'd). */
static char *totals_sql(stat_source src, const char *where, period p, int parts)
{
    char day[11];
    uint64_t ms;
    bounds(p, day, &ms);
    if (src == STAT_DAILY) {
        sqlv v[] = {SQL_RAW("where", where), SQL_STR("day_from", day)};
        return sqlt_render(player_totals_sql, v, 2);
    }
    return match_totals_render(where, ms, parts);
}

static void lb_build(qjob *j);

/* Step 2: the page's stats (daily and match) and names, by key. */
static void lb_details(qjob *j)
{
    lb_args *a = j->args;
    const char *guids[LB_MAX_GUIDS];
    size_t n = rows_strings(job_rows(j, 0), "guid", guids, LB_MAX_GUIDS);
    if (n == 0) {
        lb_build(j);
        return;
    }
    char *where = sql_in("guid", guids, n);
    char *daily = where ? totals_sql(STAT_DAILY, where, a->p, 0) : NULL;
    char *match = where ? totals_sql(STAT_MATCH, where, a->p, MATCH_ALL) : NULL;
    if (daily && match) {
        sqlv dv[] = {SQL_RAW("sql", daily)};
        job_ch(j, 2, "{sql}", dv, 1);
        sqlv mv[] = {SQL_RAW("sql", match)};
        job_ch(j, 4, "{sql}", mv, 1);
        sqlv nv[] = {SQL_LIST("guids", guids, n)};
        job_ch(j, 3, lb_names_sql, nv, 1);
    } else {
        job_error(j, 500, "Out of memory.");
    }
    free(daily);
    free(match);
    free(where);
    job_then(j, lb_build);
}

/* Step 3: the answer. */
static void lb_build(qjob *j)
{
    lb_args *a = j->args;
    double total = row_num(job_row(j, 1), "total");
    cJSON *players = cJSON_CreateArray();
    const cJSON *row;
    long rank = a->pg.offset;
    cJSON_ArrayForEach(row, job_rows(j, 0))
    {
        const char *guid = row_str(row, "guid");
        const cJSON *daily = rows_find(job_rows(j, 2), "guid", guid);
        const cJSON *match = rows_find(job_rows(j, 4), "guid", guid);
        const char *name = row_str(rows_find(job_rows(j, 3), "guid", guid), "name");
        cJSON *p = player_stats_json(daily, match);
        cJSON_AddNumberToObject(p, "rank", (double)++rank);
        cJSON_AddStringToObject(p, "player_id", guid);
        cJSON_AddStringToObject(p, "guid", guid);
        cJSON_AddStringToObject(p, "id", guid);
        cJSON_AddStringToObject(p, "player_name", name);
        cJSON_AddStringToObject(p, "name", name);
        json_add_round(p, "value", row_num(row, "value"), a->stat->decimals);
        /* The widget shows row[stat]: make it the ranked value whatever the stat's own key means. */
        cJSON_DeleteItemFromObject(p, a->stat->name);
        json_add_round(p, a->stat->name, row_num(row, "value"), a->stat->decimals);
        cJSON_AddItemToArray(players, p);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "players", players);
    cJSON_AddNumberToObject(o, "total", total);
    cJSON_AddNumberToObject(o, "page", (double)a->pg.page);
    cJSON_AddNumberToObject(o, "limit", (double)a->pg.limit);
    cJSON_AddNumberToObject(o, "offset", (double)a->pg.offset);
    cJSON_AddStringToObject(o, "stat", a->stat->name);
    cJSON_AddStringToObject(o, "period", period_name(a->p));
    job_answer(j, 200, o);
}

/* Answer {total} only. */
static void lb_count_answer(qjob *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "total", row_num(job_row(j, 1), "total"));
    job_answer(j, 200, o);
}

/* Step 1: rank and count. */
static void lb_start(qjob *j)
{
    lb_args *a = j->args;
    char *totals = totals_sql(a->stat->source, NOT_UNAUTH_SQL("guid"), a->p, a->stat->match_parts);
    if (!totals) {
        job_error(j, 500, "Out of memory.");
        return;
    }
    sqlv v[] = {SQL_RAW("value", a->stat->value_sql), SQL_RAW("totals", totals), SQL_INT("limit", a->pg.limit),
                SQL_INT("offset", a->pg.offset)};
    job_ch(j, 1, lb_count_sql, v, 2);
    if (a->count_only) {
        free(totals);
        job_then(j, lb_count_answer);
        return;
    }
    job_ch(j, 0, lb_rank_sql, v, 4);
    free(totals);
    job_then(j, lb_details);
}

/* GET /stats/leaderboard[/global|/{stat}] */
static void leaderboard_get(http_request *req, void *arg)
{
    queryd *q = arg;
    const char *name = http_request_param(req, "stat");
    if (!name || strcmp(name, "global") == 0)
        name = http_request_query(req, "stat");
    if (!name || !*name)
        name = "kills";
    const lb_stat *st = lb_stat_find(name);
    if (!st) {
        respond_bad_param(req, "stat",
                          "is not a known stat (kills, deaths, kd_ratio, headshots, accuracy, ... see "
                          "docs/definitions.md)");
        return;
    }
    period p;
    if (period_parse(http_request_query(req, "period"), &p) != 0) {
        respond_bad_param(req, "period", "must be all, day, week, month or year");
        return;
    }
    lb_args *a = ARGS_NEW(lb_args);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    a->stat = st;
    a->p = p;
    a->count_only = param_flag(req, "count_only");
    paging_parse(req, q, LB_DEFAULT_LIMIT, &a->pg);
    char key[128];
    if (a->count_only)
        snprintf(key, sizeof key, "lbc:%s:%s", st->name, period_name(p));
    else
        snprintf(key, sizeof key, "lb:%s:%s:%ld:%ld", st->name, period_name(p), a->pg.limit, a->pg.offset);
    qcache_serve(q->cache, req, key, q->cache_ttl_s, lb_start, a, free);
}

/* ---- cards: the top 3 of many metrics in one page ---- */

/* The cards' metrics: the key served and the stat computing it. */
static const struct {
    const char *card, *stat;
} card_metrics[] = {
    {"kills", "kills"},
    {"deaths", "deaths"},
    {"kd", "kd_ratio"},
    {"headshots", "headshots"},
    {"accuracy", "accuracy"},
    {"shots_fired", "shots_fired"},
    {"damage", "damage"},
    {"bash_kills", "bash_kills"},
    {"grenade_kills", "grenade_kills"},
    {"roadkills", "roadkills"},
    {"telefrags", "telefrags"},
    {"crushed", "crushed"},
    {"teamkills", "teamkills"},
    {"suicides", "suicides"},
    {"reloads", "reloads"},
    {"weapon_swaps", "weapon_swaps"},
    {"no_ammo", "no_ammo"},
    {"looter", "looter"},
    {"distance", "distance"},
    {"sprinted", "sprinted"},
    {"swam", "swam"},
    {"driven", "driven"},
    {"jumps", "jumps"},
    {"crouch_time", "crouch_time"},
    {"prone_time", "prone_time"},
    {"ladders", "ladders"},
    {"health_picked", "health_picked"},
    {"ammo_picked", "ammo_picked"},
    {"armor_picked", "armor_picked"},
    {"items_picked", "items_picked"},
    {"wins", "wins"},
    {"team_wins", "team_wins"},
    {"ffa_wins", "ffa_wins"},
    {"losses", "losses"},
    {"objectives_done", "objectives"},
    {"rounds_played", "rounds"},
    {"games_finished", "games"},
    {"vehicle_enter", "vehicle_enter"},
    {"turret_enter", "turret_enter"},
    {"vehicle_kills", "roadkills"},
    {"chat_msgs", "chat_msgs"},
    {"spectating", "spectating"},
    {"doors_opened", "doors_opened"},
    {"playtime", "playtime"},
    {"headshot_ratio", "headshot_ratio"},
    {"bot_kills", "bot_kills"},
};

/* Top 3 per metric in one pass: each player's values become (metric, value) rows, LIMIT 3 BY metric. */
// clang-format off
static const char cards_sql[] =
    "SELECT p.1 AS metric, guid, p.2 AS value\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, {metrics} AS pairs\n"
    "    FROM ({totals})\n"
    ")\n"
    "ARRAY JOIN pairs AS p\n"
    "WHERE value > 0\n"
    "ORDER BY metric ASC, value DESC, guid ASC\n"
    "LIMIT 3 BY metric";
// clang-format on

/* The array literal [('kills', toFloat64(kills)), ...] of the metrics of one source. */
static char *cards_metrics_sql(stat_source src)
{
    size_t cap = 8192, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    len += (size_t)snprintf(s + len, cap - len, "[");
    bool first = true;
    for (size_t i = 0; i < sizeof card_metrics / sizeof card_metrics[0]; i++) {
        const lb_stat *st = lb_stat_find(card_metrics[i].stat);
        if (!st || st->source != src)
            continue;
        len += (size_t)snprintf(s + len, cap - len, "%s('%s', toFloat64(%s))", first ? "" : ", ", card_metrics[i].card,
                                st->value_sql);
        first = false;
    }
    snprintf(s + len, cap - len, "]");
    return s;
}

static void cards_build(qjob *j);

/* Step 2: names of every player on a card. */
static void cards_names(qjob *j)
{
    const char *guids[2 * 3 * (sizeof card_metrics / sizeof card_metrics[0])];
    size_t n = rows_strings(job_rows(j, 0), "guid", guids, sizeof guids / sizeof guids[0]);
    n += rows_strings(job_rows(j, 1), "guid", guids + n, sizeof guids / sizeof guids[0] - n);
    sqlv v[] = {SQL_LIST("guids", guids, n)};
    job_ch(j, 2, lb_names_sql, v, 1);
    job_then(j, cards_build);
}

static void cards_build(qjob *j)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof card_metrics / sizeof card_metrics[0]; i++) {
        const lb_stat *st = lb_stat_find(card_metrics[i].stat);
        cJSON *top = cJSON_CreateArray();
        const cJSON *row;
        int rank = 0;
        cJSON_ArrayForEach(row, job_rows(j, st->source == STAT_DAILY ? 0 : 1))
        {
            if (strcmp(row_str(row, "metric"), card_metrics[i].card) != 0)
                continue;
            const char *guid = row_str(row, "guid");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "rank", ++rank);
            cJSON_AddStringToObject(e, "player_id", guid);
            cJSON_AddStringToObject(e, "guid", guid);
            const char *name = row_str(rows_find(job_rows(j, 2), "guid", guid), "name");
            cJSON_AddStringToObject(e, "player_name", name);
            cJSON_AddStringToObject(e, "name", name);
            json_add_round(e, "value", row_num(row, "value"), st->decimals);
            char shown[64];
            snprintf(shown, sizeof shown, "%.*f", st->decimals, row_num(row, "value"));
            cJSON_AddStringToObject(e, "display_value", shown);
            cJSON_AddItemToArray(top, e);
        }
        cJSON_AddItemToObject(o, card_metrics[i].card, top);
    }
    job_answer(j, 200, o);
}

/* Step 1: the daily and the match metrics' top 3s. */
static void cards_start(qjob *j)
{
    for (int src = STAT_DAILY; src <= STAT_MATCH; src++) {
        char *metrics = cards_metrics_sql((stat_source)src);
        char *totals = totals_sql((stat_source)src, NOT_UNAUTH_SQL("guid"), PERIOD_ALL, MATCH_ALL);
        if (metrics && totals) {
            sqlv v[] = {SQL_RAW("metrics", metrics), SQL_RAW("totals", totals)};
            job_ch(j, src == STAT_DAILY ? 0 : 1, cards_sql, v, 2);
        }
        free(metrics);
        free(totals);
    }
    job_then(j, cards_names);
}

/* GET /stats/leaderboard/cards */
static void leaderboard_cards(http_request *req, void *arg)
{
    queryd *q = arg;
    qcache_serve(q->cache, req, "lbcards", q->cache_ttl_s, cards_start, NULL, NULL);
}

static const route leaderboard_table[] = {
    {"/stats/leaderboard", leaderboard_get},
    {"/stats/leaderboard/global", leaderboard_get},
    {"/stats/leaderboard/cards", leaderboard_cards},
    {"/stats/leaderboard/{stat}", leaderboard_get},
};

void leaderboard_routes(queryd *q, http_server *s)
{
    routes_add(s, q, leaderboard_table, sizeof leaderboard_table / sizeof leaderboard_table[0]);
}
