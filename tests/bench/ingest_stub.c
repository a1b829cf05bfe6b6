/* A stand-in for ingestd's ingest endpoint, for checking ingest_bench and for measuring the ceiling of the
 * HTTP + parse (+ row rendering) part alone: it answers every POST /api/v1/ingest/events with 202
 * {"status":"accepted","processed":N} at once, without Redis or ClickHouse.
 *
 * usage: ingest_stub [--port N] [--render]   prints "port: N" when listening; stops on SIGINT/SIGTERM. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "batch_parse.h"
#include "bytebuf.h"
#include "event_row.h"
#include "http_server.h"
#include "random.h"

typedef struct {
    bool render;
    unsigned long long requests, events;
} stub;

/* Parse the batch (and render its rows when asked), then accept it. */
static void on_ingest(http_request *req, void *arg)
{
    stub *s = arg;
    size_t len;
    const char *body = http_request_body(req, &len);
    if (!http_request_header(req, "X-Server-Token")) {
        http_respond_error(req, 401, "Missing server token");
        return;
    }
    batch b;
    if (batch_parse(body, len, &b)) {
        http_respond_error(req, 400, b.error);
        return;
    }
    if (s->render) {
        bytebuf rows = {0};
        event_context ctx = {.server_id = "stub", .received_ms = uv_now(uv_default_loop())};
        uuid_v4(ctx.batch_id);
        for (size_t i = 0; i < b.nevents; i++) {
            event_summary sum;
            event_row_render(&b, &b.events[i], &ctx, &rows, &sum);
        }
        bytebuf_free(&rows);
    }
    char answer[64];
    int n = snprintf(answer, sizeof answer, "{\"status\":\"accepted\",\"processed\":%zu}", b.nevents);
    s->requests++;
    s->events += b.nevents;
    batch_free(&b);
    http_respond(req, 202, "application/json", answer, (size_t)n);
}

static void on_signal(uv_signal_t *h, int signum)
{
    uv_stop(h->loop);
}

int main(int argc, char **argv)
{
    stub s = {0};
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--render") == 0) {
            s.render = true;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: ingest_stub [--port N] [--render]\n");
            return 2;
        }
    }
    uv_loop_t *loop = uv_default_loop();
    http_server_config cfg;
    http_server_config_init(&cfg);
    cfg.server_name = "ingest_stub";
    http_server *srv = http_server_new(loop, &cfg);
    if (!srv || http_server_route(srv, "POST", "/api/v1/ingest/events", on_ingest, &s) ||
        http_server_listen(srv, "127.0.0.1", port)) {
        fprintf(stderr, "ingest_stub: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    printf("port: %d\n", http_server_port(srv));
    fflush(stdout);
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    fprintf(stderr, "ingest_stub: %llu requests, %llu events\n", s.requests, s.events);
    return 0;
}
