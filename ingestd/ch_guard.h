/* Guarding acknowledged batches against a crash of ClickHouse's machine (see ch_guard.c).
 *
 * Usage (stream_writer.c):
 *   ch_guard *g = ch_guard_new(&cfg);
 *   every tick:   ch_guard_tick(g, ctl, ch, now)          checks ClickHouse's start time, recovers after a restart
 *   when trimming: ch_guard_trim_point(g, now, p, &apply)  the trim point p computed now -> the one to apply now
 *   at stop:      ch_guard_close(g)                      before the connections close; free after them */
#ifndef MOHSTATS_CH_GUARD_H
#define MOHSTATS_CH_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clickhouse.h"
#include "redis_client.h"
#include "stream.h"

typedef struct ch_guard ch_guard;

typedef struct {
    const char *stream_key;
    const char *group;
    const char *consumer;
    uint64_t retain_ms; /* WRITER_RETAIN_MS; 0 turns the guard off (trim points apply at once) */
} ch_guard_config;

/* NULL when out of memory. */
ch_guard *ch_guard_new(const ch_guard_config *cfg);
/* Once per writer tick, with the writer's Redis control connection, its ClickHouse client and loop time. */
void ch_guard_tick(ch_guard *g, redis_client *ctl, ch_client *ch, uint64_t now);
/* The writer found at loop time now that every holding group is done with the entries before p. Returns in *out
 * the point that may be trimmed to now (a point found at least retain_ms before ClickHouse was last confirmed
 * alive), false if none yet. */
bool ch_guard_trim_point(ch_guard *g, uint64_t now, stream_id p, stream_id *out);
/* Stop: no new requests, answers still due are ignored. The guard stays valid until ch_guard_free. */
void ch_guard_close(ch_guard *g);
void ch_guard_free(ch_guard *g);

/* ---- pure logic, exposed for tests ---- */

/* The Lua scripts of the recovery (arguments in ch_guard.c). */
extern const char ch_guard_check_script[];
extern const char ch_guard_copy_script[];

/* Trim points with the loop time each was found at, oldest first. */
typedef struct {
    uint64_t at;
    stream_id point;
} trim_sample;

typedef struct {
    trim_sample *s;
    size_t n, cap;
} trim_delay;

/* Record point p found at time at (times and points never go backwards). When full, the newest sample is
 * replaced: that only makes later trims more cautious. 0 or -ENOMEM. */
int trim_delay_push(trim_delay *d, uint64_t at, stream_id p);
/* The newest point found at or before limit, dropping the samples older than it; false if there is none. */
bool trim_delay_pick(trim_delay *d, uint64_t limit, stream_id *out);
void trim_delay_free(trim_delay *d);

#endif
