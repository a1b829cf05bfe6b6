/* Unit tests of the local spool: record framing (CRC, torn tails, corruption), appends on a real loop and temporary
 * directory (the size limit included), and the replay into a real Redis (resumed, and meeting the dedupe keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "redis_server.h"
#include "spool.h"
#include "stream.h"
#include "temp_dir.h"

/* ---- framing ---- */

static void test_crc32(void **state)
{
    assert_int_equal(spool_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(spool_crc32("", 0), 0);
}

/* A batch with rows "row <i>\n" x n. */
static stream_batch make_batch(int i, char *rows_buf, size_t cap)
{
    stream_batch b = {.server_id = "srv-1", .nevents = 2, .maybe_duplicate = (i % 2) != 0};
    snprintf(b.batch_id, sizeof b.batch_id, "00000000-0000-4000-8000-%012d", i);
    int n = snprintf(rows_buf, cap, "a\t%d\n\tb\\t\x01\n", i);
    b.rows = rows_buf;
    b.rows_len = (size_t)n;
    return b;
}

typedef struct {
    stream_batch got[16];
    size_t ends[16];
    uint64_t at[16];
    size_t n;
} collected;

static int collect(const stream_batch *b, uint64_t at, size_t end, void *arg)
{
    collected *c = arg;
    c->got[c->n] = *b;
    c->ends[c->n] = end;
    c->at[c->n] = at;
    c->n++;
    return 0;
}

/* Three records back to back; their offsets in *ends. */
static bytebuf three_records(size_t ends[3])
{
    bytebuf out = {0};
    char rows[64];
    for (int i = 0; i < 3; i++) {
        stream_batch b = make_batch(i, rows, sizeof rows);
        b.dedupe_ttl_s = i == 1 ? 90000 : 0; /* a version 2 record between two of version 1 */
        assert_int_equal(spool_record_encode(&b, 1700000000000ull + (uint64_t)i, &out), 0);
        ends[i] = out.len;
    }
    return out;
}

static void test_roundtrip(void **state)
{
    size_t ends[3];
    bytebuf buf = three_records(ends);
    collected c = {0};
    spool_scan_result res;
    assert_int_equal(spool_scan(buf.data, buf.len, collect, &c, &res), 0);
    assert_int_equal(res.records, 3);
    assert_int_equal(res.torn_bytes, 0);
    assert_int_equal(res.corrupt_bytes, 0);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) {
        char rows[64];
        stream_batch want = make_batch(i, rows, sizeof rows);
        want.dedupe_ttl_s = i == 1 ? 90000 : 0;
        assert_string_equal(c.got[i].batch_id, want.batch_id);
        assert_string_equal(c.got[i].server_id, "srv-1");
        assert_int_equal(c.got[i].nevents, 2);
        assert_int_equal(c.got[i].maybe_duplicate, want.maybe_duplicate);
        assert_int_equal(c.got[i].dedupe_ttl_s, want.dedupe_ttl_s);
        assert_int_equal(c.got[i].rows_len, want.rows_len);
        assert_memory_equal(c.got[i].rows, want.rows, want.rows_len);
        assert_int_equal(c.ends[i], ends[i]);
        assert_int_equal(c.at[i], 1700000000000ull + (uint64_t)i);
    }
    bytebuf_free(&buf);
}

static void test_encode_limits(void **state)
{
    bytebuf out = {0};
    stream_batch b = {.server_id = "s", .rows = "", .rows_len = 0};
    snprintf(b.batch_id, sizeof b.batch_id, "short");
    assert_int_equal(spool_record_encode(&b, 0, &out), -EINVAL);
    char *big = malloc(70000);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    snprintf(b.batch_id, sizeof b.batch_id, "00000000-0000-4000-8000-000000000000");
    b.server_id = big;
    assert_int_equal(spool_record_encode(&b, 0, &out), -E2BIG);
    assert_int_equal(out.len, 0);
    free(big);
}

static void test_torn_tail(void **state)
{
    size_t ends[3];
    bytebuf buf = three_records(ends);
    /* Every cut inside the last record leaves two good records and a torn tail. */
    for (size_t cut = ends[1] + 1; cut < ends[2]; cut++) {
        collected c = {0};
        spool_scan_result res;
        assert_int_equal(spool_scan(buf.data, cut, collect, &c, &res), 0);
        assert_int_equal(res.records, 2);
        assert_int_equal(res.torn_bytes, cut - ends[1]);
        assert_int_equal(res.corrupt_bytes, 0);
    }
    /* A full-length last record whose bytes never reached the disk (zeros) is torn too. */
    memset(buf.data + ends[1] + 12, 0, ends[2] - ends[1] - 12);
    collected c = {0};
    spool_scan_result res;
    assert_int_equal(spool_scan(buf.data, buf.len, collect, &c, &res), 0);
    assert_int_equal(res.records, 2);
    assert_int_equal(res.torn_bytes, ends[2] - ends[1]);
    bytebuf_free(&buf);
}

static void test_corrupt_middle(void **state)
{
    size_t ends[3];
    bytebuf buf = three_records(ends);
    buf.data[ends[0] + 30] ^= 0x40; /* a bit flip inside the second record's payload */
    collected c = {0};
    spool_scan_result res;
    assert_int_equal(spool_scan(buf.data, buf.len, collect, &c, &res), 0);
    assert_int_equal(res.records, 2);
    assert_int_equal(res.corrupt_bytes, ends[1] - ends[0]);
    assert_int_equal(res.torn_bytes, 0);
    assert_string_equal(c.got[1].batch_id, "00000000-0000-4000-8000-000000000002");
    /* Garbage before the first record is skipped as well. */
    bytebuf g = {0};
    bytebuf_append(&g, "garbageMSP", 10);
    bytebuf_append(&g, buf.data + ends[1], ends[2] - ends[1]);
    memset(&c, 0, sizeof c);
    assert_int_equal(spool_scan(g.data, g.len, collect, &c, &res), 0);
    assert_int_equal(res.records, 1);
    assert_int_equal(res.corrupt_bytes, 10);
    bytebuf_free(&g);
    bytebuf_free(&buf);
}

/* ---- spool on a real loop ---- */

typedef struct {
    int calls;
    int err;
} append_result;

static void on_appended(int err, void *arg)
{
    append_result *r = arg;
    r->calls++;
    if (err)
        r->err = err;
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

/* The size of dir/name, or -1. */
static long file_size(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_spool_append_and_reopen(void **state)
{
    char *dir = temp_dir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err;
    spool *s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    assert_int_equal(spool_bytes(s), 0);

    /* A second spool on the same directory is refused (after a short wait for a dying predecessor). */
    spool_lock_wait_ms = 200;
    spool *other = spool_open(&loop, dir, &err);
    assert_null(other);
    assert_int_equal(err, -EBUSY);

    append_result r = {0};
    char rows[64];
    for (int i = 0; i < 5; i++) {
        stream_batch b = make_batch(i, rows, sizeof rows);
        assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    }
    assert_int_equal(r.calls, 0); /* never before the fsync */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 5);
    assert_int_equal(r.err, 0);
    uint64_t bytes = spool_bytes(s);
    assert_true(bytes > 0);
    assert_int_equal(file_size(dir, "spool-00000000000000000001.log"), (long)bytes);

    int closed = 0;
    spool_close(s, on_closed, &closed);
    stream_batch b = make_batch(9, rows, sizeof rows);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);

    /* Reopened: the old file is waiting for replay and appends go to a new one. */
    s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    assert_int_equal(spool_bytes(s), bytes);
    assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 6);
    assert_true(file_size(dir, "spool-00000000000000000002.log") > 0);
    closed = 0;
    spool_close(s, on_closed, &closed);
    assert_int_equal(spool_append(s, &b, on_appended, &r), -ECANCELED);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);

    assert_int_equal(uv_loop_close(&loop), 0);
    remove_dir(dir);
    free(dir);
}

static void test_spool_close_flushes(void **state)
{
    char *dir = temp_dir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err, closed = 0;
    spool *s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    append_result r = {0};
    char rows[64];
    for (int i = 0; i < 3; i++) {
        stream_batch b = make_batch(i, rows, sizeof rows);
        assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    }
    /* Closed at once: the accepted appends are still written and acknowledged. */
    spool_close(s, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 3);
    assert_int_equal(r.err, 0);
    assert_int_equal(closed, 1);
    assert_true(file_size(dir, "spool-00000000000000000001.log") > 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    remove_dir(dir);
    free(dir);
}

/* SPOOL_MAX_BYTES: appends past it are refused at once (-ENOSPC), those queued together counted together, and the
 * files of an earlier run count too. */
static void test_spool_max_bytes(void **state)
{
    char *dir = temp_dir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err, closed = 0;
    spool *s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    append_result r = {0};
    char rows[64];
    stream_batch b = make_batch(1, rows, sizeof rows);
    assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uint64_t one = spool_bytes(s); /* every make_batch(1..9) record has this size */
    assert_true(one > 0);

    /* Room for two more records and part of a third: two are taken, the third refused before any is written. */
    spool_set_max_bytes(s, 3 * one + one / 2);
    for (int i = 2; i <= 3; i++) {
        b = make_batch(i, rows, sizeof rows);
        assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    }
    b = make_batch(4, rows, sizeof rows);
    assert_int_equal(spool_append(s, &b, on_appended, &r), -ENOSPC);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 3);
    assert_int_equal(r.err, 0);
    assert_int_equal(spool_bytes(s), 3 * one);
    spool_close(s, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);

    /* Reopened with a limit its files already reach: refused; with no limit (0): taken. */
    s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    spool_set_max_bytes(s, 3 * one);
    assert_int_equal(spool_append(s, &b, on_appended, &r), -ENOSPC);
    spool_set_max_bytes(s, 0);
    assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 4);
    assert_int_equal(spool_bytes(s), 4 * one);
    closed = 0;
    spool_close(s, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    remove_dir(dir);
    free(dir);
}

static void test_spool_bad_dir(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err;
    assert_null(spool_open(&loop, "/nonexistent/mohstats/spool", &err));
    assert_int_equal(err, -ENOENT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- spool replay into a private redis-server ---- */

typedef struct {
    spool *s;
    int connects;
} drain_state;

/* Replay whenever Redis is (re)connected, as ingestd does. */
static void drain_on_connect(redis_client *c, void *arg)
{
    drain_state *d = arg;
    d->connects++;
    spool_drain(d->s, c, "test:events");
}

/* Run the loop until cond(arg) holds, at most 5 s. */
static bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < 500 && !cond(arg); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    return cond(arg);
}

static bool drained(void *arg)
{
    spool *s = arg;
    return spool_bytes(s) == 0 && !spool_draining(s);
}

static void on_redis_closed(void *arg)
{
    (*(int *)arg)++;
}

/* A private redis-server for a spool's replay, and the loop's client of it. */
typedef struct {
    pid_t pid;
    int port;
    redis_client *client;
} replay_redis;

/* Start a redis-server (its files in dir) and connect to it; on_connect(arg) runs once connected and starts the
 * replay of s. Returns once s is drained. */
static replay_redis replay_into_redis(uv_loop_t *loop, const char *dir, spool *s,
                                      void (*on_connect)(redis_client *, void *), void *arg)
{
    replay_redis r = {.port = test_free_port()};
    r.pid = test_redis_start(r.port, dir);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", r.port);
    r.client = redis_client_new(loop, url);
    assert_non_null(r.client);
    redis_client_on_connect(r.client, on_connect, arg);
    assert_true(run_until(loop, drained, s));
    return r;
}

/* Close the spool and the client, close the loop, stop the redis-server, remove dir (and free its name). */
static void replay_done(uv_loop_t *loop, spool *s, replay_redis *r, char *dir)
{
    int closed = 0;
    spool_close(s, on_closed, &closed);
    redis_client_close(r->client, on_redis_closed, &closed);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 2);
    assert_int_equal(uv_loop_close(loop), 0);
    test_redis_stop(r->pid);
    remove_dir(dir);
    free(dir);
}

static void test_spool_drain(void **state)
{
    char *dir = temp_dir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err, closed = 0;

    /* A previous run: four batches spooled, then a crash that left a torn record behind. */
    spool *s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    append_result r = {0};
    char rows[64];
    for (int i = 0; i < 4; i++) {
        stream_batch b = make_batch(i, rows, sizeof rows);
        assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 4);
    spool_close(s, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    char path[512];
    snprintf(path, sizeof path, "%s/spool-00000000000000000001.log", dir);
    FILE *f = fopen(path, "ab");
    fwrite("MSP1\x40\x00\x00\x00torn", 1, 12, f);
    fclose(f);

    /* This run: one more batch, then Redis comes up and the spool is replayed. */
    s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    stream_batch b = make_batch(4, rows, sizeof rows);
    assert_int_equal(spool_append(s, &b, on_appended, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 5);

    drain_state d = {.s = s};
    replay_redis redis = replay_into_redis(&loop, dir, s, drain_on_connect, &d);
    assert_int_equal(d.connects, 1);
    assert_int_equal(file_size(dir, "spool-00000000000000000001.log"), -1);
    assert_int_equal(file_size(dir, "spool-00000000000000000002.log"), -1);

    /* Five entries, in spool order; the torn record is not one. The previous run's four are flagged as possible
     * duplicates (it may have replayed some before it died); this run's one is not: it never reached Redis. */
    redisContext *c = redisConnect("127.0.0.1", redis.port);
    redisReply *x = redisCommand(c, "XRANGE test:events - +");
    assert_non_null(x);
    assert_int_equal(x->elements, 5);
    for (size_t i = 0; i < 5; i++) {
        redisReply *fields = x->element[i]->element[1];
        stream_batch want = make_batch((int)i, rows, sizeof rows);
        assert_int_equal(fields->elements, 10);
        assert_string_equal(fields->element[1]->str, want.batch_id);
        assert_string_equal(fields->element[3]->str, "srv-1");
        assert_string_equal(fields->element[5]->str, "2");
        assert_int_equal(fields->element[7]->len, want.rows_len);
        assert_memory_equal(fields->element[7]->str, want.rows, want.rows_len);
        assert_string_equal(fields->element[8]->str, "dup");
        assert_string_equal(fields->element[9]->str, i < 4 ? "1" : "0");
    }
    freeReplyObject(x);
    redisFree(c);
    replay_done(&loop, s, &redis, dir);
}

/* A batch a transport may deliver again (MQTT): kept once for 600 s. */
static stream_batch dedupe_batch(int i, char *rows_buf, size_t cap)
{
    stream_batch b = make_batch(i, rows_buf, cap);
    snprintf(b.batch_id, sizeof b.batch_id, "00000000-0000-8000-8000-%012d", i);
    b.maybe_duplicate = false;
    b.dedupe_ttl_s = 600;
    return b;
}

typedef struct {
    spool *s;
    int appended; /* the direct appends answered STREAM_APPENDED */
    int already;  /* ... and STREAM_WAS_STORED */
} dedupe_state;

static void on_direct_append(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    dedupe_state *d = arg;
    (void)c;
    (void)err;
    stream_append_outcome o = stream_append_result(reply);
    d->appended += o == STREAM_APPENDED;
    d->already += o == STREAM_WAS_STORED;
    if (d->appended + d->already == 2)
        spool_drain(d->s, c, "test:events");
}

/* Before the replay, batch 2 is appended directly twice, as when the broker sent its message again to a connected
 * ingestd: the first append adds it, the second finds its key. */
static void dedupe_on_connect(redis_client *c, void *arg)
{
    static char rows[64];
    stream_batch b = dedupe_batch(2, rows, sizeof rows);
    assert_int_equal(stream_append(c, "test:events", &b, on_direct_append, arg), 0);
    assert_int_equal(stream_append(c, "test:events", &b, on_direct_append, arg), 0);
}

/* Issue 23: an MQTT batch is stored once however many times it is spooled, replayed and delivered again. Spooled
 * while Redis is down: batch 1 twice (its PUBACK lost with the connection, the broker sent it again), batch 2 once
 * (and the broker's copy appended directly once Redis is back, before the replay), batch 3 once, and batch 4, an
 * HTTP batch (no dedupe TTL), twice, which stays as it was: two entries (the writers check such a flagged copy). */
static void test_spool_dedupe(void **state)
{
    (void)state;
    char *dir = temp_dir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err;
    spool *s = spool_open(&loop, dir, &err);
    assert_non_null(s);
    append_result r = {0};
    char rows[5][64];
    stream_batch b[5] = {
        dedupe_batch(1, rows[0], sizeof rows[0]), dedupe_batch(1, rows[1], sizeof rows[1]),
        dedupe_batch(2, rows[2], sizeof rows[2]), dedupe_batch(3, rows[3], sizeof rows[3]),
        make_batch(4, rows[4], sizeof rows[4]),
    };
    for (int i = 0; i < 5; i++)
        assert_int_equal(spool_append(s, &b[i], on_appended, &r), 0);
    assert_int_equal(spool_append(s, &b[4], on_appended, &r), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 6);

    dedupe_state d = {.s = s};
    replay_redis redis = replay_into_redis(&loop, dir, s, dedupe_on_connect, &d);
    assert_int_equal(d.appended, 1);
    assert_int_equal(d.already, 1);

    /* Entries: batch 2 (appended directly), then the replay's 1, 3, 4, 4. */
    redisContext *c = redisConnect("127.0.0.1", redis.port);
    redisReply *x = redisCommand(c, "XRANGE test:events - +");
    assert_non_null(x);
    assert_int_equal(x->elements, 5);
    const char *want[] = {"2", "1", "3", "4", "4"};
    for (size_t i = 0; i < 5; i++) {
        redisReply *f = x->element[i]->element[1];
        assert_int_equal(f->elements, 10);
        const char *id = f->element[1]->str;
        assert_string_equal(id + strlen(id) - 1, want[i]);
    }
    freeReplyObject(x);
    /* The keys live as long as they were told (the replay kept the batch's TTL through the spool's record). */
    for (int i = 1; i <= 3; i++) {
        x = redisCommand(c, "TTL test:events" STREAM_DEDUPE_INFIX "00000000-0000-8000-8000-%012d", i);
        assert_true(x->integer > 590 && x->integer <= 600);
        freeReplyObject(x);
    }
    x = redisCommand(c, "DBSIZE");
    assert_int_equal(x->integer, 4); /* the stream and three keys: none for the HTTP batch */
    freeReplyObject(x);
    redisFree(c);
    replay_done(&loop, s, &redis, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_spool_append_and_reopen),
        cmocka_unit_test(test_spool_close_flushes),
        cmocka_unit_test(test_spool_max_bytes),
        cmocka_unit_test(test_spool_bad_dir),
        cmocka_unit_test(test_spool_drain),
        cmocka_unit_test(test_spool_dedupe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
