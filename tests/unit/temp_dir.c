/* Temporary directories for unit tests (temp_dir.h). */
#include "temp_dir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

char *temp_dir(void)
{
    char *d = strdup("/tmp/mohstats-unit-test.XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

void remove_dir(const char *dir)
{
    char cmd[512];
    assert_true(snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir) < (int)sizeof cmd);
    assert_int_equal(system(cmd), 0);
}
