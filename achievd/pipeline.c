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
 * a page per step (catchup.c; the bounds: CATCHUP_SKEW_MS below), before it reads the stream again.
 *
 * Why a link splits a GUID's events by time. A GUID linked to a member at some moment has events from before
 * (evaluated then as nobody's) and after. Each link records the latest receive time evaluated when achievd saw
 * it (from_ms): the events received later are credited as they are evaluated, the ones before by a backfill
 * (backfill.c) that replays them from ClickHouse once the writers inserted everything up to that moment, and
 * that is merged into the member's state in one step. So no event counts twice, and none is missed unless it
 * reaches the stream after the link with an older receive time (a spool replayed after a Redis outage). */
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
#include "backfill.h"
#include "catchup.h"
#include "log.h"
#include "raw_row.h"
#include "store.h"
#include "stream_entry.h"

#define BLOCK_MS 500         /* XREADGROUP BLOCK while the stream is empty */
#define STANDBY_POLL_MS 1000 /* a standby asks for the lease this often */
#define LAG_EVERY_MS 2000
#define EXPIRE_EVERY_MS 60000
#define DRAIN_MS 5000 /* a clean stop waits this long at most for MariaDB to take what is pending */
/* Progress writes queued for the writer at most (~20 MB of copies): a period's are handed over in slices as it
 * takes them, so that copies of every pending write (500,000 with 50,000 players) never sit in its queue at once.
 * Slices are refilled once per step (up to 10,000 entries), so a slice must outlast one: at 20,000 the writer
 * starved and the pending map grew to 1.1 million entries (tests/bench/achievd_bench.sh, 50,400 players). */
#define PROGRESS_SLICE 100000
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

/* A pending write in memory: ~130 bytes with the map's entry, since half a million of them can wait at once.
 * Saved in Redis's pending list as "member:code" -> pend_format. */
typedef struct {
    uint32_t member;
    uint32_t code;       /* its index in the pipeline's codes */
    uint32_t progress;   /* the latest */
    uint32_t round;      /* the progress period that last handed it over */
    uint64_t at_ms;      /* the unlock's receive time; before it, the latest change's */
    uint64_t seq;        /* its latest change (pipeline.seq): a write reported done is forgotten only if current */
    uint64_t handed_seq; /* the change handed to the writer and not reported written yet, 0 none */
    unlock_note *note;   /* unlocked: where (NULL if it could not be allocated: the columns get '') */
    bool unlocked;
    bool dirty;         /* changed since the last checkpoint */
    bool handed_unlock; /* what is in flight is an unlock */
} pend;

/* The map's key of a pending write: (member, code index), 8 bytes. */
typedef struct {
    uint32_t member, code;
} pend_key;

/* An achievement code, interned: pending writes hold its index, the writer's items its name (never freed while
 * the pipeline lives, so the writer thread can read it). */
typedef struct {
    char *name;
    uint64_t unlocks, progress; /* written since start, for /metrics */
} code_entry;

/* A GUID -> member link as achievd credits it (see the top of this file). */
typedef struct {
    char guid[65];
    uint32_t member;
    uint64_t from_ms; /* events received after this count as they come; the ones before are the backfill's */
    bool done;        /* the backfill was merged (or there was nothing before) */
    char at_id[48];   /* the stream's newest entry when the link was seen: the writers must have inserted it */
    bool dirty;       /* changed since the last checkpoint */
} link_state;

/* A catch-up from ClickHouse under way (see CATCHUP_SKEW_MS). */
typedef struct {
    bool active;
    char marker[48];  /* the MINID of the trim it covers: everything before it */
    char done_id[48]; /* the id just before: the group's position once it is done */
    uint64_t from_ms; /* the next page starts after this receive time */
    uint64_t to_ms;   /* and the last ends here */
    hashmap *skip;    /* batches near the start counted from the stream already */
    uint64_t events;
} catchup_state;

struct pipeline {
    const achievd_settings *s;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pipeline_stats stats;
    store *st;
    forum *fm;
    writer *wr; /* MariaDB writes, on a thread and a connection of their own */
    evaluator *ev;
    hashmap *pending; /* pend_key -> pend */
    hashmap *links;   /* GUID -> link_state */
    uint64_t seen_ms; /* the latest receive time evaluated */
    uint64_t seq;     /* numbers every change of a pending write, never reused (a late report cannot match) */
    catchup_state gap;
    uint64_t catchup_until_ms; /* the end of the last catch-up: entries received before may be replayed batches */
    ach_def *defs;             /* the catalogue, for backfills */
    size_t ndefs;
    uint64_t next_backfill;
    pend **dirty;
    size_t ndirty, cdirty;
    char **deletes; /* saved states to delete at the next checkpoint (expired matches) */
    size_t ndeletes, cdeletes;
    bool leader, catalogue_loaded;
    uint64_t next_catalogue, next_identities, next_flush, next_progress, next_lag, next_expire, next_lease;
    uint32_t round;  /* progress periods started */
    int read_count;  /* entries a step reads at most: ACHIEVD_READ_COUNT, less while steps save much */
    size_t step_entries, step_added; /* the last step's entries, and the pending writes it added */
    size_t step_bytes;               /* and their rows' size */
    size_t saved_bytes; /* what the last checkpoint saved */
    bool round_open; /* the current period's progress is still being handed over */
    hashmap *code_ids;    /* code -> its index + 1 */
    pthread_mutex_t lock; /* guards codes (grown here, read by the loop thread for /metrics) */
    code_entry *codes;
    size_t ncodes, ccodes;
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

static uint32_t member_of(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms)
{
    pipeline *p = arg;
    if (smf_id > 0 && smf_id <= UINT32_MAX)
        return (uint32_t)smf_id;
    if (strncmp(guid, "unauth_", 7) == 0)
        return 0; /* a slot, not a person (docs/definitions.md) */
    const link_state *l = hashmap_get(p->links, guid, strlen(guid));
    return l && received_ms > l->from_ms ? l->member : 0;
}

static void link_format(const link_state *l, char *out, size_t outlen)
{
    snprintf(out, outlen, "%u:%" PRIu64 ":%d:%s", l->member, l->from_ms, l->done, l->at_id);
}

static void on_link_loaded(void *arg, const char *guid, const char *value)
{
    pipeline *p = arg;
    link_state *l = calloc(1, sizeof *l);
    char *end;
    if (!l || strlen(guid) >= sizeof l->guid) {
        free(l);
        return;
    }
    snprintf(l->guid, sizeof l->guid, "%s", guid);
    l->member = (uint32_t)strtoul(value, &end, 10);
    l->from_ms = *end == ':' ? strtoull(end + 1, &end, 10) : 0;
    l->done = *end == ':' && strtol(end + 1, &end, 10) == 1;
    snprintf(l->at_id, sizeof l->at_id, "%s", *end == ':' ? end + 1 : "0-0");
    void *old = NULL;
    if (hashmap_put(p->links, l->guid, strlen(l->guid), l, &old) != 0)
        free(l);
    free(old);
}

typedef struct {
    pipeline *p;
    char newest[48];
    bool have_newest;
    size_t added;
} link_scan;

/* A forum link achievd does not credit yet (new, or moved to another member): from now on, and a backfill. */
static void on_forum_link(void *arg, const char *guid, uint32_t member)
{
    link_scan *ls = arg;
    pipeline *p = ls->p;
    link_state *l = hashmap_get(p->links, guid, strlen(guid));
    if (l && l->member == member)
        return;
    if (!ls->have_newest) {
        if (store_newest_id(p->st, ls->newest, sizeof ls->newest) != 0)
            return; /* seen again at the next reload */
        ls->have_newest = true;
    }
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l || hashmap_put(p->links, guid, strlen(guid), l, NULL) != 0) {
            free(l);
            return;
        }
        snprintf(l->guid, sizeof l->guid, "%s", guid);
    }
    l->member = member;
    l->from_ms = p->seen_ms;
    l->done = p->seen_ms == 0; /* nothing evaluated yet: there is no past of ours to credit */
    snprintf(l->at_id, sizeof l->at_id, "%s", ls->newest);
    l->dirty = true;
    ls->added++;
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

static void pend_free(void *v)
{
    pend *e = v;
    if (e)
        free(e->note);
    free(e);
}

static void pend_forget(pipeline *p, pend *e)
{
    pend_key k = {e->member, e->code};
    pend_free(hashmap_remove(p->pending, (const char *)&k, sizeof k));
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

/* The evaluator's output: the latest progress per (member, code), and its unlock. */
static void on_write(void *arg, const ach_write *w)
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

/* Room for pend_key_format and pend_format. */
#define PEND_KEY_MAX (10 + 1 + 64 + 1)
#define PEND_VALUE_MAX (10 + 1 + 1 + 1 + 20 + 1 + 24 + 1 + 64 + 1)

/* What snprintf wrote into outlen bytes. */
static size_t written(int n, size_t outlen)
{
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* Its key in Redis's pending list: "member:code". Returns the length. */
static size_t pend_key_format(const pipeline *p, const pend *e, char *out, size_t outlen)
{
    return written(snprintf(out, outlen, "%u:%s", e->member, p->codes[e->code].name), outlen);
}

/* Its value there: progress, unlocked, time, match, GUID (last: it may hold a tab). Returns the length. */
static size_t pend_format(const pend *e, char *out, size_t outlen)
{
    return written(snprintf(out, outlen, "%u\t%d\t%" PRIu64 "\t%s\t%s", e->progress, e->unlocked, e->at_ms,
                            e->note ? e->note->match_key : "", e->note ? e->note->guid : ""),
                   outlen);
}

static void on_pending_loaded(void *arg, const char *key, const char *value)
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

/* ---- leadership ---- */

static void catchup_end(pipeline *p);

static void drop_state(pipeline *p)
{
    writer_cancel(p->wr); /* the fence: nothing more of ours is written, no report of it matches a new entry */
    catchup_end(p);
    p->catchup_until_ms = 0;
    evaluator_reset(p->ev);
    hashmap_free(p->pending, pend_free);
    p->pending = hashmap_new();
    hashmap_free(p->links, free);
    p->links = hashmap_new();
    p->seen_ms = 0;
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
    if (!p->pending || !p->links || store_ensure_group(p->st) != 0 ||
        store_load(p->st, p->ev, on_pending_loaded, on_link_loaded, p, &p->seen_ms) != 0 ||
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

/* ---- the forum's tables ---- */

static void refresh_forum(pipeline *p, uint64_t now)
{
    if (now >= p->next_catalogue) {
        ach_def *defs = NULL;
        size_t n = 0;
        if (forum_detect_schema(p->fm) == 0 && forum_load_catalogue(p->fm, &defs, &n) == 0) {
            if (evaluator_set_catalogue(p->ev, defs, n) == 0) {
                writer_catalogue_changed(p->wr); /* before any write of a new code is handed over */
                if (!p->catalogue_loaded)
                    log_info("achievd: %zu achievement definitions loaded", n);
                p->catalogue_loaded = true;
                free(p->defs);
                p->defs = defs;
                p->ndefs = n;
                defs = NULL;
            }
            free(defs);
            p->next_catalogue = now + (uint64_t)p->s->catalogue_reload_s * 1000;
        } else {
            p->next_catalogue = now + 1000;
        }
    }
    if (now >= p->next_identities) {
        bool ok = forum_load_identities(p->fm) == 0;
        p->next_identities = now + (ok ? (uint64_t)p->s->identities_reload_s * 1000 : 1000);
        link_scan ls = {.p = p};
        if (ok)
            forum_each_link(p->fm, on_forum_link, &ls);
        if (ls.added)
            log_info("achievd: %zu new identity links; their past is credited from ClickHouse", ls.added);
    }
}

/* Between the pages of a backfill: keep the lease (a member's long past can take longer than it). */
static bool keep_lease(void *arg)
{
    pipeline *p = arg;
    return !atomic_load(&p->stop) && store_lease(p->st) == 1;
}

/* Credit one link's past, once the writers inserted everything up to the moment it was seen. */
static void backfill_next(pipeline *p, uint64_t now)
{
    if (now < p->next_backfill)
        return;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    link_state *l = NULL;
    while (!l && hashmap_next(p->links, &pos, &k, &klen, &v))
        if (!((link_state *)v)->done)
            l = v;
    if (!l)
        return;
    int past = store_writers_past(p->st, l->at_id);
    if (past <= 0) {
        p->next_backfill = now + 1000;
        return;
    }
    backfill b;
    int rc = backfill_run(p->s, p->defs, p->ndefs, l->guid, l->member, l->from_ms, keep_lease, p, &b);
    if (rc == 0) {
        size_t unlocks = 0;
        for (size_t i = 0; i < b.nwrites; i++) {
            ach_write w = {.member = b.writes[i].member,
                           .code = b.writes[i].code,
                           .progress = b.writes[i].progress,
                           .unlocked = b.writes[i].unlocked,
                           .at_ms = b.writes[i].at_ms,
                           .match_key = b.writes[i].match_key,
                           .guid = b.writes[i].guid};
            on_write(p, &w);
            unlocks += w.unlocked;
        }
        rc = evaluator_merge(p->ev, b.ev, l->member, l->from_ms);
        if (rc == 0) {
            l->done = true;
            l->dirty = true;
            atomic_fetch_add(&p->stats.backfilled, unlocks);
            log_info("achievd: credited member %u with the past of GUID %s: %" PRIu64 " events, %zu unlocks", l->member,
                     l->guid, b.events, unlocks);
        }
    }
    backfill_free(&b);
    if (rc != 0)
        p->next_backfill = now + 5000; /* ClickHouse away: later (the live events are credited meanwhile) */
}

/* Forget the writes MariaDB has now, in Redis's pending list and then in memory, unless they changed since they
 * were handed over (their newer value is handed over in turn). */
static void collect_written(pipeline *p)
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
            used += pend_key_format(p, e, text + used, PEND_KEY_MAX) + 1;
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
        lose_leadership(p, "another achievd holds the lease");
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

/* Hand the writer what MariaDB does not have yet. Unlocks go every ACHIEVD_FLUSH_MS, all of them; progress only
 * every ACHIEVD_PROGRESS_MS: a (member, code) changes with most events, and writing each change was 6.5 MariaDB
 * rows per event (docs/performance.md), whereas its latest value once per period is well under one. Progress
 * rows only ever go up (forum.c), so writing them late loses nothing. */
static void hand_over(pipeline *p, uint64_t now, size_t slice)
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

static void flush(pipeline *p, uint64_t now)
{
    collect_written(p);
    if (p->leader)
        hand_over(p, now, PROGRESS_SLICE);
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

/* What a step or a catch-up page saves besides the state it changed. */
typedef struct {
    const char **entry_ids; /* stream entries to acknowledge */
    size_t nentries;
    const char **batch_ids; /* batches now counted */
    size_t nbatches;
    uint64_t catchup_from_ms; /* see checkpoint (store.h) */
    const char *catchup_done;
    uint64_t catchup_until_ms;
} step_result;

/* Save what the evaluator, the pending writes and the links changed, with r, in one checkpoint. 0, or -1 after
 * which the state in memory went further than what Redis holds (or another process leads now): it is dropped
 * and evaluating starts again from the saved state, which the unacknowledged entries replay onto. */
static int save(pipeline *p, const step_result *r)
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
        pused += pend_key_format(p, p->dirty[i], ptext + pused, PEND_KEY_MAX) + 1;
        pvals[i] = ptext + pused;
        pused += pend_format(p->dirty[i], ptext + pused, PEND_VALUE_MAX) + 1;
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
        link_format(l, lvals[nlinks], sizeof lvals[nlinks]);
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
        lose_leadership(p, rc == -EPERM ? "another achievd holds the lease" : "could not save a step");
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

static void catchup_end(pipeline *p)
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

/* One page of the catch-up for the gap g: replayed and saved with the page's end (store.h). 0 or -1. */
static int catch_up(pipeline *p, const store_gap *g)
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
        rc = save(p, &r);
    } else {
        lose_leadership(p, "out of memory during a catch-up");
    }
    if (near)
        hashmap_free(near, NULL);
    free(near_ids);
    free(body);
    if (rc != 0) {
        catchup_end(p);
        return -1;
    }
    c->from_ms = end;
    if (done) {
        log_info("achievd: caught up from ClickHouse: %" PRIu64 " events replayed; reading the stream from %s on",
                 c->events, c->done_id);
        p->catchup_until_ms = c->to_ms;
        catchup_end(p);
    }
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

/* The next step's size, from what the last one changed (see STEP_STATES). */
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
        return catch_up(p, &g);
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
        rc = save(p, &res);
        if (rc == 0 && n > 0) {
            size_steps(p, n);
            p->step_entries = n;
            p->step_added = added;
            p->step_bytes = bytes;
        }
    } else {
        lose_leadership(p, "could not read a step");
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
        if (hashmap_size(p->pending) >= PENDING_MAX) {
            p->next_progress = 0; /* a period now, whatever is left of this one: it is what frees entries */
            flush(p, now_ms());
            nap(p, PENDING_WAIT_MS);
            continue;
        }
        if (step(p) < 0)
            continue;
        flush(p, now_ms());
        if (p->leader)
            backfill_next(p, now_ms());
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
        hand_over(p, now_ms(), SIZE_MAX);
        if (!writer_drain(p->wr, DRAIN_MS))
            log_warn("achievd: MariaDB did not take every pending write within %d ms; the next evaluator writes them",
                     DRAIN_MS);
        collect_written(p);
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
    p->ev = evaluator_new(member_of, on_write, p);
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
    catchup_end(p);
    store_free(p->st);
    writer_free(p->wr);
    forum_free(p->fm);
    evaluator_free(p->ev);
    if (p->pending)
        hashmap_free(p->pending, pend_free);
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
