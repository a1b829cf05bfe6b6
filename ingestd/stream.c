/* Appending one accepted batch to the Redis stream as a single entry; stream ids; reading stream replies. */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* The append of a batch that names its dedupe key: KEYS[1] the stream, KEYS[2] the key; ARGV[1] the key's TTL (s),
 * then the entry's fields. The key is checked, the entry added and the key set in one step: Redis runs a script
 * whole, and its AOF holds the script's writes as one MULTI/EXEC, which a torn AOF loses whole. So the key exists
 * exactly when the entry was added (until the TTL), whatever crashed when. It is set after the XADD so that a
 * failed XADD leaves no key; its SET cannot fail on memory once the XADD passed (Redis checks a script's memory at
 * its first write), and the pcall keeps the entry's id the answer if it did. An entry already added: the status
 * STREAM_ALREADY_STORED. */
static const char append_once_script[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return redis.status_reply('" STREAM_ALREADY_STORED "') end\n"
    "local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))\n"
    "pcall(redis.call, 'SET', KEYS[2], '1', 'EX', ARGV[1])\n"
    "return id\n";

int stream_append(redis_client *r, const char *stream_key, const stream_batch *b, redis_reply_fn cb, void *arg)
{
    /* The rows are arbitrary bytes (TSV with escapes, but possibly raw UTF-8/CP1252): binary-safe argv, never
     * a format string. "dup" is always present so that readers never have to guess a default. */
    char count[16], ttl[16], key[512];
    int count_len = snprintf(count, sizeof count, "%u", (unsigned)b->nevents);
    const char *fields[] = {
        STREAM_F_BATCH, b->batch_id,  STREAM_F_SERVER, b->server_id,  STREAM_F_COUNT,
        count,          STREAM_F_ROWS, b->rows ? b->rows : "", STREAM_F_DUP,
        b->maybe_duplicate ? STREAM_DUP_MAYBE : STREAM_DUP_NO,
    };
    size_t field_lens[] = {
        strlen(STREAM_F_BATCH), strlen(b->batch_id), strlen(STREAM_F_SERVER), strlen(b->server_id),
        strlen(STREAM_F_COUNT), (size_t)count_len,   strlen(STREAM_F_ROWS),   b->rows_len,
        strlen(STREAM_F_DUP),   1,
    };
    enum { NFIELDS = sizeof fields / sizeof fields[0], HEAD = 6 };
    const char *argv[HEAD + NFIELDS];
    size_t argvlen[HEAD + NFIELDS];
    int argc;
    if (b->dedupe_ttl_s) {
        int key_len = snprintf(key, sizeof key, "%s" STREAM_DEDUPE_INFIX "%s", stream_key, b->batch_id);
        if (key_len < 0 || (size_t)key_len >= sizeof key)
            return -ENAMETOOLONG;
        int ttl_len = snprintf(ttl, sizeof ttl, "%u", (unsigned)b->dedupe_ttl_s);
        const char *head[] = {"EVAL", append_once_script, "2", stream_key, key, ttl};
        size_t head_lens[] = {4, strlen(append_once_script), 1, strlen(stream_key), (size_t)key_len, (size_t)ttl_len};
        memcpy(argv, head, sizeof head);
        memcpy(argvlen, head_lens, sizeof head_lens);
        argc = HEAD;
    } else {
        const char *head[] = {"XADD", stream_key, "*"};
        size_t head_lens[] = {4, strlen(stream_key), 1};
        memcpy(argv, head, sizeof head);
        memcpy(argvlen, head_lens, sizeof head_lens);
        argc = 3;
    }
    memcpy(argv + argc, fields, sizeof fields);
    memcpy(argvlen + argc, field_lens, sizeof field_lens);
    argc += NFIELDS;
    return redis_command_argv(r, cb, arg, argc, argv, argvlen);
}

stream_append_outcome stream_append_result(const redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_STRING)
        return STREAM_APPENDED;
    if (reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, STREAM_ALREADY_STORED) == 0)
        return STREAM_WAS_STORED;
    return STREAM_NOT_APPENDED;
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
