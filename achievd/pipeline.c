/* The pipeline thread: the stream in, the evaluator, the saved state and the forum's tables out.
 *
 * Why one evaluator at a time. Kill streaks, multi-kill windows, revenge and match outcomes need a server's
 * events in the order it sent them, and a member's career needs all their servers. A consumer group hands
 * consecutive entries to different consumers, so splitting the stream between processes would split a match
 * (partitioning by server) or a career (by player). So achievd processes share one consumer group and one
 * logical consumer, and a Redis lease decides which one evaluates; the others stand by and take over within
 * ACHIEVD_LEASE_MS. Every write of a step is fenced by that lease (store.c), so `--scale achievd=3` produces
 * exactly what one process does, and one process keeps up with ingest on the same machine
 * (tests/bench/achievd_bench.sh).
 *
 * Why exactly once. A step reads entries, applies them to the in-memory state, then writes the changed state,
 * the forum writes it implies and the entries' acknowledgement in one Lua script: either all of it happened or
 * none. A crash before that replays the entries on the saved state, which gives the same result (evaluate.c
 * reads no clock). Forum writes are idempotent (unlocks insert-if-absent, progress only up), so writing them
 * again after a crash between MariaDB and the cleanup of the pending list changes nothing. A batch in the
 * stream twice is counted once: dup "2" copies are skipped (their original is always in our part of the
 * stream: trimming keeps what the achievd group has not read), dup "1" entries are checked against the batch
 * ids counted in the last ACHIEVD_DEDUP_S. */
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
#include "raw_row.h"
#include "store.h"
#include "stream_entry.h"

#define BLOCK_MS 500         /* XREADGROUP BLOCK while the stream is empty */
#define STANDBY_POLL_MS 1000 /* a standby asks for the lease this often */
#define LAG_EVERY_MS 2000
#define EXPIRE_EVERY_MS 60000
#define FLUSH_BACKOFF_MAX_MS 5000
#define FLUSH_MAX 20000 /* pending writes per flush, at most */

typedef struct {
    pending_write w;
    bool dirty; /* changed since the last checkpoint */
    char key[80];
} pend;

typedef struct {
    uint64_t unlocks, progress;
} code_count;

struct pipeline {
    const achievd_settings *s;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pipeline_stats stats;
    store *st;
    forum *fm;
    evaluator *ev;
    hashmap *pending; /* "member:code" -> pend */
    pend **dirty;
    size_t ndirty, cdirty;
    char **deletes; /* saved states to delete at the next checkpoint (expired matches) */
    size_t ndeletes, cdeletes;
    bool leader, catalogue_loaded;
    uint64_t next_catalogue, next_identities, next_flush, next_lag, next_expire, next_lease;
    int flush_backoff_ms;
    pthread_mutex_t lock; /* guards codes, read by the loop thread for /metrics */
    hashmap *codes;
};

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Sleep up to ms, waking early on stop. */
static void nap(pipeline *p, int ms)
{
    for (int slept = 0; slept < ms && !atomic_load(&p->stop); slept += 50)
        usleep(50 * 1000);
}

/* ---- members and pending writes ---- */

static uint32_t member_of(void *arg, const char *guid, uint64_t smf_id)
{
    pipeline *p = arg;
    if (smf_id > 0 && smf_id <= UINT32_MAX)
        return (uint32_t)smf_id;
    if (strncmp(guid, "unauth_", 7) == 0)
        return 0; /* a slot, not a person (docs/definitions.md) */
    return forum_member_of(p->fm, guid);
}

static void mark_dirty(pipeline *p, pend *e)
{
    if (e->dirty)
        return;
    if (p->ndirty == p->cdirty) {
        size_t cap = p->cdirty ? p->cdirty * 2 : 256;
        pend **d = realloc(p->dirty, cap * sizeof *d);
        if (!d)
            return; /* stays clean in Redis until its next change; MariaDB still gets it from memory */
        p->dirty = d;
        p->cdirty = cap;
    }
    e->dirty = true;
    p->dirty[p->ndirty++] = e;
}

/* The evaluator's output: the latest progress per (member, code), and its unlock. */
static void on_write(void *arg, const ach_write *w)
{
    pipeline *p = arg;
    char key[80];
    int n = snprintf(key, sizeof key, "%u:%s", w->member, w->code);
    pend *e = hashmap_get(p->pending, key, (size_t)n);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || hashmap_put(p->pending, key, (size_t)n, e, NULL) != 0) {
            free(e);
            log_error("achievd: out of memory recording an achievement write; it is written on its next change");
            return;
        }
        snprintf(e->key, sizeof e->key, "%s", key);
        e->w.member = w->member;
        snprintf(e->w.code, sizeof e->w.code, "%s", w->code);
    }
    if (w->progress > e->w.progress)
        e->w.progress = w->progress;
    if (w->unlocked && !e->w.unlocked) {
        e->w.unlocked = true;
        e->w.at_ms = w->at_ms;
        snprintf(e->w.match_key, sizeof e->w.match_key, "%s", w->match_key ? w->match_key : "");
    } else if (!e->w.unlocked) {
        e->w.at_ms = w->at_ms;
    }
    snprintf(e->w.guid, sizeof e->w.guid, "%s", w->guid ? w->guid : "");
    mark_dirty(p, e);
}

/* A pending write as saved in Redis: progress, unlocked, time, match, GUID (last: it may hold a tab). */
static void pend_format(const pend *e, char *out, size_t outlen)
{
    snprintf(out, outlen, "%u\t%d\t%" PRIu64 "\t%s\t%s", e->w.progress, e->w.unlocked, e->w.at_ms, e->w.match_key,
             e->w.guid);
}

static void on_pending_loaded(void *arg, const char *key, const char *value)
{
    pipeline *p = arg;
    pend *e = calloc(1, sizeof *e);
    const char *colon = strchr(key, ':');
    if (!e || !colon || strlen(key) >= sizeof e->key) {
        free(e);
        return;
    }
    snprintf(e->key, sizeof e->key, "%s", key);
    e->w.member = (uint32_t)strtoul(key, NULL, 10);
    snprintf(e->w.code, sizeof e->w.code, "%s", colon + 1);
    char *end;
    e->w.progress = (uint32_t)strtoul(value, &end, 10);
    e->w.unlocked = *end == '\t' && strtol(end + 1, &end, 10) == 1;
    e->w.at_ms = *end == '\t' ? strtoull(end + 1, &end, 10) : 0;
    const char *match = *end == '\t' ? end + 1 : "";
    const char *tab = strchr(match, '\t');
    snprintf(e->w.match_key, sizeof e->w.match_key, "%.*s", tab ? (int)(tab - match) : (int)strlen(match), match);
    snprintf(e->w.guid, sizeof e->w.guid, "%s", tab ? tab + 1 : "");
    void *old = NULL;
    if (hashmap_put(p->pending, key, strlen(key), e, &old) != 0)
        free(e);
    free(old);
}

static void count_code(pipeline *p, const char *code, bool unlocked)
{
    pthread_mutex_lock(&p->lock);
    code_count *c = hashmap_get(p->codes, code, strlen(code));
    if (!c && (c = calloc(1, sizeof *c)) && hashmap_put(p->codes, code, strlen(code), c, NULL) != 0) {
        free(c);
        c = NULL;
    }
    if (c) {
        c->progress++;
        c->unlocks += unlocked;
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- leadership ---- */

static void drop_state(pipeline *p)
{
    evaluator_reset(p->ev);
    hashmap_free(p->pending, free);
    p->pending = hashmap_new();
    p->ndirty = 0;
    for (size_t i = 0; i < p->ndeletes; i++)
        free(p->deletes[i]);
    p->ndeletes = 0;
}

static void lose_leadership(pipeline *p, const char *why)
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
    if (store_ensure_group(p->st) != 0 || store_load(p->st, p->ev, on_pending_loaded, p) != 0) {
        drop_state(p);
        return -EIO;
    }
    p->leader = true;
    atomic_store(&p->stats.leader, 1);
    p->next_flush = 0;
    log_info("achievd: evaluating the stream (%zu players, %zu matches, %zu pending forum writes restored)",
             evaluator_players(p->ev), evaluator_matches(p->ev), hashmap_size(p->pending));
    return 0;
}

/* ---- the forum's tables ---- */

static void refresh_forum(pipeline *p, uint64_t now)
{
    if (now >= p->next_catalogue) {
        ach_def *defs = NULL;
        size_t n = 0;
        if (forum_detect_schema(p->fm) == 0 && forum_load_catalogue(p->fm, &defs, &n) == 0) {
            if (evaluator_set_catalogue(p->ev, defs, n) == 0) {
                if (!p->catalogue_loaded)
                    log_info("achievd: %zu achievement definitions loaded", n);
                p->catalogue_loaded = true;
            }
            free(defs);
            p->next_catalogue = now + (uint64_t)p->s->catalogue_reload_s * 1000;
        } else {
            p->next_catalogue = now + 1000;
        }
    }
    if (now >= p->next_identities)
        p->next_identities =
            now + (forum_load_identities(p->fm) == 0 ? (uint64_t)p->s->identities_reload_s * 1000 : 1000);
}

/* Write what MariaDB does not have yet; forget it once Redis forgot it too. */
static void flush(pipeline *p, uint64_t now)
{
    if (now < p->next_flush || hashmap_size(p->pending) == 0)
        return;
    size_t n = hashmap_size(p->pending) < FLUSH_MAX ? hashmap_size(p->pending) : FLUSH_MAX;
    pending_write *w = malloc(n * sizeof *w);
    const char **keys = malloc(n * sizeof *keys);
    size_t k = 0, pos = 0, klen;
    const char *key;
    void *v;
    while (w && keys && k < n && hashmap_next(p->pending, &pos, &key, &klen, &v)) {
        pend *e = v;
        if (e->dirty)
            continue; /* not yet in Redis: written after the next checkpoint */
        w[k] = e->w;
        keys[k++] = e->key;
    }
    int rc = w && keys ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < k; i += (size_t)p->s->write_rows) {
        size_t m = k - i < (size_t)p->s->write_rows ? k - i : (size_t)p->s->write_rows;
        double secs = 0;
        rc = forum_write(p->fm, w + i, m, &secs);
        atomic_fetch_add(&p->stats.write_us_total, (unsigned long long)(secs * 1e6));
        atomic_fetch_add(&p->stats.write_count, 1);
    }
    if (rc == 0 && k > 0)
        rc = store_pending_done(p->st, keys, k);
    if (rc == 0) {
        for (size_t i = 0; i < k; i++) {
            count_code(p, w[i].code, w[i].unlocked);
            atomic_fetch_add(&p->stats.progress_writes, 1);
            atomic_fetch_add(&p->stats.unlocks, w[i].unlocked);
            free(hashmap_remove(p->pending, keys[i], strlen(keys[i])));
        }
        p->flush_backoff_ms = 0;
        p->next_flush = now + (uint64_t)p->s->flush_ms;
    } else if (rc == -EPERM) {
        lose_leadership(p, "another achievd holds the lease");
    } else {
        atomic_fetch_add(&p->stats.write_errors, 1);
        p->flush_backoff_ms = p->flush_backoff_ms ? p->flush_backoff_ms * 2 : p->s->flush_ms;
        if (p->flush_backoff_ms > FLUSH_BACKOFF_MAX_MS)
            p->flush_backoff_ms = FLUSH_BACKOFF_MAX_MS;
        p->next_flush = now + (uint64_t)p->flush_backoff_ms;
    }
    free(w);
    free(keys);
    atomic_store(&p->stats.pending, hashmap_size(p->pending));
}

/* ---- one step ---- */

typedef struct {
    const char **keys, **blobs;
    size_t *lens, n, cap;
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

/* Read entries, apply them and checkpoint. Returns the number of entries read, or -1 after an error. */
static int step(pipeline *p)
{
    redisReply *r = store_read(p->st, true, 0);
    bool empty = !r || r->type != REDIS_REPLY_ARRAY || r->elements == 0 || r->element[0]->elements < 2 ||
                 r->element[0]->element[1]->elements == 0;
    if (r && empty) {
        freeReplyObject(r);
        r = store_read(p->st, false, BLOCK_MS);
    }
    if (!r)
        return -1;
    const redisReply *entries = r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->elements == 2
                                    ? r->element[0]->element[1]
                                    : NULL;
    size_t n = entries ? entries->elements : 0;
    const char **ids = calloc(n + 1, sizeof *ids), **bids = calloc(n + 1, sizeof *bids),
               **maybe = calloc(n + 1, sizeof *maybe);
    bool *seen = calloc(n + 1, sizeof *seen), *skip = calloc(n + 1, sizeof *skip);
    int rc = ids && bids && maybe && seen && skip ? 0 : -ENOMEM;
    size_t nmaybe = 0, nbids = 0;
    /* dup "1" entries: which of their batches were counted already (before this step) */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const redisReply *fields = entries->element[i]->elements == 2 ? entries->element[i]->element[1] : NULL;
        const redisReply *dup = entry_field(fields, STREAM_F_DUP), *bid = entry_field(fields, STREAM_F_BATCH);
        if (dup && bid && strcmp(dup->str, STREAM_DUP_MAYBE) == 0)
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
        bool counted = false;
        if (dup && bid && strcmp(dup->str, STREAM_DUP_MAYBE) == 0)
            counted = seen[m++];
        for (size_t j = 0; !counted && bid && j < nbids; j++) /* two copies within this step */
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
    uint64_t now = now_ms();
    if (rc == 0 && now >= p->next_expire) {
        evaluator_expire_matches(p->ev, now, (uint64_t)p->s->match_idle_s * 1000, on_match_gone, p);
        p->next_expire = now + EXPIRE_EVERY_MS;
    }
    saved sv = {0};
    if (rc == 0)
        rc = evaluator_save_dirty(p->ev, collect_state, &sv);
    char **pvals = rc == 0 ? calloc(p->ndirty + 1, sizeof *pvals) : NULL;
    const char **pkeys = rc == 0 ? calloc(p->ndirty + 1, sizeof *pkeys) : NULL;
    if (rc == 0 && (!pvals || !pkeys))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < p->ndirty; i++) {
        pvals[i] = malloc(256);
        if (!pvals[i]) {
            rc = -ENOMEM;
            break;
        }
        pend_format(p->dirty[i], pvals[i], 256);
        pkeys[i] = p->dirty[i]->key;
    }
    if (rc == 0 && (n > 0 || sv.n > 0 || p->ndirty > 0 || p->ndeletes > 0)) {
        checkpoint c = {.state_keys = sv.keys,
                        .state_blobs = sv.blobs,
                        .state_lens = sv.lens,
                        .nstate = sv.n,
                        .state_deletes = (const char **)p->deletes,
                        .ndeletes = p->ndeletes,
                        .pending_keys = pkeys,
                        .pending_values = (const char **)pvals,
                        .npending = p->ndirty,
                        .batch_ids = bids,
                        .nbatches = nbids,
                        .entry_ids = ids,
                        .nentries = n,
                        .now_ms = now};
        rc = store_checkpoint(p->st, &c);
        if (rc == 0)
            atomic_fetch_add(&p->stats.checkpoints, 1);
    }
    for (size_t i = 0; pvals && i < p->ndirty; i++)
        free(pvals[i]);
    free(pvals);
    free(pkeys);
    saved_free(&sv);
    free(ids);
    free(bids);
    free(maybe);
    free(seen);
    free(skip);
    freeReplyObject(r);
    if (rc != 0) {
        /* The state in memory went further than what Redis holds (or another process leads now): start again
         * from the saved state, which the unacknowledged entries replay onto. */
        lose_leadership(p, rc == -EPERM ? "another achievd holds the lease" : "could not save a step");
        return -1;
    }
    for (size_t i = 0; i < p->ndirty; i++)
        p->dirty[i]->dirty = false;
    p->ndirty = 0;
    for (size_t i = 0; i < p->ndeletes; i++)
        free(p->deletes[i]);
    p->ndeletes = 0;
    atomic_store(&p->stats.players, evaluator_players(p->ev));
    atomic_store(&p->stats.pending, hashmap_size(p->pending));
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
            lose_leadership(p, "Redis unreachable");
            nap(p, STANDBY_POLL_MS);
            continue;
        }
        if (!p->leader || now >= p->next_lease) {
            int held = store_lease(p->st);
            if (held < 0) {
                lose_leadership(p, "Redis unreachable");
                continue;
            }
            if (!held) {
                lose_leadership(p, "another achievd holds the lease");
                nap(p, STANDBY_POLL_MS);
                continue;
            }
            p->next_lease = now + (uint64_t)p->s->lease_ms / 3;
            if (!p->leader && take_over(p) != 0) {
                nap(p, STANDBY_POLL_MS);
                continue;
            }
        }
        refresh_forum(p, now);
        if (!p->catalogue_loaded) {
            nap(p, STANDBY_POLL_MS); /* evaluating without definitions would lose progress: wait for MariaDB */
            continue;
        }
        if (step(p) < 0)
            continue;
        flush(p, now_ms());
        if (now >= p->next_lag) {
            atomic_store(&p->stats.lag, store_lag(p->st));
            p->next_lag = now + LAG_EVERY_MS;
        }
    }
    if (p->leader) {
        p->next_flush = 0;
        flush(p, now_ms()); /* best effort: what stays pending is written by the next evaluator */
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
    p->ev = evaluator_new(member_of, on_write, p);
    p->pending = hashmap_new();
    p->codes = hashmap_new();
    if (!p->st || !p->fm || !p->ev || !p->pending || !p->codes) {
        pipeline_free(p);
        return NULL;
    }
    return p;
}

int pipeline_start(pipeline *p)
{
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
    p->started = false;
}

void pipeline_free(pipeline *p)
{
    if (!p)
        return;
    pipeline_stop(p);
    store_free(p->st);
    forum_free(p->fm);
    evaluator_free(p->ev);
    if (p->pending)
        hashmap_free(p->pending, free);
    if (p->codes)
        hashmap_free(p->codes, free);
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
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (hashmap_next(p->codes, &pos, &k, &klen, &v)) {
        const code_count *c = v;
        char code[80];
        snprintf(code, sizeof code, "%.*s", (int)klen, k);
        each(arg, code, c->unlocks, c->progress);
    }
    pthread_mutex_unlock(&p->lock);
}
