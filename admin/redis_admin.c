/* Redis for mohstats-admin: blocking connections with the daemons' URLs, and emptying queryd's answer cache. */
#include "redis_admin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bytebuf.h"
#include "config.h"
#include "fresh_stream.h"
#include "log.h"

redisContext *admin_redis_open(const char *url)
{
    url_parts u;
    if (url_parse(url, 6379, &u) != 0) {
        log_error("%s is not a Redis URL", url);
        return NULL;
    }
    struct timeval tv = {.tv_sec = 10};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    if (!c || c->err) {
        log_error("cannot connect to Redis at %s:%d: %s", u.host, u.port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    bool ok = true;
    if (u.password[0]) {
        r = u.user[0] ? redisCommand(c, "AUTH %s %s", u.user, u.password) : redisCommand(c, "AUTH %s", u.password);
        ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    if (ok && u.path[0] && strcmp(u.path, "0")) {
        r = redisCommand(c, "SELECT %s", u.path);
        ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    if (!ok) {
        log_error("Redis at %s:%d refused the login or the database of its URL", u.host, u.port);
        redisFree(c);
        return NULL;
    }
    return c;
}

int admin_redis_do(redisContext *c, long long *count, const char *fmt, const char *a1, const char *a2)
{
    redisReply *r = redisCommand(c, fmt, a1, a2);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -EIO;
    if (rc)
        log_error("Redis: %s failed: %s", fmt, r ? r->str : c->errstr);
    else if (count && r->type == REDIS_REPLY_INTEGER)
        *count += r->integer;
    freeReplyObject(r);
    return rc;
}

/* Delete every key matching pattern (SCAN, then DEL in the cursor's steps). */
static int delete_matching(redisContext *c, const char *pattern, long long *count)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            log_error("Redis: SCAN failed: %s", r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
            freeReplyObject(r);
            return -EIO;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        int rc = 0;
        for (size_t i = 0; i < r->element[1]->elements && !rc; i++)
            rc = admin_redis_do(c, count, "DEL %s", r->element[1]->element[i]->str, NULL);
        freeReplyObject(r);
        if (rc)
            return rc;
    } while (strcmp(cursor, "0"));
    return 0;
}

int admin_cache_flush(const admin_ctx *a, long long *dropped)
{
    redisContext *c = admin_redis_open(*a->cache_redis_url ? a->cache_redis_url : a->redis_url);
    if (!c)
        return -EIO;
    /* q: answers and qs: their stale copies; not ql:, the locks of computations running now. */
    int rc = delete_matching(c, "q:*", dropped);
    rc = rc ? rc : delete_matching(c, "qs:*", dropped);
    redisFree(c);
    return rc;
}

int admin_fresh_touch(const admin_ctx *a, char *const *guids, size_t n)
{
    bytebuf list = {0};
    int rc = 0;
    /* '\n'-separated, TabSeparated-escaped, as FRESH_GUIDS says */
    for (size_t i = 0; i < n && !rc; i++) {
        rc = i ? bytebuf_append(&list, "\n", 1) : 0;
        for (const char *c = guids[i]; *c && !rc; c++)
            rc = *c == '\\'   ? bytebuf_append(&list, "\\\\", 2)
                 : *c == '\t' ? bytebuf_append(&list, "\\t", 2)
                 : *c == '\n' ? bytebuf_append(&list, "\\n", 2)
                              : bytebuf_append(&list, c, 1);
    }
    if (rc || !list.data) {
        bytebuf_free(&list);
        return n ? -ENOMEM : 0;
    }
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c) {
        bytebuf_free(&list);
        return -EIO;
    }
    const char *argv[] = {"XADD", FRESH_STREAM_KEY, "MAXLEN", "~", FRESH_STREAM_MAXLEN, "*", FRESH_GUIDS, list.data};
    size_t lens[] = {4, strlen(FRESH_STREAM_KEY), 6, 1, strlen(FRESH_STREAM_MAXLEN), 1, strlen(FRESH_GUIDS), list.len};
    redisReply *r = redisCommandArgv(c, 8, argv, lens);
    rc = r && r->type == REDIS_REPLY_STRING ? 0 : -EIO;
    if (rc)
        log_error("Redis: the freshness stream refused the entry (%s): queryd's boards show the change at their next "
                  "build (QUERY_BOARD_REFRESH_S)",
                  r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    bytebuf_free(&list);
    return rc;
}
