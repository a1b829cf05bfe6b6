/* The event stream's Redis in `mohstats-admin backup` and `restore` (backup_redis.c): every key at one instant,
 * the stream position a ClickHouse snapshot covers, and the load onto a fresh stack. */
#ifndef MOHSTATS_ADMIN_BACKUP_REDIS_H
#define MOHSTATS_ADMIN_BACKUP_REDIS_H

#include <stdio.h>

#include "admin.h"

/* The stream position taken just before a ClickHouse snapshot round: the oldest entry the writers' group had not
 * acknowledged then (its oldest pending entry, else its last delivered one); "" when the group has delivered
 * nothing. Every entry before it is in the snapshot. 0 or a negative error. */
int bk_redis_position(const admin_ctx *a, const char *writer_group, char *pos, size_t poslen);

/* Every key of REDIS_URL's database, at one instant (a script: Redis stops meanwhile), into DIR/redis.dump; fails
 * if the stream no longer holds the entry at pos (trimmed since the snapshot: the backup would lose what the
 * writers acknowledged in between). The key count and the stream's length into *keys and *stream_len. */
int bk_redis_dump(const admin_ctx *a, const char *dir, const char *pos, long long *keys, long long *stream_len);

/* Load DIR/redis.dump into an empty Redis (refused otherwise), then mark ClickHouse's incarnation in the writers'
 * guard as unknown, so that the first writer re-delivers every delivered entry still in the stream, each checked
 * for presence in ClickHouse (ingestd/ch_guard.c). Checks the key count. 0 or a negative error. */
int bk_redis_restore(const admin_ctx *a, const char *dir, long long want_keys);
/* Whether DIR/redis.dump can be loaded, changing nothing: the file is a dump and Redis holds no key. 0 or a negative
 * error (logged). */
int bk_redis_restore_check(const admin_ctx *a, const char *dir);

#endif
