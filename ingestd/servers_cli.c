/* Operator commands on the server registry: create (prints the token once), list, pin, unpin, revoke. */
#include "servers_cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pg.h"
#include "random.h"
#include "registration.h"

static int usage(void)
{
    fprintf(stderr, "usage: ingestd servers list\n"
                    "       ingestd servers create --name NAME --ip ADDRESS --port PORT\n"
                    "       ingestd servers pin SERVER_ID\n"
                    "       ingestd servers unpin SERVER_ID\n"
                    "       ingestd servers revoke SERVER_ID\n"
                    "The server registry is the PostgreSQL database of POSTGRES_URL.\n");
    return 2;
}

/* Run one statement and report a failure; returns the result or NULL. */
static PGresult *run(const char *sql, int n, const char *const *params)
{
    char err[512];
    PGresult *res = pg_exec_sync(config_get("POSTGRES_URL"), sql, n, params, err, sizeof err);
    if (!res)
        fprintf(stderr, "ingestd servers: %s\n", err);
    return res;
}

/* servers list: every server, active or not, without secrets. */
static int cmd_list(void)
{
    PGresult *res = run("SELECT id, name, host(ip_address), port, token_prefix, is_active, pinned,\n"
                        "       to_char(created_at, 'YYYY-MM-DD HH24:MI'),\n"
                        "       coalesce(to_char(first_batch_at, 'YYYY-MM-DD HH24:MI'), '-')\n"
                        "  FROM servers ORDER BY created_at",
                        0, NULL);
    if (!res)
        return 1;
    printf("%-36s  %-24s  %-15s  %-5s  %-9s  %-7s  %-6s  %-16s  %s\n", "SERVER_ID", "NAME", "ADDRESS", "PORT", "TOKEN",
           "ACTIVE", "PINNED", "CREATED", "FIRST_BATCH");
    for (int i = 0; i < PQntuples(res); i++)
        printf("%-36s  %-24.24s  %-15s  %-5s  %-9s  %-7s  %-6s  %-16s  %s\n", PQgetvalue(res, i, 0),
               PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
               PQgetvalue(res, i, 5)[0] == 't' ? "yes" : "REVOKED", PQgetvalue(res, i, 6)[0] == 't' ? "yes" : "no",
               PQgetvalue(res, i, 7), PQgetvalue(res, i, 8));
    PQclear(res);
    return 0;
}

/* servers create: a server an operator allows, pinned: its token lives in its config, and no registration
 * can replace it. */
static int cmd_create(int argc, char **argv)
{
    const char *name = NULL, *ip = NULL, *port = NULL;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--ip") == 0)
            ip = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = argv[i + 1];
        else
            return usage();
    }
    if (!name || !ip || !port || argc % 2)
        return usage();
    char token[64], hash[65], id[37], prefix[12];
    uint8_t raw[16];
    registration_new_token(token, hash);
    uuid_v4(raw);
    uuid_format(raw, id);
    snprintf(prefix, sizeof prefix, "%.8s", token);
    const char *params[6] = {id, name, ip, port, hash, prefix};
    PGresult *res = run("INSERT INTO servers (id, name, ip_address, port, token_hash, token_prefix, pinned)\n"
                        "VALUES ($1, $2, $3::inet, $4::int, $5, $6, true)",
                        6, params);
    if (!res)
        return 1;
    PQclear(res);
    printf("server_id: %s\ntoken: %s\n", id, token);
    fprintf(stderr, "Put these in the game server's config (seta opm_server_id ...; seta opm_server_token ...): "
                    "the server is pinned, so it cannot register for another token, and the token is not stored "
                    "and cannot be shown again.\n");
    return 0;
}

/* servers revoke: the token stops working (within the token cache time) and the server cannot
 * register again. */
static int cmd_revoke(const char *id)
{
    const char *params[1] = {id};
    PGresult *res = run("UPDATE servers SET is_active = false, updated_at = now() WHERE id = $1 RETURNING id", 1,
                        params);
    if (!res)
        return 1;
    int n = PQntuples(res);
    PQclear(res);
    if (n != 1) {
        fprintf(stderr, "ingestd servers: no server %s\n", id);
        return 1;
    }
    printf("revoked %s\n", id);
    return 0;
}

/* servers pin / unpin: whether registrations may replace the server's token (see registration.h). */
static int cmd_pin(const char *id, bool pinned)
{
    const char *params[2] = {id, pinned ? "t" : "f"};
    PGresult *res =
        run("UPDATE servers SET pinned = $2::boolean, updated_at = now() WHERE id = $1 RETURNING is_active", 2, params);
    if (!res)
        return 1;
    int n = PQntuples(res);
    bool active = n == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (n != 1) {
        fprintf(stderr, "ingestd servers: no server %s\n", id);
        return 1;
    }
    if (pinned)
        printf("pinned %s: registrations can no longer replace its token; keep that token in its config\n", id);
    else
        printf("unpinned %s: a registration from its address and port replaces its token again\n", id);
    if (!active)
        fprintf(stderr, "ingestd servers: note: %s is revoked, which pinning does not change\n", id);
    return 0;
}

int servers_cli(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2)
        return cmd_list();
    if (argc >= 2 && strcmp(argv[1], "create") == 0)
        return cmd_create(argc - 2, argv + 2);
    if (argc == 3 && strcmp(argv[1], "pin") == 0)
        return cmd_pin(argv[2], /* pinned= */ true);
    if (argc == 3 && strcmp(argv[1], "unpin") == 0)
        return cmd_pin(argv[2], /* pinned= */ false);
    if (argc == 3 && strcmp(argv[1], "revoke") == 0)
        return cmd_revoke(argv[2]);
    return usage();
}
