/* The database clients a daemon uses, each wired to /ready and to clean shutdown.
 *
 * Shutdown has two phases. The stop hooks (after the HTTP server drained) stop each client: its work in flight
 * ends with a callback (ClickHouse requests cancelled, Redis replies lost, queued SQL run) and it refuses new
 * work. A client's memory goes only in daemon_free, after the loop: the callbacks one client delivers while it
 * stops may reach code that calls another client already stopped (a leaderboard answer cancelled by
 * ClickHouse's stop stores nothing, but its cache code still asks Redis), which must find a client that says no,
 * not freed memory. */
#include <stdlib.h>

#include "clickhouse.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "mariadb.h"
#include "pg.h"
#include "redis_client.h"

/* Stop hook: free the ClickHouse client once the HTTP server drained (in-flight requests answered). */
static void stop_clickhouse(void *arg, void *token, void (*done)(void *token))
{
    ch_client_stop(arg);
    done(token);
}

/* Stop hook: close the Redis connection; done when hiredis has let go of its handles. */
static void stop_redis(void *arg, void *token, void (*done)(void *token))
{
    redis_client_stop(arg, done, token);
}

/* Stop hook: close the PostgreSQL pool. */
static void stop_postgres(void *arg, void *token, void (*done)(void *token))
{
    pg_pool_stop(arg);
    done(token);
}

/* Stop hook: close the MariaDB pool. */
static void stop_mariadb(void *arg, void *token, void (*done)(void *token))
{
    mdb_pool_stop(arg);
    done(token);
}

/* Releases (daemon_add_release): free what the stop hooks stopped. */
static void release_clickhouse(void *arg)
{
    ch_client_free(arg);
}

static void release_redis(void *arg)
{
    redis_client_free(arg);
}

static void release_postgres(void *arg)
{
    pg_pool_free(arg);
}

static void release_mariadb(void *arg)
{
    mdb_pool_free(arg);
}

/* Log which server a client talks to, without its password. */
static void log_target(const char *what, const char *url)
{
    char shown[512];
    config_redact_url(url, shown, sizeof shown);
    log_info("%s: %s", what, shown);
}

struct ch_client *daemon_clickhouse(daemon_ctx *d, const char *settings)
{
    const char *url = config_get("CLICKHOUSE_URL");
    /* ClickHouse takes settings as URL parameters; the URL always has a query (database=) once parsed, but
     * CLICKHOUSE_URL may not: '?' or '&' accordingly. */
    char *full = NULL;
    if (settings && *settings && asprintf(&full, "%s%c%s", url, strchr(url, '?') ? '&' : '?', settings) < 0)
        full = NULL;
    ch_client *c = ch_client_new(daemon_loop(d), full ? full : url, config_get_int("CLICKHOUSE_TIMEOUT_MS", 30000));
    free(full);
    if (!c) {
        log_error("CLICKHOUSE_URL is not a usable URL");
        exit(2);
    }
    log_target("clickhouse", url);
    daemon_add_ready_check(d, "clickhouse", ch_probe, c);
    daemon_add_stop_hook(d, stop_clickhouse, c);
    daemon_add_release(d, release_clickhouse, c);
    return c;
}

struct redis_client *daemon_redis(daemon_ctx *d)
{
    return daemon_redis_named(d, "REDIS_URL", "redis");
}

struct redis_client *daemon_redis_named(daemon_ctx *d, const char *url_var, const char *name)
{
    const char *url = config_get(url_var);
    redis_client *c = redis_client_new(daemon_loop(d), url);
    if (!c) {
        log_error("%s is not a usable URL", url_var);
        exit(2);
    }
    log_target(name, url);
    daemon_add_ready_check(d, name, redis_probe, c);
    daemon_add_stop_hook(d, stop_redis, c);
    daemon_add_release(d, release_redis, c);
    return c;
}

struct pg_pool *daemon_postgres(daemon_ctx *d, int connections)
{
    const char *url = config_get("POSTGRES_URL");
    pg_pool *p = pg_pool_new(daemon_loop(d), url, connections);
    if (!p) {
        log_error("POSTGRES_URL is not usable");
        exit(2);
    }
    log_target("postgres", url);
    daemon_add_ready_check(d, "postgres", pg_probe, p);
    daemon_add_stop_hook(d, stop_postgres, p);
    daemon_add_release(d, release_postgres, p);
    return p;
}

struct mdb_pool *daemon_mariadb(daemon_ctx *d, int connections)
{
    const char *url = config_get("MARIADB_URL");
    mdb_pool *p = mdb_pool_new(daemon_loop(d), url, connections);
    if (!p) {
        log_error("MARIADB_URL is not a usable URL");
        exit(2);
    }
    log_target("mariadb", url);
    daemon_add_ready_check(d, "mariadb", mdb_probe, p);
    daemon_add_stop_hook(d, stop_mariadb, p);
    daemon_add_release(d, release_mariadb, p);
    return p;
}
