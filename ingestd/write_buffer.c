/* The stream writer's buffer: the entries it read or took over and holds until they are acknowledged, in arrival
 * order, indexed by entry id and by batch_id (entries of the same batch are coalesced into one insert: I4 c, I5 in
 * stream_writer.c). Turning an XREADGROUP or XAUTOCLAIM entry into a buffered one checks it: a malformed entry is
 * marked for the dead-letter stream, never inserted. */
#include "write_buffer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "raw_row.h"
#include "writer_sql.h"

int write_buffer_init(write_buffer *b, const char *stream_key, const char *dead_key)
{
    memset(b, 0, sizeof *b);
    b->stream_key = stream_key;
    b->dead_key = dead_key;
    b->by_id = hashmap_new();
    b->by_batch = hashmap_new();
    return b->by_id && b->by_batch ? 0 : -ENOMEM;
}

void write_buffer_close(write_buffer *b)
{
    while (b->head)
        wentry_drop(b, b->head);
    hashmap_free(b->by_id, NULL);
    hashmap_free(b->by_batch, NULL);
    b->by_id = b->by_batch = NULL;
}

/* Free one entry's memory (it must be unlinked already). */
static void wentry_free(wentry *e)
{
    if (e->rows_owned)
        free(e->rows);
    free(e->dead_reason);
    free(e);
}

/* Unlink e from the buffer and its indexes, and free it. */
void wentry_drop(write_buffer *b, wentry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        b->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        b->tail = e->prev;
    hashmap_remove(b->by_id, e->id_text, strlen(e->id_text));
    wentry *first = e->batch_id[0] ? hashmap_get(b->by_batch, e->batch_id, 36) : NULL;
    if (first == e) {
        if (e->same_batch)
            hashmap_put(b->by_batch, e->batch_id, 36, e->same_batch, NULL);
        else
            hashmap_remove(b->by_batch, e->batch_id, 36);
    } else {
        for (wentry *p = first; p; p = p->same_batch)
            if (p->same_batch == e) {
                p->same_batch = e->same_batch;
                break;
            }
    }
    if (e->state == E_NEW)
        b->new_events -= e->nevents;
    b->nentries--;
    wentry_free(e);
}

void wentry_to_ack(write_buffer *b, wentry *e)
{
    e->state = E_ACK;
    b->maybe_acks = true;
}

/* The value of field name in an entry's flat [field, value, ...] array, or NULL. */
static const redisReply *entry_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1] : NULL;
    }
    return NULL;
}

wentry *write_buffer_add(write_buffer *b, const redisReply *r, uint64_t now, uint64_t read_at_ms, bool taken_over)
{
    stream_id id;
    if (!stream_reply_array(r, 2) || !stream_reply_id(r->element[0], &id))
        return NULL;
    char id_text[44];
    stream_id_format(id, id_text, sizeof id_text);
    if (hashmap_get(b->by_id, id_text, strlen(id_text)))
        return NULL; /* ours already (a re-read of our PEL, or a claim of our own stale entry) */
    const redisReply *fields = r->element[1];
    if (!fields || fields->type != REDIS_REPLY_ARRAY) {
        /* Trimming never removes pending entries (the trim point keeps the oldest pending one), so this means
         * someone deleted it by hand; there is nothing left to insert. */
        log_error("writer: stream entry %s of %s is pending but its data is gone (deleted by XDEL/XTRIM?); "
                  "acknowledging it",
                  id_text, b->stream_key);
    }
    const redisReply *bid = fields && fields->type == REDIS_REPLY_ARRAY ? entry_field(fields, STREAM_F_BATCH) : NULL;
    const redisReply *cnt = fields && fields->type == REDIS_REPLY_ARRAY ? entry_field(fields, STREAM_F_COUNT) : NULL;
    const redisReply *rows = fields && fields->type == REDIS_REPLY_ARRAY ? entry_field(fields, STREAM_F_ROWS) : NULL;
    const redisReply *dup = fields && fields->type == REDIS_REPLY_ARRAY ? entry_field(fields, STREAM_F_DUP) : NULL;
    size_t rows_len = rows ? rows->len : 0;
    /* Rows written before actor_country (an entry older than the upgrade to 0009_countries.sql) get it, empty:
     * one more tab before each newline, so the entry inserts with the columns of today. */
    size_t added = 0;
    if (rows && raw_row_previous_format(rows->str, rows_len))
        for (const char *p = rows->str, *end = p + rows_len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
            added++;
    wentry *e = calloc(1, sizeof *e + rows_len + added + 1);
    if (!e) {
        /* Not lost: it stays pending with us and is taken over (by us or another writer) after claim idle. */
        log_error("writer: out of memory buffering stream entry %s", id_text);
        return NULL;
    }
    e->id = id;
    memcpy(e->id_text, id_text, sizeof id_text);
    e->rows = (char *)(e + 1);
    if (rows && added) {
        char *o = e->rows;
        for (size_t i = 0; i < rows_len; i++) {
            if (rows->str[i] == '\n')
                *o++ = '\t';
            *o++ = rows->str[i];
        }
        rows_len += added;
    } else if (rows) {
        memcpy(e->rows, rows->str, rows_len);
    }
    e->rows_len = rows_len;
    e->arrived_ms = now;
    e->read_at_ms = taken_over ? 0 : read_at_ms;
    e->dup = dup && dup->len == 1 && (dup->str[0] == '1' || dup->str[0] == '2');
    e->recheck = e->dup && dup->str[0] == '2';
    e->taken_over = e->foreign = taken_over;
    char *endp = NULL;
    unsigned long n = cnt && cnt->len < 11 ? strtoul(cnt->str, &endp, 10) : 0;
    bool ok = bid && bid->len == 36 && cnt && endp && *endp == '\0' && rows && n <= UINT32_MAX;
    if (ok) {
        memcpy(e->batch_id, bid->str, 36);
        ok = writer_is_uuid(e->batch_id);
    }
    /* The row count must match the rows: a miscount would break the partial-batch repair (I2). */
    size_t lines = 0;
    for (const char *p = e->rows, *end = e->rows + rows_len; ok && (p = memchr(p, '\n', (size_t)(end - p))); p++)
        lines++;
    if (ok && (lines != n || (rows_len && e->rows[rows_len - 1] != '\n')))
        ok = false;
    e->nevents = e->total_events = ok ? (uint32_t)n : 0;
    if (!ok) {
        /* No batch key: the entry is never coalesced with a real batch, nor indexed. */
        e->batch_id[0] = '\0';
        e->dead = true;
        wentry_to_ack(b, e);
        e->dead_reason =
            strdup(fields ? "malformed stream entry (missing or invalid bid, n or rows)" : "stream entry data deleted");
        if (fields)
            log_error("writer: stream entry %s is malformed (missing or invalid bid, n or rows); moving it to %s",
                      id_text, b->dead_key);
    } else {
        e->received_s = stream_rows_received_at(e->rows, rows_len);
        if (!e->received_s)
            e->received_s = (uint32_t)(id.ms / 1000); /* the XADD time: close to the receive time */
        e->state = E_NEW;
        b->new_events += e->nevents;
    }
    if (hashmap_put(b->by_id, e->id_text, strlen(e->id_text), e, NULL) != 0) {
        if (e->state == E_NEW)
            b->new_events -= e->nevents;
        wentry_free(e);
        log_error("writer: out of memory buffering stream entry %s", id_text);
        return NULL;
    }
    wentry *first = e->batch_id[0] ? hashmap_get(b->by_batch, e->batch_id, 36) : NULL;
    if (!e->batch_id[0]) {
        /* not indexed */
    } else if (first) {
        e->same_batch = first->same_batch;
        first->same_batch = e;
    } else if (hashmap_put(b->by_batch, e->batch_id, 36, e, NULL) != 0) {
        /* Without the index the entry could not be coalesced (I5): treat it as possibly duplicate. */
        e->dup = true;
    }
    e->prev = b->tail;
    if (b->tail)
        b->tail->next = e;
    else
        b->head = e;
    b->tail = e;
    b->nentries++;
    return e;
}

void write_buffer_running_ranges(const write_buffer *b, writer_range *any, writer_range *own)
{
    *any = *own = WRITER_RANGE_EMPTY;
    for (const wentry *e = b->head; e; e = e->next)
        if (set_inserts(e) && e->taken_over && !e->owners_wait)
            writer_range_add(e->foreign ? any : own, e->id);
}

uint64_t write_buffer_next_due(const write_buffer *b, uint64_t flush_ms)
{
    uint64_t due = 0;
    for (wentry *e = b->head; e; e = e->next) {
        if (e->state != E_NEW)
            continue;
        uint64_t t = e->arrived_ms + flush_ms;
        if (e->not_before > t)
            t = e->not_before;
        if (!due || t < due)
            due = t;
        if (!e->not_before)
            break; /* arrivals only grow along the buffer, except for postponed entries */
    }
    return due;
}
