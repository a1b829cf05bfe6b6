/* dbclients_postgres: the PostgreSQL client of common/ against a real server (POSTGRES_URL); exit 0 only if every check
 * passes. Part of tests/integration/test_dbclients.sh; the step runner is dbclients_steps.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"
#include "probe.h"

#include "dbclients_steps.h"

static const char *pg_url;

/* ============================== PostgreSQL ============================== */

static pg_pool *pg;
static int pg_left;

static void pg_start(void)
{
    step_name = "postgres start";
    pg = pg_pool_new(loop, pg_url, 3);
    check(pg != NULL, "postgres: pool for POSTGRES_URL");
    char err[256];
    PGresult *r = pg_exec_sync(pg_url, "SELECT $1::int * 2", 1, (const char *[]){"21"}, err, sizeof err);
    check(r && strcmp(PQgetvalue(r, 0, 0), "42") == 0, "postgres: pg_exec_sync with a parameter %s", r ? "" : err);
    PQclear(r);
    r = pg_exec_sync(pg_url, "SELEC 1", 0, NULL, err, sizeof err);
    check(!r && strstr(err, "syntax error"), "postgres: pg_exec_sync reports the server error: %s", err);
    step_done();
}

static void pg_probe_ok(void)
{
    step_name = "postgres probe";
    pg_probe(pg, "postgres", on_probe);
}

/* Parameters come back as sent: quotes, backslashes, NULL, high-bit bytes. */
static void on_pg_params(PGresult *res, const char *err, void *arg)
{
    bool ok = res && !err && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), tricky) == 0 &&
              strcmp(PQgetvalue(res, 0, 1), "t") == 0 && strcmp(PQgetvalue(res, 0, 2), "42") == 0;
    check(ok, "postgres: parameters incl. NULL and a quote-laden string round-trip %s", err ? err : "");
    step_done();
}

static void pg_params(void)
{
    step_name = "postgres params";
    /* PostgreSQL text cannot hold NUL: the string without its terminator is the whole value. */
    const char *params[] = {tricky, NULL, "41"};
    pg_query(pg, "SELECT $1::text, $2::text IS NULL, $3::int + 1", 3, params, on_pg_params, NULL);
}

/* Completion of one of the table steps: expect success. */
static void on_pg_ok(PGresult *res, const char *err, void *arg)
{
    check(res && !err, "postgres: %s %s", (const char *)arg, err ? err : "");
    if (--pg_left == 0)
        step_done();
}

static void pg_table(void)
{
    step_name = "postgres table";
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int PRIMARY KEY, s text)", table);
    pg_left = 1;
    pg_query(pg, sql, 0, NULL, on_pg_ok, "CREATE TABLE");
}

/* Many concurrent inserts through a pool of 3: all complete. */
static void pg_many(void)
{
    step_name = "postgres many";
    char sql[256], id[16];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES ($1, $2)", table);
    pg_left = 30;
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof id, "%d", i);
        const char *params[] = {id, i % 2 ? tricky : NULL};
        pg_query(pg, sql, 2, params, on_pg_ok, "INSERT through the pool");
    }
}

static void on_pg_count(PGresult *res, const char *err, void *arg)
{
    check(res && !err && strcmp(PQgetvalue(res, 0, 0), "30") == 0 && strcmp(PQgetvalue(res, 0, 1), "15") == 0,
          "postgres: 30 rows, 15 with the string intact");
    step_done();
}

static void pg_count(void)
{
    step_name = "postgres count";
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*), count(*) FILTER (WHERE s = $1) FROM %s", table);
    pg_query(pg, sql, 1, (const char *[]){tricky}, on_pg_count, NULL);
}

/* A bad statement: err has the server's message and res is still given. */
static void on_pg_bad(PGresult *res, const char *err, void *arg)
{
    check(res && err && strstr(err, "syntax error"), "postgres: bad SQL reports: %s", err ? err : "(no error)");
    step_done();
}

static void pg_bad(void)
{
    step_name = "postgres bad sql";
    pg_query(pg, "SELEC 1", 0, NULL, on_pg_bad, NULL);
}

/* Kill the pool's idle connections from outside: the next queries must reconnect transparently. */
static void pg_kill(void)
{
    step_name = "postgres kill";
    char err[256];
    PGresult *r = pg_exec_sync(pg_url,
                               "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                               "WHERE application_name = 'mohstats' AND pid <> pg_backend_pid()",
                               0, NULL, err, sizeof err);
    check(r && atoi(PQgetvalue(r, 0, 0)) >= 1, "postgres: terminated %s pool connection(s)",
          r ? PQgetvalue(r, 0, 0) : err);
    PQclear(r);
    step_done();
}

static void pg_after_kill(void)
{
    step_name = "postgres after kill";
    char sql[128];
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    pg_left = 1;
    pg_query(pg, sql, 0, NULL, on_pg_ok, "query after the server killed the connections");
}

/* A query still running when the pool is freed completes normally; the pool goes after it. */
static bool pg_late_seen;
static void on_pg_late(PGresult *res, const char *err, void *arg)
{
    pg_late_seen = res && !err;
}

static pg_pool *pg_refused;
static void pg_refused_probe(void)
{
    step_name = "postgres refused";
    pg_query(pg, "SELECT pg_sleep(0.2)", 0, NULL, on_pg_late, NULL);
    pg_pool_free(pg);
    pg = NULL;
    pg_refused = pg_pool_new(loop, "postgresql://nobody@127.0.0.1:1/x", 1);
    pg_probe(pg_refused, "!postgres (port 1)", on_probe);
}

static void pg_cleanup(void)
{
    pg_pool_free(pg_refused);
    pg_refused = NULL;
    step_done();
}

/* After the PostgreSQL loop drained: the query left running at pg_pool_free must have completed. */
static void pg_after_loop(void)
{
    check(pg_late_seen, "postgres: a query in flight at pg_pool_free still completed");
}

static const step_fn pg_steps[] = {pg_start, pg_probe_ok, pg_params,     pg_table,         pg_many,   pg_count,
                                   pg_bad,   pg_kill,     pg_after_kill, pg_refused_probe, pg_cleanup};

int main(void)
{
    pg_url = getenv("POSTGRES_URL");
    return dbclients_run("POSTGRES_URL", pg_url, pg_steps, sizeof pg_steps / sizeof *pg_steps, pg_after_loop);
}
