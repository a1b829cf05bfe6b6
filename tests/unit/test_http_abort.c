/* Unit tests for http_request_on_abort (common/http_server.h): a handler holding a request learns that its client
 * went away, once, and only then; on a real server on 127.0.0.1 (http_harness.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_server.h"

#include <signal.h>
#include <stdatomic.h>

#include "http_harness.h"

static harness H;

/* The client leaves while the handler holds its request: the callback runs at once (not when the handler would
 * have answered), sees the request aborted, and may answer it itself. */
static void client_leaves(harness *h)
{
    cli *c = cli_open(h);
    cli_sends(c, "GET /abortable/2000 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 1));
    uint64_t t0 = now_ms();
    cli_close(c);
    CHECK(h, wait_flag(&h->abort_calls, 1));
    CHECK(h, now_ms() - t0 < 1000);
    CHECK(h, atomic_load(&h->abort_flag_set) == 1);
    sleep_ms(50);
    CHECK(h, atomic_load(&h->abort_calls) == 1);    /* once */
    CHECK(h, atomic_load(&h->async_answered) == 0); /* the handler's own answer never came: it was told */

    /* The server is still fine. */
    c = cli_open(h);
    expect_get(h, c, "/hello", 200, "hello");
    cli_close(c);
}

static void test_client_leaves(void **state)
{
    harness_run(NULL, client_leaves, 2000, false, &H);
}

/* A request answered before its client leaves never calls back, nor does the next one on the connection
 * answered in turn; a later request on the same connection whose client leaves does, once. */
static void client_answered_first(harness *h)
{
    cli *c = cli_open(h);
    expect_get(h, c, "/abortable/20", 200, "slow 20");
    expect_get(h, c, "/abortable/10", 200, "slow 10");
    cli_close(c);
    sleep_ms(100);
    CHECK(h, atomic_load(&h->abort_calls) == 0);

    c = cli_open(h);
    expect_get(h, c, "/abortable/10", 200, "slow 10");
    cli_sends(c, "GET /abortable/2000 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 4));
    cli_close(c);
    CHECK(h, wait_flag(&h->abort_calls, 1));
    sleep_ms(50);
    CHECK(h, atomic_load(&h->abort_calls) == 1);
}

static void test_answered_first(void **state)
{
    harness_run(NULL, client_answered_first, 2000, false, &H);
}

/* A callback cleared with NULL is not called: the handler answers later as before, into an aborted request. */
static void client_cleared(harness *h)
{
    cli *c = cli_open(h);
    cli_sends(c, "GET /abortable/150?clear=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 1));
    cli_close(c);
    CHECK(h, wait_flag(&h->async_answered, 1));
    CHECK(h, atomic_load(&h->saw_aborted) == 1);
    CHECK(h, atomic_load(&h->abort_calls) == 0);
}

static void test_cleared(void **state)
{
    harness_run(NULL, client_cleared, 2000, false, &H);
}

/* A shutdown whose grace period runs out closes the busy connection: the handler is told like for a client that
 * left, and the server (freed from the shutdown's done callback) frees everything. */
static void client_shutdown_forced(harness *h)
{
    cli *c = cli_open(h);
    cli_sends(c, "GET /abortable/2000 HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(h, wait_flag(&h->handler_started, 1));
    atomic_store(&h->shutdown_req, 1);
    uv_async_send(&h->async);
    CHECK(h, cli_eof(c));
    CHECK(h, wait_flag(&h->abort_calls, 1));
    CHECK(h, atomic_load(&h->abort_flag_set) == 1);
    cli_close(c);
}

static void test_shutdown_forced(void **state)
{
    harness_run(NULL, client_shutdown_forced, /* grace_ms= */ 50, /* free_in_done= */ true, &H);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_leaves),
        cmocka_unit_test(test_answered_first),
        cmocka_unit_test(test_cleared),
        cmocka_unit_test(test_shutdown_forced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
