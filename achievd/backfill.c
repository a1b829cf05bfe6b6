/* Replaying a GUID's past from ClickHouse (backfill.h). */
#include "backfill.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "event_model.h"
#include "log.h"
#include "raw_row.h"

#define PAGE_ROWS 50000 /* rows per query: bounds the memory of one page (~300 bytes a row) */

/* Columns a replay does not read are sent empty: the rows are a third of their size. */
static const char *const unread_columns[] = {"raw",         "unknown_fields", "actor_name",
                                             "target_name", "type_sent",      "session_id"};

typedef struct {
    const char *guid;
    uint32_t member;
    backfill *b;
} replay;

/* Only the linked GUID, and only where it had no member of its own: those events were already credited. */
static uint32_t replay_member(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms)
{
    const replay *r = arg;
    (void)received_ms;
    return smf_id == 0 && strcmp(guid, r->guid) == 0 ? r->member : 0;
}

static void replay_write(void *arg, const ach_write *w)
{
    replay *r = arg;
    backfill *b = r->b;
    if (b->nwrites == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        backfill_write *n = realloc(b->writes, cap * sizeof *n);
        if (!n)
            return; /* the merge writes the same progress and unlocks, at the link's time */
        b->writes = n;
        b->cap = cap;
    }
    backfill_write *p = &b->writes[b->nwrites++];
    memset(p, 0, sizeof *p);
    p->member = w->member;
    snprintf(p->code, sizeof p->code, "%s", w->code);
    p->progress = w->progress;
    p->unlocked = w->unlocked;
    p->at_ms = w->at_ms;
    snprintf(p->match_key, sizeof p->match_key, "%s", w->match_key ? w->match_key : "");
    snprintf(p->guid, sizeof p->guid, "%s", w->guid ? w->guid : "");
}

int backfill_select_list(bytebuf *q)
{
    const char *s = raw_row_columns;
    int rc = 0;
    while (*s && rc == 0) {
        size_t len = strcspn(s, ",");
        bool unread = false;
        for (size_t i = 0; i < sizeof unread_columns / sizeof *unread_columns; i++)
            unread |= strlen(unread_columns[i]) == len && memcmp(unread_columns[i], s, len) == 0;
        if (unread)
            rc = bytebuf_append(q, "''", 2);
        else if (len == 11 && memcmp(s, "received_at", 11) == 0)
            rc = bytebuf_appendf(q, "toUInt32(received_at)");
        else
            rc = bytebuf_append(q, s, len);
        s += len;
        if (*s == ',') {
            rc |= bytebuf_append(q, ", ", 2);
            s++;
        }
        while (*s == ' ')
            s++;
    }
    return rc;
}

/* One page of the GUID's past, in the order the events happened. */
static char *page_sql(const char *guid, uint64_t until_ms, uint64_t offset)
{
    bytebuf q = {0};
    bytebuf g = {0};
    int rc = ch_append_quoted(&g, guid, strlen(guid));
    rc |= bytebuf_append(&q, "SELECT ", 7);
    rc |= backfill_select_list(&q);
    rc |= bytebuf_appendf(&q,
                          "\nFROM raw_events\n"
                          "WHERE toUInt64(received_at) * 1000 + received_ms <= %llu\n"
                          "  AND ((actor_guid = %s AND actor_smf_id = 0) OR (target_guid = %s AND target_smf_id = 0)\n"
                          "       OR (event_type IN (" EVT_SQL_MATCH_END ", " EVT_SQL_TEAM_WIN ", " EVT_SQL_ROUND_END
                          ") AND match_key IN\n"
                          "           (SELECT match_key FROM raw_events\n"
                          "            WHERE (actor_guid = %s AND actor_smf_id = 0) OR (target_guid = %s AND "
                          "target_smf_id = 0))))\n"
                          "ORDER BY received_at, received_ms, game_time\n"
                          "LIMIT %llu, %d\n"
                          "FORMAT TabSeparated",
                          (unsigned long long)until_ms, g.data, g.data, g.data, g.data, (unsigned long long)offset,
                          PAGE_ROWS);
    bytebuf_free(&g);
    if (rc) {
        bytebuf_free(&q);
        return NULL;
    }
    return q.data;
}

int backfill_run(const achievd_settings *s, const ach_def *defs, size_t ndefs, const char *guid, uint32_t member,
                 uint64_t until_ms, bool (*keepalive)(void *arg), void *arg, backfill *b)
{
    memset(b, 0, sizeof *b);
    replay r = {guid, member, b};
    b->ev = evaluator_new(replay_member, replay_write, &r);
    if (!b->ev || evaluator_set_catalogue(b->ev, defs, ndefs) != 0)
        return -ENOMEM;
    for (uint64_t offset = 0;; offset += PAGE_ROWS) {
        char *sql = page_sql(guid, until_ms, offset), *body = NULL;
        if (!sql)
            return -ENOMEM;
        int rc = ch_query_sync(s->clickhouse_url, sql, &body);
        free(sql);
        if (rc != 0) {
            log_warn("achievd: backfill of %s: ClickHouse answered %d: %.200s; trying again later", guid, rc,
                     body ? body : "");
            free(body);
            return rc < 0 ? rc : -EIO;
        }
        size_t rows = 0, len = body ? strlen(body) : 0, start = 0;
        char *f[RC__COUNT];
        unsigned char null[RC__COUNT];
        while (start < len) {
            char *nl = memchr(body + start, '\n', len - start);
            size_t end = nl ? (size_t)(nl - body) : len;
            ach_event e;
            if (raw_row_split(body + start, end - start, f, null) == 0 && ach_event_from_row(f, null, &e)) {
                evaluator_apply(b->ev, &e);
                b->events++;
            }
            rows++;
            start = end + 1;
        }
        free(body);
        if (rows < PAGE_ROWS)
            return 0;
        if (!keepalive(arg))
            return -ECANCELED;
    }
}

void backfill_free(backfill *b)
{
    evaluator_free(b->ev);
    free(b->writes);
    memset(b, 0, sizeof *b);
}
