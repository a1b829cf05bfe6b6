/* Fuzz target: the leaderboard board's reader of ClickHouse TabSeparatedWithNames answers (queryd/board.c)
 * and the RFC 3339 reader of /stats/query (queryd/params.c). The input is the three answers of a build,
 * daily, match and names, separated by 0x01 bytes. Whatever they hold, board_parse gives a board or NULL;
 * a board ranks every stat in order (value descending, all values > 0) within its own rows, and its stats
 * objects build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "board.h"
#include "params.h"

/* A NUL-terminated copy of data[0..n). */
static char *dup_part(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *whole = dup_part(data, size);
    int64_t t;
    (void)param_time_parse(whole, &t);
    free(whole);

    const uint8_t *cut1 = memchr(data, 1, size);
    const uint8_t *cut2 = cut1 ? memchr(cut1 + 1, 1, size - (size_t)(cut1 + 1 - data)) : NULL;
    if (!cut2)
        return 0;
    board *b = board_parse(dup_part(data, (size_t)(cut1 - data)), dup_part(cut1 + 1, (size_t)(cut2 - cut1 - 1)),
                           dup_part(cut2 + 1, size - (size_t)(cut2 + 1 - data)));
    if (!b)
        return 0;
    size_t rows[64], total;
    for (size_t i = 0; i < lb_stats_count; i++) {
        size_t n = board_rank(b, &lb_stats[i], 0, 64, rows, &total);
        if (n > total || n > 64)
            abort();
        for (size_t r = 0; r < n; r++) {
            double v = board_value(b, rows[r], &lb_stats[i]);
            if (!(v > 0) || (r > 0 && v > board_value(b, rows[r - 1], &lb_stats[i])))
                abort();
            if (!board_guid(b, rows[r]) || !board_name(b, rows[r]))
                abort();
        }
        if (n > 0)
            cJSON_Delete(board_stats_json(b, rows[0]));
    }
    board_free(b);
    return 0;
}
