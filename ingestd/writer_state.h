/* The stream writer's state (struct stream_writer) and what its files call in each other: the pipeline
 * (stream_writer.c, which states the invariants I1-I5 referred to here), reading and takeover (writer_read.c),
 * scheduling (writer_schedule.c), settings and lifetime (writer_lifetime.c). Not for other modules: they use
 * stream_writer.h. */
#ifndef MOHSTATS_WRITER_STATE_H
#define MOHSTATS_WRITER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "ch_guard.h"
#include "clickhouse.h"
#include "fresh_note.h"
#include "metrics.h"
#include "redis_client.h"
#include "stream.h"
#include "stream_trimmer.h"
#include "stream_writer.h"
#include "write_buffer.h"

typedef enum {
    P_IDLE,
    P_OWNERS,  /* XPENDING: does another consumer hold entries older than our dup ones? */
    P_RUNNING, /* system.processes: may an older insert of these entries still run? */
    P_PRESENT, /* raw_events: which uncertain batches are there already? */
    P_REPAIR,  /* raw_events: event_ids of a partly present batch */
    P_LEASE,   /* Redis: keep only what we still own, reset idle */
    P_INSERT,
    P_ACK,   /* dead-letter XADDs, then one XACK */
    P_MAINT, /* lease refresh of the buffer, XAUTOCLAIM */
} phase;

typedef enum { END_OK, END_FAIL, END_BUSY } attempt_end_kind;

struct stream_writer {
    uv_loop_t *loop;
    /* settings (owned copies) */
    char *redis_url, *clickhouse_url, *stream_key, *group, *consumer, *stream_groups, *table, *dead_key;
    char *released_key; /* <stream>STREAM_RELEASED_SUFFIX (stream_entry.h) */
    long batch_events, flush_ms, claim_idle_ms, shutdown_grace_ms, op_timeout_ms;
    uint64_t last_attempt_ms; /* when the last set of entries went to its insert (flush_maybe spaces them) */
    uint64_t max_backlog, max_buffer_events;
    char *insert_sql;

    redis_client *rd;  /* XREADGROUP BLOCK only */
    redis_client *ctl; /* everything else */
    fresh_note *fresh; /* what the acknowledged entries changed, for queryd (fresh_note.h) */
    ch_client *ch;     /* presence and running checks */
    ch_client *ins;    /* the insert in flight (its URL carries the query_id) */
    bool started;

    write_buffer buf;

    /* reading */
    bool reading;
    bool history; /* re-reading our own PEL after a (re)connect */
    char history_cursor[44];
    unsigned read_count, read_asked; /* entries the next XREADGROUP asks for; those the one in flight asked for */
    uint64_t read_time_ms; /* Redis's clock just before the XREADGROUP in flight (a TIME sent ahead); 0: unknown */
    uv_timer_t read_timer;

    /* the current attempt */
    phase ph;
    bool set_retry; /* the set failed: retry with the same entries (same query_id when nothing changed) */
    uint64_t set_events;
    size_t set_entries;
    wentry **work; /* scratch list for the current phase */
    size_t nwork, capwork, work_next;
    uint64_t insert_start_ns;
    uint64_t lease_sent_ms; /* clock_ms() when the ownership check went to Redis */
    wentry *body_pos;       /* insert body cursor */
    size_t body_off;
    unsigned backoff_ms;
    unsigned failures;        /* attempts failed in a row (one warning per outage) */
    unsigned pending_replies; /* dead-letter XADDs in flight */
    bool dead_failed;
    size_t max_set_entries;  /* isolating an entry ClickHouse refuses: sets are halved */
    uint64_t set_cap_events; /* events per set at most after inserts timed out (0: batch_events): see set_shrink */
    size_t isolate_left;
    uv_timer_t flush_timer, retry_timer, tick_timer, grace_timer;
    bool retry_wait;
    bool maint_due;
    uint64_t last_refresh_ms;
    char claim_cursor[44];

    stream_trimmer *trimmer;

    /* stop */
    bool stopping, stop_failed, finishing;
    unsigned closing;
    void (*stop_done)(void *arg);
    void *stop_arg;

    uint64_t events_written;
    ch_guard *guard;
    metric *m_events, *m_latency, *m_size, *m_dups, *m_claimed, *m_dead, *m_waits, *m_buffered;
    metric *m_lease_clock, *m_lease_script; /* how each insert's ownership was confirmed (I3) */
};

/* The loop's time in milliseconds. */
static inline uint64_t now_ms(stream_writer *w)
{
    return uv_now(w->loop);
}

/* The monotonic clock read now, in milliseconds. The ownership checks (I3) time Redis's answers with it, not
 * with the loop's time: that was read before the callbacks of the current turn ran, so a pause of the process
 * (SIGSTOP, a suspended VM) that fell between the two would go unseen, and a stale "yours" would be acted on
 * after another writer took the entries over (tests/fault/test_writer_paused.sh). */
static inline uint64_t clock_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Redis's clock in milliseconds from a TIME reply, or 0. */
static inline uint64_t reply_time_ms(const redisReply *r)
{
    return stream_reply_array(r, 2) ? stream_reply_u64(r->element[0]) * 1000 + stream_reply_u64(r->element[1]) / 1000
                                    : 0;
}

/* ---- stream_writer.c: the pipeline ---- */

/* Start an attempt with the set (new, or the failed one again). */
void writer_attempt_begin(stream_writer *w);
/* Copy dead entries to the dead-letter stream (replies come back in order, matched through the scratch list),
 * then acknowledge. */
void writer_ack_start(stream_writer *w);
/* Run the lease script over the entries in the scratch list. Returns 0 or -ENOTCONN/-ENOMEM. */
int writer_lease_send(stream_writer *w, redis_reply_fn cb);
/* Drop the scratch-list entries the lease script's reply did not confirm; returns how many. */
size_t writer_lease_apply(stream_writer *w, const redisReply *reply);
/* Reset the scratch list. */
void writer_work_clear(stream_writer *w);
/* Append e to the scratch list. */
int writer_work_push(stream_writer *w, wentry *e);

/* ---- writer_read.c: reading and takeover ---- */

/* Issue the next XREADGROUP if there is room in the buffer. */
void writer_read_more(stream_writer *w);
/* The reading connection is (re)established: make sure the group exists, then re-read our own PEL first. */
void writer_on_rd_connect(redis_client *c, void *arg);
/* Refresh the lease (I3) of every buffered entry not acknowledged yet (new, in a set waiting for its retry, or
 * inserted and waiting for its XACK), so that other writers do not take them over needlessly while we hold them
 * (e.g. while ClickHouse or Redis is down); then claim. */
void writer_maint_start(stream_writer *w);

/* ---- writer_schedule.c: when to act ---- */

/* Decide what to do next when idle: acknowledge, insert, maintain, or wait. */
void writer_flush_maybe(stream_writer *w);
/* The flush deadline passed. */
void writer_on_flush_timer(uv_timer_t *t);
/* The periodic tick: maintenance when idle, trimming and metrics, the consumer sweep, reading. */
void writer_on_tick(uv_timer_t *t);
/* redis_client connect hook of the command connection. */
void writer_on_ctl_connect(redis_client *c, void *arg);

/* ---- writer_lifetime.c: settings and lifetime ---- */

/* Close everything; entries not acknowledged stay pending in Redis (I1). */
void writer_finish(stream_writer *w);

#endif
