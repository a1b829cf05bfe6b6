/* Daemon scaffolding: --help, config, logging, the loop, /health /ready /metrics, and clean shutdown. */
#include "daemon.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

#define MAX_CHECKS 8
#define MAX_HOOKS 16

typedef struct {
    const char *name;
    probe_fn fn;
    void *arg;
} ready_check;

typedef struct {
    daemon_stop_fn fn;
    void *arg;
} stop_hook;

typedef struct {
    void (*fn)(void *arg);
    void *arg;
} release_hook;

struct daemon_ctx {
    daemon_info info;
    uv_loop_t loop;
    http_server *http;
    uv_signal_t sigterm, sigint;
    ready_check checks[MAX_CHECKS];
    int nchecks;
    stop_hook hooks[MAX_HOOKS];
    int nhooks;
    release_hook releases[MAX_HOOKS];
    int nreleases;
    int next_hook; /* shutdown progress: hooks run one after another, last registered first */
    int stopping;
    int exit_code;
};

/* One GET /ready in progress: waits for every probe, then answers. */
typedef struct {
    daemon_ctx *d;
    http_request *req;
    int pending;
    int failed;
    cJSON *checks;
    char error[512];
} ready_probe_run;

typedef struct {
    ready_probe_run *run;
    const char *name;
} ready_token;

/* GET /health: the process is alive and its loop turns. */
static void health_handler(http_request *req, void *arg)
{
    daemon_ctx *d = arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "service", d->info.name);
    http_respond_json(req, 200, o);
}

/* GET /metrics: Prometheus text format. */
static void metrics_handler(http_request *req, void *arg)
{
    size_t len;
    char *text = metrics_render(&len);
    http_respond(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

/* A probe answered; the last one answers the request. */
static void ready_probe_done(void *token, bool ok, const char *detail)
{
    ready_token *t = token;
    ready_probe_run *run = t->run;
    cJSON_AddStringToObject(run->checks, t->name, ok ? "ok" : (detail && *detail ? detail : "unavailable"));
    if (!ok) {
        size_t n = strlen(run->error);
        snprintf(run->error + n, sizeof run->error - n, "%s%s (%s)", run->failed ? ", " : "", t->name,
                 detail && *detail ? detail : "unavailable");
        run->failed++;
    }
    free(t);
    if (--run->pending > 0)
        return;
    cJSON *o = cJSON_CreateObject();
    if (run->failed) {
        char msg[600];
        snprintf(msg, sizeof msg, "not ready: %s unavailable", run->error);
        cJSON_AddStringToObject(o, "error", msg);
        cJSON_AddStringToObject(o, "status", "unavailable");
    } else {
        cJSON_AddStringToObject(o, "status", "ready");
    }
    cJSON_AddItemToObject(o, "checks", run->checks);
    http_respond_json(run->req, run->failed ? 503 : 200, o);
    free(run);
}

/* GET /ready: 200 only when every dependency answers, else 503 naming the ones that do not. */
static void ready_handler(http_request *req, void *arg)
{
    daemon_ctx *d = arg;
    if (d->stopping) {
        http_respond_error(req, 503, "not ready: shutting down");
        return;
    }
    ready_probe_run *run = calloc(1, sizeof *run);
    if (!run) {
        http_respond_error(req, 503, "not ready: out of memory");
        return;
    }
    run->d = d;
    run->req = req;
    run->checks = cJSON_CreateObject();
    run->pending = d->nchecks + 1; /* +1 keeps the run alive until every probe has been started */
    for (int i = 0; i < d->nchecks; i++) {
        ready_token *t = malloc(sizeof *t);
        if (!t)
            abort();
        t->run = run;
        t->name = d->checks[i].name;
        d->checks[i].fn(d->checks[i].arg, t, ready_probe_done);
    }
    ready_token *self = malloc(sizeof *self);
    if (!self)
        abort();
    self->run = run;
    self->name = "loop";
    /* The loop itself is fine if we got here; report it so the answer always names something. */
    ready_probe_done(self, true, NULL);
}

daemon_ctx *daemon_new(const daemon_info *info, int argc, char **argv, int *exit_code)
{
    *exit_code = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(info->name, info->summary);
            printf("\nEndpoints: GET /health, GET /ready, GET /metrics, and the API routes listed in docs/api.md.\n"
                   "Stops cleanly on SIGTERM or SIGINT.\n");
            return NULL;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s (mohstats) 0.1.0\n", info->name);
            return NULL;
        }
        fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", info->name, argv[i]);
        *exit_code = 2;
        return NULL;
    }
    log_init(info->name, -1);
    signal(SIGPIPE, SIG_IGN); /* a peer closing mid-write must be an error return, not a death */

    daemon_ctx *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->info = *info;
    if (uv_loop_init(&d->loop) != 0)
        abort();
    http_server_config cfg;
    http_server_config_init(&cfg);
    cfg.idle_timeout_ms = (uint64_t)config_get_int("HTTP_IDLE_TIMEOUT_MS", 60000);
    cfg.request_timeout_ms = (uint64_t)config_get_int("HTTP_REQUEST_TIMEOUT_MS", 30000);
    cfg.max_connections = (unsigned)config_get_int("HTTP_MAX_CONNECTIONS", 4096);
    cfg.server_name = info->name;
    d->http = http_server_new(&d->loop, &cfg);
    if (!d->http)
        abort();
    http_server_route(d->http, "GET", "/health", health_handler, d);
    http_server_route(d->http, "GET", "/ready", ready_handler, d);
    http_server_route(d->http, "GET", "/metrics", metrics_handler, d);
    return d;
}

uv_loop_t *daemon_loop(daemon_ctx *d)
{
    return &d->loop;
}

http_server *daemon_http(daemon_ctx *d)
{
    return d->http;
}

void daemon_add_ready_check(daemon_ctx *d, const char *name, probe_fn fn, void *arg)
{
    if (d->nchecks == MAX_CHECKS)
        abort(); /* a programming error, found at start-up */
    d->checks[d->nchecks++] = (ready_check){name, fn, arg};
}

void daemon_add_stop_hook(daemon_ctx *d, daemon_stop_fn fn, void *arg)
{
    if (d->nhooks == MAX_HOOKS)
        abort();
    d->hooks[d->nhooks++] = (stop_hook){fn, arg};
}

void daemon_add_release(daemon_ctx *d, void (*fn)(void *arg), void *arg)
{
    if (d->nreleases == MAX_HOOKS)
        abort();
    d->releases[d->nreleases++] = (release_hook){fn, arg};
}

static void run_next_stop_hook(daemon_ctx *d);

/* A stop hook finished: run the next one. */
static void stop_hook_done(void *token)
{
    run_next_stop_hook(token);
}

/* Run stop hooks one at a time, last registered first; then let the loop end. */
static void run_next_stop_hook(daemon_ctx *d)
{
    if (d->next_hook > 0) {
        stop_hook *h = &d->hooks[--d->next_hook];
        h->fn(h->arg, d, stop_hook_done);
        return;
    }
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    log_info("stopped");
}

/* The HTTP server drained: no request is in flight any more. */
static void http_drained(void *arg)
{
    daemon_ctx *d = arg;
    d->next_hook = d->nhooks;
    run_next_stop_hook(d);
}

/* SIGTERM/SIGINT: stop accepting, finish in-flight work, flush, exit. A second signal forces exit. */
static void on_signal(uv_signal_t *h, int signum)
{
    daemon_ctx *d = h->data;
    if (d->stopping) {
        log_warn("second signal %d: exiting at once", signum);
        exit(1);
    }
    d->stopping = 1;
    log_info("signal %d: finishing in-flight requests, then stopping", signum);
    http_server_shutdown(d->http, (uint64_t)config_get_int("SHUTDOWN_GRACE_MS", 10000), http_drained, d);
}

/* Split "host:port", "[v6]:port" or a URL into host and port. */
static int parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    url_parts u;
    if (strstr(s, "://")) {
        if (url_parse(s, 80, &u))
            return -1;
        snprintf(host, hostlen, "%s", u.host);
        *port = u.port;
        return 0;
    }
    char buf[300];
    snprintf(buf, sizeof buf, "tcp://%s", s);
    if (url_parse(buf, 0, &u) || u.port <= 0)
        return -1;
    snprintf(host, hostlen, "%s", u.host);
    *port = u.port;
    return 0;
}

/* The daemon cannot serve: stop what started (stop hooks, in the loop, as after a signal) and return code. */
static int stop_early(daemon_ctx *d, int code)
{
    d->stopping = 1;
    d->exit_code = code;
    http_server_shutdown(d->http, 0, http_drained, d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return code;
}

int daemon_run(daemon_ctx *d)
{
    char var[64], host[256];
    int port;
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    snprintf(var, sizeof var, "%s", d->info.listen_var);
    char *suffix = strstr(var, "_URL");
    const char *listen = NULL;
    if (suffix) {
        strcpy(suffix, "_LISTEN");
        listen = config_get(var);
    }
    if (!listen || !*listen)
        listen = config_get(d->info.listen_var);
    if (!listen || parse_listen(listen, host, sizeof host, &port)) {
        log_error("cannot tell where to listen: set %s to http://host:port", d->info.listen_var);
        return stop_early(d, 2);
    }
    /* "localhost" could mean either family; the tracker's libcurl may try ::1 first, so serve both. */
    int rc;
    if (strcmp(host, "localhost") == 0) {
        rc = http_server_listen(d->http, "127.0.0.1", port);
        if (rc == 0 && http_server_listen(d->http, "::1", port) != 0)
            log_warn("could not also listen on [::1]:%d", port);
    } else {
        rc = http_server_listen(d->http, host, port);
    }
    if (rc != 0) {
        log_error("cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        return stop_early(d, 1);
    }
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    log_info("listening on %s:%d", host, port);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return d->exit_code;
}

void daemon_free(daemon_ctx *d)
{
    if (!d)
        return;
    if (d->http)
        http_server_free(d->http);
    while (d->nreleases > 0) {
        release_hook *r = &d->releases[--d->nreleases];
        r->fn(r->arg);
    }
    /* Let closing handles finish their callbacks before the loop is torn down (a client freed without having
     * been stopped closes its handles now). A few turns, never a wait. */
    for (int turn = 0; turn < 16 && uv_run(&d->loop, UV_RUN_NOWAIT) != 0; turn++)
        ;
    if (uv_loop_close(&d->loop) != 0)
        log_warn("event loop closed with handles still open");
    metrics_reset();
    free(d);
}
