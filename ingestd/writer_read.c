/* The stream writer's reading: XREADGROUP of new entries (and of its own pending entries after a reconnect) into the
 * buffer, paced and sized by what it reads; and the maintenance that refreshes the lease (I3 in stream_writer.c) of
 * buffered entries and takes over the entries of writers that died (XAUTOCLAIM, I4 a). */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "redis_client.h"
#include "stream.h"
#include "write_buffer.h"
#include "writer_state.h"

#define READ_COUNT 500 /* entries per XREADGROUP, at most */
/* Bytes an XREADGROUP should bring, about. Redis builds the whole reply in one go, every other client waiting, and
 * ingestd holds it whole: 500 entries of tracker batches (under 16 KB each) are a few MB, but 500 maximal batches
 * (1.6-2.1 MB each in the flood bench, up to 8 MB) stalled Redis for 0.4 s under a flood and could take GBs
 * (tests/bench/ingest_flood_bench.sh). So the count asked for follows the size of the entries last read. */
#define READ_BYTES (4 * 1024 * 1024)
#define READ_BLOCK_MS 1000 /* XREADGROUP BLOCK; the connection is ours alone */
#define READ_RETRY_MS 1000 /* after an unexpected XREADGROUP error */
/* After a read that emptied the stream, the next one waits this long. A read that takes entries changes the
 * group's pending list, which Redis writes to its AOF and fsyncs (appendfsync always) before answering, often
 * in a turn of its loop of its own, and ingest requests wait for Redis's fsyncs. Reading each batch as it
 * arrived took 3,259 reads for 12,671 batches in one run; paced, 101, and Redis fsynced 13% less often. An
 * insert waits for more entries anyway (WRITER_FLUSH_MS, 1 s), so 100 ms more costs nothing visible. */
#define READ_PACE_MS 100
#define CLAIM_COUNT 500 /* entries per XAUTOCLAIM */

/* Buffer one [id, [fields]] entry from XREADGROUP or XAUTOCLAIM; taken_over per I4 a. */
static void entry_add(stream_writer *w, const redisReply *r, bool taken_over)
{
    if (write_buffer_add(&w->buf, r, now_ms(w), w->read_time_ms, taken_over) && taken_over)
        metric_inc(w->m_claimed);
}

/* An entry XAUTOCLAIM gave us that we hold already: it sat idle past claim_idle_ms, in our pending list or in
 * another writer's that had taken it from us before our lease refresh dropped it. Either way another writer's
 * insert may hold it now (I4 a): it is checked like any entry taken over, whatever it was before. */
static void claim_known(stream_writer *w, const redisReply *r)
{
    stream_id id;
    char text[44];
    if (!stream_reply_array(r, 1) || !stream_reply_id(r->element[0], &id))
        return;
    stream_id_format(id, text, sizeof text);
    wentry *e = hashmap_get(w->buf.by_id, text, strlen(text));
    if (e && e->state != E_ACK) /* an inserted one is complete in raw_events: our XACK is right (I1) */
        e->taken_over = e->foreign = true;
}

/* ---- reading ---- */

static void on_read(redis_client *c, redisReply *reply, const char *err, void *arg);
static void on_read_time(redis_client *c, redisReply *reply, const char *err, void *arg);

/* (Re)create the group at id 0: a first start must not skip entries already in the stream. */
static void group_create(stream_writer *w)
{
    const char *argv[] = {"XGROUP", "CREATE", w->stream_key, w->group, "0", "MKSTREAM"};
    redis_command_argv(w->rd, NULL, NULL, 6, argv, NULL);
}

void writer_read_more(stream_writer *w)
{
    if (w->stopping || w->reading || !redis_client_connected(w->rd) || uv_is_active((uv_handle_t *)&w->read_timer))
        return;
    uint64_t buffered = w->buf.new_events + w->set_events;
    if (buffered >= w->max_buffer_events)
        return; /* resumed after the next insert; meanwhile other writers take the new entries */
    char count[16], block[16];
    w->read_asked = w->read_count;
    snprintf(count, sizeof count, "%u", w->read_asked);
    snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
    const char *argv[12] = {"XREADGROUP", "GROUP", w->group, w->consumer, "COUNT", count};
    int argc = 6;
    if (!w->history) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = w->stream_key;
    argv[argc++] = w->history ? w->history_cursor : ">";
    /* Redis's clock right ahead of the read, on the same connection: the entries it delivers had their idle time
     * reset no earlier than this (lease_start relies on it). */
    const char *time_argv[] = {"TIME"};
    w->read_time_ms = 0;
    redis_command_argv(w->rd, on_read_time, w, 1, time_argv, NULL);
    if (redis_command_argv(w->rd, on_read, w, argc, argv, NULL) == 0)
        w->reading = true;
}

/* READ_RETRY_MS passed after an unexpected error. */
static void on_read_timer(uv_timer_t *t)
{
    writer_read_more(t->data);
}

/* The TIME sent ahead of an XREADGROUP answered. */
static void on_read_time(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    (void)c;
    (void)err;
    stream_writer *w = arg;
    if (!w->finishing)
        w->read_time_ms = reply_time_ms(reply);
}

/* The count for the next XREADGROUP after one that brought n entries of bytes in all: READ_BYTES at their average
 * size, between 1 and READ_COUNT. Bounded once the entries' size is known; the first read after they grew by
 * orders of magnitude brings more, and the next ones adapt. */
static unsigned read_count_next(unsigned current, size_t n, size_t bytes)
{
    if (n == 0 || bytes == 0)
        return current;
    size_t c = (size_t)((double)READ_BYTES * (double)n / (double)bytes);
    return c < 1 ? 1 : c > READ_COUNT ? READ_COUNT : (unsigned)c;
}

/* The bytes of an [id, [field, value, ...]] entry's fields and values. */
static size_t entry_bytes(const redisReply *e)
{
    const redisReply *f = stream_reply_array(e, 2) ? e->element[1] : NULL;
    size_t bytes = 0;
    if (f && f->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < f->elements; i++)
            bytes += f->element[i]->type == REDIS_REPLY_STRING ? f->element[i]->len : 0;
    return bytes;
}

/* XREADGROUP answered: buffer the entries and read on. */
static void on_read(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    w->reading = false;
    if (w->finishing || !reply)
        return; /* disconnected: the connect hook starts over with our PEL */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0) {
            log_warn("writer: consumer group %s of %s is gone (stream deleted?); creating it again", w->group,
                     w->stream_key);
            group_create(w);
            writer_read_more(w);
            return;
        }
        log_error("writer: XREADGROUP on %s failed: %s; retrying in %d ms", w->stream_key, reply->str, READ_RETRY_MS);
        uv_timer_start(&w->read_timer, on_read_timer, READ_RETRY_MS, 0);
        return;
    }
    size_t n = 0, bytes = 0;
    const redisReply *streams = stream_reply_array(reply, 1);
    const redisReply *entries =
        streams && stream_reply_array(streams->element[0], 2) ? streams->element[0]->element[1] : NULL;
    if (entries && entries->type == REDIS_REPLY_ARRAY) {
        n = entries->elements;
        for (size_t i = 0; i < n; i++) {
            bytes += entry_bytes(entries->element[i]);
            entry_add(w, entries->element[i], /* taken_over= */ w->history);
        }
    }
    w->read_count = read_count_next(w->read_count, n, bytes);
    if (w->history) {
        if (n == 0) {
            w->history = false;
        } else {
            stream_id last;
            const redisReply *e = entries->element[n - 1];
            if (stream_reply_array(e, 1) && stream_reply_id(e->element[0], &last))
                stream_id_format(last, w->history_cursor, sizeof w->history_cursor);
        }
    }
    metric_set(w->m_buffered, (double)(w->buf.new_events + w->set_events));
    if (!w->history && n < w->read_asked)
        uv_timer_start(&w->read_timer, on_read_timer, READ_PACE_MS, 0);
    else
        writer_read_more(w);
    writer_flush_maybe(w);
}

void writer_on_rd_connect(redis_client *c, void *arg)
{
    stream_writer *w = arg;
    if (w->stopping)
        return;
    group_create(w);
    w->history = true;
    snprintf(w->history_cursor, sizeof w->history_cursor, "0");
    w->reading = false;
    writer_read_more(w);
}

/* ---- maintenance: lease refresh of the buffer, taking over idle entries ---- */

static void on_claimed(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Events buffered and not inserted yet that can make progress: blocked dup entries do not count, since what
 * unblocks them may be exactly the entries of a dead writer that only a claim brings in. */
static uint64_t unblocked_events(stream_writer *w)
{
    uint64_t n = 0;
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state != E_ACK && !e->blocked)
            n += e->nevents;
    return n;
}

/* XAUTOCLAIM entries idle for claim_idle_ms from any consumer of the group (dead writers, lost replies). */
static void claim_start(stream_writer *w)
{
    if (unblocked_events(w) >= w->max_buffer_events || w->stopping) {
        w->ph = P_IDLE;
        writer_flush_maybe(w);
        return;
    }
    char idle[24], count[16];
    snprintf(idle, sizeof idle, "%ld", w->claim_idle_ms);
    snprintf(count, sizeof count, "%d", CLAIM_COUNT);
    const char *argv[] = {"XAUTOCLAIM", w->stream_key, w->group, w->consumer, idle, w->claim_cursor, "COUNT", count};
    if (redis_command_argv(w->ctl, on_claimed, w, 8, argv, NULL) != 0) {
        w->ph = P_IDLE;
        writer_flush_maybe(w);
    }
}

/* XAUTOCLAIM answered: buffer what we took over (I4 a). */
static void on_claimed(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    w->ph = P_IDLE;
    const redisReply *r = stream_reply_array((redisReply *)reply, 2);
    if (!r) {
        if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOGROUP", 7) != 0)
            log_warn("writer: XAUTOCLAIM on %s failed: %s", w->stream_key, reply->str);
        writer_flush_maybe(w);
        return;
    }
    stream_id next;
    if (stream_reply_id(r->element[0], &next))
        stream_id_format(next, w->claim_cursor, sizeof w->claim_cursor);
    size_t n = 0;
    if (r->element[1]->type == REDIS_REPLY_ARRAY) {
        n = r->element[1]->elements;
        for (size_t i = 0; i < n; i++) {
            claim_known(w, r->element[1]->element[i]);
            entry_add(w, r->element[1]->element[i], /* taken_over= */ true);
        }
    }
    if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY && r->element[2]->elements)
        log_error("writer: %zu pending entries of %s had been deleted from the stream (by XDEL or a trim outside "
                  "mohstats); Redis dropped them from the pending list",
                  r->element[2]->elements, w->stream_key);
    if (n)
        log_info("writer: took over %zu stream entries idle for more than %ld ms (a writer died or stalled)", n,
                 w->claim_idle_ms);
    metric_set(w->m_buffered, (double)(w->buf.new_events + w->set_events));
    /* More to take while the scan goes on and there is room. */
    if (n && strcmp(w->claim_cursor, "0-0") != 0 && unblocked_events(w) < w->max_buffer_events) {
        w->ph = P_MAINT;
        claim_start(w);
        return;
    }
    writer_flush_maybe(w);
}

static void on_refreshed(redis_client *c, redisReply *reply, const char *err, void *arg);

void writer_maint_start(stream_writer *w)
{
    w->maint_due = false;
    w->ph = P_MAINT;
    writer_work_clear(w);
    if (now_ms(w) - w->last_refresh_ms >= (uint64_t)w->claim_idle_ms / 3) {
        for (wentry *e = w->buf.head; e; e = e->next)
            if (writer_work_push(w, e) != 0)
                break;
    }
    if (w->nwork == 0 || writer_lease_send(w, on_refreshed) != 0) {
        writer_work_clear(w);
        claim_start(w);
        return;
    }
    w->last_refresh_ms = now_ms(w);
}

/* The buffer's lease refresh answered: forget what another writer took meanwhile, then claim. */
static void on_refreshed(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        size_t lost = writer_lease_apply(w, reply);
        if (lost)
            log_warn("writer: %zu buffered stream entries were taken over by another writer; leaving them to it", lost);
    } else {
        writer_work_clear(w);
    }
    claim_start(w);
}
