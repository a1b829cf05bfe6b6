/* Achievement evaluation: derive facts from each event (docs/definitions.md), update each member's metrics
 * (criteria.c), and turn metric values into progress and unlocks of the forum's definitions.
 *
 * Time. Windows, lives and match durations use game time (the tracker's timestamp, exact to the server frame);
 * dates use the receive time ingestd stamped (UTC). Nothing here reads the clock: a replay of the same events
 * from the same saved state gives the same writes, byte for byte.
 *
 * This file holds the evaluator, its players and matches, applying an event and the saved state; its parts are
 * evaluate_metrics.c (an event's facts and the metrics they move), evaluate_unlocks.c (progress and unlocks),
 * evaluate_match.c (match outcomes) and evaluate_merge.c (backfills), sharing evaluate_parts.h. */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "evaluate_parts.h"

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

player *eval_player_get(evaluator *ev, uint32_t member, bool create)
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

guid_times *eval_match_guid(match *m, const char *guid, bool create)
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

int eval_match_add_member(match *m, uint32_t member)
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

/* ---- applying an event ---- */

/* The player an event's block names, created on first sight; NULL for guests and when out of memory. */
static player *event_player(evaluator *ev, const char *guid, uint64_t smf_id, uint64_t received_ms)
{
    if (!guid || !*guid)
        return NULL;
    uint32_t member = ev->member_fn(ev->arg, guid, smf_id, received_ms);
    if (!member)
        return NULL;
    player *p = eval_player_get(ev, member, true);
    if (p) {
        snprintf(p->guid, sizeof p->guid, "%s", guid);
        p->dirty = true;
    }
    return p;
}

/* Everything an event of the player does before its facts: match entry, time played, maps. */
static void player_touch(evaluator *ev, player *p, const ach_event *e, match *m, player_event *pe)
{
    if (eval_match_enter(ev, p, e, m, pe))
        p->match_first_gt = e->game_time;
    double step = eval_playtime_step(p, e);
    pe->q[Q_PLAYTIME_S] += step;
    if (e->map && *e->map)
        hash_set_add(&p->maps, &p->nmaps, &p->cmaps, hash_str(e->map));
    eval_days_update(p, e, step, pe);
}

static void player_finish(evaluator *ev, player *p, const ach_event *e, player_event *pe)
{
    eval_metrics_update(p, e, pe);
    eval_live_conds_update(p, pe);
    if (pe->facts & FACT_BIT(FACT_DEATH))
        eval_life_end(p);
    eval_defs_update(ev, p, e, pe);
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
            eval_match_finish(ev, m, e);
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
        eval_match_guid(m, e->actor_guid, e->type == EV_SPAWN || e->type == EV_JUMP || e->type == EV_WEAPON_CHANGE);
    switch (e->type) {
    case EV_KILL: {
        bool self = *e->actor_guid && strcmp(e->actor_guid, e->target_guid) == 0;
        if (self && a)
            eval_kill_facts(ev, e, m, NULL, a, &ae, &ae);
        else
            eval_kill_facts(ev, e, m, a, t ? t : (!*e->actor_guid && a ? a : NULL), &ae, &te);
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
    player *p = mi < 0 ? NULL : eval_player_get((evaluator *)ev, member, false);
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
