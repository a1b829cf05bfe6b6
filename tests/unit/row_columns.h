/* For the tests of rendered raw_events rows: a column's index by name in raw_row_columns. Include after
 * cmocka.h and event_row.h. */
#ifndef MOHSTATS_TEST_ROW_COLUMNS_H
#define MOHSTATS_TEST_ROW_COLUMNS_H

#include <string.h>

static int colno(const char *name)
{
    const char *s = raw_row_columns;
    int i = 0;
    size_t n = strlen(name);
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == n && memcmp(s, name, n) == 0)
            return i;
        s += len;
        while (*s == ',' || *s == ' ')
            s++;
        i++;
    }
    fail_msg("no column %s", name);
    return -1;
}

#endif
