/* Unit tests: achievd's tournament decisions (achievd/tournament.c): which side a team played on, and the outcome of
 * a tournament match from its game's winner and scores (docs/tournaments.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tournament.h"

/* A team's side: the majority of its players present; none present or an even split decides nothing. */
static void test_team_side(void **state)
{
    (void)state;
    assert_int_equal(tournament_team_side(2, 0), SIDE_ALLIES);
    assert_int_equal(tournament_team_side(1, 3), SIDE_AXIS);
    assert_int_equal(tournament_team_side(2, 1), SIDE_ALLIES); /* one member played for the other side */
    assert_int_equal(tournament_team_side(0, 0), SIDE_NONE);
    assert_int_equal(tournament_team_side(2, 2), SIDE_NONE);
}

/* The named winner decides, whatever the scores; without one the scores do; equal scores are a draw. */
static void test_outcome(void **state)
{
    (void)state;
    assert_int_equal(tournament_outcome("allies", 5, 3, SIDE_ALLIES), 'a');
    assert_int_equal(tournament_outcome("allies", 5, 3, SIDE_AXIS), 'b');
    assert_int_equal(tournament_outcome("axis", 5, 3, SIDE_AXIS), 'a');
    assert_int_equal(tournament_outcome("", 1, 4, SIDE_ALLIES), 'b');
    assert_int_equal(tournament_outcome("", 4, 1, SIDE_ALLIES), 'a');
    assert_int_equal(tournament_outcome("", 2, 2, SIDE_AXIS), 'd');
    assert_int_equal(tournament_outcome("", 0, 0, SIDE_ALLIES), 'd');
    assert_int_equal(tournament_outcome("spectator", 0, 0, SIDE_ALLIES), 'd');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_team_side),
        cmocka_unit_test(test_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
