/* Unit tests: achievd's evaluator (achievd/evaluate.c) over its tables (achievd/criteria.c) and its saved state
 * (achievd/evaluate_state.c). Events are built as ach_event structs (and once from a raw_events TSV line); a
 * member resolver maps GUIDs "1".."99" to forum members 101..199 and everything else (unauth_*) to guests; every
 * write is recorded and checked against docs/definitions.md and the definitions' thresholds. */
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

/* The forum member of GUID "n" (1..99): not n itself, so that a GUID used as a member id shows. */
#define M(n) (100u + (uint32_t)(n))

/* ---- time ---- */

/* Epoch milliseconds of a UTC date and time. */
static uint64_t utc_ms(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (uint64_t)timegm(&tm) * 1000;
}

/* ---- the member resolver and the recorded writes ---- */

static uint32_t resolve_member(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms)
{
    (void)arg;
    (void)smf_id;
    char *end;
    long n = strtol(guid, &end, 10);
    if (!*guid || *end || n < 1 || n > 99)
        return 0; /* unauth_*, bots, anything not linked */
    return M(n);
}

typedef struct {
    uint32_t member;
    char code[65];
    uint32_t progress;
    bool unlocked;
    uint64_t at_ms;
    char match_key[32];
    char guid[65];
} rec_write;

typedef struct {
    evaluator *ev;
    rec_write *w;
    size_t n, cap;
    const ach_def *defs; /* the catalogue, to check each write against its definition */
    size_t ndefs;
} fx;

static const ach_def *def_of(const fx *f, const char *code)
{
    for (size_t i = 0; i < f->ndefs; i++)
        if (strcmp(f->defs[i].code, code) == 0)
            return &f->defs[i];
    return NULL;
}

static const rec_write *find_unlock(const fx *f, uint32_t member, const char *code)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->w[i].member == member && f->w[i].unlocked && strcmp(f->w[i].code, code) == 0)
            return &f->w[i];
    return NULL;
}

/* Every write, whatever the test: a member (never a guest), progress moved (never 0), at most the requirement,
 * the requirement itself when unlocked, and nothing more for a code once the member unlocked it. */
static void on_write(void *arg, const ach_write *w)
{
    fx *f = arg;
    assert_true(w->member != 0);
    assert_non_null(w->code);
    assert_non_null(w->match_key);
    assert_non_null(w->guid);
    assert_true(w->progress > 0);
    const ach_def *d = def_of(f, w->code);
    assert_non_null(d);
    uint32_t req = d->requirement ? d->requirement : 1;
    assert_true(w->progress <= req);
    if (w->unlocked)
        assert_int_equal(w->progress, req);
    assert_null(find_unlock(f, w->member, w->code));
    assert_int_equal(resolve_member(NULL, w->guid, 0, 0), w->member);
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->w = realloc(f->w, f->cap * sizeof *f->w);
        assert_non_null(f->w);
    }
    rec_write *r = &f->w[f->n++];
    memset(r, 0, sizeof *r);
    r->member = w->member;
    snprintf(r->code, sizeof r->code, "%s", w->code);
    r->progress = w->progress;
    r->unlocked = w->unlocked;
    r->at_ms = w->at_ms;
    snprintf(r->match_key, sizeof r->match_key, "%s", w->match_key);
    snprintf(r->guid, sizeof r->guid, "%s", w->guid);
}

/* A definition as achievd builds it from a forum row: the metric its type (or code) reads. */
static ach_def def_raw(const char *code, const char *type, uint32_t req, uint32_t points)
{
    ach_def d;
    memset(&d, 0, sizeof d);
    snprintf(d.code, sizeof d.code, "%s", code);
    d.requirement = req;
    d.points = points;
    d.metric = criteria_lookup(code, type, &d.threshold);
    return d;
}

static ach_def def(const char *code, const char *type, uint32_t req)
{
    ach_def d = def_raw(code, type, req, 10);
    assert_true(d.metric >= 0);
    return d;
}

static void fx_init(fx *f, const ach_def *defs, size_t n)
{
    memset(f, 0, sizeof *f);
    f->ev = evaluator_new(resolve_member, on_write, f);
    assert_non_null(f->ev);
    f->defs = defs;
    f->ndefs = n;
    assert_int_equal(evaluator_set_catalogue(f->ev, defs, n), 0);
}

static void fx_done(fx *f)
{
    evaluator_free(f->ev);
    free(f->w);
    memset(f, 0, sizeof *f);
}

/* Writes of a code for a member. */
static size_t writes_of(const fx *f, uint32_t member, const char *code)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->w[i].member == member && strcmp(f->w[i].code, code) == 0;
    return n;
}

static const rec_write *last_write(const fx *f, uint32_t member, const char *code)
{
    for (size_t i = f->n; i-- > 0;)
        if (f->w[i].member == member && strcmp(f->w[i].code, code) == 0)
            return &f->w[i];
    return NULL;
}

static uint32_t progress_of(const fx *f, uint32_t member, const char *code)
{
    const rec_write *w = last_write(f, member, code);
    return w ? w->progress : 0;
}

static bool is_unlocked(const fx *f, uint32_t member, const char *code)
{
    return find_unlock(f, member, code) != NULL;
}

/* ---- events ---- */

/* Where the helpers' events happen: the match, its map, and the receive time of game time 0. */
static struct {
    const char *match;
    const char *map;
    uint64_t base_ms;
} at;

#define BASE_MS 1718000000000ULL /* 2024-06-10 06:13:20 UTC, a Monday: no calendar filter's day */

static void at_reset(void)
{
    at.match = "m1";
    at.map = "";
    at.base_ms = BASE_MS;
}

static ach_event ev_at(ach_event_type type, const char *actor, double gt)
{
    ach_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.game_time = gt;
    e.received_ms = at.base_ms + (uint64_t)llround(gt * 1000.0);
    e.batch_id = "b1";
    e.server_id = "srv-1";
    e.match_key = at.match;
    e.map = at.map;
    e.actor_guid = actor;
    e.actor_team = e.actor_stance = "";
    e.target_guid = e.target_team = "";
    e.weapon = e.mod = e.hitloc = e.message = e.team = "";
    return e;
}

/* A player_kill: free-for-all (no teams) unless the test sets them. */
static ach_event kill(const char *actor, const char *target, double gt, const char *weapon, const char *hitloc,
                      const char *mod)
{
    ach_event e = ev_at(EV_KILL, actor, gt);
    e.target_guid = target;
    e.weapon = weapon;
    e.hitloc = hitloc;
    e.mod = mod;
    return e;
}

static ach_event shot(const char *actor, const char *target, double gt)
{
    return kill(actor, target, gt, "Thompson", "torso_mid", "MOD_BULLET");
}

static ach_event headshot(const char *actor, const char *target, double gt)
{
    return kill(actor, target, gt, "Kar98", "head", "MOD_BULLET");
}

static ach_event match_end(double gt, const char *winner)
{
    ach_event e = ev_at(EV_MATCH_END, "", gt);
    e.team = winner;
    return e;
}

static void apply(fx *f, ach_event e)
{
    assert_int_equal(evaluator_apply(f->ev, &e), 0);
}

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

/* ---- a raw_events row ---- */

/* A TSV line from columns (already escaped), tab-separated; n columns. */
static char *tsv_line(const char *const *cols, int n, size_t *len)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(cols[i]) + 1;
    char *line = malloc(total);
    assert_non_null(line);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            line[o++] = '\t';
        memcpy(line + o, cols[i], strlen(cols[i]));
        o += strlen(cols[i]);
    }
    line[o] = '\0';
    *len = o;
    return line;
}

static void test_event_from_row(void **state)
{
    (void)state;
    at_reset();
    const char *cols[RC__COUNT];
    for (int i = 0; i < RC__COUNT; i++)
        cols[i] = "";
    cols[RC_EVENT_ID] = "5f0e1d2c-3b4a-4968-8776-655443322110";
    cols[RC_BATCH_ID] = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
    cols[RC_SERVER_ID] = "srv-1";
    cols[RC_RECEIVED_AT] = "1735084800"; /* 2024-12-25 00:00:00 UTC */
    cols[RC_RECEIVED_MS] = "250";
    cols[RC_GAME_TIME] = "\\N";
    cols[RC_SESSION_ID] = "sess-1";
    cols[RC_MATCH_KEY] = "m0123456789abcdef";
    cols[RC_MAP_NAME] = "obj/obj_team2";
    cols[RC_EVENT_TYPE] = "player_kill";
    cols[RC_TYPE_SENT] = "kill";
    cols[RC_KNOWN_TYPE] = "1";
    cols[RC_ACTOR_GUID] = "7";
    cols[RC_ACTOR_NAME] = "Tab\\tName \\\\o/";
    cols[RC_ACTOR_TEAM] = "american";
    cols[RC_ACTOR_SMF_ID] = "7";
    cols[RC_ACTOR_X] = "100.5";
    cols[RC_ACTOR_Y] = "-20";
    cols[RC_ACTOR_Z] = "64";
    cols[RC_ACTOR_PITCH] = "\\N";
    cols[RC_ACTOR_YAW] = "90";
    cols[RC_ACTOR_STANCE] = "prone";
    cols[RC_TARGET_GUID] = "unauth_3";
    cols[RC_TARGET_NAME] = "\\N";
    cols[RC_TARGET_TEAM] = "german";
    cols[RC_TARGET_SMF_ID] = "0";
    cols[RC_TARGET_X] = "\\N";
    cols[RC_TARGET_Y] = "5";
    cols[RC_TARGET_Z] = "6";
    cols[RC_TARGET_PITCH] = "\\N";
    cols[RC_TARGET_YAW] = "\\N";
    cols[RC_WEAPON] = "Thompson";
    cols[RC_OLD_WEAPON] = "\\N";
    cols[RC_MEANS_OF_DEATH] = "MOD_BULLET";
    cols[RC_HITLOC] = "head";
    cols[RC_DAMAGE] = "100";
    cols[RC_DISTANCE] = "\\N";
    cols[RC_TOTAL_DISTANCE] = "\\N";
    cols[RC_AMOUNT] = "\\N";
    cols[RC_MESSAGE] = "gg\\twp \\\\o/ \\N";
    cols[RC_TEAM] = "\\N";
    cols[RC_ROUND_NUMBER] = "\\N";
    cols[RC_ALLIES_SCORE] = "3";
    cols[RC_AXIS_SCORE] = "\\N";
    cols[RC_RAW] = "{\"type\": \"kill\"}";
    size_t len;
    char *line = tsv_line(cols, RC__COUNT, &len);
    char *f[RC__COUNT];
    unsigned char null[RC__COUNT];
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_string_equal(f[RC_ACTOR_NAME], "Tab\tName \\o/");
    assert_true(null[RC_GAME_TIME] && null[RC_TARGET_NAME] && null[RC_TARGET_X]);
    assert_false(null[RC_ACTOR_X] || null[RC_MESSAGE] || null[RC_UNKNOWN_FIELDS]);
    assert_string_equal(f[RC_GAME_TIME], "");
    assert_string_equal(f[RC_RAW], "{\"type\": \"kill\"}");

    ach_event e;
    assert_true(ach_event_from_row(f, null, &e));
    assert_int_equal(e.type, EV_KILL);
    assert_int_equal(e.received_ms, 1735084800250ULL);
    assert_true(e.game_time == 1735084800.25); /* no tracker time: the receive time */
    assert_string_equal(e.batch_id, "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3");
    assert_string_equal(e.server_id, "srv-1");
    assert_string_equal(e.match_key, "m0123456789abcdef");
    assert_string_equal(e.map, "obj/obj_team2");
    assert_string_equal(e.actor_guid, "7");
    assert_string_equal(e.actor_team, "american");
    assert_string_equal(e.actor_stance, "prone");
    assert_int_equal(e.actor_smf_id, 7);
    assert_true(e.actor_has_pos);
    assert_true(e.actor_pos[0] == 100.5 && e.actor_pos[1] == -20 && e.actor_pos[2] == 64);
    assert_true(e.actor_has_yaw && e.actor_yaw == 90);
    assert_string_equal(e.target_guid, "unauth_3");
    assert_string_equal(e.target_team, "german");
    assert_int_equal(e.target_smf_id, 0);
    assert_false(e.target_has_pos); /* x is \N */
    assert_false(e.target_has_yaw);
    assert_string_equal(e.weapon, "Thompson");
    assert_string_equal(e.mod, "MOD_BULLET");
    assert_string_equal(e.hitloc, "head");
    assert_string_equal(e.message, "gg\twp \\o/ N");
    assert_string_equal(e.team, "");
    assert_true(e.distance == 0);
    assert_false(e.has_round_scores); /* axis_score is \N */

    /* applied: a prone Christmas headshot of a guest, with a Thompson */
    ach_def defs[] = {def("killer", "kills", 1), def("xmas", "christmas_kills", 1), def("snake", "prone_kills", 1),
                      def("tommy", "weapon_kills_thompson", 1), def("sniper", "headshots", 1)};
    fx fx1;
    fx_init(&fx1, defs, 5);
    assert_int_equal(evaluator_apply(fx1.ev, &e), 0);
    free(line); /* the evaluator keeps no pointer into the row */
    for (size_t i = 0; i < 5; i++) {
        const rec_write *u = find_unlock(&fx1, M(7), defs[i].code);
        assert_non_null(u);
        assert_int_equal(u->at_ms, 1735084800250ULL);
        assert_string_equal(u->match_key, "m0123456789abcdef");
    }
    assert_int_equal(evaluator_metric(fx1.ev, M(7), "maps_played"), 1);
    fx_done(&fx1);

    /* a tracker time, another type, round scores, a distance */
    cols[RC_GAME_TIME] = "12.5";
    cols[RC_EVENT_TYPE] = "round_end";
    cols[RC_AXIS_SCORE] = "-1";
    cols[RC_DISTANCE] = "-3";
    line = tsv_line(cols, RC__COUNT, &len);
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_true(ach_event_from_row(f, null, &e));
    assert_int_equal(e.type, EV_ROUND_END);
    assert_true(e.game_time == 12.5);
    assert_true(e.has_round_scores && e.allies_score == 3 && e.axis_score == -1);
    assert_true(e.distance == 0); /* a negative step is none */
    free(line);

    /* an event type achievd does not read; a game time that is no number falls back to the receive time */
    cols[RC_EVENT_TYPE] = "ladder_dismount";
    cols[RC_GAME_TIME] = "soon";
    line = tsv_line(cols, RC__COUNT, &len);
    assert_int_equal(raw_row_split(line, len, f, null), 0);
    assert_true(ach_event_from_row(f, null, &e));
    assert_int_equal(e.type, EV_OTHER);
    assert_true(e.game_time == 1735084800.25);
    free(line);

    /* no receive time, or one that is not a time: not usable */
    const char *bad_at[] = {"", "\\N", "abc", "-5", "1e300"};
    for (size_t i = 0; i < sizeof bad_at / sizeof bad_at[0]; i++) {
        cols[RC_RECEIVED_AT] = bad_at[i];
        line = tsv_line(cols, RC__COUNT, &len);
        assert_int_equal(raw_row_split(line, len, f, null), 0);
        assert_false(ach_event_from_row(f, null, &e));
        free(line);
    }
    cols[RC_RECEIVED_AT] = "1735084800";
    const char *bad_ms[] = {"-1", "1000", "x"};
    for (size_t i = 0; i < sizeof bad_ms / sizeof bad_ms[0]; i++) {
        cols[RC_RECEIVED_MS] = bad_ms[i];
        line = tsv_line(cols, RC__COUNT, &len);
        assert_int_equal(raw_row_split(line, len, f, null), 0);
        assert_false(ach_event_from_row(f, null, &e));
        free(line);
    }
    cols[RC_RECEIVED_MS] = "250";

    /* one column short or one too many */
    line = tsv_line(cols, RC__COUNT - 1, &len);
    assert_int_equal(raw_row_split(line, len, f, null), -EINVAL);
    free(line);
    const char *more[RC__COUNT + 1];
    memcpy(more, cols, sizeof cols);
    more[RC__COUNT] = "extra";
    line = tsv_line(more, RC__COUNT + 1, &len);
    assert_int_equal(raw_row_split(line, len, f, null), -EINVAL);
    free(line);
}

/* ---- saved state: exactly once ---- */

typedef struct {
    char key[40];
    unsigned char *blob;
    size_t len;
} saved;

typedef struct {
    saved *s;
    size_t n, cap;
} store;

static saved *store_find(store *st, const char *key)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->s[i].key, key) == 0)
            return &st->s[i];
    return NULL;
}

/* evaluator_save_dirty's callback: insert or replace the object's blob. */
static int store_put(void *arg, const char *key, const void *blob, size_t len)
{
    store *st = arg;
    assert_true(len > 0);
    saved *s = store_find(st, key);
    if (!s) {
        if (st->n == st->cap) {
            st->cap = st->cap ? st->cap * 2 : 32;
            st->s = realloc(st->s, st->cap * sizeof *st->s);
            assert_non_null(st->s);
        }
        s = &st->s[st->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->key, sizeof s->key, "%s", key);
    }
    free(s->blob);
    s->blob = malloc(len);
    assert_non_null(s->blob);
    memcpy(s->blob, blob, len);
    s->len = len;
    return 0;
}

static void store_free(store *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->s[i].blob);
    free(st->s);
    memset(st, 0, sizeof *st);
}

static int store_fail(void *arg, const char *key, const void *blob, size_t len)
{
    (void)arg;
    (void)key;
    (void)blob;
    (void)len;
    return -EIO;
}

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

/* A long deterministic stream of every kind of event: members 1..12 and three guest slots over many matches,
 * days and dates (Christmas, nights, July 4th), with and without match_end. */
static ach_event *gen_events(size_t *count, char (**keys)[24])
{
    static const char *const guids[] = {"1", "2",  "3",  "4",  "5",        "6",        "7",        "8",
                                        "9", "10", "11", "12", "unauth_1", "unauth_2", "unauth_3", ""};
    static const char *const teams[] = {"american", "allies", "german", "axis", "", "spectator"};
    static const char *const weapons[] = {
        "Thompson", "Kar98", "Colt .45", "M1 Garand", "Stielhandgranate", "Frag Grenade", "Springfield '03 Sniper",
        "Shotgun",  "BAR",   "StG 44",   "MP40",      "Bazooka",          "knife",        ""};
    static const char *const hitlocs[] = {"head",        "helmet", "neck",   "torso_upper", "torso_mid", "pelvis",
                                          "r_leg_lower", "l_foot", "r_hand", "l_arm_upper", "",          "general"};
    static const char *const mods[] = {"MOD_BULLET",  "MOD_GRENADE", "MOD_BASH",    "MOD_TELEFRAG",
                                       "MOD_FALLING", "MOD_ROCKET",  "MOD_VEHICLE", "MOD_CRUSH",
                                       "MOD_DROWN",   "shotgun",     "MOD_SUICIDE", ""};
    static const char *const stances[] = {"stand", "crouch", "prone", ""};
    static const char *const maps[] = {"dm/mohdm1", "dm/mohdm2", "obj/obj_team2", "", "dm/mohdm6"};
    static const char *const msgs[] = {"gg", "GG!", "hello", " gg wp ", "nice"};
    const int nmatches = 60;
    size_t cap = 20000, n = 0;
    ach_event *ev = calloc(cap, sizeof *ev);
    *keys = calloc((size_t)nmatches, sizeof **keys);
    assert_true(ev && *keys);
    uint64_t day0 = utc_ms(2023, 12, 20, 0, 0, 0);
    for (int mi = 0; mi < nmatches; mi++) {
        snprintf((*keys)[mi], sizeof(*keys)[mi], "m%016x", (unsigned)(mi * 2654435761u));
        /* matches on consecutive days, at various hours; a few on Christmas day and July 4th */
        uint64_t base = day0 + (uint64_t)(mi / 3) * DAY_MS + (uint64_t)rnd(24) * 3600000 + rnd(3600000);
        if (mi == 40 || mi == 41)
            base = utc_ms(2024, 7, 4, 20, 0, 0) + (uint64_t)mi * 7200000;
        const char *map = PICK(maps);
        double gt = rnd(100);
        int nev = 80 + (int)rnd(200);
        for (int k = 0; k < nev && n + 2 < cap; k++) {
            gt += rnd(4) == 0 ? rnd(4000) / 1000.0 : rnd(30) / 10.0;
            if (rnd(50) == 0)
                gt += 700; /* long matches, long gaps */
            ach_event *e = &ev[n++];
            memset(e, 0, sizeof *e);
            e->game_time = gt;
            e->received_ms = base + (uint64_t)(gt * 1000);
            e->batch_id = "b";
            e->server_id = "srv";
            e->match_key = (*keys)[mi];
            e->map = rnd(5) ? map : "";
            e->actor_guid = guids[rnd(13) ? rnd(15) : 15];
            e->actor_team = PICK(teams);
            e->actor_stance = PICK(stances);
            e->target_guid = PICK(guids);
            e->target_team = PICK(teams);
            e->weapon = PICK(weapons);
            e->mod = PICK(mods);
            e->hitloc = PICK(hitlocs);
            e->message = PICK(msgs);
            e->team = "";
            e->actor_has_pos = rnd(5) != 0;
            e->target_has_pos = rnd(5) != 0;
            for (int c = 0; c < 3; c++) {
                e->actor_pos[c] = (double)rnd(8000) - 4000;
                e->target_pos[c] = e->actor_pos[c] + (double)rnd(600) - 300;
            }
            e->actor_has_yaw = rnd(3) != 0;
            e->target_has_yaw = rnd(3) != 0;
            e->actor_yaw = rnd(360);
            e->target_yaw = rnd(360);
            uint32_t r = rnd(100);
            if (r < 45) {
                e->type = EV_KILL;
                if (rnd(10) == 0)
                    e->target_guid = e->actor_guid; /* suicide */
                if (rnd(4) == 0)
                    e->target_pos[0] = e->actor_pos[0] + 0.5, e->target_pos[1] = e->actor_pos[1];
            } else if (r < 55) {
                e->type = EV_SPAWN;
            } else if (r < 62) {
                e->type = EV_JUMP;
            } else if (r < 67) {
                e->type = EV_CROUCH;
            } else if (r < 75) {
                e->type = EV_DISTANCE;
                e->distance = rnd(500);
            } else if (r < 78) {
                e->type = EV_CHAT;
            } else if (r < 82) {
                e->type = EV_FIRE;
            } else if (r < 85) {
                e->type = EV_HIT;
            } else if (r < 87) {
                e->type = EV_DAMAGE;
            } else if (r < 89) {
                e->type = EV_LADDER;
            } else if (r < 90) {
                e->type = EV_DOOR;
            } else if (r < 91) {
                e->type = EV_DISCONNECT;
            } else if (r < 95) {
                e->type = EV_ROUND_END;
                e->has_round_scores = rnd(4) != 0;
                e->allies_score = (int)rnd(15);
                e->axis_score = (int)rnd(15);
            } else if (r < 96) {
                e->type = EV_TEAM_WIN;
                e->team = PICK(teams);
            } else {
                e->type = EV_OTHER;
            }
        }
        if (rnd(10) < 7) {
            ach_event *e = &ev[n++];
            *e = ev[n - 2];
            e->type = EV_MATCH_END;
            e->game_time += 1;
            e->received_ms += 1000;
            e->team = PICK(teams);
            e->actor_guid = "";
        }
    }
    *count = n;
    return ev;
}

/* The whole catalogue: every requirement_type the tables know, twice (a low and a high requirement), and the
 * override. */
static ach_def *all_defs(size_t *n)
{
    ach_def *defs = calloc((size_t)criteria_count * 2 + 2, sizeof *defs);
    assert_non_null(defs);
    size_t k = 0;
    for (int i = 0; i < criteria_count; i++) {
        char code[65];
        snprintf(code, sizeof code, "%s_lo", criteria[i].type);
        defs[k++] = def_raw(code, criteria[i].type, 1 + (uint32_t)(i % 3), (uint32_t)i);
        snprintf(code, sizeof code, "%s_hi", criteria[i].type);
        defs[k++] = def_raw(code, criteria[i].type, 4 + (uint32_t)(i % 40), 1);
    }
    defs[k++] = def_raw("telefrag", "spawn_kills", 1, 7);
    defs[k++] = def_raw("spawn_camper", "spawn_kills", 3, 7);
    *n = k;
    return defs;
}

static void assert_same_writes(const fx *a, const rec_write *w, size_t n)
{
    assert_int_equal(a->n, n);
    for (size_t i = 0; i < n; i++) {
        const rec_write *x = &a->w[i], *y = &w[i];
        if (x->member != y->member || strcmp(x->code, y->code) || x->progress != y->progress ||
            x->unlocked != y->unlocked || x->at_ms != y->at_ms || strcmp(x->match_key, y->match_key) ||
            strcmp(x->guid, y->guid))
            fail_msg("write %zu differs: %u %s %u %d %llu / %u %s %u %d %llu", i, x->member, x->code, x->progress,
                     x->unlocked, (unsigned long long)x->at_ms, y->member, y->code, y->progress, y->unlocked,
                     (unsigned long long)y->at_ms);
    }
}

static void test_save_load_exactly_once(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ULL;
    size_t nev;
    char(*keys)[24];
    ach_event *ev = gen_events(&nev, &keys);
    size_t ndefs;
    ach_def *defs = all_defs(&ndefs);

    /* one evaluator applies everything */
    fx one;
    fx_init(&one, defs, ndefs);
    for (size_t i = 0; i < nev; i++)
        assert_int_equal(evaluator_apply(one.ev, &ev[i]), 0);
    assert_true(one.n > 500); /* the stream unlocks a lot */
    size_t unlocks = 0;
    for (size_t i = 0; i < one.n; i++)
        unlocks += one.w[i].unlocked;
    assert_true(unlocks > 100);
    store all = {0};
    assert_int_equal(evaluator_save_dirty(one.ev, store_put, &all), 0);
    /* nothing is dirty after a save */
    store none = {0};
    assert_int_equal(evaluator_save_dirty(one.ev, store_put, &none), 0);
    assert_int_equal(none.n, 0);

    size_t splits[][2] = {{nev / 4, nev / 2}, {1, nev / 3}, {nev / 2, nev - 1}, {nev / 3, nev / 3}};
    for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
        /* the first evaluator applies up to the first split and saves, goes on to the second and saves again
         * (only what changed since); it then stops (a restart) */
        fx first;
        fx_init(&first, defs, ndefs);
        store st = {0};
        size_t i = 0;
        for (; i < splits[s][0]; i++)
            assert_int_equal(evaluator_apply(first.ev, &ev[i]), 0);
        assert_int_equal(evaluator_save_dirty(first.ev, store_put, &st), 0);
        for (; i < splits[s][1]; i++)
            assert_int_equal(evaluator_apply(first.ev, &ev[i]), 0);
        assert_int_equal(evaluator_save_dirty(first.ev, store_put, &st), 0);

        /* a new evaluator loads every object and applies the rest */
        fx second;
        fx_init(&second, defs, ndefs);
        for (size_t k = 0; k < st.n; k++)
            assert_int_equal(evaluator_load(second.ev, st.s[k].key, st.s[k].blob, st.s[k].len), 0);
        assert_int_equal(evaluator_players(second.ev), evaluator_players(first.ev));
        assert_int_equal(evaluator_matches(second.ev), evaluator_matches(first.ev));
        for (; i < nev; i++)
            assert_int_equal(evaluator_apply(second.ev, &ev[i]), 0);

        /* the writes of both, in order, are those of the one evaluator */
        rec_write *w = malloc((first.n + second.n + 1) * sizeof *w);
        assert_non_null(w);
        memcpy(w, first.w, first.n * sizeof *w);
        memcpy(w + first.n, second.w, second.n * sizeof *w);
        assert_same_writes(&one, w, first.n + second.n);
        free(w);
        /* and so are the metrics */
        for (uint32_t m = M(1); m <= M(12); m++)
            for (int k = 0; k < metrics_count; k++)
                if (evaluator_metric(one.ev, m, metrics[k].name) != evaluator_metric(second.ev, m, metrics[k].name))
                    fail_msg("member %u metric %s: %u != %u", m, metrics[k].name,
                             evaluator_metric(one.ev, m, metrics[k].name),
                             evaluator_metric(second.ev, m, metrics[k].name));
        /* and the saved state: what the second saves over what the first saved is, byte for byte, what the one
         * evaluator saves (so what was not saved again had not changed) */
        assert_int_equal(evaluator_save_dirty(second.ev, store_put, &st), 0);
        assert_int_equal(st.n, all.n);
        for (size_t k = 0; k < all.n; k++) {
            saved *x = store_find(&st, all.s[k].key);
            assert_non_null(x);
            if (x->len != all.s[k].len || memcmp(x->blob, all.s[k].blob, x->len) != 0)
                fail_msg("saved %s differs", all.s[k].key);
        }
        store_free(&st);
        fx_done(&first);
        fx_done(&second);
    }

    /* a save that fails keeps its objects dirty: the next save gives them */
    fx f;
    fx_init(&f, defs, ndefs);
    for (size_t i = 0; i < 200; i++)
        assert_int_equal(evaluator_apply(f.ev, &ev[i]), 0);
    assert_int_equal(evaluator_save_dirty(f.ev, store_fail, NULL), -EIO);
    store st = {0};
    assert_int_equal(evaluator_save_dirty(f.ev, store_put, &st), 0);
    assert_int_equal(st.n, evaluator_players(f.ev) + evaluator_matches(f.ev));
    /* reset forgets everything; loading brings it back */
    evaluator_reset(f.ev);
    assert_int_equal(evaluator_players(f.ev), 0);
    assert_int_equal(evaluator_matches(f.ev), 0);
    for (size_t k = 0; k < st.n; k++)
        assert_int_equal(evaluator_load(f.ev, st.s[k].key, st.s[k].blob, st.s[k].len), 0);
    assert_int_equal(evaluator_players(f.ev) + evaluator_matches(f.ev), st.n);
    /* loading the same object twice replaces it */
    for (size_t k = 0; k < st.n; k++)
        assert_int_equal(evaluator_load(f.ev, st.s[k].key, st.s[k].blob, st.s[k].len), 0);
    assert_int_equal(evaluator_players(f.ev) + evaluator_matches(f.ev), st.n);
    store_free(&st);
    fx_done(&f);

    store_free(&all);
    fx_done(&one);
    free(defs);
    free(ev);
    free(keys);
}

/* Expired matches leave memory and say which saved object to delete. */
static int gone_count;
static void on_gone(void *arg, const char *key)
{
    (void)arg;
    assert_true(strncmp(key, "m:", 2) == 0);
    gone_count++;
}

static void test_expire_matches(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("killer", "kills", 5)};
    fx f;
    fx_init(&f, defs, 1);
    apply(&f, shot("1", "2", 1)); /* m1 at BASE_MS + 1 s */
    at.match = "m2";
    at.base_ms = BASE_MS + 3600000;
    apply(&f, shot("1", "2", 1));
    assert_int_equal(evaluator_matches(f.ev), 2);
    gone_count = 0;
    evaluator_expire_matches(f.ev, BASE_MS + 3600000 + 1000, 1800000, on_gone, NULL);
    assert_int_equal(gone_count, 1);
    assert_int_equal(evaluator_matches(f.ev), 1);
    apply(&f, shot("1", "2", 2));
    assert_int_equal(evaluator_metric(f.ev, M(1), "kills"), 3);
    fx_done(&f);
}

/* ---- saved state: malformed blobs ---- */

static void test_load_malformed(void **state)
{
    (void)state;
    rng_state = 0x1234567887654321ULL;
    size_t nev;
    char(*keys)[24];
    ach_event *ev = gen_events(&nev, &keys);
    size_t ndefs;
    ach_def *defs = all_defs(&ndefs);
    fx f;
    fx_init(&f, defs, ndefs);
    for (size_t i = 0; i < 3000 && i < nev; i++)
        assert_int_equal(evaluator_apply(f.ev, &ev[i]), 0);
    store st = {0};
    assert_int_equal(evaluator_save_dirty(f.ev, store_put, &st), 0);
    fx_done(&f);
    saved *p = NULL, *m = NULL;
    for (size_t k = 0; k < st.n; k++) {
        if (!p && st.s[k].key[0] == 'p')
            p = &st.s[k];
        if (!m && st.s[k].key[0] == 'm')
            m = &st.s[k];
    }
    assert_true(p && m);

    fx g;
    fx_init(&g, defs, ndefs);
    saved *objs[2] = {p, m};
    for (int o = 0; o < 2; o++) {
        saved *s = objs[o];
        /* every truncation, and one byte too many */
        for (size_t len = 0; len < s->len; len++) {
            unsigned char *cut = malloc(len ? len : 1); /* exactly len bytes: ASan sees any overread */
            memcpy(cut, s->blob, len);
            assert_int_equal(evaluator_load(g.ev, s->key, cut, len), -EINVAL);
            free(cut);
        }
        unsigned char *longer = malloc(s->len + 1);
        memcpy(longer, s->blob, s->len);
        longer[s->len] = 0;
        assert_int_equal(evaluator_load(g.ev, s->key, longer, s->len + 1), -EINVAL);
        free(longer);
        assert_int_equal(evaluator_players(g.ev) + evaluator_matches(g.ev), 0);
        /* every byte changed: read or rejected, never a crash */
        unsigned char *flip = malloc(s->len);
        for (size_t k = 0; k < s->len; k++) {
            for (int how = 0; how < 3; how++) {
                memcpy(flip, s->blob, s->len);
                flip[k] = how == 0 ? (unsigned char)~flip[k] : how == 1 ? (unsigned char)(flip[k] + 1) : 0xff;
                int rc = evaluator_load(g.ev, s->key, flip, s->len);
                assert_true(rc == 0 || rc == -EINVAL);
            }
        }
        free(flip);
        /* the evaluator still works on whatever it read */
        for (size_t i = 3000; i < 3500 && i < nev; i++)
            assert_int_equal(evaluator_apply(g.ev, &ev[i]), 0);
        evaluator_reset(g.ev);
        g.n = 0; /* the players start again: so do the writes' checks */
    }
    /* a blob under the other kind's key, an unknown key, garbage */
    assert_int_equal(evaluator_load(g.ev, m->key, p->blob, p->len), -EINVAL);
    assert_int_equal(evaluator_load(g.ev, p->key, m->blob, m->len), -EINVAL);
    assert_int_equal(evaluator_load(g.ev, "x:1", p->blob, p->len), -EINVAL);
    assert_int_equal(evaluator_load(g.ev, "", p->blob, p->len), -EINVAL);
    unsigned char junk[512];
    for (int round = 0; round < 2000; round++) {
        size_t len = rnd(sizeof junk);
        for (size_t k = 0; k < len; k++)
            junk[k] = (unsigned char)rnd(256);
        if (round % 2 == 0 && len >= 2) {
            junk[0] = round % 4 == 0 ? 'P' : 'M';
            junk[1] = 1;
        }
        int rc = evaluator_load(g.ev, round % 4 == 0 ? "p:1" : "m:x", junk, len);
        assert_true(rc == 0 || rc == -EINVAL);
    }
    assert_int_equal(evaluator_load(g.ev, "p:1", NULL, 0), -EINVAL);
    assert_int_equal(evaluator_load(g.ev, "m:x", NULL, 0), -EINVAL);
    fx_done(&g);
    store_free(&st);
    free(defs);
    free(ev);
    free(keys);
}

/* ---- backfills and new definitions ---- */

/* A member's past measured apart (a backfill) and merged: counts add, bests take the larger, sets and unlocks
 * join; what the past unlocked is not unlocked again. */
static void test_merge_backfill(void **state)
{
    (void)state;
    const ach_def defs[] = {def("first", "kills", 1), def("kill6", "kills", 6), def("kill10", "kills", 10),
                            def("ks10", "killstreak_10", 1), def("maps2", "unique_maps", 2)};
    fx live, past;
    fx_init(&live, defs, 5);
    fx_init(&past, defs, 5);
    at_reset();
    at.map = "dm/a";
    for (int i = 0; i < 6; i++)
        apply(&past, shot("5", "unauth_1", 10 + i));
    at.map = "dm/b";
    at.match = "m2";
    for (int i = 0; i < 5; i++)
        apply(&live, shot("5", "unauth_1", 10 + i));
    assert_true(is_unlocked(&past, M(5), "kill6"));
    assert_false(is_unlocked(&live, M(5), "kill6"));
    size_t before = live.n;
    assert_int_equal(evaluator_merge(live.ev, past.ev, M(5), 4242), 0);
    assert_int_equal(evaluator_metric(live.ev, M(5), "kills"), 11);
    assert_int_equal(evaluator_metric(live.ev, M(5), "killstreak"), 6);
    assert_int_equal(evaluator_metric(live.ev, M(5), "maps_played"), 2);
    assert_true(is_unlocked(&live, M(5), "kill10"));
    assert_int_equal(find_unlock(&live, M(5), "kill10")->at_ms, 4242);
    assert_true(is_unlocked(&live, M(5), "maps2"));
    assert_false(is_unlocked(&live, M(5), "ks10"));
    /* kill6 was the past's: the merge joins it and writes it no more (the pipeline writes the past's own) */
    for (size_t i = before; i < live.n; i++)
        assert_string_not_equal(live.w[i].code, "kill6");
    /* and nothing more for it later (the 5 writes are the live progress 1..5 before the merge) */
    size_t k6 = writes_of(&live, M(5), "kill6");
    apply(&live, shot("5", "unauth_1", 30));
    assert_int_equal(writes_of(&live, M(5), "kill6"), k6);
    assert_int_equal(evaluator_metric(live.ev, M(5), "kills"), 12);
    /* a member the past does not know: nothing */
    assert_int_equal(evaluator_merge(live.ev, past.ev, M(6), 1), 0);
    assert_int_equal(evaluator_metric(live.ev, M(6), "kills"), 0);
    fx_done(&live);
    fx_done(&past);
}

/* A definition added to the catalogue is given at once to members who already reached it. */
static void test_new_definition_credits(void **state)
{
    (void)state;
    const ach_def first[] = {def("first", "kills", 1)};
    const ach_def both[] = {def("first", "kills", 1), def("kill3", "kills", 3), def("kill9", "kills", 9)};
    fx f;
    fx_init(&f, first, 1);
    at_reset();
    for (int i = 0; i < 3; i++)
        apply(&f, shot("7", "unauth_1", 10 + i));
    uint64_t last_ms = at.base_ms + 12000;
    f.defs = both;
    f.ndefs = 3;
    assert_int_equal(evaluator_set_catalogue(f.ev, both, 3), 0);
    assert_true(is_unlocked(&f, M(7), "kill3"));
    assert_int_equal(find_unlock(&f, M(7), "kill3")->at_ms, last_ms);
    assert_int_equal(progress_of(&f, M(7), "kill9"), 3);
    /* the same catalogue again changes nothing */
    size_t n = f.n;
    assert_int_equal(evaluator_set_catalogue(f.ev, both, 3), 0);
    assert_int_equal(f.n, n);
    fx_done(&f);
}

/* ---- a player's metric states ---- */

/* The held states of one kind of a player: sorted by metric, grown by a few elements at a time. */
static void assert_held(const held_states *h, size_t size)
{
    const uint8_t *id = held_ids(h, size);
    for (uint32_t j = 1; j < h->n; j++)
        assert_true(id[j - 1] < id[j]);
    assert_true(h->cap >= h->n && h->cap - h->n < 8);
}

/* Every metric of the table held in one player, set in a scrambled order: each reads back (a value-only metric its
 * value alone), the states stay sorted, the arrays grow a few states at a time, and a save and load gives them all
 * back with no spare room, byte for byte. */
static void test_metric_states_storage(void **state)
{
    (void)state;
    player *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->member = M(1);
    snprintf(p->guid, sizeof p->guid, "1");
    assert_int_equal(player_metric(p, 0).value, 0);
    int value_only = 0;
    for (int n = 0; n < metrics_count; n++) {
        /* the even metrics from the last down, then the odd ones up: inserts at the front, middle and end */
        int evens = (metrics_count + 1) / 2;
        int i = n < evens ? 2 * (evens - 1 - n) : 2 * (n - evens) + 1;
        mstate s = {.value = (uint32_t)i + 1, .cur = (uint32_t)n + 1, .t = i * 0.5};
        assert_int_equal(player_metric_set(p, i, &s), 0);
        assert_int_equal(p->full.n + p->values.n, n + 1);
        assert_held(&p->full, sizeof(mstate));
        assert_held(&p->values, sizeof(uint32_t));
        value_only += metric_value_only(i);
    }
    assert_true(value_only > 0 && value_only < metrics_count);
    assert_int_equal(p->values.n, value_only);
    for (int i = 0; i < metrics_count; i++) {
        mstate s = player_metric(p, i);
        assert_int_equal(s.value, (uint32_t)i + 1);
        if (metric_value_only(i))
            assert_true(s.cur == 0 && s.t == 0);
        else
            assert_true(s.cur > 0 && s.t == i * 0.5);
    }
    /* a state held but zero again (a life's running part reset) is saved as absent */
    const mstate zero = {0};
    assert_int_equal(player_metric_set(p, 0, &zero), 0);
    assert_int_equal(p->full.n + p->values.n, metrics_count);

    size_t len;
    void *blob = player_encode(p, &len);
    assert_non_null(blob);
    player *q = calloc(1, sizeof *q);
    assert_non_null(q);
    assert_int_equal(player_decode(q, blob, len), 0);
    assert_int_equal(q->full.n + q->values.n, metrics_count - 1);
    assert_int_equal(q->full.cap, q->full.n); /* loaded: no spare room */
    assert_int_equal(q->values.cap, q->values.n);
    assert_int_equal(player_metric(q, 0).value, 0);
    for (int i = 1; i < metrics_count; i++) {
        mstate a = player_metric(p, i), b = player_metric(q, i);
        assert_int_equal(a.value, b.value);
        assert_int_equal(a.cur, b.cur);
        assert_true(a.t == b.t);
    }
    size_t len2;
    void *blob2 = player_encode(q, &len2);
    assert_non_null(blob2);
    assert_int_equal(len, len2);
    assert_memory_equal(blob, blob2, len);
    free(blob);
    free(blob2);
    free(q->full.a);
    free(q->values.a);
    free(q);
    free(p->full.a);
    free(p->values.a);
    free(p);
}

/* A member who moves one metric after another through the evaluator: the held states grow with them, values are
 * those of the events, and a reload continues where the save stopped. */
static void test_metric_states_growth(void **state)
{
    (void)state;
    at_reset();
    at.map = "dm/mohdm1";
    const ach_def defs[] = {def("kill50", "kills", 50), def("hs10", "headshots", 10)};
    fx f;
    fx_init(&f, defs, 2);
    apply(&f, ev_at(EV_SPAWN, "1", 1));
    uint32_t few = evaluator_metric(f.ev, M(1), "kills");
    assert_int_equal(few, 0);
    static const char *weapons[] = {"Thompson", "Kar98", "MP40", "Colt 45", "M1 Garand", "BAR", "Shotgun", "Bazooka"};
    static const char *hitlocs[] = {"head", "torso_upper", "pelvis", "left_leg_upper", "torso_mid", "right_foot"};
    double gt = 2;
    for (int i = 0; i < 40; i++, gt += 4) {
        apply(&f, kill("1", "unauth_2", gt, weapons[i % 8], hitlocs[i % 6], i % 5 ? "MOD_BULLET" : "MOD_GRENADE"));
        ach_event d = ev_at(EV_DISTANCE, "1", gt + 1);
        d.distance = 300;
        apply(&f, d);
        apply(&f, ev_at(EV_JUMP, "1", gt + 2));
        if (i % 10 == 9)
            apply(&f, shot("unauth_2", "1", gt + 3));
    }
    assert_int_equal(evaluator_metric(f.ev, M(1), "kills"), 40);
    assert_int_equal(evaluator_metric(f.ev, M(1), "headshots"), 7);
    assert_int_equal(progress_of(&f, M(1), "kill50"), 40);
    uint32_t moved = 0;
    for (int i = 0; i < metrics_count; i++)
        moved += evaluator_metric(f.ev, M(1), metrics[i].name) != 0;
    assert_true(moved >= 20);

    /* saved, loaded into a new evaluator, ten more kills: kill50 unlocks there */
    store st = {0};
    assert_int_equal(evaluator_save_dirty(f.ev, store_put, &st), 0);
    fx g;
    fx_init(&g, defs, 2);
    for (size_t k = 0; k < st.n; k++)
        assert_int_equal(evaluator_load(g.ev, st.s[k].key, st.s[k].blob, st.s[k].len), 0);
    for (int i = 0; i < metrics_count; i++)
        assert_int_equal(evaluator_metric(g.ev, M(1), metrics[i].name), evaluator_metric(f.ev, M(1), metrics[i].name));
    for (int i = 0; i < 10; i++, gt += 4)
        apply(&g, shot("1", "unauth_2", gt));
    assert_true(is_unlocked(&g, M(1), "kill50"));
    assert_false(is_unlocked(&g, M(1), "hs10"));
    store_free(&st);
    fx_done(&g);
    fx_done(&f);
}

/* A player saved by version 1 (its last killer as the GUID) still loads, and that killer is still the one whose
 * death is a revenge. The version 1 blob is the version 2 one with the killer's hash replaced by the GUID. */
static void test_load_version1(void **state)
{
    (void)state;
    at_reset();
    ach_def defs[] = {def("revenge", "revenge_kill", 1)};
    fx f;
    fx_init(&f, defs, 1);
    apply(&f, shot("2", "1", 10));
    store st = {0};
    assert_int_equal(evaluator_save_dirty(f.ev, store_put, &st), 0);
    fx_done(&f);
    saved *s = store_find(&st, "p:101");
    assert_non_null(s);
    assert_int_equal(s->blob[1], 2);

    /* head, member, guid, match key, 2 times, 8 words, 8 killers, has_spawn, spawn time, elevation mask */
    size_t at_killer = 2 + 4;
    uint32_t n;
    memcpy(&n, s->blob + at_killer, 4); /* little-endian, as this machine */
    at_killer += 4 + n;
    memcpy(&n, s->blob + at_killer, 4);
    at_killer += 4 + n;
    at_killer += 2 * 8 + 8 * 4 + 8 * 12 + 4 + 8 + 4;
    const char *guid = "2";
    size_t len = s->len - 8 + 4 + strlen(guid);
    unsigned char *v1 = malloc(len);
    assert_non_null(v1);
    memcpy(v1, s->blob, at_killer);
    v1[1] = 1;
    uint32_t glen = (uint32_t)strlen(guid);
    memcpy(v1 + at_killer, &glen, 4);
    memcpy(v1 + at_killer + 4, guid, glen);
    memcpy(v1 + at_killer + 4 + glen, s->blob + at_killer + 8, s->len - at_killer - 8);

    fx g;
    fx_init(&g, defs, 1);
    assert_int_equal(evaluator_load(g.ev, "p:101", v1, len), 0);
    assert_int_equal(evaluator_metric(g.ev, M(1), "deaths"), 1);
    /* the match too, as a restart loads everything */
    assert_int_equal(evaluator_load(g.ev, "m:m1", store_find(&st, "m:m1")->blob, store_find(&st, "m:m1")->len), 0);
    apply(&g, shot("1", "3", 20));
    assert_false(is_unlocked(&g, M(1), "revenge"));
    apply(&g, shot("1", "2", 30));
    assert_true(is_unlocked(&g, M(1), "revenge"));
    /* saved again, it is version 2 */
    store st2 = {0};
    assert_int_equal(evaluator_save_dirty(g.ev, store_put, &st2), 0);
    assert_int_equal(store_find(&st2, "p:101")->blob[1], 2);
    /* a version this code does not know is rejected */
    v1[1] = 3;
    assert_int_equal(evaluator_load(g.ev, "p:101", v1, len), -EINVAL);
    free(v1);
    store_free(&st2);
    store_free(&st);
    fx_done(&g);
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
        cmocka_unit_test(test_event_from_row),
        cmocka_unit_test(test_save_load_exactly_once),
        cmocka_unit_test(test_expire_matches),
        cmocka_unit_test(test_load_malformed),
        cmocka_unit_test(test_merge_backfill),
        cmocka_unit_test(test_new_definition_credits),
        cmocka_unit_test(test_metric_states_storage),
        cmocka_unit_test(test_metric_states_growth),
        cmocka_unit_test(test_load_version1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
