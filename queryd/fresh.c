/* Following the freshness stream: the data generation and the players touched by each insert.
 *
 * Why a stream written by the writer, not a time-to-live: an answer cached for QUERY_CACHE_TTL_S (60 s) or a
 * board rebuilt every QUERY_BOARD_REFRESH_S (300 s) can be that old, and shorter times cost ClickHouse work
 * whether or not anything changed. The writer knows the moment an insert is visible and what it touched; one
 * small Redis entry per insert lets queryd recompute only after something changed, and re-read only the players
 * that changed (board_delta.c). ratingd adds an entry after each insert into rating_changes too, so answers carrying
 * ratings follow the same generations. Polled, not XREAD BLOCK: q->redis is shared with other commands, and 25 ms of
 * delay is small beside the writer's flush interval (WRITER_FLUSH_MS, 1 s).
 *
 * The bound this serves: an event is in ClickHouse about WRITER_FLUSH_MS after ingestd's 202; it is read here
 * within FRESH_POLL_MS; an answer that lacks it is served (while its replacement is computed) at most
 * FRESH_BEHIND_MS after that, which leaves room for one computation within 2 s of the 202. */
#include "fresh.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "daemon.h"
#include "fresh_stream.h"
#include "log.h"
#include "metrics.h"
#include "redis_client.h"

#define FRESH_POLL_MS 25
#define FRESH_BEHIND_MS 400
#define FRESH_READ_COUNT 200
#define SEEN_RING 64 /* generations remembered with the time they were read: far more than FRESH_BEHIND_MS holds */

struct fresh {
    queryd *q;
    uv_timer_t timer;
    bool started; /* the newest id was looked up: read from there on */
    bool reading; /* a command is in flight */
    bool stopped; /* the timer is closed (or closing) */
    bool freeing; /* fresh_free came while the timer closed */
    char last_id[48];
    uint64_t gen;
    struct {
        uint64_t gen, seen_ms;
    } seen[SEEN_RING];
    unsigned nseen, next_seen;
    metric *entries, *gen_gauge;
};

uint64_t fresh_gen_of_id(const char *id, size_t len)
{
    char buf[48];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, id, len);
    buf[len] = '\0';
    char *end;
    unsigned long long ms = strtoull(buf, &end, 10), seq = 0;
    if (end == buf || (*end != '-' && *end != '\0'))
        return 0;
    if (*end == '-')
        seq = strtoull(end + 1, NULL, 10);
    /* Milliseconds since 1970 fit in 42 bits; 16 bits of sequence are far more inserts per millisecond than
     * any writer makes (a larger one is clamped, which orders it with its millisecond's last). */
    return (uint64_t)ms << 16 | (seq > 0xffff ? 0xffff : seq);
}

uint64_t fresh_gen(const fresh *f)
{
    return f ? f->gen : 0;
}

bool fresh_servable(const fresh *f, uint64_t gen, uint64_t cur)
{
    if (!f || gen >= cur)
        return true;
    /* The first generation after gen: the ring holds the newest SEEN_RING, oldest first from next_seen. An
     * answer older than all of them lacks an insert read before the ring's oldest, or before this process
     * started: too old to serve. */
    uint64_t now = uv_now(f->q->loop);
    for (unsigned i = 0; i < f->nseen; i++) {
        unsigned k = (f->next_seen + SEEN_RING - f->nseen + i) % SEEN_RING;
        if (f->seen[k].gen > gen)
            return i > 0 && now - f->seen[k].seen_ms < FRESH_BEHIND_MS;
    }
    return false;
}

/* Remember that generation gen was read now. */
static void seen_add(fresh *f, uint64_t gen)
{
    f->seen[f->next_seen].gen = gen;
    f->seen[f->next_seen].seen_ms = uv_now(f->q->loop);
    f->next_seen = (f->next_seen + 1) % SEEN_RING;
    if (f->nseen < SEEN_RING)
        f->nseen++;
    f->gen = gen;
    metric_set(f->gen_gauge, (double)(gen >> 16) / 1000);
}

/* The value of field name in an entry's flat [field, value, ...] array, or NULL. */
static const redisReply *entry_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; fields && i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1] : NULL;
    }
    return NULL;
}

static void poll_now(fresh *f);

/* Reply to XREAD (or, first, XREVRANGE + - COUNT 1): [[key, [entries]]] or [entries]; each [id, [fields]]. */
static void on_entries(redis_client *c, redisReply *r, const char *err, void *arg)
{
    (void)c;
    (void)err;
    fresh *f = arg;
    f->reading = false;
    if (f->freeing) {
        free(f);
        return;
    }
    if (!r || r->type == REDIS_REPLY_ERROR)
        return; /* Redis down: the next tick tries again; answers keep their generation meanwhile */
    const redisReply *list = r;
    if (f->started && r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2)
        list = r->element[0]->element[1];
    else if (f->started)
        list = NULL; /* nil: nothing new */
    size_t n = list && list->type == REDIS_REPLY_ARRAY ? list->elements : 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len >= sizeof f->last_id)
            continue;
        memcpy(f->last_id, e->element[0]->str, e->element[0]->len);
        f->last_id[e->element[0]->len] = '\0';
        uint64_t gen = fresh_gen_of_id(e->element[0]->str, e->element[0]->len), before = f->gen;
        /* The generation moves first: a delta this entry starts reads ClickHouse after the entry's insert, so it
         * counts the entry, and takes the new generation (board_delta.c) when it is done; its keys keep the one
         * before, which a board may not pass while they wait. */
        if (gen > f->gen)
            seen_add(f, gen);
        if (f->started) {
            const redisReply *g = entry_field(e->element[1], FRESH_GUIDS),
                             *m = entry_field(e->element[1], FRESH_MATCHES);
            /* ratingd's entries (FRESH_RATINGS) have neither: only the generation moves, the boards hold no rating. */
            if (g || m)
                board_set_touched(f->q->boards, before, g ? g->str : "", g ? g->len : 0, m ? m->str : "",
                                  m ? m->len : 0);
            metric_inc(f->entries);
        }
    }
    bool first = !f->started;
    f->started = true;
    if (first && n == 0)
        strcpy(f->last_id, "0-0");
    if (!first && n == FRESH_READ_COUNT)
        poll_now(f); /* more waiting: a queryd that was behind catches up without a tick per 200 */
}

/* Read what the stream gained since last_id (or, first, where it ends). */
static void poll_now(fresh *f)
{
    if (f->reading || f->stopped || !redis_client_connected(f->q->redis))
        return;
    int rc;
    if (!f->started)
        rc = redis_command(f->q->redis, on_entries, f, "XREVRANGE %s + - COUNT 1", FRESH_STREAM_KEY);
    else
        rc = redis_command(f->q->redis, on_entries, f, "XREAD COUNT %d STREAMS %s %s", FRESH_READ_COUNT,
                           FRESH_STREAM_KEY, f->last_id);
    f->reading = rc == 0;
}

static void on_tick(uv_timer_t *t)
{
    poll_now(t->data);
}

static void timer_closed(uv_handle_t *h)
{
    fresh *f = h->data;
    if (f->freeing && !f->reading)
        free(f);
}

/* Shutdown: the timer would keep the loop turning. */
static void fresh_stop(void *arg, void *token, void (*done)(void *token))
{
    fresh *f = arg;
    if (!f->stopped) {
        f->stopped = true;
        uv_close((uv_handle_t *)&f->timer, NULL);
    }
    done(token);
}

fresh *fresh_new(queryd *q, daemon_ctx *d)
{
    fresh *f = calloc(1, sizeof *f);
    if (!f || uv_timer_init(q->loop, &f->timer) != 0) {
        free(f);
        return NULL;
    }
    f->q = q;
    f->timer.data = f;
    f->entries = metrics_counter("queryd_fresh_entries_total", "Inserts read from the freshness stream", NULL);
    f->gen_gauge = metrics_gauge("queryd_fresh_generation_seconds",
                                 "When the newest insert read from the freshness stream was made (Unix time)", NULL);
    uv_timer_start(&f->timer, on_tick, 0, FRESH_POLL_MS);
    daemon_add_stop_hook(d, fresh_stop, f);
    return f;
}

void fresh_free(fresh *f)
{
    if (!f)
        return;
    f->freeing = true;
    if (!f->stopped) {
        f->stopped = true;
        uv_close((uv_handle_t *)&f->timer, timer_closed);
        return;
    }
    if (!f->reading)
        free(f);
}
