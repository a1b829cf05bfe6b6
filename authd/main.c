/* authd: game login codes for forum members, their verification for game servers, trusted addresses, and
 * the GUID <-> member links in the forum's smf_mohaa_identities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "daemon.h"
#include "log.h"
#include "random.h"
#include "sha256.h"

/* `authd keygen`: the two secrets an operator sets up once. */
static int keygen(void)
{
    uint8_t key[32], forum[32];
    char key_hex[65], forum_token[64], forum_hash[65];
    if (random_secure(key, sizeof key) != 0 || random_secure(forum, sizeof forum) != 0) {
        fprintf(stderr, "authd keygen: no kernel randomness\n");
        return 1;
    }
    hex_encode(key, sizeof key, key_hex);
    memcpy(forum_token, "msf_", 4);
    base32_encode(forum, sizeof forum, forum_token + 4);
    sha256_hex(forum_token, strlen(forum_token), forum_hash);
    printf("# authd's settings (keep this file private):\n"
           "AUTHD_TOKEN_KEY=%s\n"
           "FORUM_API_TOKEN_SHA256=%s\n"
           "# In the forum (Admin, MOHAA stats settings), set the server token (mohaa_stats_server_token) to:\n"
           "#   %s\n"
           "# It is shown only now; authd keeps only its hash.\n",
           key_hex, forum_hash, forum_token);
    return 0;
}

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "authd",
        .summary = "Serves /api/v1/auth: login codes for the forum, their verification for game servers.\n"
                   "Operator command: authd keygen (prints a new AUTHD_TOKEN_KEY and forum secret).",
        .listen_var = "AUTHD_URL",
    };
    config_register(authd_config_vars);
    if (argc > 1 && strcmp(argv[1], "keygen") == 0)
        return keygen();
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    static authd a;
    if (authd_settings_load(&a) != 0) {
        daemon_free(d);
        return 2;
    }
    a.pg = daemon_postgres(d, 4);
    a.mdb = daemon_mariadb(d, 2);
    code_upgrade_start(&a, d);
    verify_routes(&a, daemon_http(d));
    forum_routes(&a, daemon_http(d));
    tournament_routes(&a, daemon_http(d));
    code = daemon_run(d);
    login_limits_close(&a.verify_limits);
    rate_limit_free(a.forum_failures);
    daemon_free(d);
    return code;
}
