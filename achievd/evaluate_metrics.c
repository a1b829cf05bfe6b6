/* achievd's evaluation of one event for one player: the facts it establishes (kill_facts: docs/definitions.md)
 * and the metric states they move, per criterion shape (criteria.c), the calendar metrics, lives and matches. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "evaluate_parts.h"

/* ---- one event for one player ---- */

void eval_life_end(player *p)
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

bool eval_match_enter(evaluator *ev, player *p, const ach_event *e, match *m, player_event *pe)
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
    eval_life_end(p);
    pe->facts |= FACT_BIT(FACT_MATCH_PLAYED);
    if (m)
        eval_match_add_member(m, p->member);
    (void)ev;
    return true;
}

double eval_playtime_step(player *p, const ach_event *e)
{
    double d = e->game_time - p->match_last_gt;
    if (e->game_time > p->match_last_gt)
        p->match_last_gt = e->game_time;
    return d > 0 ? d : 0;
}

void eval_metrics_update(player *p, const ach_event *e, player_event *pe)
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

void eval_days_update(player *p, const ach_event *e, double step, player_event *pe)
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

void eval_kill_facts(evaluator *ev, const ach_event *e, match *m, player *k, player *v, player_event *ke,
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
    guid_times *vt = eval_match_guid(m, tg, false), *kt = eval_match_guid(m, ag, false);

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
    /* a melee kill (docs/achievements.md): bash or impale, or a melee weapon */
    bool melee = mc == MOD_CLASS_BASH || mc == MOD_CLASS_IMPALE || wc == WCLASS_MELEE;
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
