/* The stream writer's settings and lifetime: validating the configuration, creating the clients, timers and
 * metrics, starting, and stopping with one last flush bounded by SHUTDOWN_GRACE_MS. */
#include "stream_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ch_guard.h"
#include "clickhouse.h"
#include "fresh_note.h"
#include "log.h"
#include "metrics.h"
#include "redis_client.h"
#include "stream_entry.h"
#include "stream_trimmer.h"
#include "write_buffer.h"
#include "writer_sql.h"
#include "writer_state.h"

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

#define TICK_MS 1000 /* maintenance, trimming and metrics period */
#define MAX_BATCH_EVENTS 1000000

/* A copy of s, or NULL (also for NULL). */
static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

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
    size_t dl = strlen(cfg->stream_key) + sizeof STREAM_DEAD_SUFFIX;
    w->dead_key = malloc(dl);
    if (w->dead_key)
        snprintf(w->dead_key, dl, "%s" STREAM_DEAD_SUFFIX, cfg->stream_key);
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
    redis_client_on_connect(w->rd, writer_on_rd_connect, w);
    redis_client_on_connect(w->ctl, writer_on_ctl_connect, w);
    if (redis_client_connected(w->rd))
        writer_on_rd_connect(w->rd, w);
    uv_timer_start(&w->tick_timer, writer_on_tick, TICK_MS, TICK_MS);
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

void writer_finish(stream_writer *w)
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
    writer_finish(w);
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
        writer_finish(w);
        return;
    }
    uv_timer_start(&w->grace_timer, on_grace_timer, (uint64_t)w->shutdown_grace_ms, 0);
    /* A retry wait is cut short: one attempt now. */
    if (w->retry_wait) {
        uv_timer_stop(&w->retry_timer);
        w->retry_wait = false;
    }
    writer_flush_maybe(w);
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
