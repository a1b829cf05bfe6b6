/* achievd's catch-up: replaying from ClickHouse (catchup.c) the events of a gap the writers trimmed from the stream
 * (see "Why a catch-up" in pipeline.c), a page per step, each saved with its end in one checkpoint. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achievd.h"
#include "catchup.h"
#include "log.h"
#include "pipeline_parts.h"
#include "raw_row.h"
#include "store.h"

/* ---- catching up from ClickHouse ---- */

/* How the replayed range is bounded. A stream id's milliseconds are Redis's clock when the entry was added;
 * ingestd stamps a batch's receive time just before, on a clock kept in step by NTP. So the entries the writers
 * trimmed (ids from the group's position up to the trim's MINID) were received within CATCHUP_SKEW_MS of those
 * ids, and the catch-up replays every batch received from the group's position - CATCHUP_SKEW_MS to the MINID +
 * CATCHUP_SKEW_MS, except, at each edge, the batches counted from the stream: at the start, those in the
 * batches seen (ACHIEVD_DEDUP_S keeps the last ones evaluated before the gap); at the end, the replayed batches
 * received in the last 2 * CATCHUP_SKEW_MS are added to the batches seen, and the stream's entries received up to
 * the end are checked against them as possible duplicates. A batch ingestd spooled during a Redis outage is
 * added to the stream late with its original receive time: one older than the start is not replayed, one
 * replayed and then found in the stream further than 2 * CATCHUP_SKEW_MS from the end counts twice
 * (docs/operations.md, achievd). */
#define CATCHUP_SKEW_MS 10000

static uint64_t id_ms(const char *id)
{
    return strtoull(id, NULL, 10);
}

/* The id just before id ("ms-seq"): where the group's position goes once everything before id is replayed. */
static void id_before(const char *id, char *out, size_t outlen)
{
    char *end;
    unsigned long long ms = strtoull(id, &end, 10), seq = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    if (seq > 0)
        snprintf(out, outlen, "%llu-%llu", ms, seq - 1);
    else
        snprintf(out, outlen, "%llu-%llu", ms > 0 ? ms - 1 : 0, ms > 0 ? (unsigned long long)UINT64_MAX : 0ULL);
}

void pipeline_catchup_end(pipeline *p)
{
    if (p->gap.skip)
        hashmap_free(p->gap.skip, NULL);
    memset(&p->gap, 0, sizeof p->gap);
}

/* Begin a catch-up for the gap g, or extend the one under way to a newer trim. */
static int catchup_begin(pipeline *p, const store_gap *g)
{
    catchup_state *c = &p->gap;
    uint64_t to_ms = id_ms(g->marker) + CATCHUP_SKEW_MS;
    if (c->active) { /* the writers trimmed further meanwhile: the same catch-up goes on, to the new end */
        snprintf(c->marker, sizeof c->marker, "%s", g->marker);
        id_before(g->marker, c->done_id, sizeof c->done_id);
        c->to_ms = to_ms > c->to_ms ? to_ms : c->to_ms;
        return 0;
    }
    uint64_t from_ms = 0, until_ms = 0;
    if (store_catchup_get(p->st, &from_ms, &until_ms) != 0)
        return -EIO;
    uint64_t start = id_ms(g->oldest[0] ? g->oldest : g->last);
    uint64_t edge = id_ms(g->last) + CATCHUP_SKEW_MS;
    if (!from_ms) /* else a catch-up was under way: the saved state has its pages up to from_ms */
        from_ms = start > CATCHUP_SKEW_MS ? start - CATCHUP_SKEW_MS : 0;
    hashmap *skip = hashmap_new();
    if (!skip)
        return -ENOMEM;
    /* The batches received near the group's position that were counted from the stream already. */
    int rc = 0;
    if (from_ms < edge) {
        char **ids = NULL;
        size_t n = 0;
        bool *seen = NULL;
        rc = catchup_batches(p->s, from_ms, edge, &ids, &n);
        if (rc == 0 && n > 0 && !(seen = calloc(n, sizeof *seen)))
            rc = -ENOMEM;
        if (rc == 0 && n > 0)
            rc = store_batches_seen(p->st, (const char *const *)ids, n, seen);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (seen[i] && hashmap_put(skip, ids[i], strlen(ids[i]), skip, NULL) != 0)
                rc = -ENOMEM;
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
        free(seen);
    }
    if (rc != 0) {
        hashmap_free(skip, NULL);
        return rc;
    }
    c->active = true;
    c->skip = skip;
    c->from_ms = from_ms;
    c->to_ms = to_ms;
    c->events = 0;
    snprintf(c->marker, sizeof c->marker, "%s", g->marker);
    id_before(g->marker, c->done_id, sizeof c->done_id);
    log_warn("achievd: the ClickHouse writers trimmed the stream past entries achievd had not read (it was more "
             "than STREAM_MAX_BACKLOG behind: up to %s; it had read up to %s); replaying the events received from "
             "%" PRIu64 " to %" PRIu64 " (ms) from ClickHouse",
             g->marker, g->last, from_ms, to_ms);
    return 0;
}

int pipeline_catch_up(pipeline *p, const store_gap *g)
{
    catchup_state *c = &p->gap;
    if ((!c->active || strcmp(c->marker, g->marker) != 0) && catchup_begin(p, g) != 0) {
        nap(p, 1000);
        return -1;
    }
    uint64_t end = 0;
    char *body = NULL;
    int rc = catchup_page_end(p->s, c->from_ms, c->to_ms, &end);
    if (rc == 0)
        rc = catchup_page(p->s, c->from_ms, end, &body);
    if (rc != 0) {
        nap(p, 1000); /* ClickHouse away: the stream waits too, since what comes next must come after this */
        return -1;
    }
    /* The batches received near the end: added to the batches seen, for the stream's entries to be checked
     * against (see CATCHUP_SKEW_MS). */
    hashmap *near = hashmap_new();
    const char **near_ids = NULL;
    size_t nnear = 0, cnear = 0, len = strlen(body), start = 0;
    rc = near ? 0 : -ENOMEM;
    char *f[RC__COUNT];
    unsigned char null[RC__COUNT];
    while (rc == 0 && start < len) {
        char *nl = memchr(body + start, '\n', len - start);
        size_t stop = nl ? (size_t)(nl - body) : len;
        ach_event e;
        if (raw_row_split(body + start, stop - start, f, null) == 0 &&
            !hashmap_get(c->skip, f[RC_BATCH_ID], strlen(f[RC_BATCH_ID])) && ach_event_from_row(f, null, &e)) {
            evaluator_apply(p->ev, &e);
            if (e.received_ms > p->seen_ms)
                p->seen_ms = e.received_ms;
            atomic_fetch_add(&p->stats.events, 1);
            atomic_fetch_add(&p->stats.catchup_events, 1);
            c->events++;
            size_t blen = strlen(f[RC_BATCH_ID]);
            if (e.received_ms + 2 * CATCHUP_SKEW_MS > c->to_ms && !hashmap_get(near, f[RC_BATCH_ID], blen)) {
                if (nnear == cnear) {
                    cnear = cnear ? cnear * 2 : 64;
                    const char **grown = realloc(near_ids, cnear * sizeof *grown);
                    if (!grown)
                        rc = -ENOMEM;
                    else
                        near_ids = grown;
                }
                /* near_ids point into body, which outlives the checkpoint */
                if (rc == 0 && hashmap_put(near, f[RC_BATCH_ID], blen, body, NULL) != 0)
                    rc = -ENOMEM;
                if (rc == 0)
                    near_ids[nnear++] = f[RC_BATCH_ID];
            }
        }
        start = stop + 1;
    }
    bool done = end >= c->to_ms;
    if (rc == 0) {
        step_result r = {.batch_ids = near_ids,
                         .nbatches = nnear,
                         .catchup_from_ms = done ? 0 : end,
                         .catchup_done = done ? c->done_id : NULL,
                         .catchup_until_ms = c->to_ms};
        rc = pipeline_save(p, &r);
    } else {
        pipeline_lose_leadership(p, "out of memory during a catch-up");
    }
    if (near)
        hashmap_free(near, NULL);
    free(near_ids);
    free(body);
    if (rc != 0) {
        pipeline_catchup_end(p);
        return -1;
    }
    c->from_ms = end;
    if (done) {
        log_info("achievd: caught up from ClickHouse: %" PRIu64 " events replayed; reading the stream from %s on",
                 c->events, c->done_id);
        p->catchup_until_ms = c->to_ms;
        pipeline_catchup_end(p);
    }
    return 0;
}
