/* achievd's match outcomes: what an ended match yields for each of its members (wins, deathless, comebacks...),
 * and the conditions that hold as soon as they are met (long, dominated...). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "evaluate_parts.h"

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

void eval_live_conds_update(player *p, player_event *pe)
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

void eval_match_finish(evaluator *ev, match *m, const ach_event *e)
{
    team_side w = vocab_team_side(e->team);
    if (w != SIDE_NONE)
        m->winner = w;
    m->ended = true;
    m->dirty = true;
    for (uint32_t mi = 0; mi < m->nmembers; mi++) {
        player *p = eval_player_get(ev, m->members[mi], false);
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
        eval_defs_update(ev, p, e, &pe);
    }
}
