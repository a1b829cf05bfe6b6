/* Exercise the four database clients against real servers on one libuv loop; exit 0 only if every check passes.
 * Reads CLICKHOUSE_URL, REDIS_URL, POSTGRES_URL, MARIADB_URL (a missing one fails its checks). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "clickhouse.h"
#include "mariadb.h"
#include "pg.h"
#include "probe.h"
#include "redis_client.h"
#include "tool_check.h"

#define STEP_TIMEOUT_MS 30000

static uv_loop_t *loop;
static const char *ch_url, *redis_url, *pg_url, *mdb_url;
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

/* Hex of len bytes of s, uppercase like ClickHouse's hex(). */
static char *hex(const char *s, size_t len)
{
    char *out = malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02X", (unsigned char)s[i]);
    out[len * 2] = '\0';
    return out;
}

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
static uv_timer_t poll_timer;
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

/* Probe outcome for the probes below: arg says whether success is expected. */
static void on_probe(void *token, bool ok, const char *detail)
{
    const char *what = token;
    bool want_ok = what[0] != '!';
    /* The failing probes all point at a closed port: the reason must say so. */
    check(ok == want_ok && (ok || (detail && strcmp(detail, "connection refused") == 0)), "%s probe: %s%s%s",
          what + !want_ok, ok ? "ok" : "not ok: ", ok ? "" : detail, ok == want_ok ? "" : " (unexpected)");
    step_done();
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

/* ============================== ClickHouse ============================== */

static ch_client *ch;

typedef struct {
    const char *what;
    int want_err;
    const char *want_body; /* exact body, or NULL */
    const char *want_sub;  /* substring of the body, or NULL */
} ch_expect;

/* Compare a ClickHouse answer with what the step expected. */
static void on_ch_result(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    ch_expect *e = arg;
    bool ok = err == e->want_err;
    if (e->want_body)
        ok = ok && len == strlen(e->want_body) && memcmp(body, e->want_body, len) == 0;
    if (e->want_sub)
        ok = ok && strstr(body, e->want_sub) != NULL;
    check(ok, "clickhouse: %s (err %d, HTTP %ld, body %.120s%s)", e->what, err, status, body, len > 120 ? "..." : "");
    free(e);
    step_done();
}

/* Queue one query whose answer is checked against the expectation. */
static void ch_expect_query(ch_client *c, const char *what, const char *sql, int want_err, const char *want_body,
                            const char *want_sub)
{
    ch_expect *e = malloc(sizeof *e);
    *e = (ch_expect){what, want_err, want_body, want_sub};
    if (ch_query(c, sql, on_ch_result, e) != 0) {
        check(false, "clickhouse: %s: not queued", what);
        free(e);
        step_done();
    }
}

static void ch_sync(void)
{
    step_name = "clickhouse sync";
    char *out = NULL;
    int rc2 = ch_query_sync(ch_url, "SELECT 40 + 2", &out);
    check(rc2 == 0 && out && strcmp(out, "42\n") == 0, "clickhouse: ch_query_sync SELECT 40 + 2 -> %s",
          out ? out : "(null)");
    free(out);
    rc2 = ch_query_sync(ch_url, "SELEC 1", &out);
    check(rc2 == -EPROTO && out && strstr(out, "Syntax error"), "clickhouse: ch_query_sync reports the server error");
    free(out);
    ch = ch_client_new(loop, ch_url, 10000);
    check(ch != NULL, "clickhouse: client for CLICKHOUSE_URL");
    step_done();
}

static void ch_probe_ok(void)
{
    step_name = "clickhouse probe";
    ch_probe(ch, "clickhouse", on_probe);
}

static void ch_create(void)
{
    step_name = "clickhouse create";
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id UInt32, s String) ENGINE = MergeTree ORDER BY id", table);
    ch_expect_query(ch, "CREATE TABLE", sql, 0, "", NULL);
}

static void ch_insert_tsv(void)
{
    step_name = "clickhouse insert";
    static bytebuf data; /* must live until the callback: ch_insert does not copy */
    bytebuf_free(&data);
    for (int i = 1; i <= 3; i++) {
        bytebuf_appendf(&data, "%d\t", i);
        ch_append_tsv(&data, tricky, i == 3 ? 0 : sizeof tricky); /* with the NUL; row 3 empty */
        bytebuf_append(&data, "\n", 1);
    }
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO %s FORMAT TabSeparated", table);
    ch_expect *e = malloc(sizeof *e);
    *e = (ch_expect){"INSERT of TSV-escaped rows", 0, "", NULL};
    ch_insert(ch, sql, data.data, data.len, on_ch_result, e);
}

static void ch_select_back(void)
{
    step_name = "clickhouse select";
    char sql[256], *h = hex(tricky, sizeof tricky);
    static char want[512];
    snprintf(want, sizeof want, "1\t%s\n2\t%s\n3\t\n", h, h);
    free(h);
    snprintf(sql, sizeof sql, "SELECT id, hex(s) FROM %s ORDER BY id", table);
    ch_expect_query(ch, "rows read back byte for byte", sql, 0, want, NULL);
}

static void ch_quoted_literal(void)
{
    step_name = "clickhouse literal";
    bytebuf sql = {0};
    bytebuf_append(&sql, "SELECT hex(", 11);
    ch_append_quoted(&sql, tricky, sizeof tricky);
    bytebuf_append(&sql, ")", 1);
    static char want[256];
    char *h = hex(tricky, sizeof tricky);
    snprintf(want, sizeof want, "%s\n", h);
    free(h);
    ch_expect_query(ch, "quoted literal survives the SQL parser", sql.data, 0, want, NULL);
    bytebuf_free(&sql); /* ch_query copies the SQL */
}

static void ch_bad_sql(void)
{
    step_name = "clickhouse bad sql";
    ch_expect_query(ch, "bad SQL gives -EPROTO with the server's text", "SELEC 1", -EPROTO, NULL, "Syntax error");
}

/* Streamed insert: rows produced on demand, in pieces no larger than curl asks for. */
static int stream_row, stream_rows = 20000;
static char stream_pending[64];
static size_t stream_pending_len, stream_pending_off;
static size_t stream_read(char *buf, size_t size, void *arg)
{
    size_t n = 0;
    while (n < size) {
        if (stream_pending_off == stream_pending_len) {
            if (stream_row >= stream_rows)
                break;
            stream_row++;
            stream_pending_len =
                (size_t)snprintf(stream_pending, sizeof stream_pending, "%d\trow %d\n", 1000 + stream_row, stream_row);
            stream_pending_off = 0;
        }
        size_t k = stream_pending_len - stream_pending_off;
        if (k > size - n)
            k = size - n;
        memcpy(buf + n, stream_pending + stream_pending_off, k);
        n += k;
        stream_pending_off += k;
    }
    return n;
}

static void ch_stream(void)
{
    step_name = "clickhouse stream insert";
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO %s FORMAT TabSeparated", table);
    ch_expect *e = malloc(sizeof *e);
    *e = (ch_expect){"streamed (chunked) INSERT of 20000 rows", 0, "", NULL};
    ch_insert_stream(ch, sql, stream_read, NULL, on_ch_result, e);
}

static void ch_stream_count(void)
{
    step_name = "clickhouse stream count";
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(), sum(id) FROM %s WHERE id > 1000", table);
    /* ids 1001..21000: sum = 20000 * (1001 + 21000) / 2 */
    ch_expect_query(ch, "streamed rows all arrived", sql, 0, "20000\t220010000\n", NULL);
}

static void ch_drop(void)
{
    step_name = "clickhouse drop";
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    ch_expect_query(ch, "DROP TABLE", sql, 0, "", NULL);
}

static ch_client *ch_short;
static void ch_timeout(void)
{
    step_name = "clickhouse timeout";
    ch_short = ch_client_new(loop, ch_url, 300);
    ch_expect_query(ch_short, "request over the timeout gives -ETIMEDOUT", "SELECT sleep(2)", -ETIMEDOUT, NULL, NULL);
}

/* Freeing with a request in flight cancels it. */
static bool ch_cancel_seen;
static void on_ch_cancelled(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    ch_cancel_seen = err == -ECANCELED;
}

static void ch_free_inflight(void)
{
    step_name = "clickhouse free in flight";
    ch_client_free(ch_short);
    ch_short = NULL;
    ch_query(ch, "SELECT sleep(1)", on_ch_cancelled, NULL);
    check(ch_client_inflight(ch) == 1, "clickhouse: one request in flight");
    ch_client_free(ch);
    ch = NULL;
    check(ch_cancel_seen, "clickhouse: free cancels requests in flight with -ECANCELED");
    step_done();
}

static ch_client *ch_refused;
static void ch_refused_probe(void)
{
    step_name = "clickhouse refused";
    ch_refused = ch_client_new(loop, "http://127.0.0.1:1/", 2000);
    ch_probe(ch_refused, "!clickhouse (port 1)", on_probe);
}

static void ch_refused_query(void)
{
    step_name = "clickhouse refused query";
    ch_expect_query(ch_refused, "transport failure gives -EIO", "SELECT 1", -EIO, NULL, NULL);
}

/* A server error reaches the probe as ClickHouse's message, shortened to one line. */
static void on_bad_user_probe(void *token, bool ok, const char *detail)
{
    check(!ok && detail && strstr(detail, "nobody_dbcheck") && !strstr(detail, "Code:") && !strchr(detail, '\n'),
          "clickhouse probe with an unknown user: not ok: %s", detail ? detail : "(null)");
    step_done();
}

static void ch_bad_user_probe(void)
{
    step_name = "clickhouse bad user";
    ch_client_free(ch_refused);
    char url[512];
    const char *hostpart = strstr(ch_url, "://");
    const char *at = strchr(hostpart, '@');
    snprintf(url, sizeof url, "http://nobody_dbcheck:x@%s", at ? at + 1 : hostpart + 3);
    ch_refused = ch_client_new(loop, url, 2000);
    ch_probe(ch_refused, NULL, on_bad_user_probe);
}

static void ch_cleanup(void)
{
    ch_client_free(ch_refused);
    ch_refused = NULL;
    step_done();
}

/* ============================== PostgreSQL ============================== */

static pg_pool *pg;
static int pg_left;

static void pg_start(void)
{
    step_name = "postgres start";
    pg = pg_pool_new(loop, pg_url, 3);
    check(pg != NULL, "postgres: pool for POSTGRES_URL");
    char err[256];
    PGresult *r = pg_exec_sync(pg_url, "SELECT $1::int * 2", 1, (const char *[]){"21"}, err, sizeof err);
    check(r && strcmp(PQgetvalue(r, 0, 0), "42") == 0, "postgres: pg_exec_sync with a parameter %s", r ? "" : err);
    PQclear(r);
    r = pg_exec_sync(pg_url, "SELEC 1", 0, NULL, err, sizeof err);
    check(!r && strstr(err, "syntax error"), "postgres: pg_exec_sync reports the server error: %s", err);
    step_done();
}

static void pg_probe_ok(void)
{
    step_name = "postgres probe";
    pg_probe(pg, "postgres", on_probe);
}

/* Parameters come back as sent: quotes, backslashes, NULL, high-bit bytes. */
static void on_pg_params(PGresult *res, const char *err, void *arg)
{
    bool ok = res && !err && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), tricky) == 0 &&
              strcmp(PQgetvalue(res, 0, 1), "t") == 0 && strcmp(PQgetvalue(res, 0, 2), "42") == 0;
    check(ok, "postgres: parameters incl. NULL and a quote-laden string round-trip %s", err ? err : "");
    step_done();
}

static void pg_params(void)
{
    step_name = "postgres params";
    /* PostgreSQL text cannot hold NUL: the string without its terminator is the whole value. */
    const char *params[] = {tricky, NULL, "41"};
    pg_query(pg, "SELECT $1::text, $2::text IS NULL, $3::int + 1", 3, params, on_pg_params, NULL);
}

/* Completion of one of the table steps: expect success. */
static void on_pg_ok(PGresult *res, const char *err, void *arg)
{
    check(res && !err, "postgres: %s %s", (const char *)arg, err ? err : "");
    if (--pg_left == 0)
        step_done();
}

static void pg_table(void)
{
    step_name = "postgres table";
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int PRIMARY KEY, s text)", table);
    pg_left = 1;
    pg_query(pg, sql, 0, NULL, on_pg_ok, "CREATE TABLE");
}

/* Many concurrent inserts through a pool of 3: all complete. */
static void pg_many(void)
{
    step_name = "postgres many";
    char sql[256], id[16];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES ($1, $2)", table);
    pg_left = 30;
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof id, "%d", i);
        const char *params[] = {id, i % 2 ? tricky : NULL};
        pg_query(pg, sql, 2, params, on_pg_ok, "INSERT through the pool");
    }
}

static void on_pg_count(PGresult *res, const char *err, void *arg)
{
    check(res && !err && strcmp(PQgetvalue(res, 0, 0), "30") == 0 && strcmp(PQgetvalue(res, 0, 1), "15") == 0,
          "postgres: 30 rows, 15 with the string intact");
    step_done();
}

static void pg_count(void)
{
    step_name = "postgres count";
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*), count(*) FILTER (WHERE s = $1) FROM %s", table);
    pg_query(pg, sql, 1, (const char *[]){tricky}, on_pg_count, NULL);
}

/* A bad statement: err has the server's message and res is still given. */
static void on_pg_bad(PGresult *res, const char *err, void *arg)
{
    check(res && err && strstr(err, "syntax error"), "postgres: bad SQL reports: %s", err ? err : "(no error)");
    step_done();
}

static void pg_bad(void)
{
    step_name = "postgres bad sql";
    pg_query(pg, "SELEC 1", 0, NULL, on_pg_bad, NULL);
}

/* Kill the pool's idle connections from outside: the next queries must reconnect transparently. */
static void pg_kill(void)
{
    step_name = "postgres kill";
    char err[256];
    PGresult *r = pg_exec_sync(pg_url,
                               "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                               "WHERE application_name = 'mohstats' AND pid <> pg_backend_pid()",
                               0, NULL, err, sizeof err);
    check(r && atoi(PQgetvalue(r, 0, 0)) >= 1, "postgres: terminated %s pool connection(s)",
          r ? PQgetvalue(r, 0, 0) : err);
    PQclear(r);
    step_done();
}

static void pg_after_kill(void)
{
    step_name = "postgres after kill";
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    pg_left = 1;
    pg_query(pg, sql, 0, NULL, on_pg_ok, "query after the server killed the connections");
}

/* A query still running when the pool is freed completes normally; the pool goes after it. */
static bool pg_late_seen;
static void on_pg_late(PGresult *res, const char *err, void *arg)
{
    pg_late_seen = res && !err;
}

static pg_pool *pg_refused;
static void pg_refused_probe(void)
{
    step_name = "postgres refused";
    pg_query(pg, "SELECT pg_sleep(0.2)", 0, NULL, on_pg_late, NULL);
    pg_pool_free(pg);
    pg = NULL;
    pg_refused = pg_pool_new(loop, "postgresql://nobody@127.0.0.1:1/x", 1);
    pg_probe(pg_refused, "!postgres (port 1)", on_probe);
}

static void pg_cleanup(void)
{
    pg_pool_free(pg_refused);
    pg_refused = NULL;
    step_done();
}

/* =============================== MariaDB =============================== */

static mdb_pool *mdb;
static int mdb_left;

static void mdb_start(void)
{
    step_name = "mariadb start";
    mdb = mdb_pool_new(loop, mdb_url, 3);
    check(mdb != NULL, "mariadb: pool for MARIADB_URL");
    char err[256];
    mdb_result *r = mdb_query_sync(mdb_url, "SELECT ? + 1 AS answer", 1, (const char *[]){"41"}, err, sizeof err);
    check(r && r->nrows == 1 && mdb_col(r, "ANSWER") == 0 && strcmp(mdb_cell(r, 0, 0), "42") == 0,
          "mariadb: mdb_query_sync with a parameter %s", r ? "" : err);
    mdb_result_free(r);
    step_done();
}

static void mdb_probe_ok(void)
{
    step_name = "mariadb probe";
    mdb_probe(mdb, "mariadb", on_probe);
}

static void on_mdb_ok(mdb_result *res, const char *err, void *arg)
{
    check(res != NULL, "mariadb: %s %s", (const char *)arg, err ? err : "");
    if (--mdb_left == 0)
        step_done();
}

static void mdb_table(void)
{
    step_name = "mariadb table";
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(200), n INT) "
             "CHARACTER SET utf8mb4",
             table);
    mdb_left = 1;
    mdb_query(mdb, sql, 0, NULL, on_mdb_ok, "CREATE TABLE");
}

static void on_mdb_insert(mdb_result *res, const char *err, void *arg)
{
    check(res && res->affected_rows == 1 && res->insert_id >= 1, "mariadb: INSERT with ? params (insert id %llu) %s",
          res ? res->insert_id : 0, err ? err : "");
    if (--mdb_left == 0)
        step_done();
}

static void mdb_insert(void)
{
    step_name = "mariadb insert";
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s (s, n) VALUES (?, ?) -- a comment? yes", table);
    mdb_left = 2;
    mdb_query(mdb, sql, 2, (const char *[]){tricky, "7"}, on_mdb_insert, NULL);
    mdb_query(mdb, sql, 2, (const char *[]){"'; DROP TABLE x; -- ?", NULL}, on_mdb_insert, NULL);
}

static void on_mdb_select(mdb_result *res, const char *err, void *arg)
{
    int s = res ? mdb_col(res, "s") : -1, n = res ? mdb_col(res, "n") : -1;
    bool ok = res && res->nrows == 2 && res->ncols == 3 && s == 1 && n == 2 &&
              strcmp(mdb_cell(res, 0, s), tricky) == 0 && strcmp(mdb_cell(res, 0, n), "7") == 0 &&
              strcmp(mdb_cell(res, 1, s), "'; DROP TABLE x; -- ?") == 0 && mdb_cell(res, 1, n) == NULL;
    check(ok, "mariadb: quotes, backslashes, high-bit bytes and NULL read back intact %s", err ? err : "");
    step_done();
}

static void mdb_select(void)
{
    step_name = "mariadb select";
    char sql[256];
    /* The two INSERTs ran concurrently through the pool, so their ids come in either order: sort by content. */
    snprintf(sql, sizeof sql, "SELECT id, s, n FROM %s WHERE s = ? OR s LIKE '%%DROP%%?' ORDER BY n IS NULL, id",
             table);
    mdb_query(mdb, sql, 1, (const char *[]){tricky}, on_mdb_select, NULL);
}

static void on_mdb_fail(mdb_result *res, const char *err, void *arg)
{
    check(!res && err && strstr(err, (const char *)arg), "mariadb: error reported: %s", err ? err : "(none)");
    if (--mdb_left == 0)
        step_done();
}

static void mdb_errors(void)
{
    step_name = "mariadb errors";
    mdb_left = 2;
    mdb_query(mdb, "SELEC 1", 0, NULL, on_mdb_fail, "SQL syntax");
    mdb_query(mdb, "SELECT ?, ?", 1, (const char *[]){"x"}, on_mdb_fail, "placeholders");
}

static void mdb_kill(void)
{
    step_name = "mariadb kill";
    char err[256];
    int killed = 0;
    mdb_result *r = mdb_query_sync(mdb_url,
                                   "SELECT id FROM information_schema.processlist "
                                   "WHERE user = substring_index(current_user(), '@', 1) AND id <> connection_id()",
                                   0, NULL, err, sizeof err);
    for (unsigned long long i = 0; r && i < r->nrows; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "KILL %s", mdb_cell(r, i, 0));
        mdb_result *k = mdb_query_sync(mdb_url, sql, 0, NULL, err, sizeof err);
        killed += k != NULL;
        mdb_result_free(k);
    }
    check(killed >= 1, "mariadb: killed %d pool connection(s)", killed);
    mdb_result_free(r);
    step_done_after(300); /* let the server close the sockets */
}

static void mdb_after_kill(void)
{
    step_name = "mariadb after kill";
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    mdb_left = 1;
    mdb_query(mdb, sql, 0, NULL, on_mdb_ok, "query after the server killed the connections");
}

/* A query still running when the pool is freed completes normally; the pool goes after it. */
static bool mdb_late_seen;
static void on_mdb_late(mdb_result *res, const char *err, void *arg)
{
    mdb_late_seen = res && !err;
}

static mdb_pool *mdb_refused;
static void mdb_refused_probe(void)
{
    step_name = "mariadb refused";
    mdb_query(mdb, "SELECT SLEEP(0.2)", 0, NULL, on_mdb_late, NULL);
    mdb_pool_free(mdb);
    mdb = NULL;
    mdb_refused = mdb_pool_new(loop, "mysql://nobody@127.0.0.1:1/x", 1);
    mdb_probe(mdb_refused, "!mariadb (port 1)", on_probe);
}

static void mdb_cleanup(void)
{
    mdb_pool_free(mdb_refused);
    mdb_refused = NULL;
    step_done();
}

/* ============================== main ============================== */

/* After the PostgreSQL loop drained: the query left running at pg_pool_free must have completed. */
static void pg_after_loop(void)
{
    check(pg_late_seen, "postgres: a query in flight at pg_pool_free still completed");
}

static void mdb_after_loop(void)
{
    check(mdb_late_seen, "mariadb: a query in flight at mdb_pool_free still completed");
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

int main(void)
{
    ch_url = getenv("CLICKHOUSE_URL");
    redis_url = getenv("REDIS_URL");
    pg_url = getenv("POSTGRES_URL");
    mdb_url = getenv("MARIADB_URL");
    snprintf(table, sizeof table, "dbclients_check_%d", (int)getpid());

    static const step_fn redis_steps[] = {
        redis_connect,       redis_set_get,       redis_pipeline,        redis_error_reply,
        redis_probe_ok,      redis_reconnect,     redis_after_reconnect, redis_close_with_pending,
        redis_refused_start, redis_refused_probe, redis_refused_close};
    static const step_fn ch_steps[] = {ch_sync,          ch_probe_ok,       ch_create,         ch_insert_tsv,
                                       ch_select_back,   ch_quoted_literal, ch_bad_sql,        ch_stream,
                                       ch_stream_count,  ch_drop,           ch_timeout,        ch_free_inflight,
                                       ch_refused_probe, ch_refused_query,  ch_bad_user_probe, ch_cleanup};
    static const step_fn pg_steps[] = {pg_start, pg_probe_ok, pg_params,     pg_table,         pg_many,   pg_count,
                                       pg_bad,   pg_kill,     pg_after_kill, pg_refused_probe, pg_cleanup};
    static const step_fn mdb_steps[] = {mdb_start,  mdb_probe_ok, mdb_table,      mdb_insert,        mdb_select,
                                        mdb_errors, mdb_kill,     mdb_after_kill, mdb_refused_probe, mdb_cleanup};
    struct {
        const char *name, *url;
        const step_fn *steps;
        size_t n;
        step_fn after_loop;
    } groups[] = {
        {"REDIS_URL", redis_url, redis_steps, sizeof redis_steps / sizeof *redis_steps, NULL},
        {"CLICKHOUSE_URL", ch_url, ch_steps, sizeof ch_steps / sizeof *ch_steps, NULL},
        {"POSTGRES_URL", pg_url, pg_steps, sizeof pg_steps / sizeof *pg_steps, pg_after_loop},
        {"MARIADB_URL", mdb_url, mdb_steps, sizeof mdb_steps / sizeof *mdb_steps, mdb_after_loop},
    };

    static uv_loop_t l;
    loop = &l;
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
        if (!groups[g].url || !*groups[g].url) {
            check(false, "%s is not set", groups[g].name);
            continue;
        }
        /* Each client gets a fresh loop run, which must end with every handle closed. */
        uv_loop_init(loop);
        uv_timer_init(loop, &step_timer);
        uv_timer_init(loop, &watchdog);
        uv_timer_init(loop, &poll_timer);
        uv_timer_start(&watchdog, on_watchdog, STEP_TIMEOUT_MS, 0);
        steps = groups[g].steps;
        nsteps = groups[g].n;
        step_i = 0;
        step_done();
        uv_run(loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&poll_timer, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        if (groups[g].after_loop)
            groups[g].after_loop();
        check(uv_loop_close(loop) == 0, "%s: every uv handle closed at the end", groups[g].name);
    }
    printf("%u passed, %u failed\n", tool_passed, tool_failed);
    return tool_failed ? 1 : 0;
}
