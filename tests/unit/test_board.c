/* Unit tests of the leaderboard board (queryd/board.c): reading ClickHouse's TabSeparatedWithNames answers
 * into one row per player, ranking (value descending, ties by guid, only values > 0), paging, applying a delta,
 * and the player stats object of a row. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "board.h"
#include "stats.h"

/* An answer as a build gets it: guid, the given counters, then v<i> for every stat of the source, whose
 * value is the counter named like the stat's value_sql when there is one (else 0). */
static char *answer(stat_source src, const char *cols, const char *const *rows)
{
    size_t cap = 65536, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "guid\t%s", cols);
    for (size_t i = 0; i < lb_stats_count; i++)
        if (lb_stats[i].source == src)
            len += (size_t)snprintf(s + len, cap - len, "\tv%zu", i);
    len += (size_t)snprintf(s + len, cap - len, "\n");
    for (; *rows; rows++) {
        len += (size_t)snprintf(s + len, cap - len, "%s", *rows);
        /* the stat values: copy the counter of the same name from the row */
        char copy[512];
        snprintf(copy, sizeof copy, "%s", *rows);
        char *fields[16];
        size_t n = 0;
        for (char *f = strtok(copy, "\t"); f && n < 16; f = strtok(NULL, "\t"))
            fields[n++] = f;
        for (size_t i = 0; i < lb_stats_count; i++) {
            if (lb_stats[i].source != src)
                continue;
            const char *v = "0";
            char names[256];
            snprintf(names, sizeof names, "%s", cols);
            size_t c = 1;
            for (char *save = NULL, *name = strtok_r(names, "\t", &save); name;
                 name = strtok_r(NULL, "\t", &save), c++)
                if (strcmp(name, lb_stats[i].value_sql) == 0 && c < n)
                    v = fields[c];
            len += (size_t)snprintf(s + len, cap - len, "\t%s", v);
        }
        len += (size_t)snprintf(s + len, cap - len, "\n");
    }
    return s;
}

static board *sample(void)
{
    const char *daily[] = {"p3\t5\t2", "p1\t5\t0", "p2\t9\t1", "p0\t0\t4", NULL};
    const char *match[] = {"p1\t3\t120", "p9\t1\t60", NULL};
    return board_parse(answer(STAT_DAILY, "kills\tdeaths", daily), answer(STAT_MATCH, "games\tplaytime_s", match),
                       strdup("guid\tname\np1\tAnn\\tie \\\\o/\np2\tBob\nunknown\tNobody\n"));
}

static void test_rank(void **state)
{
    board *b = sample();
    assert_non_null(b);
    size_t rows[8], total;
    /* kills: p2 9, then p1 and p3 tied at 5 (by guid), p0 (0) and p9 (only matches) are not on the board */
    size_t n = board_rank(b, lb_stat_find("kills"), 0, 8, rows, &total);
    assert_int_equal(n, 3);
    assert_int_equal(total, 3);
    assert_string_equal(board_guid(b, rows[0]), "p2");
    assert_string_equal(board_guid(b, rows[1]), "p1");
    assert_string_equal(board_guid(b, rows[2]), "p3");
    assert_true(board_value(b, rows[0], lb_stat_find("kills")) == 9);
    /* names: unescaped; a player without a name has "" */
    assert_string_equal(board_name(b, rows[0]), "Bob");
    assert_string_equal(board_name(b, rows[1]), "Ann\tie \\o/");
    assert_string_equal(board_name(b, rows[2]), "");
    /* paging: offset and limit, the total stays */
    n = board_rank(b, lb_stat_find("kills"), 1, 1, rows, &total);
    assert_int_equal(n, 1);
    assert_int_equal(total, 3);
    assert_string_equal(board_guid(b, rows[0]), "p1");
    n = board_rank(b, lb_stat_find("kills"), 5, 8, rows, &total);
    assert_int_equal(n, 0);
    assert_int_equal(total, 3);
    /* a match stat: the player seen only in matches is ranked, daily-only players are not */
    n = board_rank(b, lb_stat_find("games"), 0, 8, rows, &total);
    assert_int_equal(n, 2);
    assert_string_equal(board_guid(b, rows[0]), "p1");
    assert_string_equal(board_guid(b, rows[1]), "p9");
    /* nobody has the stat: an empty board */
    n = board_rank(b, lb_stat_find("bash_kills"), 0, 8, rows, &total);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
    board_free(b);
}

/* A delta: the rows it holds replace the board's (new players join), a player asked for that it does not hold is
 * zeroed, and the rankings already sorted come out as a full sort of the result would. */
static void test_apply(void **state)
{
    (void)state;
    board *b = sample();
    assert_non_null(b);
    size_t rows[8], total;
    assert_int_equal(board_rank(b, lb_stat_find("kills"), 0, 8, rows, &total), 3); /* sorted before the delta */
    /* p3 goes from 5 to 12 kills (first now), p4 is new with 5 (after p1: ties by guid), p2 was asked for and is
     * gone (0: off the board), p1 untouched. */
    const char *daily[] = {"p3\t12\t2", "p4\t5\t1", NULL};
    const char *match[] = {"p4\t1\t30", NULL};
    board *d = board_parse(answer(STAT_DAILY, "kills\tdeaths", daily), answer(STAT_MATCH, "games\tplaytime_s", match),
                           strdup("guid\tname\np4\tDee\n"));
    assert_non_null(d);
    const char *asked[] = {"p2", "p3", "p4"};
    assert_int_equal(board_apply(b, d, asked, 3), 0);
    board_free(d);
    size_t n = board_rank(b, lb_stat_find("kills"), 0, 8, rows, &total);
    assert_int_equal(n, 3);
    assert_int_equal(total, 3);
    assert_string_equal(board_guid(b, rows[0]), "p3");
    assert_string_equal(board_guid(b, rows[1]), "p1");
    assert_string_equal(board_guid(b, rows[2]), "p4");
    assert_true(board_value(b, rows[0], lb_stat_find("kills")) == 12);
    assert_string_equal(board_name(b, rows[2]), "Dee");
    /* a ranking first sorted after the delta agrees: games, p1 3, p4 1, p9 1 */
    n = board_rank(b, lb_stat_find("games"), 0, 8, rows, &total);
    assert_int_equal(n, 3);
    assert_string_equal(board_guid(b, rows[0]), "p1");
    assert_string_equal(board_guid(b, rows[1]), "p4");
    assert_string_equal(board_guid(b, rows[2]), "p9");
    /* a delta of other columns is refused, the board unchanged */
    const char *none[] = {NULL};
    d = board_parse(answer(STAT_DAILY, "kills", none), answer(STAT_MATCH, "games", none), strdup("guid\tname\n"));
    assert_non_null(d);
    assert_int_equal(board_apply(b, d, asked, 0), -EINVAL);
    board_free(d);
    board_free(b);
}

static void test_stats_json(void **state)
{
    board *b = sample();
    size_t rows[1], total;
    board_rank(b, lb_stat_find("games"), 0, 1, rows, &total);
    cJSON *o = board_stats_json(b, rows[0]); /* p1: daily and match columns together */
    assert_int_equal(cJSON_GetObjectItem(o, "kills")->valuedouble, 5);
    assert_int_equal(cJSON_GetObjectItem(o, "games")->valuedouble, 3);
    assert_int_equal(cJSON_GetObjectItem(o, "playtime")->valuedouble, 120);
    assert_int_equal(cJSON_GetObjectItem(o, "kd_ratio")->valuedouble, 5); /* no deaths: K/D is the kills */
    cJSON_Delete(o);
    board_free(b);
}

static void test_malformed(void **state)
{
    const char *none[] = {NULL};
    /* a row with a missing field */
    char *daily = answer(STAT_DAILY, "kills", none);
    size_t len = strlen(daily);
    daily = realloc(daily, len + 8);
    strcpy(daily + len, "p1\t3\n");
    assert_null(board_parse(daily, answer(STAT_MATCH, "games", none), strdup("guid\tname\n")));
    /* columns that are not a board's (no guid first, no stat values) */
    assert_null(board_parse(strdup("kills\n1\n"), answer(STAT_MATCH, "games", none), strdup("guid\tname\n")));
    assert_null(board_parse(strdup("guid\tkills\np1\t1\n"), answer(STAT_MATCH, "games", none), strdup("guid\tname\n")));
    /* empty answers (headers only): an empty board */
    board *b = board_parse(answer(STAT_DAILY, "kills", none), answer(STAT_MATCH, "games", none), strdup("guid\tname\n"));
    assert_non_null(b);
    size_t rows[1], total;
    assert_int_equal(board_rank(b, lb_stat_find("kills"), 0, 1, rows, &total), 0);
    board_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
