/* achievd's /metrics: the pipeline thread keeps atomic counters; a timer on the loop thread copies them into the
 * metrics registry, which only the loop thread touches. */
#include "report.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

struct report {
    uv_timer_t timer;
    pipeline *p;
    metric *events, *batches, *duplicates, *unlocks, *progress, *write_errors, *checkpoints, *backfilled, *caught_up;
    metric *lag, *pending, *players, *leader, *write_seconds;
    unsigned long long last[9];
    unsigned long long last_us, last_writes;
};

/* Add what a counter gained since the last copy. */
static void advance(metric *m, unsigned long long now, unsigned long long *last)
{
    if (now > *last)
        metric_add(m, (double)(now - *last));
    *last = now;
}

/* A code as a Prometheus label value: codes are identifiers; anything else is not exported. */
static bool label_safe(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static void per_code(void *arg, const char *code, uint64_t unlocks, uint64_t progress)
{
    (void)arg;
    if (!label_safe(code))
        return;
    char labels[128];
    snprintf(labels, sizeof labels, "code=\"%s\"", code);
    metric_set(metrics_gauge("achievd_code_unlocks", "unlocks written to the forum, by achievement code", labels),
               (double)unlocks);
    metric_set(metrics_gauge("achievd_code_progress_writes", "progress rows written to the forum, by achievement code",
                             labels),
               (double)progress);
}

static void on_tick(uv_timer_t *t)
{
    report *r = t->data;
    pipeline_stats *s = pipeline_stats_of(r->p);
    advance(r->events, atomic_load(&s->events), &r->last[0]);
    advance(r->batches, atomic_load(&s->batches), &r->last[1]);
    advance(r->duplicates, atomic_load(&s->duplicates), &r->last[2]);
    advance(r->unlocks, atomic_load(&s->unlocks), &r->last[3]);
    advance(r->progress, atomic_load(&s->progress_writes), &r->last[4]);
    advance(r->write_errors, atomic_load(&s->write_errors), &r->last[5]);
    advance(r->checkpoints, atomic_load(&s->checkpoints), &r->last[6]);
    advance(r->backfilled, atomic_load(&s->backfilled), &r->last[7]);
    advance(r->caught_up, atomic_load(&s->catchup_events), &r->last[8]);
    metric_set(r->lag, (double)atomic_load(&s->lag));
    metric_set(r->pending, (double)atomic_load(&s->pending));
    metric_set(r->players, (double)atomic_load(&s->players));
    metric_set(r->leader, (double)atomic_load(&s->leader));
    unsigned long long us = atomic_load(&s->write_us_total), n = atomic_load(&s->write_count);
    if (n > r->last_writes)
        metric_observe(r->write_seconds, (double)(us - r->last_us) / 1e6 / (double)(n - r->last_writes));
    r->last_us = us;
    r->last_writes = n;
    pipeline_code_counts(r->p, per_code, r);
}

report *report_new(uv_loop_t *loop, pipeline *p)
{
    report *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->p = p;
    r->events = metrics_counter("achievd_events_total", "events evaluated", NULL);
    r->batches = metrics_counter("achievd_batches_total", "stream entries (batches) evaluated", NULL);
    r->duplicates =
        metrics_counter("achievd_duplicate_batches_total", "stream entries skipped as a batch counted before", NULL);
    r->unlocks = metrics_counter("achievd_unlocks_total", "unlock rows written to the forum", NULL);
    r->progress = metrics_counter("achievd_progress_writes_total", "progress rows written to the forum", NULL);
    r->write_errors = metrics_counter("achievd_write_errors_total", "failed MariaDB writes (retried)", NULL);
    r->checkpoints = metrics_counter("achievd_checkpoints_total", "steps saved to Redis", NULL);
    r->backfilled =
        metrics_counter("achievd_backfilled_total", "unlocks credited from ClickHouse after a late link", NULL);
    r->caught_up =
        metrics_counter("achievd_catchup_events_total",
                        "events replayed from ClickHouse after the writers trimmed the stream past achievd", NULL);
    r->lag = metrics_gauge("achievd_stream_lag", "stream entries not yet read by the achievd group (-1 unknown)", NULL);
    r->pending = metrics_gauge("achievd_pending_writes", "forum writes waiting for MariaDB", NULL);
    r->players = metrics_gauge("achievd_players", "members with evaluation state in memory", NULL);
    r->leader = metrics_gauge("achievd_evaluating", "1 when this process holds the lease and evaluates", NULL);
    r->write_seconds = metrics_histogram("achievd_mariadb_write_seconds", "time of one MariaDB write statement", NULL,
                                         metrics_latency_buckets, metrics_latency_nbuckets);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, 1000, 1000);
    return r;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void report_free(report *r)
{
    if (r)
        uv_close((uv_handle_t *)&r->timer, on_closed);
}
