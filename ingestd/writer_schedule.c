/* When the stream writer acts: the flush timing (an insert per WRITER_FLUSH_MS at most, at once after a quiet
 * spell), acknowledgements and maintenance first, retries after a failure, and the periodic tick. */
#include <assert.h>

#include "ch_guard.h"
#include "redis_client.h"
#include "stream_trimmer.h"
#include "write_buffer.h"
#include "writer_state.h"

/* ---- scheduling ---- */

/* The command connection is (re)established. While Redis was away every attempt failed at once (not connected),
 * doubling the backoff to BACKOFF_MAX_MS (stream_writer.c) within a few seconds; waiting it out now would leave
 * acknowledgements and lease refreshes undone for that long, and entries idle past claim_idle_ms would be taken over
 * by other writers for nothing. Start again from the shortest backoff, at once. */
void writer_on_ctl_connect(redis_client *c, void *arg)
{
    stream_writer *w = arg;
    if (w->stopping || w->finishing)
        return;
    w->backoff_ms = 0;
    if (w->retry_wait) {
        uv_timer_stop(&w->retry_timer);
        w->retry_wait = false;
    }
    writer_flush_maybe(w);
}

void writer_on_flush_timer(uv_timer_t *t)
{
    writer_flush_maybe(t->data);
}

void writer_flush_maybe(stream_writer *w)
{
    if (w->finishing || w->ph != P_IDLE || w->retry_wait)
        return;
    if (w->stopping) {
        /* One last attempt for what is buffered, then close. Failures are not retried (stop_failed). */
        bool acks = false, news = false;
        for (wentry *e = w->buf.head; e; e = e->next) {
            acks |= e->state == E_ACK;
            news |= e->state == E_NEW || e->state == E_SET;
        }
        if (!w->stop_failed && acks) {
            writer_ack_start(w);
            return;
        }
        if (!w->stop_failed && news) {
            writer_attempt_begin(w);
            if (w->ph != P_IDLE || w->retry_wait || w->finishing)
                return;
        }
        writer_finish(w);
        return;
    }
    if (w->maint_due) {
        writer_maint_start(w);
        return;
    }
    if (w->buf.maybe_acks) {
        for (wentry *e = w->buf.head; e; e = e->next)
            if (e->state == E_ACK) {
                writer_ack_start(w);
                return;
            }
        w->buf.maybe_acks = false;
    }
#ifndef NDEBUG
    for (wentry *e = w->buf.head; e; e = e->next)
        assert(e->state != E_ACK); /* an entry that became E_ACK without wentry_to_ack */
#endif
    if (w->set_retry) {
        writer_attempt_begin(w);
        return;
    }
    if (w->buf.new_events == 0 && !w->buf.head) {
        uv_timer_stop(&w->flush_timer);
        return;
    }
    uint64_t due = write_buffer_next_due(&w->buf, (uint64_t)w->flush_ms), now = now_ms(w);
    if (!due)
        return;
    /* One insert per WRITER_FLUSH_MS at most, but no waiting for nothing: when the last one began longer ago than
     * that, what arrived since goes at once. A lone event of a quiet server is in ClickHouse (and in every answer,
     * docs/definitions.md) after one insert instead of a second later, while a busy writer still inserts once per
     * WRITER_FLUSH_MS: each insert costs ClickHouse its parts and views whatever its size (twice the ClickHouse
     * CPU per event at half load with 500 ms, tests/bench/ingest_bench.sh). */
    uint64_t spaced = w->last_attempt_ms + (uint64_t)w->flush_ms, arrived = write_buffer_next_due(&w->buf, 0);
    if (spaced < due)
        due = spaced > arrived ? spaced : arrived;
    if (w->buf.new_events >= (uint64_t)w->batch_events || now >= due) {
        uv_timer_stop(&w->flush_timer);
        writer_attempt_begin(w);
        return;
    }
    uv_timer_start(&w->flush_timer, writer_on_flush_timer, due - now, 0);
}

void writer_on_tick(uv_timer_t *t)
{
    stream_writer *w = t->data;
    if (w->stopping)
        return;
    w->maint_due = true;
    ch_guard_tick(w->guard, w->ctl, w->ch, now_ms(w));
    stream_trimmer_tick(w->trimmer, w->ctl, now_ms(w));
    writer_read_more(w);
    writer_flush_maybe(w);
}
