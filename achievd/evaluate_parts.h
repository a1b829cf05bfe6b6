/* What the evaluator's files share: evaluate.c (the evaluator, applying an event, its saved state), evaluate_metrics.c
 * (an event's facts and the metrics they move), evaluate_unlocks.c (progress and unlocks of the definitions),
 * evaluate_match.c (match outcomes), evaluate_merge.c (backfills). Private to those files: others use evaluate.h. */
#ifndef MOHSTATS_ACHIEVD_EVALUATE_PARTS_H
#define MOHSTATS_ACHIEVD_EVALUATE_PARTS_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "evaluate_state.h"
#include "hashmap.h"

#define FACT_BIT(f) (1ULL << (f))

_Static_assert(FACT__COUNT <= 64, "facts are a 64-bit set");

/* Game times are decimal text (milliseconds at best) read into doubles: 1.001 and 4.001 are 3 s apart, yet their
 * difference is 3.0000000000000004, which would break a multi-kill of exactly 3 s. Windows compare with this much
 * slack, far below a server frame. */
#define TIME_EPS 1e-6

/* Whether game time t is at most window seconds after since (and not before it). */
static inline bool within(double t, double since, double window)
{
    return t >= since && t - since <= window + TIME_EPS;
}

struct evaluator {
    ach_member_fn member_fn;
    ach_write_fn write_fn;
    void *arg;
    hashmap *players; /* "member" (decimal) -> player */
    hashmap *matches; /* match_key -> match */
    ach_def *defs;
    size_t ndefs;
    int *by_metric; /* def indexes grouped by metric: by_metric[start[m] .. start[m+1]) */
    int start[MAX_METRICS + 1];
};

/* ---- small sets ---- */

/* Room for need elements in *p (capacity *cap), doubling from 2: most players' sets (maps, weapons, unlocks) hold a
 * handful, and room for 8 of each cost 120 bytes per player (6 MB at 50,000 players). */
static inline int grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    uint32_t n = *cap ? *cap * 2 : 2;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static inline bool hash_set_has(const uint64_t *a, uint32_t n, uint64_t h)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (a[mid] == h)
            return true;
        if (a[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Insert h into the sorted set; returns 1 if added, 0 if present, -ENOMEM. */
static inline int hash_set_add(uint64_t **a, uint32_t *n, uint32_t *cap, uint64_t h)
{
    if (hash_set_has(*a, *n, h))
        return 0;
    if (grow((void **)a, cap, *n + 1, sizeof **a))
        return -ENOMEM;
    uint32_t i = *n;
    while (i > 0 && (*a)[i - 1] > h) {
        (*a)[i] = (*a)[i - 1];
        i--;
    }
    (*a)[i] = h;
    (*n)++;
    return 1;
}

static inline uint64_t hash_str(const char *s)
{
    return hash_fnv1a(s, strlen(s));
}

static inline int popcount32(uint32_t x)
{
    return __builtin_popcount(x);
}

/* ---- a player's metric states ---- */

/* A walk over a player's held metric states in metric order, for the loops over every metric: at(i) is metric
 * i's state, a held one or a scratch copy (zero when the player holds none, the value alone of a value-only
 * metric); keep(i) then stores the scratch if the update made it worth holding. Metrics must come in increasing
 * order (the walk only moves forward), so a loop over the 160 metrics costs one pass over the held states, not a
 * search per metric. */
typedef struct {
    player *p;
    const uint8_t *fid, *vid; /* held_ids of the player's two kinds, again after each insert */
    uint32_t fk, vk;          /* in each, the first state of a metric not yet passed */
    bool vheld;               /* the value-only metric of the last at() is held, at values[vk] */
    mstate scratch;
} mcursor;

/* Inline: called for each of the 160 metrics in the loops of every event. */
static inline void mcursor_init(mcursor *c, player *p)
{
    c->p = p;
    c->fid = held_ids(&p->full, sizeof(mstate));
    c->vid = held_ids(&p->values, sizeof(uint32_t));
    c->fk = c->vk = 0;
}

static inline mstate *mcursor_at(mcursor *c, int i)
{
    if (metric_value_only(i)) {
        uint32_t n = c->p->values.n;
        while (c->vk < n && c->vid[c->vk] < i)
            c->vk++;
        c->vheld = c->vk < n && c->vid[c->vk] == i;
        c->scratch = (mstate){.value = c->vheld ? ((const uint32_t *)c->p->values.a)[c->vk] : 0};
        return &c->scratch;
    }
    uint32_t n = c->p->full.n;
    while (c->fk < n && c->fid[c->fk] < i)
        c->fk++;
    if (c->fk < n && c->fid[c->fk] == i)
        return &((mstate *)c->p->full.a)[c->fk];
    c->scratch = (mstate){0};
    return &c->scratch;
}

/* After updating metric i through s = mcursor_at(c, i). Out of memory, the update is lost (the state stays zero,
 * so nothing reports it changed) and the metric's next move tries again. */
static inline void mcursor_keep(mcursor *c, int i, mstate *s)
{
    if (s != &c->scratch)
        return;
    int rc;
    if (metric_value_only(i)) {
        if (c->vheld) {
            ((uint32_t *)c->p->values.a)[c->vk] = s->value;
            return;
        }
        if (s->value == 0)
            return;
        rc = held_insert(&c->p->values, sizeof(uint32_t), c->vk, i, &s->value);
        c->vid = held_ids(&c->p->values, sizeof(uint32_t));
    } else {
        if (mstate_is_zero(s))
            return;
        rc = held_insert(&c->p->full, sizeof(mstate), c->fk, i, s);
        c->fid = held_ids(&c->p->full, sizeof(mstate));
    }
    if (rc)
        *s = (mstate){0};
}

/* Metric i's value for p (0 when p holds no state for it). */
static inline uint32_t metric_value(const player *p, int i)
{
    return player_metric(p, i).value;
}

typedef struct {
    uint64_t facts;
    double q[Q_ROCKET_KILL_UNITS + 1];
    int family; /* of the kill's weapon */
    bool changed[MAX_METRICS];
} player_event;

/* The distance between two positions, in game units. */
static inline double dist3(const double a[3], const double b[3])
{
    double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

/* ---- evaluate.c: players and matches ---- */

/* The player of a member, created when create is set (NULL when out of memory). */
player *eval_player_get(evaluator *ev, uint32_t member, bool create);
/* The times a GUID spawned and jumped last in the match (guests too: a spawn kill's victim may be one). */
guid_times *eval_match_guid(match *m, const char *guid, bool create);
/* Note a member as one of the match's players (its outcomes go to them); 0 or -ENOMEM. */
int eval_match_add_member(match *m, uint32_t member);

/* ---- evaluate_metrics.c: an event's facts and metrics ---- */

/* A life ends (death, new match): per-life metrics start again. */
void eval_life_end(player *p);
/* The player's first event in another match: match-scoped state starts again. Returns true if it did. */
bool eval_match_enter(evaluator *ev, player *p, const ach_event *e, match *m, player_event *pe);
/* Time spent in the match since the player's previous event, counted into playtime and the day's playtime. */
double eval_playtime_step(player *p, const ach_event *e);
/* Update every metric of p for this event's facts and quantities; mark those whose value changed. */
void eval_metrics_update(player *p, const ach_event *e, player_event *pe);
/* Calendar metrics from any event of the player: days in a row, months of a year, the day's playtime, and
 * sessions through the night (continuous play, gaps under 30 minutes, from 23:00 or earlier to 05:00 or later). */
void eval_days_update(player *p, const ach_event *e, double step, player_event *pe);
/* The facts of a player_kill for its killer (k) and victim (v); either may be a guest (no player). */
void eval_kill_facts(evaluator *ev, const ach_event *e, match *m, player *k, player *v, player_event *ke,
                     player_event *ve);

/* ---- evaluate_unlocks.c: progress and unlocks ---- */

/* The meta metrics (unlock count, points) from the player's unlocks. */
void eval_meta_update(player *p, player_event *pe);
/* Write progress for the definitions of every changed metric; unlock those reached. An unlock changes the meta
 * metrics, so repeat until nothing more moves (each round unlocks something, so it ends). */
void eval_defs_update(evaluator *ev, player *p, const ach_event *e, player_event *pe);

/* ---- evaluate_match.c: match outcomes ---- */

/* Count the live conditions met by this event, once per match each. */
void eval_live_conds_update(player *p, player_event *pe);
/* match_end: every member still in the match gets its outcomes; without a winner nothing is won or lost. */
void eval_match_finish(evaluator *ev, match *m, const ach_event *e);

#endif
