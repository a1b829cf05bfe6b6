/* What the pipeline's files share: pipeline.c (the thread, leadership, one step and its checkpoint),
 * pipeline_pending.c (the pending forum writes and handing them to writer.c), pipeline_forum.c (the catalogue, identity
 * links and backfills), pipeline_catchup.c (replaying a trimmed gap from ClickHouse). Private to those files: others
 * use achievd.h. */
#ifndef MOHSTATS_ACHIEVD_PIPELINE_PARTS_H
#define MOHSTATS_ACHIEVD_PIPELINE_PARTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "achievd.h"
#include "hashmap.h"
#include "store.h"

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

/* A GUID -> member link as achievd credits it (see the top of pipeline.c). */
typedef struct {
    char guid[65];
    uint32_t member;
    uint64_t from_ms; /* events received after this count as they come; the ones before are the backfill's */
    bool done;        /* the backfill was merged (or there was nothing before) */
    char at_id[48];   /* the stream's newest entry when the link was seen: the writers must have inserted it */
    bool dirty;       /* changed since the last checkpoint */
} link_state;

/* A catch-up from ClickHouse under way (see CATCHUP_SKEW_MS, pipeline_catchup.c). */
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
    uint64_t next_forget;            /* the erased members (store_forget) are looked for then */
    uint32_t round;                  /* progress periods started */
    int read_count;                  /* entries a step reads at most: ACHIEVD_READ_COUNT, less while steps save much */
    size_t step_entries, step_added; /* the last step's entries, and the pending writes it added */
    size_t step_bytes;               /* and their rows' size */
    size_t saved_bytes;              /* what the last checkpoint saved */
    bool round_open;                 /* the current period's progress is still being handed over */
    hashmap *code_ids;               /* code -> its index + 1 */
    pthread_mutex_t
        lock; /* guards codes (grown by code_id, pipeline_pending.c; read by the loop thread for /metrics) */
    code_entry *codes;
    size_t ncodes, ccodes;
};

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

static inline uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Sleep up to ms, waking early on stop. */
static inline void nap(pipeline *p, int ms)
{
    for (int slept = 0; slept < ms && !atomic_load(&p->stop); slept += 50)
        usleep(50 * 1000);
}

/* Room for pend_key_format and pend_format. */
#define PEND_KEY_MAX (10 + 1 + 64 + 1)
#define PEND_VALUE_MAX (10 + 1 + 1 + 1 + 20 + 1 + 24 + 1 + 64 + 1)

/* ---- pipeline.c: leadership, one step ---- */

/* Stop evaluating (another process leads, or Redis failed us): the state in memory is dropped. */
void pipeline_lose_leadership(pipeline *p, const char *why);
/* Save what the evaluator, the pending writes and the links changed, with r, in one checkpoint. 0, or -1 after
 * which the state in memory went further than what Redis holds (or another process leads now): it is dropped
 * and evaluating starts again from the saved state, which the unacknowledged entries replay onto. */
int pipeline_save(pipeline *p, const step_result *r);

/* ---- pipeline_forum.c: members, links, backfills ---- */

/* ach_member_fn: the member an event's GUID credits at its receive time; 0 for nobody. */
uint32_t pipeline_member_of(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms);
/* A link's value in Redis: "member:from_ms:done:at_id". */
void pipeline_link_format(const link_state *l, char *out, size_t outlen);
/* A link saved in Redis, restored at takeover (store_load). */
void pipeline_on_link_loaded(void *arg, const char *guid, const char *value);
/* Reload the catalogue and the identity links when they are due. */
void pipeline_refresh_forum(pipeline *p, uint64_t now);
/* Credit one link's past, once the writers inserted everything up to the moment it was seen. */
void pipeline_backfill_next(pipeline *p, uint64_t now);

/* ---- pipeline_pending.c: pending writes ---- */

/* Free a pending write (hashmap value). */
void pipeline_pend_free(void *v);
/* The evaluator's output: the latest progress per (member, code), and its unlock. */
void pipeline_on_write(void *arg, const ach_write *w);
/* Its key in Redis's pending list: "member:code". Returns the length. */
size_t pipeline_pend_key_format(const pipeline *p, const pend *e, char *out, size_t outlen);
/* Its value there: progress, unlocked, time, match, GUID (last: it may hold a tab). Returns the length. */
size_t pipeline_pend_format(const pend *e, char *out, size_t outlen);
/* A pending write saved in Redis, restored at takeover (store_load). */
void pipeline_on_pending_loaded(void *arg, const char *key, const char *value);
/* Forget the writes MariaDB has now, in Redis's pending list and then in memory, unless they changed since they
 * were handed over (their newer value is handed over in turn). */
void pipeline_collect_written(pipeline *p);
/* Hand the writer what MariaDB does not have yet. Unlocks go every ACHIEVD_FLUSH_MS, all of them; progress only
 * every ACHIEVD_PROGRESS_MS: a (member, code) changes with most events, and writing each change was 6.5 MariaDB
 * rows per event (docs/performance.md), whereas its latest value once per period is well under one. Progress
 * rows only ever go up (forum.c), so writing them late loses nothing. */
void pipeline_hand_over(pipeline *p, uint64_t now, size_t slice);
/* Collect what MariaDB wrote, then hand it what is due (leader only). */
void pipeline_flush(pipeline *p, uint64_t now);

/* ---- pipeline_catchup.c: catching up ---- */

/* Forget the catch-up under way, if any. */
void pipeline_catchup_end(pipeline *p);
/* One page of the catch-up for the gap g: replayed and saved with the page's end (store.h). 0 or -1. */
int pipeline_catch_up(pipeline *p, const store_gap *g);

#endif
