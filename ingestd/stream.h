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
} stream_batch;

/* XADD the batch to stream_key (entry id "*"). cb gets the reply (the entry id) or an error. */
int stream_append(redis_client *r, const char *stream_key, const stream_batch *b, redis_reply_fn cb, void *arg);

#endif
