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
#include <unistd.h>

#include "mariadb.h"
#include "pg.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_unreachable),
        cmocka_unit_test(test_mdb_unreachable),
        cmocka_unit_test(test_pg_real),
        cmocka_unit_test(test_mdb_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
