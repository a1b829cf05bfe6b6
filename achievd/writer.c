/* The MariaDB writer thread: writes the pending writes the pipeline hands it, on a connection of its own, so
 * that evaluation never waits for MariaDB (it waited on it 44% of the time, docs/performance.md).
 *
 * What it is handed was already saved in Redis's pending list by a checkpoint, so a crash at any moment leaves
 * it to the next evaluator, and writing it twice changes nothing (unlocks insert-if-absent, progress only up).
 * It reports back what it wrote; the pipeline forgets those (in memory and in Redis) unless they changed since.
 * Unlocks go ahead of progress: a big progress period must not delay an unlock by more than one statement.
 *
 * The fence. The writer holds no lease of its own: when the pipeline loses the lease, writer_cancel() drops
 * everything queued and the report of the statement under way. What it still writes after that is a result of
 * entries the pipeline acknowledged while it led, which the successor writes again anyway (idempotent). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "achievd.h"
#include "log.h"

#define IDLE_WAIT_MS 500
#define BACKOFF_MAX_MS 5000
#define QUEUE_KEEP 4096 /* items a queue keeps room for once empty; a bigger array is freed */

/* A first-in first-out list of writes. */
typedef struct {
    writer_item *v;
    size_t head, n, cap;
} queue;

struct writer {
    const achievd_settings *s;
    pipeline_stats *stats;
    forum *fm;
    pthread_t thread;
    bool started, stop, busy;
    pthread_mutex_t lock; /* guards everything below, and stop and busy */
    pthread_cond_t wake, idle;
    queue unlocks, progress, done;
    uint64_t gen;                /* bumped by writer_cancel: a statement of an older generation is not reported */
    atomic_uint catalogue_asked; /* bumped by writer_catalogue_changed */
    unsigned catalogue_loaded;   /* the writer thread's own */
};

static int queue_push(queue *q, const writer_item *items, size_t n)
{
    if (q->head == q->n) {
        q->head = q->n = 0;
    } else if (q->head > 0 && q->n + n > q->cap) {
        /* the room of the items taken first: a queue fed while it is written never empties, and growing it
         * instead held every item pushed since it last did (33 MB with 50,000 players, docs/performance.md) */
        memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof *q->v);
        q->n -= q->head;
        q->head = 0;
    }
    if (q->n + n > q->cap) {
        size_t cap = q->cap ? q->cap : 256;
        while (cap < q->n + n)
            cap *= 2;
        writer_item *v = realloc(q->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        q->v = v;
        q->cap = cap;
    }
    memcpy(q->v + q->n, items, n * sizeof *items);
    q->n += n;
    return 0;
}

/* The notes of unlocks: the writer's items own copies (the pipeline may forget its write before this statement). */
static void notes_free(writer_item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((void *)v[i].w.note);
        v[i].w.note = NULL;
    }
}

static int notes_copy(writer_item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i].w.note)
            continue;
        unlock_note *c = malloc(sizeof *c);
        if (!c) {
            notes_free(v, i);
            for (size_t j = i; j < n; j++)
                v[j].w.note = NULL; /* the pipeline's */
            return -ENOMEM;
        }
        *c = *v[i].w.note;
        v[i].w.note = c;
    }
    return 0;
}

static void queue_clear(queue *q)
{
    notes_free(q->v + q->head, q->n - q->head);
    q->head = q->n = 0;
}

/* Once a queue is empty, a big array goes back to the allocator (a period's slice is 100,000 items). */
static void queue_trim(queue *q)
{
    if (q->head == q->n && q->cap > QUEUE_KEEP) {
        free(q->v);
        q->v = NULL;
        q->head = q->n = q->cap = 0;
    }
}

static void queue_free(queue *q)
{
    queue_clear(q);
    free(q->v);
    memset(q, 0, sizeof *q);
}

/* An absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static struct timespec deadline(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* The code -> id map of the writer's own connection follows the pipeline's catalogue: reloaded before a write
 * whenever the pipeline loaded one since (a write of a code it does not know would be dropped as deleted). */
static int catalogue_current(writer *wr)
{
    unsigned asked = atomic_load(&wr->catalogue_asked);
    if (asked == wr->catalogue_loaded)
        return 0;
    ach_def *defs = NULL;
    size_t n = 0;
    if (forum_detect_schema(wr->fm) != 0 || forum_load_catalogue(wr->fm, &defs, &n) != 0)
        return -EIO;
    free(defs);
    wr->catalogue_loaded = asked;
    return 0;
}

static void *writer_run(void *arg)
{
    writer *wr = arg;
    mysql_thread_init();
    writer_item *chunk = malloc((size_t)wr->s->write_rows * sizeof *chunk);
    pending_write *w = malloc((size_t)wr->s->write_rows * sizeof *w);
    size_t m = 0; /* writes in chunk: a failed statement keeps them for the retry */
    uint64_t gen = 0;
    int backoff_ms = 0;
    pthread_mutex_lock(&wr->lock);
    while (chunk && w && !wr->stop) {
        if (m > 0 && gen != wr->gen) {
            notes_free(chunk, m); /* cancelled while it waited for a retry */
            m = 0;
        }
        if (m == 0) {
            queue *q = wr->unlocks.head < wr->unlocks.n ? &wr->unlocks : &wr->progress;
            if (q->head == q->n) {
                wr->busy = false;
                pthread_cond_broadcast(&wr->idle);
                struct timespec t = deadline(IDLE_WAIT_MS);
                pthread_cond_timedwait(&wr->wake, &wr->lock, &t);
                continue;
            }
            m = q->n - q->head < (size_t)wr->s->write_rows ? q->n - q->head : (size_t)wr->s->write_rows;
            memcpy(chunk, q->v + q->head, m * sizeof *chunk);
            q->head += m;
            queue_trim(q);
            gen = wr->gen;
        }
        wr->busy = true;
        pthread_mutex_unlock(&wr->lock);

        for (size_t i = 0; i < m; i++)
            w[i] = chunk[i].w;
        double secs = 0;
        int rc = catalogue_current(wr);
        if (rc == 0) {
            rc = forum_write(wr->fm, w, m, &secs);
            atomic_fetch_add(&wr->stats->write_us_total, (unsigned long long)(secs * 1e6));
            atomic_fetch_add(&wr->stats->write_count, 1);
        }

        pthread_mutex_lock(&wr->lock);
        if (rc == 0) {
            notes_free(chunk, m);
            if (gen == wr->gen && queue_push(&wr->done, chunk, m) != 0)
                log_warn("achievd: out of memory reporting %zu forum writes; they are written again", m);
            m = 0;
            backoff_ms = 0;
        } else {
            /* MariaDB away: the same statement again, later (the pipeline keeps evaluating meanwhile) */
            atomic_fetch_add(&wr->stats->write_errors, 1);
            backoff_ms = backoff_ms ? backoff_ms * 2 : wr->s->flush_ms;
            if (backoff_ms > BACKOFF_MAX_MS)
                backoff_ms = BACKOFF_MAX_MS;
            struct timespec t = deadline(backoff_ms);
            while (!wr->stop && gen == wr->gen &&
                   pthread_cond_timedwait(&wr->wake, &wr->lock, &t) != ETIMEDOUT)
                ;
        }
    }
    if (!chunk || !w)
        log_error("achievd: out of memory starting the MariaDB writer; nothing is written to the forum");
    else
        notes_free(chunk, m); /* stopped with a statement to retry: the next evaluator writes it */
    wr->busy = false;
    pthread_cond_broadcast(&wr->idle);
    pthread_mutex_unlock(&wr->lock);
    free(chunk);
    free(w);
    mysql_thread_end();
    return NULL;
}

writer *writer_new(const achievd_settings *s, pipeline_stats *stats)
{
    writer *wr = calloc(1, sizeof *wr);
    if (!wr)
        return NULL;
    wr->s = s;
    wr->stats = stats;
    atomic_init(&wr->catalogue_asked, 1); /* loaded before the first write */
    pthread_mutex_init(&wr->lock, NULL);
    pthread_cond_init(&wr->wake, NULL);
    pthread_cond_init(&wr->idle, NULL);
    wr->fm = forum_new(s);
    if (!wr->fm) {
        writer_free(wr);
        return NULL;
    }
    return wr;
}

int writer_start(writer *wr)
{
    if (pthread_create(&wr->thread, NULL, writer_run, wr) != 0)
        return -EAGAIN;
    wr->started = true;
    return 0;
}

void writer_stop(writer *wr)
{
    if (!wr->started)
        return;
    pthread_mutex_lock(&wr->lock);
    wr->stop = true;
    pthread_cond_broadcast(&wr->wake);
    pthread_mutex_unlock(&wr->lock);
    pthread_join(wr->thread, NULL);
    wr->started = false;
}

void writer_free(writer *wr)
{
    if (!wr)
        return;
    writer_stop(wr);
    forum_free(wr->fm);
    queue_free(&wr->unlocks);
    queue_free(&wr->progress);
    queue_free(&wr->done);
    pthread_cond_destroy(&wr->wake);
    pthread_cond_destroy(&wr->idle);
    pthread_mutex_destroy(&wr->lock);
    free(wr);
}

int writer_submit(writer *wr, const writer_item *items, size_t n, bool unlocks)
{
    if (n == 0)
        return 0;
    pthread_mutex_lock(&wr->lock);
    queue *q = unlocks ? &wr->unlocks : &wr->progress;
    int rc = queue_push(q, items, n);
    if (rc == 0 && (rc = notes_copy(q->v + q->n - n, n)) != 0)
        q->n -= n;
    pthread_cond_signal(&wr->wake);
    pthread_mutex_unlock(&wr->lock);
    return rc;
}

size_t writer_take_done(writer *wr, writer_item **out)
{
    pthread_mutex_lock(&wr->lock);
    /* The list itself changes hands (the done list is only ever appended to, from its start): no copy. */
    size_t n = wr->done.n;
    *out = wr->done.v;
    memset(&wr->done, 0, sizeof wr->done);
    pthread_mutex_unlock(&wr->lock);
    return n;
}

size_t writer_progress_queued(writer *wr)
{
    pthread_mutex_lock(&wr->lock);
    size_t n = wr->progress.n - wr->progress.head;
    pthread_mutex_unlock(&wr->lock);
    return n;
}

void writer_cancel(writer *wr)
{
    pthread_mutex_lock(&wr->lock);
    wr->gen++;
    queue_clear(&wr->unlocks);
    queue_clear(&wr->progress);
    queue_clear(&wr->done);
    pthread_cond_broadcast(&wr->wake);
    pthread_mutex_unlock(&wr->lock);
}

void writer_catalogue_changed(writer *wr)
{
    atomic_fetch_add(&wr->catalogue_asked, 1);
}

bool writer_drain(writer *wr, int ms)
{
    struct timespec t = deadline(ms);
    pthread_mutex_lock(&wr->lock);
    bool timed_out = false;
    while (wr->started && !timed_out &&
           (wr->busy || wr->unlocks.head < wr->unlocks.n || wr->progress.head < wr->progress.n))
        timed_out = pthread_cond_timedwait(&wr->idle, &wr->lock, &t) == ETIMEDOUT;
    bool idle = !wr->busy && wr->unlocks.head == wr->unlocks.n && wr->progress.head == wr->progress.n;
    pthread_mutex_unlock(&wr->lock);
    return idle;
}
