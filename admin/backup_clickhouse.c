/* ClickHouse's part of a backup: a snapshot no insert straddles, dumped in the Native format, loaded onto a fresh
 * stack.
 *
 * Why a round and not one statement: a batch of the writers is one INSERT into raw_events that ClickHouse then
 * pushes into every materialized view's table, part by part; 18.16 has no BACKUP and no statement that copies
 * several tables at one instant. The snapshot copies each partition of each table into admin_backup_<table> with
 * REPLACE PARTITION ... FROM (hard links, no data copied, on 18.16 and current releases alike). Around it, the
 * round reads each table's highest block number (every insert makes a part with a new one, a merge or a mutation
 * keeps them), the INSERTs running (system.processes) and the mutations not done. The round is clean when nothing
 * ran before its first statement nor after its last and no block number moved: then no insert wrote a part while
 * the round copied, and every batch is in every table of the snapshot or in none (views included). The dumps are
 * read from the snapshot tables afterwards, at leisure, while the writers go on.
 *
 * Restore: the views' tables come from the backup, so the views are detached while raw_events is loaded (an insert
 * into it would run them and count every event twice) and attached again at the end. */
#include "backup_clickhouse.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "clickhouse.h"
#include "log.h"

#define SNAP_PREFIX "admin_backup_"

/* The scratch tables of rebuild (rebuild.c): data of a run, not of the system. */
static const char *const scratch_tables[] = {"admin_raw_snap", "admin_stage", "admin_raw_delta", NULL};

/* True if s is a name we may paste into a statement (ClickHouse gave it; we check anyway). */
static bool plain_name(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* True if s is a partition expression as system.parts prints it for our tables (202612, tuple(), '...'). */
static bool plain_partition(const char *s)
{
    if (!*s || strlen(s) > 200)
        return false;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'(), .:", *s))
            return false;
    return true;
}

void bk_tables_free(bk_tables *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    t->names = NULL;
    t->n = 0;
}

int bk_tables_list(const admin_ctx *a, bk_tables *t)
{
    char *out = NULL;
    int rc = admin_ch(a,
                      "SELECT name FROM system.tables\n"
                      "WHERE database = currentDatabase() AND engine LIKE '%MergeTree'\n"
                      "  AND name != 'schema_migrations' AND NOT startsWith(name, '" SNAP_PREFIX "')\n"
                      "ORDER BY name FORMAT TSV",
                      &out);
    t->names = NULL;
    t->n = 0;
    char *save = NULL;
    for (char *line = rc ? NULL : strtok_r(out, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        bool scratch = false;
        for (size_t i = 0; scratch_tables[i]; i++)
            scratch = scratch || !strcmp(line, scratch_tables[i]);
        if (scratch)
            continue;
        if (!plain_name(line)) {
            log_error("ClickHouse lists a table named '%s', which the backup cannot name safely", line);
            rc = -EINVAL;
            break;
        }
        char **grown = realloc(t->names, (t->n + 1) * sizeof *grown);
        if (!grown) {
            rc = -ENOMEM;
            break;
        }
        t->names = grown;
        if (!(t->names[t->n] = strdup(line))) {
            rc = -ENOMEM;
            break;
        }
        t->n++;
    }
    free(out);
    if (!rc && t->n == 0) {
        log_error("ClickHouse's database holds no table to back up: is CLICKHOUSE_URL the stack's?");
        rc = -ENOENT;
    }
    if (rc)
        bk_tables_free(t);
    return rc;
}

/* The state the round compares: INSERTs running, mutations not done, and each table's highest block number. */
static int activity_mark(const admin_ctx *a, char **mark)
{
    return admin_ch(a,
                    "SELECT\n"
                    "  (SELECT count() FROM system.processes WHERE positionCaseInsensitive(query, 'INSERT') > 0\n"
                    "     AND positionCaseInsensitive(query, 'system.processes') = 0),\n"
                    "  (SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0),\n"
                    "  (SELECT arrayStringConcat(groupArray(concat(table, ':', toString(b))), ',') FROM\n"
                    "     (SELECT table, max(max_block_number) AS b FROM system.parts\n"
                    "      WHERE database = currentDatabase() AND active AND NOT startsWith(table, '" SNAP_PREFIX "')\n"
                    "      GROUP BY table ORDER BY table))\n"
                    "FORMAT TSV",
                    mark);
}

/* True if a mark says nothing was running (its first two numbers are 0). */
static bool mark_quiet(const char *mark)
{
    return mark && !strncmp(mark, "0\t0\t", 4);
}

int bk_ch_snapshot_drop(const admin_ctx *a)
{
    char *out = NULL;
    int rc = admin_ch(a,
                      "SELECT name FROM system.tables WHERE database = currentDatabase()\n"
                      "  AND startsWith(name, '" SNAP_PREFIX "') FORMAT TSV",
                      &out);
    char *save = NULL;
    for (char *line = rc ? NULL : strtok_r(out, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save))
        if (plain_name(line))
            rc = admin_chf(a, "DROP TABLE IF EXISTS %s", line);
    free(out);
    return rc;
}

int bk_ch_snapshot_tables(const admin_ctx *a, const bk_tables *t)
{
    int rc = bk_ch_snapshot_drop(a);
    for (size_t i = 0; i < t->n && !rc; i++)
        rc = admin_chf(a, "CREATE TABLE " SNAP_PREFIX "%s AS %s", t->names[i], t->names[i]);
    return rc;
}

typedef struct {
    int err;
    size_t pending;
} parallel_state;

/* One statement of run_parallel answered. */
static void on_parallel(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    parallel_state *st = arg;
    (void)status;
    if (err) {
        log_error("ClickHouse refused a copy of the snapshot (%d): %.*s", err, (int)(len < 300 ? len : 300), body);
        st->err = st->err ? st->err : err;
    }
    st->pending--;
    ch_client_free(c);
}

/* Run the n statements at once, each on a connection of its own: the round's copies take the time of the slowest,
 * not the sum, which keeps the window an insert must not fall into short. */
static int run_parallel(const admin_ctx *a, char **sqls, size_t n)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop))
        return -ENOMEM;
    parallel_state st = {0};
    for (size_t i = 0; i < n && !st.err; i++) {
        ch_client *c = ch_client_new(&loop, a->clickhouse_url, a->timeout_ms);
        int rc = c ? ch_query(c, sqls[i], on_parallel, &st) : -ENOMEM;
        if (rc) {
            st.err = rc;
            ch_client_free(c);
        } else {
            st.pending++;
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return st.err;
}

/* Wait for the moment an insert has just ended, or for a second and a half without one: the writers insert at most
 * once per WRITER_FLUSH_MS (1 s), so the round that starts then has most of a second to itself. */
static int wait_for_gap(const admin_ctx *a)
{
    bool seen = false;
    for (int i = 0; i < 150; i++) {
        long long running = 0;
        int rc =
            admin_ch_count(a, &running,
                           "SELECT count() FROM system.processes WHERE positionCaseInsensitive(query, 'INSERT') > 0\n"
                           "  AND positionCaseInsensitive(query, 'system.processes') = 0");
        if (rc)
            return rc;
        if (running)
            seen = true;
        else if (seen)
            return 0;
        struct timespec ts = {.tv_nsec = 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The copy statements for every partition of the tables t names, as system.parts lists them now: into *sqls, *n. */
static int partition_copies(const admin_ctx *a, const bk_tables *t, char ***sqls, size_t *n)
{
    char *parts = NULL;
    int rc = admin_ch(a,
                      "SELECT DISTINCT table, partition FROM system.parts\n"
                      "WHERE database = currentDatabase() AND active AND NOT startsWith(table, '" SNAP_PREFIX "')\n"
                      "FORMAT TSVRaw",
                      &parts);
    char *save = NULL;
    for (char *line = rc ? NULL : strtok_r(parts, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        bool ours = false;
        for (size_t i = 0; i < t->n && !ours; i++)
            ours = !strcmp(line, t->names[i]);
        if (!ours)
            continue;
        if (!plain_partition(tab + 1)) {
            log_error("table %s has a partition ClickHouse prints as %s, which the backup cannot name safely", line,
                      tab + 1);
            rc = -EINVAL;
            break;
        }
        char **grown = realloc(*sqls, (*n + 1) * sizeof *grown);
        if (!grown || asprintf(&grown[*n], "ALTER TABLE " SNAP_PREFIX "%s REPLACE PARTITION %s FROM %s", line, tab + 1,
                               line) < 0) {
            *sqls = grown ? grown : *sqls;
            rc = -ENOMEM;
            break;
        }
        *sqls = grown;
        (*n)++;
    }
    free(parts);
    return rc;
}

int bk_ch_snapshot_round(const admin_ctx *a, const bk_tables *t, int (*at_start)(void *), void *arg, bool *clean)
{
    *clean = false;
    char *before = NULL, *after = NULL, **sqls = NULL;
    size_t n = 0;
    int rc = wait_for_gap(a);
    rc = rc ? rc : at_start(arg);
    rc = rc ? rc : activity_mark(a, &before);
    /* The partitions listed after the mark, not before it: a partition an insert made between a listing and the
     * mark (a batch across a month's end, ratingd's first row of a month) would be missing from the copy, its
     * insert finished and so not seen by the marks. One made after the mark moves a block number: not clean. */
    rc = rc ? rc : partition_copies(a, t, &sqls, &n);
    if (!rc && mark_quiet(before)) {
        rc = run_parallel(a, sqls, n);
        rc = rc ? rc : activity_mark(a, &after);
        if (!rc)
            *clean = mark_quiet(after) && !strcmp(before, after);
    }
    for (size_t i = 0; i < n; i++)
        free(sqls[i]);
    free(sqls);
    free(before);
    free(after);
    return rc;
}

/* The URL of CLICKHOUSE_URL with the statement as its query parameter (for an INSERT whose body is data). */
static char *url_with_query(CURL *curl, const char *base, const char *sql, const char *settings)
{
    char *esc = curl_easy_escape(curl, sql, 0), *url = NULL;
    if (esc && asprintf(&url, "%s%cquery=%s%s", base, strchr(base, '?') ? '&' : '?', esc, settings) < 0)
        url = NULL;
    curl_free(esc);
    return url;
}

/* POST to ClickHouse: the statement sql as the body (body NULL), or as the URL's query with body's bytes as the
 * body and settings ("&name=value...", or "") after it; the answer into out. 0, or -EIO with ClickHouse's message
 * logged. */
static int ch_stream(const admin_ctx *a, const char *sql, FILE *body, const char *settings, FILE *out)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return -ENOMEM;
    char *url = body ? url_with_query(curl, a->clickhouse_url, sql, settings) : strdup(a->clickhouse_url);
    int rc = url ? 0 : -ENOMEM;
    if (!rc) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, a->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
        if (body) {
            struct stat st;
            curl_easy_setopt(curl, CURLOPT_READDATA, body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(fstat(fileno(body), &st) ? 0 : st.st_size));
        } else {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, sql);
        }
        CURLcode cc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status != 200) {
            log_error("ClickHouse did not take \"%.120s\": %s (HTTP %ld; its answer is in the output file)", sql,
                      cc != CURLE_OK ? curl_easy_strerror(cc) : "refused", status);
            rc = -EIO;
        }
    }
    free(url);
    curl_easy_cleanup(curl);
    return rc;
}

/* Run sql, its answer written to path. */
static int ch_to_file(const admin_ctx *a, const char *sql, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        log_error("cannot write %s: %s", path, strerror(errno));
        return -errno;
    }
    int rc = ch_stream(a, sql, NULL, "", f);
    if (fclose(f) && !rc)
        rc = -EIO;
    return rc;
}

int bk_ch_dump(const admin_ctx *a, const bk_tables *t, const char *dir, FILE *counts)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/clickhouse", dir);
    if (mkdir(path, 0700) && errno != EEXIST) {
        log_error("cannot make %s: %s", path, strerror(errno));
        return -errno;
    }
    snprintf(path, sizeof path, "%s/clickhouse/schema_migrations.tsv", dir);
    int rc = ch_to_file(a, "SELECT version FROM schema_migrations ORDER BY version FORMAT TSV", path);
    for (size_t i = 0; i < t->n && !rc; i++) {
        char sql[256];
        long long rows = 0;
        rc = admin_ch_count(a, &rows, "SELECT count() FROM " SNAP_PREFIX "%s", t->names[i]);
        /* SELECT * leaves out MATERIALIZED columns (raw_events' *_side, hit_class): the load computes them again
         * from their expressions, which read only the row. */
        snprintf(sql, sizeof sql, "SELECT * FROM " SNAP_PREFIX "%s FORMAT Native", t->names[i]);
        snprintf(path, sizeof path, "%s/clickhouse/%s.native", dir, t->names[i]);
        rc = rc ? rc : ch_to_file(a, sql, path);
        if (!rc)
            fprintf(counts, "%s\t%lld\n", t->names[i], rows);
    }
    return rc;
}

/* Read a whole small file into a malloc'd string (NULL if it cannot). */
static char *read_small(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = malloc(1 << 20);
    size_t n = s ? fread(s, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (s)
        s[n] = '\0';
    return s;
}

/* Detach (attach false: attach again) every materialized view of the database; names kept in views. */
static int views_switch(const admin_ctx *a, char **views, bool attach)
{
    if (!attach) {
        int rc = admin_ch(a,
                          "SELECT name FROM system.tables WHERE database = currentDatabase()\n"
                          "  AND engine = 'MaterializedView' ORDER BY name FORMAT TSV",
                          views);
        if (rc)
            return rc;
    }
    int rc = 0;
    char *copy = *views ? strdup(*views) : NULL, *save = NULL;
    for (char *v = copy ? strtok_r(copy, "\n", &save) : NULL; v; v = strtok_r(NULL, "\n", &save)) {
        int r = plain_name(v) ? admin_chf(a, "%s TABLE %s", attach ? "ATTACH" : "DETACH", v) : -EINVAL;
        if (r && attach)
            log_error("the view %s could not be attached again: run `ATTACH TABLE %s` in ClickHouse", v, v);
        rc = rc ? rc : r;
        if (rc && !attach)
            break;
    }
    free(copy);
    return rc;
}

/* Load one table's dump and check its row count against the backup's. */
static int load_table(const admin_ctx *a, const char *dir, const char *table, long long want, const char *settings)
{
    char path[4096], sql[256];
    snprintf(path, sizeof path, "%s/clickhouse/%s.native", dir, table);
    FILE *body = fopen(path, "rb");
    if (!body) {
        log_error("cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    FILE *sink = tmpfile();
    snprintf(sql, sizeof sql, "INSERT INTO %s FORMAT Native", table);
    int rc = sink ? admin_chf(a, "TRUNCATE TABLE %s", table) : -errno;
    rc = rc ? rc : ch_stream(a, sql, body, settings, sink);
    fclose(body);
    if (sink)
        fclose(sink);
    long long rows = -1;
    rc = rc ? rc : admin_ch_count(a, &rows, "SELECT count() FROM %s", table);
    if (!rc && rows != want) {
        log_error("%s holds %lld rows after the load, the backup %lld", table, rows, want);
        rc = -EIO;
    }
    return rc;
}

int bk_ch_restore_check(const admin_ctx *a, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/clickhouse/schema_migrations.tsv", dir);
    char *theirs = read_small(path), *ours = NULL;
    if (!theirs) {
        log_error("%s is missing: is %s a backup?", path, dir);
        return -ENOENT;
    }
    int rc = admin_ch(a, "SELECT version FROM schema_migrations ORDER BY version FORMAT TSV", &ours);
    if (!rc && strcmp(theirs, ours ? ours : "")) {
        log_error("this stack's ClickHouse migrations are not the backup's (%s): restore onto a stack of the "
                  "version that made the backup, then upgrade it",
                  path);
        rc = -EINVAL;
    }
    free(theirs);
    free(ours);
    snprintf(path, sizeof path, "%s/clickhouse/counts.tsv", dir);
    char *counts = rc ? NULL : read_small(path);
    if (!rc && !counts) {
        log_error("%s is missing: is %s a backup?", path, dir);
        rc = -ENOENT;
    }
    char *save = NULL;
    for (char *line = rc ? NULL : strtok_r(counts, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab || (*tab = '\0', !plain_name(line))) {
            log_error("%s has a line that is not \"table<TAB>rows\"", path);
            rc = -EINVAL;
            break;
        }
        char file[4200];
        snprintf(file, sizeof file, "%s/clickhouse/%s.native", dir, line);
        if (access(file, R_OK)) {
            log_error("cannot read %s: %s", file, strerror(errno));
            rc = -errno;
        }
    }
    free(counts);
    /* Onto a fresh stack only: events there would be mixed with the backup's. What the migrations put in a
     * table (hidden_players' ~erased) is in the backup too: each table is emptied before its load. */
    long long events = 0;
    rc = rc ? rc : admin_ch_count(a, &events, "SELECT count() FROM raw_events");
    if (!rc && events) {
        log_error("raw_events already holds %lld events: restore onto a fresh stack (scripts/stack.sh up NEWDIR "
                  "--db-only)",
                  events);
        rc = -EEXIST;
    }
    return rc;
}

int bk_ch_restore(const admin_ctx *a, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/clickhouse/counts.tsv", dir);
    char *counts = read_small(path);
    if (!counts) {
        log_error("%s is missing: is %s a backup?", path, dir);
        return -ENOENT;
    }
    /* The rows are counted against the backup's after each load. ClickHouse 20.12 and later merge the rows of an
     * insert into a Replacing or Aggregating table as it is written (optimize_on_insert, on by default), which would
     * leave fewer rows than the backup holds (the same data, merged); 18.16 has no such setting and refuses one it
     * does not know: it is turned off where the server lists it. */
    long long merges_on_insert = 0;
    int rc =
        admin_ch_count(a, &merges_on_insert, "SELECT count() FROM system.settings WHERE name = 'optimize_on_insert'");
    const char *settings = merges_on_insert ? "&optimize_on_insert=0" : "";
    char *views = NULL, *save = NULL, *line;
    rc = rc ? rc : views_switch(a, &views, /* attach= */ false);
    for (line = rc ? NULL : strtok_r(counts, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab || (*tab = '\0', !plain_name(line))) {
            log_error("%s has a line that is not \"table<TAB>rows\"", path);
            rc = -EINVAL;
            break;
        }
        rc = load_table(a, dir, line, atoll(tab + 1), settings);
        if (!rc)
            log_info("clickhouse: %s loaded (%s rows)", line, tab + 1);
    }
    if (views) {
        int arc = views_switch(a, &views, /* attach= */ true);
        rc = rc ? rc : arc;
    }
    free(views);
    free(counts);
    return rc;
}
