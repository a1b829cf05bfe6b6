/* achievd's definitions: the progress of the forum's achievement definitions from the metrics they are measured by,
 * unlocks, and the meta metrics (unlock count, points) that unlocks move; and the catalogue that lists them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "evaluate_parts.h"

/* ---- definitions: progress and unlocks ---- */

static bool has_unlocked(const player *p, const char *code)
{
    return hash_set_has(p->unlocked, p->nunlocked, hash_str(code));
}

void eval_meta_update(player *p, player_event *pe)
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

void eval_defs_update(evaluator *ev, player *p, const ach_event *e, player_event *pe)
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
        eval_meta_update(p, pe);
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
        eval_defs_update(ev, p, &e, &pe);
        if (p->nunlocked != before)
            p->dirty = true;
    }
    return 0;
}
