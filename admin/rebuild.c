/* `mohstats-admin rebuild`: recompute an aggregate table (the target of a materialized view on raw_events) from
 * raw_events, for one month or, for a table that is not partitioned by month, for all of it; while ingest runs.
 *
 * The repair this is for: the writer's insert into raw_events committed but a view's part of it failed, so that
 * view missed the batch (README, Known limits). The month is the unit because it is the partition of raw_events
 * and of the month-partitioned aggregates (player_daily, server_hourly, weapon_daily, player_fights): a partition
 * can be swapped whole and atomically (ALTER TABLE ... REPLACE PARTITION ... FROM, which 18.16 has). Tables not
 * partitioned by time (player_match, match_summary, ...) have one partition, tuple(), rebuilt from all of raw_events;
 * that is refused once retention dropped raw_events partitions (their aggregates would be lost).
 *
 * Why it is exact, with inserts arriving during the rebuild. Let V be the view, L its table, P the partition.
 * Facts relied on (ClickHouse 18.16 and current releases, single server):
 *   F1. An INSERT captures the set of views on its table when it starts, after it is listed in system.processes;
 *       a view attached later does not see it, a view detached later still gets its rows.
 *   F2. Rows of one batch are one block in one part of raw_events (stream_writer.c, I2): a read sees a batch
 *       whole or not at all. An L part commits atomically, before or after a REPLACE PARTITION.
 *   F3. L's content is the union of V's results over blocks, and V's result over a union of batches, merged the
 *       way queryd reads (sum / *Merge / FINAL), equals the merge of V's results over any split of those batches.
 * "Wait out" below = list the INSERTs into raw_events in system.processes, and wait until none of them runs.
 * A tap is a view recording (run, tap name, batch_id) of every insert into raw_events(P).
 *   1. Create the tap long_1.
 *   2. DETACH V; wait out. By F1 no insert started after the detach writes L, and those started before have
 *      ended: L is frozen. Every batch not in raw_events yet will come from an insert that started after step 1,
 *      which long_1 records.
 *   3. Snapshot raw_events(P) into admin_raw_snap (REPLACE PARTITION FROM: hard links, atomic per partition) and
 *      compute V over it into admin_stage. Then, in round k (from 1): REPLACE L's partition P with admin_stage
 *      (which keeps its parts). Now L(P) = V(snapshot).
 *   4. The switch of round k: create short_k, ATTACH V, create long_k+1, drop long_k, drop short_k; wait out.
 *      An insert that started before short_k existed did not write L (V detached); one that started after
 *      short_k was dropped writes L (V attached). Only one that started inside the switch is ambiguous, and
 *      exactly those are in short_k (F1). Every insert since step 1 is in some tap: the taps overlap in time.
 *   5. If short_k recorded a batch, the round is void: L(P) is not known. Round k+1 goes back to step 2
 *      (DETACH, wait out: L frozen again, long_k+1 records what comes) and step 3's REPLACE, which resets L(P) to
 *      V(snapshot) whatever the void switch let in; not the snapshot, which stays valid. If short_k recorded
 *      nothing, every batch of raw_events(P) is in exactly one of: the snapshot (in L by the REPLACE); a tap but
 *      long_k+1 and not the snapshot (started after step 2, before this switch: in no part of L, V was detached
 *      or its parts were replaced; complete after the wait: V over them is added to L now); long_k+1 or no tap
 *      (started after the switch: in L through V). Each batch is counted once (F2, F3).
 * The tap views only select constants and batch_id: they cannot fail, so they cannot make an insert fail (a
 * failing view would make the writer's insert miss the views after it). They write to admin_rebuild_tap, a plain
 * table: 18.16 refuses a view's insert into a table with MATERIALIZED columns, so the taps never copy raw rows.
 * One rebuild runs at a time (admin_rebuild_lock). Killed mid-round, the tool leaves V detached and the lock
 * taken: once the operator drops the lock, the next run re-attaches V (admin_actions records the detach), and the
 * table must be rebuilt again, as it says.
 * Month partitions assume ClickHouse's timezone is UTC (so raw_events' month is the aggregates' UTC month):
 * checked before anything is changed. */
#include "rebuild.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bytebuf.h"
#include "log.h"

/* Switches tried before giving up. A switch lasts ~10-30 ms and is void if an insert starts in it; a void round
 * costs a few statements, not a new staging table. */
#define MAX_ROUNDS 50
#define WAIT_OUT_MS 300000 /* inserts still running after this: give up, the operator looks at ClickHouse */

/* One view to rebuild: its name, its table, its SELECT and whether that table is partitioned by month. */
typedef struct {
    char view[128];
    char table[128];
    char *select;  /* V's SELECT with "FROM <db>.raw_events" replaced by "FROM %s" (one occurrence) */
    char *columns; /* the columns V writes into L, comma-separated (a view maps its columns by name) */
    bool monthly;  /* the table is PARTITION BY toYYYYMM(...); else it has one partition, tuple() */
} view_def;

/* Whether s is a plain ClickHouse identifier (so it can go into a statement unquoted). */
static bool is_name(const char *s)
{
    if (!*s || strlen(s) >= 128)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Copy the identifier after "<db>." or at p into out; returns the end of it. */
static const char *take_name(const char *p, char *out, size_t outlen)
{
    const char *start = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.')
        p++;
    const char *dot = memchr(start, '.', (size_t)(p - start));
    const char *name = dot ? dot + 1 : start;
    size_t n = (size_t)(p - name);
    if (n >= outlen)
        n = 0;
    memcpy(out, name, n);
    out[n] = '\0';
    return p;
}

/* Parse a view's CREATE statement (as system.tables gives it, 18.16 and current releases alike:
 * "CREATE MATERIALIZED VIEW db.v TO db.t (columns) AS SELECT|WITH ... FROM db.raw_events ..."). 0, or -EINVAL
 * when it is not a view of ours on raw_events. */
static int parse_view(const char *create, view_def *v)
{
    const char *to = strstr(create, " TO ");
    if (!to)
        return -EINVAL;
    take_name(to + 4, v->table, sizeof v->table);
    if (!is_name(v->table))
        return -EINVAL;
    const char *as = NULL;
    for (const char *p = strstr(to, " AS "); p; p = strstr(p + 1, " AS ")) {
        const char *q = p + 4;
        while (*q == ' ' || *q == '\n')
            q++;
        if (!strncmp(q, "SELECT", 6) || !strncmp(q, "WITH", 4)) {
            as = q;
            break;
        }
    }
    if (!as)
        return -EINVAL;
    /* The one FROM of raw_events: "FROM raw_events" or "FROM <db>.raw_events". */
    const char *from = NULL;
    const char *from_end = NULL;
    for (const char *p = strstr(as, "FROM "); p; p = strstr(p + 1, "FROM ")) {
        char name[128];
        const char *end = take_name(p + 5, name, sizeof name);
        if (!strcmp(name, "raw_events")) {
            if (from)
                return -EINVAL;
            from = p;
            from_end = end;
        }
    }
    if (!from)
        return -EINVAL;
    bytebuf b = {0};
    int rc = bytebuf_append(&b, as, (size_t)(from - as));
    rc = rc ? rc : bytebuf_appendf(&b, "FROM %%s");
    /* The rest may hold a '%' (a modulo): escape it for the later format. */
    for (const char *p = from_end; !rc && *p; p++)
        rc = *p == '%' ? bytebuf_append(&b, "%%", 2) : bytebuf_append(&b, p, 1);
    if (rc) {
        bytebuf_free(&b);
        return -ENOMEM;
    }
    v->select = b.data;
    return 0;
}

/* Load the views on raw_events (all, or the one named) with their tables' partitioning. */
static int load_views(const admin_ctx *a, const char *only, view_def **out, size_t *n)
{
    char *body = NULL;
    int rc =
        admin_ch(a,
                 "SELECT v.name, v.query, t.partition_key\n"
                 "FROM (SELECT name, replaceAll(replaceAll(create_table_query, '\\n', ' '), '\\t', ' ') AS query,\n"
                 "             extract(create_table_query, ' TO (?:[A-Za-z0-9_]+\\\\.)?([A-Za-z0-9_]+)') AS target\n"
                 "      FROM system.tables\n"
                 "      WHERE database = currentDatabase() AND engine = 'MaterializedView'\n"
                 "        AND name NOT LIKE 'admin\\\\_%') AS v\n"
                 "ANY LEFT JOIN (SELECT name AS target, partition_key FROM system.tables\n"
                 "               WHERE database = currentDatabase()) AS t USING target\n"
                 "ORDER BY v.name FORMAT TSVRaw",
                 &body);
    if (rc) {
        free(body);
        return rc;
    }
    view_def *views = NULL;
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        if (!tab2)
            continue;
        *tab1 = *tab2 = '\0';
        if (only && strcmp(line, only))
            continue;
        view_def v = {0};
        snprintf(v.view, sizeof v.view, "%s", line);
        if (parse_view(tab1 + 1, &v)) {
            if (only) {
                log_error("%s is not a view writing TO a table from raw_events; nothing rebuilt", line);
                rc = -EINVAL;
                break;
            }
            continue; /* a view not on raw_events (none today) */
        }
        v.monthly = !strncmp(tab2 + 1, "toYYYYMM(", 9);
        if (!v.monthly && tab2[1]) {
            log_error("%s's table %s is partitioned by %s, which rebuild does not know", v.view, v.table, tab2 + 1);
            free(v.select);
            rc = -EINVAL;
            break;
        }
        view_def *grown = realloc(views, (count + 1) * sizeof *views);
        if (!grown) {
            free(v.select);
            rc = -ENOMEM;
            break;
        }
        views = grown;
        views[count++] = v;
    }
    free(body);
    for (size_t i = 0; i < count && !rc; i++) {
        char sql[600];
        snprintf(
            sql, sizeof sql,
            "SELECT arrayStringConcat(groupArray(name), ', ') FROM system.columns\n"
            "WHERE database = currentDatabase() AND table = '%s' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS')\n"
            "  AND name IN (SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '%s')\n"
            "FORMAT TSVRaw",
            views[i].table, views[i].view);
        rc = admin_ch(a, sql, &views[i].columns);
        char *nl = views[i].columns ? strchr(views[i].columns, '\n') : NULL;
        if (nl)
            *nl = '\0';
        if (!rc && (!views[i].columns || !*views[i].columns)) {
            log_error("%s and its table %s have no column in common", views[i].view, views[i].table);
            rc = -EINVAL;
        }
    }
    if (!rc && only && count == 0) {
        log_error("no materialized view named %s on raw_events (see: SHOW TABLES LIKE '%%_mv')", only);
        rc = -ENOENT;
    }
    if (rc) {
        for (size_t i = 0; i < count; i++) {
            free(views[i].select);
            free(views[i].columns);
        }
        free(views);
        return rc;
    }
    *out = views;
    *n = count;
    return 0;
}

/* Wait until none of the INSERTs into raw_events running now is running any more (see "wait out" above). */
static int wait_out_inserts(const admin_ctx *a)
{
    static const char running[] = "SELECT count() FROM system.processes\n"
                                  "WHERE query_id IN (%s) FORMAT TSV";
    char *ids = NULL;
    int rc = admin_ch(a,
                      "SELECT arrayStringConcat(groupArray(concat('''', replaceAll(replaceAll(query_id, '\\\\', "
                      "'\\\\\\\\'), '''', '\\\\'''), '''')), ',')\n"
                      "FROM system.processes\n"
                      "WHERE positionCaseInsensitive(query, 'INSERT INTO') > 0 AND position(query, 'raw_events') > 0\n"
                      "FORMAT TSVRaw",
                      &ids);
    if (rc) {
        free(ids);
        return rc;
    }
    char *nl = ids ? strchr(ids, '\n') : NULL;
    if (nl)
        *nl = '\0';
    if (!ids || !*ids) {
        free(ids);
        return 0;
    }
    for (int waited = 0;; waited += 20) {
        long long n = 0;
        rc = admin_ch_count(a, &n, running, ids);
        if (rc || n == 0)
            break;
        if (waited >= WAIT_OUT_MS) {
            log_error("inserts into raw_events still run after %d s (system.processes); nothing more done",
                      WAIT_OUT_MS / 1000);
            rc = -ETIMEDOUT;
            break;
        }
        usleep(20 * 1000);
    }
    free(ids);
    return rc;
}

/* The condition selecting raw_events rows of the partition rebuilt ("1" for all of them). */
static void partition_cond(const view_def *v, int month, char *out, size_t outlen)
{
    if (v->monthly)
        snprintf(out, outlen, "toYYYYMM(received_at) = %d", month);
    else
        snprintf(out, outlen, "1");
}

/* Run V's SELECT over source into table (INSERT INTO table SELECT ...). */
static int insert_view_rows(const admin_ctx *a, const view_def *v, const char *table, const char *source)
{
    bytebuf b = {0};
    /* By name, as the view does: INSERT ... SELECT maps columns by position, and a table's columns added later
     * (player_fights.hit_class) are not where the view's SELECT has them. */
    int rc = bytebuf_appendf(&b, "INSERT INTO %s (%s) SELECT %s FROM (", table, v->columns, v->columns) ? -ENOMEM : 0;
    /* v->select was made from ClickHouse's own text with every '%' doubled but the one %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    rc = rc ? rc : (bytebuf_appendf(&b, v->select, source) ? -ENOMEM : 0);
#pragma GCC diagnostic pop
    rc = rc ? rc : (bytebuf_appendf(&b, ")") ? -ENOMEM : 0);
    if (!rc)
        rc = admin_ch(a, b.data, NULL);
    bytebuf_free(&b);
    return rc;
}

/* Copy raw_events(P) into admin_raw_snap, atomically per partition (hard links, no data copied). */
static int snapshot_raw(const admin_ctx *a, const view_def *v, int month)
{
    int rc = admin_chf(a, "DROP TABLE IF EXISTS admin_raw_snap");
    rc = rc ? rc : admin_chf(a, "CREATE TABLE admin_raw_snap AS raw_events");
    if (rc || v->monthly)
        return rc ? rc : admin_chf(a, "ALTER TABLE admin_raw_snap REPLACE PARTITION %d FROM raw_events", month);
    char *parts = NULL;
    rc = admin_ch(a,
                  "SELECT DISTINCT partition FROM system.parts\n"
                  "WHERE database = currentDatabase() AND table = 'raw_events' AND active FORMAT TSV",
                  &parts);
    char *save = NULL;
    for (char *p = rc ? NULL : strtok_r(parts, "\n", &save); p && !rc; p = strtok_r(NULL, "\n", &save))
        rc = admin_chf(a, "ALTER TABLE admin_raw_snap REPLACE PARTITION %d FROM raw_events", atoi(p));
    free(parts);
    return rc;
}

/* A tap: a view named admin_tap_<name>_mv recording (run, tap, batch_id) of every insert into raw_events(P). */
static int tap_create(const admin_ctx *a, const char *name, const char *run, const char *cond)
{
    return admin_chf(a,
                     "CREATE MATERIALIZED VIEW admin_tap_%s_mv TO admin_rebuild_tap AS\n"
                     "SELECT '%s' AS run, '%s' AS tap, batch_id FROM raw_events WHERE %s",
                     name, run, name, cond);
}

static int tap_drop(const admin_ctx *a, const char *name)
{
    return admin_chf(a, "DROP TABLE IF EXISTS admin_tap_%s_mv", name);
}

/* Drop every tap view (a killed run may have left some). */
static int taps_drop_all(const admin_ctx *a)
{
    char *names = NULL;
    int rc = admin_ch(a,
                      "SELECT name FROM system.tables WHERE database = currentDatabase()\n"
                      "  AND name LIKE 'admin\\\\_tap\\\\_%' FORMAT TSV",
                      &names);
    char *save = NULL;
    for (char *n = rc ? NULL : strtok_r(names, "\n", &save); n && !rc; n = strtok_r(NULL, "\n", &save))
        rc = is_name(n) ? admin_chf(a, "DROP TABLE IF EXISTS %s", n) : 0;
    free(names);
    return rc;
}

/* DETACH V (recorded first, so that a killed run is repaired) and wait out: step 2. */
static int view_detach(const admin_ctx *a, const view_def *v, const char *run)
{
    char detail[256];
    snprintf(detail, sizeof detail, "%s detached for run %s", v->view, run);
    int rc = admin_record(a, "rebuild-detach", detail);
    rc = rc ? rc : admin_chf(a, "DETACH TABLE %s", v->view);
    return rc ? rc : wait_out_inserts(a);
}

static int view_attach(const admin_ctx *a, const view_def *v, const char *run)
{
    int rc = admin_chf(a, "ATTACH TABLE %s", v->view);
    if (rc) {
        log_error("%s could not be attached again: run `ATTACH TABLE %s` now, then rebuild again", v->view, v->view);
        return rc;
    }
    char detail[256];
    snprintf(detail, sizeof detail, "%s attached again for run %s", v->view, run);
    return admin_record(a, "rebuild-attach", detail);
}

/* The switch of round k (step 4): short tap, ATTACH V, the next long tap, drop the current long and the short;
 * wait out. *ambiguous: how many batches of P started inside it. */
static int view_switch(const admin_ctx *a, const view_def *v, const char *run, const char *cond, int k,
                       long long *ambiguous)
{
    char shrt[32], cur[32], next[32];
    snprintf(shrt, sizeof shrt, "short_%d", k);
    snprintf(cur, sizeof cur, "long_%d", k);
    snprintf(next, sizeof next, "long_%d", k + 1);
    int rc = tap_create(a, shrt, run, cond);
    int arc = view_attach(a, v, run); /* even when the tap failed: V must not stay detached */
    rc = rc ? rc : arc;
    rc = rc ? rc : tap_create(a, next, run, cond);
    rc = rc ? rc : tap_drop(a, cur);
    rc = rc ? rc : tap_drop(a, shrt);
    rc = rc ? rc : wait_out_inserts(a);
    return rc ? rc
              : admin_ch_count(a, ambiguous, "SELECT count() FROM admin_rebuild_tap WHERE run = '%s' AND tap = '%s'",
                               run, shrt);
}

/* Steps 1 to 5, the rounds after a void switch redoing only steps 2, 3's REPLACE and 4. Returns the rounds it
 * took in *rounds, or -EAGAIN after MAX_ROUNDS void switches. */
static int rebuild_rounds(const admin_ctx *a, const view_def *v, int month, const char *run, int *rounds)
{
    char cond[64], part[32];
    partition_cond(v, month, cond, sizeof cond);
    snprintf(part, sizeof part, v->monthly ? "%d" : "tuple()", month);
    int rc = taps_drop_all(a);
    rc = rc ? rc : tap_create(a, "long_1", run, cond); /* 1 */
    rc = rc ? rc : view_detach(a, v, run);             /* 2 */
    rc = rc ? rc : snapshot_raw(a, v, month);          /* 3 */
    rc = rc ? rc : admin_chf(a, "DROP TABLE IF EXISTS admin_stage");
    rc = rc ? rc : admin_chf(a, "CREATE TABLE admin_stage AS %s", v->table);
    rc = rc ? rc : insert_view_rows(a, v, "admin_stage", "admin_raw_snap");
    for (int k = 1; !rc && k <= MAX_ROUNDS; k++) {
        if (k > 1)
            rc = view_detach(a, v, run);
        /* L(P) = V(snapshot) again: REPLACE copies the staging parts (hard links), admin_stage keeps them. */
        rc = rc ? rc : admin_chf(a, "ALTER TABLE %s REPLACE PARTITION %s FROM admin_stage", v->table, part);
        long long ambiguous = 0;
        if (rc) {
            view_attach(a, v, run);
            break;
        }
        rc = view_switch(a, v, run, cond, k, &ambiguous); /* 4 */
        if (rc)
            break;
        if (ambiguous) { /* 5 */
            log_warn("%s: an insert started during the switch (round %d): rebuilding the partition again", v->table, k);
            continue;
        }
        /* Every batch a tap recorded but the last long one (those started after this switch: in L through V),
         * minus the snapshot's: started after step 2 and before this switch, so in no part of L. */
        *rounds = k;
        rc = admin_chf(a, "DROP TABLE IF EXISTS admin_raw_delta");
        rc = rc ? rc : admin_chf(a, "CREATE TABLE admin_raw_delta AS raw_events");
        rc = rc ? rc
                : admin_chf(a,
                            "INSERT INTO admin_raw_delta SELECT * FROM raw_events\n"
                            "WHERE %s AND batch_id IN (SELECT batch_id FROM admin_rebuild_tap\n"
                            "                          WHERE run = '%s' AND tap != 'long_%d')\n"
                            "  AND batch_id NOT IN (SELECT batch_id FROM admin_raw_snap WHERE batch_id IN\n"
                            "      (SELECT batch_id FROM admin_rebuild_tap WHERE run = '%s' AND tap != 'long_%d'))",
                            cond, run, k + 1, run, k + 1);
        rc = rc ? rc : insert_view_rows(a, v, v->table, "admin_raw_delta");
        taps_drop_all(a);
        return rc;
    }
    taps_drop_all(a);
    if (!rc) {
        log_error("%s: inserts kept starting during the switch for %d rounds; the table may be off: run rebuild "
                  "again",
                  v->table, MAX_ROUNDS);
        rc = -EAGAIN;
    }
    return rc;
}

/* Drop the tool's scratch tables (the staging copies are hard links: they hold no space of their own for long). */
static void drop_scratch(const admin_ctx *a)
{
    admin_chf(a, "DROP TABLE IF EXISTS admin_raw_snap");
    admin_chf(a, "DROP TABLE IF EXISTS admin_raw_delta");
    admin_chf(a, "DROP TABLE IF EXISTS admin_stage");
}

/* Attach again every view an interrupted rebuild left detached (the detaches and attaches admin_actions holds). */
static int reattach_left_detached(const admin_ctx *a)
{
    char *names = NULL;
    int rc = admin_ch(a,
                      "SELECT view FROM (\n"
                      "  SELECT splitByChar(' ', detail)[1] AS view,\n"
                      "         sum(action = 'rebuild-detach') - sum(action = 'rebuild-attach') AS open\n"
                      "  FROM admin_actions WHERE action IN ('rebuild-detach', 'rebuild-attach') GROUP BY view)\n"
                      "WHERE open > 0 AND view NOT IN\n"
                      "  (SELECT name FROM system.tables WHERE database = currentDatabase()) FORMAT TSV",
                      &names);
    char *save = NULL;
    for (char *n = rc ? NULL : strtok_r(names, "\n", &save); n; n = strtok_r(NULL, "\n", &save)) {
        if (!is_name(n))
            continue;
        log_warn("%s was left detached by an interrupted rebuild: attaching it; rebuild its table again", n);
        if (admin_chf(a, "ATTACH TABLE %s", n) == 0) {
            char detail[256];
            snprintf(detail, sizeof detail, "%s attached again after an interrupted rebuild", n);
            admin_record(a, "rebuild-attach", detail);
        }
    }
    free(names);
    return rc;
}

/* Refuse what would lose aggregates: a month retention dropped (or that raw_events lacks while the table has it),
 * or all of raw_events after any drop. */
static int check_source_complete(const admin_ctx *a, const view_def *v, int month)
{
    long long dropped = 0, raw = 0, agg = 0;
    int rc = v->monthly
                 ? admin_ch_count(a, &dropped,
                                  "SELECT count() FROM admin_actions\n"
                                  "WHERE action = 'retention-drop' AND toInt32OrZero(detail) = %d",
                                  month)
                 : admin_ch_count(a, &dropped, "SELECT count() FROM admin_actions WHERE action = 'retention-drop'");
    if (rc)
        return rc;
    if (dropped) {
        if (v->monthly)
            log_error("raw_events of %d was dropped by retention: rebuilding %s from it would lose its aggregates; "
                      "nothing done",
                      month, v->table);
        else
            log_error("%s covers all time and retention dropped raw_events partitions: rebuilding it would lose "
                      "their aggregates; nothing done",
                      v->table);
        return -EINVAL;
    }
    if (!v->monthly)
        return 0;
    rc = admin_ch_count(a, &raw,
                        "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'raw_events'\n"
                        "  AND active AND partition = '%d'",
                        month);
    rc = rc ? rc
            : admin_ch_count(a, &agg,
                             "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = '%s'\n"
                             "  AND active AND partition = '%d'",
                             v->table, month);
    if (!rc && raw == 0 && agg > 0) {
        log_error("raw_events has nothing for %d but %s has: rebuilding would empty it; nothing done", month, v->table);
        rc = -EINVAL;
    }
    return rc;
}

/* Rebuild one view's partition. */
static int rebuild_one(const admin_ctx *a, const view_def *v, int month)
{
    int rc = check_source_complete(a, v, month);
    if (rc)
        return rc;
    char run[64];
    snprintf(run, sizeof run, "%ld-%d", (long)time(NULL), (int)getpid());
    int rounds = 0;
    rc = rebuild_rounds(a, v, month, run, &rounds);
    admin_chf(a, "ALTER TABLE admin_rebuild_tap DELETE WHERE run = '%s'", run);
    drop_scratch(a);
    if (rc)
        return rc;
    char detail[256];
    if (v->monthly)
        snprintf(detail, sizeof detail, "%s month %d rebuilt from raw_events (%d round%s)", v->table, month, rounds,
                 rounds > 1 ? "s" : "");
    else
        snprintf(detail, sizeof detail, "%s rebuilt from all of raw_events (%d round%s)", v->table, rounds,
                 rounds > 1 ? "s" : "");
    return admin_record(a, "rebuild", detail);
}

/* Rebuild a view's table: the month given, or every month raw_events holds (month 0) for a monthly table; all
 * of it for a table with one partition. */
static int rebuild_view(const admin_ctx *a, const view_def *v, int month)
{
    if (!v->monthly || month)
        return rebuild_one(a, v, v->monthly ? month : 0);
    char *parts = NULL;
    int rc =
        admin_ch(a,
                 "SELECT DISTINCT partition FROM system.parts\n"
                 "WHERE database = currentDatabase() AND table = 'raw_events' AND active ORDER BY partition FORMAT TSV",
                 &parts);
    char *save = NULL;
    for (char *p = rc ? NULL : strtok_r(parts, "\n", &save); p && !rc; p = strtok_r(NULL, "\n", &save))
        rc = rebuild_one(a, v, atoi(p));
    free(parts);
    return rc;
}

int rebuild_run(const admin_ctx *a, const char *view, int month)
{
    if (view && !is_name(view)) {
        log_error("%s is not a view name", view);
        return -EINVAL;
    }
    char *tz = NULL;
    int rc = admin_ch(a, "SELECT timezone() FORMAT TSV", &tz);
    if (!rc && tz && strcmp(tz, "UTC\n") && strcmp(tz, "Etc/UTC\n") && strcmp(tz, "Etc/UCT\n")) {
        log_error("ClickHouse's timezone is %.40s, not UTC: its months are not the aggregates' UTC months; set "
                  "<timezone>UTC</timezone> in its config",
                  tz);
        rc = -EINVAL;
    }
    free(tz);
    if (rc)
        return rc;
    /* One rebuild at a time: they share the scratch tables, and one's DETACH would break another's argument.
     * CREATE without IF NOT EXISTS is the lock; a killed run leaves it, and the operator removes it. */
    if (admin_chf(a, "CREATE TABLE admin_rebuild_lock ENGINE = Memory AS SELECT now() AS since, %d AS pid",
                  (int)getpid())) {
        log_error("another rebuild holds admin_rebuild_lock (`mohstats-admin log` says who). If none runs (one was "
                  "killed), run DROP TABLE admin_rebuild_lock in ClickHouse, then this again");
        return -EBUSY;
    }
    rc = reattach_left_detached(a);
    view_def *views = NULL;
    size_t n = 0;
    rc = rc ? rc : load_views(a, view, &views, &n);
    if (rc) {
        admin_chf(a, "DROP TABLE IF EXISTS admin_rebuild_lock");
        return rc;
    }
    char question[256], when[32];
    snprintf(when, sizeof when, month ? "month %d" : "all time", month);
    snprintf(question, sizeof question,
             "Rebuild the table of %s from raw_events, %s (each view is detached for a moment; ingest runs on)?",
             view ? view : "every view", when);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        rc = -ECANCELED;
    }
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            if (!views[i].monthly && month && !view) {
                log_info("%s is not partitioned by month: skipped (rebuild it without --month, for all time)",
                         views[i].table);
            } else if (!views[i].monthly && month) {
                log_error("%s is not partitioned by month: rebuild %s without --month (all time)", views[i].table,
                          views[i].view);
                rc = -EINVAL;
            } else
                rc = rebuild_view(a, &views[i], month);
        }
        free(views[i].select);
        free(views[i].columns);
    }
    free(views);
    admin_chf(a, "DROP TABLE IF EXISTS admin_rebuild_lock");
    return rc;
}

/* Rebuild, after an action rewrote raw_events (erase, merge), the tables of the views on raw_events for the months
 * given (YYYYMM, one a line) and the tables not partitioned by month whole: every view's, or with guidless_only the
 * tables without a guid column only (erase deletes the rows of the others itself). A refusal (retention: -EINVAL
 * from check_source_complete) is said, not fatal: that table keeps the events as they were counted. Any other
 * failure (another rebuild holds the lock, ClickHouse errors) is: every table is still tried, and the first such
 * error is returned, so that the action calling this records no success while aggregates are stale. */
int rebuild_months(const admin_ctx *a, const char *months, bool guidless_only)
{
    char *views = NULL, *sql = NULL;
    if (asprintf(&sql,
                 "SELECT v.name, t.partition_key != '' FROM\n"
                 "  (SELECT name, extract(create_table_query, ' TO (?:[A-Za-z0-9_]+\\\\.)?([A-Za-z0-9_]+)') AS target\n"
                 "   FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'\n"
                 "     AND name NOT LIKE 'admin\\\\_%%') AS v\n"
                 "ANY LEFT JOIN (SELECT name AS target, partition_key FROM system.tables WHERE database = "
                 "currentDatabase()) AS "
                 "t\n"
                 "  USING target\n"
                 "WHERE %s\n"
                 "ORDER BY v.name FORMAT TSV",
                 guidless_only
                     ? "target NOT IN (SELECT table FROM system.columns WHERE database = currentDatabase() AND name "
                       "= 'guid')"
                     : "1") < 0)
        return -ENOMEM;
    int qrc = admin_ch(a, sql, &views);
    free(sql);
    if (qrc || !views) {
        free(views);
        return qrc ? -EIO : 0;
    }
    admin_ctx yes = *a;
    yes.yes = true; /* the action that asks for this was confirmed */
    int failed = 0;
    char *save = NULL;
    for (char *line = strtok_r(views, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *monthly = strchr(line, '\t');
        if (!monthly)
            continue;
        *monthly++ = '\0';
        int rc = 0;
        if (*monthly == '1') {
            char *copy = strdup(months), *msave = NULL;
            for (char *m = copy ? strtok_r(copy, "\n", &msave) : NULL; m && !rc; m = strtok_r(NULL, "\n", &msave))
                rc = rebuild_run(&yes, line, atoi(m));
            free(copy);
        } else {
            rc = rebuild_run(&yes, line, 0);
        }
        if (rc)
            log_warn("%s could not be rebuilt (above): its table still counts the events as they were before", line);
        if (rc && rc != -EINVAL && !failed)
            failed = rc;
    }
    free(views);
    return failed;
}
