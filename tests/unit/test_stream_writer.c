/* Unit tests: spool record framing (CRC, torn tails, corruption), spool appends on a real loop and temp
 * directory, and the stream writer's pure logic (ids, query_id, dedupe and running-insert SQL, trim point, the
 * retention's trim delay). */
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

#include "ch_guard.h"
#include "metrics.h"
#include "redis_server.h"
#include "spool.h"
#include "stream.h"
#include "stream_trimmer.h"
#include "stream_writer.h"
#include "writer_sql.h"

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

/* A fresh temporary directory. */
static char *temp_dir(void)
{
    char *d = strdup("/tmp/mohstats-spool-test.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

/* Remove the directory's files and the directory. */
static void remove_dir(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
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

/* ---- writer logic ---- */

static void test_stream_ids(void **state)
{
    stream_id id;
    assert_int_equal(stream_id_parse("1700000000000-5", 15, &id), 0);
    assert_int_equal(id.ms, 1700000000000ull);
    assert_int_equal(id.seq, 5);
    assert_int_equal(stream_id_parse("42", 2, &id), 0);
    assert_int_equal(id.ms, 42);
    assert_int_equal(id.seq, 0);
    assert_int_equal(stream_id_parse("", 0, &id), -EINVAL);
    assert_int_equal(stream_id_parse("-1", 2, &id), -EINVAL);
    assert_int_equal(stream_id_parse("1-", 2, &id), -EINVAL);
    assert_int_equal(stream_id_parse("1-2-3", 5, &id), -EINVAL);
    assert_int_equal(stream_id_parse("99999999999999999999999", 23, &id), -EINVAL);
    assert_int_equal(stream_id_parse("18446744073709551615-18446744073709551615", 41, &id), 0);
    assert_int_equal(id.seq, UINT64_MAX);
    stream_id a = {5, 1}, b = {5, 2}, c = {6, 0};
    assert_true(stream_id_cmp(a, b) < 0);
    assert_true(stream_id_cmp(c, b) > 0);
    assert_int_equal(stream_id_cmp(a, a), 0);
    char text[44];
    stream_id_format(b, text, sizeof text);
    assert_string_equal(text, "5-2");
}

static void test_query_id(void **state)
{
    char q[WRITER_QUERY_ID_SIZE], q2[WRITER_QUERY_ID_SIZE], owner[WRITER_QUERY_OWNER_SIZE];
    stream_id lo = {1700000000000ull, 3}, hi = {1700000000999ull, 0};
    stream_writer_query_id(lo, hi, "host-42", q);
    stream_writer_query_owner("host-42", owner);
    assert_int_equal(strlen(owner), 16);
    assert_string_equal(q + 97, owner);
    /* FNV-1a 64 of "" is its offset basis, of "a" a known value: the owner part is that hash, stable across builds. */
    stream_writer_query_owner("", owner);
    assert_string_equal(owner, "cbf29ce484222325");
    stream_writer_query_owner("a", owner);
    assert_string_equal(owner, "af63dc4c8601ec8c");
    stream_writer_query_id(lo, hi, "host-42", q2);
    /* Deterministic, and positions match the running-insert SQL (first id at 14, last at 56, 41 long, owner at 98,
     * 16 long; 1-based). */
    assert_string_equal(q, q2);
    assert_int_equal(strlen(q), 13 + 41 + 1 + 41 + 1 + 16);
    assert_memory_equal(q, "mohstats-ins-", 13);
    assert_memory_equal(q + 13, "00000001700000000000-00000000000000000003", 41);
    assert_memory_equal(q + 55, "00000001700000000999-00000000000000000000", 41);
    assert_int_equal(q[96], '-');
    /* The writer is named: the same range by another consumer is another query. */
    stream_writer_query_id(lo, hi, "host-43", q2);
    assert_memory_equal(q, q2, 97);
    assert_string_not_equal(q + 97, q2 + 97);
    /* A consumer name is any text; the query_id is only hex digits, digits and dashes (safe in a URL and SQL). */
    stream_writer_query_id(lo, hi, "it's a name & more?", q2);
    for (const char *p = q2 + 13; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-');
    /* Fixed width: string order is id order. */
    char a[WRITER_QUERY_ID_SIZE], b[WRITER_QUERY_ID_SIZE];
    stream_writer_query_id((stream_id){9, 10}, (stream_id){9, 10}, "w", a);
    stream_writer_query_id((stream_id){10, 9}, (stream_id){10, 9}, "w", b);
    assert_true(strcmp(a, b) < 0);
}

static void test_received_at(void **state)
{
    const char rows[] = "e1\tb1\tsrv\\tx\t1700000123\t45\t\\N\n";
    assert_int_equal(stream_rows_received_at(rows, strlen(rows)), 1700000123u);
    assert_int_equal(stream_rows_received_at("a\tb\n", 4), 0);
    assert_int_equal(stream_rows_received_at("a\tb\tc\tx1\t", 9), 0);
    assert_int_equal(stream_rows_received_at("", 0), 0);
}

static void test_present_sql(void **state)
{
    const char *ids[] = {"0e5c7a52-5bd5-4d43-9d69-2d7b3e8a1f00", "1e5c7a52-5bd5-4d43-9d69-2d7b3e8a1f01"};
    bytebuf sql = {0};
    assert_int_equal(stream_writer_present_sql("raw_events", ids, 2, 1700000000, 1700000100, &sql), 0);
    assert_string_equal(sql.data, "SELECT toString(batch_id), count()\n"
                                  "FROM raw_events\n"
                                  "WHERE received_at >= toDateTime(1699996400) AND received_at <= "
                                  "toDateTime(1700003700)\n"
                                  "  AND batch_id IN (toUUID('0e5c7a52-5bd5-4d43-9d69-2d7b3e8a1f00'), "
                                  "toUUID('1e5c7a52-5bd5-4d43-9d69-2d7b3e8a1f01'))\n"
                                  "GROUP BY batch_id\n"
                                  "FORMAT TabSeparated");
    bytebuf_free(&sql);
    /* Anything but a UUID never reaches the SQL. */
    const char *bad[] = {"0e5c7a52-5bd5-4d43-9d69-2d7b3e8a1f00", "x'); DROP TABLE raw_events; --   xxxxx"};
    assert_int_equal(stream_writer_present_sql("raw_events", bad, 2, 1, 2, &sql), -EINVAL);
    bytebuf_free(&sql);
    /* The window never goes below the epoch. */
    assert_int_equal(stream_writer_present_sql("raw_events", ids, 1, 10, 20, &sql), 0);
    assert_non_null(strstr(sql.data, "toDateTime(0) AND received_at <= toDateTime(3620)"));
    bytebuf_free(&sql);
}

static void test_running_sql(void **state)
{
    bytebuf sql = {0};
    char owner[WRITER_QUERY_OWNER_SIZE], expect[1024];
    stream_writer_query_owner("host-42", owner);
    writer_range any = {{100, 1}, {200, 0}}, own = {{150, 0}, {300, 2}};
    /* Entries another writer may have held: any writer's overlapping insert counts. */
    assert_int_equal(stream_writer_running_sql(any, WRITER_RANGE_EMPTY, "host-42", &sql), 0);
    assert_string_equal(sql.data, "SELECT count()\n"
                                  "FROM system.processes\n"
                                  "WHERE query_id LIKE 'mohstats-ins-%'\n"
                                  "  AND ((substring(query_id, 14, 41) <= "
                                  "'00000000000000000200-00000000000000000000' AND substring(query_id, 56, 41) >= "
                                  "'00000000000000000100-00000000000000000001'))\n"
                                  "FORMAT TabSeparated");
    bytebuf_free(&sql);
    /* Entries only we held: our own overlapping inserts only. */
    assert_int_equal(stream_writer_running_sql(WRITER_RANGE_EMPTY, own, "host-42", &sql), 0);
    snprintf(expect, sizeof expect,
             "SELECT count()\n"
             "FROM system.processes\n"
             "WHERE query_id LIKE 'mohstats-ins-%%'\n"
             "  AND ((substring(query_id, 98, 16) = '%s' AND substring(query_id, 14, 41) <= "
             "'00000000000000000300-00000000000000000002' AND substring(query_id, 56, 41) >= "
             "'00000000000000000150-00000000000000000000'))\n"
             "FORMAT TabSeparated",
             owner);
    assert_string_equal(sql.data, expect);
    bytebuf_free(&sql);
    /* Both. */
    assert_int_equal(stream_writer_running_sql(any, own, "host-42", &sql), 0);
    snprintf(expect, sizeof expect,
             "SELECT count()\n"
             "FROM system.processes\n"
             "WHERE query_id LIKE 'mohstats-ins-%%'\n"
             "  AND ((substring(query_id, 14, 41) <= '00000000000000000200-00000000000000000000' AND "
             "substring(query_id, 56, 41) >= '00000000000000000100-00000000000000000001')\n"
             "    OR (substring(query_id, 98, 16) = '%s' AND substring(query_id, 14, 41) <= "
             "'00000000000000000300-00000000000000000002' AND substring(query_id, 56, 41) >= "
             "'00000000000000000150-00000000000000000000'))\n"
             "FORMAT TabSeparated",
             owner);
    assert_string_equal(sql.data, expect);
    bytebuf_free(&sql);
    /* Nothing to ask about is a caller's mistake. */
    assert_int_equal(stream_writer_running_sql(WRITER_RANGE_EMPTY, WRITER_RANGE_EMPTY, "host-42", &sql), -EINVAL);
    bytebuf_free(&sql);
}

static void test_trim_point(void **state)
{
    stream_group_state g[] = {
        {.name = "clickhouse",
         .pending = 2,
         .oldest_pending = {100, 3},
         .last_delivered = {150, 0},
         .lag_known = true,
         .lag = 10},
        {.name = "achievd", .pending = 0, .last_delivered = {90, 7}, .lag_known = true, .lag = 60},
        {.name = "other", .pending = 0, .last_delivered = {1, 0}, .lag_known = true, .lag = 1000},
    };
    stream_id id;
    char released[64];
    /* achievd (nothing pending, delivered up to 90-7) needs everything after 90-7; "other" does not hold. */
    assert_int_equal(
        stream_trim_point(g, 3, "clickhouse,achievd", "clickhouse", 1000, 200, &id, released, sizeof released), 0);
    assert_int_equal(id.ms, 90);
    assert_int_equal(id.seq, 8);
    assert_string_equal(released, "");
    /* Without achievd in the list, the writer's oldest pending entry is the limit. */
    assert_int_equal(stream_trim_point(g, 3, " clickhouse ", "clickhouse", 1000, 200, &id, released, sizeof released),
                     0);
    assert_int_equal(id.ms, 100);
    assert_int_equal(id.seq, 3);
    /* achievd over the backlog cap stops holding back; the writer group never does. */
    g[0].lag = 5000;
    assert_int_equal(
        stream_trim_point(g, 3, "clickhouse,achievd", "clickhouse", 50, 200, &id, released, sizeof released), 0);
    assert_int_equal(id.ms, 100);
    assert_string_equal(released, "achievd");
    /* A lag beyond the stream's length (Redis 7.0 after a restart) is capped by it. */
    g[1].lag = 1000000;
    assert_int_equal(stream_trim_point(g, 3, "achievd", "clickhouse", 250, 200, &id, released, sizeof released), 0);
    assert_string_equal(released, "");
    assert_int_equal(id.ms, 90);
    /* Unknown lag counts as the whole stream. */
    g[1].lag_known = false;
    assert_int_equal(stream_trim_point(g, 3, "achievd", "clickhouse", 150, 200, &id, released, sizeof released), 0);
    assert_string_equal(released, "achievd");
    /* No holding group: no trim. A group name is matched whole, not as a prefix. */
    assert_int_equal(
        stream_trim_point(g + 1, 2, "achiev,xother", "clickhouse", 1000, 200, &id, released, sizeof released), -ENOENT);
    /* A group created at 0 with nothing read keeps everything. */
    stream_group_state fresh = {.name = "clickhouse", .last_delivered = {0, 0}};
    assert_int_equal(stream_trim_point(&fresh, 1, "", "clickhouse", 10, 5, &id, released, sizeof released), 0);
    assert_int_equal(id.ms, 0);
    assert_int_equal(id.seq, 1);
}

/* WRITER_RETAIN_MS: a trim point applies only once found at or before the limit (last confirmation - retain). */
static void test_trim_delay(void **state)
{
    trim_delay d = {0};
    stream_id out = {0, 0};
    assert_false(trim_delay_pick(&d, 1000, &out));
    for (uint64_t t = 1; t <= 10; t++)
        assert_int_equal(trim_delay_push(&d, t * 1000, (stream_id){t * 100, 0}), 0);
    /* Nothing found early enough yet. */
    assert_false(trim_delay_pick(&d, 999, &out));
    /* The newest point found at or before the limit, older samples dropped, that one kept. */
    assert_true(trim_delay_pick(&d, 4500, &out));
    assert_int_equal(out.ms, 400);
    assert_int_equal(d.n, 7);
    assert_true(trim_delay_pick(&d, 4500, &out));
    assert_int_equal(out.ms, 400);
    /* A limit that went back (no newer confirmation) never gives an older point than the last one... */
    assert_true(trim_delay_pick(&d, 100, &out) == false || out.ms == 400);
    /* ... and a later one moves on, up to the newest sample. */
    assert_true(trim_delay_pick(&d, 1000000, &out));
    assert_int_equal(out.ms, 1000);
    assert_int_equal(d.n, 1);
    trim_delay_free(&d);

    /* While ClickHouse is not confirmed, samples pile up one per tick; past the cap the newest is replaced, so
     * the oldest ones, which the first trim after the confirmation uses, stay. */
    for (uint64_t t = 1; t <= 10000; t++)
        assert_int_equal(trim_delay_push(&d, t, (stream_id){t, 0}), 0);
    assert_true(d.n <= 4096);
    assert_true(trim_delay_pick(&d, 2, &out));
    assert_int_equal(out.ms, 2);
    assert_true(trim_delay_pick(&d, 10000, &out));
    assert_int_equal(out.ms, 10000);
    trim_delay_free(&d);
}

/* The recovery's Lua scripts against a real Redis: who recovers, what is copied, and a recovery that a writer
 * abandons midway finished by another. */
static redisReply *guard_eval(redisContext *c, const char *script, const char *me, const char *start)
{
    if (script == ch_guard_check_script)
        return redisCommand(c, "EVAL %s 2 t:guard t:events %s 2 %s 30000 clickhouse", script, start, me);
    return redisCommand(c, "EVAL %s 2 t:guard t:events %s 100 30000 %s 2 dup", script, me, start);
}

static void assert_status(redisReply *r, const char *want)
{
    assert_non_null(r);
    assert_true(r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

/* {word, n} */
static void assert_pair(redisReply *r, const char *word, long long n)
{
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, word);
    if (r->element[1]->type == REDIS_REPLY_INTEGER)
        assert_int_equal(r->element[1]->integer, n);
    freeReplyObject(r);
}

static void test_guard_scripts(void **state)
{
    (void)state;
    char *dir = temp_dir();
    int port = test_free_port();
    pid_t redis = test_redis_start(port, dir);
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);

    /* No stream yet: the first start time seen is recorded, nothing to recover; a second within 2 s is the same. */
    assert_status(guard_eval(c, ch_guard_check_script, "w1", "1000"), "ok");
    assert_status(guard_eval(c, ch_guard_check_script, "w1", "1002"), "ok");
    /* A restart before the group has read anything: recorded, nothing copied. */
    freeReplyObject(redisCommand(c, "XGROUP CREATE t:events clickhouse 0 MKSTREAM"));
    assert_status(guard_eval(c, ch_guard_check_script, "w2", "1100"), "ok");

    /* 250 entries, every fifth one flagged dup=1, the first 230 delivered to the writers' group. */
    for (int i = 0; i < 250; i++) {
        redisReply *r = i % 5 ? redisCommand(c, "XADD t:events * bid b%d n 1 rows r%d", i, i)
                              : redisCommand(c, "XADD t:events * bid b%d n 1 rows r%d dup 1", i, i);
        freeReplyObject(r);
    }
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP clickhouse w1 COUNT 230 STREAMS t:events >"));

    /* ClickHouse restarted: w1 takes the lock, w2 is told to wait, a copy by w2 is refused. */
    redisReply *r = guard_eval(c, ch_guard_check_script, "w1", "1200");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "recover");
    assert_string_equal(r->element[1]->str, "1100");
    freeReplyObject(r);
    assert_status(guard_eval(c, ch_guard_check_script, "w2", "1200"), "busy");
    assert_pair(guard_eval(c, ch_guard_copy_script, "w2", "1200"), "lost", 0);
    /* w1 copies a first chunk, then stops answering: once its lock expires, w2 takes over where it stopped. */
    assert_pair(guard_eval(c, ch_guard_copy_script, "w1", "1200"), "more", 100);
    freeReplyObject(redisCommand(c, "HSET t:guard until 0"));
    r = guard_eval(c, ch_guard_check_script, "w2", "1201");
    assert_string_equal(r->element[0]->str, "recover");
    freeReplyObject(r);
    assert_pair(guard_eval(c, ch_guard_copy_script, "w1", "1200"), "lost", 0);
    /* A copy under another restart's start time starts over at the next check. */
    assert_pair(guard_eval(c, ch_guard_copy_script, "w2", "1300"), "again", 0);
    assert_pair(guard_eval(c, ch_guard_copy_script, "w2", "1201"), "more", 100);
    assert_pair(guard_eval(c, ch_guard_copy_script, "w2", "1201"), "done", 30);
    assert_status(guard_eval(c, ch_guard_check_script, "w1", "1200"), "ok");
    r = redisCommand(c, "HGETALL t:guard");
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "start");
    assert_string_equal(r->element[1]->str, "1200");
    freeReplyObject(r);

    /* Exactly the 230 delivered entries were copied once, in order, every field kept but dup, which is 2. */
    r = redisCommand(c, "XRANGE t:events - +");
    assert_int_equal(r->elements, 250 + 230);
    for (size_t i = 250; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        char want[16];
        snprintf(want, sizeof want, "b%zu", i - 250);
        assert_int_equal(f->elements, 8);
        assert_string_equal(f->element[0]->str, "bid");
        assert_string_equal(f->element[1]->str, want);
        snprintf(want, sizeof want, "r%zu", i - 250);
        assert_string_equal(f->element[5]->str, want);
        assert_string_equal(f->element[6]->str, "dup");
        assert_string_equal(f->element[7]->str, "2");
    }
    freeReplyObject(r);

    redisFree(c);
    test_redis_stop(redis);
    remove_dir(dir);
    free(dir);
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
        cmocka_unit_test(test_stream_ids),
        cmocka_unit_test(test_query_id),
        cmocka_unit_test(test_received_at),
        cmocka_unit_test(test_present_sql),
        cmocka_unit_test(test_running_sql),
        cmocka_unit_test(test_trim_point),
        cmocka_unit_test(test_trim_delay),
        cmocka_unit_test(test_guard_scripts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
