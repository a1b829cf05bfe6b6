/* Guarding acknowledged batches against a crash of ClickHouse's machine.
 *
 * ClickHouse answers an insert once its part is written to the page cache, not once it is on disk: 18.16 never
 * fsyncs (current versions only with fsync_after_insert). A power cut or kernel crash of its machine loses the
 * parts of the last ~30 s (vm.dirty_expire_centisecs; measured, see docs/operations.md), after the writer acknowledged
 * their stream entries. A crash of the process alone loses nothing: the page cache outlives it.
 *
 * Two halves:
 * - Retention. Acknowledged entries stay in the stream retain_ms longer: a trim point found at time T is applied
 *   only once ClickHouse was confirmed alive, the same incarnation, at T + retain_ms or later. When ClickHouse
 *   dies, confirmations stop, so trimming stops, and the stream still holds every entry acknowledged in the
 *   retain_ms before the crash, however long the outage lasts.
 * - Recovery. Every tick each writer asks ClickHouse for its start time (now() - uptime()) and compares it in
 *   Redis with the one recorded in <stream>:guard. When it changed, one writer (a lock there) re-adds every entry
 *   of the stream up to the group's last delivered id as a copy flagged dup=2. The path for possibly-duplicate
 *   entries (I4 c in stream_writer.c) then inserts the batches ClickHouse lost and acknowledges those it kept;
 *   dup=2 also stops a copy from being taken as inserted because an original waits for its XACK. Entries never
 *   delivered are not copied: they are inserted into the new incarnation anyway. The new start time is recorded
 *   only once every copy is in, with the progress kept in the hash, so a writer killed midway leaves the rest
 *   to the next one, and confirmations (so trimming) resume only then.
 *
 * Start times are compared within START_TOLERANCE_S (now() and uptime() are whole seconds). A restart quicker
 * than that is missed, which is harmless: only a restart of the machine loses parts, and that takes longer. A
 * clock step on ClickHouse's machine looks like a restart and costs one needless recovery. */
#include "ch_guard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "clickhouse.h"
#include "log.h"
#include "metrics.h"
#include "stream.h"

#define START_TOLERANCE_S "2"
#define LOCK_MS "30000"  /* a recovering writer that stops answering loses the lock after this */
#define COPY_CHUNK "100" /* entries copied per script run (~1 MB at 20 events per entry) */
#define MAX_SAMPLES 4096 /* trim points kept while ClickHouse is not confirmed (one per tick) */

/* KEYS: guard hash, stream. ARGV: ClickHouse's start time (s), tolerance (s), our consumer name, lock ms, group.
 * 'ok': the recorded incarnation is alive (or nothing needs recovering; the new start is recorded); 'busy':
 * another writer recovers; {'recover', recorded start}: we hold the lock, run ch_guard_copy_script. */
const char ch_guard_check_script[] =
    "local h, stream = KEYS[1], KEYS[2]\n"
    "local start, tol, me, lock_ms, group = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), "
    "ARGV[5]\n"
    "local rec = tonumber(redis.call('HGET', h, 'start'))\n"
    "if rec and math.abs(rec - start) <= tol then return 'ok' end\n"
    "if not rec then\n"
    "  redis.call('HSET', h, 'start', start)\n"
    "  return 'ok'\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local owner, till = redis.call('HGET', h, 'owner'), tonumber(redis.call('HGET', h, 'until') or 0)\n"
    "if owner and owner ~= me and till > now then return 'busy' end\n"
    "local new = tonumber(redis.call('HGET', h, 'new'))\n"
    "if not new or math.abs(new - start) > tol then\n"
    "  local to = false\n"
    "  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', stream)\n"
    "  if ok then\n"
    "    for _, g in ipairs(groups) do\n"
    "      local f = {}\n"
    "      for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "      if f['name'] == group then to = f['last-delivered-id'] end\n"
    "    end\n"
    "  end\n"
    "  if not to or to == '0-0' then\n"
    "    redis.call('HSET', h, 'start', start)\n"
    "    redis.call('HDEL', h, 'new', 'from', 'to', 'owner', 'until')\n"
    "    return 'ok'\n"
    "  end\n"
    "  redis.call('HSET', h, 'new', start, 'from', '0-0', 'to', to)\n"
    "end\n"
    "redis.call('HSET', h, 'owner', me, 'until', now + lock_ms)\n"
    "return {'recover', tostring(rec)}\n";

/* KEYS: guard hash, stream. ARGV: our consumer name, count, lock ms, ClickHouse's start time (s), tolerance (s),
 * the dup field's name. Copies the next entries of the recorded range; {'more'|'done'|'lost'|'again', copied}. */
const char ch_guard_copy_script[] =
    "local h, stream = KEYS[1], KEYS[2]\n"
    "local me, count, lock_ms, start, tol, dupf = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), "
    "tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]\n"
    "if redis.call('HGET', h, 'owner') ~= me then return {'lost', 0} end\n"
    "local new = tonumber(redis.call('HGET', h, 'new'))\n"
    "if not new or math.abs(new - start) > tol then return {'again', 0} end\n"
    "local t = redis.call('TIME')\n"
    "redis.call('HSET', h, 'until', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + lock_ms)\n"
    "local from, to = redis.call('HGET', h, 'from'), redis.call('HGET', h, 'to')\n"
    "local r = redis.call('XRANGE', stream, '(' .. from, to, 'COUNT', count)\n"
    "for _, e in ipairs(r) do\n"
    "  local args, f, flagged = {'XADD', stream, '*'}, e[2], false\n"
    "  for i = 1, #f, 2 do\n"
    "    args[#args + 1] = f[i]\n"
    "    if f[i] == dupf then args[#args + 1] = '2'; flagged = true else args[#args + 1] = f[i + 1] end\n"
    "  end\n"
    "  if not flagged then args[#args + 1] = dupf; args[#args + 1] = '2' end\n"
    "  redis.call(unpack(args))\n"
    "  from = e[1]\n"
    "end\n"
    "if #r < count then\n"
    "  redis.call('HSET', h, 'start', new)\n"
    "  redis.call('HDEL', h, 'new', 'from', 'to', 'owner', 'until')\n"
    "  return {'done', #r}\n"
    "end\n"
    "redis.call('HSET', h, 'from', from)\n"
    "return {'more', #r}\n";

typedef enum { G_IDLE, G_ASK, G_CHECK, G_COPY } guard_state;

struct ch_guard {
    redis_client *ctl; /* the writer's, set by each tick */
    char *stream_key, *group, *consumer, *hash_key;
    uint64_t retain_ms;
    guard_state state;
    bool closed;
    bool refused;      /* the start-time query fails with an answer (warned once) */
    uint64_t asked_at; /* loop time the start-time query was sent */
    uint64_t alive_at; /* ... of the last one that confirmed the recorded incarnation; 0: none yet */
    char start[24];    /* ClickHouse's start time, as it answered */
    uint64_t copied;   /* entries copied by the recovery under way */
    trim_delay delay;
    metric *m_copies, *m_restarts;
};

/* ---- trim delay ---- */

int trim_delay_push(trim_delay *d, uint64_t at, stream_id p)
{
    if (d->n == d->cap) {
        if (d->cap >= MAX_SAMPLES) {
            d->s[d->n - 1] = (trim_sample){at, p};
            return 0;
        }
        size_t cap = d->cap ? 2 * d->cap : 64;
        trim_sample *s = realloc(d->s, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        d->s = s;
        d->cap = cap;
    }
    d->s[d->n++] = (trim_sample){at, p};
    return 0;
}

bool trim_delay_pick(trim_delay *d, uint64_t limit, stream_id *out)
{
    size_t i = 0;
    while (i < d->n && d->s[i].at <= limit)
        i++;
    if (i == 0)
        return false;
    *out = d->s[i - 1].point;
    /* The picked one stays: it is still the answer until a newer one qualifies. */
    memmove(d->s, d->s + (i - 1), (d->n - (i - 1)) * sizeof *d->s);
    d->n -= i - 1;
    return true;
}

void trim_delay_free(trim_delay *d)
{
    free(d->s);
    memset(d, 0, sizeof *d);
}

bool ch_guard_trim_point(ch_guard *g, uint64_t now, stream_id p, stream_id *out)
{
    if (!g->retain_ms) {
        *out = p;
        return true;
    }
    if (trim_delay_push(&g->delay, now, p) != 0)
        return false;
    return g->alive_at >= g->retain_ms && trim_delay_pick(&g->delay, g->alive_at - g->retain_ms, out);
}

/* ---- the check ---- */

static void on_copied(redis_client *c, redisReply *reply, const char *err, void *arg);

/* Copy the next chunk of the recorded range. */
static void copy_next(ch_guard *g)
{
    const char *argv[] = {"EVAL",        ch_guard_copy_script, "2",         g->hash_key,
                          g->stream_key, g->consumer,          COPY_CHUNK,  LOCK_MS,
                          g->start,      START_TOLERANCE_S,    STREAM_F_DUP};
    g->state = G_COPY;
    if (redis_command_argv(g->ctl, on_copied, g, (int)(sizeof argv / sizeof argv[0]), argv, NULL) != 0)
        g->state = G_IDLE;
}

static void on_copied(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    (void)c;
    ch_guard *g = arg;
    g->state = G_IDLE;
    if (g->closed)
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_INTEGER) {
        log_warn("writer: copying stream entries after a ClickHouse restart failed: %s; trying again",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                 : err                                     ? err
                                                           : "unexpected reply");
        return;
    }
    const char *what = reply->element[0]->str;
    uint64_t n = (uint64_t)reply->element[1]->integer;
    g->copied += n;
    metric_add(g->m_copies, (double)n);
    if (strcmp(what, "more") == 0) {
        copy_next(g);
    } else if (strcmp(what, "done") == 0) {
        log_info("writer: ClickHouse restart handled: %" PRIu64 " stream entries copied for checking", g->copied);
        g->copied = 0;
    } else {
        log_warn("writer: the recovery after a ClickHouse restart was interrupted (%s); it goes on at the next check",
                 what);
    }
}

static void on_checked(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    (void)c;
    ch_guard *g = arg;
    g->state = G_IDLE;
    if (g->closed || !reply)
        return;
    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) {
        if (strcmp(reply->str, "ok") == 0)
            g->alive_at = g->asked_at;
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING) {
        if (g->copied == 0) {
            metric_inc(g->m_restarts);
            log_warn("writer: ClickHouse restarted (start time %s s, was %s s): its last inserts may be lost if its "
                     "machine went down; copying the stream's delivered entries so that their batches are checked "
                     "and inserted again if missing",
                     g->start, reply->element[1]->str);
        }
        copy_next(g);
        return;
    }
    log_warn("writer: checking ClickHouse's start time in Redis failed: %s",
             reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
}

/* ClickHouse answered its start time. */
static void on_start_time(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    (void)c;
    ch_guard *g = arg;
    g->state = G_IDLE;
    if (g->closed || (err && err != -EPROTO))
        return; /* unreachable (the writer reports outages): no confirmation, so no trimming, until it answers */
    size_t n = 0;
    while (!err && n < len && n + 1 < sizeof g->start && body[n] >= '0' && body[n] <= '9')
        n++;
    if (n == 0 || n == sizeof g->start - 1) {
        /* Trimming stays stopped while this lasts: say so once, not every second. */
        if (!g->refused)
            log_warn("writer: ClickHouse's start time: unexpected answer (HTTP %ld): %.*s; acknowledged entries "
                     "stay in the stream until it answers",
                     status, body ? (int)(len < 200 ? len : 200) : 0, body ? body : "");
        g->refused = true;
        return;
    }
    if (g->refused)
        log_info("writer: ClickHouse answers its start time again");
    g->refused = false;
    memcpy(g->start, body, n);
    g->start[n] = '\0';
    const char *argv[] = {"EVAL",   ch_guard_check_script, "2",         g->hash_key, g->stream_key,
                          g->start, START_TOLERANCE_S,     g->consumer, LOCK_MS,     g->group};
    g->state = G_CHECK;
    if (!g->ctl || redis_command_argv(g->ctl, on_checked, g, (int)(sizeof argv / sizeof argv[0]), argv, NULL) != 0)
        g->state = G_IDLE;
}

void ch_guard_tick(ch_guard *g, redis_client *ctl, ch_client *ch, uint64_t now)
{
    g->ctl = ctl;
    if (!g->retain_ms || g->closed || g->state != G_IDLE || !ch || !redis_client_connected(ctl))
        return;
    g->asked_at = now;
    g->state = G_ASK;
    if (ch_query(ch, "SELECT toUInt64(now()) - uptime()", on_start_time, g) != 0)
        g->state = G_IDLE;
}

/* ---- lifetime ---- */

ch_guard *ch_guard_new(const ch_guard_config *cfg)
{
    ch_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->retain_ms = cfg->retain_ms;
    g->stream_key = strdup(cfg->stream_key);
    g->group = strdup(cfg->group);
    g->consumer = strdup(cfg->consumer);
    size_t hlen = strlen(cfg->stream_key) + sizeof STREAM_GUARD_SUFFIX;
    g->hash_key = malloc(hlen);
    if (g->hash_key)
        snprintf(g->hash_key, hlen, "%s" STREAM_GUARD_SUFFIX, cfg->stream_key);
    if (!g->stream_key || !g->group || !g->consumer || !g->hash_key) {
        ch_guard_free(g);
        return NULL;
    }
    g->m_copies =
        metrics_counter("mohstats_writer_restart_copies_total",
                        "Stream entries copied for checking after ClickHouse restarted (WRITER_RETAIN_MS)", NULL);
    g->m_restarts =
        metrics_counter("mohstats_writer_clickhouse_restarts_total", "ClickHouse restarts seen by the writer", NULL);
    return g;
}

void ch_guard_close(ch_guard *g)
{
    if (!g || g->closed)
        return;
    g->closed = true;
    g->ctl = NULL;
}

void ch_guard_free(ch_guard *g)
{
    if (!g)
        return;
    trim_delay_free(&g->delay);
    free(g->stream_key);
    free(g->group);
    free(g->consumer);
    free(g->hash_key);
    free(g);
}
