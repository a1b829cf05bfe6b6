/* Appending one accepted batch to the Redis stream as a single entry; stream ids; reading stream replies. */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

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

int stream_id_parse(const char *s, size_t len, stream_id *out)
{
    uint64_t v[2] = {0, 0};
    int part = 0;
    size_t digits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-' && part == 0 && digits) {
            part = 1;
            digits = 0;
        } else if (c >= '0' && c <= '9' && digits < 20) {
            uint64_t d = (uint64_t)(c - '0');
            if (v[part] > (UINT64_MAX - d) / 10)
                return -EINVAL;
            v[part] = v[part] * 10 + d;
            digits++;
        } else {
            return -EINVAL;
        }
    }
    if (!digits)
        return -EINVAL;
    out->ms = v[0];
    out->seq = v[1];
    return 0;
}

int stream_id_cmp(stream_id a, stream_id b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

void stream_id_format(stream_id id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

const redisReply *stream_reply_array(const redisReply *r, size_t n)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= n ? r : NULL;
}

bool stream_reply_id(const redisReply *r, stream_id *id)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           stream_id_parse(r->str, r->len, id) == 0;
}

uint64_t stream_reply_u64(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer > 0 ? (uint64_t)r->integer : 0;
    if (r->type == REDIS_REPLY_STRING)
        return strtoull(r->str, NULL, 10);
    return 0;
}
