/* Leaderboard boards: the set of every period's board, its builds, and keeping them warm.
 *
 * Why: the forum's leaderboard page asks for 38 stats at once, and each ranking needs every player's totals
 * over the period. Ranking in ClickHouse re-aggregated the same totals for each stat, page and count (about
 * 10 s of ClickHouse 18.16 work for one page over 10 million events). A board is those totals for every
 * player, built by three queries run together (daily counters, per-match results, names); each stat, page
 * and count is then a sort in memory, kept per stat for the board's life.
 *
 * Freshness: a board serves for QUERY_CACHE_TTL_S, the answers' own cache time. A request that finds it
 * older starts a rebuild and, while the board is less than twice that old, is answered from it at once
 * (refresh ahead: steady traffic never waits for a build); an older board, or none, is waited for. Builds of
 * one period never overlap: every request arriving during a build waits for that build (single flight).
 * When a build fails (ClickHouse down), the waiters get the last board while it is younger than
 * QUERY_STALE_TTL_S, else the failure (503 or 500), and the answer cache may still serve its stale copies.
 * That is a queryd with QUERY_BOARD_WARM=0; by default boards are kept warm instead (see "keeping boards
 * warm" below): a timer rebuilds them and requests are answered from the board they find.
 */
#include "board.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board_int.h"
#include "daemon.h"
#include "fresh.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"

static slot *warm_next(board_set *s, uint64_t now);
static void warm_closed(uv_handle_t *h);

/* ---- building ---- */

static void build_start(slot *sl)
{
    board_set *s = sl->set;
    char tag[64];
    sl->building = true;
    sl->builds++;
    sl->started_at = uv_now(s->q->loop);
    sl->build_gen = fresh_gen(s->q->fresh);
    /* Unique per build (process and count), so that the benchmark can replay each build's queries. */
    snprintf(tag, sizeof tag, "/* queryd board:%s:%ld.%u #0 */\n", period_name(sl->p), (long)getpid(), sl->builds);
    board_qset_send(s, &sl->qs, &sl->p, 1, NULL, tag);
}

static void build_done(slot *sl)
{
    board_set *s = sl->set;
    sl->building = false;
    board *b = NULL;
    int status = board_qset_boards(&sl->qs, 1, &b);
    uint64_t now = uv_now(s->q->loop);
    if (b) {
        /* The build's queries ran while deltas kept the old board current: without the rows those deltas changed,
         * the new board would answer older totals than the old one did (a leaderboard going back in time until
         * the next delta). Copied over, the new board counts everything the old one did. */
        b->gen = sl->build_gen;
        if (sl->cur && board_copy_rows(b, sl->cur, sl->changed) == 0 && sl->cur->gen > b->gen)
            b->gen = sl->cur->gen;
        board_free(sl->cur);
        sl->cur = b;
        sl->boards++;
        sl->built_at = sl->started_at;
        metric_inc(s->built);
        metric_observe(s->seconds, (double)(now - sl->started_at) / 1000);
        metric_set(s->players, (double)b->n);
        /* What changed since the build's queries were sent may be missing from them: re-read it (a delta). */
        board_keys_merge(s->touched_g, sl->since_g);
        board_keys_merge(s->touched_m, sl->since_m);
    } else {
        metric_inc(s->failed);
        sl->retry_at = now + WARM_RETRY_MS;
        if (sl->cur && now - sl->built_at < (uint64_t)s->q->stale_ttl_s * 1000)
            status = 0; /* serve the last board */
    }
    board_keys_clear(sl->since_g);
    board_keys_clear(sl->since_m);
    board_keys_clear(sl->changed);
    waiter *w = sl->waiters;
    sl->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        w->cb(status ? NULL : sl->cur, status, w->arg);
        free(w);
        w = next;
    }
    board_delta_kick(s);
    /* Kept warm, the next board due is built as soon as this one is done, not at the warmer's next tick: a
     * queryd starting on an empty database is ready after five quick builds back to back (well under a
     * second), not after five ticks. A failed slot waits for its retry_at, so this chain always ends. */
    if (s->warming) {
        slot *next = warm_next(s, now);
        if (next)
            build_start(next);
    }
}

void board_qset_done(board_set *s, qset *qs)
{
    if (qs->sl)
        build_done(qs->sl);
    else
        board_delta_done(s);
}

uint64_t board_set_gen(const board_set *s, period p)
{
    return s->slots[p].cur ? s->slots[p].cur->gen : 0;
}

void board_get(board_set *s, period p, board_fn cb, void *arg)
{
    slot *sl = &s->slots[p];
    uint64_t now = uv_now(s->q->loop), ttl = (uint64_t)s->q->cache_ttl_s * 1000;
    uint64_t age = sl->cur ? now - sl->built_at : UINT64_MAX;
    /* Kept warm, a board is rebuilt by the warmer alone; while its builds fail (ClickHouse down), the last one
     * serves for up to QUERY_STALE_TTL_S, as below. */
    if (age < ttl || (s->warming && age < (uint64_t)s->q->stale_ttl_s * 1000)) {
        cb(sl->cur, 0, arg);
        return;
    }
    bool serve_now = age < 2 * ttl;
    if (!serve_now) {
        waiter *w = malloc(sizeof *w);
        if (!w) {
            cb(NULL, 500, arg);
            return;
        }
        *w = (waiter){cb, arg, sl->waiters};
        sl->waiters = w;
    }
    if (!sl->building)
        build_start(sl);
    if (serve_now)
        cb(sl->cur, 0, arg);
}

board_set *board_set_new(queryd *q)
{
    board_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->q = q;
    for (int p = 0; p < NPERIODS; p++) {
        slot *sl = &s->slots[p];
        sl->set = s;
        sl->p = (period)p;
        sl->qs.sl = sl;
        sl->since_g = hashmap_new();
        sl->since_m = hashmap_new();
        sl->changed = hashmap_new();
    }
    s->touched_g = hashmap_new();
    s->touched_m = hashmap_new();
    bool ok = s->touched_g && s->touched_m;
    for (int p = 0; p < NPERIODS; p++)
        ok = ok && s->slots[p].since_g && s->slots[p].since_m && s->slots[p].changed;
    if (!ok) {
        board_set_free(s);
        return NULL;
    }
    s->delta_ok = metrics_counter("queryd_board_deltas_total", "Leaderboard deltas applied", "result=\"ok\"");
    s->delta_failed = metrics_counter("queryd_board_deltas_total", "Leaderboard deltas applied", "result=\"error\"");
    s->delta_seconds = metrics_histogram("queryd_board_delta_seconds", "Time to re-read the players of a delta", NULL,
                                         metrics_latency_buckets, metrics_latency_nbuckets);
    s->delta_players = metrics_counter("queryd_board_delta_players_total", "Players re-read by deltas", NULL);
    s->built = metrics_counter("queryd_board_builds_total", "Leaderboard boards built", "result=\"ok\"");
    s->failed = metrics_counter("queryd_board_builds_total", "Leaderboard boards built", "result=\"error\"");
    s->seconds = metrics_histogram("queryd_board_build_seconds", "Time to build a leaderboard board", NULL,
                                   metrics_latency_buckets, metrics_latency_nbuckets);
    s->players = metrics_gauge("queryd_board_players", "Players on the last board built", NULL);
    return s;
}

void board_set_free(board_set *s)
{
    if (!s)
        return;
    for (int p = 0; p < NPERIODS; p++) {
        slot *sl = &s->slots[p];
        board_free(sl->cur);
        for (int i = 0; i < PARTS; i++)
            free(sl->qs.body[i]);
        if (sl->since_g)
            hashmap_free(sl->since_g, NULL);
        if (sl->since_m)
            hashmap_free(sl->since_m, NULL);
        if (sl->changed)
            hashmap_free(sl->changed, NULL);
        while (sl->waiters) {
            waiter *next = sl->waiters->next;
            free(sl->waiters);
            sl->waiters = next;
        }
    }
    for (int i = 0; i < PARTS; i++)
        free(s->dqs.body[i]);
    board_taken_free(s);
    if (s->touched_g)
        hashmap_free(s->touched_g, NULL);
    if (s->touched_m)
        hashmap_free(s->touched_m, NULL);
    s->closing = true;
    if (s->warming) { /* the daemon never ran its stop hooks (it failed to start) */
        s->warming = false;
        uv_close((uv_handle_t *)&s->warm, warm_closed);
    }
    if (s->inflight == 0)
        free(s);
}

/* ---- keeping boards warm ----
 *
 * Why: a board of 10 million events takes ClickHouse 18.16 up to two seconds to build, far over what one
 * leaderboard request may take. A queryd that keeps its boards warm builds every period's board at start,
 * one after another, says it is not ready until all five exist, and from then on rebuilds each board when it
 * is QUERY_BOARD_REFRESH_S old: requests are always answered from the board in memory (board_get), never
 * after a build. The cost is five builds per QUERY_BOARD_REFRESH_S, with or without traffic (about 9 s of
 * ClickHouse work on 10 million events, hence a default of minutes, not seconds). */

/* The slot the warmer should build now: none while any build runs (one at a time, so that the warmer never
 * takes more than one ClickHouse query set), else the one without a board or with the oldest expired one. */
static slot *warm_next(board_set *s, uint64_t now)
{
    uint64_t refresh = (uint64_t)s->q->board_refresh_s * 1000;
    slot *pick = NULL;
    for (int p = 0; p < NPERIODS; p++) {
        slot *sl = &s->slots[p];
        if (sl->building)
            return NULL;
        bool due = !sl->cur || now - sl->built_at >= refresh;
        if (due && now >= sl->retry_at &&
            (!pick || (sl->cur && pick->cur && sl->built_at < pick->built_at) || (!sl->cur && pick->cur)))
            pick = sl;
    }
    return pick;
}

static void warm_tick(uv_timer_t *t)
{
    board_set *s = t->data;
    slot *sl = warm_next(s, uv_now(s->q->loop));
    if (sl)
        build_start(sl);
    board_delta_kick(s); /* after a failed delta's WARM_RETRY_MS */
}

bool board_set_call_ended(board_set *s)
{
    s->inflight--;
    if (!s->closing)
        return false;
    if (s->inflight == 0)
        free(s);
    return true;
}

static void warm_closed(uv_handle_t *h)
{
    board_set_call_ended(h->data);
}

/* Shutdown: the timer would keep the loop turning. Builds in flight end with the ClickHouse client. */
static void warm_stop(void *arg, void *token, void (*done)(void *token))
{
    board_set *s = arg;
    if (s->warming) {
        s->warming = false;
        uv_close((uv_handle_t *)&s->warm, warm_closed);
    }
    done(token);
}

/* /ready: every period's board built once. */
static void warm_probe(void *arg, void *token, probe_done_fn done)
{
    board_set *s = arg;
    int missing = 0;
    for (int p = 0; p < NPERIODS; p++)
        missing += s->slots[p].cur == NULL;
    char detail[64];
    snprintf(detail, sizeof detail, "%d of %d leaderboard boards not built yet", missing, NPERIODS);
    done(token, missing == 0, missing ? detail : NULL);
}

int board_set_keep_warm(board_set *s, daemon_ctx *d)
{
    int rc = uv_timer_init(s->q->loop, &s->warm);
    if (rc != 0)
        return rc;
    s->warm.data = s;
    s->inflight++;
    s->warming = true;
    uv_timer_start(&s->warm, warm_tick, 0, WARM_TICK_MS);
    daemon_add_ready_check(d, "boards", warm_probe, s);
    daemon_add_stop_hook(d, warm_stop, s);
    return 0;
}
