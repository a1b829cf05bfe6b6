/* achievd's pending forum writes: the evaluator's output (the latest progress and the unlock per member and code),
 * interned codes, their form in Redis's pending list (saved by each checkpoint), and handing them over to the
 * MariaDB writer (writer.c) and forgetting them once written. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achievd.h"
#include "log.h"
#include "pipeline_parts.h"
#include "store.h"

/* Progress writes queued for the writer at most (~20 MB of copies): a period's are handed over in slices as it
 * takes them, so that copies of every pending write (500,000 with 50,000 players) never sit in its queue at once.
 * Slices are refilled once per step (up to 10,000 entries), so a slice must outlast one: at 20,000 the writer
 * starved and the pending map grew to 1.1 million entries (tests/bench/achievd_bench.sh, 50,400 players). */
#define PROGRESS_SLICE 100000

/* ---- pending writes ---- */

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

/* The index of code, interned on first sight; UINT32_MAX when out of memory. */
static uint32_t code_id(pipeline *p, const char *code)
{
    size_t len = strlen(code);
    uintptr_t id = (uintptr_t)hashmap_get(p->code_ids, code, len);
    if (id)
        return (uint32_t)(id - 1);
    char *name = strdup(code);
    int rc = name ? 0 : -ENOMEM;
    pthread_mutex_lock(&p->lock);
    if (rc == 0 && p->ncodes == p->ccodes) {
        size_t cap = p->ccodes ? p->ccodes * 2 : 256;
        code_entry *c = realloc(p->codes, cap * sizeof *c);
        rc = c ? 0 : -ENOMEM;
        if (c) {
            p->codes = c;
            p->ccodes = cap;
        }
    }
    if (rc == 0 && (p->ncodes >= UINT32_MAX - 1 ||
                    hashmap_put(p->code_ids, name, len, (void *)(uintptr_t)(p->ncodes + 1), NULL) != 0))
        rc = -ENOMEM;
    if (rc == 0)
        p->codes[p->ncodes++] = (code_entry){.name = name};
    pthread_mutex_unlock(&p->lock);
    if (rc != 0) {
        free(name);
        return UINT32_MAX;
    }
    return (uint32_t)(p->ncodes - 1);
}

static pend *pend_find(pipeline *p, uint32_t member, uint32_t code)
{
    pend_key k = {member, code};
    return hashmap_get(p->pending, (const char *)&k, sizeof k);
}

/* The pending write of (member, code), created when missing; NULL when out of memory. */
static pend *pend_get(pipeline *p, uint32_t member, const char *code)
{
    uint32_t id = code_id(p, code);
    if (id == UINT32_MAX)
        return NULL;
    pend *e = pend_find(p, member, id);
    if (e)
        return e;
    pend_key k = {member, id};
    e = calloc(1, sizeof *e);
    if (!e || hashmap_put(p->pending, (const char *)&k, sizeof k, e, NULL) != 0) {
        free(e);
        return NULL;
    }
    e->member = member;
    e->code = id;
    return e;
}

void pipeline_pend_free(void *v)
{
    pend *e = v;
    if (e)
        free(e->note);
    free(e);
}

static void pend_forget(pipeline *p, pend *e)
{
    pend_key k = {e->member, e->code};
    pipeline_pend_free(hashmap_remove(p->pending, (const char *)&k, sizeof k));
}

/* The first unlock of (member, code) wins: its time, and where it was earned. */
static void pend_unlock(pend *e, uint64_t at_ms, const char *match_key, const char *guid)
{
    e->unlocked = true;
    e->at_ms = at_ms;
    e->note = calloc(1, sizeof *e->note);
    if (!e->note)
        return;
    snprintf(e->note->match_key, sizeof e->note->match_key, "%s", match_key ? match_key : "");
    snprintf(e->note->guid, sizeof e->note->guid, "%s", guid ? guid : "");
}

void pipeline_on_write(void *arg, const ach_write *w)
{
    pipeline *p = arg;
    pend *e = pend_get(p, w->member, w->code);
    if (!e) {
        log_error("achievd: out of memory recording an achievement write; it is written on its next change");
        return;
    }
    if (w->progress > e->progress)
        e->progress = w->progress;
    if (w->unlocked && !e->unlocked)
        pend_unlock(e, w->at_ms, w->match_key, w->guid);
    else if (!e->unlocked)
        e->at_ms = w->at_ms;
    e->seq = ++p->seq;
    mark_dirty(p, e);
}

/* What snprintf wrote into outlen bytes. */
static size_t written(int n, size_t outlen)
{
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

size_t pipeline_pend_key_format(const pipeline *p, const pend *e, char *out, size_t outlen)
{
    return written(snprintf(out, outlen, "%u:%s", e->member, p->codes[e->code].name), outlen);
}

size_t pipeline_pend_format(const pend *e, char *out, size_t outlen)
{
    return written(snprintf(out, outlen, "%u\t%d\t%" PRIu64 "\t%s\t%s", e->progress, e->unlocked, e->at_ms,
                            e->note ? e->note->match_key : "", e->note ? e->note->guid : ""),
                   outlen);
}

void pipeline_on_pending_loaded(void *arg, const char *key, const char *value)
{
    pipeline *p = arg;
    const char *colon = strchr(key, ':');
    pend *e = colon && strlen(colon + 1) < sizeof((ach_def *)0)->code
                  ? pend_get(p, (uint32_t)strtoul(key, NULL, 10), colon + 1)
                  : NULL;
    if (!e)
        return;
    char *end;
    e->progress = (uint32_t)strtoul(value, &end, 10);
    bool unlocked = *end == '\t' && strtol(end + 1, &end, 10) == 1;
    e->at_ms = *end == '\t' ? strtoull(end + 1, &end, 10) : 0;
    const char *match = *end == '\t' ? end + 1 : "";
    const char *tab = strchr(match, '\t');
    char match_key[sizeof e->note->match_key];
    snprintf(match_key, sizeof match_key, "%.*s", tab ? (int)(tab - match) : (int)strlen(match), match);
    if (unlocked && !e->unlocked)
        pend_unlock(e, e->at_ms, match_key, tab ? tab + 1 : "");
    e->seq = ++p->seq;
}

static void count_code(pipeline *p, uint32_t code, bool unlocked)
{
    pthread_mutex_lock(&p->lock);
    if (code < p->ncodes) {
        p->codes[code].progress++;
        p->codes[code].unlocks += unlocked;
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- handing over to the writer ---- */

void pipeline_collect_written(pipeline *p)
{
    writer_item *done = NULL;
    size_t n = writer_take_done(p->wr, &done);
    pend **gone = n ? malloc(n * sizeof *gone) : NULL;
    const char **keys = n ? malloc(n * sizeof *keys) : NULL;
    char *text = n ? malloc(n * PEND_KEY_MAX) : NULL;
    size_t k = 0, used = 0;
    for (size_t i = 0; i < n; i++) {
        pend *e = pend_find(p, done[i].w.member, done[i].code_id);
        count_code(p, done[i].code_id, done[i].w.unlocked);
        atomic_fetch_add(&p->stats.progress_writes, 1);
        atomic_fetch_add(&p->stats.unlocks, done[i].w.unlocked);
        if (!e)
            continue;
        if (gone && keys && text && e->seq == done[i].seq && e->handed_seq != 0) {
            /* Redis holds this very value: a change since would have a newer seq */
            keys[k] = text + used;
            used += pipeline_pend_key_format(p, e, text + used, PEND_KEY_MAX) + 1;
            gone[k++] = e;
        } else if (e->handed_seq == done[i].seq) {
            e->handed_seq = 0; /* changed since: the newer value is handed over in turn */
        }
    }
    int rc = k > 0 ? store_pending_done(p->st, keys, k) : 0;
    for (size_t i = 0; i < k; i++) {
        if (rc == 0)
            pend_forget(p, gone[i]);
        else
            gone[i]->handed_seq = 0; /* written again */
    }
    free(gone);
    free(keys);
    free(text);
    free(done);
    if (rc == -EPERM)
        pipeline_lose_leadership(p, "another achievd holds the lease");
    atomic_store(&p->stats.pending, hashmap_size(p->pending));
}

/* Hand the writer up to limit pending writes saved in Redis (dirty ones wait for the next checkpoint: MariaDB
 * never has a write Redis could lose), unlocks or progress. Returns how many, or -ENOMEM. */
static long hand(pipeline *p, bool unlocks, size_t limit)
{
    size_t cap = 0, k = 0, pos = 0, klen;
    writer_item *items = NULL;
    pend **handed = NULL;
    const char *key;
    void *v;
    int rc = 0;
    while (k < limit && hashmap_next(p->pending, &pos, &key, &klen, &v)) {
        pend *e = v;
        if (e->dirty || e->unlocked != unlocks)
            continue;
        /* An unlock does not wait for its progress write in flight (behind a period's); progress goes once a
         * period, and not while an older value of it is in flight. */
        if (unlocks ? e->handed_seq != 0 && e->handed_unlock : e->handed_seq != 0 || e->round == p->round)
            continue;
        if (k == cap) {
            cap = cap ? cap * 2 : 256;
            writer_item *i2 = realloc(items, cap * sizeof *items);
            pend **h2 = i2 ? realloc(handed, cap * sizeof *handed) : NULL;
            items = i2 ? i2 : items;
            handed = h2 ? h2 : handed;
            if (!i2 || !h2) {
                rc = -ENOMEM;
                break;
            }
        }
        items[k] = (writer_item){.w = {.member = e->member,
                                       .progress = e->progress,
                                       .at_ms = e->at_ms,
                                       .code = p->codes[e->code].name,
                                       .note = e->note,
                                       .unlocked = e->unlocked},
                                 .seq = e->seq,
                                 .code_id = e->code};
        handed[k++] = e;
    }
    if (rc == 0)
        rc = writer_submit(p->wr, items, k, unlocks);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        handed[i]->handed_seq = handed[i]->seq;
        handed[i]->handed_unlock = unlocks;
        if (!unlocks)
            handed[i]->round = p->round;
    }
    free(items);
    free(handed);
    return rc == 0 ? (long)k : rc;
}

void pipeline_hand_over(pipeline *p, uint64_t now, size_t slice)
{
    if (now >= p->next_flush && hand(p, /* unlocks= */ true, SIZE_MAX) >= 0 && hashmap_size(p->pending) > 0)
        p->next_flush = now + (uint64_t)p->s->flush_ms; /* with nothing pending, the next unlock goes at once */
    if (!p->round_open && now >= p->next_progress) {
        p->round++;
        p->round_open = true;
    }
    if (p->round_open && writer_progress_queued(p->wr) < slice) {
        long k = hand(p, /* unlocks= */ false, slice);
        if (k >= 0 && (size_t)k < slice) { /* the period's last slice: the next period runs from now */
            p->round_open = false;
            p->next_progress = now + (uint64_t)p->s->progress_ms;
        }
    }
}

void pipeline_flush(pipeline *p, uint64_t now)
{
    pipeline_collect_written(p);
    if (p->leader)
        pipeline_hand_over(p, now, PROGRESS_SLICE);
}
