/* dbclients_clickhouse: the ClickHouse client of common/ against a real server (CLICKHOUSE_URL); exit 0 only if every
 * check passes. Part of tests/integration/test_dbclients.sh; the step runner is dbclients_steps.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clickhouse.h"
#include "probe.h"

#include "dbclients_steps.h"

static const char *ch_url;

/* Hex of len bytes of s, uppercase like ClickHouse's hex(). */
static char *hex(const char *s, size_t len)
{
    char *out = malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02X", (unsigned char)s[i]);
    out[len * 2] = '\0';
    return out;
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

static const step_fn ch_steps[] = {ch_sync,          ch_probe_ok,       ch_create,         ch_insert_tsv,
                                   ch_select_back,   ch_quoted_literal, ch_bad_sql,        ch_stream,
                                   ch_stream_count,  ch_drop,           ch_timeout,        ch_free_inflight,
                                   ch_refused_probe, ch_refused_query,  ch_bad_user_probe, ch_cleanup};

int main(void)
{
    ch_url = getenv("CLICKHOUSE_URL");
    return dbclients_run("CLICKHOUSE_URL", ch_url, ch_steps, sizeof ch_steps / sizeof *ch_steps, NULL);
}
