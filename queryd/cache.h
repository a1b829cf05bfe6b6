/* The answer cache: answers live in Redis with a TTL; identical requests arriving while an answer is being
 * computed wait for that one computation (in-process single flight), and a short Redis lock keeps other
 * queryd processes from computing the same answer at the same moment. A copy of every good answer is kept
 * longer, and served when the databases fail ("stale"), so pages keep working through an outage.
 *
 * Redis keys: q:<key> the fresh answer, qs:<key> the stale copy, ql:<key> the lock; values are the HTTP
 * status (3 digits), the answer's data generation (16 hex digits, fresh.h), then the JSON body. Keys longer
 * than 200 bytes are replaced by their SHA-256. */
#ifndef MOHSTATS_CACHE_H
#define MOHSTATS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

qcache *qcache_new(queryd *q);
void qcache_free(qcache *c);

/* Answer req for key: from Redis, else by a job that start() begins (args are handed to the job; freed
 * with args_free, also when no job is needed). ttl_s: seconds the answer stays fresh. */
void qcache_serve(qcache *c, http_request *req, const char *key, int ttl_s, qjob_fn start, void *args,
                  void (*args_free)(void *));

/* The same, for an answer whose current data generation is cur_gen rather than the newest insert read
 * (fresh_gen): a leaderboard's is its board's (board_set_gen). Such an answer is computed in memory in about a
 * millisecond, so one behind cur_gen is never served: it is computed again at once. */
void qcache_serve_at(qcache *c, http_request *req, const char *key, int ttl_s, uint64_t cur_gen, qjob_fn start,
                     void *args, void (*args_free)(void *));

/* A client's string as one part of a cache key: ':' and '%' percent-encoded, so that parts joined with ':'
 * cannot be read two ways ("a:b" + "c" and "a" + "b:c" were one key, and each was served the other's answer).
 * out holds QCACHE_PART_MAX bytes; a longer string is cut, which cannot merge two keys either: only the
 * identifiers' own limit (IDENT_MAX, 64 bytes) reaches here. Returns out. */
#define QCACHE_PART_MAX 256
const char *qcache_part(const char *s, char out[QCACHE_PART_MAX]);

/* The Redis key suffix for a cache key (the key itself, or its SHA-256 hex when too long or not printable).
 * Exposed for tests. out must hold 201 bytes. */
void qcache_key(const char *key, char out[201]);

#endif
