/* dbclients_mariadb: the MariaDB client of common/ against a real server (MARIADB_URL); exit 0 only if every check
 * passes. Part of tests/integration/test_dbclients.sh; the step runner is dbclients_steps.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mariadb.h"
#include "probe.h"

#include "dbclients_steps.h"

static const char *mdb_url;

/* =============================== MariaDB =============================== */

static mdb_pool *mdb;
static int mdb_left;

static void mdb_start(void)
{
    step_name = "mariadb start";
    mdb = mdb_pool_new(loop, mdb_url, 3);
    check(mdb != NULL, "mariadb: pool for MARIADB_URL");
    char err[256];
    mdb_result *r = mdb_query_sync(mdb_url, "SELECT ? + 1 AS answer", 1, (const char *[]){"41"}, err, sizeof err);
    check(r && r->nrows == 1 && mdb_col(r, "ANSWER") == 0 && strcmp(mdb_cell(r, 0, 0), "42") == 0,
          "mariadb: mdb_query_sync with a parameter %s", r ? "" : err);
    mdb_result_free(r);
    step_done();
}

static void mdb_probe_ok(void)
{
    step_name = "mariadb probe";
    mdb_probe(mdb, "mariadb", on_probe);
}

static void on_mdb_ok(mdb_result *res, const char *err, void *arg)
{
    check(res != NULL, "mariadb: %s %s", (const char *)arg, err ? err : "");
    if (--mdb_left == 0)
        step_done();
}

static void mdb_table(void)
{
    step_name = "mariadb table";
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(200), n INT) "
             "CHARACTER SET utf8mb4",
             table);
    mdb_left = 1;
    mdb_query(mdb, sql, 0, NULL, on_mdb_ok, "CREATE TABLE");
}

static void on_mdb_insert(mdb_result *res, const char *err, void *arg)
{
    check(res && res->affected_rows == 1 && res->insert_id >= 1, "mariadb: INSERT with ? params (insert id %llu) %s",
          res ? res->insert_id : 0, err ? err : "");
    if (--mdb_left == 0)
        step_done();
}

static void mdb_insert(void)
{
    step_name = "mariadb insert";
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s (s, n) VALUES (?, ?) -- a comment? yes", table);
    mdb_left = 2;
    mdb_query(mdb, sql, 2, (const char *[]){tricky, "7"}, on_mdb_insert, NULL);
    mdb_query(mdb, sql, 2, (const char *[]){"'; DROP TABLE x; -- ?", NULL}, on_mdb_insert, NULL);
}

static void on_mdb_select(mdb_result *res, const char *err, void *arg)
{
    int s = res ? mdb_col(res, "s") : -1, n = res ? mdb_col(res, "n") : -1;
    bool ok = res && res->nrows == 2 && res->ncols == 3 && s == 1 && n == 2 &&
              strcmp(mdb_cell(res, 0, s), tricky) == 0 && strcmp(mdb_cell(res, 0, n), "7") == 0 &&
              strcmp(mdb_cell(res, 1, s), "'; DROP TABLE x; -- ?") == 0 && mdb_cell(res, 1, n) == NULL;
    check(ok, "mariadb: quotes, backslashes, high-bit bytes and NULL read back intact %s", err ? err : "");
    step_done();
}

static void mdb_select(void)
{
    step_name = "mariadb select";
    char sql[256];
    /* The two INSERTs ran concurrently through the pool, so their ids come in either order: sort by content. */
    snprintf(sql, sizeof sql, "SELECT id, s, n FROM %s WHERE s = ? OR s LIKE '%%DROP%%?' ORDER BY n IS NULL, id",
             table);
    mdb_query(mdb, sql, 1, (const char *[]){tricky}, on_mdb_select, NULL);
}

static void on_mdb_fail(mdb_result *res, const char *err, void *arg)
{
    check(!res && err && strstr(err, (const char *)arg), "mariadb: error reported: %s", err ? err : "(none)");
    if (--mdb_left == 0)
        step_done();
}

static void mdb_errors(void)
{
    step_name = "mariadb errors";
    mdb_left = 2;
    mdb_query(mdb, "SELEC 1", 0, NULL, on_mdb_fail, "SQL syntax");
    mdb_query(mdb, "SELECT ?, ?", 1, (const char *[]){"x"}, on_mdb_fail, "placeholders");
}

static void mdb_kill(void)
{
    step_name = "mariadb kill";
    char err[256];
    int killed = 0;
    mdb_result *r = mdb_query_sync(mdb_url,
                                   "SELECT id FROM information_schema.processlist "
                                   "WHERE user = substring_index(current_user(), '@', 1) AND id <> connection_id()",
                                   0, NULL, err, sizeof err);
    for (unsigned long long i = 0; r && i < r->nrows; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "KILL %s", mdb_cell(r, i, 0));
        mdb_result *k = mdb_query_sync(mdb_url, sql, 0, NULL, err, sizeof err);
        killed += k != NULL;
        mdb_result_free(k);
    }
    check(killed >= 1, "mariadb: killed %d pool connection(s)", killed);
    mdb_result_free(r);
    step_done_after(300); /* let the server close the sockets */
}

static void mdb_after_kill(void)
{
    step_name = "mariadb after kill";
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    mdb_left = 1;
    mdb_query(mdb, sql, 0, NULL, on_mdb_ok, "query after the server killed the connections");
}

/* A query still running when the pool is freed completes normally; the pool goes after it. */
static bool mdb_late_seen;
static void on_mdb_late(mdb_result *res, const char *err, void *arg)
{
    mdb_late_seen = res && !err;
}

static mdb_pool *mdb_refused;
static void mdb_refused_probe(void)
{
    step_name = "mariadb refused";
    mdb_query(mdb, "SELECT SLEEP(0.2)", 0, NULL, on_mdb_late, NULL);
    mdb_pool_free(mdb);
    mdb = NULL;
    mdb_refused = mdb_pool_new(loop, "mysql://nobody@127.0.0.1:1/x", 1);
    mdb_probe(mdb_refused, "!mariadb (port 1)", on_probe);
}

static void mdb_cleanup(void)
{
    mdb_pool_free(mdb_refused);
    mdb_refused = NULL;
    step_done();
}

static void mdb_after_loop(void)
{
    check(mdb_late_seen, "mariadb: a query in flight at mdb_pool_free still completed");
}

static const step_fn mdb_steps[] = {mdb_start,  mdb_probe_ok, mdb_table,      mdb_insert,        mdb_select,
                                    mdb_errors, mdb_kill,     mdb_after_kill, mdb_refused_probe, mdb_cleanup};

int main(void)
{
    mdb_url = getenv("MARIADB_URL");
    return dbclients_run("MARIADB_URL", mdb_url, mdb_steps, sizeof mdb_steps / sizeof *mdb_steps, mdb_after_loop);
}
