/* achievd's backfills: merging a player's state replayed from ClickHouse into the live one (evaluator_merge). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "evaluate_parts.h"

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
    player *src = eval_player_get((evaluator *)from, member, false);
    if (!src)
        return 0;
    player *dst = eval_player_get(into, member, true);
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
    eval_meta_update(dst, &pe);
    dst->dirty = true;
    ach_event e;
    memset(&e, 0, sizeof e);
    e.received_ms = at_ms;
    e.match_key = "";
    eval_defs_update(into, dst, &e, &pe);
    return 0;
}
