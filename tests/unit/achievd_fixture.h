/* What the unit tests of achievd's evaluator share (test_achievd_metrics.c, test_achievd_row.c, test_achievd_state.c):
 * a member resolver that maps GUIDs "1".."99" to forum members 101..199 and everything else (unauth_*) to guests, every
 * write recorded and checked against docs/definitions.md and the definitions' thresholds, and events built as
 * ach_event structs. Its helpers are static inline: each test program includes them and uses what it needs. */
#ifndef MOHSTATS_TESTS_ACHIEVD_FIXTURE_H
#define MOHSTATS_TESTS_ACHIEVD_FIXTURE_H

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
static inline uint64_t utc_ms(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (uint64_t)timegm(&tm) * 1000;
}

/* ---- the member resolver and the recorded writes ---- */

static inline uint32_t resolve_member(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms)
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

static inline const ach_def *def_of(const fx *f, const char *code)
{
    for (size_t i = 0; i < f->ndefs; i++)
        if (strcmp(f->defs[i].code, code) == 0)
            return &f->defs[i];
    return NULL;
}

static inline const rec_write *find_unlock(const fx *f, uint32_t member, const char *code)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->w[i].member == member && f->w[i].unlocked && strcmp(f->w[i].code, code) == 0)
            return &f->w[i];
    return NULL;
}

/* Every write, whatever the test: a member (never a guest), progress moved (never 0), at most the requirement,
 * the requirement itself when unlocked, and nothing more for a code once the member unlocked it. */
static inline void on_write(void *arg, const ach_write *w)
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
static inline ach_def def_raw(const char *code, const char *type, uint32_t req, uint32_t points)
{
    ach_def d;
    memset(&d, 0, sizeof d);
    snprintf(d.code, sizeof d.code, "%s", code);
    d.requirement = req;
    d.points = points;
    d.metric = criteria_lookup(code, type, &d.threshold);
    return d;
}

static inline ach_def def(const char *code, const char *type, uint32_t req)
{
    ach_def d = def_raw(code, type, req, 10);
    assert_true(d.metric >= 0);
    return d;
}

static inline void fx_init(fx *f, const ach_def *defs, size_t n)
{
    memset(f, 0, sizeof *f);
    f->ev = evaluator_new(resolve_member, on_write, f);
    assert_non_null(f->ev);
    f->defs = defs;
    f->ndefs = n;
    assert_int_equal(evaluator_set_catalogue(f->ev, defs, n), 0);
}

static inline void fx_done(fx *f)
{
    evaluator_free(f->ev);
    free(f->w);
    memset(f, 0, sizeof *f);
}

/* Writes of a code for a member. */
static inline size_t writes_of(const fx *f, uint32_t member, const char *code)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->w[i].member == member && strcmp(f->w[i].code, code) == 0;
    return n;
}

static inline const rec_write *last_write(const fx *f, uint32_t member, const char *code)
{
    for (size_t i = f->n; i-- > 0;)
        if (f->w[i].member == member && strcmp(f->w[i].code, code) == 0)
            return &f->w[i];
    return NULL;
}

static inline uint32_t progress_of(const fx *f, uint32_t member, const char *code)
{
    const rec_write *w = last_write(f, member, code);
    return w ? w->progress : 0;
}

static inline bool is_unlocked(const fx *f, uint32_t member, const char *code)
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

static inline void at_reset(void)
{
    at.match = "m1";
    at.map = "";
    at.base_ms = BASE_MS;
}

static inline ach_event ev_at(ach_event_type type, const char *actor, double gt)
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
static inline ach_event kill(const char *actor, const char *target, double gt, const char *weapon, const char *hitloc,
                             const char *mod)
{
    ach_event e = ev_at(EV_KILL, actor, gt);
    e.target_guid = target;
    e.weapon = weapon;
    e.hitloc = hitloc;
    e.mod = mod;
    return e;
}

static inline ach_event shot(const char *actor, const char *target, double gt)
{
    return kill(actor, target, gt, "Thompson", "torso_mid", "MOD_BULLET");
}

static inline ach_event headshot(const char *actor, const char *target, double gt)
{
    return kill(actor, target, gt, "Kar98", "head", "MOD_BULLET");
}

static inline ach_event match_end(double gt, const char *winner)
{
    ach_event e = ev_at(EV_MATCH_END, "", gt);
    e.team = winner;
    return e;
}

static inline void apply(fx *f, ach_event e)
{
    assert_int_equal(evaluator_apply(f->ev, &e), 0);
}

#endif
