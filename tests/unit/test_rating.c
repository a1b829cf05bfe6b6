/* Ratings (common/rating.c) against the published values of the OpenSkill libraries' Plackett-Luce model, and the
 * properties our additions must keep: partial play, inactivity, win probabilities, determinism. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "rating.h"
#include "rating_settings.h"

#define EPS 1e-12

static rating_model model(bool tau)
{
    rating_model m;
    rating_model_default(&m);
    if (!tau)
        m.tau = 0;
    return m;
}

/* n teams of sizes[i] new players each, ranked in order (1, 2, ...), all at full weight. */
typedef struct {
    rating_player players[16];
    rating_team teams[8];
} match;

static void match_init(match *mt, const rating_model *m, const size_t *sizes, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        mt->teams[i] = (rating_team){&mt->players[k], sizes[i], (int)i + 1};
        for (size_t j = 0; j < sizes[i]; j++, k++)
            mt->players[k] = (rating_player){rating_new(m), 1.0};
    }
}

static void assert_rating(rating r, double mu, double sigma)
{
    if (fabs(r.mu - mu) > EPS || fabs(r.sigma - sigma) > EPS)
        fail_msg("rating %.15f/%.15f, expected %.15f/%.15f", r.mu, r.sigma, mu, sigma);
}

/* Two teams of two new players at the defaults, with and without tau (the values in the issue, from OpenSkill). */
static void test_two_by_two(void **state)
{
    (void)state;
    const size_t sizes[] = {2, 2};
    match mt;
    rating_model m = model(true);
    match_init(&mt, &m, sizes, 2);
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    assert_rating(mt.players[0].r, 26.964294621803063, 8.177962604389991);
    assert_rating(mt.players[1].r, 26.964294621803063, 8.177962604389991);
    assert_true(mt.players[2].r.mu < 25 && mt.players[3].r.mu < 25);
    m = model(false);
    match_init(&mt, &m, sizes, 2);
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    assert_rating(mt.players[0].r, 26.964185503295965, 8.17755635771097);
    /* Zero-sum in mu between two equal teams. */
    assert_true(fabs(mt.players[0].r.mu + mt.players[2].r.mu - 50) < EPS);
}

/* Free-for-all and unequal teams, without tau (openskill.js's published Plackett-Luce values). */
static void test_free_for_all(void **state)
{
    (void)state;
    rating_model m = model(false);
    match mt;
    const size_t two[] = {1, 1};
    match_init(&mt, &m, two, 2);
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    assert_rating(mt.players[0].r, 27.63523138347365, 8.065506316323548);
    assert_rating(mt.players[1].r, 22.36476861652635, 8.065506316323548);

    const size_t three[] = {1, 1, 1};
    match_init(&mt, &m, three, 3);
    assert_int_equal(rating_update(&m, mt.teams, 3), 0);
    assert_rating(mt.players[0].r, 27.868876552746237, 8.204837030780652);
    assert_rating(mt.players[1].r, 25.717219138186557, 8.057829747583874);
    assert_rating(mt.players[2].r, 21.413904309067206, 8.057829747583874);

    const size_t five[] = {1, 1, 1, 1, 1};
    match_init(&mt, &m, five, 5);
    assert_int_equal(rating_update(&m, mt.teams, 5), 0);
    assert_rating(mt.players[0].r, 27.666666666666668, 8.290556877154474);
    assert_rating(mt.players[2].r, 25.72222222222222, 8.179996679645559);
    assert_rating(mt.players[4].r, 20.72222222222222, 8.111796013701358);

    const size_t mixed[] = {3, 1, 2};
    match_init(&mt, &m, mixed, 3);
    assert_int_equal(rating_update(&m, mt.teams, 3), 0);
    assert_rating(mt.players[0].r, 25.939870821784513, 8.247641552260456);
    assert_rating(mt.players[3].r, 27.21366020491262, 8.274321317985242);
    assert_rating(mt.players[4].r, 21.84646897330287, 8.213058173195341);
}

/* Partial play: weight 1 is the plain model; a player who played half of the match moves less than a teammate who
 * played all of it, and less uncertainty is removed. */
static void test_partial_play(void **state)
{
    (void)state;
    rating_model m = model(true);
    match mt;
    const size_t sizes[] = {2, 2};
    match_init(&mt, &m, sizes, 2);
    mt.players[1].weight = 0.5;
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    double full = mt.players[0].r.mu - 25, half = mt.players[1].r.mu - 25;
    assert_true(full > 0 && half > 0 && half < full);
    assert_true(mt.players[1].r.sigma > mt.players[0].r.sigma);
    /* Invalid weights and matches are refused without touching anything. */
    match_init(&mt, &m, sizes, 2);
    mt.players[3].weight = 0;
    assert_int_equal(rating_update(&m, mt.teams, 2), -1);
    assert_rating(mt.players[0].r, 25, 25.0 / 3);
    mt.players[3].weight = 1.5;
    assert_int_equal(rating_update(&m, mt.teams, 2), -1);
    mt.players[3].weight = 1;
    assert_int_equal(rating_update(&m, mt.teams, 1), -1);
}

/* A draw between equals moves no mean; the loser of an upset moves further than the loser of an expected result. */
static void test_draw_and_upset(void **state)
{
    (void)state;
    rating_model m = model(false);
    match mt;
    const size_t sizes[] = {1, 1};
    match_init(&mt, &m, sizes, 2);
    mt.teams[1].rank = 1;
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    assert_true(fabs(mt.players[0].r.mu - 25) < EPS && fabs(mt.players[1].r.mu - 25) < EPS);
    assert_true(mt.players[0].r.sigma < 25.0 / 3);

    match_init(&mt, &m, sizes, 2);
    mt.players[0].r.mu = 35; /* the favourite wins */
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    double expected = 35 - mt.players[0].r.mu;
    match_init(&mt, &m, sizes, 2);
    mt.players[1].r.mu = 35; /* the favourite loses */
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    double upset = 35 - mt.players[1].r.mu;
    assert_true(expected < 0 && upset > 0);
}

/* The update ratingd rates with counts strengths above a new player's: the same as Weng-Lin's between equal teams,
 * and a side of five new players that beats a side of four learns as much as the four would have by winning (raw
 * sums expected the five to win, so their win taught them less than the four's). */
static void test_relative_update(void **state)
{
    (void)state;
    rating_model m = model(true);
    match mt;
    const size_t two[] = {2, 2};
    match_init(&mt, &m, two, 2);
    assert_int_equal(rating_update_relative(&m, mt.teams, 2), 0);
    assert_rating(mt.players[0].r, 26.964294621803063, 8.177962604389991);
    assert_true(fabs(mt.players[0].r.mu + mt.players[2].r.mu - 50) < EPS);

    const size_t five_four[] = {5, 4}, four_five[] = {4, 5};
    match_init(&mt, &m, five_four, 2);
    assert_int_equal(rating_update_relative(&m, mt.teams, 2), 0);
    double five_won = mt.players[0].r.mu - 25, four_lost = mt.players[5].r.mu - 25;
    match_init(&mt, &m, four_five, 2);
    assert_int_equal(rating_update_relative(&m, mt.teams, 2), 0);
    double four_won = mt.players[0].r.mu - 25, five_lost = mt.players[4].r.mu - 25;
    if (fabs(five_won - four_won) > EPS || fabs(five_lost - four_lost) > EPS || !(five_won > 0 && five_lost < 0))
        fail_msg("five won %.15f, four won %.15f; five lost %.15f, four lost %.15f", five_won, four_won, five_lost,
                 four_lost);
    match_init(&mt, &m, five_four, 2);
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    assert_true(mt.players[0].r.mu - 25 < 0.6 * five_won); /* raw sums: the larger side's win counts about half */
}

/* Very strong teams do not overflow exp(mu / c). */
static void test_large_values(void **state)
{
    (void)state;
    rating_model m = model(true);
    match mt;
    const size_t sizes[] = {8, 8};
    match_init(&mt, &m, sizes, 2);
    for (size_t k = 0; k < 8; k++)
        mt.players[k].r.mu = 5000;
    assert_int_equal(rating_update(&m, mt.teams, 2), 0);
    for (size_t k = 0; k < 16; k++)
        assert_true(isfinite(mt.players[k].r.mu) && isfinite(mt.players[k].r.sigma) && mt.players[k].r.sigma > 0);
}

static void test_win_probabilities(void **state)
{
    (void)state;
    rating_model m = model(true);
    match mt;
    const size_t sizes[] = {2, 2};
    match_init(&mt, &m, sizes, 2);
    double p[2];
    rating_win_probabilities(&m, mt.teams, 2, p);
    assert_true(fabs(p[0] - 0.5) < EPS && fabs(p[1] - 0.5) < EPS);
    mt.players[0].r.mu = 30;
    rating_win_probabilities(&m, mt.teams, 2, p);
    /* logistic(5 / c), c^2 = 2 beta^2 + 4 sigma^2: the update's own expectation (each team one beta^2) */
    double c = sqrt(2 * m.beta * m.beta + 4 * m.sigma * m.sigma), want = 1 / (1 + exp(-5 / c));
    assert_true(fabs(p[0] - want) < EPS && fabs(p[0] + p[1] - 1) < EPS);
    /* It is the chance the update expects (without tau, which the update adds first): a win of the favourite moves
     * its mu by sigma^2 / c * (1 - p), a loss by sigma^2 / c * p, so a result as likely as predicted moves nothing on
     * average. */
    rating_model m0 = model(false);
    match won, lost;
    match_init(&won, &m0, sizes, 2);
    match_init(&lost, &m0, sizes, 2);
    won.players[0].r.mu = lost.players[0].r.mu = 30;
    lost.teams[0].rank = 2;
    lost.teams[1].rank = 1;
    rating_win_probabilities(&m0, won.teams, 2, p);
    assert_int_equal(rating_update_relative(&m0, won.teams, 2), 0);
    assert_int_equal(rating_update_relative(&m0, lost.teams, 2), 0);
    double up = won.players[0].r.mu - 30, down = 30 - lost.players[0].r.mu;
    assert_true(up > 0 && down > up);
    assert_true(fabs(p[0] * up - (1 - p[0]) * down) < 1e-9);
    const size_t three[] = {1, 1, 1};
    match_init(&mt, &m, three, 3);
    double q[3];
    rating_win_probabilities(&m, mt.teams, 3, q);
    assert_true(fabs(q[0] - 1.0 / 3) < EPS && fabs(q[0] + q[1] + q[2] - 1) < EPS);
    /* Plackett-Luce's first place: exp(m_i / c) / sum exp(m_j / c), c^2 = 3 beta^2 + 3 sigma^2 */
    mt.players[0].r.mu = 35;
    mt.players[2].r.mu = 20;
    rating_win_probabilities(&m, mt.teams, 3, q);
    double c3 = sqrt(3 * m.beta * m.beta + 3 * m.sigma * m.sigma);
    double e0 = exp(10 / c3), e1 = 1, e2 = exp(-5 / c3);
    assert_true(fabs(q[0] - e0 / (e0 + e1 + e2)) < EPS && fabs(q[2] - e2 / (e0 + e1 + e2)) < EPS);
    /* Far apart: no overflow, the favourite's chance is 1 to within rounding. */
    mt.players[0].r.mu = 1e6;
    rating_win_probabilities(&m, mt.teams, 3, q);
    assert_true(isfinite(q[1]) && q[0] > 1 - EPS && q[0] <= 1);
    /* The start weight pulls two teams' chances toward even, and leaves a field of three as it was. */
    rating_model half = m;
    half.start_weight = 0.5;
    double r[3];
    rating_win_probabilities(&half, mt.teams, 3, r);
    assert_true(r[0] == q[0] && r[1] == q[1] && r[2] == q[2]);
    match_init(&mt, &m, sizes, 2);
    mt.players[0].r.mu = 30;
    rating_win_probabilities(&half, mt.teams, 2, p);
    assert_true(fabs(p[0] - (0.5 + (want - 0.5) * 0.5)) < EPS && fabs(p[0] + p[1] - 1) < EPS);
    half.start_weight = 0;
    rating_win_probabilities(&half, mt.teams, 2, p);
    assert_true(p[0] == 0.5 && p[1] == 0.5);
}

static void test_inactivity_and_ordinal(void **state)
{
    (void)state;
    rating_model m = model(true);
    assert_true(rating_after_inactivity(&m, 3, 0, 0.4) == 3);
    double s = rating_after_inactivity(&m, 3, 30, 0.4);
    assert_true(fabs(s - sqrt(9 + 0.16 * 30)) < EPS);
    assert_true(rating_after_inactivity(&m, 3, 100000, 0.4) == m.sigma); /* never past a new player's */
    assert_true(rating_after_inactivity(&m, 9, 10, 0.4) == 9);           /* nor below what it was */
    assert_true(fabs(rating_ordinal((rating){25, 25.0 / 3})) < EPS);
}

/* RATING_BETA, the one setting ratingd and queryd both read: OpenSkill's 25/6 by default (to the last bit), else
 * the environment's, and a value out of range is refused rather than rated with. */
static void test_model_settings(void **state)
{
    (void)state;
    config_register(rating_model_config_vars);
    rating_model m, d;
    rating_model_default(&d);
    unsetenv("RATING_BETA");
    assert_int_equal(rating_model_load(&m), 0);
    assert_true(m.beta == 25.0 / 6 && m.beta == d.beta);
    assert_true(m.mu == d.mu && m.sigma == d.sigma && m.tau == d.tau && m.kappa == d.kappa);
    setenv("RATING_BETA", "7.5", 1);
    assert_int_equal(rating_model_load(&m), 0);
    assert_true(m.beta == 7.5);
    setenv("RATING_BETA", "0", 1);
    assert_int_equal(rating_model_load(&m), -EINVAL);
    setenv("RATING_BETA", "6x", 1);
    assert_int_equal(rating_model_load(&m), -EINVAL);
    unsetenv("RATING_BETA");
    /* RATING_START_WEIGHT: a weight in [0, 1], read by the same call */
    assert_true(d.start_weight == 1);
    setenv("RATING_START_WEIGHT", "0.8", 1);
    assert_int_equal(rating_model_load(&m), 0);
    assert_true(m.start_weight == 0.8);
    setenv("RATING_START_WEIGHT", "1.5", 1);
    assert_int_equal(rating_model_load(&m), -EINVAL);
    setenv("RATING_START_WEIGHT", "", 1);
    assert_int_equal(rating_model_load(&m), -EINVAL);
    unsetenv("RATING_START_WEIGHT");
    assert_int_equal(rating_model_load(&m), 0);
}

/* The same matches in the same order give bit-identical ratings (what the recomputation relies on). */
static void test_deterministic(void **state)
{
    (void)state;
    rating_model m = model(true);
    rating a[6], b[6];
    for (int run = 0; run < 2; run++) {
        rating *r = run ? b : a;
        for (int k = 0; k < 6; k++)
            r[k] = rating_new(&m);
        for (int g = 0; g < 200; g++) {
            rating_player p[6];
            for (int k = 0; k < 6; k++)
                p[k] = (rating_player){r[(k + g) % 6], k == 5 ? 0.6 : 1.0};
            rating_team t[3] = {{&p[0], 2, 1 + g % 3}, {&p[2], 2, 1 + (g + 1) % 3}, {&p[4], 2, 1 + (g + 2) % 3}};
            assert_int_equal(rating_update(&m, t, 3), 0);
            for (int k = 0; k < 6; k++)
                r[(k + g) % 6] = p[k].r;
        }
    }
    assert_memory_equal(a, b, sizeof a);
}

/* A forum team's rating: each member by their GUID with the most rated matches, the mean of the rated members, and
 * the forum's scale (1000 for a team of new players, 40 a skill point). */
static void test_forum_team(void **state)
{
    (void)state;
    rating_model m = model(true);
    rating_member ms[3] = {{{0, 0}, 0}, {{0, 0}, 0}, {{0, 0}, 0}};
    assert_true(rating_member_offer(&ms[0], (rating){30, 3}, 2));
    assert_false(rating_member_offer(&ms[0], (rating){40, 1}, 2)); /* a tie: the first GUID stays */
    assert_true(rating_member_offer(&ms[0], (rating){31, 4}, 5));
    assert_true(rating_member_offer(&ms[1], (rating){25, 3}, 1));
    rating team = {0, 0};
    assert_false(rating_team_mean(&ms[2], 1, &team)); /* nobody rated: nothing known */
    assert_true(rating_team_mean(ms, 3, &team));      /* member 3, unrated, is left out */
    assert_rating(team, 28.0, 2.5);
    assert_int_equal(rating_forum_points(&m, team), 1120);
    assert_int_equal(rating_forum_points(&m, rating_new(&m)), 1000);
    assert_int_equal(rating_forum_points(&m, (rating){24.99, 1}), 1000);
    assert_int_equal(rating_forum_points(&m, (rating){12.5, 1}), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_by_two),
        cmocka_unit_test(test_free_for_all),
        cmocka_unit_test(test_partial_play),
        cmocka_unit_test(test_draw_and_upset),
        cmocka_unit_test(test_relative_update),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_win_probabilities),
        cmocka_unit_test(test_inactivity_and_ordinal),
        cmocka_unit_test(test_model_settings),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_forum_team),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
