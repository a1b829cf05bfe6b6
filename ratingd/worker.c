/* The rating thread and its lease (worker.h). */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "bytebuf.h"
#include "facts.h"
#include "fresh_stream.h"
#include "log.h"
#include "metrics.h"
#include "random.h"
#include "rater.h"
#include "store.h"

/* ---- the lease ---- */

struct rating_lease {
    const ratingd_settings *s;
    redisContext *c;
    char token[33];
    bool down_logged;
};

/* Take the lease if free, renew it if ours (the token is random per process, so a restarted ratingd waits for
 * its previous life's lease to expire like any other process would). */
static const char lease_script[] = "local v = redis.call('GET', KEYS[1])\n"
                                   "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
                                   "if v then return 0 end\n"
                                   "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                   "return 1\n";
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1\n";

rating_lease *lease_new(const ratingd_settings *s)
{
    rating_lease *l = calloc(1, sizeof *l);
    uint8_t raw[16];
    if (!l || random_secure(raw, sizeof raw) != 0) {
        free(l);
        return NULL;
    }
    l->s = s;
    hex_encode(raw, sizeof raw, l->token);
    return l;
}

static void lease_disconnect(rating_lease *l)
{
    if (l->c)
        redisFree(l->c);
    l->c = NULL;
}

/* Connect (and authenticate) if not connected. */
static int lease_connect(rating_lease *l)
{
    if (l->c)
        return 0;
    url_parts u;
    if (url_parse(l->s->redis_url, 6379, &u) != 0)
        return -EINVAL;
    struct timeval tv = {.tv_sec = 5};
    l->c = redisConnectWithTimeout(u.host, u.port, tv);
    bool ok = l->c && !l->c->err;
    if (ok) {
        redisSetTimeout(l->c, tv);
        redisReply *r = NULL;
        if (u.password[0]) {
            r = u.user[0] ? redisCommand(l->c, "AUTH %s %s", u.user, u.password)
                          : redisCommand(l->c, "AUTH %s", u.password);
            ok = r && r->type != REDIS_REPLY_ERROR;
            freeReplyObject(r);
        }
        if (ok && u.path[0] && strcmp(u.path, "0") != 0) {
            r = redisCommand(l->c, "SELECT %s", u.path);
            ok = r && r->type != REDIS_REPLY_ERROR;
            freeReplyObject(r);
        }
    }
    memset(&u, 0, sizeof u);
    if (!ok) {
        if (!l->down_logged)
            log_warn("ratingd: cannot use Redis (%s) for the lease; retrying",
                     l->c && l->c->errstr[0] ? l->c->errstr : "connection or AUTH failed");
        l->down_logged = true;
        lease_disconnect(l);
        return -EIO;
    }
    if (l->down_logged)
        log_info("ratingd: connected to Redis");
    l->down_logged = false;
    return 0;
}

int lease_hold(rating_lease *l)
{
    if (lease_connect(l))
        return -EIO;
    char ms[24];
    snprintf(ms, sizeof ms, "%d", l->s->lease_ms);
    redisReply *r = redisCommand(l->c, "EVAL %s 1 %s %s %s", lease_script, l->s->lease_key, l->token, ms);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (!l->down_logged)
            log_warn("ratingd: the lease command failed: %s", r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        l->down_logged = true;
        freeReplyObject(r);
        lease_disconnect(l);
        return -EIO;
    }
    int held = r->integer == 1;
    freeReplyObject(r);
    return held;
}

void lease_release(rating_lease *l)
{
    if (l->c)
        freeReplyObject(redisCommand(l->c, "EVAL %s 1 %s %s", release_script, l->s->lease_key, l->token));
}

/* Append s to b as one TabSeparated field (the escaping the freshness stream's lists use). */
static int put_escaped(bytebuf *b, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        const char *e = *s == '\\' ? "\\\\" : *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : NULL;
        rc = e ? bytebuf_append(b, e, 2) : bytebuf_append(b, s, 1);
    }
    return rc;
}

int lease_note_ratings(rating_lease *l, const char *const *guids, size_t n)
{
    if (lease_connect(l))
        return -EIO;
    bytebuf list = {0};
    int rc = bytebuf_append(&list, "", 0);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = (i ? bytebuf_append(&list, "\n", 1) : 0) | put_escaped(&list, guids[i]);
    if (rc) {
        bytebuf_free(&list);
        return -ENOMEM;
    }
    const char *argv[] = {"XADD", FRESH_STREAM_KEY, "MAXLEN", "~", FRESH_STREAM_MAXLEN, "*", FRESH_RATINGS, list.data};
    size_t lens[] = {4, strlen(FRESH_STREAM_KEY), 6,       1, strlen(FRESH_STREAM_MAXLEN),
                     1, strlen(FRESH_RATINGS),    list.len};
    redisReply *r = redisCommandArgv(l->c, 8, argv, lens);
    rc = r && r->type == REDIS_REPLY_STRING ? 0 : -EIO;
    if (rc) {
        log_warn("ratingd: telling queryd of new ratings failed (%s): its answers show them up to QUERY_CACHE_TTL_S "
                 "late",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply from Redis");
        if (!r)
            lease_disconnect(l);
    }
    freeReplyObject(r);
    bytebuf_free(&list);
    return rc;
}

void lease_free(rating_lease *l)
{
    if (!l)
        return;
    lease_disconnect(l);
    free(l);
}

/* ---- the thread ---- */

struct rating_worker {
    const ratingd_settings *s;
    rating_lease *lease;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    /* Written by the thread, read by /metrics on the loop thread. */
    atomic_uint_fast64_t matches, rated, players, errors, lag_ms, leader;
    /* The thread's: a time (unix s) before which every match without match_end that is idle today was already
     * found, so that a poll looks for such matches only among those with events since (facts_find_matches). It is
     * the start of the last step that found fewer matches than it may rate, and rated them all, less
     * RATING_MATCH_IDLE_S (a match idle then had its last event before that) and an hour for the clocks of
     * ratingd and ClickHouse (whose now() decides idleness) to differ. 0 until then: the first poll looks at all. */
    uint64_t idle_since_s;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One step: the matches due that rating_changes does not have yet, rated in order and inserted in one INSERT (all
 * of a match's rows in the same one, so a crash never leaves half a match), after the same rows into
 * rating_changes_by_match (schemas/clickhouse/0006_rating_changes_by_match.sql). Returns how many were rated, or a
 * negative error. */
static long step(rating_worker *w)
{
    const ratingd_settings *s = w->s;
    match_list due;
    uint64_t started_s = now_ms() / 1000;
    int rc = facts_find_matches(s, /* unrated_only= */ true, NULL, (size_t)s->batch_matches, w->idle_since_s, &due);
    uint64_t behind_s = (uint64_t)s->idle_s + 3600;
    bool complete = rc == 0 && due.n < (size_t)s->batch_matches && started_s > behind_s;
    if (rc == 0 && due.n == 0) {
        if (complete)
            w->idle_since_s = started_s - behind_s;
        return 0;
    }
    if (rc)
        return rc;
    match_data *d = calloc(due.n, sizeof *d);
    hashmap *ratings = hashmap_new();
    const char **guids = NULL;
    size_t nguids = 0;
    bytebuf rows = {0};
    rater_counts counts = {0};
    rc = d && ratings ? facts_load(s, due.v, due.n, d) : -ENOMEM;
    if (rc == 0)
        rc = rater_players(d, due.n, &guids, &nguids);
    if (rc == 0)
        rc = store_load_ratings(s, "rating_changes", guids, nguids, ratings);
    if (rc == 0)
        rc = rater_rate(s, due.v, d, due.n, ratings, &rows, &counts);
    /* The lease again right before writing: a process that stalled past it must not write what its successor
     * may be rating from other priors. */
    if (rc == 0 && lease_hold(w->lease) != 1)
        rc = -EPERM;
    /* By match first: rating_changes says which matches are rated, so it must be the one written last (a crash
     * between the two leaves the match to rate again, and its repeated rows are read once). */
    if (rc == 0)
        rc = store_insert(s, "rating_changes_by_match", &rows);
    if (rc == 0)
        rc = store_insert(s, "rating_changes", &rows);
    if (rc == 0 && complete)
        w->idle_since_s = started_s - behind_s;
    if (rc == 0 && rows.len > 0)
        lease_note_ratings(w->lease, guids, nguids);
    if (rc == 0) {
        atomic_fetch_add(&w->matches, counts.matches);
        atomic_fetch_add(&w->rated, counts.rated);
        atomic_fetch_add(&w->players, counts.players);
        uint64_t now = now_ms(), end = due.v[due.n - 1].end_ms;
        atomic_store(&w->lag_ms, now > end ? now - end : 0);
        log_debug("ratingd: %zu matches (%zu rated, %zu player ratings)", counts.matches, counts.rated, counts.players);
    }
    free(guids);
    bytebuf_free(&rows);
    hashmap_free(ratings, free);
    if (d)
        match_data_free(d, due.n);
    free(d);
    size_t n = due.n;
    match_list_free(&due);
    return rc ? rc : (long)n;
}

/* Sleep ms, waking early when asked to stop. */
static void nap(rating_worker *w, int ms)
{
    for (int left = ms; left > 0 && !atomic_load(&w->stop); left -= 50) {
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *run(void *arg)
{
    rating_worker *w = arg;
    bool leader = false;
    while (!atomic_load(&w->stop)) {
        int held = lease_hold(w->lease);
        if (held == 1 && !leader)
            log_info("ratingd: holding the lease: this process rates matches");
        else if (held != 1 && leader)
            log_warn("ratingd: lost the lease (%s): standing by", held == 0 ? "another ratingd holds it" : "Redis");
        leader = held == 1;
        atomic_store(&w->leader, leader);
        long n = leader ? step(w) : 0;
        if (n < 0)
            atomic_fetch_add(&w->errors, 1);
        /* A full batch means more are waiting: go on at once (catching up after a pause or a restart). */
        if (n < w->s->batch_matches)
            nap(w, w->s->poll_ms);
    }
    if (leader)
        lease_release(w->lease);
    return NULL;
}

static double m_matches(void *arg)
{
    return (double)atomic_load(&((rating_worker *)arg)->matches);
}
static double m_rated(void *arg)
{
    return (double)atomic_load(&((rating_worker *)arg)->rated);
}
static double m_players(void *arg)
{
    return (double)atomic_load(&((rating_worker *)arg)->players);
}
static double m_errors(void *arg)
{
    return (double)atomic_load(&((rating_worker *)arg)->errors);
}
static double m_lag(void *arg)
{
    return (double)atomic_load(&((rating_worker *)arg)->lag_ms) / 1000;
}
static double m_leader(void *arg)
{
    return (double)atomic_load(&((rating_worker *)arg)->leader);
}

rating_worker *worker_new(const ratingd_settings *s)
{
    rating_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->s = s;
    w->lease = lease_new(s);
    if (!w->lease) {
        free(w);
        return NULL;
    }
    metrics_gauge_fn("ratingd_matches_total", "finished matches recorded (rated or not)", NULL, m_matches, w);
    metrics_gauge_fn("ratingd_matches_rated_total", "matches that changed ratings", NULL, m_rated, w);
    metrics_gauge_fn("ratingd_player_ratings_total", "player ratings updated", NULL, m_players, w);
    metrics_gauge_fn("ratingd_step_errors_total", "steps that failed (retried at the next poll)", NULL, m_errors, w);
    metrics_gauge_fn("ratingd_last_lag_seconds",
                     "time from the last rated match's match_end (received) to its ratings in ClickHouse", NULL, m_lag,
                     w);
    metrics_gauge_fn("ratingd_rating", "1 when this process holds the lease and rates", NULL, m_leader, w);
    return w;
}

int worker_start(rating_worker *w)
{
    if (pthread_create(&w->thread, NULL, run, w))
        return -EAGAIN;
    w->started = true;
    return 0;
}

void worker_stop(rating_worker *w)
{
    if (!w || !w->started)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    w->started = false;
}

void worker_free(rating_worker *w)
{
    if (!w)
        return;
    worker_stop(w);
    lease_free(w->lease);
    free(w);
}
