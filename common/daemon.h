/* What every daemon shares: --help, configuration, logging, the loop, the HTTP server with
 * /health, /ready and /metrics, and clean shutdown on SIGTERM/SIGINT. */
#ifndef MOHSTATS_DAEMON_H
#define MOHSTATS_DAEMON_H

#include <stdbool.h>
#include <uv.h>

#include "http_server.h"
#include "probe.h"

typedef struct daemon_ctx daemon_ctx;

/* Shutdown hook: stop producing work, flush, then call done(token) once. */
typedef void (*daemon_stop_fn)(void *arg, void *token, void (*done)(void *token));

typedef struct {
    const char *name;        /* "ingestd" */
    const char *summary;     /* one line for --help */
    const char *listen_var;  /* env var holding this daemon's own URL, e.g. "INGESTD_URL" */
} daemon_info;

/* Parse argv (--help, --version), register config, init logging, create loop and HTTP server and
 * the /health /ready /metrics routes. Returns NULL after printing help (exit code in *exit_code). */
daemon_ctx *daemon_new(const daemon_info *info, int argc, char **argv, int *exit_code);

uv_loop_t *daemon_loop(daemon_ctx *d);
http_server *daemon_http(daemon_ctx *d);

/* /ready answers 200 only when every probe says ok; else 503 naming the failing ones. */
void daemon_add_ready_check(daemon_ctx *d, const char *name, probe_fn fn, void *arg);
/* Hooks run in reverse order of registration after the HTTP server drained. */
void daemon_add_stop_hook(daemon_ctx *d, daemon_stop_fn fn, void *arg);
/* fn(arg) runs in daemon_free, after the loop has ended, in reverse order of registration: it frees what a stop
 * hook only stopped. Shared clients stay allocated until every one has stopped, because the shutdown of one
 * delivers callbacks (a ClickHouse answer cancelled, a Redis reply lost) whose code may still call another. */
void daemon_add_release(daemon_ctx *d, void (*fn)(void *arg), void *arg);

/* Listen on the daemon's URL, run until SIGTERM/SIGINT, drain and run stop hooks.
 * Returns the process exit code. */
int daemon_run(daemon_ctx *d);
void daemon_free(daemon_ctx *d);

/* ---- shared database clients: each call creates the client from its URL variable, registers its
 * /ready probe and a stop hook that closes it after in-flight work. ---- */
struct ch_client;
struct redis_client;
struct pg_pool;
struct mdb_pool;
/* settings: ClickHouse settings sent with every query of this client ("name=value&..."), or NULL. */
struct ch_client *daemon_clickhouse(daemon_ctx *d, const char *settings);
struct redis_client *daemon_redis(daemon_ctx *d);
/* Another Redis: its URL in the setting url_var, name for /ready and the log. */
struct redis_client *daemon_redis_named(daemon_ctx *d, const char *url_var, const char *name);
struct pg_pool *daemon_postgres(daemon_ctx *d, int connections);
struct mdb_pool *daemon_mariadb(daemon_ctx *d, int connections);

#endif
