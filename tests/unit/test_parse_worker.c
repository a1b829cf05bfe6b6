/* Unit tests: a batch parsed on libuv's threadpool (parse_worker) is the batch parsed on the loop: the same
 * events, fields, errors and rendered rows, for the large bodies that ingestd sends there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <uv.h>

#include "batch_parse.h"
#include "event_row.h"
#include "parse_worker.h"

/* A large JSON array of tracker-like events: escapes, raw CP1252 bytes, a NUL byte (parsed from a stripped copy),
 * duplicate keys, numbers as strings, nested values, maps for the sessions. */
static bytebuf big_json_body(size_t nevents)
{
    bytebuf b = {0};
    bytebuf_append(&b, "[", 1);
    for (size_t i = 0; i < nevents; i++) {
        bytebuf_appendf(&b,
                        "%s{\"type\": \"%s\", \"timestamp\": \"%zu.050\", \"session_id\": \"sess_%zu\", "
                        "\"player_guid\": \"%zu\", \"player_name\": \"M\xFCller \\\"%zu\\\"\", \"message\": "
                        "\"\\u00e9t\\u00e9 ^1gg\\\\wp %zu\", \"damage\": \"%zu.5\", \"damage\": %zu, \"extra\": "
                        "{\"a\": [1, 2, {\"b\": null}]}%s}",
                        i ? ", " : "", i % 3 ? "player_say" : "kill", 100 + i, i % 7, i, i, i, i, i,
                        i % 50 == 0 ? ", \"map\": \"obj/obj_team2\"" : "");
        if (i == nevents / 2)
            bytebuf_append(&b, "\0", 1);
    }
    bytebuf_append(&b, "]", 1);
    return b;
}

typedef struct {
    int rc;
    bool done;
    unsigned order; /* 1 for the first parse done, 2 for the second... */
} parse_result;

static unsigned ndone;

static void on_done(int rc, void *arg)
{
    parse_result *r = arg;
    r->rc = rc;
    r->done = true;
    r->order = ++ndone;
}

/* The session maps the renderer reads and updates, one map for every session (enough to see that both batches
 * resolve them alike). */
typedef struct {
    char map[64];
    size_t len;
} one_map;

static const char *map_get(void *arg, const char *session, size_t session_len, size_t *len)
{
    (void)session, (void)session_len;
    one_map *m = arg;
    *len = m->len;
    return m->len ? m->map : NULL;
}

static void map_set(void *arg, const char *session, size_t session_len, const char *map, size_t len)
{
    (void)session, (void)session_len;
    one_map *m = arg;
    m->len = len < sizeof m->map ? len : sizeof m->map;
    memcpy(m->map, map, m->len);
}

/* The rows of b without their first column (the event id, a random UUID). */
static bytebuf rows_of(const batch *b)
{
    one_map m = {{0}, 0};
    event_context ctx = {.server_id = "srv-1", .received_ms = 1767225600123, .maps = {map_get, map_set, &m}};
    bytebuf rows = {0}, out = {0};
    for (size_t i = 0; i < b->nevents; i++) {
        event_summary sum;
        rows.len = 0;
        assert_int_equal(event_row_render(b, &b->events[i], &ctx, &rows, &sum), 0);
        const char *tab = memchr(rows.data, '\t', rows.len);
        assert_non_null(tab);
        bytebuf_append(&out, tab, rows.len - (size_t)(tab - rows.data));
    }
    bytebuf_free(&rows);
    return out;
}

/* Parse body on the loop and on the threadpool; both must agree in everything. */
static void assert_same_parse(const char *body, size_t len, size_t max_events, int expect_rc)
{
    batch here = {0}, there = {0};
    int rc = batch_parse_max(body, len, max_events, &here);
    assert_int_equal(rc, expect_rc);

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    parse_pool *pool = parse_pool_new(&loop, 2);
    assert_non_null(pool);
    parse_work w;
    parse_result r = {0};
    parse_work_start(pool, &w, body, len, max_events, &there, on_done, &r);
    assert_false(r.done); /* never called before the loop runs */
    uv_run(&loop, UV_RUN_DEFAULT);
    parse_pool_free(pool);
    assert_true(r.done);
    assert_int_equal(r.rc, rc);
    assert_int_equal(uv_loop_close(&loop), 0);

    assert_string_equal(here.error, there.error);
    assert_int_equal(here.nevents, there.nevents);
    assert_int_equal(here.nfields, there.nfields);
    for (size_t i = 0; i < here.nfields; i++) {
        const batch_field *a = &here.fields[i], *b = &there.fields[i];
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->key_len, b->key_len);
        assert_memory_equal(a->key, b->key, a->key_len);
        assert_int_equal(a->val_len, b->val_len);
        if (a->val_len)
            assert_memory_equal(a->val, b->val, a->val_len);
    }
    if (rc == 0) {
        bytebuf ra = rows_of(&here), rb = rows_of(&there);
        assert_int_equal(ra.len, rb.len);
        assert_memory_equal(ra.data, rb.data, ra.len);
        bytebuf_free(&ra);
        bytebuf_free(&rb);
    }
    batch_free(&here);
    batch_free(&there);
}

static void test_large_json(void **state)
{
    (void)state;
    bytebuf b = big_json_body(500);
    assert_true(b.len > 64 * 1024);
    assert_same_parse(b.data, b.len, 500, 0);
    bytebuf_free(&b);
}

static void test_too_many_events(void **state)
{
    (void)state;
    bytebuf b = big_json_body(501);
    assert_same_parse(b.data, b.len, 500, -E2BIG);
    bytebuf_free(&b);
    /* 1 MiB of "a=1" lines: refused at the 501st. */
    size_t len = 1024 * 1024;
    char *form = malloc(len);
    assert_non_null(form);
    for (size_t i = 0; i < len; i += 4)
        memcpy(form + i, "a=1\n", 4);
    assert_same_parse(form, len, 500, -E2BIG);
    free(form);
}

static void test_malformed_at_the_end(void **state)
{
    (void)state;
    bytebuf b = big_json_body(400);
    b.data[b.len - 1] = '}';
    assert_same_parse(b.data, b.len, 500, -EINVAL);
    bytebuf_free(&b);
}

/* Many parses at once, more than the pool lets run: each gets its own result, and with one running at a time they
 * end in the order they were started. */
static void many_at_once(unsigned max_running)
{
    enum { N = 12 };
    bytebuf good = big_json_body(300), bad = big_json_body(300);
    bad.data[bad.len / 3] = '#';
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    parse_pool *pool = parse_pool_new(&loop, max_running);
    assert_non_null(pool);
    parse_work w[N];
    batch out[N];
    parse_result r[N];
    memset(out, 0, sizeof out);
    memset(r, 0, sizeof r);
    ndone = 0;
    for (int i = 0; i < N; i++) {
        const bytebuf *body = i % 3 == 2 ? &bad : &good;
        parse_work_start(pool, &w[i], body->data, body->len, 500, &out[i], on_done, &r[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++) {
        assert_true(r[i].done);
        assert_int_equal(r[i].rc, i % 3 == 2 ? -EINVAL : 0);
        if (i % 3 != 2)
            assert_int_equal(out[i].nevents, 300);
        if (max_running == 1)
            assert_int_equal(r[i].order, (unsigned)i + 1);
        batch_free(&out[i]);
    }
    parse_pool_free(pool);
    assert_int_equal(uv_loop_close(&loop), 0);
    bytebuf_free(&good);
    bytebuf_free(&bad);
}

static void test_many_at_once(void **state)
{
    (void)state;
    many_at_once(2);
    many_at_once(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_json),
        cmocka_unit_test(test_too_many_events),
        cmocka_unit_test(test_malformed_at_the_end),
        cmocka_unit_test(test_many_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
