/* Unit tests: the live state's server lifetime, against a private redis-server (it publishes there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <cmocka.h>
#include <uv.h>

#include "live_state.h"
#include "redis_client.h"
#include "redis_server.h"

/* Run the loop for ms milliseconds of its own time (the live state's timer ticks once a second). */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_update_time(loop);
    uint64_t until = uv_now(loop) + ms;
    while (uv_now(loop) < until) {
        uv_run(loop, UV_RUN_NOWAIT);
        uv_sleep(10);
        uv_update_time(loop);
    }
}

/* The map the server remembers for session s1, or "" (the server entry is made if missing). */
static const char *s1_map(live_state *ls)
{
    session_maps m = live_server_session_maps(live_state_server(ls, "srv-1"));
    size_t n = 0;
    const char *map = m.get(m.arg, "s1", 2, &n);
    return map ? map : "";
}

static void on_closed(void *arg)
{
    ++*(int *)arg;
}

/* A private redis-server for each test, stopped by the teardown even when the test fails. */
typedef struct {
    pid_t redis;
    char url[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    int port = test_free_port();
    f->redis = test_redis_start(port, "/tmp");
    snprintf(f->url, sizeof f->url, "redis://127.0.0.1:%d/0", port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    test_redis_stop(f->redis);
    free(f);
    unsetenv("LIVE_TTL_MS");
    return 0;
}

/* A server entry made for a batch on its way to storage survives the ticks while the batch is stored (it used
 * to be taken for a server gone quiet at the next tick, freeing what the batch's summaries pointed to, and
 * forgetting its sessions' maps); a server quiet for LIVE_TTL_MS still leaves. */
static void test_new_server_survives_until_quiet(void **state)
{
    fixture *f = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    redis_client *rc = redis_client_new(&loop, f->url);
    assert_non_null(rc);
    for (int i = 0; i < 300 && !redis_client_connected(rc); i++)
        run_for(&loop, 10);
    assert_true(redis_client_connected(rc));

    setenv("LIVE_TTL_MS", "2500", 1);
    live_state *ls = live_state_new(&loop, rc);
    assert_non_null(ls);
    session_maps m = live_server_session_maps(live_state_server(ls, "srv-1"));
    m.set(m.arg, "s1", 2, "obj/obj_team2", 13);
    run_for(&loop, 1500); /* a tick or more */
    assert_string_equal(s1_map(ls), "obj/obj_team2");
    run_for(&loop, 2000); /* past the TTL, and a tick after it */
    assert_string_equal(s1_map(ls), "");

    int closed = 0;
    live_state_close(ls, on_closed, &closed);
    redis_client_close(rc, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 2);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_server_survives_until_quiet, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
