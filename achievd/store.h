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

/* XREADGROUP: the entries delivered to us and not acknowledged (pending = true), else new ones (blocking up to
 * block_ms). Returns the reply (free with freeReplyObject) or NULL on a connection error. */
struct redisReply *store_read(store *st, bool pending, int block_ms);

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
    uint64_t seen_ms; /* the latest receive time evaluated */
} checkpoint;
int store_checkpoint(store *st, const checkpoint *c);

/* Remove pending writes MariaDB now has (lease checked as above). */
int store_pending_done(store *st, const char *const *keys, size_t n);

/* The group's lag (entries not yet delivered to it), or -1 when Redis cannot say. */
long long store_lag(store *st);

#endif
