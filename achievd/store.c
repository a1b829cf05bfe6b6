/* achievd's state in Redis (store.h), on a blocking hiredis connection of the pipeline thread. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "random.h"
#include "stream_entry.h"

#define CONSUMER "evaluator" /* one logical consumer: only the lease holder reads, so it is always this one */
#define COMMAND_TIMEOUT_S 10

struct store {
    const achievd_settings *s;
    redisContext *c;
    char token[33];
    char k_lease[256], k_state[256], k_pending[256], k_batches[256], k_links[256], k_seen[256], k_catchup[256];
    char k_released[256], k_forget[256];
    bool down_logged;
    bool broken;        /* a command failed: the connection is replaced at the next store_connect */
    bool forget_failed; /* store_forget's last try failed (logged once) */
};

/* Take or renew the lease. */
static const char lease_script[] = "local v = redis.call('GET', KEYS[1])\n"
                                   "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
                                   "if v then return 0 end\n"
                                   "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                   "return 1\n";

static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1\n";

/* A step's results and its acknowledgements, all or nothing, only for the lease holder (the fence: a process
 * that paused past its lease cannot overwrite what its successor wrote). ARGV: token, lease ms, group, now ms,
 * dedup cutoff ms, the latest receive time evaluated, then counted sections: state (key, blob)..., state
 * deletions, pending (key, value)..., links (guid, value)..., batch ids, entry ids; last, a catch-up's progress
 * (catchup.c): the receive time its pages reached (0: none), the id it ends at ('' while it goes on) and the
 * latest receive time it replayed. KEYS: lease, state, pending, batches, stream, links, seen_ms, catchup. */
static const char checkpoint_script[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the lease is held by another "
    "achievd') end\n"
    "redis.call('SET', KEYS[7], ARGV[6])\n"
    "local i = 7\n"
    "local n = tonumber(ARGV[i]) i = i + 1\n"
    "for k = 1, n do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) i = i + 2 end\n"
    "n = tonumber(ARGV[i]) i = i + 1\n"
    "for k = 1, n do redis.call('HDEL', KEYS[2], ARGV[i]) i = i + 1 end\n"
    "n = tonumber(ARGV[i]) i = i + 1\n"
    "for k = 1, n do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) i = i + 2 end\n"
    "n = tonumber(ARGV[i]) i = i + 1\n"
    "for k = 1, n do redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1]) i = i + 2 end\n"
    "n = tonumber(ARGV[i]) i = i + 1\n"
    "for k = 1, n do redis.call('ZADD', KEYS[4], ARGV[4], ARGV[i]) i = i + 1 end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[5])\n"
    "n = tonumber(ARGV[i]) i = i + 1\n"
    "for k = 1, n do redis.call('XACK', KEYS[5], ARGV[3], ARGV[i]) i = i + 1 end\n"
    "if ARGV[i] ~= '0' then redis.call('HSET', KEYS[8], 'from_ms', ARGV[i]) end\n"
    "if ARGV[i + 1] ~= '' then\n"
    /* The end of a catch-up: nothing read the group meanwhile (its steps only replayed pages), so its position
     * only moves forward here. */
    "  local p = redis.call('XPENDING', KEYS[5], ARGV[3], '-', ARGV[i + 1], 1000)\n"
    "  while #p > 0 do\n"
    "    for _, e in ipairs(p) do redis.call('XACK', KEYS[5], ARGV[3], e[1]) end\n"
    "    p = redis.call('XPENDING', KEYS[5], ARGV[3], '-', ARGV[i + 1], 1000)\n"
    "  end\n"
    "  redis.call('XGROUP', 'SETID', KEYS[5], ARGV[3], ARGV[i + 1])\n"
    "  redis.call('HSET', KEYS[8], 'until_ms', ARGV[i + 2])\n"
    "  redis.call('HDEL', KEYS[8], 'from_ms')\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return n\n";

/* The read of a step (store_read). KEYS: stream, released hash; ARGV: group, consumer, count. Stream ids are
 * compared as (ms, seq) numbers, exact below 2^53 as ids of real time are. */
static const char read_script[] =
    "local function id(s) local ms, seq = string.match(s, '^(%d+)-(%d+)$') return tonumber(ms), tonumber(seq) end\n"
    "local last\n"
    "for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do\n"
    "  local name, ld\n"
    "  for i = 1, #g, 2 do\n"
    "    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then ld = g[i + 1] end\n"
    "  end\n"
    "  if name == ARGV[1] then last = ld end\n"
    "end\n"
    "if not last then return redis.error_reply('NOGROUP the consumer group ' .. ARGV[1] .. ' is missing') end\n"
    "local marker = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "if marker then\n"
    "  local mm, ms = id(marker)\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1])\n"
    "  local gap\n"
    "  if p[1] > 0 then\n"
    "    local om, os = id(p[2])\n"
    "    gap = om < mm or (om == mm and os < ms)\n"
    "  else\n"
    /* an entry could have been between the last delivered one and the trim's MINID */
    "    local lm, ls = id(last)\n"
    "    gap = lm < mm - 1 or (lm == mm - 1 and ms > 0) or (lm == mm and ls + 1 < ms)\n"
    "  end\n"
    "  if gap then return {'GAP', marker, last, p[1] > 0 and p[2] or ''} end\n"
    "end\n"
    "local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '0')\n"
    "if r and r[1] and #r[1][2] > 0 then return r end\n"
    "r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')\n"
    "if r then return r end\n"
    "return {'EMPTY', last}\n";

static const char pending_done_script[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the lease is held by another "
    "achievd') end\n"
    "for i = 2, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end\n"
    "return 1\n";

/* The erased members (store_forget). KEYS: lease, forget set, state, pending; ARGV: token. A member's state is
 * the field p:<id> of the state hash, its pending writes the fields <id>:<code> of the pending hash. */
static const char forget_script[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the lease is held by another "
    "achievd') end\n"
    "local ms = redis.call('SMEMBERS', KEYS[2])\n"
    "for _, m in ipairs(ms) do\n"
    "  if string.match(m, '^%d+$') then\n"
    "    redis.call('HDEL', KEYS[3], 'p:' .. m)\n"
    "    local cur = '0'\n"
    "    repeat\n"
    "      local r = redis.call('HSCAN', KEYS[4], cur, 'MATCH', m .. ':*', 'COUNT', 1000)\n"
    "      cur = r[1]\n"
    "      for i = 1, #r[2], 2 do redis.call('HDEL', KEYS[4], r[2][i]) end\n"
    "    until cur == '0'\n"
    "  end\n"
    "  redis.call('SREM', KEYS[2], m)\n"
    "end\n"
    "return #ms\n";

store *store_new(const achievd_settings *s)
{
    store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->s = s;
    uint8_t raw[16];
    if (random_secure(raw, sizeof raw) != 0) {
        free(st);
        return NULL;
    }
    hex_encode(raw, sizeof raw, st->token);
    snprintf(st->k_lease, sizeof st->k_lease, "%s:%s:lease", s->stream_key, s->group);
    snprintf(st->k_state, sizeof st->k_state, "%s:%s:state", s->stream_key, s->group);
    snprintf(st->k_pending, sizeof st->k_pending, "%s:%s:pending", s->stream_key, s->group);
    snprintf(st->k_batches, sizeof st->k_batches, "%s:%s:batches", s->stream_key, s->group);
    snprintf(st->k_links, sizeof st->k_links, "%s:%s:links", s->stream_key, s->group);
    snprintf(st->k_seen, sizeof st->k_seen, "%s:%s:seen_ms", s->stream_key, s->group);
    snprintf(st->k_catchup, sizeof st->k_catchup, "%s:%s:catchup", s->stream_key, s->group);
    snprintf(st->k_released, sizeof st->k_released, "%s%s", s->stream_key, STREAM_RELEASED_SUFFIX);
    snprintf(st->k_forget, sizeof st->k_forget, "%s:%s" ACHIEVD_FORGET_SUFFIX, s->stream_key, s->group);
    return st;
}

void store_disconnect(store *st)
{
    if (st->c)
        redisFree(st->c);
    st->c = NULL;
    st->broken = false;
}

void store_free(store *st)
{
    if (!st)
        return;
    store_disconnect(st);
    free(st);
}

/* A failed command: log once per outage; the next store_connect replaces the connection. It is not freed here:
 * the pipeline may issue more commands before it reconnects (the lag after a failed cleanup of the pending
 * writes, the next link's store_newest_id), and hiredis fails those at once on a context in error, whereas a
 * NULL context crashed it (SIGSEGV when Redis stopped under load, tests/fault/test_achievd_faults.sh). */
static void command_failed(store *st, const char *what)
{
    if (!st->down_logged)
        log_warn("achievd: Redis %s failed: %s; reconnecting", what, st->c && st->c->errstr[0] ? st->c->errstr : "?");
    st->down_logged = true;
    st->broken = true;
}

int store_connect(store *st)
{
    if (st->broken)
        store_disconnect(st);
    if (st->c)
        return 0;
    url_parts u;
    if (url_parse(st->s->redis_url, 6379, &u) != 0)
        return -EINVAL;
    struct timeval tv = {.tv_sec = 5};
    st->c = redisConnectWithTimeout(u.host, u.port, tv);
    if (!st->c || st->c->err) {
        if (!st->down_logged)
            log_warn("achievd: cannot connect to Redis at %s:%d: %s; retrying", u.host, u.port,
                     st->c ? st->c->errstr : "out of memory");
        st->down_logged = true;
        store_disconnect(st);
        return -EIO;
    }
    struct timeval cmd = {.tv_sec = COMMAND_TIMEOUT_S};
    redisSetTimeout(st->c, cmd);
    redisReply *r = NULL;
    if (u.password[0])
        r = u.user[0] ? redisCommand(st->c, "AUTH %s %s", u.user, u.password)
                      : redisCommand(st->c, "AUTH %s", u.password);
    bool ok = !u.password[0] || (r && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = NULL;
    if (ok && u.path[0] && strcmp(u.path, "0") != 0) {
        r = redisCommand(st->c, "SELECT %s", u.path);
        ok = r && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    memset(&u, 0, sizeof u);
    if (!ok) {
        command_failed(st, "AUTH/SELECT");
        return -EIO;
    }
    if (st->down_logged)
        log_info("achievd: connected to Redis");
    st->down_logged = false;
    return 0;
}

int store_lease(store *st)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%d", st->s->lease_ms);
    redisReply *r = redisCommand(st->c, "EVAL %s 1 %s %s %s", lease_script, st->k_lease, st->token, ms);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        command_failed(st, "lease");
        return -EIO;
    }
    int held = r->integer == 1;
    freeReplyObject(r);
    return held;
}

void store_release(store *st)
{
    if (st->c)
        freeReplyObject(redisCommand(st->c, "EVAL %s 1 %s %s", release_script, st->k_lease, st->token));
}

int store_ensure_group(store *st)
{
    redisReply *r = redisCommand(st->c, "XGROUP CREATE %s %s 0 MKSTREAM", st->s->stream_key, st->s->group);
    if (!r) {
        command_failed(st, "XGROUP CREATE");
        return -EIO;
    }
    bool ok = r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        log_warn("achievd: cannot create the consumer group %s on %s: %s", st->s->group, st->s->stream_key, r->str);
    freeReplyObject(r);
    return ok ? 0 : -EIO;
}

/* HSCAN a whole hash, calling each(field, value, len). */
static int scan_hash(store *st, const char *key, int (*each)(void *arg, const char *f, const char *v, size_t len),
                     void *arg)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(st->c, "HSCAN %s %s COUNT 1000", key, cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            command_failed(st, "HSCAN");
            return -EIO;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *kv = r->element[1];
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            int rc = each(arg, kv->element[i]->str, kv->element[i + 1]->str, kv->element[i + 1]->len);
            if (rc) {
                freeReplyObject(r);
                return rc;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int load_state(void *arg, const char *f, const char *v, size_t len)
{
    int rc = evaluator_load(arg, f, v, len);
    if (rc == -EINVAL) {
        log_warn("achievd: saved state %s is unreadable; ignored", f);
        return 0;
    }
    return rc;
}

typedef struct {
    void (*each)(void *arg, const char *key, const char *value);
    void *arg;
} pending_loader;

static int load_pending(void *arg, const char *f, const char *v, size_t len)
{
    pending_loader *l = arg;
    (void)len;
    l->each(l->arg, f, v);
    return 0;
}

int store_load(store *st, evaluator *ev, void (*each)(void *arg, const char *key, const char *value),
               void (*each_link)(void *arg, const char *guid, const char *value), void *arg, uint64_t *seen_ms)
{
    evaluator_reset(ev);
    int rc = scan_hash(st, st->k_state, load_state, ev);
    pending_loader l = {each, arg}, links = {each_link, arg};
    if (rc == 0)
        rc = scan_hash(st, st->k_pending, load_pending, &l);
    if (rc == 0)
        rc = scan_hash(st, st->k_links, load_pending, &links);
    if (rc == 0) {
        redisReply *r = redisCommand(st->c, "GET %s", st->k_seen);
        if (!r) {
            command_failed(st, "GET");
            return -EIO;
        }
        *seen_ms = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
        freeReplyObject(r);
    }
    return rc;
}

/* Stream ids "ms-seq" in order. */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am != bm ? (am < bm ? -1 : 1) : as != bs ? (as < bs ? -1 : 1) : 0;
}

int store_newest_id(store *st, char *out, size_t outlen)
{
    redisReply *r = redisCommand(st->c, "XREVRANGE %s + - COUNT 1", st->s->stream_key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        command_failed(st, "XREVRANGE");
        return -EIO;
    }
    snprintf(out, outlen, "%s",
             r->elements > 0 && r->element[0]->elements > 0 ? r->element[0]->element[0]->str : "0-0");
    freeReplyObject(r);
    return 0;
}

int store_writers_past(store *st, const char *id)
{
    redisReply *g = redisCommand(st->c, "XINFO GROUPS %s", st->s->stream_key);
    redisReply *p = g ? redisCommand(st->c, "XPENDING %s %s", st->s->stream_key, st->s->writer_group) : NULL;
    if (!g || !p) {
        freeReplyObject(g);
        freeReplyObject(p);
        command_failed(st, "XINFO/XPENDING");
        return -EIO;
    }
    bool delivered = false;
    for (size_t i = 0; g->type == REDIS_REPLY_ARRAY && i < g->elements; i++) {
        redisReply *e = g->element[i];
        bool ours = false;
        const char *last = NULL;
        for (size_t k = 0; e->type == REDIS_REPLY_ARRAY && k + 1 < e->elements; k += 2) {
            const char *name = e->element[k]->str;
            redisReply *v = e->element[k + 1];
            if (strcmp(name, "name") == 0 && v->str && strcmp(v->str, st->s->writer_group) == 0)
                ours = true;
            if (strcmp(name, "last-delivered-id") == 0 && v->str)
                last = v->str;
        }
        if (ours && last && id_cmp(last, id) >= 0)
            delivered = true;
    }
    /* XPENDING's summary: count, smallest id, largest id, consumers */
    bool none_older = p->type == REDIS_REPLY_ARRAY && p->elements >= 2 &&
                      (p->element[0]->integer == 0 || (p->element[1]->str && id_cmp(p->element[1]->str, id) > 0));
    freeReplyObject(g);
    freeReplyObject(p);
    return delivered && none_older;
}

redisReply *store_read(store *st, int count_max, store_gap *g)
{
    memset(g, 0, sizeof *g);
    char count[16];
    snprintf(count, sizeof count, "%d", count_max);
    const char *argv[] = {"EVAL", read_script, "2", st->s->stream_key, st->k_released, st->s->group, CONSUMER, count};
    redisReply *r = redisCommandArgv(st->c, (int)(sizeof argv / sizeof *argv), argv, NULL);
    if (!r) {
        command_failed(st, "read");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOGROUP", 7) == 0)
            store_ensure_group(st);
        else
            log_warn("achievd: reading %s: %s", st->s->stream_key, r->str);
        freeReplyObject(r);
        return NULL;
    }
    /* {'GAP', marker, last, oldest} or {'EMPTY', last}; entries are {{stream, {...}}} */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING) {
        const redisReply *const *e = (const redisReply *const *)r->element;
        g->gap = strcmp(e[0]->str, "GAP") == 0 && r->elements == 4;
        g->empty = strcmp(e[0]->str, "EMPTY") == 0;
        if (g->gap) {
            snprintf(g->marker, sizeof g->marker, "%s", e[1]->str ? e[1]->str : "");
            snprintf(g->last, sizeof g->last, "%s", e[2]->str ? e[2]->str : "");
            snprintf(g->oldest, sizeof g->oldest, "%s", e[3]->str ? e[3]->str : "");
        } else if (g->empty) {
            snprintf(g->last, sizeof g->last, "%s", e[1]->str ? e[1]->str : "0-0");
        }
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

void store_wait(store *st, const char *id, int block_ms)
{
    char block[16];
    snprintf(block, sizeof block, "%d", block_ms);
    const char *argv[] = {"XREAD", "COUNT", "1", "BLOCK", block, "STREAMS", st->s->stream_key, id};
    redisReply *r = redisCommandArgv(st->c, (int)(sizeof argv / sizeof *argv), argv, NULL);
    if (!r)
        command_failed(st, "XREAD");
    freeReplyObject(r);
}

int store_catchup_get(store *st, uint64_t *from_ms, uint64_t *until_ms)
{
    redisReply *r = redisCommand(st->c, "HMGET %s from_ms until_ms", st->k_catchup);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject(r);
        command_failed(st, "HMGET");
        return -EIO;
    }
    *from_ms = r->element[0]->type == REDIS_REPLY_STRING ? strtoull(r->element[0]->str, NULL, 10) : 0;
    *until_ms = r->element[1]->type == REDIS_REPLY_STRING ? strtoull(r->element[1]->str, NULL, 10) : 0;
    freeReplyObject(r);
    return 0;
}

int store_batches_seen(store *st, const char *const *bids, size_t n, bool *seen)
{
    if (n == 0)
        return 0;
    const char **argv = malloc((n + 2) * sizeof *argv);
    if (!argv)
        return -ENOMEM;
    argv[0] = "ZMSCORE";
    argv[1] = st->k_batches;
    memcpy(argv + 2, bids, n * sizeof *argv);
    redisReply *r = redisCommandArgv(st->c, (int)(n + 2), argv, NULL);
    free(argv);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        freeReplyObject(r);
        command_failed(st, "ZMSCORE");
        return -EIO;
    }
    for (size_t i = 0; i < n; i++)
        seen[i] = r->element[i]->type != REDIS_REPLY_NIL;
    freeReplyObject(r);
    return 0;
}

int store_checkpoint(store *st, const checkpoint *c)
{
    size_t argc =
        3 + 8 + 6 + 2 * c->nstate + c->ndeletes + 2 * c->npending + 2 * c->nlinks + c->nbatches + c->nentries + 9;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char nums[14][24];
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return -ENOMEM;
    }
    size_t a = 0;
#define ARG(s) (argv[a] = (s), lens[a] = strlen(argv[a]), a++)
#define ARGN(s, n) (argv[a] = (s), lens[a] = (n), a++)
#define NUM(i, v) (snprintf(nums[i], sizeof nums[i], "%" PRIu64, (uint64_t)(v)), ARG(nums[i]))
    ARG("EVAL");
    ARG(checkpoint_script);
    ARG("8");
    ARG(st->k_lease);
    ARG(st->k_state);
    ARG(st->k_pending);
    ARG(st->k_batches);
    ARG(st->s->stream_key);
    ARG(st->k_links);
    ARG(st->k_seen);
    ARG(st->k_catchup);
    ARG(st->token);
    NUM(0, st->s->lease_ms);
    ARG(st->s->group);
    NUM(1, c->now_ms);
    NUM(2, c->now_ms > (uint64_t)st->s->dedup_s * 1000 ? c->now_ms - (uint64_t)st->s->dedup_s * 1000 : 0);
    NUM(8, c->seen_ms);
    NUM(3, c->nstate);
    for (size_t i = 0; i < c->nstate; i++) {
        ARG(c->state_keys[i]);
        ARGN(c->state_blobs[i], c->state_lens[i]);
    }
    NUM(4, c->ndeletes);
    for (size_t i = 0; i < c->ndeletes; i++)
        ARG(c->state_deletes[i]);
    NUM(5, c->npending);
    for (size_t i = 0; i < c->npending; i++) {
        ARG(c->pending_keys[i]);
        ARG(c->pending_values[i]);
    }
    NUM(9, c->nlinks);
    for (size_t i = 0; i < c->nlinks; i++) {
        ARG(c->link_guids[i]);
        ARG(c->link_values[i]);
    }
    NUM(6, c->nbatches);
    for (size_t i = 0; i < c->nbatches; i++)
        ARG(c->batch_ids[i]);
    NUM(7, c->nentries);
    for (size_t i = 0; i < c->nentries; i++)
        ARG(c->entry_ids[i]);
    NUM(10, c->catchup_from_ms);
    ARG(c->catchup_done ? c->catchup_done : "");
    NUM(11, c->catchup_until_ms);
#undef ARG
#undef ARGN
#undef NUM
    redisReply *r = redisCommandArgv(st->c, (int)a, argv, lens);
    free(argv);
    free(lens);
    if (!r) {
        command_failed(st, "checkpoint");
        return -EIO;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = strncmp(r->str, "FENCED", 6) == 0 ? -EPERM : -EIO;
        if (rc == -EIO)
            log_warn("achievd: checkpoint refused by Redis: %s", r->str);
    }
    freeReplyObject(r);
    return rc;
}

int store_pending_done(store *st, const char *const *keys, size_t n)
{
    const char **argv = malloc((n + 6) * sizeof *argv);
    if (!argv)
        return -ENOMEM;
    size_t a = 0;
    argv[a++] = "EVAL";
    argv[a++] = pending_done_script;
    argv[a++] = "2";
    argv[a++] = st->k_lease;
    argv[a++] = st->k_pending;
    argv[a++] = st->token;
    memcpy(argv + a, keys, n * sizeof *argv);
    redisReply *r = redisCommandArgv(st->c, (int)(a + n), argv, NULL);
    free(argv);
    if (!r) {
        command_failed(st, "pending cleanup");
        return -EIO;
    }
    int rc = r->type == REDIS_REPLY_ERROR ? (strncmp(r->str, "FENCED", 6) == 0 ? -EPERM : -EIO) : 0;
    freeReplyObject(r);
    return rc;
}

int store_forget(store *st)
{
    redisReply *r = redisCommand(st->c, "EVAL %s 4 %s %s %s %s %s", forget_script, st->k_lease, st->k_forget,
                                 st->k_state, st->k_pending, st->token);
    if (!r) {
        command_failed(st, "forget");
        return -EIO;
    }
    int rc = -EIO;
    if (r->type == REDIS_REPLY_INTEGER)
        rc = (int)r->integer;
    else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "FENCED", 6) == 0)
        rc = -EPERM;
    /* Once until it works again: it is tried every second (a Redis user without SMEMBERS and SREM would flood the
     * log). */
    if (rc == -EIO && !st->forget_failed)
        log_warn("achievd: the members erased by mohstats-admin could not be read (%s): their progress stays in "
                 "memory until this works (the achievd Redis user needs SMEMBERS and SREM)",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
    st->forget_failed = rc == -EIO;
    freeReplyObject(r);
    return rc;
}

long long store_lag(store *st)
{
    redisReply *r = redisCommand(st->c, "XINFO GROUPS %s", st->s->stream_key);
    long long lag = -1;
    if (!r) {
        command_failed(st, "XINFO");
        return -1;
    }
    for (size_t g = 0; r->type == REDIS_REPLY_ARRAY && g < r->elements; g++) {
        redisReply *e = r->element[g];
        bool ours = false;
        long long l = -1;
        for (size_t i = 0; e->type == REDIS_REPLY_ARRAY && i + 1 < e->elements; i += 2) {
            const char *k = e->element[i]->str;
            redisReply *v = e->element[i + 1];
            if (strcmp(k, "name") == 0 && v->str && strcmp(v->str, st->s->group) == 0)
                ours = true;
            if (strcmp(k, "lag") == 0 && v->type == REDIS_REPLY_INTEGER)
                l = v->integer;
        }
        if (ours)
            lag = l;
    }
    freeReplyObject(r);
    return lag;
}
