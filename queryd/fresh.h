/* The data generation: which inserts into ClickHouse this queryd knows of, read from the freshness stream
 * (common/fresh_stream.h) that ingestd's writer adds to after each insert. Answers are stamped with the
 * generation they were computed at (cache.c), and the players each insert touched go to the leaderboard boards
 * (board_delta.c) to be re-read. */
#ifndef MOHSTATS_FRESH_H
#define MOHSTATS_FRESH_H

#include <stdbool.h>
#include <stdint.h>

#include "queryd.h"

typedef struct daemon_ctx daemon_ctx;
typedef struct fresh fresh;

/* Start following the freshness stream (polled every FRESH_POLL_MS on q->redis). Stopped by the daemon's stop
 * hooks. NULL when out of memory. */
fresh *fresh_new(queryd *q, daemon_ctx *d);
void fresh_free(fresh *f);

/* The newest generation read (0 before the first). A query sent now counts every event of it and before. */
uint64_t fresh_gen(const fresh *f);

/* May an answer computed at generation gen still be served, while one of generation cur (fresh_gen, or a
 * leaderboard board's) is computed? Yes when gen >= cur, or when the first insert it lacks was read less than
 * FRESH_BEHIND_MS ago. */
bool fresh_servable(const fresh *f, uint64_t gen, uint64_t cur);

/* Exposed for tests: a stream entry id "<ms>-<seq>" as a generation (ordered like the ids). 0 when malformed. */
uint64_t fresh_gen_of_id(const char *id, size_t len);

#endif
