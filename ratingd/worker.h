/* The daemon's rating thread: every RATING_POLL_MS, if this process holds the Redis lease, rate the matches that
 * finished since (rater.c) and insert their rows. Blocking I/O on a thread of its own, so the HTTP loop (/health,
 * /ready, /metrics) never waits for ClickHouse. */
#ifndef MOHSTATS_RATINGD_WORKER_H
#define MOHSTATS_RATINGD_WORKER_H

#include "ratingd.h"

typedef struct rating_worker rating_worker;

/* Also registers the worker's metrics: call on the loop thread. NULL when out of memory. */
rating_worker *worker_new(const ratingd_settings *s);
int worker_start(rating_worker *w);
/* Stop after the current step and give the lease up; joins the thread. */
void worker_stop(rating_worker *w);
void worker_free(rating_worker *w);

/* The Redis lease that lets one process rate at a time, on a blocking connection: also taken by `ratingd recompute
 * --replace`, so that the daemon does not write while the tables are swapped. */
typedef struct rating_lease rating_lease;
rating_lease *lease_new(const ratingd_settings *s);
/* Take or renew it: 1 held, 0 another process holds it, negative when Redis cannot be reached. */
int lease_hold(rating_lease *l);
void lease_release(rating_lease *l);
/* Tell queryd that the ratings of guids[0 .. n) changed (n == 0: everyone's), by an entry on the freshness stream
 * (common/fresh_stream.h) sent on the lease's connection: ratingd's one Redis connection. Called only once the rows
 * are in ClickHouse. 0, or a negative error (logged): not retried, queryd's answers then carry the ratings
 * QUERY_CACHE_TTL_S later, or at the next entry. */
int lease_note_ratings(rating_lease *l, const char *const *guids, size_t n);
void lease_free(rating_lease *l);

#endif
