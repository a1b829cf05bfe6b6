/* ingestd: game servers in. Accepts event batches, stores them durably in a Redis stream, and
 * moves them from the stream into ClickHouse. */
#include <stdlib.h>

#include "daemon.h"

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "ingestd",
        .summary = "Accepts game server event batches (/api/v1/ingest/events) and server registrations.",
        .listen_var = "INGESTD_URL",
    };
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    daemon_clickhouse(d);
    daemon_redis(d);
    daemon_postgres(d, 4);
    code = daemon_run(d);
    daemon_free(d);
    return code;
}
