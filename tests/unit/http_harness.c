/* The harness of the HTTP server's unit tests (http_harness.h). */
#include "http_harness.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- harness: the loop runs on the test thread, the client on its own thread ---- */

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool wait_flag(atomic_int *flag, int want)
{
    for (int i = 0; i < 400; i++) {
        if (atomic_load(flag) >= want)
            return true;
        sleep_ms(5);
    }
    return false;
}

/* ---- handlers ---- */

void h_tagged(http_request *req, void *arg)
{
    static const char *const names[] = {"guid", "x", "name", "stat", "rest"};
    char out[1024];
    size_t n = (size_t)snprintf(out, sizeof out, "%s", (const char *)arg);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = http_request_param(req, names[i]);
        if (v)
            n += (size_t)snprintf(out + n, sizeof out - n, " %s=%s", names[i], v);
    }
    http_respond(req, 200, "text/plain", out, n);
}

/* Echo selected query parameters. */
static void h_query(http_request *req, void *arg)
{
    static const char *const names[] = {"limit", "q", "flag", "bad", "missing"};
    char out[1024];
    size_t n =
        (size_t)snprintf(out, sizeof out, "qs=%s path=%s", http_request_query_string(req), http_request_path(req));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = http_request_query(req, names[i]);
        n += (size_t)snprintf(out + n, sizeof out - n, ";%s=%s", names[i], v ? v : "NULL");
    }
    http_respond(req, 200, "text/plain", out, n);
}

/* Echo the body, its length in a header. */
static void h_echo(http_request *req, void *arg)
{
    size_t len = 99;
    const char *body = http_request_body(req, &len);
    char slen[32];
    snprintf(slen, sizeof slen, "%zu", len);
    http_response_header(req, "X-Body-Len", slen);
    http_respond(req, 200, "application/octet-stream", body, len);
}

/* The peer's address. */
static void h_peer(http_request *req, void *arg)
{
    const char *p = http_request_peer(req);
    http_respond(req, 200, "text/plain", p, strlen(p));
}

/* The X-Test header, found case-insensitively. */
static void h_hdr(http_request *req, void *arg)
{
    const char *v = http_request_header(req, "x-test");
    http_respond(req, 200, "text/plain", v ? v : "NULL", strlen(v ? v : "NULL"));
}

/* JSON answer through http_respond_json. */
static void h_json(http_request *req, void *arg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", http_request_method(req));
    cJSON_AddNumberToObject(o, "n", 42);
    http_respond_json(req, 201, o);
}

/* The delayed answer of /slow/{ms}. */
static void on_slow_timer(uv_timer_t *t)
{
    slow_answer *sa = t->data;
    if (http_request_aborted(sa->req))
        atomic_store(&sa->h->saw_aborted, 1);
    char out[64];
    int n = snprintf(out, sizeof out, "slow %u", sa->ms);
    http_respond(sa->req, 200, "text/plain", out, (size_t)n);
    atomic_fetch_add(&sa->h->async_answered, 1);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* Answer after {ms} milliseconds, from a timer: an asynchronous handler. */
static void h_slow(http_request *req, void *arg)
{
    harness *h = arg;
    slow_answer *sa = calloc(1, sizeof *sa);
    sa->req = req;
    sa->h = h;
    sa->ms = (unsigned)atoi(http_request_param(req, "ms"));
    http_request_set_data(req, sa);
    atomic_store(&h->inflight_seen, http_server_inflight(h->srv));
    uv_timer_init(&h->loop, &sa->timer);
    sa->timer.data = sa;
    uv_timer_start(&sa->timer, on_slow_timer, sa->ms, 0);
    atomic_fetch_add(&h->handler_started, 1);
}

/* http_request_on_abort of /abortable: stop the timer and answer at once (the answer is dropped). */
static void on_slow_abort(http_request *req, void *arg)
{
    slow_answer *sa = arg;
    atomic_fetch_add(&sa->h->abort_calls, 1);
    if (http_request_aborted(req))
        atomic_store(&sa->h->abort_flag_set, 1);
    uv_timer_stop(&sa->timer);
    uv_close((uv_handle_t *)&sa->timer, (uv_close_cb)free);
    http_respond(req, 503, "text/plain", "gone", 4);
}

/* /slow/{ms} that stops when its client leaves (http_request_on_abort); ?clear=1 registers and clears the callback. */
static void h_abortable(http_request *req, void *arg)
{
    h_slow(req, arg);
    slow_answer *sa = http_request_data(req);
    http_request_on_abort(req, on_slow_abort, sa);
    if (http_request_query(req, "clear"))
        http_request_on_abort(req, NULL, NULL);
}

/* Register the routes every scenario shares. */
/* Admission for /guarded: a request with "X-Deny: yes" is refused 429 with a header of its own, before its body. */
static int admit_guarded(http_request *req, void *arg, char *message, size_t size)
{
    (void)arg;
    const char *deny = http_request_header(req, "X-Deny");
    if (!deny || strcmp(deny, "yes") != 0)
        return 0;
    http_response_header(req, "Retry-After", "7");
    snprintf(message, size, "Denied on the headers");
    return 429;
}

static void add_routes(harness *h)
{
    http_server *s = h->srv;
    assert_int_equal(http_server_route(s, "GET", "/", h_tagged, "root"), 0);
    assert_int_equal(http_server_route(s, "GET", "/hello", h_tagged, "hello"), 0);
    assert_int_equal(http_server_route(s, "GET", "/stats/player/{guid}/{x}", h_tagged, "guid-x"), 0);
    assert_int_equal(http_server_route(s, "GET", "/stats/player/name/{name}", h_tagged, "name"), 0);
    assert_int_equal(http_server_route(s, "GET", "/stats/leaderboard/{stat}", h_tagged, "stat"), 0);
    assert_int_equal(http_server_route(s, "GET", "/stats/leaderboard/global", h_tagged, "global"), 0);
    assert_int_equal(http_server_route(s, "GET", "/a/{x}/c", h_tagged, "a-x-c"), 0);
    assert_int_equal(http_server_route(s, "GET", "/a/b/d", h_tagged, "a-b-d"), 0);
    assert_int_equal(http_server_route(s, "GET", "/files/{rest*}", h_tagged, "files"), 0);
    assert_int_equal(http_server_route(s, "POST", "/only-post", h_tagged, "post"), 0);
    assert_int_equal(http_server_route(s, "PUT", "/only-post", h_tagged, "put"), 0);
    assert_int_equal(http_server_route(s, "GET", "/query", h_query, NULL), 0);
    assert_int_equal(http_server_route(s, "POST", "/echo", h_echo, NULL), 0);
    assert_int_equal(http_server_route_admit(s, "POST", "/guarded", h_echo, admit_guarded, NULL), 0);
    assert_int_equal(http_server_route(s, "GET", "/peer", h_peer, NULL), 0);
    assert_int_equal(http_server_route(s, "GET", "/hdr", h_hdr, NULL), 0);
    assert_int_equal(http_server_route(s, "*", "/json", h_json, NULL), 0);
    assert_int_equal(http_server_route(s, "GET", "/slow/{ms}", h_slow, h), 0);
    assert_int_equal(http_server_route(s, "GET", "/abortable/{ms}", h_abortable, h), 0);
}

/* The server finished its shutdown. */
static void on_server_done(void *arg)
{
    harness *h = arg;
    atomic_fetch_add(&h->done_called, 1);
    if (h->free_in_done)
        http_server_free(h->srv); /* as a daemon would; aborted requests may still be with handlers */
}

/* The client thread asked for a shutdown, or finished. */
static void on_async(uv_async_t *a)
{
    harness *h = a->data;
    bool finished = atomic_load(&h->finished);
    if ((finished || atomic_load(&h->shutdown_req)) && !h->shutdown_started) {
        h->shutdown_started = true;
        http_server_shutdown(h->srv, h->grace_ms, on_server_done, h);
    }
    if (finished && !h->async_closed) {
        h->async_closed = true;
        uv_close((uv_handle_t *)a, NULL);
    }
}

/* Client thread body: the scenario, then tell the loop to stop. */
static void *client_main(void *arg)
{
    harness *h = arg;
    h->client(h);
    atomic_store(&h->finished, 1);
    uv_async_send(&h->async);
    return NULL;
}

void harness_run(const http_server_config *cfg, client_fn client, uint64_t grace_ms, bool free_in_done, harness *h)
{
    memset(h, 0, sizeof *h);
    h->grace_ms = grace_ms;
    h->free_in_done = free_in_done;
    assert_int_equal(uv_loop_init(&h->loop), 0);
    h->srv = http_server_new(&h->loop, cfg);
    assert_non_null(h->srv);
    add_routes(h);
    assert_int_equal(http_server_listen(h->srv, "127.0.0.1", 0), 0);
    h->port = http_server_port(h->srv);
    assert_true(h->port > 0);
    assert_int_equal(uv_async_init(&h->loop, &h->async, on_async), 0);
    h->async.data = h;
    h->client = client;
    assert_int_equal(pthread_create(&h->thread, NULL, client_main, h), 0);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    pthread_join(h->thread, NULL);
    assert_int_equal(atomic_load(&h->done_called), 1);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    if (!free_in_done) {
        assert_int_equal(http_server_inflight(h->srv), 0);
        http_server_free(h->srv);
    }
    if (h->failure[0])
        fail_msg("%s", h->failure);
}

/* ---- raw client ---- */

cli *cli_open(harness *h)
{
    cli *c = calloc(1, sizeof *c);
    c->cap = 1 << 20;
    c->buf = malloc(c->cap);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct timeval tv = {3, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(h, connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    return c;
}

void cli_close(cli *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

void cli_send(cli *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

void cli_sends(cli *c, const char *s)
{
    cli_send(c, s, strlen(s));
}

/* Read more bytes into the buffer: >0 read, 0 EOF, <0 error or timeout. */
static ssize_t cli_fill(cli *c)
{
    if (c->len == c->cap)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

const char *resp_header(const resp *r, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = strcspn(v, "\r");
            snprintf(out, outlen, "%.*s", (int)vlen, v);
            return out;
        }
    }
    return NULL;
}

int cli_response(cli *c, resp *r, bool head)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (cli_fill(c) <= 0)
            return -1;
    size_t hlen = (size_t)(end - c->buf) + 4;
    snprintf(r->headers, sizeof r->headers, "%.*s", (int)hlen, c->buf);
    r->status = atoi(r->headers + 9);
    char cl[32];
    size_t blen = 0;
    if (!head && resp_header(r, "Content-Length", cl, sizeof cl))
        blen = (size_t)strtoull(cl, NULL, 10);
    while (c->len < hlen + blen)
        if (cli_fill(c) <= 0)
            return -1;
    r->body = malloc(blen + 1);
    memcpy(r->body, c->buf + hlen, blen);
    r->body[blen] = '\0';
    r->body_len = blen;
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
    return 0;
}

bool cli_eof(cli *c)
{
    if (c->len > 0)
        return false;
    ssize_t n = cli_fill(c);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

void expect(harness *h, cli *c, const char *request, int status, const char *body)
{
    cli_sends(c, request);
    resp r;
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == status);
    if (body)
        CHECK_STR(h, r.body, body);
    resp_free(&r);
}

void expect_get(harness *h, cli *c, const char *path, int status, const char *body)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    expect(h, c, req, status, body);
}
