/* Shared pieces of the API areas: route registration (every area's, in one list), SQL conditions over lists, row
 * lookups, and queryd's settings. */
#include "area.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clickhouse.h"
#include "live_matches.h"
#include "log.h"
#include "mariadb.h"

const config_var queryd_config_vars[] = {
    {"QUERY_CACHE_TTL_S", "60", "seconds a computed answer is served from the Redis cache"},
    {LIVE_TTL_VAR, LIVE_TTL_DEFAULT, LIVE_TTL_HELP},
    {"QUERY_LIVE_TTL_S", "10", "seconds live answers (servers online, live matches) are cached"},
    {"QUERY_STALE_TTL_S", "86400", "seconds an old answer may still be served while ClickHouse is down"},
    {"QUERY_NOT_FOUND_TTL_MS", "500",
     "milliseconds a 404 (unknown player, match, map, server...) is cached, at most 1000 (0: not at all): a "
     "player, match or map appears at most twice that after its first event reached ClickHouse"},
    {"QUERY_LOCK_MS", "3000", "lock that lets one queryd compute an answer while others wait for it"},
    {"QUERY_MAX_LIMIT", "100", "the most rows one page of a list may ask for (limit)"},
    {"QUERY_MAX_OFFSET", "100000", "the deepest row a page may start at (offset)"},
    {"QUERY_BOARD_WARM", "1",
     "1: build every period's leaderboard board at start and rebuild it every QUERY_BOARD_REFRESH_S, so that "
     "no request waits for one (/ready waits for them); 0: build a board when a request first needs it and "
     "again when a request finds it older than QUERY_CACHE_TTL_S"},
    {"QUERY_BOARD_REFRESH_S", "300",
     "with QUERY_BOARD_WARM=1, seconds between rebuilds of each leaderboard board: how far leaderboards may lag "
     "the events (five builds each time, about 9 s of ClickHouse work on 10 million events)"},
    {"CACHE_REDIS_URL", "",
     "the Redis of the answer cache: one of its own, with maxmemory and an eviction policy, so that the cache's "
     "memory is bounded and never evicts the event stream (scripts/stack.sh and docker-compose.yml run one); "
     "empty: REDIS_URL, whose memory then holds every answer for QUERY_STALE_TTL_S"},
    {"QUERY_CH_MAX_SECONDS", "20",
     "ClickHouse stops one of queryd's queries after this long (max_execution_time): a public read cannot hold "
     "ClickHouse for longer"},
    {"QUERY_CH_MAX_ROWS", "1000000000", "rows one of queryd's queries may read, at most (max_rows_to_read)"},
    {"QUERY_CH_MAX_MEMORY_MB", "2048", "memory one of queryd's queries may use, at most (max_memory_usage)"},
    {NULL, NULL, NULL},
};

int queryd_settings_load(queryd *q)
{
    q->cache_ttl_s = (int)config_get_int("QUERY_CACHE_TTL_S", 60);
    q->live_ttl_s = (int)config_get_int("QUERY_LIVE_TTL_S", 10);
    q->stale_ttl_s = (int)config_get_int("QUERY_STALE_TTL_S", 86400);
    q->not_found_ttl_ms = (int)config_get_int("QUERY_NOT_FOUND_TTL_MS", 500);
    q->lock_ms = (int)config_get_int("QUERY_LOCK_MS", 3000);
    q->max_limit = (int)config_get_int("QUERY_MAX_LIMIT", 100);
    q->max_offset = (int)config_get_int("QUERY_MAX_OFFSET", 100000);
    q->board_warm = config_get_int("QUERY_BOARD_WARM", 1) != 0;
    q->board_refresh_s = (int)config_get_int("QUERY_BOARD_REFRESH_S", 300);
    long long max_s = config_get_int("QUERY_CH_MAX_SECONDS", 20),
              max_rows = config_get_int("QUERY_CH_MAX_ROWS", 1000000000),
              max_mb = config_get_int("QUERY_CH_MAX_MEMORY_MB", 2048);
    if (q->cache_ttl_s < 1 || q->live_ttl_s < 1 || q->stale_ttl_s < 1 || q->lock_ms < 50 || q->max_limit < 1 ||
        q->max_offset < 0 || q->board_refresh_s < 1 || max_s < 1 || max_rows < 1 || max_mb < 1 ||
        q->not_found_ttl_ms < 0 || q->not_found_ttl_ms > 1000) {
        log_error("QUERY_* settings must be positive (QUERY_LOCK_MS at least 50, QUERY_NOT_FOUND_TTL_MS 0 to 1000)");
        return -EINVAL;
    }
    /* Every query of queryd's: read-only (2: settings may still be given per query), and bounded in time, rows
     * and memory, so that no public request can hold ClickHouse. A query whose clients all left is killed
     * (job_cancel); the time bound ends one that KILL QUERY could not reach, and the leaderboard boards' builds. */
    snprintf(q->ch_settings, sizeof q->ch_settings,
             "readonly=2&max_execution_time=%lld&max_rows_to_read=%lld&max_memory_usage=%lld", max_s, max_rows,
             max_mb * 1024 * 1024);
    return mdb_smf_prefix(q->smf_prefix, sizeof q->smf_prefix);
}

void routes_add(http_server *s, queryd *q, const route *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1%s", r[i].path);
        if (http_server_route(s, "GET", path, r[i].fn, q) != 0)
            log_error("cannot register route %s", path);
    }
}

void queryd_api_routes(queryd *q, http_server *s)
{
    global_routes(q, s);
    leaderboard_routes(q, s);
    player_routes(q, s);
    match_routes(q, s);
    map_routes(q, s);
    weapon_routes(q, s);
    gametype_routes(q, s);
    game_server_routes(q, s);
    game_server_parts_routes(q, s);
    game_server_players_routes(q, s);
    game_server_countries_routes(q, s);
    query_routes(q, s);
    heatmap_routes(q, s);
    achievement_routes(q, s);
    team_routes(q, s);
}

char *sql_in(const char *col, const char *const *vals, size_t n)
{
    if (n == 0)
        return strdup("0");
    bytebuf b = {0};
    int rc = bytebuf_appendf(&b, "%s IN (", col);
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = bytebuf_append(&b, ", ", 2);
        if (!rc)
            rc = ch_append_quoted(&b, vals[i], strlen(vals[i]));
    }
    if (!rc)
        rc = bytebuf_append(&b, ")", 1);
    if (rc) {
        bytebuf_free(&b);
        return NULL;
    }
    return b.data;
}

size_t rows_strings(const cJSON *rows, const char *key, const char **out, size_t max)
{
    size_t n = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(row, key));
        if (s && n < max)
            out[n++] = s;
    }
    return n;
}

const cJSON *rows_find(const cJSON *rows, const char *key, const char *val)
{
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(row, key));
        if (s && strcmp(s, val) == 0)
            return row;
    }
    return NULL;
}

void respond_bad_param(http_request *req, const char *name, const char *why)
{
    char msg[256];
    snprintf(msg, sizeof msg, "Parameter '%s' %s.", name, why);
    http_respond_error(req, 400, msg);
}

char *smf_sql(const queryd *q, const char *tmpl)
{
    return mdb_prefixed_sql(q->smf_prefix, tmpl);
}
