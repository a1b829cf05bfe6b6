/* achievd's durable state in Redis, beside the stream it reads: the lease that makes one process the evaluator,
 * the players' and matches' saved state, the forum writes not yet in MariaDB, and the batches already counted.
 * One Lua script writes a step's results and acknowledges its stream entries together (store_checkpoint). */
#ifndef MOHSTATS_ACHIEVD_STORE_H
#define MOHSTATS_ACHIEVD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "achievd.h"

struct redisReply;
typedef struct store store;

store *store_new(const achievd_settings *s);
void store_free(store *st);

/* Connect if not connected. 0, or -EIO (the reason is logged once per outage). */
int store_connect(store *st);
void store_disconnect(store *st);

/* Take or renew the lease: 1 when this process holds it, 0 when another does, -EIO. */
int store_lease(store *st);
/* Give the lease up (clean shutdown), if still ours. */
void store_release(store *st);

/* Create the consumer group if it is missing (from the stream's first entry: nothing retained is skipped). */
int store_ensure_group(store *st);

/* Load every saved player and match into ev, every pending write into each(), every link achievd knows into
 * each_link(), and the latest receive time evaluated into *seen_ms. 0 or -EIO/-ENOMEM. */
int store_load(store *st, evaluator *ev, void (*each)(void *arg, const char *key, const char *value),
               void (*each_link)(void *arg, const char *guid, const char *value), void *arg, uint64_t *seen_ms);

/* The id of the stream's newest entry ("0-0" when empty) into out. 0 or -EIO. */
int store_newest_id(store *st, char *out, size_t outlen);
/* 1 when the ClickHouse writers (WRITER_GROUP) have inserted every entry up to id, 0 when not yet, -EIO. */
int store_writers_past(store *st, const char *id);

/* What store_read found when it returned no entries. */
typedef struct {
    bool gap;        /* the writers trimmed entries the group had not read (stream_entry.h): catch up */
    bool empty;      /* nothing to read: wait with store_wait */
    char marker[48]; /* gap: the MINID of the newest trim past the group */
    char last[48];   /* the group's last-delivered id */
    char oldest[48]; /* gap: the oldest entry delivered and not acknowledged, "" when none */
} store_gap;

/* In one script: unless the writers trimmed past entries the group needs (g->gap), XREADGROUP up to count_max of
 * the entries delivered to us and not acknowledged, else new ones (g->empty when there are none). Returns the entries'
 * reply (free with freeReplyObject), or NULL: with g->gap or g->empty set, or on an error. Checking and reading
 * in one script is what makes a gap impossible to miss: a trim between a check and a read would hide it. */
struct redisReply *store_read(store *st, int count_max, store_gap *g);
/* Wait up to block_ms for an entry after id (XREAD BLOCK: the group's position does not move). */
void store_wait(store *st, const char *id, int block_ms);
/* The catch-up's saved progress: the receive time replayed up to (0: no catch-up under way) and the latest
 * receive time a catch-up replayed (stream entries received up to then are checked against the counted batches). */
int store_catchup_get(store *st, uint64_t *from_ms, uint64_t *until_ms);

/* Which of n batch ids were counted before (within ACHIEVD_DEDUP_S): seen[i]. 0 or -EIO. */
int store_batches_seen(store *st, const char *const *bids, size_t n, bool *seen);

/* One step's results, written atomically with the acknowledgement of its entries, only while the lease is
 * ours: -EPERM when it is not (another process took over: this one must drop its state), -EIO. */
typedef struct {
    const char **state_keys;
    const char **state_blobs;
    size_t *state_lens;
    size_t nstate;
    const char **state_deletes;
    size_t ndeletes;
    const char **pending_keys;
    const char **pending_values;
    size_t npending;
    const char **link_guids;
    const char **link_values;
    size_t nlinks;
    const char **batch_ids;
    size_t nbatches;
    const char **entry_ids;
    size_t nentries;
    uint64_t now_ms;
    uint64_t seen_ms;          /* the latest receive time evaluated */
    uint64_t catchup_from_ms;  /* a catch-up's page was replayed up to here (0: none) */
    const char *catchup_done;  /* a catch-up ends: the last id it covers; pending entries up to it are acknowledged
                                  and the group's last-delivered id moves there (NULL: not now) */
    uint64_t catchup_until_ms; /* with catchup_done: the latest receive time it replayed */
} checkpoint;
int store_checkpoint(store *st, const checkpoint *c);

/* Remove pending writes MariaDB now has (lease checked as above). */
int store_pending_done(store *st, const char *const *keys, size_t n);

/* The members mohstats-admin erase named (<stream>:<group>:forget, a set of member ids): their saved state and
 * pending forum writes deleted and the set emptied, in one script, only while the lease is ours (-EPERM when not).
 * Returns how many members it forgot (the caller then reloads its state from Redis), or -EIO. */
int store_forget(store *st);

/* The group's lag (entries not yet delivered to it), or -1 when Redis cannot say. */
long long store_lag(store *st);

#endif
