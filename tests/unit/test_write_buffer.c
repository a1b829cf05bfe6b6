/* Unit tests: the writer's buffer takes stream entries as ingestd wrote them, of today's row format and of the one
 * before actor_country (an entry older than the upgrade to schemas/clickhouse/0009_countries.sql), which it gives
 * the missing column so that both insert with the columns of today; and which inserts the running check of the set's
 * uncertain entries waits for (I4 a, b in ingestd/stream_writer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "raw_row.h"
#include "write_buffer.h"

static redisReply *string_reply(const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = REDIS_REPLY_STRING;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

static redisReply *array_reply(size_t n)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n, sizeof *r->element);
    assert_non_null(r->element);
    return r;
}

/* An XREADGROUP entry [id, [bid, ..., n, ..., rows, ..., dup, "0"]] as ingestd/stream.c writes it. */
static redisReply *entry_reply(const char *id, const char *bid, const char *n, const char *rows)
{
    redisReply *e = array_reply(2), *f = array_reply(8);
    const char *kv[8] = {"bid", bid, "n", n, "rows", rows, "dup", "0"};
    for (int i = 0; i < 8; i++)
        f->element[i] = string_reply(kv[i]);
    e->element[0] = string_reply(id);
    e->element[1] = f;
    return e;
}

/* A row of the given number of columns: received_at is a time, the others short text. */
static void append_row(char *out, int ncols, const char *raw)
{
    for (int i = 0; i < ncols; i++) {
        const char *v = i == RC_RECEIVED_AT ? "1764000000" : i == RC_RAW ? raw : "x";
        strcat(out, v);
        strcat(out, i + 1 < ncols ? "\t" : "\n");
    }
}

static void test_row_formats(void **state)
{
    write_buffer b;
    assert_int_equal(write_buffer_init(&b, "test:events", "test:events:dead"), 0);
    const char *bid1 = "0b1e8d4e-6a7f-4d2b-9c1a-1f2e3d4c5b6a", *bid2 = "1b1e8d4e-6a7f-4d2b-9c1a-1f2e3d4c5b6a";

    /* Today's rows are taken as they are. */
    char now_rows[4096] = "";
    append_row(now_rows, RC__COUNT, "{\"a\": 1}");
    append_row(now_rows, RC__COUNT, "{\"a\": 2}");
    redisReply *r = entry_reply("1-0", bid1, "2", now_rows);
    wentry *e = write_buffer_add(&b, r, 1000, 1000, false);
    assert_non_null(e);
    assert_false(e->dead);
    assert_int_equal(e->nevents, 2);
    assert_int_equal(e->rows_len, strlen(now_rows));
    assert_memory_equal(e->rows, now_rows, e->rows_len);
    freeReplyObject(r);

    /* Rows of the previous format get an empty actor_country: a tab before each newline, nothing else. */
    char old_rows[4096] = "";
    append_row(old_rows, RC__COUNT - 1, "{\"b\": 1}");
    append_row(old_rows, RC__COUNT - 1, "{\"b\": 2}");
    r = entry_reply("2-0", bid2, "2", old_rows);
    e = write_buffer_add(&b, r, 1000, 1000, false);
    assert_non_null(e);
    assert_false(e->dead);
    assert_int_equal(e->nevents, 2);
    assert_int_equal(e->received_s, 1764000000);
    assert_true(raw_row_previous_format(old_rows, strlen(old_rows)));
    assert_int_equal(e->rows_len, strlen(old_rows) + 2);
    assert_false(raw_row_previous_format(e->rows, e->rows_len));
    char *line = strndup(e->rows, e->rows_len);
    char *second = strchr(line, '\n');
    assert_non_null(second);
    *second++ = '\0';
    for (char *l = line; l; l = l == line ? second : NULL) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        char *f[RC__COUNT];
        assert_int_equal(raw_row_split(l, strlen(l), f, NULL), 0);
        assert_string_equal(f[RC_ACTOR_COUNTRY], "");
        assert_string_equal(f[RC_RAW], l == line ? "{\"b\": 1}" : "{\"b\": 2}");
    }
    free(line);
    freeReplyObject(r);
    write_buffer_close(&b);
}

/* Buffer an entry with id "<ms>-0" of one row, read with '>' (taken_over false) or taken over. */
static wentry *add_one(write_buffer *b, unsigned ms, bool taken_over)
{
    char id[32], bid[40], rows[4096] = "";
    snprintf(id, sizeof id, "%u-0", ms);
    snprintf(bid, sizeof bid, "%08x-6a7f-4d2b-9c1a-1f2e3d4c5b6a", ms);
    append_row(rows, RC__COUNT, "{}");
    redisReply *r = entry_reply(id, bid, "1", rows);
    wentry *e = write_buffer_add(b, r, 1000, 1000, taken_over);
    freeReplyObject(r);
    assert_non_null(e);
    return e;
}

/* Whether r is exactly [lo-0, hi-0]. */
static bool range_is(writer_range r, unsigned lo, unsigned hi)
{
    return r.lo.ms == lo && r.lo.seq == 0 && r.hi.ms == hi && r.hi.seq == 0;
}

static void test_running_ranges(void **state)
{
    write_buffer b;
    assert_int_equal(write_buffer_init(&b, "test:events", "test:events:dead"), 0);
    writer_range any, own;

    /* Entries read with '>' are certain; taken over (XAUTOCLAIM, or a re-read of our pending list) they are foreign. */
    wentry *r1 = add_one(&b, 10, false), *c1 = add_one(&b, 20, true), *r2 = add_one(&b, 30, false);
    wentry *r3 = add_one(&b, 40, false), *c2 = add_one(&b, 50, true);
    assert_false(r1->foreign || r1->taken_over);
    assert_true(c1->foreign && c1->taken_over);

    /* Nothing in the set: no check. */
    write_buffer_running_ranges(&b, &any, &own);
    assert_true(writer_range_empty(any) && writer_range_empty(own));

    /* A fresh set of entries we read ourselves needs no check either. */
    r1->state = r2->state = r3->state = E_SET;
    write_buffer_running_ranges(&b, &any, &own);
    assert_true(writer_range_empty(any) && writer_range_empty(own));

    /* After an insert of ours whose outcome is unknown (I4 b) they wait for our inserts only; the taken-over ones
     * for anyone's, each over its own range. */
    r1->taken_over = r2->taken_over = r3->taken_over = true;
    c1->state = c2->state = E_SET;
    write_buffer_running_ranges(&b, &any, &own);
    assert_true(range_is(own, 10, 40));
    assert_true(range_is(any, 20, 50));

    /* Entries not inserted (found present, carried by another entry, dead) or only checked for presence
     * (owners_wait) hold the insert up for nothing: left out. */
    r1->skip = true;
    c2->owners_wait = true;
    r3->dead = true;
    write_buffer_running_ranges(&b, &any, &own);
    assert_true(range_is(own, 30, 30));
    assert_true(range_is(any, 20, 20));

    /* Entries outside the set are not checked now. */
    c1->state = E_NEW;
    write_buffer_running_ranges(&b, &any, &own);
    assert_true(writer_range_empty(any));
    assert_true(range_is(own, 30, 30));
    write_buffer_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_formats),
        cmocka_unit_test(test_running_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
