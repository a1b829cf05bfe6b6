/* Answer cache in Redis with single flight and stale answers on database failure.
 *
 * Freshness: every answer is stored with the data generation it counts every event of (fresh.h: the newest
 * insert queryd had read when its computation started, or its leaderboard board's). An answer of an older
 * generation than the current one is behind: it is served only while the first insert it lacks is younger than
 * FRESH_BEHIND_MS, and then only while the answer that replaces it is computed (refresh ahead: steady traffic
 * does not wait, and the computation starts at the first request after the insert); otherwise the request waits
 * for a new computation like a miss. Why generations and not shorter TTLs: a TTL short enough for the 2 s bound
 * would recompute every answer every second whether or not anything changed, and still be late by the TTL.
 *
 * Cancellation: when the last request waiting for a computation leaves (its client closed the connection), the
 * computation stops (job_cancel: its ClickHouse queries are killed) and the flight is detached, so that a request
 * for the same answer arriving later starts afresh. A flight that computes while serving an answer behind (refresh
 * ahead) has no waiter to lose and always finishes. An answer that is computed is cached even if its clients have
 * left: the work is done, and the next request for it is served at once. */
#include "cache.h"

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fresh.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "random.h"
#include "redis_client.h"
#include "sha256.h"

/* While another process holds the lock, look for its answer this often. */
#define POLL_MS 15
/* Answers also stay this long in this process's memory, so a burst of identical requests (a forum page
 * fanning out, a busy widget) is answered without even the Redis round trip. Short, so that every queryd
 * process still converges on what Redis holds. */
#define LOCAL_TTL_MS 1000
#define LOCAL_MAX 20000

struct qcache {
    queryd *q;
    hashmap *inflight; /* key -> flight */
    hashmap *local;    /* key -> local_answer */
    metric *hits, *misses, *stale, *coalesced, *errors, *local_hits, *behind;
};

/* An answer kept in memory until expires_ns (uv_hrtime). */
typedef struct {
    int status;
    uint64_t gen; /* the answer's data generation */
    uint64_t expires_ns;
    size_t len;
    char body[];
} local_answer;

/* Keep an answer in memory for ttl_ms (at most LOCAL_TTL_MS); when the map is full, expired entries go first,
 * else all of them. */
static void local_put(qcache *c, const char *key, int status, uint64_t gen, const char *body, size_t len,
                      uint64_t ttl_ms)
{
    uint64_t now = uv_hrtime();
    if (!c->local || ttl_ms == 0)
        return;
    if (hashmap_size(c->local) >= LOCAL_MAX) {
        /* Keys are copied before any removal: removing may move the map's entries. */
        static char dead[64][201];
        size_t n = 0, pos = 0, klen;
        const char *k;
        void *v;
        while (n < 64 && hashmap_next(c->local, &pos, &k, &klen, &v))
            if (((local_answer *)v)->expires_ns <= now && klen < sizeof dead[0]) {
                memcpy(dead[n], k, klen);
                dead[n++][klen] = '\0';
            }
        for (size_t i = 0; i < n; i++)
            free(hashmap_remove(c->local, dead[i], strlen(dead[i])));
        if (n == 0) {
            hashmap_free(c->local, free);
            c->local = hashmap_new();
            if (!c->local)
                return;
        }
    }
    local_answer *a = malloc(sizeof *a + len + 1);
    if (!a)
        return;
    if (ttl_ms > LOCAL_TTL_MS)
        ttl_ms = LOCAL_TTL_MS;
    a->status = status;
    a->gen = gen;
    a->expires_ns = now + ttl_ms * 1000000;
    a->len = len;
    memcpy(a->body, body, len);
    a->body[len] = '\0';
    void *old = NULL;
    if (hashmap_put(c->local, key, strlen(key), a, &old) != 0)
        free(a);
    free(old);
}

/* One answer being fetched or computed, and the requests waiting for it. */
typedef struct {
    qcache *c;
    char key[201];
    int ttl_s;
    http_request **waiters;
    size_t nwaiters, cap;
    qjob_fn start;
    void *args;
    void (*args_free)(void *);
    char nonce[17];
    uint64_t cur_gen;  /* the generation an answer needs to be current */
    bool never_behind; /* computed in memory (a leaderboard): not worth serving one behind */
    /* An answer behind cur_gen, served to every request while this flight computes the current one. */
    int behind_status;
    uint64_t behind_gen;
    char *behind_body;
    size_t behind_len;
    bool locked; /* we hold ql:<key> */
    qjob *job;   /* the computation under way, if any */
    /* Every waiter left: no computation is started any more (abandoned), and a cancelled one's flight is out of
     * the inflight map (detached), where a new flight for the same key may be by now. */
    bool abandoned, detached;
    int polls;
    uv_timer_t timer;
    /* The computed answer while the stale copy is looked up. */
    int status;
    char *body;
    size_t len;
} flight;

qcache *qcache_new(queryd *q)
{
    qcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->q = q;
    c->inflight = hashmap_new();
    c->hits = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"hit\"");
    c->misses = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"miss\"");
    c->stale = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"stale\"");
    c->coalesced = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"coalesced\"");
    c->errors = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"error\"");
    c->local_hits = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"local\"");
    c->behind = metrics_counter("queryd_cache_total", "Answers by cache outcome", "result=\"behind\"");
    c->local = hashmap_new();
    if (!c->inflight || !c->local) {
        free(c);
        return NULL;
    }
    return c;
}

void qcache_free(qcache *c)
{
    if (!c)
        return;
    hashmap_free(c->inflight, NULL);
    if (c->local)
        hashmap_free(c->local, free);
    free(c);
}

const char *qcache_part(const char *s, char out[QCACHE_PART_MAX])
{
    size_t n = 0;
    for (; *s && n + 4 <= QCACHE_PART_MAX; s++) {
        if (*s == ':' || *s == '%')
            n += (size_t)snprintf(out + n, QCACHE_PART_MAX - n, "%%%02X", (unsigned char)*s);
        else
            out[n++] = *s;
    }
    out[n] = '\0';
    return out;
}

void qcache_key(const char *key, char out[201])
{
    size_t n = strlen(key);
    bool plain = n <= 200;
    for (size_t i = 0; plain && i < n; i++)
        plain = (unsigned char)key[i] > 0x20 && (unsigned char)key[i] < 0x7f;
    if (plain) {
        memcpy(out, key, n + 1);
        return;
    }
    char hex[65];
    sha256_hex(key, n, hex);
    snprintf(out, 201, "h:%s", hex);
}

/* The flight's timer closed: free the flight. */
static void flight_closed(uv_handle_t *h)
{
    flight *f = h->data;
    free(f->waiters);
    free(f->body);
    free(f->behind_body);
    free(f);
}

/* How long an answer of this status is cached, in Redis and in memory alike. A 404 says that something does
 * not exist yet: a player before their first event reaches ClickHouse, a match or map before theirs. Cached
 * like an answer, it kept a new player invisible for QUERY_CACHE_TTL_S (60 s); cached for QUERY_NOT_FOUND_TTL_MS
 * (500, at most 1000), a copy taken from Redis into a process's memory just before it expires lives at most
 * twice that. Short enough that a new player's profile answers within 2 s of ingestd's 202: the writer's
 * flush (WRITER_FLUSH_MS, 1 s) + the 404 computed just before it + one computation of the profile (~0.4 s).
 * Every other answer says what the data held, and lives QUERY_CACHE_TTL_S (or the area's TTL). */
static uint64_t answer_ttl_ms(const flight *f, int status)
{
    return status == 404 ? (uint64_t)f->c->q->not_found_ttl_ms : (uint64_t)f->ttl_s * 1000;
}

/* Take the flight out of the inflight map, unless it left it already (detached). */
static void flight_detach(flight *f)
{
    if (!f->detached)
        hashmap_remove(f->c->inflight, f->key, strlen(f->key));
    f->detached = true;
}

/* Free the endpoint's arguments and close the flight (freed once its timer has closed). */
static void flight_retire(flight *f)
{
    flight_detach(f);
    if (f->args_free && f->args)
        f->args_free(f->args);
    f->args = NULL;
    uv_close((uv_handle_t *)&f->timer, flight_closed);
}

/* Send one answer to every waiting request and retire the flight. */
static void flight_answer(flight *f, int status, uint64_t gen, const char *body, size_t len, const char *cache_state)
{
    flight_detach(f);
    if (strcmp(cache_state, "stale") != 0 && status < 500)
        local_put(f->c, f->key, status, gen, body, len, answer_ttl_ms(f, status));
    for (size_t i = 0; i < f->nwaiters; i++) {
        http_response_header(f->waiters[i], "X-Cache", cache_state);
        http_respond(f->waiters[i], status, "application/json", body, len);
    }
    f->nwaiters = 0;
    flight_retire(f);
}

/* http_request_on_abort: a waiting request's client left. When it was the last one, stop the computation. */
static void on_waiter_gone(http_request *req, void *arg)
{
    flight *f = arg;
    for (size_t i = 0; i < f->nwaiters; i++)
        if (f->waiters[i] == req) {
            memmove(&f->waiters[i], &f->waiters[i + 1], (f->nwaiters - i - 1) * sizeof *f->waiters);
            f->nwaiters--;
            break;
        }
    /* The connection is gone: this answer is dropped, and releases the request now. */
    http_respond_error(req, 503, "The client went away.");
    if (f->nwaiters > 0)
        return;
    f->abandoned = true;
    if (!f->job || f->behind_body)
        return; /* not computing yet (flight_compute will not start), or refreshing ahead, which is wanted */
    /* Out of the map first: a request for this answer arriving from here on starts a computation of its own
     * rather than joining one that is being stopped. The lock goes too, or that computation would wait for it. */
    flight_detach(f);
    if (f->locked)
        redis_command(f->c->q->cache_redis, NULL, NULL, "DEL ql:%s", f->key);
    f->locked = false;
    job_cancel(f->job); /* may end the job, and retire the flight, before it returns */
}

/* Wait for the answer with the other requests of the flight, and leave it if the client goes away. */
static int flight_wait(flight *f, http_request *req)
{
    if (f->nwaiters == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        http_request **w = realloc(f->waiters, cap * sizeof *w);
        if (!w)
            return -1;
        f->waiters = w;
        f->cap = cap;
    }
    f->waiters[f->nwaiters++] = req;
    http_request_on_abort(req, on_waiter_gone, f);
    return 0;
}

#define GEN_HEX 16

/* Parse a cached value: 3-digit status, the data generation in 16 hex digits, then the body. */
static bool cached_value(const redisReply *r, int *status, uint64_t *gen, const char **body, size_t *len)
{
    if (!r || r->type != REDIS_REPLY_STRING || r->len < 3 + GEN_HEX)
        return false;
    int s = (r->str[0] - '0') * 100 + (r->str[1] - '0') * 10 + (r->str[2] - '0');
    if (s < 100 || s > 599)
        return false;
    uint64_t g = 0;
    for (int i = 0; i < GEN_HEX; i++) {
        char ch = r->str[3 + i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return false; /* a value of the format before generations: a miss */
        g = g << 4 | (uint64_t)d;
    }
    *status = s;
    *gen = g;
    *body = r->str + 3 + GEN_HEX;
    *len = r->len - 3 - GEN_HEX;
    return true;
}

/* Answer the waiting requests with an answer behind the current generation, keep it for the requests that
 * arrive while the current one is computed, and go on computing it. */
static void flight_serve_behind(flight *f, int status, uint64_t gen, const char *body, size_t len)
{
    f->behind_body = malloc(len + 1);
    if (!f->behind_body)
        return;
    memcpy(f->behind_body, body, len);
    f->behind_body[len] = '\0';
    f->behind_len = len;
    f->behind_status = status;
    f->behind_gen = gen;
    for (size_t i = 0; i < f->nwaiters; i++) {
        metric_inc(f->c->behind);
        http_response_header(f->waiters[i], "X-Cache", "behind");
        http_respond(f->waiters[i], status, "application/json", body, len);
    }
    f->nwaiters = 0;
}

static void flight_compute(flight *f);
static void flight_try_lock(flight *f);

/* Reply to GET q:<key>. */
static void on_fresh(redis_client *rc, redisReply *r, const char *err, void *arg)
{
    (void)rc;
    (void)err;
    flight *f = arg;
    int status;
    uint64_t gen;
    const char *body;
    size_t len;
    if (cached_value(r, &status, &gen, &body, &len)) {
        if (gen >= f->cur_gen) {
            metric_inc(f->c->hits);
            flight_answer(f, status, gen, body, len, "hit");
            return;
        }
        if (!f->behind_body && !f->never_behind && fresh_servable(f->c->q->fresh, gen, f->cur_gen))
            flight_serve_behind(f, status, gen, body, len);
    }
    /* Not cached, or behind (or, while polling, not yet): take the lock, or keep waiting for whoever holds it. */
    flight_try_lock(f);
}

/* Poll timer: look for the other process's answer again. */
static void on_poll(uv_timer_t *t)
{
    flight *f = t->data;
    if (redis_command(f->c->q->cache_redis, on_fresh, f, "GET q:%s", f->key) != 0)
        flight_compute(f);
}

/* Reply to SET ql:<key> NX PX. */
static void on_lock(redis_client *rc, redisReply *r, const char *err, void *arg)
{
    (void)rc;
    (void)err;
    flight *f = arg;
    if (r && r->type == REDIS_REPLY_NIL && (f->polls + 1) * POLL_MS < f->c->q->lock_ms) {
        /* Another queryd computes this answer right now: wait for it instead of asking ClickHouse again. */
        f->polls++;
        uv_timer_start(&f->timer, on_poll, POLL_MS, 0);
        return;
    }
    f->locked = r && r->type == REDIS_REPLY_STATUS;
    flight_compute(f);
}

static void flight_try_lock(flight *f)
{
    if (f->polls > 0 && (f->polls + 1) * POLL_MS >= f->c->q->lock_ms) {
        flight_compute(f);
        return;
    }
    if (redis_command(f->c->q->cache_redis, on_lock, f, "SET ql:%s %s NX PX %d", f->key, f->nonce, f->c->q->lock_ms) != 0)
        flight_compute(f);
}

/* Reply to GET qs:<key> after the computation failed. */
static void on_stale(redis_client *rc, redisReply *r, const char *err, void *arg)
{
    (void)rc;
    (void)err;
    flight *f = arg;
    int status;
    uint64_t gen;
    const char *body;
    size_t len;
    if (cached_value(r, &status, &gen, &body, &len)) {
        metric_inc(f->c->stale);
        log_info("serving a stale answer for %s: the databases failed", f->key);
        flight_answer(f, status, gen, body, len, "stale");
        return;
    }
    metric_inc(f->c->errors);
    flight_answer(f, f->status, 0, f->body ? f->body : "", f->len, "miss");
}

/* A job finished: store and send its answer, or fall back to the stale copy. */
static void on_job_done(qjob *j, int status, char *body, size_t len, bool transient)
{
    flight *f = j->finish_arg;
    uint64_t gen = j->data_gen;
    j->args = NULL; /* the flight owns them */
    job_free(j);
    f->job = NULL;
    redis_client *rc = f->c->q->cache_redis;
    if (f->locked)
        redis_command(rc, NULL, NULL, "DEL ql:%s", f->key);
    if (status == 0) {
        /* Cancelled (on_waiter_gone): nothing to store, and nobody to answer but a request that might have joined
         * between the cancel and now, which is told to ask again. */
        for (size_t i = 0; i < f->nwaiters; i++)
            http_respond_error(f->waiters[i], 503, "The answer's computation was stopped; try again.");
        f->nwaiters = 0;
        flight_retire(f);
        return;
    }
    if (transient) {
        f->status = status;
        f->body = body;
        f->len = len;
        if (redis_command(rc, on_stale, f, "GET qs:%s", f->key) != 0) {
            metric_inc(f->c->errors);
            flight_answer(f, status, gen, body ? body : "", len, "miss");
        }
        return;
    }
    metric_inc(f->c->misses);
    size_t vlen = 3 + GEN_HEX + len;
    char *value = malloc(vlen + 1);
    uint64_t ttl_ms = answer_ttl_ms(f, status);
    if (value && ttl_ms > 0) {
        snprintf(value, 3 + GEN_HEX + 1, "%03d%016llx", status, (unsigned long long)gen);
        memcpy(value + 3 + GEN_HEX, body, len);
        redis_command(rc, NULL, NULL, "SET q:%s %b PX %llu", f->key, value, vlen, (unsigned long long)ttl_ms);
        if (status == 200)
            redis_command(rc, NULL, NULL, "SET qs:%s %b EX %d", f->key, value, vlen, f->c->q->stale_ttl_s);
    }
    free(value);
    flight_answer(f, status, gen, body ? body : "", len, "miss");
    free(body);
}

/* Compute the answer here. */
static void flight_compute(flight *f)
{
    if (f->abandoned && f->nwaiters == 0 && !f->behind_body) {
        /* Every client left while the answer was looked for in Redis: nothing to compute, and the lock, if just
         * taken, goes, so that another queryd asked the same does not wait for an answer that will not come. */
        if (f->locked)
            redis_command(f->c->q->cache_redis, NULL, NULL, "DEL ql:%s", f->key);
        f->locked = false;
        flight_retire(f);
        return;
    }
    qjob *j = job_new(f->c->q, f->args, NULL);
    if (!j) {
        flight_answer(f, 500, 0, "{\"error\":\"Out of memory.\"}", 25, "miss");
        return;
    }
    j->finish = on_job_done;
    j->finish_arg = f;
    job_set_tag(j, f->key);
    f->job = j;
    f->start(j);
}

static void serve(qcache *c, http_request *req, const char *key, int ttl_s, uint64_t cur_gen, bool never_behind,
                  qjob_fn start, void *args, void (*args_free)(void *));

void qcache_serve(qcache *c, http_request *req, const char *key, int ttl_s, qjob_fn start, void *args,
                  void (*args_free)(void *))
{
    serve(c, req, key, ttl_s, fresh_gen(c->q->fresh), /* never_behind= */ false, start, args, args_free);
}

void qcache_serve_at(qcache *c, http_request *req, const char *key, int ttl_s, uint64_t cur_gen, qjob_fn start,
                     void *args, void (*args_free)(void *))
{
    serve(c, req, key, ttl_s, cur_gen, /* never_behind= */ true, start, args, args_free);
}

/* Answer from memory, Redis, a flight under way, or a new computation (see the file's comment). */
static void serve(qcache *c, http_request *req, const char *key, int ttl_s, uint64_t cur_gen, bool never_behind,
                  qjob_fn start, void *args, void (*args_free)(void *))
{
    char k[201];
    qcache_key(key, k);
    local_answer *la = c->local ? hashmap_get(c->local, k, strlen(k)) : NULL;
    if (la && la->expires_ns > uv_hrtime() && la->gen >= cur_gen) {
        metric_inc(c->local_hits);
        if (args_free && args)
            args_free(args);
        http_response_header(req, "X-Cache", "hit");
        http_respond(req, la->status, "application/json", la->body, la->len);
        return;
    }
    flight *f = hashmap_get(c->inflight, k, strlen(k));
    if (f && f->behind_body && fresh_servable(c->q->fresh, f->behind_gen, cur_gen)) {
        metric_inc(c->behind);
        if (args_free && args)
            args_free(args);
        http_response_header(req, "X-Cache", "behind");
        http_respond(req, f->behind_status, "application/json", f->behind_body, f->behind_len);
        return;
    }
    if (f) {
        metric_inc(c->coalesced);
        if (args_free && args)
            args_free(args);
        if (flight_wait(f, req) != 0)
            http_respond_error(req, 500, "Out of memory.");
        return;
    }
    f = calloc(1, sizeof *f);
    if (!f || hashmap_put(c->inflight, k, strlen(k), f, NULL) != 0) {
        free(f);
        if (args_free && args)
            args_free(args);
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    f->c = c;
    memcpy(f->key, k, sizeof k);
    f->ttl_s = ttl_s;
    f->cur_gen = cur_gen;
    f->never_behind = never_behind;
    if (flight_wait(f, req) != 0) {
        hashmap_remove(c->inflight, k, strlen(k));
        free(f);
        if (args_free && args)
            args_free(args);
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    f->start = start;
    f->args = args;
    f->args_free = args_free;
    uint64_t r = random_u64();
    snprintf(f->nonce, sizeof f->nonce, "%016llx", (unsigned long long)r);
    uv_timer_init(c->q->loop, &f->timer);
    f->timer.data = f;
    if (!redis_client_connected(c->q->cache_redis) || redis_command(c->q->cache_redis, on_fresh, f, "GET q:%s", f->key) != 0)
        flight_compute(f);
}
