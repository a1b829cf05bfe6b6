/* Unit tests: achievd's saved state (achievd/evaluate_state.c): saving and loading gives the same writes as running on
 * (exactly once), expired matches, malformed and old blobs, how a player holds its metric states; and backfills merged
 * into a member's state, and definitions added later (achievd_fixture.h). */
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
        cmocka_unit_test(test_save_load_exactly_once), cmocka_unit_test(test_expire_matches),
        cmocka_unit_test(test_load_malformed),         cmocka_unit_test(test_merge_backfill),
        cmocka_unit_test(test_new_definition_credits), cmocka_unit_test(test_metric_states_storage),
        cmocka_unit_test(test_metric_states_growth),   cmocka_unit_test(test_load_version1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
