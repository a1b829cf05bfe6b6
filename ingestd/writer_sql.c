/* The SQL of the stream writer and the strings it is built from: the insert, the query_ids that tie an insert to
 * its entry range and its writer (I4 in stream_writer.c), the presence check and the running-insert check. Pure
 * functions. */
#include "writer_sql.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "raw_row.h"

#define QID_ID_LEN 41 /* "%020llu-%020llu" */

/* The fixed-width form of an id used inside query_ids: compares as a string like the id as a number. */
static void qid_part(stream_id id, char out[QID_ID_LEN + 1])
{
    snprintf(out, QID_ID_LEN + 1, "%020" PRIu64 "-%020" PRIu64, id.ms, id.seq);
}

void stream_writer_query_owner(const char *consumer, char out[WRITER_QUERY_OWNER_SIZE])
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a, 64 bits */
    for (const unsigned char *p = (const unsigned char *)consumer; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    snprintf(out, WRITER_QUERY_OWNER_SIZE, "%016" PRIx64, h);
}

void stream_writer_query_id(stream_id lo, stream_id hi, const char *consumer, char out[WRITER_QUERY_ID_SIZE])
{
    char a[QID_ID_LEN + 1], b[QID_ID_LEN + 1], owner[WRITER_QUERY_OWNER_SIZE];
    qid_part(lo, a);
    qid_part(hi, b);
    stream_writer_query_owner(consumer, owner);
    snprintf(out, WRITER_QUERY_ID_SIZE, WRITER_QUERY_ID_PREFIX "%s-%s-%s", a, b, owner);
}

void writer_range_add(writer_range *r, stream_id id)
{
    if (stream_id_cmp(id, r->lo) < 0)
        r->lo = id;
    if (stream_id_cmp(id, r->hi) > 0)
        r->hi = id;
}

bool writer_range_empty(writer_range r)
{
    return stream_id_cmp(r.lo, r.hi) > 0;
}

uint32_t stream_rows_received_at(const char *rows, size_t len)
{
    /* Columns event_id, batch_id, server_id, received_at (raw_row_columns); TSV fields hold no raw tab. */
    size_t i = 0;
    for (int tabs = 0; tabs < 3; i++) {
        if (i >= len || rows[i] == '\n')
            return 0;
        if (rows[i] == '\t')
            tabs++;
    }
    uint64_t v = 0;
    size_t start = i;
    while (i < len && rows[i] >= '0' && rows[i] <= '9' && i - start < 10)
        v = v * 10 + (uint64_t)(rows[i++] - '0');
    if (i == start || i >= len || rows[i] != '\t' || v > UINT32_MAX)
        return 0;
    return (uint32_t)v;
}

bool writer_is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return s[36] == '\0';
}

int stream_writer_present_sql(const char *table, const char *const *batch_ids, size_t n, uint32_t min_received,
                              uint32_t max_received, bytebuf *out)
{
    /* An hour of margin either side: received_at is the same value in the rows and in the entry, the margin
     * only guards against a clock step between rendering and this check. Only the partitions (months) and parts
     * whose received_at range meets the window are read. */
    int64_t lo = (int64_t)min_received - 3600, hi = (int64_t)max_received + 3600;
    if (lo < 0)
        lo = 0;
    if (hi > UINT32_MAX)
        hi = UINT32_MAX;
    int rc = bytebuf_appendf(out,
                             "SELECT toString(batch_id), count()\n"
                             "FROM %s\n"
                             "WHERE received_at >= toDateTime(%" PRId64 ") AND received_at <= toDateTime(%" PRId64 ")\n"
                             "  AND batch_id IN (",
                             table, lo, hi);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!writer_is_uuid(batch_ids[i]))
            return -EINVAL;
        rc = bytebuf_appendf(out, "%stoUUID('%s')", i ? ", " : "", batch_ids[i]);
    }
    if (!rc)
        rc = bytebuf_appendf(out, ")\nGROUP BY batch_id\nFORMAT TabSeparated");
    return rc ? -ENOMEM : 0;
}

/* The condition "the query_id's range overlaps r", appended to out. */
static int running_overlap(writer_range r, bytebuf *out)
{
    char a[QID_ID_LEN + 1], b[QID_ID_LEN + 1];
    qid_part(r.lo, a);
    qid_part(r.hi, b);
    /* query_id = prefix (13 bytes) + first id (41) + "-" + last id (41) + "-" + owner (16): the first id starts at
     * position 14, the last at 56, the owner at 98 (1-based). Two ranges overlap when each starts before the other
     * ends. */
    return bytebuf_appendf(out, "substring(query_id, 14, 41) <= '%s' AND substring(query_id, 56, 41) >= '%s'", b, a);
}

int stream_writer_running_sql(writer_range any, writer_range own, const char *consumer, bytebuf *out)
{
    bool has_any = !writer_range_empty(any), has_own = !writer_range_empty(own);
    if (!has_any && !has_own)
        return -EINVAL;
    char owner[WRITER_QUERY_OWNER_SIZE];
    stream_writer_query_owner(consumer, owner);
    /* No filter on elapsed (when the query started): a request a stalled server (frozen, overloaded) had not
     * read yet when its client gave up is registered only once the server reads it, possibly long after. */
    int rc = bytebuf_appendf(out, "SELECT count()\n"
                                  "FROM system.processes\n"
                                  "WHERE query_id LIKE '" WRITER_QUERY_ID_PREFIX "%%'\n"
                                  "  AND (");
    if (!rc && has_any) {
        rc = bytebuf_appendf(out, "(");
        rc = rc ? rc : running_overlap(any, out);
        rc = rc ? rc : bytebuf_appendf(out, ")");
    }
    if (!rc && has_own) {
        rc = bytebuf_appendf(out, "%s(substring(query_id, 98, 16) = '%s' AND ", has_any ? "\n    OR " : "", owner);
        rc = rc ? rc : running_overlap(own, out);
        rc = rc ? rc : bytebuf_appendf(out, ")");
    }
    if (!rc)
        rc = bytebuf_appendf(out, ")\nFORMAT TabSeparated");
    return rc ? -ENOMEM : 0;
}

int writer_insert_sql(const char *table, bytebuf *out)
{
    return bytebuf_appendf(out, "INSERT INTO %s (%s) FORMAT TabSeparated", table, raw_row_columns) ? -ENOMEM : 0;
}
