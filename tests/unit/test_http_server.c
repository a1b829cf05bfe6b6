/* Unit tests for common/http_server.c: a real server on 127.0.0.1 driven by a raw-socket client thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_server.h"

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

typedef struct harness harness;
typedef void (*client_fn)(harness *h);

struct harness {
    uv_loop_t loop;
    http_server *srv;
    int port;
    uv_async_t async;
    bool async_closed, shutdown_started;
    pthread_t thread;
    client_fn client;
    uint64_t grace_ms;
    atomic_int shutdown_req; /* the client asks for a shutdown in the middle of its scenario */
    atomic_int finished;     /* the client is done: shut down and stop */
    atomic_int done_called;
    atomic_int handler_started; /* /slow handlers entered */
    atomic_int async_answered;  /* /slow answers given */
    atomic_int saw_aborted;     /* a /slow answer found its request aborted */
    bool free_in_done;          /* call http_server_free from the shutdown's done callback */
    atomic_uint inflight_seen;  /* http_server_inflight() inside the last /slow handler */
    char failure[1024];         /* first failed CHECK on the client thread */
};

/* cmocka's asserts longjmp: only the test thread may use them. The client records failures. */
#define CHECK(h, cond)                                                                                                 \
    do {                                                                                                               \
        if (!(cond) && !(h)->failure[0])                                                                               \
            snprintf((h)->failure, sizeof(h)->failure, "%s:%d: CHECK(%s)", __FILE__, __LINE__, #cond);                 \
    } while (0)

#define CHECK_STR(h, got, want)                                                                                        \
    do {                                                                                                               \
        const char *g_ = (got), *w_ = (want);                                                                          \
        if ((!g_ || strcmp(g_, w_) != 0) && !(h)->failure[0])                                                          \
            snprintf((h)->failure, sizeof(h)->failure, "%s:%d: got \"%s\", want \"%s\"", __FILE__, __LINE__,           \
                     g_ ? g_ : "(null)", w_);                                                                          \
    } while (0)

/* Milliseconds on the monotonic clock. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleep for ms milliseconds. */
static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait until *flag reaches want, at most 2 s; true if it did. */
static bool wait_flag(atomic_int *flag, int want)
{
    for (int i = 0; i < 400; i++) {
        if (atomic_load(flag) >= want)
            return true;
        sleep_ms(5);
    }
    return false;
}

/* ---- handlers ---- */

/* "<tag> name=value ..." for every path parameter the test routes use. */
static void h_tagged(http_request *req, void *arg)
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

typedef struct {
    uv_timer_t timer;
    http_request *req;
    harness *h;
    unsigned ms;
} slow_answer;

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

/* Run a scenario against a fresh server with cfg; asserts everything was closed and freed. */
static void harness_run(const http_server_config *cfg, client_fn client, uint64_t grace_ms, bool free_in_done,
                        harness *h)
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

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
} cli;

typedef struct {
    int status;
    char headers[4096];
    char *body; /* NUL-terminated */
    size_t body_len;
} resp;

/* Connect to the harness's server; 3 s receive timeout so a bug fails instead of hanging. */
static cli *cli_open(harness *h)
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

/* Close the socket and free the client. */
static void cli_close(cli *c)
{
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Send all of data. */
static void cli_send(cli *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* Send a C string. */
static void cli_sends(cli *c, const char *s)
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

/* Free a response's body. */
static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Value of header name in r, copied into out; NULL if absent. */
static const char *resp_header(const resp *r, const char *name, char *out, size_t outlen)
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

/* Read one response; no body for HEAD. 0, or -1 when the connection ended or timed out first. */
static int cli_response(cli *c, resp *r, bool head)
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

/* True if the server closed the connection (EOF or reset) with nothing more to read. */
static bool cli_eof(cli *c)
{
    if (c->len > 0)
        return false;
    ssize_t n = cli_fill(c);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* Send request, read the answer and check status and body (body NULL: not checked). */
static void expect(harness *h, cli *c, const char *request, int status, const char *body)
{
    cli_sends(c, request);
    resp r;
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == status);
    if (body)
        CHECK_STR(h, r.body, body);
    resp_free(&r);
}

/* GET path on c (keep-alive) and check the answer. */
static void expect_get(harness *h, cli *c, const char *path, int status, const char *body)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    expect(h, c, req, status, body);
}

/* ---- scenarios ---- */

static harness H;

/* Routing, parameters, decoding, query strings, headers, HEAD, 404/405 on one keep-alive connection. */
static void client_routing(harness *h)
{
    cli *c = cli_open(h);
    resp r;
    char v[256];

    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 200);
    CHECK_STR(h, r.body, "hello");
    CHECK_STR(h, resp_header(&r, "Content-Type", v, sizeof v), "text/plain");
    CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "keep-alive");
    CHECK(h, resp_header(&r, "Date", v, sizeof v) && strstr(v, "GMT"));
    CHECK(h, strncmp(r.headers, "HTTP/1.1 200 OK\r\n", 17) == 0);
    resp_free(&r);

    expect_get(h, c, "/", 200, "root");
    expect_get(h, c, "/stats/player/abc123/kills", 200, "guid-x guid=abc123 x=kills");
    expect_get(h, c, "/stats/player/name/Bob", 200, "name name=Bob");
    expect_get(h, c, "/stats/leaderboard/global", 200, "global");
    expect_get(h, c, "/stats/leaderboard/global/", 200, "global");
    expect_get(h, c, "/stats/leaderboard/kills", 200, "stat stat=kills");
    expect_get(h, c, "/stats/leaderboard/a%2Fb", 200, "stat stat=a/b");
    expect_get(h, c, "/a/b/c", 200, "a-x-c x=b"); /* literal "b" fails deeper: the parameter gets it */
    expect_get(h, c, "/a/b/d", 200, "a-b-d");
    expect_get(h, c, "/files/x/y%20z", 200, "files rest=x/y z");
    expect_get(h, c, "/files/x/", 200, "files rest=x");
    expect_get(h, c, "/files", 404, "{\"error\":\"Not found\"}");
    expect_get(h, c, "/stats/player/name/%5BFR%5D%zz", 200, "name name=[FR]%zz");
    /* The game sends player names unencoded, bytes >= 0x80 included. */
    expect_get(h, c, "/stats/player/name/[FR]J\xE9r\xF4me", 200, "name name=[FR]J\xE9r\xF4me");
    expect_get(h, c, "/query?limit=10&q=hello+world%21&flag&limit=20&bad=%zz", 200,
               "qs=limit=10&q=hello+world%21&flag&limit=20&bad=%zz path=/query;limit=20;q=hello world!;flag=;"
               "bad=%zz;missing=NULL");
    expect_get(h, c, "/query", 200, "qs= path=/query;limit=NULL;q=NULL;flag=NULL;bad=NULL;missing=NULL");
    expect_get(h, c, "/peer", 200, "127.0.0.1");
    expect(h, c, "GET /hdr HTTP/1.1\r\nHost: t\r\nx-TEST:  v1 \r\n\r\n", 200, "v1");
    expect(h, c, "GET /hdr HTTP/1.1\r\nHost: t\r\n\r\n", 200, "NULL");
    expect_get(h, c, "/nope", 404, "{\"error\":\"Not found\"}");
    expect_get(h, c, "/stats/player/x", 404, "{\"error\":\"Not found\"}");
    expect(h, c, "DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n", 201, "{\"method\":\"DELETE\",\"n\":42}");
    expect(h, c, "GET http://example.com/hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", 200, "hello");

    cli_sends(c, "GET /only-post HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 405);
    CHECK_STR(h, r.body, "{\"error\":\"Method not allowed\"}");
    CHECK_STR(h, resp_header(&r, "Allow", v, sizeof v), "POST, PUT");
    resp_free(&r);

    /* HEAD: GET's headers, no body; the next answer on the connection must parse cleanly. */
    cli_sends(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, cli_response(c, &r, true) == 0);
    CHECK(h, r.status == 200);
    CHECK_STR(h, resp_header(&r, "Content-Length", v, sizeof v), "5");
    resp_free(&r);
    expect_get(h, c, "/hello", 200, "hello");

    /* Connection: close is honoured once the answer is written. */
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "close");
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);
}

static void test_routing(void **state)
{
    harness_run(NULL, client_routing, 2000, false, &H);
}

/* HTTP/1.0: close by default, keep-alive on request; one-request-per-connection clients. */
static void client_http10(harness *h)
{
    char v[64];
    resp r;
    cli *c = cli_open(h);
    cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "hello");
    CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "close");
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    c = cli_open(h);
    for (int i = 0; i < 2; i++) {
        cli_sends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(h, cli_response(c, &r, false) == 0);
        CHECK_STR(h, r.body, "hello");
        CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "keep-alive");
        resp_free(&r);
    }
    cli_close(c);

    /* Like libcurl easy handles: a fresh connection per request, closed by the client. */
    for (int i = 0; i < 20; i++) {
        c = cli_open(h);
        expect_get(h, c, "/hello", 200, "hello");
        cli_close(c);
    }
}

static void test_http10_and_keepalive(void **state)
{
    harness_run(NULL, client_http10, 2000, false, &H);
}

/* Pipelining: answers in order even when the first one is asynchronous. */
static void client_pipeline(harness *h)
{
    cli *c = cli_open(h);
    static const char reqs[] = "GET /slow/60 HTTP/1.1\r\nHost: t\r\n\r\n"
                               "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab\0cd"
                               "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                               "GET /slow/10 HTTP/1.1\r\nHost: t\r\n\r\n"
                               "GET /stats/leaderboard/global HTTP/1.1\r\nHost: t\r\n\r\n";
    cli_send(c, reqs, sizeof reqs - 1); /* one write: the body holds a NUL */
    resp r;
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "slow 60");
    resp_free(&r);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 200 && r.body_len == 5 && memcmp(r.body, "ab\0cd", 5) == 0);
    resp_free(&r);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "hello");
    resp_free(&r);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "slow 10");
    resp_free(&r);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "global");
    resp_free(&r);
    CHECK(h, atomic_load(&h->inflight_seen) == 1);

    /* Back-pressure: far more than the input high-water mark queued behind a slow request. */
    size_t body_len = 4000, n = 100;
    size_t cap = n * (body_len + 128) + 256;
    char *big = malloc(cap), *p = big;
    p += sprintf(p, "GET /slow/50 HTTP/1.1\r\nHost: t\r\n\r\n");
    for (size_t i = 0; i < n; i++) {
        p += sprintf(p, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", body_len);
        memset(p, 'a' + (int)(i % 26), body_len);
        p += body_len;
    }
    cli_send(c, big, (size_t)(p - big));
    free(big);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "slow 50");
    resp_free(&r);
    for (size_t i = 0; i < n; i++) {
        CHECK(h, cli_response(c, &r, false) == 0);
        CHECK(h, r.status == 200 && r.body_len == body_len && r.body[0] == 'a' + (int)(i % 26) &&
                     r.body[body_len - 1] == 'a' + (int)(i % 26));
        resp_free(&r);
    }
    cli_close(c);
}

static void test_pipelining(void **state)
{
    harness_run(NULL, client_pipeline, 2000, false, &H);
}

/* Expect: 100-continue, and bodies over the limit (by Content-Length, with or without Expect, chunked). */
static void client_bodies(harness *h)
{
    resp r;
    char v[64];
    cli *c = cli_open(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 100);
    resp_free(&r);
    cli_sends(c, "hello world");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 200);
    CHECK_STR(h, r.body, "hello world");
    CHECK_STR(h, resp_header(&r, "X-Body-Len", v, sizeof v), "11");
    resp_free(&r);

    /* Chunked within the limit, then an empty body. */
    expect(h, c,
           "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
           200, "hello world");
    expect(h, c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 200, "");
    cli_close(c);

    /* Over the limit with Expect: 413 at once, the body is never sent. */
    c = cli_open(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 413);
    CHECK_STR(h, r.body, "{\"error\":\"Request body too large\"}");
    CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "close");
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    /* Over the limit without Expect, part of the body already sent: 413 still arrives intact. */
    c = cli_open(h);
    char req[4096];
    int n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    memset(req + n, 'x', sizeof req - (size_t)n);
    cli_send(c, req, sizeof req);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 413);
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    /* Chunked over the limit: refused as it streams. */
    c = cli_open(h);
    cli_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[700];
    n = snprintf(chunk, sizeof chunk, "258\r\n"); /* 600 bytes */
    memset(chunk + n, 'y', 600);
    memcpy(chunk + n + 600, "\r\n", 2);
    for (int i = 0; i < 2; i++)
        cli_send(c, chunk, (size_t)n + 602);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 413);
    CHECK_STR(h, r.body, "{\"error\":\"Request body too large\"}");
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);
}

/* A route's admission check: refused on the headers (the body is never asked for: no 100 Continue), with its
 * status, message and header, and the connection closed; admitted, the request goes on as usual. */
static void client_admission(harness *h)
{
    resp r;
    char v[64];
    cli *c = cli_open(h);
    cli_sends(c,
              "POST /guarded HTTP/1.1\r\nHost: t\r\nX-Deny: yes\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 429);
    CHECK_STR(h, r.body, "{\"error\":\"Denied on the headers\"}");
    CHECK_STR(h, resp_header(&r, "Retry-After", v, sizeof v), "7");
    CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "close");
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    c = cli_open(h);
    expect(h, c, "POST /guarded HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", 200, "hello world");
    /* The next request on the connection gets none of the refusal's headers. */
    expect(h, c, "POST /guarded?x=1 HTTP/1.1\r\nHost: t\r\nX-Deny: no\r\nContent-Length: 2\r\n\r\nok", 200, "ok");
    cli_close(c);
}

static void test_admission(void **state)
{
    harness_run(NULL, client_admission, 2000, false, &H);
}

static void test_bodies(void **state)
{
    http_server_config cfg;
    http_server_config_init(&cfg);
    cfg.max_body_bytes = 1024;
    harness_run(&cfg, client_bodies, 2000, false, &H);
}

/* A body of ingest size (~15 KB) and a bigger one, over several reads. */
static void client_big_body(harness *h)
{
    cli *c = cli_open(h);
    for (size_t len = 15000; len <= 300000; len *= 20) {
        char *req = malloc(len + 128);
        int n = sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
        for (size_t i = 0; i < len; i++)
            req[(size_t)n + i] = (char)('0' + i % 10);
        cli_send(c, req, (size_t)n + len);
        resp r;
        CHECK(h, cli_response(c, &r, false) == 0);
        CHECK(h, r.status == 200 && r.body_len == len && memcmp(r.body, req + n, len) == 0);
        resp_free(&r);
        free(req);
    }
    cli_close(c);
}

static void test_big_body(void **state)
{
    harness_run(NULL, client_big_body, 2000, false, &H);
}

/* 431 for oversize or too many headers, 400 for garbage. */
static void client_bad_requests(harness *h)
{
    resp r;
    cli *c = cli_open(h);
    char req[4096];
    int n = snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'b', 2000);
    snprintf(req + n + 2000, sizeof req - (size_t)n - 2000, "\r\n\r\n");
    cli_sends(c, req);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 431);
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    c = cli_open(h);
    char *p = req + sprintf(req, "GET /hello HTTP/1.1\r\n");
    for (int i = 0; i < 70; i++)
        p += sprintf(p, "X-%d: 1\r\n", i);
    sprintf(p, "\r\n");
    cli_sends(c, req);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 431);
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    c = cli_open(h);
    cli_sends(c, "HELLO WORLD\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 400);
    CHECK(h, strncmp(r.body, "{\"error\":\"Malformed HTTP request: ", 34) == 0);
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    /* A bad request after a good one on the same connection: the good one is answered first. */
    c = cli_open(h);
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nBad Header\r\n\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK_STR(h, r.body, "hello");
    resp_free(&r);
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 400);
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);
}

static void test_bad_requests(void **state)
{
    http_server_config cfg;
    http_server_config_init(&cfg);
    cfg.max_header_bytes = 1024;
    harness_run(&cfg, client_bad_requests, 2000, false, &H);
}

/* Slow client: 408 after request_timeout; idle keep-alive connection: closed after idle_timeout. */
static void client_timeouts(harness *h)
{
    resp r;
    cli *c = cli_open(h);
    uint64_t t0 = now_ms();
    cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    CHECK(h, cli_response(c, &r, false) == 0);
    uint64_t dt = now_ms() - t0;
    CHECK(h, r.status == 408);
    CHECK(h, dt >= 150 && dt < 1500);
    resp_free(&r);
    CHECK(h, cli_eof(c));
    cli_close(c);

    c = cli_open(h);
    expect_get(h, c, "/hello", 200, "hello");
    t0 = now_ms();
    CHECK(h, cli_eof(c));
    dt = now_ms() - t0;
    CHECK(h, dt >= 250 && dt < 1500);
    cli_close(c);

    /* A slow but steady client is not idle: each piece within the idle timeout, whole request late. */
    c = cli_open(h);
    t0 = now_ms();
    const char *parts[] = {"GET /hel", "lo HTTP/1.1\r\n", "Host: t\r\n", "\r\n"};
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            sleep_ms(80); /* last piece at 240 ms: past the 200 ms request timeout */
        cli_sends(c, parts[i]);
    }
    CHECK(h, cli_response(c, &r, false) == 0);
    CHECK(h, r.status == 408);
    resp_free(&r);
    cli_close(c);
}

static void test_timeouts(void **state)
{
    http_server_config cfg;
    http_server_config_init(&cfg);
    cfg.request_timeout_ms = 200;
    cfg.idle_timeout_ms = 300;
    harness_run(&cfg, client_timeouts, 2000, false, &H);
}

/* The client leaves while an asynchronous handler holds its request. */
static void client_disconnect(harness *h)
{
    cli *c = cli_open(h);
    cli_sends(c, "GET /slow/100 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 1));
    cli_close(c);
    CHECK(h, wait_flag(&h->async_answered, 1));
    CHECK(h, atomic_load(&h->saw_aborted) == 1);

    /* The server is still fine. */
    c = cli_open(h);
    expect_get(h, c, "/hello", 200, "hello");
    cli_close(c);
}

static void test_disconnect_while_pending(void **state)
{
    harness_run(NULL, client_disconnect, 2000, false, &H);
}

/* Graceful shutdown: the idle connection goes at once, the in-flight request is answered first. */
static void client_shutdown(harness *h)
{
    resp r;
    char v[64];
    cli *idle = cli_open(h);
    expect_get(h, idle, "/hello", 200, "hello");
    cli *busy = cli_open(h);
    cli_sends(busy, "GET /slow/250 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 1));
    atomic_store(&h->shutdown_req, 1);
    uv_async_send(&h->async);
    CHECK(h, cli_eof(idle));
    CHECK(h, atomic_load(&h->async_answered) == 0); /* closed before the busy one was answered */
    CHECK(h, cli_response(busy, &r, false) == 0);
    CHECK_STR(h, r.body, "slow 250");
    CHECK_STR(h, resp_header(&r, "Connection", v, sizeof v), "close");
    resp_free(&r);
    CHECK(h, cli_eof(busy));
    CHECK(h, atomic_load(&h->saw_aborted) == 0);
    cli_close(idle);
    cli_close(busy);
}

static void test_graceful_shutdown(void **state)
{
    harness_run(NULL, client_shutdown, 2000, false, &H);
}

/* Shutdown whose grace period ends before the handler answers: the request is aborted, then freed. */
static void client_shutdown_forced(harness *h)
{
    cli *busy = cli_open(h);
    cli_sends(busy, "GET /slow/300 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 1));
    atomic_store(&h->shutdown_req, 1);
    uv_async_send(&h->async);
    CHECK(h, cli_eof(busy));
    CHECK(h, wait_flag(&h->async_answered, 1));
    CHECK(h, atomic_load(&h->saw_aborted) == 1);
    cli_close(busy);
}

static void test_shutdown_grace_expires(void **state)
{
    harness_run(NULL, client_shutdown_forced, /* grace_ms= */ 50, /* free_in_done= */ true, &H);
}

/* max_connections: the extra connection is closed at once, the others keep working. */
static void client_max_conns(harness *h)
{
    cli *a = cli_open(h);
    expect_get(h, a, "/hello", 200, "hello");
    cli *b = cli_open(h);
    CHECK(h, cli_eof(b));
    cli_close(b);
    expect_get(h, a, "/hello", 200, "hello");
    cli_close(a);
}

static void test_max_connections(void **state)
{
    http_server_config cfg;
    http_server_config_init(&cfg);
    cfg.max_connections = 1;
    harness_run(&cfg, client_max_conns, 2000, false, &H);
}

/* ---- no network ---- */

/* Decode s strictly into a fresh buffer; returns the length or -1, the result in out. */
static long decode(const char *s, bool plus, char *out)
{
    size_t len = strlen(s);
    memcpy(out, s, len + 1);
    return http_percent_decode(out, len, plus);
}

/* Strict decoding: valid escapes, '+', embedded NULs; malformed escapes refused untouched. */
static void test_percent_decode(void **state)
{
    char buf[64];
    assert_int_equal(decode("a%20b", false, buf), 3);
    assert_string_equal(buf, "a b");
    assert_int_equal(decode("a+b", true, buf), 3);
    assert_string_equal(buf, "a b");
    assert_int_equal(decode("a+b", false, buf), 3);
    assert_string_equal(buf, "a+b");
    assert_int_equal(decode("%41%62%2f", false, buf), 3);
    assert_string_equal(buf, "Ab/");
    assert_int_equal(decode("%E9t%C3%A9", false, buf), 4);
    assert_memory_equal(buf, "\xE9t\xC3\xA9", 4);
    assert_int_equal(decode("x%00y", false, buf), 3);
    assert_memory_equal(buf, "x\0y", 3);
    assert_int_equal(decode("", false, buf), 0);
    assert_int_equal(decode("plain", false, buf), 5);
    assert_string_equal(buf, "plain");
    assert_int_equal(decode("%zz", false, buf), -1);
    assert_string_equal(buf, "%zz"); /* left untouched */
    assert_int_equal(decode("abc%4", false, buf), -1);
    assert_int_equal(decode("abc%", false, buf), -1);
    assert_int_equal(decode("%%41", false, buf), -1);
}

/* Reason phrases. */
static void test_status_text(void **state)
{
    assert_string_equal(http_status_text(200), "OK");
    assert_string_equal(http_status_text(404), "Not Found");
    assert_string_equal(http_status_text(405), "Method Not Allowed");
    assert_string_equal(http_status_text(413), "Payload Too Large");
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(503), "Service Unavailable");
    assert_non_null(http_status_text(799));
}

/* Malformed route patterns and listen addresses are refused. */
static void test_bad_patterns(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    http_server *s = http_server_new(&loop, NULL);
    assert_int_equal(http_server_route(s, "GET", "/a/{x", h_tagged, NULL), -EINVAL);
    assert_int_equal(http_server_route(s, "GET", "/a/{}", h_tagged, NULL), -EINVAL);
    assert_int_equal(http_server_route(s, "GET", "/a/{r*}/b", h_tagged, NULL), -EINVAL);
    assert_int_equal(http_server_route(s, "GET", "no-slash", h_tagged, NULL), -EINVAL);
    assert_int_equal(http_server_route(s, "GET", "/a/{r*}", h_tagged, NULL), 0);
    assert_int_equal(http_server_listen(s, "not-an-address", 0), UV_EINVAL);
    http_server_free(s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Listening on IPv4 and IPv6 literals together, then a shutdown with nothing connected. */
static void on_done_flag(void *arg)
{
    *(int *)arg += 1;
}

static void test_listen_v4_v6(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    http_server *s = http_server_new(&loop, NULL);
    assert_int_equal(http_server_listen(s, "127.0.0.1", 0), 0);
    int rc = http_server_listen(s, "::1", 0);
    assert_true(rc == 0 || rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT); /* no IPv6 in some sandboxes */
    assert_true(http_server_port(s) > 0);
    int done = 0;
    http_server_shutdown(s, 1000, on_done_flag, &done);
    assert_int_equal(done, 0); /* never called from inside http_server_shutdown */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    http_server_free(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_listen_v4_v6),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_http10_and_keepalive),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_admission),
        cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_disconnect_while_pending),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_shutdown_grace_expires),
        cmocka_unit_test(test_max_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
