/* Catching up from ClickHouse: the queries (catchup.h). */
#include "catchup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "clickhouse.h"
#include "log.h"

#define CATCHUP_PAGE_ROWS 50000 /* rows per page: bounds the memory of one (~300 bytes a row) */
#define CATCHUP_SPAN_MS 3600000 /* a page covers at most this much receive time */

/* Run "SELECT <what> FROM raw_events WHERE <the receive-time range (from_ms, to_ms]> <tail> FORMAT
 * TabSeparated" into *body (malloc'd). The range is exact in milliseconds, and also given in whole seconds so that
 * ClickHouse can skip the months (partitions) outside it. what == NULL: the replay's column list. */
static int range_query(const achievd_settings *s, const char *what, uint64_t from_ms, uint64_t to_ms,
                       const char *tail, char **body)
{
    *body = NULL;
    bytebuf q = {0};
    int rc = bytebuf_append(&q, "SELECT ", 7);
    rc |= what ? bytebuf_appendf(&q, "%s", what) : backfill_select_list(&q);
    rc |= bytebuf_appendf(&q,
                          "\nFROM raw_events\n"
                          "WHERE received_at >= toDateTime(%llu) AND received_at <= toDateTime(%llu)\n"
                          "  AND toUInt64(received_at) * 1000 + received_ms > %llu\n"
                          "  AND toUInt64(received_at) * 1000 + received_ms <= %llu\n"
                          "%s\nFORMAT TabSeparated",
                          (unsigned long long)(from_ms / 1000), (unsigned long long)(to_ms / 1000),
                          (unsigned long long)from_ms, (unsigned long long)to_ms, tail);
    if (rc) {
        bytebuf_free(&q);
        return -ENOMEM;
    }
    rc = ch_query_sync(s->clickhouse_url, q.data, body);
    bytebuf_free(&q);
    if (rc != 0) {
        log_warn("achievd: catch-up: ClickHouse answered %d: %.200s; trying again later", rc, *body ? *body : "");
        free(*body);
        *body = NULL;
        return rc < 0 ? rc : -EIO;
    }
    return 0;
}

int catchup_page_end(const achievd_settings *s, uint64_t from_ms, uint64_t to_ms, uint64_t *end_ms)
{
    *end_ms = to_ms;
    if (from_ms >= to_ms)
        return 0;
    uint64_t span_end = to_ms - from_ms > CATCHUP_SPAN_MS ? from_ms + CATCHUP_SPAN_MS : to_ms;
    char *body = NULL;
    int rc = range_query(s, "toUInt32(received_at) AS s, count()", from_ms, span_end, "GROUP BY s ORDER BY s", &body);
    if (rc != 0)
        return rc;
    *end_ms = span_end;
    unsigned long long rows = 0, sec, n;
    for (const char *line = body; line && *line;) {
        if (sscanf(line, "%llu\t%llu", &sec, &n) != 2)
            break;
        if (rows > 0 && rows + n > CATCHUP_PAGE_ROWS) {
            *end_ms = (uint64_t)sec * 1000 - 1; /* the seconds before this one */
            break;
        }
        rows += n;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    free(body);
    if (rows > 0)
        return 0;
    /* Nothing in this span: skip to the second before the next row (a gap can start long before its first row,
     * or hold a quiet night), so that the next page counts from there. */
    rc = range_query(s, "toUInt32(min(received_at))", from_ms, to_ms, "", &body);
    if (rc != 0)
        return rc;
    unsigned long long next = strtoull(body, NULL, 10); /* 0: none (ClickHouse's min of no rows) */
    free(body);
    if (next == 0 || next * 1000 >= to_ms)
        *end_ms = to_ms;
    else if (next * 1000 > from_ms + 1)
        *end_ms = next * 1000 - 1;
    return 0;
}

int catchup_page(const achievd_settings *s, uint64_t from_ms, uint64_t to_ms, char **body)
{
    return range_query(s, NULL, from_ms, to_ms, "ORDER BY received_at, received_ms, batch_id, game_time", body);
}

int catchup_batches(const achievd_settings *s, uint64_t from_ms, uint64_t to_ms, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    char *body = NULL;
    int rc = range_query(s, "DISTINCT toString(batch_id)", from_ms, to_ms, "", &body);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    for (char *line = body, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(*ids, cap * sizeof *grown);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            *ids = grown;
        }
        if (!((*ids)[*n] = strdup(line))) {
            rc = -ENOMEM;
            break;
        }
        (*n)++;
    }
    free(body);
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++)
            free((*ids)[i]);
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}
