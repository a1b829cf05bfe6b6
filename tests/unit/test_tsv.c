/* Every daemon reads ClickHouse's TabSeparated answers with tsv_split_line (common/text.c): fields split and
 * unescaped in place, every line read (the last one too, with or without its newline), GUIDs with tabs and
 * backslashes intact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void test_lines_and_fields(void **state)
{
    (void)state;
    char body[] = "m1\t101\tallies\nm1\tGROUP BY guid\t\n";
    char *f[4], *p = body;
    assert_int_equal(tsv_split_line(&p, f, 4), 3);
    assert_string_equal(f[0], "m1");
    assert_string_equal(f[1], "101");
    assert_string_equal(f[2], "allies");
    assert_int_equal(tsv_split_line(&p, f, 4), 3);
    assert_string_equal(f[1], "GROUP BY guid");
    assert_string_equal(f[2], "");
    assert_int_equal(tsv_split_line(&p, f, 4), 0);
}

/* Escapes shorten a field: the NUL written at its end may land on the line's own newline, and the next line must
 * still be read (the bug that once dropped every other row). */
static void test_escapes(void **state)
{
    (void)state;
    char body[] = "a\\tb\\\\c\\nd\tx\ny\tz";
    char *f[2], *p = body;
    assert_int_equal(tsv_split_line(&p, f, 2), 2);
    assert_string_equal(f[0], "a\tb\\c\nd");
    assert_string_equal(f[1], "x");
    assert_int_equal(tsv_split_line(&p, f, 2), 2);
    assert_string_equal(f[0], "y");
    assert_string_equal(f[1], "z");
    assert_int_equal(tsv_split_line(&p, f, 2), 0);
    char one[] = "k\n";
    p = one;
    assert_int_equal(tsv_split_line(&p, f, 2), 1);
    assert_string_equal(f[0], "k");
    assert_int_equal(tsv_split_line(&p, f, 2), 0);
}

/* More fields than asked for: the extra ones stay in the last field's line, never overflow fields[]. */
static void test_more_fields_than_room(void **state)
{
    (void)state;
    char body[] = "1\t2\t3\n4\n";
    char *f[2], *p = body;
    assert_int_equal(tsv_split_line(&p, f, 2), 2);
    assert_string_equal(f[0], "1");
    assert_int_equal(tsv_split_line(&p, f, 2), 1);
    assert_string_equal(f[0], "4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_fields),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_more_fields_than_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
