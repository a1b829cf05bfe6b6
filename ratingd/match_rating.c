/* Whether a finished match is rated, its teams and weights (match_rating.h). */
#include "match_rating.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const family_names[RFAM__COUNT] = {"ffa", "team", "objective"};

const char *rating_family_name(rating_family f)
{
    return f >= 0 && f < RFAM__COUNT ? family_names[f] : "";
}

rating_family match_game_type_family(const char *type)
{
    const char *family = vocab_game_type_family(type);
    for (int f = 0; f < RFAM__COUNT; f++)
        if (strcmp(family, family_names[f]) == 0)
            return (rating_family)f;
    return RFAM_NONE;
}

bool rating_guid_ratable(const char *guid)
{
    return guid && *guid && strncasecmp(guid, "unauth_", 7) != 0 && strncasecmp(guid, "bot", 3) != 0;
}

void match_plan_free(match_plan *plan)
{
    free(plan->verdict);
    free(plan->fraction);
    free(plan->team);
    free(plan->rank);
    free(plan->side_team);
    free(plan->at_start);
    free(plan->start_team);
    plan->side_team = NULL;
    plan->at_start = NULL;
    plan->start_team = NULL;
    plan->verdict = NULL;
    plan->fraction = NULL;
    plan->team = NULL;
    plan->rank = NULL;
}

/* Mark the match not rated, for a reason a player can read. */
static void unrated(match_plan *plan, size_t nplayers, const char *fmt, double a, double b)
{
    plan->rated = false;
    plan->nteams = 0;
    snprintf(plan->reason, sizeof plan->reason, fmt, a, b);
    for (size_t i = 0; i < nplayers; i++) {
        if (plan->verdict[i] == PLAYER_RATED)
            plan->verdict[i] = PLAYER_UNRATED;
        plan->team[i] = -1;
        plan->rank[i] = 0;
        plan->side_team[i] = -1;
        plan->start_team[i] = -1;
    }
}

/* Team games: the winner's side is team 0 (rank 1), the other team 1 (rank 2). */
static void plan_teams(const match_facts *f, match_plan *plan)
{
    bool seen[2] = {false, false};
    for (size_t i = 0; i < f->nplayers; i++) {
        if (plan->verdict[i] != PLAYER_RATED)
            continue;
        if (f->players[i].side == SIDE_NONE) {
            plan->verdict[i] = PLAYER_NO_SIDE;
            continue;
        }
        int t = f->players[i].side == f->winner ? 0 : 1;
        plan->team[i] = t;
        plan->rank[i] = t + 1;
        seen[t] = true;
    }
    if (!seen[0] || !seen[1]) {
        unrated(plan, f->nplayers, "fewer than 2 sides with rated players", 0, 0);
        return;
    }
    plan->nteams = 2;
    for (size_t i = 0; i < f->nplayers; i++) {
        if (f->players[i].side != SIDE_NONE && plan->fraction[i] > 0)
            plan->side_team[i] = f->players[i].side == f->winner ? 0 : 1;
        if (plan->at_start[i] && f->players[i].first_side != SIDE_NONE)
            plan->start_team[i] = f->players[i].first_side == f->winner ? 0 : 1;
    }
}

/* Free-for-all: a team of one per rated player, ranked by score (kills - suicides) per minute played, so that a
 * player who joined late is compared at the rate they scored. Equal rates share a place. */
static void plan_ffa(const match_facts *f, double duration, match_plan *plan)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nplayers; i++)
        if (plan->verdict[i] == PLAYER_RATED)
            plan->team[i] = (int)n++;
    if (n < 2) {
        unrated(plan, f->nplayers, "fewer than 2 rated players", 0, 0);
        return;
    }
    for (size_t i = 0; i < f->nplayers; i++) {
        if (plan->team[i] < 0)
            continue;
        const match_player *p = &f->players[i];
        double rate = (p->kills - p->suicides) / (plan->fraction[i] * duration);
        int better = 0;
        for (size_t j = 0; j < f->nplayers; j++) {
            if (plan->team[j] < 0 || j == i)
                continue;
            const match_player *q = &f->players[j];
            if ((q->kills - q->suicides) / (plan->fraction[j] * duration) > rate)
                better++;
        }
        plan->rank[i] = better + 1;
    }
    plan->nteams = n;
}

int match_plan_build(const match_facts *f, const match_rules *rules, match_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->family = RFAM_NONE;
    plan->game_type = "";
    size_t n = f->nplayers ? f->nplayers : 1;
    plan->verdict = calloc(n, sizeof *plan->verdict);
    plan->fraction = calloc(n, sizeof *plan->fraction);
    plan->team = calloc(n, sizeof *plan->team);
    plan->rank = calloc(n, sizeof *plan->rank);
    plan->side_team = calloc(n, sizeof *plan->side_team);
    plan->at_start = calloc(n, sizeof *plan->at_start);
    plan->start_team = calloc(n, sizeof *plan->start_team);
    if (!plan->verdict || !plan->fraction || !plan->team || !plan->rank || !plan->side_team || !plan->at_start ||
        !plan->start_team) {
        match_plan_free(plan);
        return -ENOMEM;
    }
    plan->nplayers = f->nplayers;
    plan->min_fraction = rules->min_fraction;
    plan->game_type = vocab_game_type(f->gametype, f->map);
    plan->family = match_game_type_family(plan->game_type);
    double duration = f->end_t - f->start_t;
    /* Each player's share of the match, their span clamped to [start_t, end_t]: events after the end (or before
     * the start) never make a share larger, so the same events give the same weights whatever arrived late. */
    for (size_t i = 0; i < f->nplayers; i++) {
        const match_player *p = &f->players[i];
        plan->team[i] = -1;
        plan->side_team[i] = -1;
        plan->start_team[i] = -1;
        plan->at_start[i] = p->first_t <= f->start_t + RATING_START_ROSTER_S;
        double from = p->first_t > f->start_t ? p->first_t : f->start_t;
        double to = p->last_t < f->end_t ? p->last_t : f->end_t;
        double fr = duration > 0 && to > from ? (to - from) / duration : 0;
        plan->fraction[i] = fr > 1 ? 1 : fr;
        if (!rating_guid_ratable(p->guid))
            plan->verdict[i] = PLAYER_UNRATABLE;
        else if (!(plan->fraction[i] > 0) || plan->fraction[i] < rules->min_fraction)
            plan->verdict[i] = PLAYER_SHORT;
        else
            plan->verdict[i] = PLAYER_RATED;
    }
    plan->rated = true;
    if (!f->ended)
        unrated(plan, f->nplayers, "no match_end: the match never finished", 0, 0);
    else if (plan->family == RFAM_NONE)
        unrated(plan, f->nplayers, "unknown game type: the match names none we rate", 0, 0);
    else if (!(duration >= rules->min_duration_s))
        unrated(plan, f->nplayers, "too short: %.0f s of play (minimum %.0f s)", duration > 0 ? duration : 0,
                rules->min_duration_s);
    else if (plan->family != RFAM_FFA && f->winner == SIDE_NONE)
        unrated(plan, f->nplayers, "no winning team (no team_win or match_end side, or a draw)", 0, 0);
    else if (plan->family == RFAM_FFA)
        plan_ffa(f, duration, plan);
    else
        plan_teams(f, plan);
    return 0;
}

/* Each rated player's chance to win, predicted from the priors of the roster present at the start only
 * (match_rating.h): in team games the two sides of the players there at the start, on their first side, each
 * counted whole; in free-for-all the field of everyone there at the start (a rated player who joined later is
 * predicted against that field). 0 or -ENOMEM. */
static int predict(const match_plan *plan, const rating_model *m, const rating *before, double *win_prob)
{
    size_t n = plan->nplayers;
    rating_player *players = calloc(n + 1, sizeof *players);
    rating_team *teams = calloc(n + 2, sizeof *teams);
    double *probs = calloc(n + 1, sizeof *probs), *late = calloc(n + 1, sizeof *late);
    int rc = players && teams && probs && late ? 0 : -ENOMEM;
    if (rc == 0 && plan->family != RFAM_FFA) {
        size_t off = 0;
        for (int t = 0; t < 2; t++) {
            teams[t].players = players + off;
            for (size_t i = 0; i < n; i++)
                if (plan->start_team[i] == t) {
                    players[off++] = (rating_player){before[i], 1};
                    teams[t].nplayers++;
                }
        }
        rating_win_probabilities(m, teams, 2, probs);
        for (size_t i = 0; i < n; i++)
            if (plan->team[i] >= 0)
                win_prob[i] = probs[plan->team[i]];
    } else if (rc == 0) {
        /* teams[k] is the k-th player of the field, a team of one; a late joiner is added as one more (late[]). A
         * field of two is not two sides: the start weight (the sides' turnover) is left out, as for any field. */
        rating_model ffa = *m;
        ffa.start_weight = 1;
        size_t field = 0;
        for (size_t i = 0; i < n; i++)
            if (plan->at_start[i]) {
                players[field] = (rating_player){before[i], 1};
                teams[field] = (rating_team){&players[field], 1, 1};
                field++;
            }
        if (field > 0)
            rating_win_probabilities(&ffa, teams, field, probs);
        for (size_t i = 0, k = 0; i < n; i++) {
            if (plan->at_start[i]) {
                if (plan->team[i] >= 0)
                    win_prob[i] = probs[k];
                k++;
            } else if (plan->team[i] >= 0) {
                players[field] = (rating_player){before[i], 1};
                teams[field] = (rating_team){&players[field], 1, 1};
                rating_win_probabilities(&ffa, teams, field + 1, late);
                win_prob[i] = late[field];
            }
        }
    }
    free(players);
    free(teams);
    free(probs);
    free(late);
    return rc;
}

int match_plan_apply(const match_plan *plan, const rating_model *m, double inactivity_per_day, uint64_t end_ms,
                     const uint64_t *last_ms, rating *before, rating *after, double *win_prob)
{
    if (!plan->rated || plan->nteams < 2)
        return -1;
    rating_team *teams = calloc(plan->nteams, sizeof *teams);
    rating_player *players = calloc(plan->nplayers, sizeof *players);
    int *slot = calloc(plan->nplayers ? plan->nplayers : 1, sizeof *slot); /* player i's place in players[] */
    if (!teams || !players || !slot) {
        free(teams);
        free(players);
        free(slot);
        return -ENOMEM;
    }
    for (size_t i = 0; i < plan->nplayers; i++)
        before[i].sigma = rating_sigma_at(m, before[i].sigma, last_ms[i], end_ms, inactivity_per_day);
    /* Each team's players side by side in players[], in the facts' order (sorted by GUID by the caller), so that
     * the arithmetic runs in the same order every time. */
    size_t off = 0;
    for (size_t t = 0; t < plan->nteams; t++) {
        teams[t].players = players + off;
        for (size_t i = 0; i < plan->nplayers; i++) {
            bool rated = plan->team[i] == (int)t;
            if (!rated && plan->side_team[i] != (int)t)
                continue;
            slot[i] = (int)off;
            players[off++] = (rating_player){before[i], plan->fraction[i]};
            teams[t].nplayers++;
            if (rated)
                teams[t].rank = plan->rank[i];
        }
    }
    int rc = win_prob ? predict(plan, m, before, win_prob) : 0;
    if (rc == 0)
        rc = rating_update_relative(m, teams, plan->nteams);
    if (rc == 0)
        for (size_t i = 0; i < plan->nplayers; i++)
            if (plan->team[i] >= 0)
                after[i] = players[slot[i]].r;
    free(slot);
    free(teams);
    free(players);
    return rc;
}
