/* The stream writer: reads the ingest stream as one consumer of a group, inserts batches into ClickHouse with
 * exactly-once effect, ACKs them, takes over the entries of writers that died; each tick it has the stream trimmed
 * and its metrics sampled (stream_trimmer.c).
 *
 * How "exactly once" holds, with several writers, crashes (SIGKILL included), timeouts and restarts. Each of
 * these invariants is relied upon where the comment names it:
 *
 * I1 (ack after durable). An entry is XACKed only once its batch is known to be complete in raw_events: our
 *    insert of it succeeded, or the presence check found all its rows, or it went to the dead-letter stream.
 *    So an entry that is not acknowledged is never lost: it stays in the group's pending list (PEL).
 *
 * I2 (batch atomic). A batch is in raw_events entirely or not at all. One insert is one block (at most
 *    WRITER_BATCH_EVENTS <= 1,000,000 rows, and max_insert_block_size / min_insert_block_size_* are pinned in
 *    the insert's URL so a server profile cannot split it), a batch's rows share received_at and so one
 *    partition, and ClickHouse commits each partition of a block as one part. An insert spanning two months may
 *    commit one partition and not the other: the per-batch presence check (I4) handles that. The check also
 *    counts rows per batch, and a batch found partly present (which I2 says cannot happen) is repaired by
 *    inserting only its missing event_ids.
 *
 * I3 (single holder). At any time one consumer holds an entry (the PEL owner). Before each insert the writer
 *    runs a Lua script that, atomically in Redis, keeps only the entries it still owns and resets their idle
 *    time (XCLAIM JUSTID). Another writer can take them over only once they are idle WRITER_CLAIM_IDLE_MS, and
 *    every ClickHouse request of ours times out after a third of that, so our insert has ended (client side)
 *    before anyone else can own its entries. When every entry of the set was read by us moments before, by
 *    Redis's own clock (TIME), that clock alone shows they are still ours, with the same bound: see lease_start.
 *    Either answer counts only if it came back quickly by a clock read when it is acted on (clock_ms), so that a
 *    pause of our process after Redis answered is seen.
 *
 * I4 (check what may already be there). Before inserting an uncertain entry the writer checks ClickHouse for
 *    its batch_id and leaves out batches already present (and XACKs them). An entry is uncertain when
 *    (a) it was taken over: claimed with XAUTOCLAIM from a writer idle too long (killed, stuck), or re-read from
 *        our own PEL after a Redis reconnect (a lost reply may hide a claim);
 *    (b) it was in an insert attempt of ours whose outcome is unknown (error, timeout);
 *    (c) ingestd flagged it dup=1 (an XADD whose reply was lost, a spool replay that may have been sent before),
 *        or a writer copied it with dup=2 after ClickHouse restarted (ch_guard.c: the restart may have lost it).
 *    For (a) and (b) an insert holding the entry may still be running in ClickHouse after its client gave up:
 *    the check first counts writer inserts in system.processes whose query_id range overlaps the entries;
 *    while there is one, it waits. Each insert's query_id is derived from its entry range (deterministic) and a
 *    failed set is retried as it was, so a retry of an insert ClickHouse still runs is refused ("already
 *    running") rather than run twice.
 *    A request that a frozen server had not even read when our client gave up cannot run later: the
 *    ClickHouse client closes its connections with RST (SO_LINGER 0, common/clickhouse.c), which discards
 *    the unread bytes in the server's socket buffer instead of leaving them to be read after our retry.
 *    For (c) the earlier copy of the batch is an older entry. Before checking ClickHouse the writer makes sure
 *    no other consumer holds an entry older than the dup one (XPENDING): every older entry is then either
 *    acknowledged (so inserted, I1) or ours, and entries of ours with the same batch_id are coalesced: one of
 *    them is inserted, the others are acknowledged with it. An uncertain (a, b) dup entry for which that is not
 *    so yet is still checked, and acknowledged if its batch is complete in raw_events (that needs no wait); only
 *    an absent one waits, since its absence proves nothing while the older copy may be inserted elsewhere.
 *
 * I5 (one copy per insert). Within one insert, batch_ids are unique (coalesced as in I4).
 *
 * Acknowledged entries are trimmed only WRITER_RETAIN_MS later (ch_guard.c): ClickHouse's answer to an insert does
 * not mean its part is on disk, and a crash of its machine is repaired from the entries kept.
 *
 * The check relies on system.processes of a single ClickHouse server (not a cluster behind a load balancer).
 *
 * Why this file is long (~2,000 lines): it is the exactly-once pipeline, whose phases (set, owners, running,
 * present, repair, lease, insert, ack) and the reading and takeover that feed them share the attempt's state and
 * the invariants above; split apart, each invariant would be relied on in a file that does not state it. What is
 * not the pipeline lives beside it: the buffer (write_buffer.c), the SQL (writer_sql.c), trimming, stream metrics
 * and the consumer sweep (stream_trimmer.c), the ClickHouse restart guard (ch_guard.c), stream ids (stream.c).
 */
#include "stream_writer.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "ch_guard.h"
#include "clickhouse.h"
#include "event_row.h"
#include "fresh_note.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "redis_client.h"
#include "stream.h"
#include "stream_trimmer.h"
#include "write_buffer.h"
#include "writer_sql.h"

const config_var stream_writer_config_vars[] = {
    /* Few large inserts: each insert writes a part in raw_events and in every aggregate table its views feed,
     * so ClickHouse's cost per row falls steeply with the insert size (tests/bench/ingest_bench.sh measured
     * 11-13 instead of 24-41 CPU microseconds per event going from 200 ms to 1 s). 100k rows stay well under
     * ClickHouse 18.16's 1 GiB per-query memory limit with the views. */
    {"WRITER_BATCH_EVENTS", "100000", "events per ClickHouse insert, at most (1 to 1000000)"},
    {"WRITER_FLUSH_MS", "1000",
     "insert what is buffered at the latest this long after the oldest buffered entry came, and not more often (at "
     "once when the last insert began longer ago)"},
    {"WRITER_CLAIM_IDLE_MS", "30000",
     "entries pending this long with another writer (crashed or stuck) are taken over; ClickHouse requests of "
     "the writer time out after a third of it"},
    {"STREAM_GROUPS", "clickhouse,achievd",
     "consumer groups whose unread and pending entries are kept when the stream is trimmed (missing ones are "
     "ignored)"},
    /* ClickHouse does not fsync inserted parts: see ch_guard.c. 60 s covers Linux's 30 s dirty page expiry and its
     * 5 s writeback period with room for a slow disk. */
    {"WRITER_RETAIN_MS", "60000",
     "acknowledged entries stay in the stream this long, so that the batches a crash of ClickHouse's machine "
     "loses are inserted again when it comes back (0: trim at once)"},
    {"STREAM_MAX_BACKLOG", "2000000",
     "entries a group other than WRITER_GROUP may hold back; beyond it trimming ignores that group (warning)"},
    {NULL, NULL, NULL},
};

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
#define BACKOFF_MIN_MS 100  /* failed insert: retry after this, doubling ... */
#define BACKOFF_MAX_MS 5000 /* ... up to this */
#define BUSY_RETRY_MS 100   /* an older insert may still run, or an older copy is held elsewhere: look again */
#define POSTPONE_MS 300     /* a dup entry whose older copy may be held by another writer waits this long */
#define CHECK_CHUNK 1000    /* batch ids per presence query: ~50 KB of SQL, far below max_query_size */
#define TICK_MS 1000        /* maintenance, trimming and metrics period */
#define CLAIM_COUNT 500     /* entries per XAUTOCLAIM */
#define MAX_BATCH_EVENTS 1000000

/* I3: keep the entries (ARGV[5..]) still pending with this consumer and reset their idle time; return them.
 * ARGV: group, consumer, lowest id, highest id, ids... XPENDING with a consumer walks that consumer's own
 * pending list. */
static const char lease_script[] =
    "local key, group, me = KEYS[1], ARGV[1], ARGV[2]\n"
    "local mine = {}\n"
    "for _, p in ipairs(redis.call('XPENDING', key, group, ARGV[3], ARGV[4], 100000000, me)) do\n"
    "  mine[p[1]] = true\n"
    "end\n"
    "local owned, args = {}, nil\n"
    "for i = 5, #ARGV do\n"
    "  local id = ARGV[i]\n"
    "  if mine[id] then\n"
    "    owned[#owned + 1] = id\n"
    "    if not args then args = {'XCLAIM', key, group, me, 0} end\n"
    "    args[#args + 1] = id\n"
    "    if #args >= 505 then\n"
    "      args[#args + 1] = 'JUSTID'\n"
    "      redis.call(unpack(args))\n"
    "      args = nil\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if args then\n"
    "  args[#args + 1] = 'JUSTID'\n"
    "  redis.call(unpack(args))\n"
    "end\n"
    "return owned\n";

/* I4 c: the oldest entry (up to ARGV[3]) pending with a consumer other than ARGV[2], or nil. One ranged XPENDING
 * per consumer that has pending entries (each walks only that consumer's list), instead of listing the whole
 * group's pending entries. */
static const char owners_script[] =
    "local key, group, me, hi = KEYS[1], ARGV[1], ARGV[2], ARGV[3]\n"
    "local summary = redis.call('XPENDING', key, group)\n"
    "local best, best_ms, best_seq = false, 0, 0\n"
    "if type(summary[4]) == 'table' then\n"
    "  for _, c in ipairs(summary[4]) do\n"
    "    if c[1] ~= me then\n"
    "      local p = redis.call('XPENDING', key, group, '-', hi, 1, c[1])\n"
    "      if p[1] then\n"
    "        local id = p[1][1]\n"
    "        local dash = string.find(id, '-', 1, true)\n"
    "        local ms, seq = tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))\n"
    "        if not best or ms < best_ms or (ms == best_ms and seq < best_seq) then\n"
    "          best, best_ms, best_seq = id, ms, seq\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return best\n";

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
    size_t max_set_entries; /* isolating an entry ClickHouse refuses: sets are halved */
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

static void flush_maybe(stream_writer *w);
static void on_flush_timer(uv_timer_t *t);
static void attempt_end(stream_writer *w, attempt_end_kind kind);
static void phase_next(stream_writer *w);
static void read_more(stream_writer *w);
static void finish(stream_writer *w);

/* ---- small utilities ---- */

/* The loop's time in milliseconds. */
static uint64_t now_ms(stream_writer *w)
{
    return uv_now(w->loop);
}

/* The monotonic clock read now, in milliseconds. The ownership checks (I3) time Redis's answers with it, not
 * with the loop's time: that was read before the callbacks of the current turn ran, so a pause of the process
 * (SIGSTOP, a suspended VM) that fell between the two would go unseen, and a stale "yours" would be acted on
 * after another writer took the entries over (tests/fault/test_writer_paused.sh). */
static uint64_t clock_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* A copy of s, or NULL (also for NULL). */
static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* base with extra query parameters appended (e.g. "query_id=...&x=1"), malloc'd. */
static char *url_with_params(const char *base, const char *params)
{
    char *res = NULL, *out = NULL;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_QUERY, params, CURLU_APPENDQUERY) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
        res = strdup(out);
    curl_free(out);
    curl_url_cleanup(u);
    return res;
}

/* The "Code: N" of a ClickHouse error text, or 0. */
static int ch_error_code(const char *body)
{
    const char *p = body ? strstr(body, "Code: ") : NULL;
    return p ? atoi(p + 6) : 0;
}

/* ClickHouse errors that come from the data itself: retrying the same rows fails the same way. */
static bool ch_data_error(int code)
{
    static const int codes[] = {6, 26, 27, 38, 41, 70, 72, 117};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i] == code)
            return true;
    return false;
}

static void count_error(const char *reason)
{
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
    metric_inc(metrics_counter("mohstats_writer_insert_errors_total",
                               "Failed ClickHouse inserts of the stream writer, by reason (all retried)", labels));
}

/* Redis's clock in milliseconds from a TIME reply, or 0. */
static uint64_t reply_time_ms(const redisReply *r)
{
    return stream_reply_array(r, 2) ? stream_reply_u64(r->element[0]) * 1000 + stream_reply_u64(r->element[1]) / 1000
                                    : 0;
}

/* Why a Redis command failed, for the log. */
static const char *redis_why(const redisReply *r, const char *err)
{
    if (r && r->type == REDIS_REPLY_ERROR)
        return r->str;
    return err ? err : "unexpected reply";
}

/* Log why an attempt failed: a warning for the first failure of an outage (attempts are retried with backoff up to
 * BACKOFF_MAX_MS, and the first warning says so), the debug log for the retries of the same outage. */
static void attempt_warn(stream_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void attempt_warn(stream_writer *w, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->failures++ == 0)
        log_warn("writer: %s; retrying with backoff (up to %d ms), nothing is dropped", msg, BACKOFF_MAX_MS);
    else
        log_debug("writer: %s (failure %u in a row)", msg, w->failures);
}

/* Buffer one [id, [fields]] entry from XREADGROUP or XAUTOCLAIM; taken_over per I4 a. */
static void entry_add(stream_writer *w, const redisReply *r, bool taken_over)
{
    if (write_buffer_add(&w->buf, r, now_ms(w), w->read_time_ms, taken_over) && taken_over)
        metric_inc(w->m_claimed);
}

/* Reset the scratch list. */
static void work_clear(stream_writer *w)
{
    w->nwork = w->work_next = 0;
}

/* Append e to the scratch list. */
static int work_push(stream_writer *w, wentry *e)
{
    if (w->nwork == w->capwork) {
        size_t cap = w->capwork ? w->capwork * 2 : 256;
        wentry **n = realloc(w->work, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        w->work = n;
        w->capwork = cap;
    }
    w->work[w->nwork++] = e;
    return 0;
}

/* Whether an entry of the set has rows to insert. */
static bool set_inserts(const wentry *e)
{
    return e->state == E_SET && !e->skip && !e->dead;
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

/* Issue the next XREADGROUP if there is room in the buffer. */
static void read_more(stream_writer *w)
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
    read_more(t->data);
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
            read_more(w);
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
        read_more(w);
    flush_maybe(w);
}

/* The reading connection is (re)established: make sure the group exists, then re-read our own PEL first. */
static void on_rd_connect(redis_client *c, void *arg)
{
    stream_writer *w = arg;
    if (w->stopping)
        return;
    group_create(w);
    w->history = true;
    snprintf(w->history_cursor, sizeof w->history_cursor, "0");
    w->reading = false;
    read_more(w);
}

/* ---- one insert attempt: set, checks, lease, insert, ack ---- */

/* Put the set together: the oldest new entries up to batch_events, coalesced by batch_id (I5, I4 c). */
static void set_build(stream_writer *w)
{
    if (w->set_retry) {
        /* Derived again: a batch found present before is found again (its entry is still uncertain). */
        for (wentry *e = w->buf.head; e; e = e->next)
            if (e->state == E_SET && !e->dead)
                e->skip = false;
    } else {
        size_t count = 0;
        uint64_t events = 0;
        uint64_t now = now_ms(w);
        for (wentry *e = w->buf.head; e; e = e->next) {
            if (e->state != E_NEW || e->not_before > now)
                continue;
            if (count && (events + e->nevents > (uint64_t)w->batch_events ||
                          (w->max_set_entries && count >= w->max_set_entries)))
                break;
            e->state = E_SET;
            e->skip = false;
            w->buf.new_events -= e->nevents;
            events += e->nevents;
            count++;
        }
    }
    /* Coalesce: per batch_id, the first entry of the set carries the rows; other entries of the same batch in
     * the buffer ride along and are acknowledged with it. If one of them is already inserted (waiting for its
     * XACK), the batch is in ClickHouse and nothing of it is inserted again, unless e is a copy made after a
     * ClickHouse restart (that insert may be what the restart lost): e is checked for presence instead. */
    for (wentry *e = w->buf.head; e; e = e->next) {
        if (!set_inserts(e))
            continue;
        wentry *carrier = NULL;
        bool inserted = false;
        for (wentry *o = hashmap_get(w->buf.by_batch, e->batch_id, 36); o; o = o->same_batch) {
            if (o->state == E_ACK && !o->dead && !e->recheck)
                inserted = true;
            else if (!carrier && set_inserts(o))
                carrier = o;
        }
        if (inserted || (carrier && carrier != e)) {
            e->skip = true;
            continue;
        }
        for (wentry *o = hashmap_get(w->buf.by_batch, e->batch_id, 36); o; o = o->same_batch)
            if (o->state == E_NEW) {
                o->state = E_SET;
                o->skip = true;
                w->buf.new_events -= o->nevents;
            }
    }
    w->set_events = 0;
    w->set_entries = 0;
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_SET) {
            e->owners_wait = false; /* decided again by this attempt's P_OWNERS */
            w->set_entries++;
            if (set_inserts(e))
                w->set_events += e->nevents;
        }
}

/* Start an attempt with the set (new, or the failed one again). */
static void attempt_begin(stream_writer *w)
{
    set_build(w);
    if (w->set_entries == 0) {
        w->set_retry = false;
        /* Only postponed entries are buffered: look again when the first one may go. */
        if (w->buf.new_events)
            uv_timer_start(&w->flush_timer, on_flush_timer, POSTPONE_MS, 0);
        return;
    }
    w->last_attempt_ms = now_ms(w);
    w->ph = P_IDLE;
    phase_next(w);
}

static void owners_start(stream_writer *w);
static void owners_release(stream_writer *w);
static void running_start(stream_writer *w);
static void present_start(stream_writer *w);
static void lease_start(stream_writer *w);
static void insert_start(stream_writer *w);
static void ack_start(stream_writer *w);

/* Move the attempt to its next phase; phases with nothing to do are passed over. */
static void phase_next(stream_writer *w)
{
    bool dup = false, taken = false;
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e)) {
            dup |= e->dup;
            taken |= e->taken_over && !e->owners_wait;
        }
    switch (w->ph) {
    case P_IDLE:
        if (dup) {
            owners_start(w);
            return;
        }
        /* fall through */
    case P_OWNERS:
        if (taken) {
            running_start(w);
            return;
        }
        /* fall through */
    case P_RUNNING:
        if (dup || taken) {
            present_start(w);
            return;
        }
        /* fall through */
    case P_PRESENT:
    case P_REPAIR:
        owners_release(w);
        if (w->set_events) {
            lease_start(w);
            return;
        }
        /* fall through */
    case P_LEASE:
        if (w->set_events) {
            insert_start(w);
            return;
        }
        /* fall through */
    case P_INSERT:
        /* Done with the set: inserted, present, carried by another entry, or dead (I1). */
        for (wentry *e = w->buf.head; e; e = e->next)
            if (e->state == E_SET)
                wentry_to_ack(&w->buf, e);
        w->set_retry = false;
        w->set_events = 0;
        w->set_entries = 0;
        ack_start(w);
        return;
    default:
        attempt_end(w, END_FAIL);
    }
}

/* -- P_OWNERS (I4 c) -- */

static void on_owners(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Ask Redis who holds the group's pending entries up to our newest dup entry. */
static void owners_start(stream_writer *w)
{
    stream_id hi = {0, 0};
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e) && e->dup && stream_id_cmp(e->id, hi) > 0)
            hi = e->id;
    char hi_text[44];
    stream_id_format(hi, hi_text, sizeof hi_text);
    const char *argv[] = {"EVAL", owners_script, "1", w->stream_key, w->group, w->consumer, hi_text};
    w->ph = P_OWNERS;
    if (redis_command_argv(w->ctl, on_owners, w, 7, argv, NULL) != 0) {
        count_error("redis");
        attempt_end(w, END_FAIL);
    }
}

/* Take e and the other set entries of its batch out of the set, back to new, postponed for POSTPONE_MS. */
static void set_release_batch(stream_writer *w, wentry *e)
{
    for (wentry *o = hashmap_get(w->buf.by_batch, e->batch_id, 36); o; o = o->same_batch) {
        if (o->state != E_SET)
            continue;
        if (set_inserts(o))
            w->set_events -= o->nevents;
        o->state = E_NEW;
        o->skip = false;
        o->not_before = now_ms(w) + POSTPONE_MS;
        o->blocked = true;
        w->buf.new_events += o->nevents;
        w->set_entries--;
    }
}

/* XPENDING answered: a dup entry is inserted only if no other consumer holds an older entry (which may be the
 * first copy of its batch, not inserted yet). Blocked dup entries are postponed rather than holding up the set: two
 * writers each waiting for the other's older entries would otherwise wait forever. The oldest dup entry of all
 * always passes, and non-dup entries always make progress, so every dup entry passes eventually.
 *
 * Blocked entries that are uncertain (I4 a, b: taken over, or in an insert of ours whose outcome is unknown) still
 * go through the presence check of this attempt (marked owners_wait), and those whose batch is in ClickHouse
 * already are acknowledged at once: a complete batch is durable (I1) whoever holds the older copy, and only
 * inserting needs the wait. Without this, entries an insert of ours had written before its outcome was lost (a
 * timeout, a Redis restart) waited for the other writers' older entries, and theirs for ours, one step of this
 * ping-pong per attempt, pending with their rows in ClickHouse. Their absence proves nothing while an older copy
 * may be held elsewhere, so the absent ones are released (owners_release) after the check, never inserted in this
 * attempt. Other blocked entries (most are spool replays that never reached Redis before) are released at once:
 * checking them on every attempt of the ping-pong would only slow each step down. */
static void on_owners(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    stream_id oldest_other = {UINT64_MAX, UINT64_MAX};
    if (!reply || (reply->type != REDIS_REPLY_NIL && !stream_reply_id(reply, &oldest_other))) {
        attempt_warn(w, "checking who holds older stream entries failed: %s", redis_why(reply, err));
        count_error("redis");
        attempt_end(w, END_FAIL);
        return;
    }
    size_t blocked = 0;
    for (wentry *e = w->buf.head; e; e = e->next) {
        if (!set_inserts(e) || !e->dup)
            continue;
        if (stream_id_cmp(e->id, oldest_other) <= 0) {
            e->blocked = false;
            continue;
        }
        blocked++;
        if (e->taken_over)
            e->owners_wait = true;
        else
            set_release_batch(w, e);
    }
    if (blocked) {
        metric_inc(w->m_waits);
        log_debug("writer: %zu dup batches wait until older entries pending with other writers are done", blocked);
        if (w->set_events == 0) {
            attempt_end(w, END_BUSY);
            return;
        }
    }
    phase_next(w);
}

/* After the presence check: the dup entries P_OWNERS blocked and that are not in ClickHouse (or only partly) leave
 * the set, postponed; the rest of the set goes on. */
static void owners_release(stream_writer *w)
{
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e) && e->owners_wait) {
            e->owned_mark = false; /* a partly present batch is repaired once it may be inserted, not now */
            set_release_batch(w, e);
        }
}

/* -- P_RUNNING (I4 a, b) -- */

static void on_running(ch_client *c, int err, long status, const char *body, size_t len, void *arg);

/* Ask ClickHouse whether an older writer insert that may hold our taken-over entries still runs. */
static void running_start(stream_writer *w)
{
    stream_id lo = {UINT64_MAX, UINT64_MAX}, hi = {0, 0};
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e) && e->taken_over && !e->owners_wait) {
            if (stream_id_cmp(e->id, lo) < 0)
                lo = e->id;
            if (stream_id_cmp(e->id, hi) > 0)
                hi = e->id;
        }
    bytebuf sql = {0};
    w->ph = P_RUNNING;
    int rc = stream_writer_running_sql(lo, hi, &sql);
    if (!rc)
        rc = ch_query(w->ch, sql.data, on_running, w);
    bytebuf_free(&sql);
    if (rc) {
        count_error("clickhouse_check");
        attempt_end(w, END_FAIL);
    }
}

/* system.processes answered. */
static void on_running(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    if (err) {
        attempt_warn(w, "checking ClickHouse for running inserts failed: %.*s", (int)len, body);
        count_error(err == -ETIMEDOUT ? "timeout" : err == -EPROTO ? "clickhouse_check" : "connection");
        attempt_end(w, END_FAIL);
        return;
    }
    if (atol(body) > 0) {
        metric_inc(w->m_waits);
        log_debug("writer: an earlier insert of taken-over entries still runs in ClickHouse; waiting for it");
        attempt_end(w, END_BUSY);
        return;
    }
    phase_next(w);
}

/* -- P_PRESENT and P_REPAIR (I4) -- */

static void on_present(ch_client *c, int err, long status, const char *body, size_t len, void *arg);
static void repair_next(stream_writer *w);

/* Send the next presence query (CHECK_CHUNK batches), or go on when all were asked. */
static void present_next(stream_writer *w)
{
    if (w->work_next >= w->nwork) {
        repair_next(w);
        return;
    }
    size_t n = w->nwork - w->work_next;
    if (n > CHECK_CHUNK)
        n = CHECK_CHUNK;
    const char *ids[CHECK_CHUNK];
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        wentry *e = w->work[w->work_next + i];
        ids[i] = e->batch_id;
        if (e->received_s < lo)
            lo = e->received_s;
        if (e->received_s > hi)
            hi = e->received_s;
    }
    bytebuf sql = {0};
    int rc = stream_writer_present_sql(w->table, ids, n, lo, hi, &sql);
    if (!rc)
        rc = ch_query(w->ch, sql.data, on_present, w);
    bytebuf_free(&sql);
    if (rc) {
        count_error("clickhouse_check");
        attempt_end(w, END_FAIL);
    }
}

/* Check the uncertain entries of the set. */
static void present_start(stream_writer *w)
{
    w->ph = P_PRESENT;
    work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e) && (e->dup || e->taken_over) && work_push(w, e) != 0) {
            attempt_end(w, END_FAIL);
            return;
        }
    present_next(w);
}

/* One presence query answered: "batch_id<TAB>rows" lines. */
static void on_present(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    if (err) {
        attempt_warn(w, "checking ClickHouse for already inserted batches failed: %.*s", (int)len, body);
        count_error(err == -ETIMEDOUT ? "timeout" : err == -EPROTO ? "clickhouse_check" : "connection");
        attempt_end(w, END_FAIL);
        return;
    }
    size_t n = w->nwork - w->work_next, present = 0;
    if (n > CHECK_CHUNK)
        n = CHECK_CHUNK;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *tab = memchr(p, '\t', (size_t)(line_end - p));
        if (tab && tab - p == 36) {
            uint64_t rows = strtoull(tab + 1, NULL, 10);
            for (size_t i = 0; i < n; i++) {
                wentry *e = w->work[w->work_next + i];
                if (e->skip || memcmp(e->batch_id, p, 36) != 0)
                    continue;
                if (rows >= e->total_events) {
                    if (rows > e->total_events)
                        log_error("writer: batch %s has %" PRIu64 " rows in ClickHouse but %u events (inserted "
                                  "twice before?)",
                                  e->batch_id, rows, e->total_events);
                    /* Done with (I1): out of the set at once, with the entries carrying the same batch, so that a
                     * retry of the set does not look for it again. */
                    e->skip = true;
                    metric_inc(w->m_dups);
                    present++;
                    for (wentry *o = hashmap_get(w->buf.by_batch, e->batch_id, 36); o; o = o->same_batch)
                        if (o->state == E_SET) {
                            if (set_inserts(o) || o == e)
                                w->set_events -= o->nevents;
                            wentry_to_ack(&w->buf, o);
                            w->set_entries--;
                        }
                    log_debug("writer: batch %s (stream entry %s) is in ClickHouse already", e->batch_id, e->id_text);
                } else {
                    /* Against I2; repaired rather than trusted (see repair_next). */
                    e->owned_mark = true;
                    log_error("writer: batch %s is only partly in ClickHouse (%" PRIu64
                              " of %u rows); inserting the missing rows",
                              e->batch_id, rows, e->total_events);
                }
            }
        }
        p = line_end + 1;
    }
    if (present)
        log_info("writer: %zu of %zu uncertain batches are in ClickHouse already; acknowledging them without "
                 "inserting",
                 present, n);
    w->work_next += n;
    present_next(w);
}

static void on_repair(ch_client *c, int err, long status, const char *body, size_t len, void *arg);

/* Ask for the event_ids of the next partly present batch (marked owned_mark by on_present), or go on. */
static void repair_next(stream_writer *w)
{
    w->ph = P_REPAIR;
    wentry *e = NULL;
    for (size_t i = 0; i < w->nwork && !e; i++)
        if (w->work[i]->owned_mark && !w->work[i]->skip && !w->work[i]->owners_wait)
            e = w->work[i];
    if (!e) {
        phase_next(w);
        return;
    }
    int64_t lo = (int64_t)e->received_s - 3600, hi = (int64_t)e->received_s + 3600;
    bytebuf sql = {0};
    int rc = bytebuf_appendf(&sql,
                             "SELECT toString(event_id)\n"
                             "FROM %s\n"
                             "WHERE received_at >= toDateTime(%" PRId64 ") AND received_at <= toDateTime(%" PRId64 ")\n"
                             "  AND batch_id = toUUID('%s')\n"
                             "FORMAT TabSeparated",
                             w->table, lo < 0 ? 0 : lo, hi, e->batch_id);
    if (!rc)
        rc = ch_query(w->ch, sql.data, on_repair, w);
    bytebuf_free(&sql);
    if (rc) {
        count_error("clickhouse_check");
        attempt_end(w, END_FAIL);
    }
}

/* The event_ids of a partly present batch: keep only the rows whose event_id is missing. */
static void on_repair(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    wentry *e = NULL;
    for (size_t i = 0; i < w->nwork && !e; i++)
        if (w->work[i]->owned_mark && !w->work[i]->skip && !w->work[i]->owners_wait)
            e = w->work[i];
    if (err || !e) {
        count_error("clickhouse_check");
        attempt_end(w, END_FAIL);
        return;
    }
    hashmap *present = hashmap_new();
    char *rows = malloc(e->rows_len + 1);
    if (!present || !rows) {
        hashmap_free(present, NULL);
        free(rows);
        attempt_end(w, END_FAIL);
        return;
    }
    for (const char *p = body, *end = body + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        if (line_end - p == 36)
            hashmap_put(present, p, 36, (void *)p, NULL);
        p = line_end + 1;
    }
    size_t out = 0;
    uint32_t kept = 0;
    for (const char *p = e->rows, *end = e->rows + e->rows_len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl + 1 : end) - p);
        if (n < 37 || !hashmap_get(present, p, 36)) { /* event_id is the first column */
            memcpy(rows + out, p, n);
            out += n;
            kept++;
        }
        p += n;
    }
    hashmap_free(present, NULL);
    if (e->rows_owned)
        free(e->rows);
    w->set_events -= e->nevents - kept;
    e->rows = rows;
    e->rows_len = out;
    e->rows_owned = true;
    e->nevents = kept;
    e->owned_mark = false;
    if (kept == 0)
        e->skip = true;
    repair_next(w);
}

/* -- P_LEASE (I3) -- */

static void on_lease(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Run the lease script over the entries in the scratch list. Returns 0 or -ENOTCONN/-ENOMEM. */
static int lease_send(stream_writer *w, redis_reply_fn cb)
{
    stream_id lo = {UINT64_MAX, UINT64_MAX}, hi = {0, 0};
    for (size_t i = 0; i < w->nwork; i++) {
        if (stream_id_cmp(w->work[i]->id, lo) < 0)
            lo = w->work[i]->id;
        if (stream_id_cmp(w->work[i]->id, hi) > 0)
            hi = w->work[i]->id;
        w->work[i]->owned_mark = false;
    }
    size_t argc = 8 + w->nwork;
    const char **argv = malloc(argc * sizeof *argv);
    if (!argv)
        return -ENOMEM;
    char lo_text[44], hi_text[44];
    stream_id_format(lo, lo_text, sizeof lo_text);
    stream_id_format(hi, hi_text, sizeof hi_text);
    argv[0] = "EVAL";
    argv[1] = lease_script;
    argv[2] = "1";
    argv[3] = w->stream_key;
    argv[4] = w->group;
    argv[5] = w->consumer;
    argv[6] = lo_text;
    argv[7] = hi_text;
    for (size_t i = 0; i < w->nwork; i++)
        argv[8 + i] = w->work[i]->id_text;
    w->lease_sent_ms = clock_ms();
    int rc = redis_command_argv(w->ctl, cb, w, (int)argc, argv, NULL);
    free(argv);
    return rc;
}

static void lease_full(stream_writer *w);
static void on_lease_time(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Confirm we still own the entries to insert, right before inserting them.
 *
 * When every entry of the set was read by us with '>' (none uncertain, I4 a, b), Redis's clock is enough: an entry
 * read less than op_timeout_ms / 2 ago by that clock, with the clock's answer back within op_timeout_ms / 2, is still
 * ours (another writer takes an entry over only once it is idle claim_idle_ms by the same clock), and until our
 * insert has timed out it stays idle for less than 2 * op_timeout_ms <= 2/3 claim_idle_ms: the bound the lease
 * gives. That is the usual case (the set was read within WRITER_FLUSH_MS), and it spares Redis the lease script,
 * which held its only thread for 6-7 ms per insert at 18,000 events/s (XPENDING and XCLAIM of some 2,000 entries,
 * each XCLAIM also written to the AOF) while every XADD waited. Redis's clock and not ours: a writer frozen or
 * paused (SIGSTOP, a suspended VM) may not see its own clock move. */
static void lease_start(stream_writer *w)
{
    w->ph = P_LEASE;
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_SET && (e->taken_over || !e->read_at_ms)) {
            lease_full(w);
            return;
        }
    const char *argv[] = {"TIME"};
    w->lease_sent_ms = clock_ms();
    if (redis_command_argv(w->ctl, on_lease_time, w, 1, argv, NULL) != 0) {
        count_error("redis");
        attempt_end(w, END_FAIL);
    }
}

/* Redis's clock answered: insert if every entry of the set is fresh by it, else run the lease script. */
static void on_lease_time(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    (void)c;
    stream_writer *w = arg;
    if (w->finishing)
        return;
    uint64_t now = reply_time_ms(reply), limit = (uint64_t)w->op_timeout_ms / 2;
    if (!now) {
        attempt_warn(w, "reading Redis's clock failed: %s", redis_why(reply, err));
        count_error("redis");
        attempt_end(w, END_FAIL);
        return;
    }
    bool fresh = clock_ms() - w->lease_sent_ms <= limit;
    for (wentry *e = w->buf.head; e && fresh; e = e->next)
        if (e->state == E_SET)
            fresh = now >= e->read_at_ms && now - e->read_at_ms <= limit;
    if (fresh) {
        metric_inc(w->m_lease_clock);
        phase_next(w);
    } else {
        lease_full(w);
    }
}

/* The lease script over the set. */
static void lease_full(stream_writer *w)
{
    metric_inc(w->m_lease_script);
    work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_SET && work_push(w, e) != 0) {
            attempt_end(w, END_FAIL);
            return;
        }
    if (lease_send(w, on_lease) != 0) {
        count_error("redis");
        attempt_end(w, END_FAIL);
    }
}

/* Drop the scratch-list entries the lease did not confirm: another consumer has them now (or they were
 * acknowledged), so they are that consumer's to insert. Entries inserted already (E_ACK, in a refresh of the whole
 * buffer) stay: their batch is complete in raw_events, so our XACK is right whoever holds them now (I1), and it
 * spares the new holder a check of each. Dead ones go to the new holder, which stores them aside itself. */
static size_t lease_apply(stream_writer *w, const redisReply *reply)
{
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *r = reply->element[i];
        if (r->type != REDIS_REPLY_STRING)
            continue;
        wentry *e = hashmap_get(w->buf.by_id, r->str, r->len);
        if (e)
            e->owned_mark = true;
    }
    size_t lost = 0;
    for (size_t i = 0; i < w->nwork; i++) {
        wentry *e = w->work[i];
        if (e->owned_mark) {
            e->owned_mark = false;
            continue;
        }
        if (e->state == E_ACK && !e->dead)
            continue;
        if (e->state == E_SET && !e->skip && !e->dead)
            w->set_events -= e->nevents;
        if (e->state == E_SET)
            w->set_entries--;
        wentry_drop(&w->buf, e);
        lost++;
    }
    work_clear(w);
    return lost;
}

/* The lease script answered. */
static void on_lease(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        attempt_warn(w, "confirming ownership of stream entries failed: %s", redis_why(reply, err));
        count_error("redis");
        attempt_end(w, END_FAIL);
        return;
    }
    size_t lost = lease_apply(w, reply);
    if (lost)
        log_warn("writer: %zu stream entries were taken over by another writer while we held them (we were slow); "
                 "leaving them to it",
                 lost);
    /* I3 needs the lease and our insert to end within claim_idle: a very slow answer leaves too little. */
    uint64_t took = clock_ms() - w->lease_sent_ms;
    if (took > (uint64_t)w->op_timeout_ms) {
        log_warn("writer: Redis took %" PRIu64 " ms to confirm ownership (or we were paused); trying again", took);
        count_error("redis");
        attempt_end(w, END_FAIL);
        return;
    }
    if (w->set_entries == 0) {
        w->set_retry = false;
        attempt_end(w, END_OK);
        return;
    }
    phase_next(w);
}

/* -- P_INSERT -- */

/* ch_read_fn: the rows of the set, entry after entry, without copying them into one buffer first. */
static size_t body_read(char *buf, size_t size, void *arg)
{
    stream_writer *w = arg;
    size_t out = 0;
    while (out < size && w->body_pos) {
        wentry *e = w->body_pos;
        if (!set_inserts(e) || w->body_off >= e->rows_len) {
            w->body_pos = e->next;
            w->body_off = 0;
            continue;
        }
        size_t n = e->rows_len - w->body_off;
        if (n > size - out)
            n = size - out;
        memcpy(buf + out, e->rows + w->body_off, n);
        out += n;
        w->body_off += n;
    }
    return out;
}

static void on_inserted(ch_client *c, int err, long status, const char *body, size_t len, void *arg);

/* Insert the set's rows with one INSERT, under a query_id derived from the set's entry range. */
static void insert_start(stream_writer *w)
{
    w->ph = P_INSERT;
    stream_id lo = {UINT64_MAX, UINT64_MAX}, hi = {0, 0};
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_SET) {
            if (stream_id_cmp(e->id, lo) < 0)
                lo = e->id;
            if (stream_id_cmp(e->id, hi) > 0)
                hi = e->id;
        }
    char qid[WRITER_QUERY_ID_SIZE], params[WRITER_QUERY_ID_SIZE + 160];
    stream_writer_query_id(lo, hi, qid);
    snprintf(params, sizeof params, "query_id=%s&" INSERT_URL_SETTINGS, qid);
    char *url = url_with_params(w->clickhouse_url, params);
    w->ins = url ? ch_client_new(w->loop, url, w->op_timeout_ms) : NULL;
    free(url);
    w->body_pos = w->buf.head;
    w->body_off = 0;
    w->insert_start_ns = uv_hrtime();
    if (!w->ins || ch_insert_stream(w->ins, w->insert_sql, body_read, w, on_inserted, w) != 0) {
        if (w->ins)
            ch_client_free(w->ins);
        w->ins = NULL;
        count_error("out_of_memory");
        attempt_end(w, END_FAIL);
        return;
    }
    log_debug("writer: inserting %" PRIu64 " events of %zu stream entries as %s", w->set_events, w->set_entries, qid);
}

/* ClickHouse refused rows of the set on their own merits: halve the set until the entry is isolated, then
 * move that entry to the dead-letter stream (never dropped, never blocking the rest). */
static void isolate_bad_rows(stream_writer *w, const char *body, size_t len)
{
    size_t n = 0;
    for (wentry *e = w->buf.head; e; e = e->next)
        n += set_inserts(e);
    if (n <= 1) {
        for (wentry *e = w->buf.head; e; e = e->next)
            if (set_inserts(e)) {
                e->dead = true;
                free(e->dead_reason);
                e->dead_reason = strndup(body, len > 1000 ? 1000 : len);
                w->set_events -= e->nevents;
                log_error("writer: ClickHouse refuses batch %s (stream entry %s): %.*s; moving it to %s", e->batch_id,
                          e->id_text, (int)(len > 300 ? 300 : len), body, w->dead_key);
            }
        if (w->isolate_left)
            w->isolate_left--;
        if (!w->isolate_left)
            w->max_set_entries = 0;
        return;
    }
    if (!w->max_set_entries)
        w->isolate_left = n;
    w->max_set_entries = (n + 1) / 2;
    size_t kept = 0;
    for (wentry *e = w->buf.head; e; e = e->next) {
        if (e->state != E_SET || e->dead)
            continue;
        if (!e->skip && ++kept <= w->max_set_entries)
            continue;
        if (kept <= w->max_set_entries)
            continue; /* a rider of a carrier that stays */
        if (!e->skip)
            w->set_events -= e->nevents;
        e->state = E_NEW;
        e->skip = false;
        w->buf.new_events += e->nevents;
    }
    log_warn("writer: ClickHouse refuses the rows of one of %zu stream entries; retrying in halves to find it", n);
}

/* The INSERT finished. */
static void on_inserted(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    stream_writer *w = arg;
    w->ins = NULL;
    ch_client_free(c); /* allowed from its own callback; a fresh client (and query_id) per attempt */
    if (w->finishing)
        return;
    double secs = (double)(uv_hrtime() - w->insert_start_ns) / 1e9;
    if (err == 0) {
        w->events_written += w->set_events;
        metric_add(w->m_events, (double)w->set_events);
        metric_observe(w->m_latency, secs);
        metric_observe(w->m_size, (double)w->set_events);
        w->backoff_ms = 0;
        if (w->isolate_left) {
            w->isolate_left = w->isolate_left > w->set_entries ? w->isolate_left - w->set_entries : 0;
            if (!w->isolate_left)
                w->max_set_entries = 0;
        }
        phase_next(w);
        return;
    }
    /* Outcome unknown (timeout, lost connection) or refused: the entries may be in ClickHouse now, or later
     * if the insert still runs there (I4 b). Retry the same set, checked first. */
    int code = err == -EPROTO ? ch_error_code(body) : 0;
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e))
            e->taken_over = true;
    const char *reason = err == -ETIMEDOUT   ? "timeout"
                         : err == -EPROTO    ? (code == 216           ? "already_running"
                                                : ch_data_error(code) ? "bad_data"
                                                                      : "clickhouse")
                         : err == -ECANCELED ? "cancelled"
                                             : "connection";
    count_error(reason);
    if (code == 216) {
        /* Our earlier attempt with this query_id still runs: it may well succeed; look again shortly. */
        log_info("writer: the previous insert of these entries still runs in ClickHouse; checking again soon");
        attempt_end(w, END_BUSY);
        return;
    }
    attempt_warn(w, "inserting %" PRIu64 " events into ClickHouse failed after %.1f s (%s): %.*s", w->set_events, secs,
                 reason, (int)(len > 300 ? 300 : len), body);
    if (ch_data_error(code)) {
        isolate_bad_rows(w, body, len);
        if (w->set_events == 0) {
            /* Only dead entries left in the set: store them aside and acknowledge. */
            w->ph = P_INSERT;
            phase_next(w);
            return;
        }
        w->backoff_ms = 0;
    }
    attempt_end(w, END_FAIL);
}

/* -- P_ACK (I1) -- */

static void on_dead_stored(redis_client *c, redisReply *reply, const char *err, void *arg);
static void on_acked(redis_client *c, redisReply *reply, const char *err, void *arg);

/* XACK every entry done with (dead ones once they are in the dead-letter stream). */
static void ack_send(stream_writer *w)
{
    work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_ACK && (!e->dead || e->dead_stored) && work_push(w, e) != 0)
            break;
    if (w->nwork == 0) {
        attempt_end(w, w->dead_failed ? END_FAIL : END_OK);
        return;
    }
    const char **argv = malloc((w->nwork + 3) * sizeof *argv);
    int rc = -ENOMEM;
    if (argv) {
        argv[0] = "XACK";
        argv[1] = w->stream_key;
        argv[2] = w->group;
        for (size_t i = 0; i < w->nwork; i++)
            argv[3 + i] = w->work[i]->id_text;
        rc = redis_command_argv(w->ctl, on_acked, w, (int)(w->nwork + 3), argv, NULL);
        free(argv);
    }
    /* Freshness: the acknowledged rows are in ClickHouse (I1), so queryd may now re-read what they changed. */
    for (size_t i = 0; rc == 0 && i < w->nwork; i++)
        if (!w->work[i]->dead)
            fresh_note_rows(w->fresh, w->work[i]->rows, w->work[i]->rows_len);
    if (rc == 0)
        fresh_note_send(w->fresh, w->ctl);
    if (rc) {
        count_error("redis");
        attempt_end(w, END_FAIL);
    }
}

/* Copy dead entries to the dead-letter stream (replies come back in order, matched through the scratch list),
 * then acknowledge. */
static void ack_start(stream_writer *w)
{
    w->ph = P_ACK;
    w->dead_failed = false;
    work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next) {
        if (e->state != E_ACK || !e->dead || e->dead_stored)
            continue;
        char count[16];
        snprintf(count, sizeof count, "%u", e->total_events);
        const char *reason = e->dead_reason ? e->dead_reason : "refused";
        const char *argv[] = {"XADD",      w->dead_key,    "*",   "src",         e->id_text, STREAM_F_BATCH,
                              e->batch_id, STREAM_F_COUNT, count, STREAM_F_ROWS, e->rows,    "err",
                              reason};
        size_t lens[] = {4,
                         strlen(w->dead_key),
                         1,
                         3,
                         strlen(e->id_text),
                         strlen(STREAM_F_BATCH),
                         strlen(e->batch_id),
                         strlen(STREAM_F_COUNT),
                         strlen(count),
                         strlen(STREAM_F_ROWS),
                         e->rows_len,
                         3,
                         strlen(reason)};
        if (work_push(w, e) != 0 || redis_command_argv(w->ctl, on_dead_stored, w, 13, argv, lens) != 0) {
            if (w->nwork && w->work[w->nwork - 1] == e)
                w->nwork--;
            w->dead_failed = true;
            break;
        }
        w->pending_replies++;
    }
    if (!w->pending_replies)
        ack_send(w);
}

/* A dead entry's copy reached the dead-letter stream (or not). */
static void on_dead_stored(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    wentry *e = w->work_next < w->nwork ? w->work[w->work_next++] : NULL;
    w->pending_replies--;
    if (e && reply && reply->type == REDIS_REPLY_STRING) {
        e->dead_stored = true;
        metric_inc(w->m_dead);
    } else {
        log_warn("writer: storing a refused batch in %s failed: %s", w->dead_key, redis_why(reply, err));
        w->dead_failed = true;
    }
    if (w->pending_replies || w->finishing)
        return;
    ack_send(w);
}

/* XACK answered: the entries are done. */
static void on_acked(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_writer *w = arg;
    if (w->finishing)
        return;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        attempt_warn(w, "XACK on %s failed: %s; the entries stay pending until it succeeds", w->stream_key,
                     redis_why(reply, err));
        count_error("redis");
        attempt_end(w, END_FAIL);
        return;
    }
    for (size_t i = 0; i < w->nwork; i++)
        wentry_drop(&w->buf, w->work[i]);
    work_clear(w);
    /* Dead entries that could not be stored aside are acknowledged later, after a backoff. */
    attempt_end(w, w->dead_failed ? END_FAIL : END_OK);
}

static void on_retry_timer(uv_timer_t *t);

/* End of an attempt (or of a phase that failed): back to idle, and decide when to go on. */
static void attempt_end(stream_writer *w, attempt_end_kind kind)
{
    w->ph = P_IDLE;
    work_clear(w);
    if (kind == END_OK) {
        if (w->failures)
            log_info("writer: inserting works again after %u failed attempts", w->failures);
        w->failures = 0;
        w->backoff_ms = 0;
    } else {
        /* The set stays together for the retry (same entries, so the same query_id when nothing changed). */
        bool any_set = false;
        for (wentry *e = w->buf.head; e; e = e->next)
            any_set |= e->state == E_SET;
        w->set_retry = any_set;
        unsigned delay;
        if (kind == END_BUSY) {
            delay = BUSY_RETRY_MS;
        } else {
            w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;
            if (w->backoff_ms > BACKOFF_MAX_MS)
                w->backoff_ms = BACKOFF_MAX_MS;
            delay = w->backoff_ms;
            if (w->stopping)
                w->stop_failed = true;
        }
        if (!w->stop_failed) {
            w->retry_wait = true;
            uv_timer_start(&w->retry_timer, on_retry_timer, delay, 0);
        }
    }
    metric_set(w->m_buffered, (double)(w->buf.new_events + w->set_events));
    read_more(w);
    flush_maybe(w);
}

/* The retry delay passed. */
static void on_retry_timer(uv_timer_t *t)
{
    stream_writer *w = t->data;
    w->retry_wait = false;
    flush_maybe(w);
}

/* The command connection is (re)established. While Redis was away every attempt failed at once (not connected),
 * doubling the backoff to BACKOFF_MAX_MS within a few seconds; waiting it out now would leave acknowledgements and
 * lease refreshes undone for that long, and entries idle past claim_idle_ms would be taken over by other writers
 * for nothing. Start again from the shortest backoff, at once. */
static void on_ctl_connect(redis_client *c, void *arg)
{
    stream_writer *w = arg;
    if (w->stopping || w->finishing)
        return;
    w->backoff_ms = 0;
    if (w->retry_wait) {
        uv_timer_stop(&w->retry_timer);
        w->retry_wait = false;
    }
    flush_maybe(w);
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
        flush_maybe(w);
        return;
    }
    char idle[24], count[16];
    snprintf(idle, sizeof idle, "%ld", w->claim_idle_ms);
    snprintf(count, sizeof count, "%d", CLAIM_COUNT);
    const char *argv[] = {"XAUTOCLAIM", w->stream_key, w->group, w->consumer, idle, w->claim_cursor, "COUNT", count};
    if (redis_command_argv(w->ctl, on_claimed, w, 8, argv, NULL) != 0) {
        w->ph = P_IDLE;
        flush_maybe(w);
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
        flush_maybe(w);
        return;
    }
    stream_id next;
    if (stream_reply_id(r->element[0], &next))
        stream_id_format(next, w->claim_cursor, sizeof w->claim_cursor);
    size_t n = 0;
    if (r->element[1]->type == REDIS_REPLY_ARRAY) {
        n = r->element[1]->elements;
        for (size_t i = 0; i < n; i++)
            entry_add(w, r->element[1]->element[i], /* taken_over= */ true);
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
    flush_maybe(w);
}

static void on_refreshed(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Refresh the lease (I3) of every buffered entry not acknowledged yet (new, in a set waiting for its retry, or
 * inserted and waiting for its XACK), so that other writers do not take them over needlessly while we hold them
 * (e.g. while ClickHouse or Redis is down); then claim. */
static void maint_start(stream_writer *w)
{
    w->maint_due = false;
    w->ph = P_MAINT;
    work_clear(w);
    if (now_ms(w) - w->last_refresh_ms >= (uint64_t)w->claim_idle_ms / 3) {
        for (wentry *e = w->buf.head; e; e = e->next)
            if (work_push(w, e) != 0)
                break;
    }
    if (w->nwork == 0 || lease_send(w, on_refreshed) != 0) {
        work_clear(w);
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
        size_t lost = lease_apply(w, reply);
        if (lost)
            log_warn("writer: %zu buffered stream entries were taken over by another writer; leaving them to it", lost);
    } else {
        work_clear(w);
    }
    claim_start(w);
}

/* ---- scheduling ---- */

/* The flush deadline passed. */
static void on_flush_timer(uv_timer_t *t)
{
    flush_maybe(t->data);
}

/* Decide what to do next when idle: acknowledge, insert, maintain, or wait. */
static void flush_maybe(stream_writer *w)
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
            ack_start(w);
            return;
        }
        if (!w->stop_failed && news) {
            attempt_begin(w);
            if (w->ph != P_IDLE || w->retry_wait || w->finishing)
                return;
        }
        finish(w);
        return;
    }
    if (w->maint_due) {
        maint_start(w);
        return;
    }
    if (w->buf.maybe_acks) {
        for (wentry *e = w->buf.head; e; e = e->next)
            if (e->state == E_ACK) {
                ack_start(w);
                return;
            }
        w->buf.maybe_acks = false;
    }
#ifndef NDEBUG
    for (wentry *e = w->buf.head; e; e = e->next)
        assert(e->state != E_ACK); /* an entry that became E_ACK without wentry_to_ack */
#endif
    if (w->set_retry) {
        attempt_begin(w);
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
        attempt_begin(w);
        return;
    }
    uv_timer_start(&w->flush_timer, on_flush_timer, due - now, 0);
}

/* The periodic tick: maintenance when idle, trimming and metrics, the consumer sweep, reading. */
static void on_tick(uv_timer_t *t)
{
    stream_writer *w = t->data;
    if (w->stopping)
        return;
    w->maint_due = true;
    ch_guard_tick(w->guard, w->ctl, w->ch, now_ms(w));
    stream_trimmer_tick(w->trimmer, w->ctl, now_ms(w));
    read_more(w);
    flush_maybe(w);
}

/* ---- lifetime ---- */

void stream_writer_config_from_env(stream_writer_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->redis_url = config_get("REDIS_URL");
    cfg->clickhouse_url = config_get("CLICKHOUSE_URL");
    cfg->clickhouse_timeout_ms = (long)config_get_int("CLICKHOUSE_TIMEOUT_MS", 30000);
    cfg->stream_key = config_get("INGEST_STREAM");
    cfg->group = config_get("WRITER_GROUP");
    cfg->batch_events = (long)config_get_int("WRITER_BATCH_EVENTS", 100000);
    cfg->flush_ms = (long)config_get_int("WRITER_FLUSH_MS", 1000);
    cfg->claim_idle_ms = (long)config_get_int("WRITER_CLAIM_IDLE_MS", 30000);
    cfg->stream_groups = config_get("STREAM_GROUPS");
    cfg->max_backlog = config_get_int("STREAM_MAX_BACKLOG", 2000000);
    cfg->retain_ms = config_get_int("WRITER_RETAIN_MS", 60000);
    cfg->shutdown_grace_ms = (long)config_get_int("SHUTDOWN_GRACE_MS", 10000);
}

/* Init a timer owned by w. */
static void timer_init(stream_writer *w, uv_timer_t *t)
{
    uv_timer_init(w->loop, t);
    t->data = w;
}

stream_writer *stream_writer_new(uv_loop_t *loop, const stream_writer_config *cfg, int *err)
{
    *err = -EINVAL;
    const char *bad = NULL;
    if (!cfg->redis_url || !*cfg->redis_url)
        bad = "REDIS_URL is empty";
    else if (!cfg->clickhouse_url || !*cfg->clickhouse_url)
        bad = "CLICKHOUSE_URL is empty";
    else if (!cfg->stream_key || !*cfg->stream_key)
        bad = "INGEST_STREAM is empty";
    else if (!cfg->group || !*cfg->group)
        bad = "WRITER_GROUP is empty";
    else if (cfg->batch_events < 1 || cfg->batch_events > MAX_BATCH_EVENTS)
        bad = "WRITER_BATCH_EVENTS must be between 1 and 1000000 (one insert must stay one block)";
    else if (cfg->flush_ms < 1)
        bad = "WRITER_FLUSH_MS must be at least 1";
    else if (cfg->claim_idle_ms < 300)
        bad = "WRITER_CLAIM_IDLE_MS must be at least 300";
    else if (cfg->max_backlog < 1)
        bad = "STREAM_MAX_BACKLOG must be at least 1";
    else if (cfg->retain_ms < 0)
        bad = "WRITER_RETAIN_MS must not be negative";
    if (bad) {
        log_error("writer: %s", bad);
        return NULL;
    }
    *err = -ENOMEM;
    stream_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->loop = loop;
    w->read_count = 1; /* the entries' size is not known yet: one, then as read_count_next says */
    char consumer[300];
    if (cfg->consumer) {
        snprintf(consumer, sizeof consumer, "%s", cfg->consumer);
    } else {
        char host[256] = "host";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(consumer, sizeof consumer, "%s-%ld", host, (long)getpid());
    }
    w->redis_url = dup_or_null(cfg->redis_url);
    w->clickhouse_url = dup_or_null(cfg->clickhouse_url);
    w->stream_key = dup_or_null(cfg->stream_key);
    w->group = dup_or_null(cfg->group);
    w->consumer = strdup(consumer);
    w->stream_groups = strdup(cfg->stream_groups ? cfg->stream_groups : "");
    w->table = strdup(cfg->table ? cfg->table : "raw_events");
    size_t dl = strlen(cfg->stream_key) + 8;
    w->dead_key = malloc(dl);
    if (w->dead_key)
        snprintf(w->dead_key, dl, "%s:dead", cfg->stream_key);
    size_t rl = strlen(cfg->stream_key) + sizeof STREAM_RELEASED_SUFFIX;
    w->released_key = malloc(rl);
    if (w->released_key)
        snprintf(w->released_key, rl, "%s%s", cfg->stream_key, STREAM_RELEASED_SUFFIX);
    w->batch_events = cfg->batch_events;
    w->flush_ms = cfg->flush_ms;
    w->claim_idle_ms = cfg->claim_idle_ms;
    w->max_backlog = (uint64_t)cfg->max_backlog;
    w->shutdown_grace_ms = cfg->shutdown_grace_ms > 0 ? cfg->shutdown_grace_ms : 10000;
    /* I3: every ClickHouse request ends within a third of the claim idle time. */
    long timeout = cfg->clickhouse_timeout_ms > 0 ? cfg->clickhouse_timeout_ms : 30000;
    w->op_timeout_ms = timeout < cfg->claim_idle_ms / 3 ? timeout : cfg->claim_idle_ms / 3;
    w->max_buffer_events = 2 * (uint64_t)cfg->batch_events;
    bytebuf sql = {0};
    if (writer_insert_sql(w->table, &sql) == 0)
        w->insert_sql = sql.data;
    int buf_err = write_buffer_init(&w->buf, w->stream_key, w->dead_key);
    snprintf(w->claim_cursor, sizeof w->claim_cursor, "0-0");
    if (!w->redis_url || !w->clickhouse_url || !w->stream_key || !w->group || !w->consumer || !w->stream_groups ||
        !w->table || !w->dead_key || !w->released_key || !w->insert_sql || buf_err)
        goto fail;
    ch_guard_config gc = {
        .stream_key = w->stream_key, .group = w->group, .consumer = w->consumer, .retain_ms = (uint64_t)cfg->retain_ms};
    w->guard = ch_guard_new(&gc);
    w->fresh = fresh_note_new();
    if (!w->guard || !w->fresh)
        goto fail;
    stream_trimmer_config tc = {.stream_key = w->stream_key,
                                .group = w->group,
                                .consumer = w->consumer,
                                .stream_groups = w->stream_groups,
                                .released_key = w->released_key,
                                .max_backlog = w->max_backlog};
    w->trimmer = stream_trimmer_new(loop, &tc, w->guard);
    if (!w->trimmer)
        goto fail;
    w->rd = redis_client_new(loop, w->redis_url);
    w->ctl = w->rd ? redis_client_new(loop, w->redis_url) : NULL;
    w->ch = w->ctl ? ch_client_new(loop, w->clickhouse_url, w->op_timeout_ms) : NULL;
    if (!w->rd || !w->ctl || !w->ch) {
        log_error("writer: REDIS_URL or CLICKHOUSE_URL is not a usable URL");
        *err = -EINVAL;
        if (w->ch)
            ch_client_free(w->ch);
        if (w->ctl)
            redis_client_close(w->ctl, NULL, NULL);
        if (w->rd)
            redis_client_close(w->rd, NULL, NULL);
        w->rd = w->ctl = NULL;
        w->ch = NULL;
        goto fail;
    }
    timer_init(w, &w->read_timer);
    timer_init(w, &w->flush_timer);
    timer_init(w, &w->retry_timer);
    timer_init(w, &w->tick_timer);
    timer_init(w, &w->grace_timer);
    w->m_events =
        metrics_counter("mohstats_writer_events_total", "Events inserted into ClickHouse by the writer", NULL);
    w->m_latency = metrics_histogram("mohstats_writer_insert_seconds", "Duration of the writer's ClickHouse inserts",
                                     NULL, metrics_latency_buckets, metrics_latency_nbuckets);
    static const double size_buckets[] = {1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
    w->m_size = metrics_histogram("mohstats_writer_insert_events", "Events per ClickHouse insert of the writer", NULL,
                                  size_buckets, sizeof size_buckets / sizeof size_buckets[0]);
    w->m_dups = metrics_counter("mohstats_writer_duplicates_skipped_total",
                                "Batches not inserted because they were in ClickHouse already", NULL);
    w->m_claimed = metrics_counter("mohstats_writer_entries_taken_over_total",
                                   "Stream entries taken over from other writers or re-read after a reconnect", NULL);
    w->m_lease_clock = metrics_counter("mohstats_writer_ownership_checks_total",
                                       "How inserts confirmed they still own their entries (I3)", "by=\"clock\"");
    w->m_lease_script = metrics_counter("mohstats_writer_ownership_checks_total",
                                        "How inserts confirmed they still own their entries (I3)", "by=\"script\"");
    w->m_dead =
        metrics_counter("mohstats_writer_dead_lettered_total",
                        "Stream entries moved to the dead-letter stream (malformed or refused by ClickHouse)", NULL);
    w->m_waits =
        metrics_counter("mohstats_writer_check_waits_total",
                        "Inserts postponed because an older insert or copy of the same entries was in flight", NULL);
    w->m_buffered =
        metrics_gauge("mohstats_writer_buffered_events", "Events read from the stream, not inserted yet", NULL);
    *err = 0;
    return w;
fail:
    stream_writer_free(w);
    return NULL;
}

int stream_writer_start(stream_writer *w)
{
    if (w->started)
        return 0;
    w->started = true;
    redis_client_on_connect(w->rd, on_rd_connect, w);
    redis_client_on_connect(w->ctl, on_ctl_connect, w);
    if (redis_client_connected(w->rd))
        on_rd_connect(w->rd, w);
    uv_timer_start(&w->tick_timer, on_tick, TICK_MS, TICK_MS);
    log_info("writer: consumer %s of group %s on %s; up to %ld events per insert, flushed within %ld ms", w->consumer,
             w->group, w->stream_key, w->batch_events, w->flush_ms);
    return 0;
}

uint64_t stream_writer_events_written(const stream_writer *w)
{
    return w->events_written;
}

/* A handle or client of ours finished closing; the last one ends the stop. */
static void closed_one(stream_writer *w)
{
    if (--w->closing > 0)
        return;
    size_t left = 0;
    uint64_t events = 0;
    for (wentry *e = w->buf.head; e; e = e->next) {
        left++;
        events += e->nevents;
    }
    if (left)
        log_info("writer: stopped; %zu stream entries (%" PRIu64 " events) were not inserted and stay pending in "
                 "Redis for the next writer",
                 left, events);
    else
        log_info("writer: stopped; nothing left buffered");
    if (w->stop_done)
        w->stop_done(w->stop_arg);
}

/* uv_close callback of our timers. */
static void on_timer_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

/* redis_client_close callback. */
static void on_client_closed(void *arg)
{
    closed_one(arg);
}

/* Close everything; entries not acknowledged stay pending in Redis (I1). */
static void finish(stream_writer *w)
{
    if (w->finishing)
        return;
    w->finishing = true;
    stream_trimmer_close(w->trimmer);
    w->closing = 1; /* held until the end of this function */
    uv_timer_t *timers[] = {&w->read_timer, &w->flush_timer, &w->retry_timer, &w->tick_timer, &w->grace_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        w->closing++;
        uv_close((uv_handle_t *)timers[i], on_timer_closed);
    }
    if (w->ins) {
        ch_client *ins = w->ins;
        w->ins = NULL;
        ch_client_free(ins);
    }
    ch_guard_close(w->guard); /* before w->ch is freed: its query is cancelled */
    if (w->ch) {
        ch_client_free(w->ch);
        w->ch = NULL;
    }
    if (w->rd) {
        w->closing++;
        redis_client_close(w->rd, on_client_closed, w);
    }
    if (w->ctl) {
        w->closing++;
        redis_client_close(w->ctl, on_client_closed, w);
    }
    closed_one(w);
}

/* The grace time is over: give up on what is in flight (it stays pending in Redis). */
static void on_grace_timer(uv_timer_t *t)
{
    stream_writer *w = t->data;
    log_warn("writer: the last flush did not finish within SHUTDOWN_GRACE_MS=%ld; leaving the rest pending in "
             "Redis",
             w->shutdown_grace_ms);
    w->stop_failed = true;
    finish(w);
}

void stream_writer_stop(stream_writer *w, void (*done)(void *arg), void *arg)
{
    if (w->stopping) {
        return;
    }
    w->stopping = true;
    w->stop_done = done;
    w->stop_arg = arg;
    uv_timer_stop(&w->tick_timer);
    uv_timer_stop(&w->flush_timer);
    uv_timer_stop(&w->read_timer);
    if (!w->started) {
        finish(w);
        return;
    }
    uv_timer_start(&w->grace_timer, on_grace_timer, (uint64_t)w->shutdown_grace_ms, 0);
    /* A retry wait is cut short: one attempt now. */
    if (w->retry_wait) {
        uv_timer_stop(&w->retry_timer);
        w->retry_wait = false;
    }
    flush_maybe(w);
}

void stream_writer_free(stream_writer *w)
{
    if (!w)
        return;
    write_buffer_close(&w->buf);
    stream_trimmer_free(w->trimmer);
    ch_guard_free(w->guard);
    fresh_note_free(w->fresh);
    free(w->work);
    free(w->insert_sql);
    free(w->redis_url);
    free(w->clickhouse_url);
    free(w->stream_key);
    free(w->group);
    free(w->consumer);
    free(w->stream_groups);
    free(w->table);
    free(w->dead_key);
    free(w->released_key);
    free(w);
}
