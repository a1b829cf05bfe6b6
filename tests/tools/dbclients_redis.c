/* dbclients_redis: the Redis client of common/ against a real server (REDIS_URL); exit 0 only if every check passes.
 * Part of tests/integration/test_dbclients.sh; the step runner is dbclients_steps.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "probe.h"
#include "redis_client.h"

#include "dbclients_steps.h"

static const char *redis_url;

/* ================================ Redis ================================ */

static redis_client *rc;
static int redis_connects;
static int pipeline_left, pipeline_bad;
static long long pipeline_last;
static unsigned pipeline_peak;

/* on_connect hook: count (re)connections. */
static void on_redis_connect(redis_client *c, void *arg)
{
    redis_connects++;
}

/* Poll until the client has connected want times, then go on. */
static int wait_connects_want, wait_ticks;
static void on_wait_connected(uv_timer_t *t)
{
    if (redis_connects >= wait_connects_want || ++wait_ticks > 100) {
        uv_timer_stop(t);
        check(redis_connects >= wait_connects_want, "redis: connected (%d connection(s))", redis_connects);
        step_done();
    }
}

static void redis_connect(void)
{
    step_name = "redis connect";
    rc = redis_client_new(loop, redis_url);
    check(rc != NULL, "redis: client for REDIS_URL");
    if (!rc) {
        step_i = nsteps; /* nothing else can run meaningfully */
        step_done();
        return;
    }
    redis_client_on_connect(rc, on_redis_connect, NULL);
    wait_connects_want = 1;
    wait_ticks = 0;
    uv_timer_start(&poll_timer, on_wait_connected, 50, 50);
}

/* GET reply: the binary value must come back intact. */
static void on_redis_get(redis_client *c, redisReply *r, const char *err, void *arg)
{
    check(r && r->type == REDIS_REPLY_STRING && r->len == sizeof tricky && memcmp(r->str, tricky, sizeof tricky) == 0,
          "redis: GET returns the binary-safe value set by SET");
    step_done();
}

/* SET reply. */
static void on_redis_set(redis_client *c, redisReply *r, const char *err, void *arg)
{
    check(r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, "redis: SET answers OK");
}

static void redis_set_get(void)
{
    step_name = "redis set/get";
    const char *argv[] = {"SET", "dbclients_check:key", tricky};
    size_t lens[] = {3, strlen(argv[1]), sizeof tricky}; /* includes the NUL: binary-safe */
    int a = redis_command_argv(rc, on_redis_set, NULL, 3, argv, lens);
    int b = redis_command(rc, on_redis_get, NULL, "GET %s", "dbclients_check:key");
    check(a == 0 && b == 0, "redis: commands queued while connected");
    if (a || b)
        step_done();
}

/* One INCR reply of the pipeline: they must come back in order. */
static void on_pipeline_reply(redis_client *c, redisReply *r, const char *err, void *arg)
{
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != pipeline_last + 1)
        pipeline_bad++;
    else
        pipeline_last = r->integer;
    if (--pipeline_left == 0) {
        check(pipeline_bad == 0 && pipeline_last == 1000, "redis: pipeline of 1000 INCR answered in order (%d bad)",
              pipeline_bad);
        check(pipeline_peak == 1000 && redis_client_pending(c) == 0, "redis: pending counted 1000 then 0 (peak %u)",
              pipeline_peak);
        step_done();
    }
}

static void redis_pipeline(void)
{
    step_name = "redis pipeline";
    redis_command(rc, NULL, NULL, "DEL dbclients_check:counter");
    pipeline_left = 1000;
    pipeline_last = 0;
    unsigned base = redis_client_pending(rc);
    for (int i = 0; i < 1000; i++)
        redis_command(rc, on_pipeline_reply, NULL, "INCR dbclients_check:counter");
    pipeline_peak = redis_client_pending(rc) - base;
}

/* An error reply is a reply, with err NULL. */
static void on_redis_error_reply(redis_client *c, redisReply *r, const char *err, void *arg)
{
    check(r && r->type == REDIS_REPLY_ERROR && err == NULL, "redis: error reply delivered as a reply: %s",
          r ? r->str : err);
    step_done();
}

static void redis_error_reply(void)
{
    step_name = "redis error reply";
    redis_command(rc, on_redis_error_reply, NULL, "INCR dbclients_check:key");
}

static void redis_probe_ok(void)
{
    step_name = "redis probe";
    redis_probe(rc, "redis", on_probe);
}

/* Our own connection id, then kill it: the client must reconnect by itself. */
static void on_client_kill(redis_client *c, redisReply *r, const char *err, void *arg)
{
    check(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "redis: CLIENT KILL of our own connection");
    wait_connects_want = 2;
    wait_ticks = 0;
    uv_timer_start(&poll_timer, on_wait_connected, 50, 50);
}

static void on_client_id(redis_client *c, redisReply *r, const char *err, void *arg)
{
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        check(false, "redis: CLIENT ID");
        step_done();
        return;
    }
    redis_command(c, on_client_kill, NULL, "CLIENT KILL ID %lld SKIPME no", r->integer);
}

static void redis_reconnect(void)
{
    step_name = "redis reconnect";
    redis_command(rc, on_client_id, NULL, "CLIENT ID");
}

static void redis_after_reconnect(void)
{
    step_name = "redis after reconnect";
    redis_command(rc, on_redis_get, NULL, "GET %s", "dbclients_check:key");
}

/* A command pending at close time: its callback must run with reply NULL. */
static bool redis_close_cb_seen, redis_close_done_seen;
static void on_pending_at_close(redis_client *c, redisReply *r, const char *err, void *arg)
{
    redis_close_cb_seen = r == NULL && err != NULL;
}

static void on_redis_closed(void *arg)
{
    redis_close_done_seen = true;
    check(redis_close_cb_seen, "redis: command pending at close failed with reply NULL");
    step_done();
}

/* Closing from inside a reply callback: hiredis defers freeing the context until the callback returns. */
static void on_ping_then_close(redis_client *c, redisReply *r, const char *err, void *arg)
{
    check(r && r->type == REDIS_REPLY_STATUS, "redis: PING answered before closing from its callback");
    redis_client_close(c, on_redis_closed, NULL);
    rc = NULL;
}

static void redis_close_with_pending(void)
{
    step_name = "redis close";
    redis_command(rc, NULL, NULL, "DEL dbclients_check:key dbclients_check:counter");
    redis_command(rc, on_ping_then_close, NULL, "PING");
    redis_command(rc, on_pending_at_close, NULL, "BLPOP dbclients_check:nothing 5");
}

static void redis_refused_probe(void)
{
    step_name = "redis refused probe";
    redis_probe(rc, "!redis (port 1)", on_probe);
}

static void on_refused_closed(void *arg)
{
    step_done();
}

static void redis_refused_close(void)
{
    step_name = "redis refused close";
    redis_client_close(rc, on_refused_closed, NULL);
    rc = NULL;
}

static void redis_refused_start(void)
{
    step_name = "redis refused";
    rc = redis_client_new(loop, "redis://127.0.0.1:1");
    check(redis_command(rc, NULL, NULL, "PING") == -ENOTCONN, "redis: command while not connected is -ENOTCONN");
    step_done_after(300); /* a few reconnect attempts */
}

static const step_fn redis_steps[] = {
    redis_connect,       redis_set_get,       redis_pipeline,        redis_error_reply,
    redis_probe_ok,      redis_reconnect,     redis_after_reconnect, redis_close_with_pending,
    redis_refused_start, redis_refused_probe, redis_refused_close};

int main(void)
{
    redis_url = getenv("REDIS_URL");
    return dbclients_run("REDIS_URL", redis_url, redis_steps, sizeof redis_steps / sizeof *redis_steps, NULL);
}
