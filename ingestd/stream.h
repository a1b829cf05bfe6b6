/* The durable event stream in Redis: what one accepted batch looks like as a stream entry, the entry id type, and
 * reading stream replies. */
#ifndef MOHSTATS_STREAM_H
#define MOHSTATS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_client.h"
#include "stream_entry.h"

struct redisReply;

/* A stream entry id, "<ms>-<seq>". */
typedef struct {
    uint64_t ms, seq;
} stream_id;

/* Parse "ms-seq" (or "ms"): 0 or -EINVAL. */
int stream_id_parse(const char *s, size_t len, stream_id *out);
int stream_id_cmp(stream_id a, stream_id b);
/* Format as "ms-seq" into out (at least 42 bytes). */
void stream_id_format(stream_id id, char *out, size_t outlen);

/* Reading the replies of stream commands (XREADGROUP, XAUTOCLAIM, XPENDING, XINFO). */

/* r if it is an array with at least n elements, else NULL. */
const struct redisReply *stream_reply_array(const struct redisReply *r, size_t n);
/* A reply that is a string (bulk or status) as an id in *id, or false. */
bool stream_reply_id(const struct redisReply *r, stream_id *id);
/* A reply's integer value (integers, or numbers sent as strings); 0 otherwise. */
uint64_t stream_reply_u64(const struct redisReply *r);

/* One accepted HTTP batch, already rendered as raw_events TSV rows (event_row.c). */
typedef struct {
    char batch_id[37];     /* UUID text; also in every row's batch_id column */
    const char *server_id; /* NUL-terminated */
    uint32_t nevents;
    const char *rows; /* nevents TabSeparated lines, each ending in '\n', in raw_row_columns order */
    size_t rows_len;
    bool maybe_duplicate; /* a copy may be in the stream already (an XADD whose outcome is unknown, a spool
                             replay sent before): STREAM_DUP_MAYBE, so consumers check for batch_id */
    /* Not 0: the batch id names a message its transport may deliver again (MQTT: batch_id_of in
     * mqtt_ingest_messages.c), up to this many seconds after it was stored. The append then adds it only if no entry
     * of that batch id was added within that time: "<stream>" STREAM_DEDUPE_INFIX "<batch id>" is set in the same
     * step as the XADD, and lives that long (about 150 bytes of Redis memory per batch). 0: every append adds an
     * entry (an HTTP batch's id is new to each request). */
    uint32_t dedupe_ttl_s;
} stream_batch;

/* The status an append answers for a batch whose dedupe key is there: a copy was added before. */
#define STREAM_ALREADY_STORED "ALREADY_STORED"

/* Append the batch to stream_key as one entry (entry id "*"): XADD, or with a dedupe_ttl_s a script that adds it
 * once. cb gets the reply, for stream_append_result. 0, or an error (not sent). */
int stream_append(redis_client *r, const char *stream_key, const stream_batch *b, redis_reply_fn cb, void *arg);

typedef enum {
    STREAM_APPENDED,     /* the reply is the new entry's id */
    STREAM_WAS_STORED,   /* a copy of the batch was appended before (its dedupe key): nothing added, nothing lost */
    STREAM_NOT_APPENDED, /* an error, or no reply (then the outcome is unknown) */
} stream_append_outcome;

/* Counts the appends answered STREAM_WAS_STORED, by when: "append" (ingest_api) or "replay" (the spool). */
#define STREAM_ALREADY_STORED_METRIC "mohstats_stream_already_stored_total"
#define STREAM_ALREADY_STORED_HELP                                                                                     \
    "Batches a transport delivered again whose copy the stream already had (its dedupe key): not added again"

/* What an append's reply says. */
stream_append_outcome stream_append_result(const struct redisReply *reply);

#endif
