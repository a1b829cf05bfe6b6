/* Game servers in the operator's toolbox. hide: PostgreSQL's servers.hidden, which queryd's lists of servers
 * (listed_servers_pg_sql) and its live matches (hidden_servers_pg_sql) honour; the server's pages, matches and
 * events stay, and it still sends. ban: the same
 * as `ingestd servers revoke` (is_active = false): ingestd refuses its token once its token cache forgets it
 * (SERVER_TOKEN_CACHE_MS, 60 s), the MQTT broker within MQTT_ACCOUNTS_REFRESH_MS, and it cannot register again;
 * what it sent before stays (erase works on players, not servers). */
#include "game_server.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"
#include "redis_admin.h"

/* Run sql with the server id as $1 (and $2 when given); the server's name in name, or an error when there is no
 * such server. */
static int server_update(const admin_ctx *a, const char *sql, const char *id, const char *p2, char *name,
                         size_t namelen)
{
    if (!*id || strlen(id) > 64) {
        log_error("a server id is 1 to 64 characters (`ingestd servers list` shows them)");
        return -EINVAL;
    }
    char err[512];
    const char *params[2] = {id, p2};
    PGresult *res = pg_exec_sync(a->postgres_url, sql, p2 ? 2 : 1, params, err, sizeof err);
    if (!res) {
        log_error("PostgreSQL: %s", err);
        return -EIO;
    }
    int rc = PQntuples(res) == 1 ? 0 : -ENOENT;
    if (rc)
        log_error("no server %s (`ingestd servers list` shows them)", id);
    else
        snprintf(name, namelen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int game_server_hide(const admin_ctx *a, const char *id, bool hidden)
{
    char name[128];
    int rc =
        server_update(a, "UPDATE servers SET hidden = $2::boolean, updated_at = now() WHERE id = $1 RETURNING name", id,
                      hidden ? "true" : "false", name, sizeof name);
    long long dropped = 0;
    rc = rc ? rc : admin_cache_flush(a, &dropped);
    if (rc)
        return rc;
    char detail[256];
    snprintf(detail, sizeof detail, "server %s (%s)", id, name);
    return admin_record(a, hidden ? "hide-server" : "unhide-server", detail);
}

int game_server_ban(const admin_ctx *a, const char *id)
{
    char question[256];
    snprintf(question, sizeof question,
             "Ban server %.64s: its token stops working (within a minute) and it cannot register again?", id);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        return -ECANCELED;
    }
    char name[128];
    int rc = server_update(a, "UPDATE servers SET is_active = false, updated_at = now() WHERE id = $1 RETURNING name",
                           id, NULL, name, sizeof name);
    if (rc)
        return rc;
    char detail[256];
    snprintf(detail, sizeof detail, "server %s (%s)", id, name);
    return admin_record(a, "ban-server", detail);
}
