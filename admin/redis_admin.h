/* Redis for mohstats-admin (redis_admin.c). */
#ifndef MOHSTATS_ADMIN_REDIS_H
#define MOHSTATS_ADMIN_REDIS_H

#include <hiredis/hiredis.h>

#include "admin.h"

/* A blocking connection to the Redis of url, authenticated and on its database; NULL with the reason logged. */
redisContext *admin_redis_open(const char *url);
/* Run one command of up to two string arguments; 0, or -EIO with the reason logged. An integer answer is added to
 * *count when count is not NULL. */
int admin_redis_do(redisContext *c, long long *count, const char *fmt, const char *a1, const char *a2);
/* Drop every answer of queryd's cache (CACHE_REDIS_URL, else REDIS_URL, as queryd), so that what an action changed
 * shows at once; how many in *dropped. 0 or a negative error. */
int admin_cache_flush(const admin_ctx *a, long long *dropped);
/* Name the n GUIDs in an entry of the freshness stream (common/fresh_stream.h), as the writer does after an insert:
 * queryd re-reads those players for its leaderboard boards at once (a delta) and recomputes its cached answers, so
 * what an action changed about them (hidden, renamed, merged) shows without waiting for the boards' next build.
 * 0 or a negative error. */
int admin_fresh_touch(const admin_ctx *a, char *const *guids, size_t n);

#endif
