/* The repository's own files for unit tests (source_file.h). The top is found from this file's own path, which the
 * compiler gives as it was built: a test runs from any directory. */
#include "source_file.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

char *source_file(const char *rel)
{
    char path[1024];
    const char *here = __FILE__, *cut = strstr(here, "tests/unit/");
    assert_non_null(cut);
    snprintf(path, sizeof path, "%.*s%s", (int)(cut - here), here, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}
