/* Unit tests for common/http_server.c: requests to a real server on 127.0.0.1 (http_harness.h): routing, HTTP/1.0
 * and keep-alive, pipelining, bodies, admission, bad requests; and the parts that need no network (decoding, status
 * texts, route patterns). */
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

#include "http_harness.h"

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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_http10_and_keepalive),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_admission),
        cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
