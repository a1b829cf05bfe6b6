/* `mohstats-admin dead`: the dead-letter stream, <INGEST_STREAM>:dead. ingestd's writer moves there each stream
 * entry ClickHouse refused (a malformed row, a value a column cannot take), with its batch id, rows and
 * ClickHouse's answer (ingestd/stream_writer.c, writer_ack_start), and nothing trims it.
 *
 *   dead [list [N]]        the first N entries (default 20): id, batch, events, why refused
 *   dead show ID           an entry's rows (raw_events TSV, as the stream carries them)
 *   dead replay ID...|--all  put entries back into the event stream, after the cause was fixed
 *   dead trim --days D     delete the entries older than D days (0: all of them)
 *
 * Replay: one Lua script per entry adds it to INGEST_STREAM and deletes it from the dead-letter stream, so an
 * entry is in exactly one of the two whatever happens to the tool. It goes in as a copy (STREAM_DUP_COPY,
 * stream_entry.h): the writers insert it like any entry (ClickHouse refused it, so none of its rows is stored);
 * achievd, which counted the batch when it first came, skips copies. Refused again, it comes back here under a
 * new id. */
#include "dead_letter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis_admin.h"
#include "stream_entry.h"

/* KEYS: the dead-letter stream, the event stream; ARGV: the entry's id. 1 replayed, 0 not there, -1 malformed
 * (no batch id, count or rows: the writer would refuse it again). srv is the server_id of its first row. */
static const char replay_script[] =
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "if #e == 0 then return 0 end\n"
    "local m = {}\n"
    "for i = 1, #e[1][2], 2 do m[e[1][2][i]] = e[1][2][i + 1] end\n"
    "local bid, n, rows = m['" STREAM_F_BATCH "'], m['" STREAM_F_COUNT "'], m['" STREAM_F_ROWS "']\n"
    "if not bid or bid == '' or not n or not rows then return -1 end\n"
    "local srv = string.match(rows, '^[^\\t]*\\t[^\\t]*\\t([^\\t\\n]*)') or ''\n"
    "redis.call('XADD', KEYS[2], '*', '" STREAM_F_BATCH "', bid, '" STREAM_F_SERVER "', srv, '" STREAM_F_COUNT
    "', n, '" STREAM_F_ROWS "', rows, '" STREAM_F_DUP "', '" STREAM_DUP_COPY "')\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return 1\n";

static int usage(void)
{
    fprintf(stderr, "usage: mohstats-admin dead [list [N]] | show ID | replay ID...|--all | trim --days D\n");
    return 2;
}

/* An entry's field, or NULL. */
static const redisReply *field(const redisReply *entry, const char *name)
{
    const redisReply *f = entry->elements == 2 ? entry->element[1] : NULL;
    for (size_t i = 0; f && i + 1 < f->elements; i += 2)
        if (f->element[i]->str && !strcmp(f->element[i]->str, name))
            return f->element[i + 1];
    return NULL;
}

/* XRANGE key from + COUNT n; NULL with the reason logged. */
static redisReply *range(redisContext *c, const char *key, const char *from, long n)
{
    char count[24];
    snprintf(count, sizeof count, "%ld", n);
    const char *argv[] = {"XRANGE", key, from, "+", "COUNT", count};
    redisReply *r = redisCommandArgv(c, 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        log_error("Redis: XRANGE %s failed: %s", key, r && r->str ? r->str : c->errstr);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* `dead list [N]`. */
static int dead_list(redisContext *c, const char *key, long n)
{
    redisReply *len = redisCommand(c, "XLEN %s", key);
    printf("%s: %lld entries\n", key, len && len->type == REDIS_REPLY_INTEGER ? len->integer : 0LL);
    freeReplyObject(len);
    redisReply *r = range(c, key, "-", n);
    if (!r)
        return -EIO;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *bid = field(e, STREAM_F_BATCH), *cnt = field(e, STREAM_F_COUNT),
                         *err = field(e, "err");
        printf("%s  batch %s  %s events  %.160s\n", e->element[0]->str, bid && bid->str ? bid->str : "-",
               cnt && cnt->str ? cnt->str : "?", err && err->str ? err->str : "");
    }
    freeReplyObject(r);
    return 0;
}

/* `dead show ID`. */
static int dead_show(redisContext *c, const char *key, const char *id)
{
    const char *argv[] = {"XRANGE", key, id, id};
    redisReply *r = redisCommandArgv(c, 4, argv, NULL);
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
        log_error("%s has no entry %s (`mohstats-admin dead list` shows them)", key, id);
        rc = -ENOENT;
    } else {
        const redisReply *rows = field(r->element[0], STREAM_F_ROWS), *err = field(r->element[0], "err");
        printf("# refused: %s\n", err && err->str ? err->str : "-");
        fwrite(rows && rows->str ? rows->str : "", 1, rows ? rows->len : 0, stdout);
    }
    freeReplyObject(r);
    return rc;
}

/* Replay one entry; *done counts those replayed. */
static int replay_one(const admin_ctx *a, redisContext *c, const char *key, const char *id, long *done)
{
    const char *argv[] = {"EVAL", replay_script, "2", key, a->stream, id};
    redisReply *r = redisCommandArgv(c, 6, argv, NULL);
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        log_error("Redis: replaying %s failed: %s", id, r && r->str ? r->str : c->errstr);
        rc = -EIO;
    } else if (r->integer == 0) {
        log_warn("%s has no entry %s: skipped", key, id);
    } else if (r->integer < 0) {
        log_warn("%s %s has no batch id, count or rows: not replayed (the writer would refuse it again); trim it", key,
                 id);
    } else {
        ++*done;
    }
    freeReplyObject(r);
    return rc;
}

/* `dead replay ID...|--all`. */
static int dead_replay(const admin_ctx *a, redisContext *c, const char *key, int argc, char **argv)
{
    bool all = argc == 1 && !strcmp(argv[0], "--all");
    char question[768];
    snprintf(question, sizeof question, "Put %s%s back into %s (after fixing why ClickHouse refused them)?",
             all ? "every entry of " : "entries of ", key, a->stream);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        return -ECANCELED;
    }
    long done = 0;
    int rc = 0;
    if (all) {
        /* From the first entry on, a page at a time; each replayed entry leaves the stream, a skipped one
         * (malformed) stays, so the next page starts after the last id seen. */
        char from[64] = "-";
        for (;;) {
            redisReply *r = range(c, key, from, 100);
            if (!r)
                return -EIO;
            size_t n = r->elements;
            for (size_t i = 0; i < n && !rc; i++)
                rc = replay_one(a, c, key, r->element[i]->element[0]->str, &done);
            if (n)
                snprintf(from, sizeof from, "(%s", r->element[n - 1]->element[0]->str);
            freeReplyObject(r);
            if (rc || n < 100)
                break;
        }
    } else {
        for (int i = 0; i < argc && !rc; i++)
            rc = replay_one(a, c, key, argv[i], &done);
    }
    char detail[768];
    snprintf(detail, sizeof detail, "%ld entries of %s put back into %s", done, key, a->stream);
    int lrc = admin_record(a, "dead-replay", detail);
    return rc ? rc : lrc;
}

/* `dead trim --days D`. */
static int dead_trim(const admin_ctx *a, redisContext *c, const char *key, long days)
{
    char question[768], minid[32];
    if (days)
        snprintf(question, sizeof question, "Delete the entries of %s older than %ld days for good?", key, days);
    else
        snprintf(question, sizeof question, "Delete every entry of %s for good?", key);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        return -ECANCELED;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long cut_ms = days ? ((long long)now.tv_sec - days * 86400LL) * 1000 : (long long)now.tv_sec * 1000 + 1000;
    snprintf(minid, sizeof minid, "%lld", cut_ms);
    long long n = 0;
    int rc = admin_redis_do(c, &n, "XTRIM %s MINID %s", key, minid);
    if (rc)
        return rc;
    char detail[768];
    snprintf(detail, sizeof detail, "%lld entries of %s older than %ld days deleted", n, key, days);
    return admin_record(a, "dead-trim", detail);
}

/* A count argument, or -1. */
static long count_arg(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 0 && v <= 100000 ? v : -1;
}

int dead_letter_run(const admin_ctx *a, int argc, char **argv)
{
    char key[300];
    snprintf(key, sizeof key, "%s" STREAM_DEAD_SUFFIX, a->stream);
    const char *sub = argc > 1 ? argv[1] : "list";
    long n = 20;
    if (!strcmp(sub, "list") && argc == 3)
        n = count_arg(argv[2]);
    bool ok = (!strcmp(sub, "list") && argc <= 3 && n > 0) || (!strcmp(sub, "show") && argc == 3) ||
              (!strcmp(sub, "replay") && argc >= 3) ||
              (!strcmp(sub, "trim") && argc == 4 && !strcmp(argv[2], "--days") && count_arg(argv[3]) >= 0);
    if (!ok)
        return usage();
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c)
        return 1;
    int rc;
    if (!strcmp(sub, "list"))
        rc = dead_list(c, key, n);
    else if (!strcmp(sub, "show"))
        rc = dead_show(c, key, argv[2]);
    else if (!strcmp(sub, "replay"))
        rc = dead_replay(a, c, key, argc - 2, argv + 2);
    else
        rc = dead_trim(a, c, key, count_arg(argv[3]));
    redisFree(c);
    return rc ? 1 : 0;
}
