/* Unit tests of what queryd's ratings area computes itself (queryd/ratings.c): the one-against-one win probability
 * of the predictions, the family a single rating shows, the profile's ratings per family, and the cache time of
 * answers carrying ratings. Everything read from ClickHouse is checked by tests/integration/test_ratings.sh. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "rating_settings.h"
#include "ratings.h"

/* rows {family, mu, sigma, matches, last_ms} as the current ratings query gives them. */
static cJSON *family_rows(const char *json)
{
    cJSON *rows = cJSON_Parse(json);
    assert_non_null(rows);
    return rows;
}

static void test_duel_win_prob(void **state)
{
    (void)state;
    /* The served chances use RATING_BETA, as ratingd does (not OpenSkill's 25/6, nor the default 6 here). */
    config_register(rating_model_config_vars);
    setenv("RATING_BETA", "7", 1);
    assert_int_equal(rating_settings_load(), 0);
    unsetenv("RATING_BETA");
    double mu, sigma;
    rating_new_player(&mu, &sigma);
    assert_true(mu == 25.0 && fabs(sigma - 25.0 / 3) < 1e-15);
    /* Equal ratings: an even chance. */
    assert_true(rating_duel_win_prob(mu, sigma, mu, sigma) == 0.5);
    /* The model's probability, logistic((mu_a - mu_b) / sqrt(2 beta^2 + sigma_a^2 + sigma_b^2)), beta = 7. */
    double beta = 7, c = sqrt(2 * beta * beta + 4.0 * 4.0 + sigma * sigma);
    double expected = 1 / (1 + exp(-(30.0 - 25.0) / c));
    double p = rating_duel_win_prob(30, 4, 25, sigma);
    assert_true(fabs(p - expected) < 1e-12);
    assert_true(p > 0.5);
    /* Each side's chance, the other way round: they sum to 1. */
    assert_true(fabs(p + rating_duel_win_prob(25, sigma, 30, 4) - 1) < 1e-12);
}

static void test_main_family(void **state)
{
    (void)state;
    cJSON *none = family_rows("[]");
    assert_string_equal(rating_main_family(none), "team"); /* the default family when nothing is rated */
    cJSON *most = family_rows("[{\"family\": \"ffa\", \"matches\": 3}, {\"family\": \"objective\", \"matches\": 5}]");
    assert_string_equal(rating_main_family(most), "objective");
    /* A tie: the first in the served order (ffa, team, objective). */
    cJSON *tie = family_rows("[{\"family\": \"team\", \"matches\": 2}, {\"family\": \"ffa\", \"matches\": 2}]");
    assert_string_equal(rating_main_family(tie), "ffa");
    cJSON_Delete(none);
    cJSON_Delete(most);
    cJSON_Delete(tie);
}

static void test_families_json(void **state)
{
    (void)state;
    setenv("QUERY_RATING_MIN_MATCHES", "3", 1);
    cJSON *rows =
        family_rows("[{\"family\": \"objective\", \"mu\": 30, \"sigma\": 4, \"matches\": 3, \"last_ms\": 5999}]");
    cJSON *o = rating_families_json(rows, 5999); /* served at the time of its last rated match: not widened */
    const cJSON *obj = cJSON_GetObjectItem(o, "objective"), *team = cJSON_GetObjectItem(o, "team");
    assert_non_null(cJSON_GetObjectItem(o, "ffa"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(obj, "family")), "objective");
    assert_true(cJSON_GetObjectItem(obj, "mu")->valuedouble == 30);
    assert_true(cJSON_GetObjectItem(obj, "sigma")->valuedouble == 4);
    assert_true(cJSON_GetObjectItem(obj, "ordinal")->valuedouble == 18); /* mu - 3 sigma */
    assert_true(cJSON_GetObjectItem(obj, "rated_matches")->valuedouble == 3);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(obj, "ranked")));
    assert_true(cJSON_GetObjectItem(obj, "last_rated_at")->valuedouble == 5); /* seconds, rounded down */
    /* No rated match in a family: a new player's rating, not ranked, never rated. */
    assert_true(cJSON_GetObjectItem(team, "mu")->valuedouble == 25);
    assert_true(fabs(cJSON_GetObjectItem(team, "sigma")->valuedouble - 25.0 / 3) < 1e-15);
    assert_true(cJSON_GetObjectItem(team, "rated_matches")->valuedouble == 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(team, "ranked")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(team, "last_rated_at")));
    cJSON_Delete(o);
    /* Below QUERY_RATING_MIN_MATCHES: rated, but not on the leaderboard. */
    setenv("QUERY_RATING_MIN_MATCHES", "4", 1);
    o = rating_family_json(rows, "objective", 5999);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "ranked")));
    cJSON_Delete(o);
    unsetenv("QUERY_RATING_MIN_MATCHES");
    cJSON_Delete(rows);
}

/* A served sigma widens with the time since the player's last rated match, by ratingd's rule (rating_sigma_at,
 * RATING_INACTIVITY_SIGMA_PER_DAY): what the profile shows, the leaderboard ranks by and the predictions use. */
static void test_served_inactivity(void **state)
{
    (void)state;
    cJSON *rows =
        family_rows("[{\"family\": \"objective\", \"mu\": 30, \"sigma\": 4, \"matches\": 3, \"last_ms\": 5999}]");
    const cJSON *row = cJSON_GetArrayItem(rows, 0);
    uint64_t day = 86400000;
    double mu, sigma;
    /* 30 days later: sigma^2 grew by 0.4^2 a day (the default), mu stays. */
    rating_served(row, 5999 + 30 * day, &mu, &sigma);
    assert_true(mu == 30);
    assert_true(fabs(sigma - sqrt(16 + 0.16 * 30)) < 1e-12);
    cJSON *o = rating_family_json(rows, "objective", 5999 + 30 * day);
    assert_true(fabs(cJSON_GetObjectItem(o, "sigma")->valuedouble - sqrt(16 + 0.16 * 30)) < 1e-12);
    assert_true(fabs(cJSON_GetObjectItem(o, "ordinal")->valuedouble - (30 - 3 * sqrt(16 + 0.16 * 30))) < 1e-12);
    assert_true(cJSON_GetObjectItem(o, "as_of_ms")->valuedouble == (double)(5999 + 30 * day));
    cJSON_Delete(o);
    /* Years later: a new player's sigma, never more. Before the last match (clocks apart): as stored. */
    rating_served(row, 5999 + 3000 * day, &mu, &sigma);
    assert_true(fabs(sigma - 25.0 / 3) < 1e-15);
    rating_served(row, 1000, &mu, &sigma);
    assert_true(sigma == 4);
    /* The rate is the setting ratingd reads. */
    setenv("RATING_INACTIVITY_SIGMA_PER_DAY", "1", 1);
    assert_int_equal(rating_settings_load(), 0);
    rating_served(row, 5999 + 9 * day, &mu, &sigma);
    assert_true(fabs(sigma - 5) < 1e-12);
    setenv("RATING_INACTIVITY_SIGMA_PER_DAY", "-1", 1);
    assert_int_equal(rating_settings_load(), -EINVAL);
    unsetenv("RATING_INACTIVITY_SIGMA_PER_DAY");
    assert_int_equal(rating_settings_load(), 0);
    cJSON_Delete(rows);
}

int main(void)
{
    config_register(rating_config_vars);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duel_win_prob),
        cmocka_unit_test(test_main_family),
        cmocka_unit_test(test_families_json),
        cmocka_unit_test(test_served_inactivity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
