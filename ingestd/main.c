/* ingestd: game servers in. Accepts event batches and registrations, stores batches durably in a Redis
 * stream (or a local spool while Redis is away), and moves the stream into ClickHouse. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_accounts.h"
#include "config.h"
#include "daemon.h"
#include "geoip.h"
#include "ingest_api.h"
#include "live_matches.h"
#include "live_state.h"
#include "log.h"
#include "mqtt_ingest.h"
#include "registration.h"
#include "server_activity.h"
#include "server_auth.h"
#include "servers_cli.h"
#include "spool.h"
#include "stream_writer.h"

static const config_var ingestd_vars[] = {
    {"INGESTD_ROLE", "all", "all: accept batches and write them to ClickHouse; api: only accept; writer: only write"},
    {"REGISTRATION_MODE", "open",
     "open, or closed: no registration makes a new server (only `ingestd servers create` does; unpinned ones may "
     "re-register)"},
    {"REGISTRATION_PER_MINUTE", "10", "registrations allowed per source address and minute"},
    {"SERVER_TOKEN_CACHE_MS", "60000", "how long a token lookup is trusted (and a revoked token may still work)"},
    {LIVE_TTL_VAR, LIVE_TTL_DEFAULT, LIVE_TTL_HELP},
    {"SESSION_MAP_TTL_S", "604800", "a server quiet this long has its sessions' maps forgotten"},
    {"INGEST_MAX_EVENTS", "500",
     "events per batch, at most (413 beyond; the stock tracker sends at most 20): one request cannot cost more"},
    {"INGEST_MAX_EVENT_BYTES", "16384", "bytes of one event as stored (its row with the event as sent), at most (413)"},
    {"INGEST_SERVER_BYTES_PER_S", "262144",
     "bytes of batches a second one server may send, sustained (429 with Retry-After beyond; 0: no limit); a full "
     "64-player server sends about 100 KB/s at most"},
    {"INGEST_SERVER_BURST_BYTES", "2097152",
     "bytes one server may send at once before INGEST_SERVER_BYTES_PER_S applies"},
    {"INGEST_LARGE_BODY_BYTES", "65536",
     "a body this large is more than the stock tracker sends (20 events, a few KB): such bodies share ..."},
    {"INGEST_LARGE_BYTES_PER_S", "1048576",
     "... this many bytes a second among all servers (429 with Retry-After beyond; 0: no limit)"},
    {"INGEST_UNVERIFIED_BODY_BYTES", "8388608",
     "bytes of bodies held at once for tokens not checked yet, a quarter of it per address (503 with Retry-After "
     "beyond); servers seen since the start never wait for it"},
    {NULL, NULL, NULL},
};

/* Everything ingestd runs, for the stop hook. */
typedef struct {
    redis_client *redis;
    const char *stream_key;
    server_auth *auth;
    server_activity *activity;
    live_state *live;
    spool *spool;
    ingest_api *api;
    broker_accounts *accounts;
    mqtt_ingest *mqtt;
    bool mqtt_stopping;
    registration *reg;
    stream_writer *writer, *stopping_writer;
    uv_timer_t drain_timer;
    void *stop_token;
    void (*stop_done)(void *);
} ingestd;

/* SPOOL_DIR with "{host}" replaced by the host name: one spool per replica when replicas share a volume. */
static void spool_dir_for_host(const char *setting, char *out, size_t outlen)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const char *at = strstr(setting, "{host}");
    if (at)
        snprintf(out, outlen, "%.*s%s%s", (int)(at - setting), setting, host, at + 6);
    else
        snprintf(out, outlen, "%s", setting);
}

/* Replay the spool whenever Redis is reachable again. */
static void drain_spool(ingestd *g)
{
    if (g->spool && redis_client_connected(g->redis))
        spool_drain(g->spool, g->redis, g->stream_key);
}

static void on_redis_connect(redis_client *c, void *arg)
{
    ingestd *g = arg;
    live_state_redis_connected(g->live);
    drain_spool(g);
}

/* /ready: not before the live state and the sessions' maps were read back from Redis. */
static void live_probe(void *arg, void *token, probe_done_fn done)
{
    bool ok = live_state_restored(arg);
    done(token, ok, ok ? NULL : "not yet read back from Redis");
}

static void on_drain_timer(uv_timer_t *t)
{
    drain_spool(t->data);
}

static void stop_step(void *arg);

/* Shutdown, after the HTTP server drained: writer flush, live state, spool, then the rest. Each step
 * finishes before the next starts; the database clients close after this hook. */
static void stop_ingestd(void *arg, void *token, void (*done)(void *token))
{
    ingestd *g = arg;
    g->stop_token = token;
    g->stop_done = done;
    uv_timer_stop(&g->drain_timer);
    uv_close((uv_handle_t *)&g->drain_timer, NULL);
    stop_step(g);
}

/* One shutdown step at a time; called again when a step completes. */
static void stop_step(void *arg)
{
    ingestd *g = arg;
    if (g->mqtt && !g->mqtt_stopping) {
        g->mqtt_stopping = true;
        mqtt_ingest_stop(g->mqtt, stop_step, g);
        return;
    }
    if (g->writer) {
        g->stopping_writer = g->writer;
        g->writer = NULL;
        stream_writer_stop(g->stopping_writer, stop_step, g);
        return;
    }
    stream_writer_free(g->stopping_writer);
    g->stopping_writer = NULL;
    if (g->live) {
        live_state *ls = g->live;
        g->live = NULL;
        live_state_close(ls, stop_step, g);
        return;
    }
    if (g->spool) {
        spool *sp = g->spool;
        g->spool = NULL;
        spool_close(sp, stop_step, g);
        return;
    }
    mqtt_ingest_free(g->mqtt);
    broker_accounts_free(g->accounts);
    ingest_api_free(g->api);
    registration_free(g->reg);
    server_auth_free(g->auth);
    server_activity_free(g->activity);
    g->stop_done(g->stop_token);
}

int main(int argc, char **argv)
{
    static const daemon_info info = {
        .name = "ingestd",
        .summary = "Accepts game server event batches (POST /api/v1/ingest/events) and registrations\n"
                   "(POST /api/v1/servers/register), and writes accepted batches to ClickHouse.\n"
                   "Operator commands: ingestd servers list|create|revoke (see ingestd servers --help).",
        .listen_var = "INGESTD_URL",
    };
    config_register(ingestd_vars);
    config_register(spool_config_vars);
    config_register(stream_writer_config_vars);
    config_register(mqtt_ingest_config_vars);
    config_register(geoip_config_vars);
    if (argc > 1 && strcmp(argv[1], "servers") == 0) {
        log_init("ingestd", -1);
        return servers_cli(argc - 1, argv + 1);
    }
    int code;
    daemon_ctx *d = daemon_new(&info, argc, argv, &code);
    if (!d)
        return code;
    const char *role = config_get("INGESTD_ROLE");
    int api = strcmp(role, "writer") != 0, writer = strcmp(role, "api") != 0;
    static ingestd g;
    g.stream_key = config_get("INGEST_STREAM");
    if (writer)
        daemon_clickhouse(d, NULL); /* for /ready: the writer has clients of its own */
    g.redis = daemon_redis(d);
    if (api) {
        pg_pool *pg = daemon_postgres(d, 4);
        int err = 0;
        char dir[1024];
        spool_dir_for_host(config_get("SPOOL_DIR"), dir, sizeof dir);
        g.spool = spool_open(daemon_loop(d), dir, &err);
        if (!g.spool) {
            log_error("cannot open the spool in %s: %s", dir, uv_strerror(err));
            return 1;
        }
        long long spool_max = config_get_int("SPOOL_MAX_BYTES", -1);
        if (spool_max < 0) {
            log_error("SPOOL_MAX_BYTES must be a number of bytes, 0 or more");
            return 1;
        }
        spool_set_max_bytes(g.spool, (uint64_t)spool_max);
        g.auth = server_auth_new(pg);
        g.activity = server_activity_new(pg);
        g.live = live_state_new(daemon_loop(d), g.redis, live_state_timing_from_config());
        long long max_events = config_get_int("INGEST_MAX_EVENTS", 500),
                  max_event_bytes = config_get_int("INGEST_MAX_EVENT_BYTES", 16384),
                  bytes_per_s = config_get_int("INGEST_SERVER_BYTES_PER_S", 262144),
                  burst_bytes = config_get_int("INGEST_SERVER_BURST_BYTES", 2097152),
                  large_body = config_get_int("INGEST_LARGE_BODY_BYTES", 65536),
                  large_per_s = config_get_int("INGEST_LARGE_BYTES_PER_S", 1048576),
                  unverified = config_get_int("INGEST_UNVERIFIED_BODY_BYTES", 8388608);
        if (max_events < 1 || max_event_bytes < 1024 || bytes_per_s < 0 || burst_bytes < 0 || large_body < 1 ||
            large_per_s < 0 || unverified < 4194304) {
            log_error("INGEST_MAX_EVENTS and INGEST_LARGE_BODY_BYTES must be at least 1, INGEST_MAX_EVENT_BYTES at "
                      "least 1024, INGEST_UNVERIFIED_BODY_BYTES at least 4194304 (a quarter of it per address must "
                      "hold a 1 MiB body), the other INGEST_*_BYTES* settings not negative");
            return 1;
        }
        ingest_limits limits = {.max_events = (size_t)max_events,
                                .max_event_bytes = (size_t)max_event_bytes,
                                .server_bytes_per_s = (size_t)bytes_per_s,
                                .server_burst_bytes = (size_t)burst_bytes,
                                .large_body_bytes = (size_t)large_body,
                                .large_bytes_per_s = (size_t)large_per_s,
                                .unverified_body_bytes = (size_t)unverified};
        http_server_config http_defaults;
        http_server_config_init(&http_defaults);
        limits.max_body_bytes = http_defaults.max_body_bytes;
        /* A request not read in full by then was cut off with 408 (or its connection is gone): its charge ends. */
        limits.unverified_hold_ms = (uint64_t)config_get_int("HTTP_REQUEST_TIMEOUT_MS", 30000) + 5000;
        /* Large batches are appended on a connection of their own, so that small ones never queue behind them. */
        redis_client *bulk_redis = daemon_redis_named(d, "REDIS_URL", "redis_bulk");
        g.api = ingest_api_new(daemon_loop(d), daemon_http(d), g.auth, g.activity, g.redis, bulk_redis, g.spool, g.live,
                               g.stream_key, &limits);
        g.reg = registration_new(daemon_http(d), pg, g.auth);
        if (!g.auth || !g.activity || !g.live || !g.api || !g.reg) {
            log_error("out of memory at start-up");
            return 1;
        }
        /* MQTT: the broker's accounts (for its plugin, and the check of each message's sender), and the reader. */
        const char *accounts_file = config_get("MQTT_ACCOUNTS_FILE");
        if (*config_get("MQTT_URL") || *accounts_file)
            g.accounts = broker_accounts_new(daemon_loop(d), pg, *accounts_file ? accounts_file : NULL,
                                             (uint64_t)config_get_int("MQTT_ACCOUNTS_REFRESH_MS", 2000));
        g.mqtt = g.accounts ? mqtt_ingest_new(daemon_loop(d), g.api, g.accounts, &err) : NULL;
        if (err)
            return 1;
        redis_client_on_connect(g.redis, on_redis_connect, &g);
        daemon_add_ready_check(d, "live_state", live_probe, g.live);
    }
    uv_timer_init(daemon_loop(d), &g.drain_timer);
    g.drain_timer.data = &g;
    if (api)
        uv_timer_start(&g.drain_timer, on_drain_timer, 1000, 1000);
    if (writer) {
        stream_writer_config cfg;
        stream_writer_config_from_env(&cfg);
        int err = 0;
        g.writer = stream_writer_new(daemon_loop(d), &cfg, &err);
        if (!g.writer) {
            log_error("cannot start the stream writer: %s", uv_strerror(err));
            return 1;
        }
        stream_writer_start(g.writer);
    }
    daemon_add_stop_hook(d, stop_ingestd, &g);
    code = daemon_run(d);
    daemon_free(d);
    return code;
}
