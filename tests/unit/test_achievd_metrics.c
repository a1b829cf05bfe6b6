/* Unit tests: achievd's evaluator (achievd/evaluate.c and its parts) over its tables (achievd/criteria.c): what each
 * kind of criterion measures from events, and the progress and unlocks it writes (achievd_fixture.h). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "criteria.h"
#include "evaluate.h"
#include "evaluate_state.h"
#include "raw_row.h"

#include "achievd_fixture.h"

/* ---- the tables ---- */

static void test_criteria_tables(void **state)
{
    (void)state;
    assert_true(metrics_count <= MAX_METRICS);
    /* metric names are the keys of the saved state: unique and short enough for it */
    for (int i = 0; i < metrics_count; i++) {
        assert_true(strlen(metrics[i].name) < 64);
        assert_int_equal(metric_index(metrics[i].name), i);
        if (metrics[i].shape == SHAPE_RATIO)
            assert_true(metrics[i].scale > 0 && metrics[i].fact2 < FACT__COUNT);
        if (metrics[i].shape == SHAPE_CHAIN || metrics[i].shape == SHAPE_WINDOW)
            assert_true(metrics[i].window_s > 0);
    }
    /* every requirement_type reads a metric that exists, and is listed once */
    for (int i = 0; i < criteria_count; i++) {
        assert_true(metric_index(criteria[i].metric) >= 0);
        uint32_t th = 99;
        assert_int_equal(criteria_lookup(NULL, criteria[i].type, &th), metric_index(criteria[i].metric));
        assert_int_equal(th, criteria[i].threshold);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(criteria[i].type, criteria[j].type);
    }
    uint32_t th = 99;
    assert_int_equal(criteria_lookup("x", "no_such_type", &th), -1);
    assert_int_equal(criteria_lookup(NULL, NULL, NULL), -1);
    assert_int_equal(metric_index("no_such_metric"), -1);
    assert_int_equal(criteria_lookup("unstoppable", "killstreak_10", &th), metric_index("killstreak"));
    assert_int_equal(th, 10);
    assert_int_equal(criteria_lookup("double_kill", "multikill_2", &th), metric_index("multikill"));
    assert_int_equal(th, 2);
    assert_int_equal(criteria_lookup("killer", "kills", &th), metric_index("kills"));
    assert_int_equal(th, 0);
    /* the code override: two codes of one type with different meanings */
    assert_int_equal(criteria_lookup("telefrag", "spawn_kills", NULL), metric_index("telefrag_kills"));
    assert_int_equal(criteria_lookup("spawn_camper", "spawn_kills", NULL), metric_index("spawn_kills"));
    /* manual types read the manual metric, which nothing in a game moves */
    assert_int_equal(criteria_lookup("founder", "founder", NULL), metric_index("manual"));
    assert_int_equal(metrics[metric_index("manual")].shape, SHAPE_MANUAL);
}

/* An unknown requirement_type is skipped: its definition never writes, the others still do. */
static void test_unknown_type(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def_raw("mystery", "no_such_type", 1, 10), def("killer", "kills", 1)};
    assert_int_equal(defs[0].metric, -1);
    fx f;
    fx_init(&f, defs, 2);
    apply(&f, shot("1", "2", 1));
    assert_int_equal(f.n, 1);
    assert_string_equal(f.w[0].code, "killer");
    assert_int_equal(writes_of(&f, M(1), "mystery"), 0);
    fx_done(&f);
}

/* ---- career counters: kills, deaths, suicides, team kills, guests ---- */

static void test_kill_counter(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("killer", "kills", 3), def("died", "deaths", 2), def("oops", "suicides", 2),
                      def("traitor", "team_kills", 1)};
    fx f;
    fx_init(&f, defs, 4);

    apply(&f, shot("1", "2", 10));
    apply(&f, shot("1", "2", 20));
    assert_int_equal(writes_of(&f, M(1), "killer"), 2);
    assert_int_equal(progress_of(&f, M(1), "killer"), 2);
    assert_false(is_unlocked(&f, M(1), "killer"));
    assert_int_equal(progress_of(&f, M(2), "died"), 2);
    assert_true(is_unlocked(&f, M(2), "died"));

    /* a team kill (american and allies are one side): not a kill, a team kill for 1, a death for 3 */
    ach_event tk = shot("1", "3", 30);
    tk.actor_team = "american";
    tk.target_team = "allies";
    apply(&f, tk);
    assert_int_equal(evaluator_metric(f.ev, M(1), "kills"), 2);
    assert_int_equal(evaluator_metric(f.ev, M(1), "team_kills"), 1);
    assert_true(is_unlocked(&f, M(1), "traitor"));
    assert_int_equal(evaluator_metric(f.ev, M(3), "deaths"), 1);
    /* axis against allies is not one */
    ach_event enemy = shot("4", "3", 31);
    enemy.actor_team = "german";
    enemy.target_team = "allies";
    apply(&f, enemy);
    assert_int_equal(evaluator_metric(f.ev, M(4), "kills"), 1);
    assert_int_equal(evaluator_metric(f.ev, M(4), "team_kills"), 0);

    /* suicides: the same GUID, or no attacker (the world); a death, no kill for anyone */
    apply(&f, kill("1", "1", 40, "Stielhandgranate", "", "MOD_GRENADE"));
    apply(&f, kill("", "1", 50, "", "", "MOD_FALLING"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "kills"), 2);
    assert_int_equal(evaluator_metric(f.ev, M(1), "deaths"), 2);
    assert_int_equal(evaluator_metric(f.ev, M(1), "suicides"), 2);
    assert_int_equal(evaluator_metric(f.ev, M(1), "fall_deaths"), 1);
    assert_true(is_unlocked(&f, M(1), "oops"));
    assert_false(is_unlocked(&f, M(1), "killer"));

    /* guests earn nothing; a member killed by a guest dies */
    size_t before = f.n;
    apply(&f, shot("unauth_5", "unauth_6", 55));
    assert_int_equal(f.n, before);
    apply(&f, shot("unauth_5", "2", 56));
    assert_int_equal(evaluator_metric(f.ev, M(2), "deaths"), 3);
    assert_int_equal(evaluator_metric(f.ev, 0, "kills"), 0);
    assert_int_equal(evaluator_players(f.ev), 4); /* members 1 to 4, no guest */

    /* a member killing a guest counts: the third kill unlocks, at that event's receive time */
    ach_event third = shot("1", "unauth_6", 60);
    third.received_ms = BASE_MS + 123456;
    apply(&f, third);
    const rec_write *u = find_unlock(&f, M(1), "killer");
    assert_non_null(u);
    assert_int_equal(u->progress, 3);
    assert_int_equal(u->at_ms, BASE_MS + 123456);
    assert_string_equal(u->match_key, "m1");
    assert_string_equal(u->guid, "1");

    /* a fourth kill writes nothing more for that code */
    before = writes_of(&f, M(1), "killer");
    apply(&f, shot("1", "2", 70));
    assert_int_equal(writes_of(&f, M(1), "killer"), before);
    assert_int_equal(evaluator_metric(f.ev, M(1), "kills"), 4);
    fx_done(&f);
}

/* ---- streaks: killstreak_10 ---- */

static void test_killstreak_threshold(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("unstoppable", "killstreak_10", 1), def("streaker", "killstreak", 5)};
    fx f;
    fx_init(&f, defs, 2);
    double t = 0;
    for (int i = 0; i < 9; i++)
        apply(&f, shot("1", "2", t += 1));
    assert_int_equal(evaluator_metric(f.ev, M(1), "killstreak"), 9);
    apply(&f, shot("3", "1", t += 1)); /* the life ends */
    apply(&f, ev_at(EV_SPAWN, "1", t += 1));
    for (int i = 0; i < 9; i++) {
        apply(&f, shot("1", "2", t += 1));
        /* a team kill neither counts nor breaks the streak */
        ach_event tk = shot("1", "4", t += 0.5);
        tk.actor_team = tk.target_team = "axis";
        apply(&f, tk);
    }
    assert_int_equal(writes_of(&f, M(1), "unstoppable"), 0); /* progress is 0 or 1: no write of 0 */
    ach_event tenth = shot("1", "2", t += 1);
    apply(&f, tenth);
    assert_int_equal(writes_of(&f, M(1), "unstoppable"), 1);
    const rec_write *u = find_unlock(&f, M(1), "unstoppable");
    assert_non_null(u);
    assert_int_equal(u->progress, 1);
    assert_int_equal(u->at_ms, tenth.received_ms);
    /* without a threshold in the name, the requirement is the streak */
    assert_true(is_unlocked(&f, M(1), "streaker"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "killstreak"), 10);
    fx_done(&f);
}

/* docs/definitions.md: a kill streak is the kills between two deaths inside one match. A respawn without a death
 * (a new round) does not end the life; a new match does. */
static void test_killstreak_life(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("streaker", "killstreak", 6), def("nades", "grenade_kills_life", 4)};
    fx f;
    fx_init(&f, defs, 2);
    double t = 0;
    apply(&f, ev_at(EV_SPAWN, "1", t += 1));
    for (int i = 0; i < 3; i++)
        apply(&f, shot("1", "2", t += 1));
    apply(&f, ev_at(EV_SPAWN, "1", t += 1)); /* round 2: everyone respawns, 1 did not die */
    for (int i = 0; i < 3; i++)
        apply(&f, shot("1", "2", t += 1));
    assert_int_equal(evaluator_metric(f.ev, M(1), "killstreak"), 6);
    assert_true(is_unlocked(&f, M(1), "streaker"));

    /* a new match starts a life: 5 + 5 kills in two matches are a streak of 5 */
    for (int i = 0; i < 5; i++)
        apply(&f, shot("3", "4", t += 1));
    at.match = "m2";
    for (int i = 0; i < 5; i++)
        apply(&f, shot("3", "4", t += 1));
    assert_int_equal(evaluator_metric(f.ev, M(3), "killstreak"), 5);
    fx_done(&f);
}

/* ---- chains: multi-kills in game time ---- */

static void test_multikill_window(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("double_kill", "multikill_2", 1), def("triple_kill", "multikill_3", 1)};
    fx f;
    fx_init(&f, defs, 2);
    /* 3.001 s apart: no chain */
    apply(&f, shot("1", "9", 100.0));
    apply(&f, shot("1", "9", 103.001));
    assert_int_equal(evaluator_metric(f.ev, M(1), "multikill"), 1);
    assert_int_equal(writes_of(&f, M(1), "double_kill"), 0);
    /* 3.000 s apart: a double kill, at the second kill */
    apply(&f, shot("2", "9", 100.0));
    ach_event second = shot("2", "9", 103.0);
    apply(&f, second);
    const rec_write *u = find_unlock(&f, M(2), "double_kill");
    assert_non_null(u);
    assert_int_equal(u->at_ms, second.received_ms);
    assert_false(is_unlocked(&f, M(2), "triple_kill"));
    /* game times are decimal text: 1.001 and 4.001 are 3 s apart although their binary difference is
     * 3.0000000000000004 */
    apply(&f, shot("3", "9", 1.001));
    apply(&f, shot("3", "9", 4.001));
    apply(&f, shot("3", "9", 7.001));
    assert_int_equal(evaluator_metric(f.ev, M(3), "multikill"), 3);
    assert_true(is_unlocked(&f, M(3), "triple_kill"));
    /* a chain crosses a death (definitions.md: within one match, each at most 3 s after the previous) */
    apply(&f, shot("4", "9", 10.0));
    apply(&f, shot("9", "4", 11.0));
    apply(&f, shot("4", "9", 12.0));
    assert_true(is_unlocked(&f, M(4), "double_kill"));
    /* but not a match */
    apply(&f, shot("5", "9", 20.0));
    at.match = "m2";
    apply(&f, shot("5", "9", 20.5));
    assert_int_equal(evaluator_metric(f.ev, M(5), "multikill"), 1);
    assert_false(is_unlocked(&f, M(5), "double_kill"));
    /* team kills are not links */
    ach_event tk = shot("6", "7", 30.0);
    tk.actor_team = tk.target_team = "allies";
    apply(&f, tk);
    apply(&f, shot("6", "9", 31.0));
    assert_false(is_unlocked(&f, M(6), "double_kill"));
    fx_done(&f);
}

/* The double-kill fact follows the same chain (double_kills_life: chains of exactly 2 in a life). */
static void test_double_kills_life(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("doubles", "double_kills_life", 2)};
    fx f;
    fx_init(&f, defs, 1);
    apply(&f, shot("1", "9", 10.0));
    apply(&f, shot("1", "9", 13.0)); /* a double */
    apply(&f, shot("1", "9", 14.0)); /* a triple: no second double */
    assert_int_equal(evaluator_metric(f.ev, M(1), "double_kills_life"), 1);
    apply(&f, shot("1", "9", 30.0));
    apply(&f, shot("1", "9", 33.0)); /* another */
    assert_true(is_unlocked(&f, M(1), "doubles"));
    fx_done(&f);
}

/* ---- windows: kills per minute ---- */

static void test_kills_per_minute(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("on_fire", "kills_per_minute", 10)};
    fx f;
    fx_init(&f, defs, 1);
    /* 10 kills within 59.9 s */
    for (int i = 0; i < 10; i++)
        apply(&f, shot("1", "9", 100.0 + i * 59.9 / 9));
    assert_true(is_unlocked(&f, M(1), "on_fire"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "kills_in_60s"), 10);
    /* 10 kills over 61 s: at most 9 in any 60 */
    for (int i = 0; i < 10; i++)
        apply(&f, shot("2", "9", 100.0 + i * 61.0 / 9));
    assert_false(is_unlocked(&f, M(2), "on_fire"));
    assert_int_equal(evaluator_metric(f.ev, M(2), "kills_in_60s"), 9);
    assert_int_equal(progress_of(&f, M(2), "on_fire"), 9);
    /* a window does not cross matches */
    for (int i = 0; i < 5; i++)
        apply(&f, shot("3", "9", 100.0 + i));
    at.match = "m2";
    for (int i = 0; i < 5; i++)
        apply(&f, shot("3", "9", 105.0 + i));
    assert_int_equal(evaluator_metric(f.ev, M(3), "kills_in_60s"), 5);
    fx_done(&f);
}

/* ---- ratios with a minimum sample ---- */

static void test_ratios(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("surgical", "headshot_ratio_50", 1), def("kd2", "kd_ratio", 2)};
    fx f;
    fx_init(&f, defs, 2);
    double t = 0;
    for (int i = 0; i < 99; i++)
        apply(&f, headshot("1", "9", t += 5));
    assert_int_equal(evaluator_metric(f.ev, M(1), "headshot_pct_100"), 0);
    assert_int_equal(writes_of(&f, M(1), "surgical"), 0);
    ach_event hundredth = headshot("1", "9", t += 5);
    apply(&f, hundredth);
    const rec_write *u = find_unlock(&f, M(1), "surgical");
    assert_non_null(u);
    assert_int_equal(u->at_ms, hundredth.received_ms);
    assert_int_equal(evaluator_metric(f.ev, M(1), "headshot_pct_100"), 100);

    /* under 50 %: 49 headshots of 100 kills */
    for (int i = 0; i < 100; i++)
        apply(&f, i < 49 ? headshot("2", "9", t += 5) : shot("2", "9", t += 5));
    assert_int_equal(evaluator_metric(f.ev, M(2), "headshot_pct_100"), 49);
    assert_false(is_unlocked(&f, M(2), "surgical"));

    /* K/D 2 needs 10 deaths: 25 kills and 9 deaths are not enough, the 10th death makes 25/10 = 2 */
    for (int i = 0; i < 25; i++)
        apply(&f, shot("3", "9", t += 5));
    for (int i = 0; i < 9; i++)
        apply(&f, shot("9", "3", t += 5));
    assert_int_equal(evaluator_metric(f.ev, M(3), "kd_ratio"), 0);
    assert_int_equal(writes_of(&f, M(3), "kd2"), 0);
    apply(&f, shot("9", "3", t += 5));
    assert_int_equal(evaluator_metric(f.ev, M(3), "kd_ratio"), 2);
    assert_true(is_unlocked(&f, M(3), "kd2"));
    /* 15 kills, 10 deaths: 1, progress without an unlock */
    for (int i = 0; i < 10; i++)
        apply(&f, shot("9", "4", t += 5));
    for (int i = 0; i < 15; i++)
        apply(&f, shot("4", "9", t += 5));
    assert_int_equal(evaluator_metric(f.ev, M(4), "kd_ratio"), 1);
    assert_int_equal(progress_of(&f, M(4), "kd2"), 1);
    assert_false(is_unlocked(&f, M(4), "kd2"));
    fx_done(&f);
}

/* ---- best per match, per life ---- */

static void test_best_match_life(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("grass_snake", "prone_kills_match", 3), def("nades", "grenade_kills_life", 3)};
    fx f;
    fx_init(&f, defs, 2);
    double t = 0;
    for (int m = 0; m < 2; m++) {
        at.match = m == 0 ? "m1" : "m2";
        for (int i = 0; i < 2; i++) {
            ach_event e = shot("1", "9", t += 5);
            e.actor_stance = "prone";
            apply(&f, e);
        }
        apply(&f, shot("1", "9", t += 5)); /* standing */
    }
    assert_int_equal(evaluator_metric(f.ev, M(1), "prone_kills"), 4);
    assert_int_equal(evaluator_metric(f.ev, M(1), "prone_kills_match"), 2);
    assert_int_equal(progress_of(&f, M(1), "grass_snake"), 2);
    at.match = "m3";
    for (int i = 0; i < 3; i++) {
        ach_event e = shot("1", "9", t += 5);
        e.actor_stance = "PRONE";
        apply(&f, e);
    }
    assert_true(is_unlocked(&f, M(1), "grass_snake"));

    /* grenade kills in one life: 2, death, 2, then a third in that life */
    at.match = "m1";
    apply(&f, kill("2", "9", 1, "Stielhandgranate", "torso_mid", "MOD_GRENADE"));
    apply(&f, kill("2", "9", 2, "M2 Frag Grenade", "torso_mid", "MOD_EXPLOSION"));
    apply(&f, kill("2", "9", 3, "Kar98", "torso_mid", "MOD_BULLET"));
    apply(&f, shot("9", "2", 4));
    apply(&f, kill("2", "9", 5, "Stielhandgranate", "torso_mid", "MOD_GRENADE"));
    apply(&f, kill("2", "9", 6, "Stielhandgranate", "torso_mid", "grenade"));
    assert_int_equal(evaluator_metric(f.ev, M(2), "grenade_kills"), 4);
    assert_int_equal(evaluator_metric(f.ev, M(2), "grenade_kills_life"), 2);
    assert_false(is_unlocked(&f, M(2), "nades"));
    apply(&f, kill("2", "9", 7, "Stielhandgranate", "torso_mid", "MOD_GRENADE"));
    assert_true(is_unlocked(&f, M(2), "nades"));
    /* a grenade suicide is not a grenade kill */
    apply(&f, kill("3", "3", 8, "Stielhandgranate", "", "MOD_GRENADE"));
    assert_int_equal(evaluator_metric(f.ev, M(3), "grenade_kills"), 0);
    fx_done(&f);
}

/* ---- distinct: maps ---- */

static void test_distinct_maps(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("tourist", "unique_maps", 3)};
    fx f;
    fx_init(&f, defs, 1);
    const char *maps[] = {"dm/mohdm1", "dm/mohdm2", "dm/mohdm1", "", "DM/MOHDM2x"};
    for (size_t i = 0; i < 5; i++) {
        at.map = maps[i];
        apply(&f, ev_at(EV_JUMP, "1", (double)i));
        apply(&f, ev_at(EV_JUMP, "1", (double)i + 0.5)); /* the same map again */
    }
    assert_int_equal(evaluator_metric(f.ev, M(1), "maps_played"), 3);
    const rec_write *u = find_unlock(&f, M(1), "tourist");
    assert_non_null(u);
    assert_int_equal(u->at_ms, BASE_MS + 4000);
    assert_int_equal(writes_of(&f, M(1), "tourist"), 3);
    /* a kill's victim played the map too */
    at.map = "obj/obj_team1";
    apply(&f, shot("unauth_1", "2", 1));
    assert_int_equal(evaluator_metric(f.ev, M(2), "maps_played"), 1);
    fx_done(&f);
}

/* ---- match outcomes: need a match_end ---- */

/* actor (allies) kills 2 (axis) in the current match. */
static ach_event allies_kill(const char *actor)
{
    ach_event e = shot(actor, "2", 10);
    e.actor_team = "american";
    e.target_team = "german";
    return e;
}

static void test_match_outcomes(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("iron_man", "deathless_matches", 2), def("winner", "win_streak", 2),
                      def("won", "win_streak", 1)};
    fx f;
    fx_init(&f, defs, 3);

    /* m1: 1 (allies) kills 2 (axis), nobody dies on 1's side; no match_end: nothing */
    at.match = "m1";
    apply(&f, allies_kill("1"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "deathless_matches"), 0);
    assert_int_equal(writes_of(&f, M(1), "iron_man"), 0);

    /* m2 ends with allies winning: 1 is deathless and won, 2 died and lost */
    at.match = "m2";
    apply(&f, allies_kill("1"));
    ach_event end = match_end(100, "allies");
    apply(&f, end);
    assert_int_equal(evaluator_metric(f.ev, M(1), "deathless_matches"), 1);
    assert_int_equal(progress_of(&f, M(1), "iron_man"), 1);
    assert_int_equal(last_write(&f, M(1), "iron_man")->at_ms, end.received_ms);
    assert_int_equal(evaluator_metric(f.ev, M(1), "win_streak"), 1);
    assert_true(is_unlocked(&f, M(1), "won"));
    assert_int_equal(evaluator_metric(f.ev, M(2), "deathless_matches"), 0);
    assert_int_equal(evaluator_metric(f.ev, M(2), "win_streak"), 0);
    /* a second match_end of the same match changes nothing */
    size_t n = f.n;
    apply(&f, match_end(101, "allies"));
    assert_int_equal(f.n, n);
    assert_int_equal(evaluator_metric(f.ev, M(1), "deathless_matches"), 1);

    /* m3: lost (axis wins): the streak starts again; still deathless */
    at.match = "m3";
    apply(&f, allies_kill("1"));
    apply(&f, match_end(100, "Axis"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "deathless_matches"), 2);
    assert_true(is_unlocked(&f, M(1), "iron_man"));
    assert_false(is_unlocked(&f, M(1), "winner"));
    /* m4 won; m5 ends without a winner, which neither wins nor breaks; m6 won (team_win names the winner,
     * match_end ends the match) */
    at.match = "m4";
    apply(&f, allies_kill("1"));
    apply(&f, match_end(100, "allied"));
    assert_false(is_unlocked(&f, M(1), "winner"));
    at.match = "m5";
    apply(&f, allies_kill("1"));
    apply(&f, match_end(100, ""));
    assert_int_equal(evaluator_metric(f.ev, M(1), "win_streak"), 1);
    at.match = "m6";
    apply(&f, allies_kill("1"));
    ach_event tw = ev_at(EV_TEAM_WIN, "", 99);
    tw.team = "allies";
    apply(&f, tw);
    assert_false(is_unlocked(&f, M(1), "winner"));
    apply(&f, match_end(100, ""));
    assert_true(is_unlocked(&f, M(1), "winner"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "win_streak"), 2);

    /* a player who moved on to another match before the first one ended gets nothing from it */
    at.match = "m7";
    apply(&f, allies_kill("3"));
    at.match = "m8";
    apply(&f, ev_at(EV_JUMP, "3", 5));
    at.match = "m7";
    apply(&f, match_end(100, "allies"));
    assert_int_equal(evaluator_metric(f.ev, M(3), "win_streak"), 0);
    assert_int_equal(evaluator_metric(f.ev, M(3), "deathless_matches"), 0);
    fx_done(&f);
}

/* A type whose name holds its threshold reads 0 or 1, whatever the requirement_value: the catalogue's
 * zero_kill_deaths has 10 (its "10+ deaths" is in the condition), and must still unlock after one such match. */
static void test_threshold_with_requirement(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("bot_mode", "zero_kill_deaths", 10), def("perfect_season", "win_streak_20", 1)};
    assert_int_equal(defs[0].threshold, 1);
    fx f;
    fx_init(&f, defs, 2);
    for (int i = 0; i < 9; i++)
        apply(&f, shot("2", "1", i));
    apply(&f, match_end(50, "axis"));
    assert_int_equal(writes_of(&f, M(1), "bot_mode"), 0);
    at.match = "m2";
    for (int i = 0; i < 10; i++)
        apply(&f, shot("2", "1", i));
    ach_event end = match_end(50, "axis");
    apply(&f, end);
    const rec_write *u = find_unlock(&f, M(1), "bot_mode");
    assert_non_null(u);
    assert_int_equal(u->progress, 10);
    assert_int_equal(u->at_ms, end.received_ms);
    assert_int_equal(writes_of(&f, M(1), "bot_mode"), 1);
    fx_done(&f);
}

/* ---- sequences: revenge ---- */

static void test_revenge(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("revenge", "revenge_kill", 1), def("avenger", "revenge_kills_fast", 1)};
    fx f;
    fx_init(&f, defs, 2);
    apply(&f, shot("2", "1", 10));
    apply(&f, shot("1", "3", 20)); /* not the killer */
    assert_false(is_unlocked(&f, M(1), "revenge"));
    apply(&f, shot("1", "2", 30));
    assert_true(is_unlocked(&f, M(1), "revenge"));
    assert_false(is_unlocked(&f, M(1), "avenger")); /* no spawn seen */

    /* the last killer only: 5 then 6 kill 4; killing 5 is no revenge, killing 6 is */
    apply(&f, shot("5", "4", 40));
    apply(&f, shot("6", "4", 50));
    apply(&f, ev_at(EV_SPAWN, "4", 51));
    apply(&f, shot("4", "5", 52));
    assert_false(is_unlocked(&f, M(4), "revenge"));
    apply(&f, shot("4", "6", 56));
    assert_true(is_unlocked(&f, M(4), "revenge"));
    assert_true(is_unlocked(&f, M(4), "avenger")); /* 5 s after the spawn */
    /* once avenged, killing the same player again is no second revenge */
    assert_int_equal(evaluator_metric(f.ev, M(4), "revenge_kills"), 1);
    apply(&f, shot("4", "6", 57));
    assert_int_equal(evaluator_metric(f.ev, M(4), "revenge_kills"), 1);
    /* a guest can be the nemesis */
    apply(&f, shot("unauth_3", "7", 60));
    apply(&f, shot("7", "unauth_3", 61));
    assert_true(is_unlocked(&f, M(7), "revenge"));
    /* revenge stays in its match */
    apply(&f, shot("9", "8", 70));
    at.match = "m2";
    apply(&f, shot("8", "9", 71));
    assert_false(is_unlocked(&f, M(8), "revenge"));
    fx_done(&f);
}

/* ---- calendar ---- */

static void test_christmas(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("christmas_warrior", "christmas_kills", 2)};
    fx f;
    fx_init(&f, defs, 1);
    uint64_t xmas = utc_ms(2024, 12, 25, 0, 0, 0);
    assert_int_equal(xmas, 1735084800000ULL);
    ach_event e = shot("1", "9", 1);
    e.received_ms = xmas - 1; /* 24 December, 23:59:59.999 */
    apply(&f, e);
    assert_int_equal(evaluator_metric(f.ev, M(1), "christmas_kills"), 0);
    e.received_ms = xmas;
    e.game_time = 2;
    apply(&f, e);
    assert_int_equal(progress_of(&f, M(1), "christmas_warrior"), 1);
    e.received_ms = xmas + DAY_MS; /* 26 December */
    e.game_time = 3;
    apply(&f, e);
    assert_int_equal(evaluator_metric(f.ev, M(1), "christmas_kills"), 1);
    e.received_ms = xmas + DAY_MS - 1; /* late (out of order) but on the 25th */
    e.game_time = 4;
    apply(&f, e);
    const rec_write *u = find_unlock(&f, M(1), "christmas_warrior");
    assert_non_null(u);
    assert_int_equal(u->at_ms, xmas + DAY_MS - 1);
    /* Christmas of another year too; a death on Christmas is no kill */
    ach_event d = shot("9", "2", 5);
    d.received_ms = utc_ms(2023, 12, 25, 12, 0, 0);
    apply(&f, d);
    assert_int_equal(evaluator_metric(f.ev, M(2), "christmas_kills"), 0);
    fx_done(&f);
}

/* Days in a row, months of a year, a day's playtime, all-night sessions (receive time, UTC). */
static void test_days(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("weekly", "daily_streak", 3), def("year_round", "monthly_activity", 3),
                      def("marathon", "daily_playtime", 10), def("all_nighter", "all_night_session", 1)};
    fx f;
    fx_init(&f, defs, 4);

    /* days 1, 2, (gap) 4, 5, 6 */
    int days[] = {1, 2, 4, 5, 6};
    for (int i = 0; i < 5; i++) {
        ach_event e = ev_at(EV_JUMP, "1", 1);
        e.received_ms = utc_ms(2024, 3, days[i], 12, 0, 0);
        apply(&f, e);
        e.received_ms += 3600000; /* twice a day is still one day */
        e.game_time = 2;
        apply(&f, e);
        if (days[i] == 5)
            assert_false(is_unlocked(&f, M(1), "weekly"));
    }
    assert_true(is_unlocked(&f, M(1), "weekly"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "daily_streak"), 3);

    /* months: November and December 2023 are another year than January to March 2024 */
    int ym[][2] = {{2023, 11}, {2023, 12}, {2024, 1}, {2024, 2}};
    for (int i = 0; i < 4; i++) {
        ach_event e = ev_at(EV_JUMP, "2", 1);
        e.received_ms = utc_ms(ym[i][0], ym[i][1], 10, 12, 0, 0);
        apply(&f, e);
    }
    assert_int_equal(evaluator_metric(f.ev, M(2), "months_in_year"), 2);
    assert_int_equal(progress_of(&f, M(2), "year_round"), 2);
    ach_event march = ev_at(EV_JUMP, "2", 1);
    march.received_ms = utc_ms(2024, 3, 10, 12, 0, 0);
    apply(&f, march);
    assert_true(is_unlocked(&f, M(2), "year_round"));

    /* a day's playtime from events half a second apart */
    at.base_ms = utc_ms(2024, 4, 1, 10, 0, 0);
    for (int i = 0; i <= 24; i++)
        apply(&f, ev_at(EV_DISTANCE, "3", 100 + i * 0.5));
    assert_int_equal(evaluator_metric(f.ev, M(3), "playtime_s"), 12);
    assert_int_equal(evaluator_metric(f.ev, M(3), "best_day_playtime_s"), 12);
    assert_true(is_unlocked(&f, M(3), "marathon"));
    assert_int_equal(find_unlock(&f, M(3), "marathon")->at_ms, at.base_ms + 110000);

    /* all night: from 22:40 to 05:00, an event every 20 minutes; a 40-minute gap breaks the session */
    for (int who = 4; who <= 5; who++) {
        at.match = who == 4 ? "night4" : "night5";
        at.base_ms = utc_ms(2024, 5, 1, 22, 40, 0);
        for (int i = 0; i <= 19; i++) {
            if (who == 5 && i == 8)
                continue; /* 01:20 missing: 01:00 to 01:40 */
            ach_event e = ev_at(EV_JUMP, who == 4 ? "4" : "5", i * 1200.0);
            apply(&f, e);
            if (i < 19)
                assert_false(is_unlocked(&f, M(who), "all_nighter"));
        }
        assert_int_equal(at.base_ms + 19 * 1200000ULL, utc_ms(2024, 5, 2, 5, 0, 0));
    }
    assert_true(is_unlocked(&f, M(4), "all_nighter"));
    assert_false(is_unlocked(&f, M(5), "all_nighter"));
    fx_done(&f);
}

/* ---- meta ---- */

static void test_meta(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def_raw("killer", "kills", 1, 10), def_raw("sniper", "headshots", 1, 20),
                      def_raw("collector", "achievement_count", 2, 5), def_raw("hoarder", "achievement_count", 4, 5),
                      def_raw("scorer", "total_score", 35, 0)};
    fx f;
    fx_init(&f, defs, 5);
    ach_event e = headshot("1", "9", 1);
    apply(&f, e);
    /* killer and sniper unlock; that makes 2 unlocks, so collector */
    assert_true(is_unlocked(&f, M(1), "killer"));
    assert_true(is_unlocked(&f, M(1), "sniper"));
    assert_true(is_unlocked(&f, M(1), "collector"));
    assert_int_equal(find_unlock(&f, M(1), "collector")->at_ms, e.received_ms);
    /* 10 + 20 + 5 points: scorer (35), the 4th unlock; with it hoarder, the 5th */
    assert_true(is_unlocked(&f, M(1), "scorer"));
    assert_true(is_unlocked(&f, M(1), "hoarder"));
    assert_int_equal(evaluator_metric(f.ev, M(1), "achievement_points"), 10 + 20 + 5 + 0 + 5);
    assert_int_equal(writes_of(&f, M(1), "hoarder"), 3); /* 2, 3, then 4 of 4 */
    assert_int_equal(evaluator_metric(f.ev, M(1), "achievements"), 5);
    assert_int_equal(f.n, 5 + 2 + 1); /* the unlocks, hoarder's progress, scorer's progress */
    /* a plain kill unlocks killer only */
    apply(&f, shot("2", "9", 2));
    assert_int_equal(progress_of(&f, M(2), "collector"), 1);
    assert_false(is_unlocked(&f, M(2), "collector"));
    fx_done(&f);
}

/* ---- code override and spawn windows ---- */

static void test_spawn_kills_and_telefrag(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("spawn_camper", "spawn_kills", 2), def("telefrag", "spawn_kills", 1)};
    assert_int_equal(defs[0].metric, metric_index("spawn_kills"));
    assert_int_equal(defs[1].metric, metric_index("telefrag_kills"));
    fx f;
    fx_init(&f, defs, 2);
    apply(&f, ev_at(EV_SPAWN, "2", 10.0));
    apply(&f, shot("1", "2", 13.0)); /* 3 s after the victim's spawn: a spawn kill */
    assert_int_equal(progress_of(&f, M(1), "spawn_camper"), 1);
    assert_int_equal(writes_of(&f, M(1), "telefrag"), 0);
    apply(&f, ev_at(EV_SPAWN, "unauth_4", 20.0));
    apply(&f, shot("1", "unauth_4", 23.001)); /* too late */
    assert_int_equal(evaluator_metric(f.ev, M(1), "spawn_kills"), 1);
    apply(&f, ev_at(EV_SPAWN, "unauth_4", 30.0));
    apply(&f, shot("1", "unauth_4", 31.0)); /* a guest just spawned */
    assert_true(is_unlocked(&f, M(1), "spawn_camper"));
    assert_false(is_unlocked(&f, M(1), "telefrag"));
    /* a victim's spawn counts in its own match only */
    apply(&f, ev_at(EV_SPAWN, "5", 40.0));
    at.match = "m2";
    apply(&f, shot("3", "5", 41.0));
    assert_int_equal(evaluator_metric(f.ev, M(3), "spawn_kills"), 0);
    /* telefrag: spawning inside another player, whenever */
    apply(&f, kill("3", "5", 100, "", "", "MOD_TELEFRAG"));
    assert_true(is_unlocked(&f, M(3), "telefrag"));
    assert_false(is_unlocked(&f, M(3), "spawn_camper"));
    fx_done(&f);
}

/* The first kill of a match is first blood, whoever made it: a guest's takes it from the members after. */
static void test_first_blood(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("first", "first_bloods", 1)};
    fx f;
    fx_init(&f, defs, 1);
    apply(&f, shot("1", "2", 5));
    assert_true(is_unlocked(&f, M(1), "first"));
    apply(&f, shot("3", "2", 6));
    assert_false(is_unlocked(&f, M(3), "first"));
    at.match = "m2";
    apply(&f, shot("unauth_1", "2", 5));
    apply(&f, shot("3", "2", 6));
    assert_false(is_unlocked(&f, M(3), "first"));
    /* a team kill or a suicide is no kill, so no first blood */
    at.match = "m3";
    ach_event tk = shot("4", "5", 1);
    tk.actor_team = tk.target_team = "axis";
    apply(&f, tk);
    apply(&f, kill("6", "6", 2, "", "", "MOD_SUICIDE"));
    apply(&f, shot("3", "2", 3));
    assert_true(is_unlocked(&f, M(3), "first"));
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_criteria_tables),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_kill_counter),
        cmocka_unit_test(test_killstreak_threshold),
        cmocka_unit_test(test_killstreak_life),
        cmocka_unit_test(test_multikill_window),
        cmocka_unit_test(test_double_kills_life),
        cmocka_unit_test(test_kills_per_minute),
        cmocka_unit_test(test_ratios),
        cmocka_unit_test(test_best_match_life),
        cmocka_unit_test(test_distinct_maps),
        cmocka_unit_test(test_match_outcomes),
        cmocka_unit_test(test_threshold_with_requirement),
        cmocka_unit_test(test_revenge),
        cmocka_unit_test(test_christmas),
        cmocka_unit_test(test_days),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_spawn_kills_and_telefrag),
        cmocka_unit_test(test_first_blood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
