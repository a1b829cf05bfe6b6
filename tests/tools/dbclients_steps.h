/* The step runner of the database client checks (dbclients_redis, dbclients_clickhouse, dbclients_postgres,
 * dbclients_mariadb): each runs its client's steps against a real server on one libuv loop, each step starting
 * asynchronous work and calling step_done() when it is over, and exits 0 only if every check passed. Each check is
 * one translation unit (tool_check.h), which includes this once. */
#ifndef MOHSTATS_DBCLIENTS_STEPS_H
#define MOHSTATS_DBCLIENTS_STEPS_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "tool_check.h"

#define STEP_TIMEOUT_MS 30000

static uv_loop_t *loop;
static char table[64]; /* a per-run table name, so parallel runs do not collide */

/* A string with everything escaping must get right: quotes, backslashes, control and high-bit bytes. */
static const char tricky[] = "it's \"q\" \\ back\\slash\ttab\nnl\r\x01 caf\xc3\xa9 \xf0\x9f\x8e\xae";

/* ---- step runner: each step starts async work and calls step_done() when it is over ---- */

static void on_watchdog(uv_timer_t *t);

typedef void (*step_fn)(void);
static const step_fn *steps;
static size_t nsteps, step_i;
static uv_timer_t step_timer, watchdog;
static const char *step_name = "start";
static uv_timer_t poll_timer; /* for steps that poll (dbclients_redis), closed after the run */

/* Run the next step from the loop (not from inside the previous step's callback). */
static void on_step_timer(uv_timer_t *t)
{
    if (step_i >= nsteps) {
        uv_timer_stop(&watchdog);
        uv_close((uv_handle_t *)&watchdog, NULL);
        uv_close((uv_handle_t *)&step_timer, NULL);
        return;
    }
    uv_timer_start(&watchdog, on_watchdog, STEP_TIMEOUT_MS, 0);
    steps[step_i++]();
}

/* The current step is over; go on after delay_ms. */
static void step_done_after(uint64_t delay_ms)
{
    uv_timer_start(&step_timer, on_step_timer, delay_ms, 0);
}

static void step_done(void)
{
    step_done_after(0);
}

/* A step never finished: report and give up (leaks are moot at this point). */
static void on_watchdog(uv_timer_t *t)
{
    check(false, "%s: no answer within %d ms", step_name, STEP_TIMEOUT_MS);
    printf("%u passed, %u failed\n", tool_passed, tool_failed);
    fflush(stdout);
    _exit(1);
}

/* Probe outcome for the probes of each check: arg says whether success is expected. */
static void on_probe(void *token, bool ok, const char *detail)
{
    const char *what = token;
    bool want_ok = what[0] != '!';
    /* The failing probes all point at a closed port: the reason must say so. */
    check(ok == want_ok && (ok || (detail && strcmp(detail, "connection refused") == 0)), "%s probe: %s%s%s",
          what + !want_ok, ok ? "ok" : "not ok: ", ok ? "" : detail, ok == want_ok ? "" : " (unexpected)");
    step_done();
}

/* Run steps against the server env (a URL) names, on a fresh loop that must end with every handle closed; then
 * after_loop (may be NULL). Prints the summary; the exit status: 0 only if every check passed. */
static int dbclients_run(const char *env, const char *url, const step_fn *group_steps, size_t n, step_fn after_loop)
{
    snprintf(table, sizeof table, "dbclients_check_%d", (int)getpid());
    static uv_loop_t l;
    loop = &l;
    if (!url || !*url) {
        check(false, "%s is not set", env);
    } else {
        uv_loop_init(loop);
        uv_timer_init(loop, &step_timer);
        uv_timer_init(loop, &watchdog);
        uv_timer_init(loop, &poll_timer);
        uv_timer_start(&watchdog, on_watchdog, STEP_TIMEOUT_MS, 0);
        steps = group_steps;
        nsteps = n;
        step_i = 0;
        step_done();
        uv_run(loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&poll_timer, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        if (after_loop)
            after_loop();
        check(uv_loop_close(loop) == 0, "%s: every uv handle closed at the end", env);
    }
    printf("%u passed, %u failed\n", tool_passed, tool_failed);
    return tool_failed ? 1 : 0;
}

#endif
