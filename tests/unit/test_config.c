/* Unit tests: URL parsing, settings from the environment, password redaction, log level names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "config.h"
#include "log.h"

static void test_url_full(void **state)
{
    url_parts u;
    assert_int_equal(url_parse("postgresql://user:p@ss:w@127.0.0.1:5433/mohstats?sslmode=disable", 5432, &u), 0);
    assert_string_equal(u.scheme, "postgresql");
    assert_string_equal(u.user, "user");
    assert_string_equal(u.password, "p@ss:w");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 5433);
    assert_string_equal(u.path, "mohstats");
    assert_string_equal(u.query, "sslmode=disable");
}

static void test_url_defaults_and_v6(void **state)
{
    url_parts u;
    assert_int_equal(url_parse("redis://localhost", 6379, &u), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.user, "");
    assert_string_equal(u.path, "");
    assert_int_equal(url_parse("http://[::1]:8123/?database=mohstats", 80, &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8123);
    assert_string_equal(u.query, "database=mohstats");
    assert_int_equal(url_parse("redis://:secret@h:1/2", 0, &u), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "secret");
    assert_string_equal(u.path, "2");
}

static void test_url_invalid(void **state)
{
    url_parts u;
    assert_int_equal(url_parse("no-scheme", 1, &u), -EINVAL);
    assert_int_equal(url_parse("http://h:0/", 1, &u), -EINVAL);
    assert_int_equal(url_parse("http://h:99999/", 1, &u), -EINVAL);
    assert_int_equal(url_parse("http://h:12x/", 1, &u), -EINVAL);
    assert_int_equal(url_parse("http:///path", 1, &u), -EINVAL);
    assert_int_equal(url_parse(NULL, 1, &u), -EINVAL);
}

static const config_var test_vars[] = {
    {"TEST_SETTING", "42", "a test setting"},
    {NULL, NULL, NULL},
};

static void test_config_get(void **state)
{
    config_register(test_vars);
    unsetenv("TEST_SETTING");
    assert_string_equal(config_get("TEST_SETTING"), "42");
    assert_int_equal(config_get_int("TEST_SETTING", 1), 42);
    setenv("TEST_SETTING", "7", 1);
    assert_int_equal(config_get_int("TEST_SETTING", 1), 7);
    setenv("TEST_SETTING", "7x", 1);
    assert_int_equal(config_get_int("TEST_SETTING", 1), 1);
    assert_null(config_get("NOT_A_SETTING_ANYWHERE"));
    assert_string_equal(config_get("REDIS_URL"), "redis://127.0.0.1:6379/0");
}

/* A bounded setting: its value when within the bounds (inclusive); -EINVAL and out untouched when beyond them,
 * malformed, or missing without a default, whatever the bounds' sign. */
static void test_config_get_int_in(void **state)
{
    config_register(test_vars);
    int v = 0;
    unsetenv("TEST_SETTING");
    assert_int_equal(config_get_int_in("TEST_SETTING", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    setenv("TEST_SETTING", "100", 1);
    assert_int_equal(config_get_int_in("TEST_SETTING", 0, 100, &v), 0);
    assert_int_equal(v, 100);
    setenv("TEST_SETTING", "101", 1);
    v = 5;
    assert_int_equal(config_get_int_in("TEST_SETTING", 0, 100, &v), -EINVAL);
    assert_int_equal(v, 5);
    setenv("TEST_SETTING", "-1", 1);
    assert_int_equal(config_get_int_in("TEST_SETTING", 0, 100, &v), -EINVAL);
    assert_int_equal(config_get_int_in("TEST_SETTING", -10, 10, &v), 0);
    assert_int_equal(v, -1);
    setenv("TEST_SETTING", "7x", 1);
    assert_int_equal(config_get_int_in("TEST_SETTING", -10, 10, &v), -EINVAL);
    setenv("TEST_SETTING", "3000000000", 1);
    assert_int_equal(config_get_int_in("TEST_SETTING", 0, 4000000000LL, &v), -EINVAL);
    assert_int_equal(config_get_int_in("NOT_A_SETTING_ANYWHERE", 0, 10, &v), -EINVAL);
    unsetenv("TEST_SETTING");
}

static void test_redact(void **state)
{
    char out[128];
    config_redact_url("mysql://u:secret@h:3306/smf", out, sizeof out);
    assert_string_equal(out, "mysql://u:***@h:3306/smf");
    config_redact_url("redis://h:6379/0", out, sizeof out);
    assert_string_equal(out, "redis://h:6379/0");
    assert_null(strstr(out, "secret"));
}

static void test_log_levels(void **state)
{
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("WARN"), LOG_WARN);
    assert_int_equal(log_level_parse("warning"), LOG_WARN);
    assert_int_equal(log_level_parse("loud"), -1);
    log_init("test", LOG_ERROR);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_full),          cmocka_unit_test(test_url_defaults_and_v6),
        cmocka_unit_test(test_url_invalid),       cmocka_unit_test(test_config_get),
        cmocka_unit_test(test_config_get_int_in), cmocka_unit_test(test_redact),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
