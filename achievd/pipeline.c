/* The pipeline thread: the stream in, the evaluator, the saved state and the forum's tables out (the MariaDB
 * statements run on the writer's thread, writer.c, fed what the checkpoints saved).
 *
 * Why one evaluator at a time. Kill streaks, multi-kill windows, revenge and match outcomes need a server's
 * events in the order it sent them, and a member's career needs all their servers. A consumer group hands
 * consecutive entries to different consumers, so splitting the stream between processes would split a match
 * (partitioning by server) or a career (by player). So achievd processes share one consumer group and one
 * logical consumer, and a Redis lease decides which one evaluates; the others stand by and take over within
 * ACHIEVD_LEASE_MS. Every write of a step is fenced by that lease (store.c), so `--scale achievd=3` produces
 * exactly what one process does. The price: achievd is as fast as one process (tests/bench/achievd_bench.sh
 * measures it against ingest's maximum rate; README, Performance).
 *
 * Why exactly once. A step reads entries, applies them to the in-memory state, then writes the changed state,
 * the forum writes it implies and the entries' acknowledgement in one Lua script: either all of it happened or
 * none. A crash before that replays the entries on the saved state, which gives the same result (evaluate.c
 * reads no clock). Forum writes are idempotent (unlocks insert-if-absent, progress only up), so writing them
 * again after a crash between MariaDB and the cleanup of the pending list changes nothing. A batch in the
 * stream twice is counted once: dup "2" copies are skipped (their original is in our part of the stream:
 * trimming keeps what the achievd group has not read), dup "1" entries are checked against the batch ids
 * counted in the last ACHIEVD_DEDUP_S.
 *
 * Why a catch-up. Trimming waits for achievd only up to STREAM_MAX_BACKLOG entries, so that a stopped achievd
 * cannot fill Redis's memory; past that the writers trim anyway and record it (stream_entry.h). The step's
 * read finds the record in the same script (store.c), and achievd replays the events it missed from ClickHouse,
 * a page per step (pipeline_catchup.c, catchup.c; the bounds: CATCHUP_SKEW_MS), before it reads the stream again.
 *
 * Why a link splits a GUID's events by time. A GUID linked to a member at some moment has events from before
 * (evaluated then as nobody's) and after. Each link records the latest receive time evaluated when achievd saw
 * it (from_ms): the events received later are credited as they are evaluated, the ones before by a backfill
 * (backfill.c) that replays them from ClickHouse once the writers inserted everything up to that moment, and
 * that is merged into the member's state in one step. So no event counts twice, and none is missed unless it
 * reaches the stream after the link with an older receive time (a spool replayed after a Redis outage).
 *
 * This file holds the thread, leadership and the step (read, evaluate, checkpoint: the exactly-once part); beside it
 * are pipeline_pending.c (the pending forum writes and handing them to writer.c), pipeline_forum.c (the catalogue,
 * identity links, backfills) and pipeline_catchup.c (the catch-up), sharing pipeline_parts.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <mysql.h>

#include "achievd.h"
#include "log.h"
#include "pipeline_parts.h"
#include "raw_row.h"
#include "store.h"
#include "stream_entry.h"

#define BLOCK_MS 500         /* XREADGROUP BLOCK while the stream is empty */
#define STANDBY_POLL_MS 1000 /* a standby asks for the lease this often */
#define LAG_EVERY_MS 2000
#define EXPIRE_EVERY_MS 60000
#define FORGET_POLL_MS 1000 /* erased members are looked for this often (forget_erased) */
#define DRAIN_MS 5000       /* a clean stop waits this long at most for MariaDB to take what is pending */
/* Pending writes in memory at most (~26 MB at ~130 bytes each; steps leave room for what they add, see
 * step_count): above it evaluation waits for MariaDB. With progress held back a period, 50,400 players evaluated
 * faster than MariaDB took their rows and the map reached 1.18 million entries (927 MB RSS, docs/performance.md).
 * The stream keeps what is not read meanwhile. */
#define PENDING_MAX 200000
#define PENDING_WAIT_MS 50
/* What one checkpoint saves, about, at most (players' and matches' states, pending writes). A checkpoint holds
 * three copies of it at once (ours, hiredis's command and its output buffer): with 50,400 players, steps of
 * 10,000 entries changed ~30,000 players' states (~1.5 KB each) and those copies were the peak of achievd's
 * memory (docs/performance.md). Steps read fewer entries while they save more than this, and grow back to
 * ACHIEVD_READ_COUNT when they save less. Smaller steps cost throughput: each checkpoint saves again the states
 * and pending writes its entries changed, and at 8 MB (and READ_BYTES 8 MB) the catch-up of 5,000 members took
 * 31 checkpoints instead of 12 and fell to 0.88-0.97 of ingest's rate (1.04 at these values). A step also reads
 * no more entries than the pending writes they would add leave room for under PENDING_MAX (at the rate of the
 * last step), so that the map does not overshoot it by a whole step. */
#define CHECKPOINT_BYTES (12u << 20)
/* What one step's read brings, about, at most: Redis builds the reply in one go while every other client waits
 * (ingestd's 202s among them), and we hold it whole. The bench's batches are ~2 KB (10,000 are ~20 MB); 10,000
 * maximal ones (1-2 MB each) stalled Redis for 0.4-3.2 s (tests/bench/ingest_flood_bench.sh): the count follows
 * the size of the entries last read. */
#define READ_BYTES (16u << 20)
#define STEP_ENTRIES_MIN 100

/* ---- leadership ---- */

static void drop_state(pipeline *p)
{
    writer_cancel(p->wr); /* the fence: nothing more of ours is written, no report of it matches a new entry */
    pipeline_catchup_end(p);
    p->catchup_until_ms = 0;
    evaluator_reset(p->ev);
    hashmap_free(p->pending, pipeline_pend_free);
    p->pending = hashmap_new();
    hashmap_free(p->links, free);
    p->links = hashmap_new();
    p->seen_ms = 0;
    p->ndirty = 0;
    for (size_t i = 0; i < p->ndeletes; i++)
        free(p->deletes[i]);
    p->ndeletes = 0;
}

void pipeline_lose_leadership(pipeline *p, const char *why)
{
    if (p->leader)
        log_warn("achievd: stopped evaluating (%s); standing by", why);
    p->leader = false;
    atomic_store(&p->stats.leader, 0);
    drop_state(p);
}

/* Become the evaluator: the group exists, and the saved state is what the acknowledged entries made. */
static int take_over(pipeline *p)
{
    drop_state(p);
    if (!p->pending || !p->links || store_ensure_group(p->st) != 0 ||
        store_load(p->st, p->ev, pipeline_on_pending_loaded, pipeline_on_link_loaded, p, &p->seen_ms) != 0 ||
        store_catchup_get(p->st, &(uint64_t){0}, &p->catchup_until_ms) != 0) {
        drop_state(p);
        return -EIO;
    }
    p->leader = true;
    p->read_count = p->s->read_count;
    atomic_store(&p->stats.leader, 1);
    p->next_flush = 0;
    p->next_progress = now_ms() + (uint64_t)p->s->progress_ms;
    p->round_open = false;
    log_info("achievd: evaluating the stream (%zu players, %zu matches, %zu pending forum writes restored)",
             evaluator_players(p->ev), evaluator_matches(p->ev), hashmap_size(p->pending));
    return 0;
}

/* An erase (mohstats-admin erase) deleted a member's saved state, but this process holds it in memory and would
 * save it again at its next checkpoint, and write its progress back to the forum. store_forget deletes what is
 * saved of the members erased since the last look; then the state is dropped and loaded again, as when the lease
 * is lost and taken back (the saved state is what the acknowledged entries made, so nothing is counted twice or
 * lost but the erased members). Between two steps: no checkpoint can write the member back in between. */
static void forget_erased(pipeline *p)
{
    int n = store_forget(p->st);
    if (n == -EPERM)
        pipeline_lose_leadership(p, "another achievd holds the lease");
    if (n <= 0)
        return;
    log_info("achievd: %d erased member%s forgotten (mohstats-admin erase); reloading the saved state", n,
             n == 1 ? "" : "s");
    if (take_over(p) != 0)
        pipeline_lose_leadership(p, "the saved state could not be reloaded after an erase");
}

/* ---- one step ---- */

typedef struct {
    const char **keys, **blobs;
    size_t *lens, n, cap;
    size_t bytes; /* of the blobs */
} saved;

static int collect_state(void *arg, const char *key, const void *blob, size_t len)
{
    saved *sv = arg;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        const char **k = realloc(sv->keys, cap * sizeof *k);
        if (k)
            sv->keys = k;
        const char **b = realloc(sv->blobs, cap * sizeof *b);
        if (b)
            sv->blobs = b;
        size_t *l = realloc(sv->lens, cap * sizeof *l);
        if (l)
            sv->lens = l;
        if (!k || !b || !l)
            return -ENOMEM;
        sv->cap = cap;
    }
    char *kc = strdup(key), *bc = malloc(len ? len : 1);
    if (!kc || !bc) {
        free(kc);
        free(bc);
        return -ENOMEM;
    }
    memcpy(bc, blob, len);
    sv->keys[sv->n] = kc;
    sv->blobs[sv->n] = bc;
    sv->lens[sv->n++] = len;
    sv->bytes += len;
    return 0;
}

static void saved_free(saved *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free((void *)sv->keys[i]);
        free((void *)sv->blobs[i]);
    }
    free(sv->keys);
    free(sv->blobs);
    free(sv->lens);
}

static const redisReply *entry_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; fields && i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1];
    return NULL;
}

/* Apply one entry's rows. */
static void apply_rows(pipeline *p, char *rows, size_t len)
{
    char *f[RC__COUNT];
    unsigned char null[RC__COUNT];
    size_t start = 0;
    while (start < len) {
        char *nl = memchr(rows + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - rows) : len;
        ach_event e;
        if (raw_row_split(rows + start, end - start, f, null) == 0 && ach_event_from_row(f, null, &e)) {
            evaluator_apply(p->ev, &e);
            if (e.received_ms > p->seen_ms)
                p->seen_ms = e.received_ms;
            atomic_fetch_add(&p->stats.events, 1);
        }
        start = end + 1;
    }
}

static void on_match_gone(void *arg, const char *key)
{
    pipeline *p = arg;
    if (p->ndeletes == p->cdeletes) {
        size_t cap = p->cdeletes ? p->cdeletes * 2 : 64;
        char **d = realloc(p->deletes, cap * sizeof *d);
        if (!d)
            return; /* its saved copy stays until it is loaded and expired again */
        p->deletes = d;
        p->cdeletes = cap;
    }
    char *k = strdup(key);
    if (k)
        p->deletes[p->ndeletes++] = k;
}

int pipeline_save(pipeline *p, const step_result *r)
{
    uint64_t now = now_ms();
    int rc = 0;
    if (now >= p->next_expire) {
        evaluator_expire_matches(p->ev, now, (uint64_t)p->s->match_idle_s * 1000, on_match_gone, p);
        p->next_expire = now + EXPIRE_EVERY_MS;
    }
    saved sv = {0};
    rc = evaluator_save_dirty(p->ev, collect_state, &sv);
    /* the pending writes changed, formatted in one buffer */
    const char **pvals = rc == 0 ? calloc(p->ndirty + 1, sizeof *pvals) : NULL;
    const char **pkeys = rc == 0 ? calloc(p->ndirty + 1, sizeof *pkeys) : NULL;
    char *ptext = rc == 0 ? malloc(p->ndirty * (PEND_KEY_MAX + PEND_VALUE_MAX) + 1) : NULL;
    if (rc == 0 && (!pvals || !pkeys || !ptext))
        rc = -ENOMEM;
    size_t pused = 0;
    for (size_t i = 0; rc == 0 && i < p->ndirty; i++) {
        pkeys[i] = ptext + pused;
        pused += pipeline_pend_key_format(p, p->dirty[i], ptext + pused, PEND_KEY_MAX) + 1;
        pvals[i] = ptext + pused;
        pused += pipeline_pend_format(p->dirty[i], ptext + pused, PEND_VALUE_MAX) + 1;
    }
    /* links seen or credited since the last step */
    size_t nlinks = 0, lpos = 0, klen;
    const char *lk;
    void *lv;
    const char **lguids = rc == 0 ? calloc(hashmap_size(p->links) + 1, sizeof *lguids) : NULL;
    char(*lvals)[160] = rc == 0 ? calloc(hashmap_size(p->links) + 1, sizeof *lvals) : NULL;
    const char **lvalp = rc == 0 ? calloc(hashmap_size(p->links) + 1, sizeof *lvalp) : NULL;
    if (rc == 0 && (!lguids || !lvals || !lvalp))
        rc = -ENOMEM;
    while (rc == 0 && hashmap_next(p->links, &lpos, &lk, &klen, &lv)) {
        link_state *l = lv;
        if (!l->dirty)
            continue;
        lguids[nlinks] = l->guid;
        pipeline_link_format(l, lvals[nlinks], sizeof lvals[nlinks]);
        lvalp[nlinks] = lvals[nlinks];
        nlinks++;
    }
    if (rc == 0 && (r->nentries > 0 || r->nbatches > 0 || r->catchup_from_ms || r->catchup_done || sv.n > 0 ||
                    p->ndirty > 0 || p->ndeletes > 0 || nlinks > 0)) {
        checkpoint c = {.state_keys = sv.keys,
                        .state_blobs = sv.blobs,
                        .state_lens = sv.lens,
                        .nstate = sv.n,
                        .state_deletes = (const char **)p->deletes,
                        .ndeletes = p->ndeletes,
                        .pending_keys = pkeys,
                        .pending_values = pvals,
                        .npending = p->ndirty,
                        .link_guids = lguids,
                        .link_values = lvalp,
                        .nlinks = nlinks,
                        .batch_ids = r->batch_ids,
                        .nbatches = r->nbatches,
                        .entry_ids = r->entry_ids,
                        .nentries = r->nentries,
                        .now_ms = now,
                        .seen_ms = p->seen_ms,
                        .catchup_from_ms = r->catchup_from_ms,
                        .catchup_done = r->catchup_done,
                        .catchup_until_ms = r->catchup_until_ms};
        rc = store_checkpoint(p->st, &c);
        if (rc == 0)
            atomic_fetch_add(&p->stats.checkpoints, 1);
        p->saved_bytes = sv.bytes + pused;
    }
    free(pvals);
    free(pkeys);
    free(ptext);
    free(lguids);
    free(lvals);
    free(lvalp);
    saved_free(&sv);
    if (rc != 0) {
        pipeline_lose_leadership(p, rc == -EPERM ? "another achievd holds the lease" : "could not save a step");
        return -1;
    }
    for (size_t i = 0; i < p->ndirty; i++)
        p->dirty[i]->dirty = false;
    p->ndirty = 0;
    lpos = 0;
    while (hashmap_next(p->links, &lpos, &lk, &klen, &lv))
        ((link_state *)lv)->dirty = false;
    for (size_t i = 0; i < p->ndeletes; i++)
        free(p->deletes[i]);
    p->ndeletes = 0;
    atomic_store(&p->stats.players, evaluator_players(p->ev));
    atomic_store(&p->stats.pending, hashmap_size(p->pending));
    return 0;
}

/* ---- one step ---- */

/* The receive time of an entry's first row (ms), 0 when it cannot be read. */
static uint64_t first_received_ms(const char *rows, size_t len)
{
    const char *s = rows, *end = rows + len;
    for (int col = 0; col < RC_RECEIVED_AT && s; col++) {
        s = memchr(s, '\t', (size_t)(end - s));
        s = s ? s + 1 : NULL;
    }
    if (!s)
        return 0;
    char *e;
    unsigned long long sec = strtoull(s, &e, 10);
    return *e == '\t' ? sec * 1000 + strtoull(e + 1, NULL, 10) : 0;
}

/* The next step's size, from what the last one changed (see CHECKPOINT_BYTES). */
static void size_steps(pipeline *p, size_t entries)
{
    int most = p->s->read_count;
    if (p->saved_bytes > CHECKPOINT_BYTES && entries > 0) {
        size_t fit = entries * CHECKPOINT_BYTES / p->saved_bytes;
        p->read_count = fit < STEP_ENTRIES_MIN ? STEP_ENTRIES_MIN : (int)fit;
    } else if (entries >= (size_t)p->read_count && p->read_count < most) {
        p->read_count = p->read_count > most / 2 ? most : p->read_count * 2;
    }
}

/* Entries the next step reads: read_count, and no more than the pending writes they add leave room for. */
static int step_count(pipeline *p)
{
    size_t pending = hashmap_size(p->pending), room = pending < PENDING_MAX ? PENDING_MAX - pending : 0;
    size_t fit = (size_t)p->read_count;
    if (p->step_added > 0 && p->step_entries > 0) {
        size_t by_room = room * p->step_entries / p->step_added;
        fit = by_room < fit ? by_room : fit;
    }
    if (p->step_bytes > 0 && p->step_entries > 0) {
        size_t by_bytes = (size_t)((double)READ_BYTES * (double)p->step_entries / (double)p->step_bytes);
        fit = by_bytes < fit ? by_bytes : fit;
    }
    return fit < STEP_ENTRIES_MIN ? STEP_ENTRIES_MIN : (int)fit;
}

/* Read entries, apply them and checkpoint; or replay a page of a catch-up. Returns the number of entries read, or
 * -1 after an error. */
static int step(pipeline *p)
{
    store_gap g;
    size_t pending_before = hashmap_size(p->pending);
    redisReply *r = store_read(p->st, step_count(p), &g);
    if (g.gap)
        return pipeline_catch_up(p, &g);
    if (!r && !g.empty)
        return -1;
    const redisReply *entries = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->elements == 2
                                    ? r->element[0]->element[1]
                                    : NULL;
    size_t n = entries ? entries->elements : 0;
    const char **ids = calloc(n + 1, sizeof *ids), **bids = calloc(n + 1, sizeof *bids),
               **maybe = calloc(n + 1, sizeof *maybe);
    bool *seen = calloc(n + 1, sizeof *seen), *check = calloc(n + 1, sizeof *check);
    int rc = ids && bids && maybe && seen && check ? 0 : -ENOMEM;
    size_t nmaybe = 0, nbids = 0, bytes = 0;
    /* Which batches may have been counted before this step: dup "1" entries, and after a catch-up the entries
     * received before its end (it may have replayed them from ClickHouse). */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *fields = entries->element[i]->elements == 2 ? entries->element[i]->element[1] : NULL;
        const redisReply *dup = entry_field(fields, STREAM_F_DUP), *bid = entry_field(fields, STREAM_F_BATCH);
        const redisReply *rows = entry_field(fields, STREAM_F_ROWS);
        bytes += rows ? rows->len : 0;
        if (!bid)
            continue;
        if (dup && strcmp(dup->str, STREAM_DUP_MAYBE) == 0)
            check[i] = true;
        else if (p->catchup_until_ms && rows && (!dup || strcmp(dup->str, STREAM_DUP_COPY) != 0))
            check[i] = first_received_ms(rows->str, rows->len) <= p->catchup_until_ms;
        if (check[i])
            maybe[nmaybe++] = bid->str;
    }
    if (rc == 0)
        rc = store_batches_seen(p->st, maybe, nmaybe, seen);
    size_t m = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *entry = entries->element[i];
        ids[i] = entry->element[0]->str;
        const redisReply *fields = entry->elements == 2 ? entry->element[1] : NULL;
        const redisReply *dup = entry_field(fields, STREAM_F_DUP), *bid = entry_field(fields, STREAM_F_BATCH);
        const redisReply *rows = entry_field(fields, STREAM_F_ROWS);
        bool is_copy = dup && strcmp(dup->str, STREAM_DUP_COPY) == 0;
        bool maybe_dup = dup && bid && strcmp(dup->str, STREAM_DUP_MAYBE) == 0;
        bool counted = check[i] && seen[m++];
        /* Its first copy may be earlier in this step: only a dup "1" entry can be a second copy, so only those
         * are compared (comparing every entry with every earlier one was 40% of the CPU at 10,000 per read). */
        for (size_t j = 0; !counted && maybe_dup && j < nbids; j++)
            counted = strcmp(bids[j], bid->str) == 0;
        if (is_copy || counted) {
            atomic_fetch_add(&p->stats.duplicates, 1);
            continue;
        }
        if (bid)
            bids[nbids++] = bid->str;
        if (rows)
            apply_rows(p, rows->str, rows->len);
        atomic_fetch_add(&p->stats.batches, 1);
    }
    if (rc == 0) {
        step_result res = {.entry_ids = ids, .nentries = n, .batch_ids = bids, .nbatches = nbids};
        size_t added = hashmap_size(p->pending) - pending_before;
        rc = pipeline_save(p, &res);
        if (rc == 0 && n > 0) {
            size_steps(p, n);
            p->step_entries = n;
            p->step_added = added;
            p->step_bytes = bytes;
        }
    } else {
        pipeline_lose_leadership(p, "could not read a step");
    }
    free(ids);
    free(bids);
    free(maybe);
    free(seen);
    free(check);
    freeReplyObject(r);
    if (rc != 0)
        return -1;
    if (g.empty)
        store_wait(p->st, g.last, BLOCK_MS);
    return (int)n;
}

/* ---- the thread ---- */

static void *run(void *arg)
{
    pipeline *p = arg;
    mysql_thread_init();
    while (!atomic_load(&p->stop)) {
        uint64_t now = now_ms();
        if (store_connect(p->st) != 0) {
            pipeline_lose_leadership(p, "Redis unreachable");
            nap(p, STANDBY_POLL_MS);
            continue;
        }
        if (!p->leader || now >= p->next_lease) {
            int held = store_lease(p->st);
            if (held < 0) {
                pipeline_lose_leadership(p, "Redis unreachable");
                continue;
            }
            if (!held) {
                pipeline_lose_leadership(p, "another achievd holds the lease");
                nap(p, STANDBY_POLL_MS);
                continue;
            }
            p->next_lease = now + (uint64_t)p->s->lease_ms / 3;
            if (!p->leader && take_over(p) != 0) {
                nap(p, STANDBY_POLL_MS);
                continue;
            }
        }
        pipeline_refresh_forum(p, now);
        if (now >= p->next_forget) {
            forget_erased(p);
            p->next_forget = now + FORGET_POLL_MS;
            if (!p->leader)
                continue;
        }
        if (!p->catalogue_loaded) {
            nap(p, STANDBY_POLL_MS); /* evaluating without definitions would lose progress: wait for MariaDB */
            continue;
        }
        if (hashmap_size(p->pending) >= PENDING_MAX) {
            p->next_progress = 0; /* a period now, whatever is left of this one: it is what frees entries */
            pipeline_flush(p, now_ms());
            nap(p, PENDING_WAIT_MS);
            continue;
        }
        if (step(p) < 0)
            continue;
        pipeline_flush(p, now_ms());
        if (p->leader)
            pipeline_backfill_next(p, now_ms());
        if (now >= p->next_lag) {
            atomic_store(&p->stats.lag, store_lag(p->st));
            p->next_lag = now + LAG_EVERY_MS;
        }
    }
    if (p->leader) {
        p->next_flush = 0;
        p->next_progress = 0;
        p->round_open = false;
        /* best effort: what stays pending is written by the next evaluator */
        pipeline_hand_over(p, now_ms(), SIZE_MAX);
        if (!writer_drain(p->wr, DRAIN_MS))
            log_warn("achievd: MariaDB did not take every pending write within %d ms; the next evaluator writes them",
                     DRAIN_MS);
        pipeline_collect_written(p);
        store_release(p->st);
    }
    mysql_thread_end();
    return NULL;
}

pipeline *pipeline_new(const achievd_settings *s)
{
    pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->s = s;
    atomic_init(&p->stop, false);
    atomic_store(&p->stats.lag, -1);
    pthread_mutex_init(&p->lock, NULL);
    p->st = store_new(s);
    p->fm = forum_new(s);
    p->wr = writer_new(s, &p->stats);
    p->ev = evaluator_new(pipeline_member_of, pipeline_on_write, p);
    p->pending = hashmap_new();
    p->links = hashmap_new();
    p->code_ids = hashmap_new();
    if (!p->st || !p->fm || !p->wr || !p->ev || !p->pending || !p->links || !p->code_ids) {
        pipeline_free(p);
        return NULL;
    }
    return p;
}

int pipeline_start(pipeline *p)
{
    if (writer_start(p->wr) != 0)
        return -EAGAIN;
    if (pthread_create(&p->thread, NULL, run, p) != 0)
        return -EAGAIN;
    p->started = true;
    return 0;
}

void pipeline_stop(pipeline *p)
{
    if (!p->started)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    writer_stop(p->wr);
    p->started = false;
}

void pipeline_free(pipeline *p)
{
    if (!p)
        return;
    pipeline_stop(p);
    pipeline_catchup_end(p);
    store_free(p->st);
    writer_free(p->wr);
    forum_free(p->fm);
    evaluator_free(p->ev);
    if (p->pending)
        hashmap_free(p->pending, pipeline_pend_free);
    if (p->links)
        hashmap_free(p->links, free);
    free(p->defs);
    if (p->code_ids)
        hashmap_free(p->code_ids, NULL);
    for (size_t i = 0; i < p->ncodes; i++)
        free(p->codes[i].name);
    free(p->codes);
    for (size_t i = 0; i < p->ndeletes; i++)
        free(p->deletes[i]);
    free(p->deletes);
    free(p->dirty);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

pipeline_stats *pipeline_stats_of(pipeline *p)
{
    return &p->stats;
}

void pipeline_code_counts(pipeline *p, void (*each)(void *arg, const char *code, uint64_t unlocks, uint64_t progress),
                          void *arg)
{
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->ncodes; i++)
        if (p->codes[i].progress > 0)
            each(arg, p->codes[i].name, p->codes[i].unlocks, p->codes[i].progress);
    pthread_mutex_unlock(&p->lock);
}
