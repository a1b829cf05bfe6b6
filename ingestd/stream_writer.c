/* The stream writer's exactly-once pipeline: one insert attempt of a set of buffered entries, from the checks
 * through the insert to the XACK. The writer reads the ingest stream as one consumer of a group (writer_read.c),
 * inserts batches into ClickHouse with exactly-once effect, ACKs them, takes over the entries of writers that died.
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
 *    while there is one, it waits. Each insert's query_id is derived from its entry range and its writer's
 *    consumer name (deterministic) and a failed set is retried as it was, so a retry of an insert ClickHouse
 *    still runs is refused ("already running") rather than run twice. Which inserts may hold an entry: for (a),
 *    any writer's (the entry was another consumer's, or may have been); for (b) alone, only ours: an entry we
 *    read with '>' was delivered to us alone, and had another writer taken it over since, our lease (I3) would
 *    have dropped it before any insert of ours and only a takeover (a) could bring it back. So the check of an
 *    entry only we held waits for our own overlapping inserts only (running_start; wentry.foreign).
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
 * Why this file is long (~1,200 lines): it is the exactly-once pipeline, whose phases (set, owners, running, present,
 * repair, lease, insert, ack) share the attempt's state and the invariants above; split apart, each invariant would
 * be relied on in a file that does not state it. What is not the pipeline lives beside it: the writer's state
 * (writer_state.h), reading and taking over entries (writer_read.c), when to act (writer_schedule.c), settings,
 * start and stop (writer_lifetime.c), the buffer (write_buffer.c), the SQL (writer_sql.c), trimming, stream metrics
 * and the consumer sweep (stream_trimmer.c), the ClickHouse restart guard (ch_guard.c), stream ids (stream.c).
 */
#include "stream_writer.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "clickhouse.h"
#include "fresh_note.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "redis_client.h"
#include "stream.h"
#include "write_buffer.h"
#include "writer_sql.h"
#include "writer_state.h"

#define BACKOFF_MIN_MS 100  /* failed insert: retry after this, doubling ... */
#define BACKOFF_MAX_MS 5000 /* ... up to this */
#define BUSY_RETRY_MS 100   /* an older insert may still run, or an older copy is held elsewhere: look again */
#define POSTPONE_MS 300     /* a dup entry whose older copy may be held by another writer waits this long */
#define CHECK_CHUNK 1000    /* batch ids per presence query: ~50 KB of SQL, far below max_query_size */

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

static void attempt_end(stream_writer *w, attempt_end_kind kind);
static void phase_next(stream_writer *w);

/* ---- small utilities ---- */

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

void writer_work_clear(stream_writer *w)
{
    w->nwork = w->work_next = 0;
}

int writer_work_push(stream_writer *w, wentry *e)
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
        uint64_t events = 0, limit = (uint64_t)w->batch_events;
        uint64_t now = now_ms(w);
        if (w->set_cap_events && w->set_cap_events < limit)
            limit = w->set_cap_events;
        for (wentry *e = w->buf.head; e; e = e->next) {
            if (e->state != E_NEW || e->not_before > now)
                continue;
            if (count && (events + e->nevents > limit || (w->max_set_entries && count >= w->max_set_entries)))
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

void writer_attempt_begin(stream_writer *w)
{
    set_build(w);
    if (w->set_entries == 0) {
        w->set_retry = false;
        /* Only postponed entries are buffered: look again when the first one may go. */
        if (w->buf.new_events)
            uv_timer_start(&w->flush_timer, writer_on_flush_timer, POSTPONE_MS, 0);
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
        writer_ack_start(w);
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

/* Ask ClickHouse whether an older writer insert that may hold our taken-over entries still runs: for entries another
 * writer may have held, any writer's insert whose range overlaps theirs; for entries only we read and held (their
 * uncertainty is an insert of ours whose outcome we lost, I4 b), only our own inserts whose range overlaps. The two
 * writers read interleaved entries, so the other writer's inserts overlap our ranges nearly always: waiting for them
 * too, a writer whose insert had timed out waited for every insert of the other, back to back under load, for
 * entries those inserts cannot hold. */
static void running_start(stream_writer *w)
{
    writer_range any, own;
    write_buffer_running_ranges(&w->buf, &any, &own);
    bytebuf sql = {0};
    w->ph = P_RUNNING;
    int rc = stream_writer_running_sql(any, own, w->consumer, &sql);
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
    writer_work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next)
        if (set_inserts(e) && (e->dup || e->taken_over) && writer_work_push(w, e) != 0) {
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

int writer_lease_send(stream_writer *w, redis_reply_fn cb)
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
    writer_work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_SET && writer_work_push(w, e) != 0) {
            attempt_end(w, END_FAIL);
            return;
        }
    if (writer_lease_send(w, on_lease) != 0) {
        count_error("redis");
        attempt_end(w, END_FAIL);
    }
}

/* Drop the scratch-list entries the lease did not confirm: another consumer has them now (or they were
 * acknowledged), so they are that consumer's to insert. Entries inserted already (E_ACK, in a refresh of the whole
 * buffer) stay: their batch is complete in raw_events, so our XACK is right whoever holds them now (I1), and it
 * spares the new holder a check of each. Dead ones go to the new holder, which stores them aside itself. */
size_t writer_lease_apply(stream_writer *w, const redisReply *reply)
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
    writer_work_clear(w);
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
    size_t lost = writer_lease_apply(w, reply);
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

/* Insert the set's rows with one INSERT, under a query_id derived from the set's entry range and our name. */
static void insert_start(stream_writer *w)
{
    w->ph = P_INSERT;
    writer_range r = WRITER_RANGE_EMPTY;
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_SET)
            writer_range_add(&r, e->id);
    char qid[WRITER_QUERY_ID_SIZE], params[WRITER_QUERY_ID_SIZE + 160];
    stream_writer_query_id(r.lo, r.hi, w->consumer, qid);
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

/* Whether part of the insert's body was never handed to the connection: ClickHouse then drops the insert. */
static bool body_unsent(const stream_writer *w)
{
    for (const wentry *e = w->body_pos; e; e = e->next)
        if (set_inserts(e) && (e != w->body_pos || w->body_off < e->rows_len))
            return true;
    return false;
}

/* An insert of the set timed out before its body was all sent: from now on sets carry at most half its events, and
 * the set itself is cut to that for its retry; the rest goes back to new (still taken over, so checked when it comes
 * again, I4 b). Each insert sent whole doubles the cap again (set_cap_grow).
 *
 * Why: the request timeout is bound to claim_idle_ms (I3), not to the set's size. When a set cannot even be sent
 * within it (ClickHouse slow to read it, the machine loaded), the client gives up mid-body, ClickHouse drops the
 * insert ("Cannot read from istream"), nothing of it is stored, and the same set retried as it was times out the
 * same way, every BACKOFF_MAX_MS, for as long as ClickHouse stays that slow: the writer's entries stay pending and
 * nothing it holds goes on. After a Redis restart the buffer refills at once (the pending list re-read, the
 * backlog), so the next sets are the largest. A set sent whole and timed out waiting for the answer is left as it
 * is: ClickHouse completes it, the retry finds it present (I4), and a smaller set would not answer sooner (an
 * insert's fixed cost, its parts and views, dominates then). */
static void set_shrink(stream_writer *w)
{
    uint64_t cap = w->set_events / 2, kept = 0;
    w->set_cap_events = cap ? cap : 1;
    bool full = false;
    for (wentry *e = w->buf.head; e; e = e->next) {
        if (!set_inserts(e))
            continue;
        if (!full && (kept == 0 || kept + e->nevents <= w->set_cap_events)) {
            kept += e->nevents;
            continue;
        }
        /* Entries riding on e (same batch_id, skip) stay in the set: its retry coalesces again (set_build), so
         * one of them carries the batch, or e is pulled back in. The batch was in the insert that timed out, so
         * whichever carries it is checked first (I4 b). */
        for (wentry *o = hashmap_get(w->buf.by_batch, e->batch_id, 36); o; o = o->same_batch)
            if (o->state == E_SET)
                o->taken_over = true;
        full = true;
        e->state = E_NEW;
        w->set_events -= e->nevents;
        w->set_entries--;
        w->buf.new_events += e->nevents;
    }
}

/* An insert went whole to ClickHouse (answered, or timed out waiting for the answer): sets may carry twice as much
 * again, up to batch_events. Growing on a timed-out whole insert too: when every insert outlasts the timeout (a
 * ClickHouse that slow completes them later, and the retry finds them, I4), waiting for one that answers in time
 * would leave sets at their smallest, each paying an insert's fixed cost and the check. */
static void set_cap_grow(stream_writer *w)
{
    if (w->set_cap_events && (w->set_cap_events *= 2) >= (uint64_t)w->batch_events)
        w->set_cap_events = 0;
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
        set_cap_grow(w);
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
    if (err == -ETIMEDOUT && body_unsent(w))
        set_shrink(w);
    else if (err == -ETIMEDOUT)
        set_cap_grow(w);
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
    writer_work_clear(w);
    for (wentry *e = w->buf.head; e; e = e->next)
        if (e->state == E_ACK && (!e->dead || e->dead_stored) && writer_work_push(w, e) != 0)
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

void writer_ack_start(stream_writer *w)
{
    w->ph = P_ACK;
    w->dead_failed = false;
    writer_work_clear(w);
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
        if (writer_work_push(w, e) != 0 || redis_command_argv(w->ctl, on_dead_stored, w, 13, argv, lens) != 0) {
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
    writer_work_clear(w);
    /* Dead entries that could not be stored aside are acknowledged later, after a backoff. */
    attempt_end(w, w->dead_failed ? END_FAIL : END_OK);
}

static void on_retry_timer(uv_timer_t *t);

/* End of an attempt (or of a phase that failed): back to idle, and decide when to go on. */
static void attempt_end(stream_writer *w, attempt_end_kind kind)
{
    w->ph = P_IDLE;
    writer_work_clear(w);
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
    writer_read_more(w);
    writer_flush_maybe(w);
}

/* The retry delay passed. */
static void on_retry_timer(uv_timer_t *t)
{
    stream_writer *w = t->data;
    w->retry_wait = false;
    writer_flush_maybe(w);
}
