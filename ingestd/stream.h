/* The durable event stream in Redis: what one accepted batch looks like as a stream entry. */
#ifndef MOHSTATS_STREAM_H
#define MOHSTATS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_client.h"
#include "stream_entry.h"

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
