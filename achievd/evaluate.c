/* Achievement evaluation: derive facts from each event (docs/definitions.md), update each member's metrics
 * (criteria.c), and turn metric values into progress and unlocks of the forum's definitions.
 *
 * Time. Windows, lives and match durations use game time (the tracker's timestamp, exact to the server frame);
 * dates use the receive time ingestd stamped (UTC). Nothing here reads the clock: a replay of the same events
 * from the same saved state gives the same writes, byte for byte. */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "evaluate_state.h"
#include "hashmap.h"

#define FACT_BIT(f) (1ULL << (f))

_Static_assert(FACT__COUNT <= 64, "facts are a 64-bit set");

/* Game times are decimal text (milliseconds at best) read into doubles: 1.001 and 4.001 are 3 s apart, yet their
 * difference is 3.0000000000000004, which would break a multi-kill of exactly 3 s. Windows compare with this much
 * slack, far below a server frame. */
#define TIME_EPS 1e-6

/* Whether game time t is at most window seconds after since (and not before it). */
static bool within(double t, double since, double window)
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
static int grow(void **p, uint32_t *cap, uint32_t need, size_t size)
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

static bool hash_set_has(const uint64_t *a, uint32_t n, uint64_t h)
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
static int hash_set_add(uint64_t **a, uint32_t *n, uint32_t *cap, uint64_t h)
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

static uint64_t hash_str(const char *s)
{
    return hash_fnv1a(s, strlen(s));
}

static int popcount32(uint32_t x)
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
static uint32_t metric_value(const player *p, int i)
{
    return player_metric(p, i).value;
}

/* ---- players and matches ---- */

static void player_free(void *p)
{
    player *pl = p;
    free(pl->full.a);
    free(pl->values.a);
    free(pl->maps);
    free(pl->weapons);
    free(pl->unlocked);
    free(pl);
}

static void match_free(void *p)
{
    match *m = p;
    free(m->guids);
    free(m->members);
    free(m);
}

static player *player_get(evaluator *ev, uint32_t member, bool create)
{
    char key[16];
    int n = snprintf(key, sizeof key, "%u", member);
    player *p = hashmap_get(ev->players, key, (size_t)n);
    if (p || !create)
        return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->member = member;
    if (hashmap_put(ev->players, key, (size_t)n, p, NULL)) {
        free(p);
        return NULL;
    }
    return p;
}

static match *match_get(evaluator *ev, const char *key, bool create)
{
    if (!key || !*key || strlen(key) >= sizeof((match *)0)->key)
        return NULL;
    match *m = hashmap_get(ev->matches, key, strlen(key));
    if (m || !create)
        return m;
    m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->key, sizeof m->key, "%s", key);
    if (hashmap_put(ev->matches, key, strlen(key), m, NULL)) {
        free(m);
        return NULL;
    }
    return m;
}

/* The times a GUID spawned and jumped last in the match (guests too: a spawn kill's victim may be one). */
static guid_times *match_guid(match *m, const char *guid, bool create)
{
    if (!m || !guid || !*guid)
        return NULL;
    uint64_t h = hash_str(guid);
    for (uint32_t i = 0; i < m->nguids; i++)
        if (m->guids[i].hash == h)
            return &m->guids[i];
    if (!create || grow((void **)&m->guids, &m->cguids, m->nguids + 1, sizeof *m->guids))
        return NULL;
    guid_times *g = &m->guids[m->nguids++];
    memset(g, 0, sizeof *g);
    g->hash = h;
    return g;
}

static int match_add_member(match *m, uint32_t member)
{
    for (uint32_t i = 0; i < m->nmembers; i++)
        if (m->members[i] == member)
            return 0;
    if (grow((void **)&m->members, &m->cmembers, m->nmembers + 1, sizeof *m->members))
        return -ENOMEM;
    m->members[m->nmembers++] = member;
    m->dirty = true;
    return 0;
}

evaluator *evaluator_new(ach_member_fn member, ach_write_fn write, void *arg)
{
    if (metrics_count > MAX_METRICS)
        return NULL;
    evaluator *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    ev->member_fn = member;
    ev->write_fn = write;
    ev->arg = arg;
    ev->players = hashmap_new();
    ev->matches = hashmap_new();
    if (!ev->players || !ev->matches) {
        evaluator_free(ev);
        return NULL;
    }
    return ev;
}

void evaluator_reset(evaluator *ev)
{
    hashmap_free(ev->players, player_free);
    hashmap_free(ev->matches, match_free);
    ev->players = hashmap_new();
    ev->matches = hashmap_new();
}

void evaluator_free(evaluator *ev)
{
    if (!ev)
        return;
    if (ev->players)
        hashmap_free(ev->players, player_free);
    if (ev->matches)
        hashmap_free(ev->matches, match_free);
    free(ev->defs);
    free(ev->by_metric);
    free(ev);
}

/* ---- one event for one player ---- */

typedef struct {
    uint64_t facts;
    double q[Q_ROCKET_KILL_UNITS + 1];
    int family; /* of the kill's weapon */
    bool changed[MAX_METRICS];
} player_event;

/* A life ends (death, new match): per-life metrics start again. */
static void life_end(player *p)
{
    /* (a distinct count per life keeps no running part: it is p->elev_mask, below) */
    const uint8_t *id = held_ids(&p->full, sizeof(mstate));
    mstate *ms = p->full.a;
    for (uint32_t k = 0; k < p->full.n; k++) {
        const metric_def *d = &metrics[id[k]];
        if (d->shape == SHAPE_BEST_LIFE || (d->shape == SHAPE_STREAK && d->per_life))
            ms[k].cur = 0;
    }
    p->elev_mask = 0;
    p->teabag_armed = false;
}

/* The player's first event in another match: match-scoped state starts again. Returns true if it did. */
static bool match_enter(evaluator *ev, player *p, const ach_event *e, match *m, player_event *pe)
{
    if (strcmp(p->match_key, e->match_key) == 0)
        return false;
    snprintf(p->match_key, sizeof p->match_key, "%s", e->match_key);
    p->match_last_gt = e->game_time;
    p->mk = p->md = p->m_pistol = p->m_melee = 0;
    p->side = SIDE_NONE;
    p->conds_done = 0;
    p->hit_mask = 0;
    p->said_gg = false;
    memset(p->killer_hash, 0, sizeof p->killer_hash);
    memset(p->killer_n, 0, sizeof p->killer_n);
    p->has_spawn = false;
    p->last_killer = 0;
    p->has_chain = false; /* a multi-kill chain never crosses matches; it does cross lives */
    p->ring_n = 0;
    /* (a distinct count per match keeps no running part: it is p->hit_mask, above) */
    const uint8_t *id = held_ids(&p->full, sizeof(mstate));
    mstate *ms = p->full.a;
    for (uint32_t k = 0; k < p->full.n; k++) {
        const metric_def *d = &metrics[id[k]];
        if (d->shape == SHAPE_BEST_MATCH || d->shape == SHAPE_CHAIN) {
            ms[k].cur = 0;
            ms[k].t = 0;
        }
    }
    life_end(p);
    pe->facts |= FACT_BIT(FACT_MATCH_PLAYED);
    if (m)
        match_add_member(m, p->member);
    (void)ev;
    return true;
}

/* Time spent in the match since the player's previous event, counted into playtime and the day's playtime. */
static double playtime_step(player *p, const ach_event *e)
{
    double d = e->game_time - p->match_last_gt;
    if (e->game_time > p->match_last_gt)
        p->match_last_gt = e->game_time;
    return d > 0 ? d : 0;
}

/* Update every metric of p for this event's facts and quantities; mark those whose value changed. */
static void metrics_update(player *p, const ach_event *e, player_event *pe)
{
    mcursor c;
    mcursor_init(&c, p);
    for (int i = 0; i < metrics_count; i++) {
        const metric_def *d = &metrics[i];
        mstate *s = mcursor_at(&c, i);
        uint32_t before = s->value;
        bool hit = d->fact < FACT__COUNT && (pe->facts & FACT_BIT(d->fact));
        if (hit && d->family >= 0 && pe->family != d->family)
            hit = false;
        if (hit && !ach_event_on_date(d->date, e->received_ms))
            hit = false;
        switch (d->shape) {
        case SHAPE_COUNT:
            if (hit)
                s->value++;
            break;
        case SHAPE_SUM:
            if (pe->q[d->q] > 0) {
                s->t += pe->q[d->q];
                double v = s->t / (d->scale ? d->scale : 1);
                s->value = v > 4e9 ? 4000000000u : (uint32_t)v;
            }
            break;
        case SHAPE_BEST_MATCH:
        case SHAPE_BEST_LIFE:
            if (d->q != Q_NONE && pe->q[d->q] > 0) {
                s->t += pe->q[d->q];
                s->cur = s->t > 4e9 ? 4000000000u : (uint32_t)s->t;
            } else if (hit) {
                s->cur++;
            }
            if (s->cur > s->value)
                s->value = s->cur;
            break;
        case SHAPE_STREAK:
            if (d->fact2 < FACT__COUNT && (pe->facts & FACT_BIT(d->fact2)))
                s->cur = 0;
            if (hit && ++s->cur > s->value)
                s->value = s->cur;
            break;
        case SHAPE_CHAIN:
            if (hit) {
                s->cur = (s->cur > 0 && within(e->game_time, s->t, d->window_s)) ? s->cur + 1 : 1;
                s->t = e->game_time;
                if (s->cur > s->value)
                    s->value = s->cur;
            }
            break;
        case SHAPE_WINDOW:
            if (hit) {
                uint32_t n = 0;
                for (uint32_t k = 0; k < p->ring_n && k < RING; k++)
                    if (e->game_time - p->ring[k] < d->window_s - TIME_EPS && e->game_time >= p->ring[k])
                        n++;
                if (n > s->value)
                    s->value = n;
            }
            break;
        case SHAPE_MAX:
            if (pe->q[d->q] > s->value)
                s->value = pe->q[d->q] > 4e9 ? 4000000000u : (uint32_t)pe->q[d->q];
            break;
        case SHAPE_RATIO:
            if (hit)
                s->cur++;
            if (d->fact2 < FACT__COUNT && (pe->facts & FACT_BIT(d->fact2)))
                s->t += 1;
            if (s->t >= d->min_sample && s->t > 0) {
                double r = floor((double)s->cur * d->scale / s->t);
                if (r > s->value)
                    s->value = r > 4e9 ? 4000000000u : (uint32_t)r;
            }
            break;
        case SHAPE_DISTINCT: {
            uint32_t v = 0;
            switch (d->key) {
            case KEY_MAP:
                v = p->nmaps;
                break;
            case KEY_WEAPON_100:
                for (uint32_t k = 0; k < p->nweapons; k++)
                    v += p->weapons[k].n >= 100;
                break;
            case KEY_BEST_WEAPON:
                for (uint32_t k = 0; k < p->nweapons; k++)
                    if (p->weapons[k].n > v)
                        v = p->weapons[k].n;
                break;
            case KEY_WEAPON_CLASS:
                v = (uint32_t)popcount32(p->class_mask);
                break;
            case KEY_HITLOC_MATCH:
                v = (uint32_t)popcount32(p->hit_mask);
                break;
            case KEY_ELEVATION_LIFE:
                v = (uint32_t)popcount32(p->elev_mask);
                break;
            default:
                break;
            }
            s->cur = v;
            if (v > s->value)
                s->value = v;
            break;
        }
        default:
            break; /* days, match outcomes, meta and manual metrics are updated where their events are */
        }
        mcursor_keep(&c, i, s);
        if (s->value != before)
            pe->changed[i] = true;
    }
}

/* Calendar metrics from any event of the player: days in a row, months of a year, the day's playtime, and
 * sessions through the night (continuous play, gaps under 30 minutes, from 23:00 or earlier to 05:00 or later). */
static void days_update(player *p, const ach_event *e, double step, player_event *pe)
{
    uint64_t day = e->received_ms / DAY_MS;
    time_t secs = (time_t)(e->received_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (p->session_last_ms == 0 || e->received_ms > p->session_last_ms + SESSION_GAP_MS ||
        e->received_ms < p->session_last_ms) {
        p->session_start_ms = e->received_ms;
        p->session_counted = false;
    }
    if (e->received_ms > p->session_last_ms)
        p->session_last_ms = e->received_ms;
    mcursor c;
    mcursor_init(&c, p);
    for (int i = 0; i < metrics_count; i++) {
        const metric_def *d = &metrics[i];
        if (d->shape != SHAPE_DAY)
            continue;
        mstate *s = mcursor_at(&c, i);
        uint32_t before = s->value;
        switch ((day_kind)d->kind) {
        case DAY_STREAK:
            if (s->cur == 0 || (double)day > s->t + 1)
                s->cur = 1;
            else if ((double)day == s->t + 1)
                s->cur++;
            if ((double)day > s->t || s->cur == 1)
                s->t = (double)day;
            break;
        case DAY_MONTHS:
            if (s->t != (double)(tm.tm_year + 1900)) {
                s->t = tm.tm_year + 1900;
                s->cur = 0;
            }
            s->cur |= 1u << tm.tm_mon; /* the year's months as a set */
            if ((uint32_t)popcount32(s->cur) > s->value)
                s->value = (uint32_t)popcount32(s->cur);
            break;
        case DAY_MOST_PLAYTIME:
            /* The day in cur, its seconds in t: steps are fractions of a second when events come often, and
             * truncating each one would lose them all. */
            if (s->cur != (uint32_t)day) {
                s->cur = (uint32_t)day;
                s->t = 0;
            }
            s->t += step;
            if (s->t > s->value)
                s->value = s->t > 4e9 ? 4000000000u : (uint32_t)s->t;
            break;
        case DAY_ALL_NIGHT: {
            /* 23:00 of the session's first day (or of the day before when it started after midnight) */
            uint64_t start_day = p->session_start_ms / DAY_MS;
            time_t ss = (time_t)(p->session_start_ms / 1000);
            struct tm st;
            gmtime_r(&ss, &st);
            uint64_t eve =
                st.tm_hour < 5 ? (start_day - 1) * DAY_MS + 23 * 3600000ULL : start_day * DAY_MS + 23 * 3600000ULL;
            if (!p->session_counted && p->session_start_ms <= eve && e->received_ms >= eve + 6 * 3600000ULL) {
                p->session_counted = true;
                s->value++;
            }
            break;
        }
        }
        if (d->kind == DAY_STREAK && s->cur > s->value)
            s->value = s->cur;
        mcursor_keep(&c, i, s);
        if (s->value != before)
            pe->changed[i] = true;
    }
}

/* Angle in degrees (0..180) between the facing yaw (degrees) and the direction from 'from' to 'to'. */
static double facing_angle(double yaw, const double from[3], const double to[3])
{
    double dx = to[0] - from[0], dy = to[1] - from[1];
    if (dx == 0 && dy == 0)
        return 0;
    double dir = atan2(dy, dx) * 180.0 / M_PI;
    double a = fmod(fabs(dir - yaw), 360.0);
    return a > 180 ? 360 - a : a;
}

static double dist3(const double a[3], const double b[3])
{
    double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

/* The facts of a player_kill for its killer (k) and victim (v); either may be a guest (no player). */
static void kill_facts(evaluator *ev, const ach_event *e, match *m, player *k, player *v, player_event *ke,
                       player_event *ve)
{
    const char *ag = e->actor_guid, *tg = e->target_guid;
    bool by_player = *ag && *tg && strcmp(ag, tg) != 0;
    team_side as = vocab_team_side(e->actor_team), ts = vocab_team_side(e->target_team);
    bool team_kill = by_player && as != SIDE_NONE && as == ts;
    bool kill = by_player && !team_kill;
    hit_class hc = vocab_hit_class(e->hitloc);
    mod_class mc = vocab_mod_class(e->mod);
    weapon_class wc = vocab_weapon_class(e->weapon);
    guid_times *vt = match_guid(m, tg, false), *kt = match_guid(m, ag, false);

    /* the victim */
    uint64_t vf = FACT_BIT(FACT_DEATH);
    if (!by_player) {
        vf |= FACT_BIT(FACT_SUICIDE);
        if (mc == MOD_CLASS_GRENADE || (wc == WCLASS_EXPLOSIVE && strcasestr(e->weapon, "grenade")))
            vf |= FACT_BIT(FACT_GRENADE_SUICIDE);
    }
    if (mc == MOD_CLASS_FALLING)
        vf |= FACT_BIT(FACT_FALL_DEATH);
    if (mc == MOD_CLASS_DROWN)
        vf |= FACT_BIT(FACT_DROWN_DEATH);
    if (mc == MOD_CLASS_CRUSH)
        vf |= FACT_BIT(FACT_CRUSH_DEATH);
    if (vt && vt->has_spawn && within(e->game_time, vt->spawn_gt, SPAWN_WINDOW_S)) {
        vf |= FACT_BIT(FACT_INSTANT_DEATH);
        if (kill)
            vf |= FACT_BIT(FACT_SPAWN_DEATH);
    }
    if (by_player && hc == HIT_HAND)
        vf |= FACT_BIT(FACT_HAND_DEATH);
    if (v) {
        ve->facts |= vf;
        v->md++;
        if (kill) {
            uint64_t h = hash_str(ag);
            v->last_killer = h;
            int slot = -1;
            for (int i = 0; i < MAX_KILLERS && slot < 0; i++)
                if (v->killer_hash[i] == h || v->killer_n[i] == 0)
                    slot = i;
            if (slot >= 0) {
                v->killer_hash[slot] = h;
                v->killer_n[slot]++;
            }
        }
        if (ts != SIDE_NONE)
            v->side = ts;
    }

    /* The first kill of the match is first blood whoever made it: a guest's leaves none for the members after. */
    bool first_blood = kill && m && !m->first_blood;
    if (first_blood) {
        m->first_blood = true;
        m->dirty = true;
    }

    /* the killer */
    if (!k)
        return;
    if (as != SIDE_NONE)
        k->side = as;
    if (team_kill) {
        ke->facts |= FACT_BIT(FACT_TEAM_KILL);
        return;
    }
    if (!kill)
        return;
    uint64_t kf = FACT_BIT(FACT_KILL);
    kf |= FACT_BIT(hc == HIT_HEAD ? FACT_HEADSHOT : FACT_NON_HEADSHOT_KILL);
    kf |= FACT_BIT(hc == HIT_LEG || hc == HIT_FOOT ? FACT_LEG_KILL : FACT_NON_LEG_KILL);
    if (hc == HIT_PELVIS)
        kf |= FACT_BIT(FACT_PELVIS_KILL);
    if (hc == HIT_TORSO)
        kf |= FACT_BIT(FACT_TORSO_KILL);
    bool grenade = mc == MOD_CLASS_GRENADE || (wc == WCLASS_EXPLOSIVE && strcasestr(e->weapon, "grenade"));
    bool melee = mc == MOD_CLASS_BASH || wc == WCLASS_MELEE;
    if (grenade)
        kf |= FACT_BIT(FACT_GRENADE_KILL);
    if (wc == WCLASS_PISTOL)
        kf |= FACT_BIT(FACT_PISTOL_KILL);
    if (melee)
        kf |= FACT_BIT(FACT_MELEE_KILL);
    if (vocab_stance(e->actor_stance) == STANCE_PRONE)
        kf |= FACT_BIT(FACT_PRONE_KILL);
    if (mc == MOD_CLASS_VEHICLE)
        kf |= FACT_BIT(FACT_ROADKILL);
    if (mc == MOD_CLASS_TELEFRAG)
        kf |= FACT_BIT(FACT_TELEFRAG_KILL);
    if (hc == HIT_HEAD &&
        (wc == WCLASS_SHOTGUN || strcasecmp(e->mod, "shotgun") == 0 || strcasecmp(e->mod, "mod_shotgun") == 0))
        kf |= FACT_BIT(FACT_SHOTGUN_HEADSHOT);
    if (vt && vt->has_spawn && within(e->game_time, vt->spawn_gt, SPAWN_WINDOW_S))
        kf |= FACT_BIT(FACT_SPAWN_KILL);
    bool k_air = kt && kt->has_jump && within(e->game_time, kt->jump_gt, AIR_WINDOW_S);
    bool v_air = vt && vt->has_jump && within(e->game_time, vt->jump_gt, AIR_WINDOW_S);
    if (k_air)
        kf |= FACT_BIT(FACT_JUMP_KILL);
    if (kt && kt->has_switch && within(e->game_time, kt->switch_gt, QUICKSWITCH_WINDOW_S))
        kf |= FACT_BIT(FACT_QUICKSWITCH_KILL);
    if (v_air)
        kf |= FACT_BIT(FACT_FALLING_KILL);
    if (k_air && v_air)
        kf |= FACT_BIT(FACT_MIDAIR_KILL);
    if (e->actor_has_pos && e->target_has_pos) {
        double d = dist3(e->actor_pos, e->target_pos);
        ke->q[Q_KILL_DISTANCE_M] = d * VOCAB_METRES_PER_UNIT;
        if (grenade)
            ke->q[Q_GRENADE_KILL_UNITS] = d;
        if (vocab_mod_is_rocket(e->mod))
            ke->q[Q_ROCKET_KILL_UNITS] = d;
        if (e->target_has_yaw) {
            double a = facing_angle(e->target_yaw, e->target_pos, e->actor_pos);
            if (a > 135) {
                kf |= FACT_BIT(FACT_BEHIND_KILL);
                if (melee)
                    kf |= FACT_BIT(FACT_BACKSTAB_KILL);
            } else if (a >= 45) {
                kf |= FACT_BIT(FACT_FLANK_KILL);
            }
            if (a >= 80 && a <= 100)
                kf |= FACT_BIT(FACT_SIDE_KILL);
            if (e->actor_has_yaw && a <= 20 && facing_angle(e->actor_yaw, e->actor_pos, e->target_pos) <= 20)
                kf |= FACT_BIT(FACT_DUEL_KILL);
        }
        /* elevation bands of 128 units (a storey) of the killer's position, per life */
        int band = (int)floor(e->actor_pos[2] / 128.0);
        k->elev_mask |= 1u << ((unsigned)(band + 1024) % 32);
    }
    if (k->last_killer && k->last_killer == hash_str(tg)) {
        kf |= FACT_BIT(FACT_REVENGE_KILL);
        if (k->has_spawn && within(e->game_time, k->spawn_gt, REVENGE_FAST_S))
            kf |= FACT_BIT(FACT_FAST_REVENGE);
        k->last_killer = 0;
    }
    if (first_blood)
        kf |= FACT_BIT(FACT_FIRST_BLOOD);
    /* the chain of definitions.md's multi-kills, for the double-kill fact */
    k->chain_len = k->has_chain && within(e->game_time, k->chain_t, MULTIKILL_WINDOW_S) ? k->chain_len + 1 : 1;
    k->has_chain = true;
    k->chain_t = e->game_time;
    if (k->chain_len == 2)
        kf |= FACT_BIT(FACT_DOUBLE_KILL);
    memmove(k->ring + 1, k->ring, sizeof k->ring - sizeof k->ring[0]);
    k->ring[0] = e->game_time;
    if (k->ring_n < RING)
        k->ring_n++;
    k->mk++;
    if (wc == WCLASS_PISTOL)
        k->m_pistol++;
    if (melee)
        k->m_melee++;
    int hi = vocab_hit_index(e->hitloc);
    if (hi >= 0)
        k->hit_mask |= 1u << hi;
    if (wc != WCLASS_OTHER)
        k->class_mask |= 1u << wc;
    if (e->weapon && *e->weapon) {
        uint64_t h = hash_str(e->weapon);
        uint32_t i = 0;
        while (i < k->nweapons && k->weapons[i].hash != h)
            i++;
        if (i == k->nweapons && grow((void **)&k->weapons, &k->cweapons, k->nweapons + 1, sizeof *k->weapons) == 0)
            k->weapons[k->nweapons++] = (tally){h, 0};
        if (i < k->nweapons)
            k->weapons[i].n++;
    }
    ke->family = vocab_weapon_family(e->weapon);
    k->teabag_armed = e->target_has_pos;
    k->kill_gt = e->game_time;
    memcpy(k->corpse, e->target_pos, sizeof k->corpse);
    ke->facts |= kf;
    (void)ev;
}

/* ---- definitions: progress and unlocks ---- */

static bool has_unlocked(const player *p, const char *code)
{
    return hash_set_has(p->unlocked, p->nunlocked, hash_str(code));
}

static void meta_update(player *p, player_event *pe)
{
    mcursor c;
    mcursor_init(&c, p);
    for (int i = 0; i < metrics_count; i++) {
        if (metrics[i].shape != SHAPE_META)
            continue;
        uint32_t v = metrics[i].kind == META_COUNT ? p->nunlocked : p->points;
        mstate *s = mcursor_at(&c, i);
        if (v > s->value) {
            s->value = v;
            mcursor_keep(&c, i, s);
            if (s->value == v) /* else out of memory: not held */
                pe->changed[i] = true;
        }
    }
}

/* Write progress for the definitions of every changed metric; unlock those reached. An unlock changes the meta
 * metrics, so repeat until nothing more moves (each round unlocks something, so it ends). */
static void defs_update(evaluator *ev, player *p, const ach_event *e, player_event *pe)
{
    for (int round = 0; round < 64; round++) {
        bool unlocked_any = false;
        for (int mi = 0; mi < metrics_count; mi++) {
            if (!pe->changed[mi])
                continue;
            pe->changed[mi] = false;
            for (int j = ev->start[mi]; j < ev->start[mi + 1]; j++) {
                const ach_def *d = &ev->defs[ev->by_metric[j]];
                if (has_unlocked(p, d->code))
                    continue;
                uint32_t v = metric_value(p, mi);
                uint32_t progress = d->threshold ? (v >= d->threshold) : v;
                uint32_t req = d->requirement ? d->requirement : 1;
                if (progress == 0)
                    continue;
                /* A threshold in the type's name makes progress 0 or 1: reaching it is the goal, whatever the
                 * requirement_value (zero_kill_deaths has 10, the deaths its condition already counts). */
                bool done = progress >= (d->threshold ? 1 : req);
                ach_write w = {.member = p->member,
                               .code = d->code,
                               .progress = done ? req : progress,
                               .unlocked = done,
                               .at_ms = e->received_ms,
                               .match_key = e->match_key,
                               .guid = p->guid};
                if (done) {
                    if (hash_set_add(&p->unlocked, &p->nunlocked, &p->cunlocked, hash_str(d->code)) < 0)
                        continue; /* out of memory: not unlocked now, the next change tries again */
                    p->points += d->points;
                    unlocked_any = true;
                }
                ev->write_fn(ev->arg, &w);
            }
        }
        if (!unlocked_any)
            return;
        meta_update(p, pe);
    }
}

int evaluator_set_catalogue(evaluator *ev, const ach_def *defs, size_t n)
{
    ach_def *copy = n ? malloc(n * sizeof *copy) : NULL;
    int *by = n ? malloc(n * sizeof *by) : NULL;
    if (n && (!copy || !by)) {
        free(copy);
        free(by);
        return -ENOMEM;
    }
    if (n)
        memcpy(copy, defs, n * sizeof *copy);
    /* Group the definitions by metric (counting sort), so a metric's change finds its definitions at once. */
    int count[MAX_METRICS] = {0};
    for (size_t i = 0; i < n; i++)
        if (copy[i].metric >= 0 && copy[i].metric < metrics_count)
            count[copy[i].metric]++;
    ev->start[0] = 0;
    for (int m = 0; m < MAX_METRICS; m++)
        ev->start[m + 1] = ev->start[m] + count[m];
    int fill[MAX_METRICS];
    memcpy(fill, ev->start, sizeof fill);
    for (size_t i = 0; i < n; i++)
        if (copy[i].metric >= 0 && copy[i].metric < metrics_count)
            by[fill[copy[i].metric]++] = (int)i;
    /* The metrics that gained a definition since the previous catalogue: members who already reached it are
     * credited now, from what achievd measured (at the time of their latest event), not at their next event. */
    bool gained[MAX_METRICS] = {false}, any = false;
    for (size_t i = 0; ev->ndefs > 0 && i < n; i++) {
        bool known = false;
        for (size_t k = 0; k < ev->ndefs && !known; k++)
            known = strcmp(ev->defs[k].code, copy[i].code) == 0;
        if (!known && copy[i].metric >= 0 && copy[i].metric < metrics_count)
            any = gained[copy[i].metric] = true;
    }
    free(ev->defs);
    free(ev->by_metric);
    ev->defs = copy;
    ev->by_metric = by;
    ev->ndefs = n;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (any && hashmap_next(ev->players, &pos, &k, &klen, &v)) {
        player *p = v;
        player_event pe;
        memset(&pe, 0, sizeof pe);
        memcpy(pe.changed, gained, sizeof gained);
        ach_event e;
        memset(&e, 0, sizeof e);
        e.received_ms = p->session_last_ms;
        e.match_key = "";
        uint32_t before = p->nunlocked;
        defs_update(ev, p, &e, &pe);
        if (p->nunlocked != before)
            p->dirty = true;
    }
    return 0;
}

/* ---- match outcomes ---- */

/* What an ended match yields for one of its members, for a condition: 1/0, or a number for SHAPE_MATCH_BEST. */
static uint32_t match_cond_value(match_cond c, const player *p, const match *m, const ach_event *e)
{
    bool win = p->side != SIDE_NONE && m->winner != SIDE_NONE && p->side == m->winner;
    switch (c) {
    case COND_DEATHLESS:
        return p->md == 0;
    case COND_NO_KILLS:
        return p->mk == 0;
    case COND_PERFECT:
        return p->mk >= 10 && p->md == 0;
    case COND_ZERO_KILL_DEATHS:
        return p->mk == 0 && p->md >= 10;
    case COND_WIN:
        return win;
    case COND_DEATHLESS_WIN:
        return win && p->md == 0;
    case COND_COMEBACK_5:
        return win && m->deficit[p->side] >= 5;
    case COND_COMEBACK_10:
        return win && m->deficit[p->side] >= 10;
    case COND_MELEE_ONLY_WIN:
        return win && p->mk > 0 && p->m_melee == p->mk;
    case COND_PISTOL_ONLY_WIN:
        return win && p->mk > 0 && p->m_pistol == p->mk ? p->mk : 0;
    case COND_FAST:
        return m->has_start && e->game_time - m->start_gt < 300;
    default:
        return 0;
    }
}

/* Conditions that hold as soon as they are met, without waiting for the end of the match. */
static bool live_cond(match_cond c, const player *p)
{
    switch (c) {
    case COND_LONG:
        return p->match_last_gt - p->match_first_gt >= 3600;
    case COND_HIGH_ACTIVITY:
        return p->mk >= 20 && p->md >= 20;
    case COND_DOMINATED:
        for (int i = 0; i < MAX_KILLERS; i++)
            if (p->killer_n[i] >= 10)
                return true;
        return false;
    default:
        return false;
    }
}

/* Count the live conditions met by this event, once per match each. */
static void live_conds_update(player *p, player_event *pe)
{
    mcursor c;
    mcursor_init(&c, p);
    for (int i = 0; i < metrics_count; i++) {
        const metric_def *d = &metrics[i];
        if (d->shape != SHAPE_MATCH_END || (p->conds_done & (1u << d->cond)) || !live_cond(d->cond, p))
            continue;
        mstate *s = mcursor_at(&c, i);
        s->value++;
        mcursor_keep(&c, i, s);
        if (s == &c.scratch && s->value == 0)
            continue; /* out of memory: not counted, the condition is still open */
        p->conds_done |= 1u << d->cond;
        pe->changed[i] = true;
    }
}

/* match_end: every member still in the match gets its outcomes; without a winner nothing is won or lost. */
static void match_finish(evaluator *ev, match *m, const ach_event *e)
{
    team_side w = vocab_team_side(e->team);
    if (w != SIDE_NONE)
        m->winner = w;
    m->ended = true;
    m->dirty = true;
    for (uint32_t mi = 0; mi < m->nmembers; mi++) {
        player *p = player_get(ev, m->members[mi], false);
        if (!p || strcmp(p->match_key, m->key) != 0)
            continue;
        player_event pe;
        memset(&pe, 0, sizeof pe);
        mcursor c;
        mcursor_init(&c, p);
        for (int i = 0; i < metrics_count; i++) {
            const metric_def *d = &metrics[i];
            mstate *s = mcursor_at(&c, i);
            uint32_t before = s->value;
            if (d->shape == SHAPE_MATCH_END && !live_cond(d->cond, p) && d->cond != COND_LONG &&
                d->cond != COND_HIGH_ACTIVITY && d->cond != COND_DOMINATED) {
                if (match_cond_value(d->cond, p, m, e) && ach_event_on_date(d->date, e->received_ms))
                    s->value++;
            } else if (d->shape == SHAPE_MATCH_BEST) {
                uint32_t v = match_cond_value(d->cond, p, m, e);
                if (v > s->value)
                    s->value = v;
            } else if (d->shape == SHAPE_MATCH_STREAK && m->winner != SIDE_NONE && p->side != SIDE_NONE) {
                if (match_cond_value(d->cond, p, m, e)) {
                    if (++s->cur > s->value)
                        s->value = s->cur;
                } else {
                    s->cur = 0;
                }
            }
            mcursor_keep(&c, i, s);
            if (s->value != before)
                pe.changed[i] = true;
        }
        p->dirty = true;
        defs_update(ev, p, e, &pe);
    }
}

/* ---- applying an event ---- */

/* The player an event's block names, created on first sight; NULL for guests and when out of memory. */
static player *event_player(evaluator *ev, const char *guid, uint64_t smf_id, uint64_t received_ms)
{
    if (!guid || !*guid)
        return NULL;
    uint32_t member = ev->member_fn(ev->arg, guid, smf_id, received_ms);
    if (!member)
        return NULL;
    player *p = player_get(ev, member, true);
    if (p) {
        snprintf(p->guid, sizeof p->guid, "%s", guid);
        p->dirty = true;
    }
    return p;
}

/* Everything an event of the player does before its facts: match entry, time played, maps. */
static void player_touch(evaluator *ev, player *p, const ach_event *e, match *m, player_event *pe)
{
    if (match_enter(ev, p, e, m, pe))
        p->match_first_gt = e->game_time;
    double step = playtime_step(p, e);
    pe->q[Q_PLAYTIME_S] += step;
    if (e->map && *e->map)
        hash_set_add(&p->maps, &p->nmaps, &p->cmaps, hash_str(e->map));
    days_update(p, e, step, pe);
}

static void player_finish(evaluator *ev, player *p, const ach_event *e, player_event *pe)
{
    metrics_update(p, e, pe);
    live_conds_update(p, pe);
    if (pe->facts & FACT_BIT(FACT_DEATH))
        life_end(p);
    defs_update(ev, p, e, pe);
}

int evaluator_apply(evaluator *ev, const ach_event *e)
{
    match *m = match_get(ev, e->match_key, true);
    if (m) {
        m->last_ms = e->received_ms;
        if (!m->has_start || e->game_time < m->start_gt) {
            m->start_gt = e->game_time;
            m->has_start = true;
        }
        m->dirty = true;
    }
    switch (e->type) {
    case EV_ROUND_END:
        if (m && e->has_round_scores) {
            int d_allies = e->axis_score - e->allies_score;
            if (d_allies > m->deficit[SIDE_ALLIES])
                m->deficit[SIDE_ALLIES] = d_allies;
            if (-d_allies > m->deficit[SIDE_AXIS])
                m->deficit[SIDE_AXIS] = -d_allies;
        }
        return 0;
    case EV_TEAM_WIN:
        if (m && vocab_team_side(e->team) != SIDE_NONE)
            m->winner = vocab_team_side(e->team);
        return 0;
    case EV_MATCH_END:
        if (m && !m->ended)
            match_finish(ev, m, e);
        return 0;
    default:
        break;
    }

    player *a = event_player(ev, e->actor_guid, e->actor_smf_id, e->received_ms);
    player *t = e->type == EV_KILL ? event_player(ev, e->target_guid, e->target_smf_id, e->received_ms) : NULL;
    if (t == a)
        t = NULL; /* a suicide: one player, the victim's facts go to the actor */
    player_event ae, te;
    memset(&ae, 0, sizeof ae);
    memset(&te, 0, sizeof te);
    ae.family = te.family = WFAM_NONE;
    if (a)
        player_touch(ev, a, e, m, &ae);
    if (t)
        player_touch(ev, t, e, m, &te);
    guid_times *g =
        match_guid(m, e->actor_guid, e->type == EV_SPAWN || e->type == EV_JUMP || e->type == EV_WEAPON_CHANGE);
    switch (e->type) {
    case EV_KILL: {
        bool self = *e->actor_guid && strcmp(e->actor_guid, e->target_guid) == 0;
        if (self && a)
            kill_facts(ev, e, m, NULL, a, &ae, &ae);
        else
            kill_facts(ev, e, m, a, t ? t : (!*e->actor_guid && a ? a : NULL), &ae, &te);
        break;
    }
    case EV_SPAWN:
        if (g) {
            g->has_spawn = true;
            g->spawn_gt = e->game_time;
        }
        if (a) {
            /* No life_end here: a life runs from a death (or the match start) to the next death
             * (docs/definitions.md, kill streak), and a round's respawn of a survivor ends nothing. */
            ae.facts |= FACT_BIT(FACT_SPAWN);
            a->has_spawn = true;
            a->spawn_gt = e->game_time;
        }
        break;
    case EV_JUMP:
        if (g) {
            g->has_jump = true;
            g->jump_gt = e->game_time;
        }
        ae.facts |= FACT_BIT(FACT_JUMP);
        break;
    case EV_WEAPON_CHANGE:
        if (g) {
            g->has_switch = true;
            g->switch_gt = e->game_time;
        }
        break;
    case EV_CROUCH:
        if (a && a->teabag_armed && e->actor_has_pos && within(e->game_time, a->kill_gt, TEABAG_WINDOW_S) &&
            dist3(e->actor_pos, a->corpse) <= TEABAG_RANGE) {
            ae.facts |= FACT_BIT(FACT_TEABAG);
            a->teabag_armed = false;
        }
        break;
    case EV_DISTANCE:
        ae.q[Q_DISTANCE_UNITS] = e->distance;
        ae.q[Q_DISTANCE_M] = e->distance * VOCAB_METRES_PER_UNIT;
        break;
    case EV_LADDER:
        ae.facts |= FACT_BIT(FACT_LADDER);
        break;
    case EV_DOOR:
        ae.facts |= FACT_BIT(FACT_DOOR);
        break;
    case EV_CHAT: {
        ae.facts |= FACT_BIT(FACT_CHAT);
        static const char *const gg[] = {"gg", "gg wp", "ggwp", "good game", "gg all"};
        char msg[32];
        size_t n = 0;
        for (const char *s = e->message; *s && n + 1 < sizeof msg; s++)
            if (!(n == 0 && *s == ' '))
                msg[n++] = *s;
        while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '!' || msg[n - 1] == '.'))
            n--;
        msg[n] = '\0';
        for (size_t i = 0; a && !a->said_gg && i < sizeof gg / sizeof gg[0]; i++)
            if (strcasecmp(msg, gg[i]) == 0) {
                ae.facts |= FACT_BIT(FACT_GG);
                a->said_gg = true;
            }
        break;
    }
    case EV_DISCONNECT:
        if (m && !m->ended)
            ae.facts |= FACT_BIT(FACT_RAGE_QUIT);
        break;
    case EV_FIRE:
        ae.facts |= FACT_BIT(FACT_SHOT);
        break;
    case EV_HIT:
    case EV_DAMAGE:
        if (e->type == EV_HIT)
            ae.facts |= FACT_BIT(FACT_HIT);
        if (a && *e->target_guid && strcmp(e->actor_guid, e->target_guid) != 0) {
            int hi = vocab_hit_index(e->hitloc);
            if (hi >= 0)
                a->hit_mask |= 1u << hi;
        }
        break;
    default:
        break;
    }
    if (a) {
        team_side s = vocab_team_side(e->actor_team);
        if (s != SIDE_NONE)
            a->side = s;
        player_finish(ev, a, e, &ae);
    }
    if (t)
        player_finish(ev, t, e, &te);
    return 0;
}

/* ---- backfills ---- */

/* The larger of two values into *dst; whether it changed. */
static bool take_max(uint32_t *dst, uint32_t v)
{
    if (v <= *dst)
        return false;
    *dst = v;
    return true;
}

int evaluator_merge(evaluator *into, const evaluator *from, uint32_t member, uint64_t at_ms)
{
    player *src = player_get((evaluator *)from, member, false);
    if (!src)
        return 0;
    player *dst = player_get(into, member, true);
    if (!dst)
        return -ENOMEM;
    if (!dst->guid[0])
        snprintf(dst->guid, sizeof dst->guid, "%s", src->guid);
    for (uint32_t i = 0; i < src->nmaps; i++)
        if (hash_set_add(&dst->maps, &dst->nmaps, &dst->cmaps, src->maps[i]) < 0)
            return -ENOMEM;
    for (uint32_t i = 0; i < src->nweapons; i++) {
        uint32_t k = 0;
        while (k < dst->nweapons && dst->weapons[k].hash != src->weapons[i].hash)
            k++;
        if (k == dst->nweapons) {
            if (grow((void **)&dst->weapons, &dst->cweapons, dst->nweapons + 1, sizeof *dst->weapons))
                return -ENOMEM;
            dst->weapons[dst->nweapons++] = (tally){src->weapons[i].hash, 0};
        }
        dst->weapons[k].n += src->weapons[i].n;
    }
    dst->class_mask |= src->class_mask;
    /* Points of the codes only the past unlocked, from the catalogue (a code's points are in no player). */
    for (size_t d = 0; d < into->ndefs; d++) {
        uint64_t h = hash_str(into->defs[d].code);
        if (hash_set_has(src->unlocked, src->nunlocked, h) && !hash_set_has(dst->unlocked, dst->nunlocked, h)) {
            if (hash_set_add(&dst->unlocked, &dst->nunlocked, &dst->cunlocked, h) < 0)
                return -ENOMEM;
            dst->points += into->defs[d].points;
        }
    }
    player_event pe;
    memset(&pe, 0, sizeof pe);
    mcursor c;
    mcursor_init(&c, dst);
    for (int i = 0; i < metrics_count; i++) {
        const metric_def *d = &metrics[i];
        mstate *s = mcursor_at(&c, i);
        const mstate src_state = player_metric(src, i), *o = &src_state;
        uint32_t before = s->value;
        switch (d->shape) {
        case SHAPE_COUNT:
        case SHAPE_MATCH_END:
            s->value = s->value + o->value < s->value ? UINT32_MAX : s->value + o->value;
            break;
        case SHAPE_SUM:
            s->t += o->t;
            s->value =
                s->t / (d->scale ? d->scale : 1) > 4e9 ? 4000000000u : (uint32_t)(s->t / (d->scale ? d->scale : 1));
            break;
        case SHAPE_RATIO: {
            s->cur += o->cur;
            s->t += o->t;
            take_max(&s->value, o->value);
            if (s->t >= d->min_sample && s->t > 0) {
                double r = floor((double)s->cur * d->scale / s->t);
                take_max(&s->value, r > 4e9 ? 4000000000u : (uint32_t)r);
            }
            break;
        }
        case SHAPE_DISTINCT: {
            uint32_t v = 0;
            if (d->key == KEY_MAP)
                v = dst->nmaps;
            else if (d->key == KEY_WEAPON_CLASS)
                v = (uint32_t)popcount32(dst->class_mask);
            for (uint32_t k = 0; k < dst->nweapons; k++) {
                if (d->key == KEY_WEAPON_100)
                    v += dst->weapons[k].n >= 100;
                else if (d->key == KEY_BEST_WEAPON && dst->weapons[k].n > v)
                    v = dst->weapons[k].n;
            }
            take_max(&s->value, v);
            take_max(&s->value, o->value);
            break;
        }
        case SHAPE_META:
            break; /* from the joined unlocks, below */
        default:
            /* bests (per match, life, streak, chain, window, single value, match streaks, days): the larger */
            take_max(&s->value, o->value);
            break;
        }
        mcursor_keep(&c, i, s);
        if (s->value != before)
            pe.changed[i] = true;
    }
    meta_update(dst, &pe);
    dst->dirty = true;
    ach_event e;
    memset(&e, 0, sizeof e);
    e.received_ms = at_ms;
    e.match_key = "";
    defs_update(into, dst, &e, &pe);
    return 0;
}

/* ---- saved state ---- */

int evaluator_save_dirty(evaluator *ev, ach_state_fn each, void *arg)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;
    char key[40];
    while (hashmap_next(ev->players, &pos, &k, &klen, &v)) {
        player *p = v;
        if (!p->dirty)
            continue;
        size_t len;
        void *blob = player_encode(p, &len);
        if (!blob)
            return -ENOMEM;
        snprintf(key, sizeof key, "p:%u", p->member);
        int rc = each(arg, key, blob, len);
        free(blob);
        if (rc)
            return rc;
        p->dirty = false;
    }
    pos = 0;
    while (hashmap_next(ev->matches, &pos, &k, &klen, &v)) {
        match *m = v;
        if (!m->dirty)
            continue;
        size_t len;
        void *blob = match_encode(m, &len);
        if (!blob)
            return -ENOMEM;
        snprintf(key, sizeof key, "m:%s", m->key);
        int rc = each(arg, key, blob, len);
        free(blob);
        if (rc)
            return rc;
        m->dirty = false;
    }
    return 0;
}

int evaluator_load(evaluator *ev, const char *key, const void *blob, size_t len)
{
    if (strncmp(key, "p:", 2) == 0) {
        player *p = calloc(1, sizeof *p);
        if (!p)
            return -ENOMEM;
        int rc = player_decode(p, blob, len);
        char k[16];
        int n = snprintf(k, sizeof k, "%u", p->member);
        void *old = NULL;
        if (rc == 0 && p->member && (rc = hashmap_put(ev->players, k, (size_t)n, p, &old)) == 0) {
            if (old)
                player_free(old);
            return 0;
        }
        player_free(p);
        return rc ? rc : -EINVAL;
    }
    if (strncmp(key, "m:", 2) == 0) {
        match *m = calloc(1, sizeof *m);
        if (!m)
            return -ENOMEM;
        int rc = match_decode(m, blob, len);
        void *old = NULL;
        if (rc == 0 && m->key[0] && (rc = hashmap_put(ev->matches, m->key, strlen(m->key), m, &old)) == 0) {
            if (old)
                match_free(old);
            return 0;
        }
        match_free(m);
        return rc ? rc : -EINVAL;
    }
    return -EINVAL;
}

size_t evaluator_players(const evaluator *ev)
{
    return hashmap_size(ev->players);
}

size_t evaluator_matches(const evaluator *ev)
{
    return hashmap_size(ev->matches);
}

uint32_t evaluator_metric(const evaluator *ev, uint32_t member, const char *metric)
{
    int mi = metric_index(metric);
    player *p = mi < 0 ? NULL : player_get((evaluator *)ev, member, false);
    return p ? metric_value(p, mi) : 0;
}

void evaluator_expire_matches(evaluator *ev, uint64_t now_ms, uint64_t idle_ms,
                              void (*gone_fn)(void *arg, const char *key), void *arg)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;
    char *gone[256];
    int n = 0;
    while (n < 256 && hashmap_next(ev->matches, &pos, &k, &klen, &v)) {
        match *m = v;
        if (m->last_ms + idle_ms < now_ms)
            gone[n++] = m->key;
    }
    for (int i = 0; i < n; i++) {
        char key[25], saved[40];
        snprintf(key, sizeof key, "%s", gone[i]);
        snprintf(saved, sizeof saved, "m:%s", key);
        match_free(hashmap_remove(ev->matches, key, strlen(key)));
        gone_fn(arg, saved);
    }
}
