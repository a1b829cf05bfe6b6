/* cmocka tests of the PostgreSQL and MariaDB pools. Without a server (plain `ctest -L unit`) they check
 * the failure paths: an unreachable server gives an error, never a hang or a crash, and the pools free
 * cleanly. With POSTGRES_URL / MARIADB_URL set (tests/integration/test_dbclients.sh runs this binary
 * against the real servers of a stack) they also check queries, parameters and NULLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mysql.h>
#include <unistd.h>

#include "mariadb.h"
#include "pg.h"

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct {
    int done;
    int failed;
    char err[256];
    char value[256];
    int is_null;
} result;

static void on_pg(PGresult *res, const char *err, void *arg)
{
    result *r = arg;
    r->done = 1;
    if (!res || err) {
        r->failed = 1;
        snprintf(r->err, sizeof r->err, "%s", err ? err : "?");
        return;
    }
    if (PQntuples(res) > 0) {
        snprintf(r->value, sizeof r->value, "%s", PQgetvalue(res, 0, 0));
        r->is_null = PQgetisnull(res, 0, 0);
    }
}

static void on_mdb(mdb_result *res, const char *err, void *arg)
{
    result *r = arg;
    r->done = 1;
    if (!res) {
        r->failed = 1;
        snprintf(r->err, sizeof r->err, "%s", err ? err : "?");
        return;
    }
    if (res->nrows > 0) {
        const char *v = mdb_cell(res, 0, 0);
        snprintf(r->value, sizeof r->value, "%s", v ? v : "");
        r->is_null = v == NULL;
    }
}

/* Run the loop until the result arrived (bounded). */
static void wait_for(uv_loop_t *loop, result *r)
{
    for (int i = 0; i < 10000 && !r->done; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_true(r->done);
}

static void test_pg_unreachable(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    /* Port 1 on loopback: nothing listens there, the connection is refused at once. */
    pg_pool *p = pg_pool_new(&loop, "postgresql://u:p@127.0.0.1:1/db?connect_timeout=2", 2);
    assert_non_null(p);
    result r = {0};
    assert_int_equal(pg_query(p, "SELECT 1", 0, NULL, on_pg, &r), 0);
    wait_for(&loop, &r);
    assert_true(r.failed);
    assert_true(strlen(r.err) > 0);
    pg_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    char err[256];
    assert_null(pg_exec_sync("postgresql://u:p@127.0.0.1:1/db", "SELECT 1", 0, NULL, err, sizeof err));
    assert_true(strlen(err) > 0);
}

static void test_mdb_unreachable(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    mdb_pool *p = mdb_pool_new(&loop, "mysql://u:p@127.0.0.1:1/db", 2);
    assert_non_null(p);
    result r = {0};
    assert_int_equal(mdb_query(p, "SELECT ?", 1, (const char *const[]){"x"}, on_mdb, &r), 0);
    wait_for(&loop, &r);
    assert_true(r.failed);
    mdb_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_pg_real(void **state)
{
    const char *url = getenv("POSTGRES_URL");
    if (!url) {
        print_message("POSTGRES_URL not set: real-server checks run in tests/integration/test_dbclients.sh\n");
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    pg_pool *p = pg_pool_new(&loop, url, 2);
    result r = {0};
    /* Parameters travel apart from the SQL: a quote or a backslash is just data. */
    const char *params[2] = {"it's \\ \"quoted\"", NULL};
    pg_query(p, "SELECT $1::text || coalesce($2::text, '-')", 2, params, on_pg, &r);
    wait_for(&loop, &r);
    assert_false(r.failed);
    assert_string_equal(r.value, "it's \\ \"quoted\"-");
    result n = {0};
    pg_query(p, "SELECT $1::text", 1, (const char *const[]){NULL}, on_pg, &n);
    wait_for(&loop, &n);
    assert_true(n.is_null);
    result bad = {0};
    pg_query(p, "SELECT * FROM no_such_table", 0, NULL, on_pg, &bad);
    wait_for(&loop, &bad);
    assert_true(bad.failed);
    assert_non_null(strstr(bad.err, "no_such_table"));
    pg_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_mdb_real(void **state)
{
    const char *url = getenv("MARIADB_URL");
    if (!url) {
        print_message("MARIADB_URL not set: real-server checks run in tests/integration/test_dbclients.sh\n");
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    mdb_pool *p = mdb_pool_new(&loop, url, 2);
    result r = {0};
    const char *params[1] = {"O'Brien \\ J\xc3\xa9r\xc3\xb4me; DROP TABLE x; --"};
    mdb_query(p, "SELECT CONCAT(?, '!')", 1, params, on_mdb, &r);
    wait_for(&loop, &r);
    assert_false(r.failed);
    assert_string_equal(r.value, "O'Brien \\ J\xc3\xa9r\xc3\xb4me; DROP TABLE x; --!");
    result n = {0};
    mdb_query(p, "SELECT ?", 1, (const char *const[]){NULL}, on_mdb, &n);
    wait_for(&loop, &n);
    assert_true(n.is_null);
    mdb_pool_free(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* How many deadlocks InnoDB has resolved since it started. */
static long innodb_deadlocks(const char *url)
{
    char err[256];
    mdb_result *r = mdb_query_sync(url, "SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'", 0, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(r->nrows, 1);
    long n = atol(mdb_cell(r, 0, 1));
    mdb_result_free(r);
    return n;
}

/* MARIADB_URL, or NULL (with a note) when the test runs without the real server. */
static const char *real_mariadb(void)
{
    const char *url = getenv("MARIADB_URL");
    if (!url)
        print_message("MARIADB_URL not set: real-server checks run in tests/integration/test_dbclients.sh\n");
    return url;
}

/* Run a statement on a connection of its own; it must succeed. */
static void mdb_exec(const char *url, const char *sql)
{
    char err[256];
    mdb_result *r = mdb_query_sync(url, sql, 0, NULL, err, sizeof err);
    if (!r)
        print_error("%s: %s\n", sql, err);
    assert_non_null(r);
    mdb_result_free(r);
}

/* The first cell of a query's answer, into out. */
static void mdb_first_cell(const char *url, const char *sql, char *out, size_t len)
{
    char err[256];
    mdb_result *r = mdb_query_sync(url, sql, 0, NULL, err, sizeof err);
    assert_non_null(r);
    assert_true(r->nrows > 0);
    snprintf(out, len, "%s", mdb_cell(r, 0, 0) ? mdb_cell(r, 0, 0) : "NULL");
    mdb_result_free(r);
}

/* Free a pool, then its loop. */
static void pool_done(mdb_pool *p, uv_loop_t *loop)
{
    mdb_pool_free(p);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* A statement of the pool chosen as a deadlock's victim runs again (the pool's queries are transactions of their
 * own). Made deterministic with a second session, opened here: it changes many rows (InnoDB rolls back the
 * transaction that changed fewer), the pool's statement takes row 2 then waits for row 1, and the session then
 * asks for row 2. */
static void test_mdb_deadlock_victim_runs_again(void **state)
{
    (void)state;
    const char *url = real_mariadb();
    if (!url)
        return;
    mdb_exec(url, "CREATE OR REPLACE TABLE test_deadlock (id INT PRIMARY KEY, v INT) ENGINE=InnoDB");
    mdb_exec(url, "INSERT INTO test_deadlock SELECT seq, 0 FROM seq_1_to_20");

    /* The other session, from the same URL's parts: mysql://user:password@host:port/db. */
    char user[128], password[128], host[128], db[128];
    unsigned port;
    assert_int_equal(sscanf(url, "mysql://%127[^:]:%127[^@]@%127[^:]:%u/%127s", user, password, host, &port, db), 5);
    MYSQL *other = mysql_init(NULL);
    assert_non_null(mysql_real_connect(other, host, user, password, db, port, NULL, 0));
    assert_int_equal(mysql_query(other, "START TRANSACTION"), 0);
    /* Two statements: one "WHERE id <> 2" would scan, and so lock, every row. */
    assert_int_equal(mysql_query(other, "UPDATE test_deadlock SET v = v + 1 WHERE id = 1"), 0);
    assert_int_equal(mysql_query(other, "UPDATE test_deadlock SET v = v + 1 WHERE id BETWEEN 3 AND 20"), 0);
    long deadlocks = innodb_deadlocks(url);

    uv_loop_t loop;
    uv_loop_init(&loop);
    mdb_pool *p = mdb_pool_new(&loop, url, 1);
    result r = {0};
    mdb_query(p, "UPDATE test_deadlock SET v = v + 100 WHERE id IN (1, 2) ORDER BY id DESC", 0, NULL, on_mdb, &r);
    /* Until the pool's statement holds row 2 (and so waits for row 1): a third session cannot lock it. */
    int held = 0;
    for (int i = 0; i < 500 && !held; i++) {
        usleep(10 * 1000);
        char err[256];
        mdb_result *w = mdb_query_sync(url, "SELECT id FROM test_deadlock WHERE id = 2 FOR UPDATE NOWAIT", 0, NULL, err,
                                       sizeof err);
        held = w == NULL;
        mdb_result_free(w);
    }
    assert_true(held);
    /* The deadlock: InnoDB rolls back the pool's statement, so this one goes through. */
    assert_int_equal(mysql_query(other, "UPDATE test_deadlock SET v = v + 1 WHERE id = 2"), 0);
    assert_int_equal(mysql_query(other, "COMMIT"), 0);
    mysql_close(other);

    wait_for(&loop, &r);
    assert_int_equal(innodb_deadlocks(url), deadlocks + 1);
    assert_false(r.failed);
    char v[64];
    mdb_first_cell(url, "SELECT GROUP_CONCAT(v ORDER BY id) FROM test_deadlock WHERE id <= 3", v, sizeof v);
    assert_string_equal(v, "101,101,1");
    mdb_exec(url, "DROP TABLE test_deadlock");
    pool_done(p, &loop);
}

/* Rounds of 8 concurrent INSERT ... SELECT ... ON DUPLICATE KEY UPDATE of one new key into a table with an
 * AUTO_INCREMENT column, as authd links a GUID: InnoDB ends some in deadlocks (on the AUTO-INC lock, reported as
 * error 1467), which the pool runs again. Every statement succeeds, and each counts once. */
#define LINK_ROUNDS 40
#define LINK_AT_ONCE 8
static void test_mdb_concurrent_upserts(void **state)
{
    (void)state;
    const char *url = real_mariadb();
    if (!url)
        return;
    mdb_exec(url, "CREATE OR REPLACE TABLE test_upsert (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
                  " k VARCHAR(64) NOT NULL UNIQUE, n INT NOT NULL) ENGINE=InnoDB");
    long deadlocks = innodb_deadlocks(url);
    uv_loop_t loop;
    uv_loop_init(&loop);
    mdb_pool *p = mdb_pool_new(&loop, url, LINK_AT_ONCE);
    int failed = 0;
    for (int round = 0; round < LINK_ROUNDS; round++) {
        char key[32];
        snprintf(key, sizeof key, "guid-%d", round);
        const char *params[2] = {key, key};
        result r[LINK_AT_ONCE] = {0};
        for (int i = 0; i < LINK_AT_ONCE; i++)
            mdb_query(p,
                      "INSERT INTO test_upsert (k, n) SELECT ?, 1 FROM DUAL"
                      " WHERE (SELECT COUNT(*) FROM test_upsert WHERE k <> ?) < 1000"
                      " ON DUPLICATE KEY UPDATE n = n + 1",
                      2, params, on_mdb, &r[i]);
        for (int i = 0; i < LINK_AT_ONCE; i++) {
            wait_for(&loop, &r[i]);
            if (r[i].failed) {
                print_error("round %d: %s\n", round, r[i].err);
                failed++;
            }
        }
    }
    print_message("%ld deadlocks in %d statements, every one run again\n", innodb_deadlocks(url) - deadlocks,
                  LINK_ROUNDS * LINK_AT_ONCE);
    assert_int_equal(failed, 0);
    char rows[32], counted_once[32];
    mdb_first_cell(url, "SELECT COUNT(*) FROM test_upsert", rows, sizeof rows);
    mdb_first_cell(url, "SELECT COUNT(*) FROM test_upsert WHERE n = " STR(LINK_AT_ONCE), counted_once,
                   sizeof counted_once);
    assert_string_equal(rows, STR(LINK_ROUNDS));
    assert_string_equal(counted_once, STR(LINK_ROUNDS));
    mdb_exec(url, "DROP TABLE test_upsert");
    pool_done(p, &loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_unreachable),
        cmocka_unit_test(test_mdb_unreachable),
        cmocka_unit_test(test_pg_real),
        cmocka_unit_test(test_mdb_real),
        cmocka_unit_test(test_mdb_deadlock_victim_runs_again),
        cmocka_unit_test(test_mdb_concurrent_upserts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
