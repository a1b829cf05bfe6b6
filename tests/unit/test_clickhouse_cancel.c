/* Unit tests for ch_query_tracked and ch_cancel (common/clickhouse.h), against a real HTTP server of ours on
 * 127.0.0.1 standing in for ClickHouse's HTTP interface: the query_id reaches the server as a URL parameter, a bad
 * one is refused before anything is sent, and a cancelled request closes its connection (the server's handler is
 * told, http_request_on_abort) without its callback ever being called. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clickhouse.h"
#include "http_server.h"

typedef struct {
    uv_loop_t loop;
    uv_timer_t guard;
    bool timed_out;
    http_server *srv;
    ch_client *ch;
    http_request *held; /* a request the server holds without answering */
    char query_id[80], database[32], sql[64];
    int holds;    /* requests held */
    int aborts;   /* the held request's client left */
    int results;  /* ch callbacks */
    int last_err; /* ... and the last one's outcome */
    char body[64];
    int shutdown_done;
} fixture;

/* The server was told that the held request's client left: release the request. */
static void on_client_gone(http_request *req, void *arg)
{
    fixture *f = arg;
    f->aborts++;
    f->held = NULL;
    http_respond(req, 200, "text/plain", "", 0);
}

/* The stand-in for ClickHouse: answers "1\n" to SELECT 1, holds any other query until its client leaves. */
static void h_clickhouse(http_request *req, void *arg)
{
    fixture *f = arg;
    const char *id = http_request_query(req, "query_id"), *db = http_request_query(req, "database");
    snprintf(f->query_id, sizeof f->query_id, "%s", id ? id : "(none)");
    snprintf(f->database, sizeof f->database, "%s", db ? db : "(none)");
    size_t len;
    const char *body = http_request_body(req, &len);
    snprintf(f->sql, sizeof f->sql, "%.*s", (int)len, body);
    if (strcmp(f->sql, "SELECT 1") == 0) {
        http_respond(req, 200, "text/tab-separated-values", "1\n", 2);
        return;
    }
    f->held = req;
    f->holds++;
    http_request_on_abort(req, on_client_gone, f);
}

static void on_result(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    (void)c;
    (void)status;
    fixture *f = arg;
    f->results++;
    f->last_err = err;
    snprintf(f->body, sizeof f->body, "%.*s", (int)len, body);
}

static void on_guard(uv_timer_t *t)
{
    ((fixture *)t->data)->timed_out = true;
}

/* Run the loop until *flag becomes non-zero (true), at most 3 s. */
static bool run_until(fixture *f, const int *flag)
{
    f->timed_out = false;
    uv_timer_start(&f->guard, on_guard, 3000, 0);
    while (!*flag && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->guard);
    return *flag != 0;
}

static void on_shutdown(void *arg)
{
    ((fixture *)arg)->shutdown_done = 1;
}

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    assert_int_equal(uv_loop_init(&f.loop), 0);
    uv_timer_init(&f.loop, &f.guard);
    f.guard.data = &f;
    f.srv = http_server_new(&f.loop, NULL);
    assert_non_null(f.srv);
    assert_int_equal(http_server_route(f.srv, "POST", "/", h_clickhouse, &f), 0);
    assert_int_equal(http_server_listen(f.srv, "127.0.0.1", 0), 0);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?database=mohstats", http_server_port(f.srv));
    f.ch = ch_client_new(&f.loop, url, 0);
    assert_non_null(f.ch);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ch_client_free(f->ch);
    http_server_shutdown(f->srv, 100, on_shutdown, f);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->shutdown_done, 1);
    http_server_free(f->srv);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    return 0;
}

/* A tracked query runs like any other, with its query_id on the URL next to the database. */
static void test_tracked_query_answers(void **state)
{
    fixture *f = *state;
    ch_request *r = NULL;
    assert_int_equal(ch_query_tracked(f->ch, "SELECT 1", "q-00ff00ff00ff00ff", on_result, f, &r), 0);
    assert_non_null(r);
    assert_true(run_until(f, &f->results));
    assert_int_equal(f->last_err, 0);
    assert_string_equal(f->body, "1\n");
    assert_string_equal(f->query_id, "q-00ff00ff00ff00ff");
    assert_string_equal(f->database, "mohstats");
}

/* An id that could break out of the URL parameter or of KILL QUERY's string literal is refused, nothing sent. */
static void test_bad_query_ids_refused(void **state)
{
    fixture *f = *state;
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    const char *bad[] = {"", "q'1", "q 1", "q&x=1", "q%27", long_id};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ch_request *r = NULL;
        assert_int_equal(ch_query_tracked(f->ch, "SELECT 1", bad[i], on_result, f, &r), -EINVAL);
        assert_null(r);
    }
    assert_int_equal(ch_client_inflight(f->ch), 0);
    long_id[64] = '\0'; /* 64 bytes: the most allowed */
    ch_request *r = NULL;
    assert_int_equal(ch_query_tracked(f->ch, "SELECT 1", long_id, on_result, f, &r), 0);
    assert_true(run_until(f, &f->results));
    assert_int_equal(f->results, 1);
    assert_string_equal(f->query_id, long_id);
}

/* ch_cancel closes the transfer at once: the server learns that its client left, the callback never runs. */
static void test_cancel_closes_without_callback(void **state)
{
    fixture *f = *state;
    ch_request *r = NULL;
    assert_int_equal(ch_query_tracked(f->ch, "SELECT count() FROM big", "q-1", on_result, f, &r), 0);
    assert_true(run_until(f, &f->holds)); /* the server holds the query */
    assert_string_equal(f->query_id, "q-1");
    assert_int_equal(ch_client_inflight(f->ch), 1);
    ch_cancel(f->ch, r);
    assert_int_equal(ch_client_inflight(f->ch), 0);
    assert_true(run_until(f, &f->aborts));
    assert_int_equal(f->aborts, 1);
    assert_int_equal(f->results, 0);

    /* The client still works after a cancel. */
    assert_int_equal(ch_query_tracked(f->ch, "SELECT 1", "q-2", on_result, f, &r), 0);
    assert_true(run_until(f, &f->results));
    assert_int_equal(f->last_err, 0);
    assert_string_equal(f->query_id, "q-2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tracked_query_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_query_ids_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_closes_without_callback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
