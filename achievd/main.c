/* achievd: evaluates achievements from the event stream and writes unlocks into the forum's tables. */
#include <stdlib.h>

#include "daemon.h"

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "achievd",
        .summary = "Reads the event stream, evaluates achievements, writes unlocks and progress to MariaDB.",
        .listen_var = "ACHIEVD_URL",
    };
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    daemon_redis(d);
    daemon_mariadb(d, 2);
    code = daemon_run(d);
    daemon_free(d);
    return code;
}
