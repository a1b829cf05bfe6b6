/* queryd: statistics out, for the forum and web clients, from ClickHouse with a Redis cache. */
#include <stdlib.h>

#include "board.h"
#include "cache.h"
#include "daemon.h"
#include "fresh.h"
#include "geoip.h"
#include "log.h"
#include "queryd.h"
#include "rating_settings.h"
#include "ratings.h"

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "queryd",
        .summary = "Serves the /api/v1/stats, /api/v1/servers and /api/v1/achievements read API.",
        .listen_var = "QUERYD_URL",
    };
    config_register(queryd_config_vars);
    config_register(web_config_vars);
    config_register(rating_config_vars);
    config_register(rating_model_config_vars);
    config_register(geoip_config_vars);
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    static queryd q;
    q.loop = daemon_loop(d);
    if (queryd_settings_load(&q) != 0 || rating_settings_load() != 0) {
        daemon_free(d);
        return 2;
    }
    q.ch = daemon_clickhouse(d, q.ch_settings);
    q.redis = daemon_redis(d);
    if (*config_get("CACHE_REDIS_URL")) {
        q.cache_redis = daemon_redis_named(d, "CACHE_REDIS_URL", "cache_redis");
    } else {
        log_warn("CACHE_REDIS_URL is empty: answers are cached in REDIS_URL's Redis, beside the event stream");
        q.cache_redis = q.redis;
    }
    q.geo = geoip_open_configured();
    q.mdb = daemon_mariadb(d, 2);
    q.pg = daemon_postgres(d, 2);
    q.cache = qcache_new(&q);
    q.boards = board_set_new(&q);
    q.fresh = q.boards ? fresh_new(&q, d) : NULL;
    if (!q.cache || !q.boards || !q.fresh || (q.board_warm && board_set_keep_warm(q.boards, d) != 0)) {
        geoip_close(q.geo);
        daemon_free(d);
        return 1;
    }

    http_server *s = daemon_http(d);
    queryd_api_routes(&q, s);
    web_routes(&q, s);

    code = daemon_run(d);
    qcache_free(q.cache);
    board_set_free(q.boards);
    fresh_free(q.fresh); /* before the loop goes with daemon_free */
    geoip_close(q.geo);
    daemon_free(d);
    return code;
}
