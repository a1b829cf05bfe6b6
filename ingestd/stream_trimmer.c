/* Trimming the ingest stream, its metrics, and the consumer sweep: the stream writer's periodic upkeep of the stream
 * itself, apart from the entries it inserts.
 *
 * Every tick one run asks XLEN (the stream length gauge), XINFO GROUPS (per-group gauges) and the oldest pending
 * entry of each group that holds back trimming (WRITER_GROUP and STREAM_GROUPS), then trims to the oldest entry one
 * of them still needs, as it stood WRITER_RETAIN_MS ago (ch_guard.c). A group more than STREAM_MAX_BACKLOG behind
 * stops holding the stream back; its name is recorded in <stream>STREAM_RELEASED_SUFFIX with the trim, in one script
 * (stream_entry.h). Trimming never removes a pending entry of a holding group, so the writer's I1 holds (an entry
 * not acknowledged is still there to be inserted).
 *
 * Writers that die leave their consumer behind in the group; once a minute the sweep deletes consumers with nothing
 * pending that have been idle for an hour. */
#include "stream_trimmer.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "metrics.h"
#include "stream_entry.h"

#define CONSUMER_SWEEP_MS 60000
#define CONSUMER_IDLE_DELETE_MS (3600 * 1000) /* consumers with nothing pending and idle this long are deleted */

/* What the trimmer collects in one run. */
typedef struct {
    bool busy;
    bool failed;
    uint64_t xlen;
    stream_group_state *groups;
    bool *awaiting; /* an XPENDING summary was asked for this group */
    char **names;
    size_t ngroups;
    size_t xpending_wait;
} trim_run;

struct stream_trimmer {
    uv_loop_t *loop;
    const char *stream_key, *group, *consumer, *stream_groups, *released_key; /* the writer's */
    uint64_t max_backlog;
    ch_guard *guard;
    redis_client *ctl; /* the writer's control connection, as of the last tick */
    bool closed;
    trim_run trim;
    uint64_t last_sweep_ms;
    metric *m_trimmed, *m_xlen;
};

/* Whether name is in the comma-separated list (spaces around names are ignored). */
static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p + strcspn(p, ",");
        const char *e = end;
        while (e > p && e[-1] == ' ')
            e--;
        if ((size_t)(e - p) == n && n && memcmp(p, name, n) == 0)
            return true;
        p = end;
    }
    return false;
}

int stream_trim_point(const stream_group_state *groups, size_t n, const char *hold_groups, const char *writer_group,
                      uint64_t max_backlog, uint64_t stream_len, stream_id *minid, char *released, size_t released_len)
{
    bool found = false;
    stream_id best = {UINT64_MAX, UINT64_MAX};
    if (released_len)
        released[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const stream_group_state *g = &groups[i];
        bool is_writer = strcmp(g->name, writer_group) == 0;
        if (!is_writer && !list_has(hold_groups, g->name))
            continue;
        /* Everything the group still needs is in the stream, so its backlog is at most the stream's length;
         * Redis 7.0's lag can be far too high after a restart (entries-read lags behind), never trust it alone. */
        uint64_t backlog = g->lag_known && g->pending + g->lag < stream_len ? g->pending + g->lag : stream_len;
        if (!is_writer && backlog > max_backlog) {
            size_t used = strlen(released);
            if (used + 1 < released_len)
                snprintf(released + used, released_len - used, "%s%s", used ? "," : "", g->name);
            continue;
        }
        /* The oldest pending entry is still needed; with nothing pending, everything after last-delivered is.
         * Both only grow (acks remove the oldest, deliveries go forward), so a value read a moment ago is safe
         * to trim to now. */
        stream_id need = g->oldest_pending;
        if (g->pending == 0) {
            need = g->last_delivered;
            if (need.seq == UINT64_MAX)
                need.ms++, need.seq = 0;
            else
                need.seq++;
        }
        if (!found || stream_id_cmp(need, best) < 0)
            best = need;
        found = true;
    }
    if (!found)
        return -ENOENT;
    *minid = best;
    return 0;
}

/* A label value safe to put between quotes. */
static void label_value(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++)
        out[i] = isalnum((unsigned char)s[i]) || strchr("_-:.", s[i]) ? s[i] : '_';
    out[i] = '\0';
}

static void trim_done(stream_trimmer *tr);

/* XTRIM MINID ARGV[1], first raising KEYS[2][group] to ARGV[1] for each released group ARGV[2..]. Stream ids are
 * compared as (ms, seq) numbers: exact below 2^53, which ids of real time are. */
static const char trim_released_script[] =
    "local function id(s) local ms, seq = string.match(s, '^(%d+)-(%d+)$') return tonumber(ms), tonumber(seq) end\n"
    "local nm, ns = id(ARGV[1])\n"
    "for i = 2, #ARGV do\n"
    "  local cur = redis.call('HGET', KEYS[2], ARGV[i])\n"
    "  local cm, cs = 0, 0\n"
    "  if cur then cm, cs = id(cur) end\n"
    "  if cm < nm or (cm == nm and cs < ns) then redis.call('HSET', KEYS[2], ARGV[i], ARGV[1]) end\n"
    "end\n"
    "return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])\n";

/* Free what one trim run collected. */
static void trim_reset(trim_run *t)
{
    for (size_t i = 0; i < t->ngroups; i++)
        free(t->names[i]);
    free(t->names);
    free(t->groups);
    free(t->awaiting);
    memset(t, 0, sizeof *t);
}

/* Set a per-group gauge. */
static void group_gauge(const char *name, const char *help, const char *group, double v)
{
    char lv[128], labels[160];
    label_value(group, lv, sizeof lv);
    snprintf(labels, sizeof labels, "group=\"%s\"", lv);
    metric_set(metrics_gauge(name, help, labels), v);
}

/* XTRIM answered. */
static void on_trimmed(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_trimmer *tr = arg;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        metric_add(tr->m_trimmed, (double)reply->integer);
    else if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("writer: XTRIM on %s failed: %s", tr->stream_key, reply->str);
    trim_reset(&tr->trim);
}

/* Everything is known: trim to the oldest entry a holding group still needed WRITER_RETAIN_MS ago (ch_guard.c). */
static void trim_done(stream_trimmer *tr)
{
    trim_run *t = &tr->trim;
    stream_id now_point, minid;
    char released[256];
    if (tr->closed ||
        stream_trim_point(t->groups, t->ngroups, tr->stream_groups, tr->group, tr->max_backlog, t->xlen, &now_point,
                          released, sizeof released) != 0 ||
        !ch_guard_trim_point(tr->guard, uv_now(tr->loop), now_point, &minid)) {
        trim_reset(t);
        return;
    }
    if (released[0])
        log_warn("writer: consumer group(s) %s of %s are more than STREAM_MAX_BACKLOG=%" PRIu64
                 " entries behind; trimming the stream without waiting for them (recorded in %s: achievd catches up "
                 "from ClickHouse, other consumers miss those entries)",
                 released, tr->stream_key, tr->max_backlog, tr->released_key);
    char id[44];
    stream_id_format(minid, id, sizeof id);
    if (!released[0]) {
        const char *argv[] = {"XTRIM", tr->stream_key, "MINID", id};
        if (redis_command_argv(tr->ctl, on_trimmed, tr, 4, argv, NULL) != 0)
            trim_reset(t);
        return;
    }
    /* Trimming past groups: record it for them with the trim, in one script (stream_entry.h). */
    const char *argv[4 + 2 + 1 + 16];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = trim_released_script;
    argv[argc++] = "2";
    argv[argc++] = tr->stream_key;
    argv[argc++] = tr->released_key;
    argv[argc++] = id;
    char *save = NULL;
    for (char *g = strtok_r(released, ",", &save); g && argc < (int)(sizeof argv / sizeof *argv);
         g = strtok_r(NULL, ",", &save))
        argv[argc++] = g;
    if (redis_command_argv(tr->ctl, on_trimmed, tr, argc, argv, NULL) != 0)
        trim_reset(t);
}

/* XPENDING summary of one holding group: its oldest pending entry. */
static void on_group_pending(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_trimmer *tr = arg;
    trim_run *t = &tr->trim;
    const redisReply *r = stream_reply_array(reply, 4);
    /* Replies come back in the order the summaries were asked for. */
    for (size_t i = 0; i < t->ngroups; i++) {
        if (!t->awaiting[i])
            continue;
        t->awaiting[i] = false;
        stream_group_state *g = &t->groups[i];
        stream_id oldest;
        if (r && stream_reply_id(r->element[1], &oldest))
            g->oldest_pending = oldest;
        else if (r && stream_reply_u64(r->element[0]) == 0)
            g->pending = 0; /* all acknowledged meanwhile: last-delivered applies */
        else
            t->failed = true;
        break;
    }
    if (--t->xpending_wait > 0)
        return;
    if (t->failed)
        trim_reset(t);
    else
        trim_done(tr);
}

/* XINFO GROUPS answered: metrics for every group, then the oldest pending entry of each holding group. */
static void on_groups(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_trimmer *tr = arg;
    trim_run *t = &tr->trim;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "no such key"))
            log_warn("writer: XINFO GROUPS on %s failed: %s", tr->stream_key, reply->str);
        trim_reset(t);
        return;
    }
    t->groups = calloc(reply->elements ? reply->elements : 1, sizeof *t->groups);
    t->names = calloc(reply->elements ? reply->elements : 1, sizeof *t->names);
    t->awaiting = calloc(reply->elements ? reply->elements : 1, sizeof *t->awaiting);
    if (!t->groups || !t->names || !t->awaiting) {
        trim_reset(t);
        return;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *g = reply->element[i];
        if (!g || g->type != REDIS_REPLY_ARRAY)
            continue;
        stream_group_state s = {.pending = 0};
        char *name = NULL;
        for (size_t k = 0; k + 1 < g->elements; k += 2) {
            const redisReply *key = g->element[k], *v = g->element[k + 1];
            if (key->type != REDIS_REPLY_STRING && key->type != REDIS_REPLY_STATUS)
                continue;
            if (strcmp(key->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
                name = strndup(v->str, v->len);
            else if (strcmp(key->str, "pending") == 0)
                s.pending = stream_reply_u64(v);
            else if (strcmp(key->str, "last-delivered-id") == 0)
                stream_reply_id(v, &s.last_delivered);
            else if (strcmp(key->str, "lag") == 0 && v->type == REDIS_REPLY_INTEGER) {
                s.lag_known = true;
                s.lag = stream_reply_u64(v);
            }
        }
        if (!name)
            continue;
        group_gauge("mohstats_stream_group_pending", "Entries delivered to a consumer group and not acknowledged yet",
                    name, (double)s.pending);
        if (s.lag_known)
            group_gauge("mohstats_stream_group_lag", "Entries of the stream not yet delivered to a consumer group",
                        name, (double)s.lag);
        s.name = name;
        t->names[t->ngroups] = name;
        t->groups[t->ngroups++] = s;
    }
    /* The oldest pending entry of each group that holds back trimming. */
    for (size_t i = 0; i < t->ngroups; i++) {
        stream_group_state *g = &t->groups[i];
        bool holds = strcmp(g->name, tr->group) == 0 || list_has(tr->stream_groups, g->name);
        if (!holds || g->pending == 0)
            continue;
        const char *argv[] = {"XPENDING", tr->stream_key, g->name};
        if (redis_command_argv(tr->ctl, on_group_pending, tr, 3, argv, NULL) != 0) {
            /* Nothing was sent for this one; replies of those sent still come and count down. */
            t->failed = true;
            break;
        }
        t->awaiting[i] = true;
        t->xpending_wait++;
    }
    if (t->xpending_wait == 0) {
        if (t->failed)
            trim_reset(t);
        else
            trim_done(tr);
    }
}

/* XLEN answered: the stream length gauge, then the groups. */
static void on_xlen(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_trimmer *tr = arg;
    if (!reply || reply->type != REDIS_REPLY_INTEGER || tr->closed) {
        trim_reset(&tr->trim);
        return;
    }
    tr->trim.xlen = stream_reply_u64(reply);
    metric_set(tr->m_xlen, (double)tr->trim.xlen);
    const char *argv[] = {"XINFO", "GROUPS", tr->stream_key};
    if (redis_command_argv(tr->ctl, on_groups, tr, 3, argv, NULL) != 0)
        trim_reset(&tr->trim);
}

/* Start one trim + metrics run (skipped if the previous one is still going). */
static void trim_start(stream_trimmer *tr)
{
    if (tr->trim.busy || !redis_client_connected(tr->ctl))
        return;
    const char *argv[] = {"XLEN", tr->stream_key};
    if (redis_command_argv(tr->ctl, on_xlen, tr, 2, argv, NULL) == 0)
        tr->trim.busy = true;
}

/* XINFO CONSUMERS answered: delete consumers with nothing pending that have not been seen for an hour. */
static void on_consumers(redis_client *c, redisReply *reply, const char *err, void *arg)
{
    stream_trimmer *tr = arg;
    if (tr->closed || !reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *cr = reply->element[i];
        if (!cr || cr->type != REDIS_REPLY_ARRAY)
            continue;
        const char *name = NULL;
        uint64_t pending = 1, idle = 0;
        for (size_t k = 0; k + 1 < cr->elements; k += 2) {
            const redisReply *key = cr->element[k], *v = cr->element[k + 1];
            if (key->type != REDIS_REPLY_STRING && key->type != REDIS_REPLY_STATUS)
                continue;
            if (strcmp(key->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
                name = v->str;
            else if (strcmp(key->str, "pending") == 0)
                pending = stream_reply_u64(v);
            else if (strcmp(key->str, "idle") == 0)
                idle = stream_reply_u64(v);
        }
        /* Nothing pending means nothing to lose: a live consumer deleted by mistake is re-created on its next
         * read. */
        if (name && pending == 0 && idle > CONSUMER_IDLE_DELETE_MS && strcmp(name, tr->consumer) != 0) {
            const char *argv[] = {"XGROUP", "DELCONSUMER", tr->stream_key, tr->group, name};
            redis_command_argv(tr->ctl, NULL, NULL, 5, argv, NULL);
            log_info("writer: removed consumer %s of group %s (idle for %" PRIu64 " s, nothing pending)", name,
                     tr->group, idle / 1000);
        }
    }
}

stream_trimmer *stream_trimmer_new(uv_loop_t *loop, const stream_trimmer_config *cfg, ch_guard *guard)
{
    stream_trimmer *tr = calloc(1, sizeof *tr);
    if (!tr)
        return NULL;
    tr->loop = loop;
    tr->stream_key = cfg->stream_key;
    tr->group = cfg->group;
    tr->consumer = cfg->consumer;
    tr->stream_groups = cfg->stream_groups;
    tr->released_key = cfg->released_key;
    tr->max_backlog = cfg->max_backlog;
    tr->guard = guard;
    tr->m_trimmed = metrics_counter("mohstats_stream_trimmed_total", "Stream entries removed by trimming", NULL);
    tr->m_xlen = metrics_gauge("mohstats_stream_length", "Entries in the ingest stream (XLEN)", NULL);
    return tr;
}

void stream_trimmer_tick(stream_trimmer *tr, redis_client *ctl, uint64_t now)
{
    if (tr->closed)
        return;
    tr->ctl = ctl;
    trim_start(tr);
    if (now - tr->last_sweep_ms >= CONSUMER_SWEEP_MS && redis_client_connected(ctl)) {
        tr->last_sweep_ms = now;
        const char *argv[] = {"XINFO", "CONSUMERS", tr->stream_key, tr->group};
        redis_command_argv(ctl, on_consumers, tr, 4, argv, NULL);
    }
}

void stream_trimmer_close(stream_trimmer *tr)
{
    tr->closed = true;
}

void stream_trimmer_free(stream_trimmer *tr)
{
    if (!tr)
        return;
    trim_reset(&tr->trim);
    free(tr);
}
