/* queryd's shared state and the route tables of its API areas (one file per area). */
#ifndef MOHSTATS_QUERYD_H
#define MOHSTATS_QUERYD_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "http_server.h"

struct ch_client;
struct redis_client;
struct mdb_pool;
struct pg_pool;
typedef struct qcache qcache;
struct board_set;
struct fresh;
struct endpoint;
struct queryd;

/* One registered endpoint (endpoint.h) and the queryd serving it: the argument of its route. */
typedef struct {
    struct queryd *q;
    const struct endpoint *ep;
} queryd_route;

/* The most endpoints queryd serves (the routes of endpoint tables: about 80 today). */
#define QUERYD_ROUTES_MAX 160

typedef struct queryd {
    uv_loop_t *loop;
    struct ch_client *ch;
    struct redis_client *redis;
    struct mdb_pool *mdb;
    struct pg_pool *pg;
    qcache *cache;
    struct board_set *boards; /* leaderboard boards (board.h) */
    struct fresh *fresh;      /* the data generation: inserts into ClickHouse known of (fresh.h) */
    struct geoip *geo;        /* the countries of game servers' addresses (geoip.h; NULL: none) */
    int max_limit;            /* QUERY_MAX_LIMIT: the most rows one page may ask for */
    int max_offset;           /* QUERY_MAX_OFFSET: the deepest page */
    int cache_ttl_s;          /* QUERY_CACHE_TTL_S */
    int live_ttl_s;           /* QUERY_LIVE_TTL_S: live state (Redis live_matches) */
    int stale_ttl_s;          /* QUERY_STALE_TTL_S: how long an answer may be served while ClickHouse is down */
    int not_found_ttl_ms;     /* QUERY_NOT_FOUND_TTL_MS: how long a 404 is cached (0: not at all) */
    int lock_ms;              /* QUERY_LOCK_MS: cross-process single-flight lock */
    bool board_warm;          /* QUERY_BOARD_WARM: keep every leaderboard board built (board.h) */
    int board_refresh_s;      /* QUERY_BOARD_REFRESH_S: how old a board kept warm gets before it is rebuilt */
    struct redis_client *cache_redis; /* the answer cache's Redis (CACHE_REDIS_URL, else redis) */
    char ch_settings[160];    /* sent with every ClickHouse query: read-only, QUERY_CH_MAX_* */
    char smf_prefix[32];      /* SMF_DB_PREFIX, checked to be [a-z0-9_] */
    /* The routes of the endpoint tables (endpoints_add): kept here, beside what they serve, so that registering
     * allocates nothing and nothing has to be freed. */
    queryd_route routes[QUERYD_ROUTES_MAX];
    size_t nroutes;
} queryd;

/* queryd's settings (registered before the daemon parses its command line). */
extern const config_var queryd_config_vars[];

/* The web dashboard's settings (web.c). */
extern const config_var web_config_vars[];

/* Read the settings into q (loop and clients are set by the caller). Returns 0 or -EINVAL. */
int queryd_settings_load(queryd *q);

/* Route tables, one per API area. Every route is under /api/v1. */
void global_routes(queryd *q, http_server *s);
void leaderboard_routes(queryd *q, http_server *s);
void player_routes(queryd *q, http_server *s);
void match_routes(queryd *q, http_server *s);
void map_routes(queryd *q, http_server *s);
void weapon_routes(queryd *q, http_server *s);
void gametype_routes(queryd *q, http_server *s);
void game_server_routes(queryd *q, http_server *s);
void game_server_parts_routes(queryd *q, http_server *s);
void game_server_players_routes(queryd *q, http_server *s);
void game_server_countries_routes(queryd *q, http_server *s);
void query_routes(queryd *q, http_server *s);
void heatmap_routes(queryd *q, http_server *s);
void achievement_routes(queryd *q, http_server *s);
void team_routes(queryd *q, http_server *s); /* teams.c: teams and tournaments */
/* Every API area's routes (the calls above): what queryd serves under /api/v1, in one place, so that main.c and the
 * test of docs/openapi.json (tests/unit/test_openapi.c) register the same routes. */
void queryd_api_routes(queryd *q, http_server *s);
/* The dashboard's static files (web/), at WEB_PATH; last, so that every API route is registered before it. */
void web_routes(queryd *q, http_server *s);

#endif
