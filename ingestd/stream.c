/* Appending one accepted batch to the Redis stream as a single entry. */
#include "stream.h"

#include <stdio.h>
#include <string.h>

int stream_append(redis_client *r, const char *stream_key, const stream_batch *b, redis_reply_fn cb, void *arg)
{
    /* The rows are arbitrary bytes (TSV with escapes, but possibly raw UTF-8/CP1252): binary-safe argv, never
     * a format string. "dup" is always present so that readers never have to guess a default. */
    char count[16];
    int count_len = snprintf(count, sizeof count, "%u", (unsigned)b->nevents);
    const char *argv[] = {
        "XADD",
        stream_key,
        "*",
        STREAM_F_BATCH,
        b->batch_id,
        STREAM_F_SERVER,
        b->server_id,
        STREAM_F_COUNT,
        count,
        STREAM_F_ROWS,
        b->rows ? b->rows : "",
        STREAM_F_DUP,
        b->maybe_duplicate ? STREAM_DUP_MAYBE : STREAM_DUP_NO,
    };
    size_t argvlen[] = {
        4,
        strlen(stream_key),
        1,
        strlen(STREAM_F_BATCH),
        strlen(b->batch_id),
        strlen(STREAM_F_SERVER),
        strlen(b->server_id),
        strlen(STREAM_F_COUNT),
        (size_t)count_len,
        strlen(STREAM_F_ROWS),
        b->rows_len,
        strlen(STREAM_F_DUP),
        1,
    };
    return redis_command_argv(r, cb, arg, (int)(sizeof argv / sizeof argv[0]), argv, argvlen);
}
