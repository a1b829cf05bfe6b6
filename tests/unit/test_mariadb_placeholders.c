/* Unit tests: "?" placeholder substitution for MariaDB queries (escaping, quotes, comments, counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mariadb.h"

/* Expand sql with params (no connection) and compare with want. */
static void check(const char *sql, int n, const char *const *params, const char *want)
{
    char err[128] = "";
    size_t len = 0;
    char *q = mdb_expand_params(NULL, sql, n, params, &len, err, sizeof err);
    assert_non_null(q);
    assert_string_equal(q, want);
    assert_int_equal(len, strlen(want));
    free(q);
}

static void test_simple(void **state)
{
    const char *p[] = {"42", "bob"};
    check("SELECT * FROM t WHERE id = ? AND name = ?", 2, p, "SELECT * FROM t WHERE id = '42' AND name = 'bob'");
    check("SELECT 1", 0, NULL, "SELECT 1");
    const char *one[] = {"x"};
    check("?", 1, one, "'x'");
}

static void test_null_param(void **state)
{
    const char *p[] = {NULL, "a"};
    check("INSERT INTO t VALUES (?, ?)", 2, p, "INSERT INTO t VALUES (NULL, 'a')");
}

static void test_escaping(void **state)
{
    const char *p[] = {"it's", "back\\slash", "\"dq\"", "nl\nnul"};
    check("VALUES (?, ?, ?, ?)", 4, p, "VALUES ('it\\'s', 'back\\\\slash', '\\\"dq\\\"', 'nl\\nnul')");
    /* An injection attempt stays one string. */
    const char *evil[] = {"x' OR '1'='1"};
    check("WHERE a = ?", 1, evil, "WHERE a = 'x\\' OR \\'1\\'=\\'1'");
}

static void test_high_bit_bytes(void **state)
{
    const char *p[] = {"caf\xc3\xa9 \xf0\x9f\x8e\xae", "\xff\xfe"};
    check("VALUES (?, ?)", 2, p, "VALUES ('caf\xc3\xa9 \xf0\x9f\x8e\xae', '\xff\xfe')");
}

static void test_question_marks_in_quotes_and_comments(void **state)
{
    const char *p[] = {"v"};
    check("SELECT '?', \"?\", `a?` FROM t WHERE x = ?", 1, p, "SELECT '?', \"?\", `a?` FROM t WHERE x = 'v'");
    check("SELECT 'it\\'s ?' , ?", 1, p, "SELECT 'it\\'s ?' , 'v'");
    check("SELECT 'a''?' , ?", 1, p, "SELECT 'a''?' , 'v'");
    check("SELECT ? -- why?\n", 1, p, "SELECT 'v' -- why?\n");
    check("SELECT ? # why?\n", 1, p, "SELECT 'v' # why?\n");
    check("SELECT /* ? */ ?", 1, p, "SELECT /* ? */ 'v'");
    /* "--" not followed by a space is two minus signs, not a comment. */
    check("SELECT 1--?", 1, p, "SELECT 1--'v'");
}

static void test_count_mismatch(void **state)
{
    char err[128] = "";
    const char *p[] = {"a", "b"};
    assert_null(mdb_expand_params(NULL, "SELECT ?", 2, p, NULL, err, sizeof err));
    assert_non_null(strstr(err, "1 placeholders but 2 parameters"));
    assert_null(mdb_expand_params(NULL, "SELECT ?, ?", 1, p, NULL, err, sizeof err));
    assert_null(mdb_expand_params(NULL, "SELECT '?'", 1, p, NULL, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_null_param),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_high_bit_bytes),
        cmocka_unit_test(test_question_marks_in_quotes_and_comments),
        cmocka_unit_test(test_count_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
