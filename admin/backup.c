/* `mohstats-admin backup DIR` and `restore DIR`: ClickHouse, the event stream's Redis, PostgreSQL and the forum
 * tables mohstats writes, consistent with each other while ingest runs (docs/operations.md, "Back up and
 * restore").
 *
 * What consistent means here: a restore loses nothing ingestd acknowledged before the Redis copy and counts nothing
 * twice. The order makes it so:
 *   1. ClickHouse: a snapshot that no insert straddles (backup_clickhouse.c), preceded by the stream position it
 *      covers: every entry before the writers' oldest unacknowledged one (read just before the round) is in it.
 *   2. Redis, at once (one script, one instant): the stream still holds every entry from that position on, since
 *      the writers keep acknowledged entries WRITER_RETAIN_MS (checked: else the backup fails and says so). Its
 *      consumer groups say what achievd has counted; its keys hold achievd's state and its queued forum writes.
 *   3. MariaDB after Redis: every forum write achievd had made or queued at the Redis copy is in one of the two
 *      (a write made later is made again after the restore: achievd writes are idempotent). PostgreSQL anywhere.
 *   4. ClickHouse's snapshot tables dumped, at leisure.
 * On restore the writers' guard is told ClickHouse is a new incarnation (backup_redis.c), so the first writer
 * re-delivers every delivered entry of the restored stream, each inserted only if ClickHouse lacks its batch
 * (ingestd/ch_guard.c, I4 in ingestd/stream_writer.c); the entries never delivered are inserted as usual, and
 * achievd skips the copies (dup 2). What the API acknowledged after the Redis copy is not in the backup. */
#include "backup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup_clickhouse.h"
#include "backup_redis.h"
#include "backup_sql.h"
#include "config.h"
#include "log.h"
#include "mariadb.h"

#define MANIFEST_MAGIC "mohstats-backup 1"
#define MAX_ROUNDS 100 /* snapshot rounds before giving up: each waits for the gap after an insert */

/* Seconds since t0 (monotonic). */
static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sleep ms milliseconds. */
static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* DIR made (private), or an empty existing one: a backup never mixes with another's files. */
static int backup_dir_make(const char *dir)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/manifest", dir);
    if (errno == EEXIST && access(probe, F_OK) != 0) {
        snprintf(probe, sizeof probe, "%s/clickhouse", dir);
        if (access(probe, F_OK) != 0)
            return 0;
    }
    log_error("cannot make %s: %s", dir,
              errno == EEXIST ? "it holds a backup already; give a new directory" : strerror(errno));
    return -EEXIST;
}

typedef struct {
    const admin_ctx *a;
    const char *group;
    char pos[64];
} position_read;

/* Read the stream position the round about to start covers. */
static int read_position(void *arg)
{
    position_read *p = arg;
    return bk_redis_position(p->a, p->group, p->pos, sizeof p->pos);
}

/* Steps 1 and 2: the ClickHouse snapshot and the Redis copy right after it. */
static int snapshot_and_redis(const admin_ctx *a, const bk_tables *t, const char *dir, FILE *m)
{
    position_read p = {.a = a, .group = config_get("WRITER_GROUP")};
    if (!p.group)
        p.group = "clickhouse";
    bool clean = false;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = bk_ch_snapshot_tables(a, t), round = 0;
    while (!rc && !clean && round < MAX_ROUNDS) {
        if (round++)
            pause_ms(10 + rand() % 40);
        rc = bk_ch_snapshot_round(a, t, read_position, &p, &clean);
        if (!rc && !clean && round % 20 == 0)
            log_info("clickhouse: %d snapshot rounds had an insert or a mutation running; trying on", round);
    }
    const char *pos = p.pos;
    if (!rc && !clean) {
        log_error("ClickHouse had an insert or a mutation running in each of %d snapshot rounds: run the backup again "
                  "when ingest is lighter, or after the mutations end (system.mutations)",
                  round);
        rc = -EAGAIN;
    }
    if (rc)
        return rc;
    log_info("clickhouse: snapshot of %zu tables in %d round(s), %.2f s; stream position %s", t->n, round, since(&t0),
             *pos ? pos : "(none)");
    long long keys = 0, stream_len = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = bk_redis_dump(a, dir, pos, &keys, &stream_len);
    if (!rc)
        log_info("redis: %lld keys copied (the stream: %lld entries), %.2f s", keys, stream_len, since(&t0));
    fprintf(m, "stream=%s\nstream_position=%s\nsnapshot_rounds=%d\nredis_keys=%lld\nstream_length=%lld\n", a->stream,
            pos, round, keys, stream_len);
    return rc;
}

/* `backup DIR`. */
static int backup_run(const admin_ctx *a, const char *dir)
{
    umask(077); /* the dumps hold server tokens and login codes' hashes */
    int rc = backup_dir_make(dir);
    if (rc)
        return rc;
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/manifest", dir);
    snprintf(tmp, sizeof tmp, "%s/manifest.partial", dir);
    FILE *m = fopen(tmp, "w");
    char counts_path[4200];
    snprintf(counts_path, sizeof counts_path, "%s/clickhouse/counts.tsv", dir);
    if (!m) {
        log_error("cannot write %s: %s", tmp, strerror(errno));
        return -errno;
    }
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(m, "%s\ncreated_at=%s\nby=%s\n", MANIFEST_MAGIC, when, a->who);
    struct timespec t0, step;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bk_tables t = {0};
    rc = bk_tables_list(a, &t);
    rc = rc ? rc : snapshot_and_redis(a, &t, dir, m);
    clock_gettime(CLOCK_MONOTONIC, &step);
    rc = rc ? rc : bk_pg_dump(a, dir);
    if (!rc)
        log_info("postgres: dumped, %.2f s", since(&step));
    clock_gettime(CLOCK_MONOTONIC, &step);
    rc = rc ? rc : bk_mdb_dump(a, dir);
    if (!rc)
        log_info("mariadb: dumped, %.2f s", since(&step));
    clock_gettime(CLOCK_MONOTONIC, &step);
    FILE *counts = NULL;
    if (!rc) {
        char cdir[4200];
        snprintf(cdir, sizeof cdir, "%s/clickhouse", dir);
        if (mkdir(cdir, 0700) && errno != EEXIST)
            rc = -errno;
        counts = rc ? NULL : fopen(counts_path, "w");
        rc = rc ? rc : counts ? 0 : -errno;
    }
    rc = rc ? rc : bk_ch_dump(a, &t, dir, counts);
    if (counts && fclose(counts) && !rc)
        rc = -EIO;
    if (!rc)
        log_info("clickhouse: %zu tables dumped, %.2f s", t.n, since(&step));
    int drc = bk_ch_snapshot_drop(a);
    rc = rc ? rc : drc;
    bk_tables_free(&t);
    fprintf(m, "seconds=%.1f\n", since(&t0));
    if (fclose(m) && !rc)
        rc = -EIO;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc) {
        log_error("the backup in %s is incomplete (no manifest): delete it", dir);
        return rc;
    }
    char detail[4400];
    snprintf(detail, sizeof detail, "%s, %.1f s", dir, since(&t0));
    admin_record(a, "backup", detail);
    return 0;
}

/* The value of key in the manifest text m, copied into out ("" if absent). */
static void manifest_get(const char *m, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *line = m; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (!strncmp(line, key, klen) && line[klen] == '=') {
            const char *end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line - klen - 1) : strlen(line + klen + 1);
            snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), line + klen + 1);
            return;
        }
    }
}

/* `restore DIR`. */
static int restore_run(const admin_ctx *a, const char *dir)
{
    char path[4200], m[8192] = "", value[512];
    snprintf(path, sizeof path, "%s/manifest", dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(m, 1, sizeof m - 1, f) : 0;
    if (f)
        fclose(f);
    m[n] = '\0';
    if (strncmp(m, MANIFEST_MAGIC "\n", strlen(MANIFEST_MAGIC) + 1)) {
        log_error("%s is missing or not a backup's manifest: a backup without one did not finish", path);
        return -ENOENT;
    }
    manifest_get(m, "stream", value, sizeof value);
    if (strcmp(value, a->stream)) {
        log_error("the backup is of stream %s, this stack's INGEST_STREAM is %s", value, a->stream);
        return -EINVAL;
    }
    /* Every store checked before any is changed: a refusal (a store not fresh, one that does not answer, a file of
     * the backup missing or damaged) leaves the stack as it was, not half-restored. */
    int rc = bk_ch_restore_check(a, dir);
    rc = rc ? rc : bk_redis_restore_check(a, dir);
    rc = rc ? rc : bk_pg_restore_check(a, dir);
    rc = rc ? rc : bk_mdb_restore_check(a, dir);
    if (rc) {
        log_error("nothing restored: this stack or the backup is not fit for it (above)");
        return rc;
    }
    manifest_get(m, "created_at", value, sizeof value);
    char question[700];
    snprintf(question, sizeof question,
             "Restore the backup of %s onto this stack? Its PostgreSQL database and forum tables are replaced.", value);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        return -ECANCELED;
    }
    struct timespec t0, step;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    step = t0;
    rc = bk_ch_restore(a, dir);
    if (!rc)
        log_info("clickhouse: restored, %.2f s", since(&step));
    manifest_get(m, "redis_keys", value, sizeof value);
    clock_gettime(CLOCK_MONOTONIC, &step);
    rc = rc ? rc : bk_redis_restore(a, dir, atoll(value));
    if (!rc)
        log_info("redis: %s keys restored, %.2f s", value, since(&step));
    clock_gettime(CLOCK_MONOTONIC, &step);
    rc = rc ? rc : bk_pg_restore(a, dir);
    if (!rc)
        log_info("postgres: restored, %.2f s", since(&step));
    clock_gettime(CLOCK_MONOTONIC, &step);
    rc = rc ? rc : bk_mdb_restore(a, dir);
    if (!rc)
        log_info("mariadb: restored, %.2f s", since(&step));
    if (rc) {
        log_error("the restore failed (above); if it had begun to load, start again on a new fresh stack");
        return rc;
    }
    char detail[4400];
    snprintf(detail, sizeof detail, "%s, %.1f s", dir, since(&t0));
    admin_record(a, "restore", detail);
    log_info("restored in %.1f s; now start the daemons (scripts/stack.sh up DIR): the writers insert what the "
             "ClickHouse snapshot lacks from the stream",
             since(&t0));
    return 0;
}

int backup_command(const admin_ctx *a, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: mohstats-admin %s DIR\n", argv[0]);
        return 2;
    }
    if (!a->redis_url || !*a->redis_url || !a->stream) {
        fprintf(stderr, "mohstats-admin: set REDIS_URL (e.g. source the stack's stack.env)\n");
        return 2;
    }
    char prefix[64];
    if (mdb_smf_prefix(prefix, sizeof prefix))
        return 2;
    admin_ctx ctx = *a;
    ctx.smf_prefix = prefix;
    int rc = strcmp(argv[0], "backup") ? restore_run(&ctx, argv[1]) : backup_run(&ctx, argv[1]);
    return rc ? 1 : 0;
}
