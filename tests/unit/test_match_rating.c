/* ratingd's per-match decision (ratingd/match_rating.c): which matches are rated and why not, who is rated in
 * them, with what weight, in which order; and that applying a plan moves ratings the right way, deterministically. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "game_vocab.h"
#include "match_rating.h"
#include "source_file.h"

static const match_rules rules = {.min_fraction = 0.5, .min_duration_s = 60};

/* A 600 s objective match won by the Allies: two members a side, a guest, a bot and a late joiner (30%). */
static const match_player team_players[] = {
    {"101", SIDE_ALLIES, 0, 600, 10, 0, 0, SIDE_ALLIES},  {"102", SIDE_ALLIES, 5, 590, 4, 0, 0, SIDE_ALLIES},
    {"201", SIDE_AXIS, 0, 600, 6, 0, 0, SIDE_AXIS},       {"202", SIDE_AXIS, 1, 700, 2, 1, 0, SIDE_AXIS},
    {"unauth_3", SIDE_AXIS, 0, 600, 9, 0, 0, SIDE_AXIS},  {"bot_7", SIDE_ALLIES, 0, 600, 1, 0, 0, SIDE_ALLIES},
    {"103", SIDE_ALLIES, 420, 600, 3, 0, 0, SIDE_ALLIES}, {"301", SIDE_NONE, 0, 600, 0, 0, 0, SIDE_NONE},
};

static match_facts team_match(void)
{
    return (match_facts){.match_key = "m1",
                         .gametype = "4",
                         .map = "obj/obj_team2",
                         .ended = true,
                         .start_t = 0,
                         .end_t = 600,
                         .winner = SIDE_ALLIES,
                         .players = team_players,
                         .nplayers = sizeof team_players / sizeof team_players[0]};
}

static void test_game_types(void **state)
{
    (void)state;
    assert_string_equal(vocab_game_type("4", ""), "obj");
    assert_string_equal(vocab_game_type("TDM", "dm/mohdm1"), "tdm");
    assert_string_equal(vocab_game_type("", "dm/mohdm1"), "dm");
    assert_string_equal(vocab_game_type("", "obj_team2"), "obj");
    assert_string_equal(vocab_game_type("", "mohdm1"), "");
    assert_string_equal(vocab_game_type("coop", "dm/mohdm1"), ""); /* a named type wins over the map */
    assert_string_equal(vocab_game_type("Round", ""), "rb");
    assert_string_equal(vocab_game_type("", "rb_somewhere"), ""); /* rb is not read from a map prefix */
    assert_int_equal(match_game_type_family(vocab_game_type("3", "")), RFAM_OBJECTIVE);
    assert_int_equal(match_game_type_family("dm"), RFAM_FFA);
    assert_int_equal(match_game_type_family("tdm"), RFAM_TEAM);
    assert_int_equal(match_game_type_family("rb"), RFAM_OBJECTIVE);
    assert_int_equal(match_game_type_family("ctf"), RFAM_OBJECTIVE);
    assert_int_equal(match_game_type_family(""), RFAM_NONE);
    assert_string_equal(rating_family_name(RFAM_OBJECTIVE), "objective");
    assert_true(rating_guid_ratable("42"));
    assert_false(rating_guid_ratable("unauth_12"));
    assert_false(rating_guid_ratable("BOT_1"));
    assert_false(rating_guid_ratable(""));
}

/* Who is rated in a team match, and with what weight. */
static void test_team_match_players(void **state)
{
    (void)state;
    match_facts f = team_match();
    match_plan p;
    assert_int_equal(match_plan_build(&f, &rules, &p), 0);
    assert_true(p.rated);
    assert_string_equal(p.reason, "");
    assert_int_equal(p.family, RFAM_OBJECTIVE);
    assert_string_equal(p.game_type, "obj");
    assert_int_equal(p.nteams, 2);
    const player_verdict want[] = {PLAYER_RATED,     PLAYER_RATED,     PLAYER_RATED, PLAYER_RATED,
                                   PLAYER_UNRATABLE, PLAYER_UNRATABLE, PLAYER_SHORT, PLAYER_NO_SIDE};
    for (size_t i = 0; i < f.nplayers; i++)
        assert_int_equal(p.verdict[i], want[i]);
    assert_int_equal(p.team[0], 0);
    assert_int_equal(p.rank[0], 1);
    assert_int_equal(p.team[2], 1);
    assert_int_equal(p.rank[3], 2);
    assert_int_equal(p.team[4], -1);
    assert_int_equal(p.team[6], -1);
    assert_float_equal(p.fraction[1], 585.0 / 600, 1e-12);
    /* Events after match_end do not count: 202's span is clamped to [1, 600]. */
    assert_float_equal(p.fraction[3], 599.0 / 600, 1e-12);
    assert_float_equal(p.fraction[6], 0.3, 1e-12);
    match_plan_free(&p);
}

/* Winners' mu goes up, losers' down; sigma shrinks; a partial player moves less than a full one. */
static void test_team_match_apply(void **state)
{
    (void)state;
    match_facts f = team_match();
    match_plan p;
    assert_int_equal(match_plan_build(&f, &rules, &p), 0);
    rating_model m;
    rating_model_default(&m);
    rating before[8], after[8];
    uint64_t last[8] = {0};
    double win[8] = {0};
    for (size_t i = 0; i < 8; i++)
        before[i] = rating_new(&m);
    assert_int_equal(match_plan_apply(&p, &m, 0.4, 1000, last, before, after, win), 0);
    /* Predicted before the update: a team's players share its chance, and the two chances make 1. Everyone who
     * played on a side counts in its strength, by the fraction played (the Allies: 101, 102 97.5%, the bot and the
     * late joiner 103 30%; the Axis: 201, 202 and the guest), but above a new player's mu: all are new players
     * here, so neither side is stronger for fielding more, and the chance is even. */
    assert_float_equal(win[0], win[1], 0);
    assert_float_equal(win[0] + win[2], 1, 1e-12);
    assert_float_equal(win[0], 0.5, 1e-12);
    /* A strong member makes their side the favourite, by logistic(d / c), c^2 = sum of sigma^2 + 2 beta^2 (one
     * beta^2 a side: the update's own expectation) over the roster present at the start, each counted whole: 101,
     * 102, the bot; 201, 202, the guest (not the late joiner 103, nor the spectator). */
    before[0].mu = 35;
    assert_int_equal(match_plan_apply(&p, &m, 0.4, 1000, last, before, after, win), 0);
    double s2 = m.sigma * m.sigma, b2 = m.beta * m.beta, var = 2 * b2 + 6 * s2;
    assert_float_equal(win[0], 1 / (1 + exp(-10 / sqrt(var))), 1e-12);
    for (size_t i = 0; i < 8; i++)
        before[i] = rating_new(&m);
    assert_int_equal(match_plan_apply(&p, &m, 0.4, 1000, last, before, after, win), 0);
    assert_true(after[0].mu > 25 && after[1].mu > 25);
    assert_true(after[2].mu < 25 && after[3].mu < 25);
    assert_true(after[0].sigma < 25.0 / 3);
    assert_true(after[0].mu - 25 > after[1].mu - 25); /* 101 played all of it, 102 97.5% */
    /* The same inputs again give bit-identical results. */
    rating before2[8], after2[8];
    for (size_t i = 0; i < 8; i++)
        before2[i] = rating_new(&m);
    assert_int_equal(match_plan_apply(&p, &m, 0.4, 1000, last, before2, after2, NULL), 0);
    for (size_t i = 0; i < 4; i++)
        assert_memory_equal(&after[i], &after2[i], sizeof after[i]);
    match_plan_free(&p);
}

/* A player back after 30 days starts from a wider sigma, no wider than a new player's. */
static void test_inactivity(void **state)
{
    (void)state;
    match_facts f = team_match();
    match_plan p;
    assert_int_equal(match_plan_build(&f, &rules, &p), 0);
    rating_model m;
    rating_model_default(&m);
    rating before[8], after[8];
    uint64_t last[8] = {0};
    for (size_t i = 0; i < 8; i++)
        before[i] = (rating){30, 2};
    uint64_t end = 40ull * 86400000;
    last[0] = end - 30ull * 86400000;
    last[1] = end - 1000;
    assert_int_equal(match_plan_apply(&p, &m, 0.4, end, last, before, after, NULL), 0);
    assert_float_equal(before[0].sigma, sqrt(4 + 0.16 * 30), 1e-9);
    assert_true(before[1].sigma < 2.0001);
    assert_float_equal(before[2].sigma, 2, 0); /* never rated before in this family: not widened */
    match_plan_free(&p);
}

static void assert_unrated(const match_facts *f, const char *reason_start)
{
    match_plan p;
    assert_int_equal(match_plan_build(f, &rules, &p), 0);
    assert_false(p.rated);
    if (strncmp(p.reason, reason_start, strlen(reason_start)) != 0)
        fail_msg("reason '%s', expected it to start with '%s'", p.reason, reason_start);
    for (size_t i = 0; i < f->nplayers; i++) {
        assert_int_equal(p.team[i], -1);
        assert_int_not_equal(p.verdict[i], PLAYER_RATED);
    }
    rating_model m;
    rating_model_default(&m);
    rating r[8] = {{0}};
    uint64_t last[8] = {0};
    assert_int_equal(match_plan_apply(&p, &m, 0.4, 1, last, r, r, NULL), -1);
    match_plan_free(&p);
}

static void test_unrated_matches(void **state)
{
    (void)state;
    match_facts f = team_match();
    f.ended = false;
    assert_unrated(&f, "no match_end");
    f = team_match();
    f.gametype = "coop";
    assert_unrated(&f, "unknown game type");
    f = team_match();
    f.end_t = 59;
    assert_unrated(&f, "too short: 59 s of play (minimum 60 s)");
    f = team_match();
    f.winner = SIDE_NONE;
    assert_unrated(&f, "no winning team");
    /* Only guests and the spectator on the Axis side: one side with rated players. */
    static const match_player one_side[] = {{"101", SIDE_ALLIES, 0, 600, 1, 0, 0, SIDE_ALLIES},
                                            {"unauth_1", SIDE_AXIS, 0, 600, 1, 0, 0, SIDE_AXIS},
                                            {"102", SIDE_AXIS, 500, 600, 1, 0, 0, SIDE_AXIS}};
    f = team_match();
    f.players = one_side;
    f.nplayers = 3;
    assert_unrated(&f, "fewer than 2 sides with rated players");
    f.nplayers = 0;
    assert_unrated(&f, "fewer than 2 sides with rated players");
}

/* Free-for-all: teams of one, ranked by score per minute played; ties share a place; guests left out. */
static void test_ffa(void **state)
{
    (void)state;
    static const match_player ps[] = {
        {"1", SIDE_NONE, 0, 600, 20, 0, 0, SIDE_NONE},        /* 2.0 a minute */
        {"2", SIDE_NONE, 240, 600, 15, 0, 0, SIDE_NONE},      /* 2.5 a minute over 60% of the match: first */
        {"3", SIDE_NONE, 0, 600, 22, 2, 0, SIDE_NONE},        /* 2.0: ties with 1 */
        {"4", SIDE_ALLIES, 0, 600, 5, 0, 0, SIDE_ALLIES},     /* 0.5: last; a side means nothing here */
        {"unauth_0", SIDE_NONE, 0, 600, 50, 0, 0, SIDE_NONE}, /* a guest: not rated, does not take a place */
    };
    match_facts f = {.match_key = "f",
                     .gametype = "dm",
                     .map = "",
                     .ended = true,
                     .start_t = 100,
                     .end_t = 700,
                     .winner = SIDE_AXIS,
                     .players = ps,
                     .nplayers = 5};
    /* game times start at 100 here: shift the players' spans */
    match_player moved[5];
    for (size_t i = 0; i < 5; i++) {
        moved[i] = ps[i];
        moved[i].first_t += 100;
        moved[i].last_t += 100;
    }
    f.players = moved;
    match_plan p;
    assert_int_equal(match_plan_build(&f, &rules, &p), 0);
    assert_true(p.rated);
    assert_int_equal(p.family, RFAM_FFA);
    assert_int_equal(p.nteams, 4);
    assert_int_equal(p.rank[1], 1);
    assert_int_equal(p.rank[0], 2);
    assert_int_equal(p.rank[2], 2);
    assert_int_equal(p.rank[3], 4);
    assert_int_equal(p.verdict[4], PLAYER_UNRATABLE);
    rating_model m;
    rating_model_default(&m);
    rating before[5], after[5];
    uint64_t last[5] = {0};
    for (size_t i = 0; i < 5; i++)
        before[i] = rating_new(&m);
    /* The chances are predicted from the field present at the start (1, 3, 4 and the guest, all new: a quarter
     * each); 2, who joined after 240 s, against that field (a fifth). */
    double win[5] = {0};
    assert_int_equal(match_plan_apply(&p, &m, 0.4, 1, last, before, after, win), 0);
    assert_float_equal(win[0], 0.25, 1e-12);
    assert_float_equal(win[3], 0.25, 1e-12);
    assert_float_equal(win[1], 0.2, 1e-12);
    assert_true(after[1].mu > 25);
    assert_true(after[3].mu < 25);
    assert_float_equal(after[0].mu, after[2].mu, 1e-12);
    match_plan_free(&p);
    /* One rated player (the rest guests): not rated. */
    f.nplayers = 1;
    assert_unrated(&f, "fewer than 2 rated players");
}

/* A match's win probability is predicted from the roster present at the start (its first RATING_START_ROSTER_S)
 * on their first side: who left or joined later, and for how long anyone played, cannot leak the result into it. */
static void test_start_roster(void **state)
{
    (void)state;
    rating_model m;
    rating_model_default(&m);
    match_player ps[9];
    memcpy(ps, team_players, sizeof team_players);
    match_facts f = team_match();
    f.players = ps;
    rating before[9], after[9];
    uint64_t last[9] = {0};
    double win[9] = {0}, want;
    match_plan p;
    const double mu[9] = {35, 28, 22, 30, 25, 25, 33, 25, 40};
#define APPLY(n)                                                                                                       \
    do {                                                                                                               \
        f.nplayers = (n);                                                                                              \
        assert_int_equal(match_plan_build(&f, &rules, &p), 0);                                                         \
        assert_true(p.rated);                                                                                          \
        for (size_t i = 0; i < 9; i++)                                                                                 \
            before[i] = (rating){mu[i], 4};                                                                            \
        assert_int_equal(match_plan_apply(&p, &m, 0.4, 1000, last, before, after, win), 0);                            \
        match_plan_free(&p);                                                                                           \
    } while (0)
    APPLY(8);
    want = win[0];
    /* The losing side's strong 202 leaves after 100 s (too little to be rated): the chance stays. */
    ps[3].last_t = 100;
    APPLY(8);
    assert_float_equal(win[0], want, 0);
    /* A strong late joiner on the winning side (rated: 60%), and 103 joining earlier: it still stays. */
    ps[8] = (match_player){"104", SIDE_ALLIES, 240, 600, 8, 0, 0, SIDE_ALLIES};
    ps[6].first_t = 200;
    APPLY(9);
    assert_float_equal(win[0], want, 0);
    assert_float_equal(win[8], want, 0); /* a late joiner is given their side's chance */
    /* 201 (mu 22, below a new player's) starts on the Allies' side and ends on the Axis': counted on the Allies'
     * side, as at the start, where it makes them weaker. */
    ps[2].first_side = SIDE_ALLIES;
    APPLY(9);
    assert_true(win[0] < want);
    assert_float_equal(win[0] + win[2], 1, 1e-12);
    /* Whoever came within RATING_START_ROSTER_S is of the start roster; after it, not. */
    ps[2].first_side = SIDE_AXIS;
    ps[6].first_t = RATING_START_ROSTER_S;
    APPLY(9);
    assert_true(win[0] > want);
    ps[6].first_t = RATING_START_ROSTER_S + 0.5;
    APPLY(9);
    assert_float_equal(win[0], want, 0);
#undef APPLY
}

/* The minimum fraction is a setting: at 0.25 the late joiner of the team match is rated, with weight 0.3. */
static void test_min_fraction(void **state)
{
    (void)state;
    match_rules r = {.min_fraction = 0.25, .min_duration_s = 60};
    match_facts f = team_match();
    match_plan p;
    assert_int_equal(match_plan_build(&f, &r, &p), 0);
    assert_int_equal(p.verdict[6], PLAYER_RATED);
    assert_int_equal(p.team[6], 0);
    match_plan_free(&p);
}

/* The SELECT of table's view in text (from its view's AS to FROM raw_events), or of its backfill (INSERT INTO
 * table): a copy the caller frees. */
static char *select_of(const char *text, const char *table, bool view)
{
    char lead[160];
    if (view)
        snprintf(lead, sizeof lead, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s_mv TO %s AS\n", table, table);
    else
        snprintf(lead, sizeof lead, "INSERT INTO %s\n", table);
    const char *from = strstr(text, lead);
    assert_non_null(from);
    from += strlen(lead);
    const char *to = strstr(from, "\nFROM raw_events\n");
    assert_non_null(to);
    return strndup(from, (size_t)(to - from));
}

/* The aggregates facts.c reads instead of raw_events (schemas/clickhouse/0010) state the kill rule as
 * ENEMY_KILL_SQL does and spell no team list (they read the normalised sides), and each table's backfill
 * aggregates as its view does: otherwise old and new matches, or the aggregate and raw_events, would disagree. */
static void test_rating_facts_schema(void **state)
{
    (void)state;
    char *text = source_file("schemas/clickhouse/0010_rating_facts.sql");
    int kills = 0;
    for (const char *p = strstr(text, ENEMY_KILL_SQL); p; p = strstr(p + 1, ENEMY_KILL_SQL))
        kills++;
    assert_int_equal(kills, 2);
    assert_null(strstr(text, "transform("));
    assert_null(strstr(text, "actor_team"));
    static const char *const tables[] = {"rating_match_facts", "rating_player_facts"};
    for (size_t i = 0; i < 2; i++) {
        char *view = select_of(text, tables[i], true), *backfill = select_of(text, tables[i], false);
        assert_string_equal(view, backfill);
        free(view);
        free(backfill);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_game_types),          cmocka_unit_test(test_team_match_players),
        cmocka_unit_test(test_team_match_apply),    cmocka_unit_test(test_inactivity),
        cmocka_unit_test(test_unrated_matches),     cmocka_unit_test(test_ffa),
        cmocka_unit_test(test_min_fraction),        cmocka_unit_test(test_start_roster),
        cmocka_unit_test(test_rating_facts_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
