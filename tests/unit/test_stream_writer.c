/* Unit tests: the stream writer's pure logic (ids, query_ids, dedupe and running-insert SQL, trim point, the
 * retention's trim delay) and its guard scripts on a real Redis. The spool's tests are test_spool.c. */
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
#include "stream.h"
#include "stream_trimmer.h"
#include "stream_writer.h"
#include "temp_dir.h"
#include "writer_sql.h"

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
        cmocka_unit_test(test_stream_ids),  cmocka_unit_test(test_query_id),      cmocka_unit_test(test_received_at),
        cmocka_unit_test(test_present_sql), cmocka_unit_test(test_running_sql),   cmocka_unit_test(test_trim_point),
        cmocka_unit_test(test_trim_delay),  cmocka_unit_test(test_guard_scripts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
