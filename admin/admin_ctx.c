/* What every admin action shares: blocking ClickHouse statements, confirmation, and the action log. */
#include "admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "log.h"

#define MUTATION_WAIT_S (24 * 3600) /* give up waiting for ClickHouse's mutations after this */

typedef struct {
    int err;
    char *body;
} sync_answer;

/* Keep one statement's answer and free the client, which lets the private loop end. */
static void on_answer(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    sync_answer *ans = arg;
    ans->err = err;
    ans->body = malloc(len + 1);
    if (ans->body) {
        memcpy(ans->body, body, len);
        ans->body[len] = '\0';
    }
    ch_client_free(c);
}

int admin_ch(const admin_ctx *a, const char *sql, char **out)
{
    uv_loop_t loop;
    sync_answer ans = {.err = -ENOMEM, .body = NULL};
    if (out)
        *out = NULL;
    if (uv_loop_init(&loop))
        return -ENOMEM;
    /* Our own client, not ch_query_sync: building a month's staging table takes longer than its 30 s. */
    ch_client *c = ch_client_new(&loop, a->clickhouse_url, a->timeout_ms);
    if (c) {
        int rc = ch_query(c, sql, on_answer, &ans);
        if (rc) {
            ans.err = rc;
            ch_client_free(c);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    if (ans.err)
        log_error("ClickHouse refused or did not answer (%d): %.500s; statement: %.300s", ans.err,
                  ans.body ? ans.body : "", sql);
    if (out)
        *out = ans.body;
    else
        free(ans.body);
    return ans.err;
}

/* Format a statement into a malloc'd string. */
static char *vformat(const char *fmt, va_list ap)
{
    char *sql = NULL;
    if (vasprintf(&sql, fmt, ap) < 0)
        return NULL;
    return sql;
}

int admin_chf(const admin_ctx *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = vformat(fmt, ap);
    va_end(ap);
    if (!sql)
        return -ENOMEM;
    int rc = admin_ch(a, sql, NULL);
    free(sql);
    return rc;
}

int admin_ch_count(const admin_ctx *a, long long *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = vformat(fmt, ap);
    va_end(ap);
    if (!sql)
        return -ENOMEM;
    char *out = NULL;
    int rc = admin_ch(a, sql, &out);
    free(sql);
    if (rc == 0)
        *value = out ? strtoll(out, NULL, 10) : 0;
    free(out);
    return rc;
}

int admin_record(const admin_ctx *a, const char *action, const char *detail)
{
    log_info("%s by %s: %s", action, a->who, detail);
    bytebuf b = {0};
    int rc = bytebuf_appendf(&b, "INSERT INTO admin_actions (at, who, action, detail) VALUES (now(), ") ? -ENOMEM : 0;
    rc = rc ? rc : ch_append_quoted(&b, a->who, strlen(a->who));
    rc = rc ? rc : (bytebuf_appendf(&b, ", ") ? -ENOMEM : 0);
    rc = rc ? rc : ch_append_quoted(&b, action, strlen(action));
    rc = rc ? rc : (bytebuf_appendf(&b, ", ") ? -ENOMEM : 0);
    rc = rc ? rc : ch_append_quoted(&b, detail, strlen(detail));
    rc = rc ? rc : (bytebuf_appendf(&b, ")") ? -ENOMEM : 0);
    if (rc == 0)
        rc = admin_ch(a, b.data, NULL);
    bytebuf_free(&b);
    return rc;
}

bool admin_confirm(const admin_ctx *a, const char *question)
{
    if (a->yes)
        return true;
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}

int admin_wait_mutations(const admin_ctx *a, const char *since)
{
    for (int waited_ms = 0;; waited_ms += 200) {
        long long left = 0;
        int rc =
            admin_ch_count(a, &left,
                           "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND NOT is_done\n"
                           "  AND create_time >= toDateTime('%s')",
                           since);
        if (rc || left == 0)
            return rc;
        if (waited_ms && waited_ms % 60000 == 0)
            log_info("waiting for %lld of ClickHouse's mutations (system.mutations) for %d s", left, waited_ms / 1000);
        if (waited_ms / 1000 >= MUTATION_WAIT_S) {
            log_error("ClickHouse's mutations are still running after %d s (system.mutations): nothing more done; run "
                      "the action again once they are",
                      MUTATION_WAIT_S);
            return -ETIMEDOUT;
        }
        usleep(200 * 1000);
    }
}
