/* authd: game login tokens, their verification, trusted IPs and GUID <-> forum member links. */
#include <stdlib.h>

#include "daemon.h"

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "authd",
        .summary = "Serves /api/v1/auth: login tokens for the forum, verification for game servers.",
        .listen_var = "AUTHD_URL",
    };
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    daemon_postgres(d, 2);
    daemon_mariadb(d, 2);
    code = daemon_run(d);
    daemon_free(d);
    return code;
}
