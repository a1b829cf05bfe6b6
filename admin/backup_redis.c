/* The event stream's Redis in a backup: every key copied at one instant with DUMP, loaded with RESTORE.
 *
 * Why not the AOF or RDB file: mohstats-admin may run on another machine than Redis (compose: another container),
 * and the files need a stopped or forked server to be read whole. One script run (SCAN + DUMP of every key) is a
 * copy of one instant, taken over the connection the daemons use: the stream with its consumer groups and pending
 * entries, achievd's state and queued forum writes, ingestd's live state and the writers' guard. Redis answers
 * nothing else meanwhile (~1 s per 100-200 MB of keys): the stream keeps only the last WRITER_RETAIN_MS of what was
 * written, so it is small (docs/operations.md, "Back up and restore").
 *
 * Format of redis.dump: a line "mohstats-redis-dump 1", then for each key a line "KEYLEN PTTL PAYLOADLEN", the key's
 * bytes, DUMP's bytes and a newline. PTTL -1: no expiry. */
#include "backup_redis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_admin.h"
#include "stream_entry.h"

#define DUMP_MAGIC "mohstats-redis-dump 1\n"

/* KEYS: stream. ARGV: the writers' group. {last delivered id or '', oldest pending id or ''}. */
static const char position_script[] = "local last, pmin = '', ''\n"
                                      "local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])\n"
                                      "if ok then\n"
                                      "  for _, g in ipairs(groups) do\n"
                                      "    local f = {}\n"
                                      "    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
                                      "    if f['name'] == ARGV[1] then last = f['last-delivered-id'] end\n"
                                      "  end\n"
                                      "end\n"
                                      "if last ~= '' and last ~= '0-0' then\n"
                                      "  local p = redis.call('XPENDING', KEYS[1], ARGV[1])\n"
                                      "  if p[2] then pmin = p[2] end\n"
                                      "else\n"
                                      "  last = ''\n"
                                      "end\n"
                                      "return {last, pmin}\n";

/* KEYS: stream; ARGV: the prefix of keys left out. {the stream's first id or '', its length, key, pttl, dump, key,
 * pttl, dump, ...}. Left out: the MQTT batches' duplicate keys (STREAM_DEDUPE_INFIX), millions at a busy site, which
 * only the broker session that sent those batches could use, and which one script could not copy without stalling
 * every XADD meanwhile (and holding their size again in its answer). */
static const char dump_script[] = "local out, seen = {}, {}\n"
                                  "local ok, first = pcall(redis.call, 'XRANGE', KEYS[1], '-', '+', 'COUNT', 1)\n"
                                  "out[1] = (ok and first[1]) and first[1][1] or ''\n"
                                  "local ok2, len = pcall(redis.call, 'XLEN', KEYS[1])\n"
                                  "out[2] = ok2 and len or 0\n"
                                  "local cursor = '0'\n"
                                  "repeat\n"
                                  "  local r = redis.call('SCAN', cursor, 'COUNT', 1000)\n"
                                  "  cursor = r[1]\n"
                                  "  for _, k in ipairs(r[2]) do\n"
                                  "    if not seen[k] and k:sub(1, #ARGV[1]) ~= ARGV[1] then\n"
                                  "      seen[k] = true\n"
                                  "      local d = redis.call('DUMP', k)\n"
                                  "      if d then\n"
                                  "        out[#out + 1] = k\n"
                                  "        out[#out + 1] = redis.call('PTTL', k)\n"
                                  "        out[#out + 1] = d\n"
                                  "      end\n"
                                  "    end\n"
                                  "  end\n"
                                  "until cursor == '0'\n"
                                  "return out\n";

/* Compare two stream ids "ms-seq": <0, 0, >0. */
static int id_cmp(const char *x, const char *y)
{
    uint64_t xm = strtoull(x, NULL, 10), ym = strtoull(y, NULL, 10);
    const char *xd = strchr(x, '-'), *yd = strchr(y, '-');
    uint64_t xs = xd ? strtoull(xd + 1, NULL, 10) : 0, ys = yd ? strtoull(yd + 1, NULL, 10) : 0;
    if (xm != ym)
        return xm < ym ? -1 : 1;
    return xs < ys ? -1 : xs > ys;
}

int bk_redis_position(const admin_ctx *a, const char *writer_group, char *pos, size_t poslen)
{
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c)
        return -EIO;
    redisReply *r = redisCommand(c, "EVAL %s 1 %s %s", position_script, a->stream, writer_group);
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        log_error("Redis: reading the writers' position failed: %s", r && r->str ? r->str : c->errstr);
        rc = -EIO;
    } else {
        /* The oldest entry not acknowledged: everything before it is in ClickHouse. */
        const char *pmin = r->element[1]->str, *last = r->element[0]->str;
        snprintf(pos, poslen, "%s", pmin && *pmin ? pmin : last ? last : "");
    }
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

/* Write one key's record. */
static int write_record(FILE *f, const redisReply *key, long long pttl, const redisReply *payload)
{
    if (fprintf(f, "%zu %lld %zu\n", key->len, pttl, payload->len) < 0 ||
        fwrite(key->str, 1, key->len, f) != key->len || fwrite(payload->str, 1, payload->len, f) != payload->len ||
        fputc('\n', f) == EOF)
        return -EIO;
    return 0;
}

int bk_redis_dump(const admin_ctx *a, const char *dir, const char *pos, long long *keys, long long *stream_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/redis.dump", dir);
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c)
        return -EIO;
    char skip[256];
    snprintf(skip, sizeof skip, "%s" STREAM_DEDUPE_INFIX, a->stream);
    redisReply *r = redisCommand(c, "EVAL %s 1 %s %s", dump_script, a->stream, skip);
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || (r->elements - 2) % 3) {
        log_error("Redis: the copy of its keys failed: %s", r && r->str ? r->str : c->errstr);
        rc = -EIO;
    }
    const char *first = rc ? "" : r->element[0]->str;
    if (!rc && *pos && (!*first || id_cmp(first, pos) > 0)) {
        log_error("the stream no longer holds entry %s, which the ClickHouse snapshot may lack (its first is %s): "
                  "run the backup again, and if it says so again, raise WRITER_RETAIN_MS",
                  pos, *first ? first : "none");
        rc = -EAGAIN;
    }
    FILE *f = rc ? NULL : fopen(path, "wb");
    if (!rc && !f) {
        log_error("cannot write %s: %s", path, strerror(errno));
        rc = -errno;
    }
    *keys = 0;
    *stream_len = rc ? 0 : r->element[1]->integer;
    if (f && fputs(DUMP_MAGIC, f) == EOF)
        rc = -EIO;
    for (size_t i = 2; f && !rc && i < r->elements; i += 3, ++*keys)
        rc = write_record(f, r->element[i], r->element[i + 1]->integer, r->element[i + 2]);
    if (f && fclose(f) && !rc)
        rc = -EIO;
    if (f && rc == -EIO)
        log_error("cannot write %s: %s", path, strerror(errno));
    freeReplyObject(r);
    redisFree(c);
    return rc;
}

/* Read the replies of the *queued RESTOREs sent; 0, or -EIO at the first refused (logged). */
static int drain_restores(redisContext *c, int *queued)
{
    int rc = 0;
    for (; *queued && !rc; --*queued) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) || !r || r->type == REDIS_REPLY_ERROR) {
            log_error("Redis refused a RESTORE: %s", r ? r->str : c->errstr);
            rc = -EIO;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* RESTORE the records of f, pipelined a thousand at a time; the count into *n. */
static int restore_records(redisContext *c, FILE *f, long long *n)
{
    int rc = 0, queued = 0;
    char *key = NULL, *payload = NULL;
    for (;;) {
        size_t klen = 0, plen = 0;
        long long pttl = 0;
        int got = fscanf(f, "%zu %lld %zu", &klen, &pttl, &plen);
        if (got == EOF)
            break;
        if (got != 3 || fgetc(f) != '\n' || klen > (512u << 20) || plen > (4096ull << 20)) {
            log_error("redis.dump is damaged after %lld keys", *n);
            rc = -EINVAL;
            break;
        }
        free(key);
        free(payload);
        key = malloc(klen + 1);
        payload = malloc(plen + 1);
        if (!key || !payload || fread(key, 1, klen, f) != klen || fread(payload, 1, plen, f) != plen ||
            fgetc(f) != '\n') {
            log_error("redis.dump is damaged or cut short after %lld keys", *n);
            rc = -EINVAL;
            break;
        }
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%lld", pttl > 0 ? pttl : 0);
        const char *argv[] = {"RESTORE", key, ttl, payload, "REPLACE"};
        const size_t lens[] = {7, klen, strlen(ttl), plen, 7};
        if (redisAppendCommandArgv(c, 5, argv, lens)) {
            rc = -ENOMEM;
            break;
        }
        ++*n;
        /* The pipeline holds the keys' bytes until the replies are read: drain it now and then. */
        if (++queued < 1000)
            continue;
        if ((rc = drain_restores(c, &queued)))
            break;
    }
    rc = rc ? rc : drain_restores(c, &queued);
    free(key);
    free(payload);
    return rc;
}

/* DIR/redis.dump opened and its first line checked, or NULL (logged). */
static FILE *open_dump(const char *dir)
{
    char path[4096], magic[sizeof DUMP_MAGIC] = "";
    snprintf(path, sizeof path, "%s/redis.dump", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        log_error("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!fgets(magic, sizeof magic, f) || strcmp(magic, DUMP_MAGIC)) {
        log_error("%s is not a redis.dump of mohstats-admin backup", path);
        fclose(f);
        return NULL;
    }
    return f;
}

/* 0 if Redis (c) holds no key, else -EEXIST (logged): a restore goes onto a fresh stack. */
static int redis_empty(redisContext *c)
{
    redisReply *r = redisCommand(c, "DBSIZE");
    int rc = r && r->type == REDIS_REPLY_INTEGER && r->integer == 0 ? 0 : -EEXIST;
    if (rc)
        log_error("Redis holds %lld keys: restore onto a fresh stack before its daemons start (scripts/stack.sh up "
                  "NEWDIR --db-only)",
                  r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1LL);
    freeReplyObject(r);
    return rc;
}

int bk_redis_restore_check(const admin_ctx *a, const char *dir)
{
    FILE *f = open_dump(dir);
    if (!f)
        return -EINVAL;
    fclose(f);
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c)
        return -EIO;
    int rc = redis_empty(c);
    redisFree(c);
    return rc;
}

int bk_redis_restore(const admin_ctx *a, const char *dir, long long want_keys)
{
    FILE *f = open_dump(dir);
    if (!f)
        return -EINVAL;
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c) {
        fclose(f);
        return -EIO;
    }
    int rc = redis_empty(c);
    long long n = 0;
    rc = rc ? rc : restore_records(c, f, &n);
    fclose(f);
    if (!rc && n != want_keys) {
        log_error("redis.dump holds %lld keys, the manifest says %lld", n, want_keys);
        rc = -EINVAL;
    }
    /* The writers recorded the old ClickHouse's start time; a start time of 0 matches no incarnation, so the first
     * writer copies every delivered entry for the presence check: those the snapshot lacks are inserted. */
    char guard[512];
    snprintf(guard, sizeof guard, "%s" STREAM_GUARD_SUFFIX, a->stream);
    rc = rc ? rc : admin_redis_do(c, NULL, "HSET %s start %s", guard, "0");
    rc = rc ? rc : admin_redis_do(c, NULL, "HDEL %s new from to owner until", guard, NULL);
    redisFree(c);
    return rc;
}
