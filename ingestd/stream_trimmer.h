/* Trimming the ingest stream, its metrics and the consumer sweep (stream_trimmer.c), for the stream writer.
 *
 * Usage (stream_writer.c), like ch_guard:
 *   stream_trimmer *t = stream_trimmer_new(loop, &cfg, guard);  cfg's strings and guard are borrowed: they outlive t
 *   every tick:  stream_trimmer_tick(t, ctl, now)             a trim run (skipped while one goes on), the sweep
 *   at stop:     stream_trimmer_close(t)                      before the connections close; answers still due are
 *                                                             ignored; free after them */
#ifndef MOHSTATS_STREAM_TRIMMER_H
#define MOHSTATS_STREAM_TRIMMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ch_guard.h"
#include "redis_client.h"
#include "stream.h"

typedef struct stream_trimmer stream_trimmer;

typedef struct {
    const char *stream_key;    /* INGEST_STREAM */
    const char *group;         /* WRITER_GROUP: always holds the stream back */
    const char *consumer;      /* ours: never swept */
    const char *stream_groups; /* STREAM_GROUPS: comma-separated groups that hold back trimming */
    const char *released_key;  /* <stream>STREAM_RELEASED_SUFFIX */
    uint64_t max_backlog;      /* STREAM_MAX_BACKLOG */
} stream_trimmer_config;

/* NULL when out of memory. */
stream_trimmer *stream_trimmer_new(uv_loop_t *loop, const stream_trimmer_config *cfg, ch_guard *guard);
/* Once per writer tick, with the writer's Redis control connection and loop time. */
void stream_trimmer_tick(stream_trimmer *t, redis_client *ctl, uint64_t now);
/* Stop: no new requests, answers still due are ignored. The trimmer stays valid until stream_trimmer_free. */
void stream_trimmer_close(stream_trimmer *t);
void stream_trimmer_free(stream_trimmer *t);

/* ---- pure logic, exposed for tests ---- */

/* What the trimmer knows of one consumer group. */
typedef struct {
    const char *name;
    uint64_t pending;
    stream_id oldest_pending; /* valid when pending > 0 */
    stream_id last_delivered;
    bool lag_known; /* Redis 7 "lag": entries not yet delivered to the group; unknown after some deletions */
    uint64_t lag;
} stream_group_state;

/* The id below which no group in hold_groups (comma-separated) needs entries: XTRIM MINID target. Groups not
 * in hold_groups are ignored; a group other than writer_group whose backlog (pending + lag, at most the stream
 * length; the stream length when lag is unknown) is over max_backlog is ignored too and its name appended to
 * released (comma-separated, for the warning). Returns 0, or -ENOENT when no group holds anything back (do not
 * trim). */
int stream_trim_point(const stream_group_state *groups, size_t n, const char *hold_groups, const char *writer_group,
                      uint64_t max_backlog, uint64_t stream_len, stream_id *minid, char *released, size_t released_len);

#endif
