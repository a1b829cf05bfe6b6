/* queryd: statistics out, for the forum and web clients, from ClickHouse with a Redis cache. */
#include <stdlib.h>

#include "daemon.h"

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "queryd",
        .summary = "Serves the /api/v1/stats, /api/v1/servers and /api/v1/achievements read API.",
        .listen_var = "QUERYD_URL",
    };
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    daemon_clickhouse(d);
    daemon_redis(d);
    daemon_mariadb(d, 2);
    code = daemon_run(d);
    daemon_free(d);
    return code;
}
