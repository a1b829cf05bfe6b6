/* Weng-Lin Plackett-Luce rating updates and win probabilities (see rating.h). */
#include "rating.h"

#include <math.h>
#include <stdlib.h>

void rating_model_default(rating_model *m)
{
    m->mu = 25.0;
    m->sigma = 25.0 / 3.0;
    m->beta = 25.0 / 6.0;
    m->kappa = 0.0001;
    m->tau = 25.0 / 300.0;
    m->start_weight = 1.0;
}

rating rating_new(const rating_model *m)
{
    return (rating){m->mu, m->sigma};
}

double rating_ordinal(rating r)
{
    return r.mu - 3.0 * r.sigma;
}

bool rating_member_offer(rating_member *m, rating r, double matches)
{
    if (matches <= m->matches)
        return false;
    m->r = r;
    m->matches = matches;
    return true;
}

bool rating_team_mean(const rating_member *members, size_t n, rating *out)
{
    double sum_mu = 0, sum_var = 0, rated = 0;
    for (size_t i = 0; i < n; i++)
        if (members[i].matches > 0) {
            sum_mu += members[i].r.mu;
            sum_var += members[i].r.sigma * members[i].r.sigma;
            rated += 1;
        }
    if (rated == 0)
        return false;
    *out = (rating){sum_mu / rated, sqrt(sum_var) / rated};
    return true;
}

#define FORUM_NEW_TEAM 1000.0 /* the forum's default rating for a team */
#define FORUM_PER_MU 40.0

int rating_forum_points(const rating_model *m, rating team)
{
    return (int)lround(FORUM_NEW_TEAM + FORUM_PER_MU * (team.mu - m->mu));
}

/* A team's strength: the weighted sum of its players' mu (above a new player's when above_new: see
 * rating_update_relative) with its variance (sigma^2). */
typedef struct {
    double mu, sigma_sq;
} team_strength;

static team_strength strength_of(const rating_model *m, const rating_team *t, bool above_new)
{
    team_strength s = {0, 0};
    for (size_t j = 0; j < t->nplayers; j++) {
        const rating_player *p = &t->players[j];
        s.mu += p->weight * (above_new ? p->r.mu - m->mu : p->r.mu);
        s.sigma_sq += p->weight * p->weight * p->r.sigma * p->r.sigma;
    }
    return s;
}

/* Whether every team has players, every weight is in (0, 1] and every rating is finite. */
static bool match_valid(const rating_team *teams, size_t nteams)
{
    if (nteams < 2)
        return false;
    for (size_t i = 0; i < nteams; i++) {
        if (teams[i].nplayers == 0)
            return false;
        for (size_t j = 0; j < teams[i].nplayers; j++) {
            const rating_player *p = &teams[i].players[j];
            if (!(p->weight > 0 && p->weight <= 1) || !isfinite(p->r.mu) || !(p->r.sigma > 0 && isfinite(p->r.sigma)))
                return false;
        }
    }
    return true;
}

/* Weng-Lin's update, with each team's strength counted above a new player's when above_new (rating.h). */
static int update(const rating_model *m, rating_team *teams, size_t nteams, bool above_new)
{
    if (!match_valid(teams, nteams))
        return -1;
    team_strength *st = malloc(nteams * sizeof *st);
    double *x = malloc(nteams * sizeof *x), *log_sum_q = malloc(nteams * sizeof *log_sum_q),
           *a = malloc(nteams * sizeof *a);
    if (!st || !x || !log_sum_q || !a) {
        free(st);
        free(x);
        free(log_sum_q);
        free(a);
        return -1;
    }
    /* tau first: without it a veteran's sigma would shrink towards nothing and their rating stop moving. */
    double tau_sq = m->tau * m->tau;
    for (size_t i = 0; i < nteams; i++)
        for (size_t j = 0; j < teams[i].nplayers; j++) {
            rating *r = &teams[i].players[j].r;
            r->sigma = sqrt(r->sigma * r->sigma + tau_sq);
        }
    double c_sq = 0;
    for (size_t i = 0; i < nteams; i++) {
        st[i] = strength_of(m, &teams[i], above_new);
        c_sq += st[i].sigma_sq + m->beta * m->beta;
    }
    double c = sqrt(c_sq);
    /* x[i] = mu_i / c; log_sum_q[q] = log of the sum of exp(x[i]) over the teams that finished at q's place or
     * behind it; a[q]: how many teams shared q's place. In logarithms, each sum shifted by its largest term: a team
     * far stronger than the others must not overflow exp(), nor a far weaker one underflow it to 0 / 0. */
    for (size_t i = 0; i < nteams; i++)
        x[i] = st[i].mu / c;
    for (size_t q = 0; q < nteams; q++) {
        double top = -INFINITY, sum = 0;
        a[q] = 0;
        for (size_t i = 0; i < nteams; i++) {
            if (teams[i].rank >= teams[q].rank && x[i] > top)
                top = x[i];
            if (teams[i].rank == teams[q].rank)
                a[q] += 1;
        }
        for (size_t i = 0; i < nteams; i++)
            if (teams[i].rank >= teams[q].rank)
                sum += exp(x[i] - top);
        log_sum_q[q] = top + log(sum);
    }
    for (size_t i = 0; i < nteams; i++) {
        double omega = 0, delta = 0;
        for (size_t q = 0; q < nteams; q++) {
            if (teams[q].rank > teams[i].rank)
                continue;
            double p = exp(x[i] - log_sum_q[q]); /* the chance i came first among those left at q's place */
            omega += (q == i ? 1 - p : -p) / a[q];
            delta += p * (1 - p) / a[q];
        }
        double gamma = sqrt(st[i].sigma_sq) / c;
        double team_omega = omega * st[i].sigma_sq / c, team_delta = gamma * delta * st[i].sigma_sq / c_sq;
        /* Each player's share of the team's change: their part of the team's variance, times their weight for the
         * mean and its square for the variance (the team's strength is the weighted sum). */
        for (size_t j = 0; j < teams[i].nplayers; j++) {
            rating_player *p = &teams[i].players[j];
            double share = p->r.sigma * p->r.sigma / st[i].sigma_sq;
            p->r.mu += share * p->weight * team_omega;
            p->r.sigma *= sqrt(fmax(1 - share * p->weight * p->weight * team_delta, m->kappa));
        }
    }
    free(st);
    free(x);
    free(log_sum_q);
    free(a);
    return 0;
}

int rating_update(const rating_model *m, rating_team *teams, size_t nteams)
{
    return update(m, teams, nteams, /* above_new= */ false);
}

int rating_update_relative(const rating_model *m, rating_team *teams, size_t nteams)
{
    return update(m, teams, nteams, /* above_new= */ true);
}

/* The Plackett-Luce chance that each team finishes first: exp(m_i / c) / sum_j exp(m_j / c), with m a team's
 * weighted sum of its players' mu above a new player's and c^2 the sum over teams of their variance plus beta^2:
 * the update's own expectation (its p for the first place), so that the ratings predict under the model they were
 * learned by. The Thurstone form used before, Phi((m_a - m_b) / sqrt((n_a + n_b) beta^2 + sigma_a^2 + sigma_b^2))
 * (OpenSkill's predict_win), is a different curve from the update's logistic one and does not scale with it: the
 * update spreads mu until its own expectations match the results, and the Thurstone chances of the same mu then
 * came out too sure, the more so the longer the history (on the demo world's 4,000 matches the scale that fitted
 * the held-out quarter's chances was 0.75; docs/ratings.md, "Measuring"). Above a new player's mu, as the update
 * counts it (rating_update_relative): with raw sums a side of five average players was 25 stronger than a side of
 * four. For two teams this is logistic((m_a - m_b) / c). Ranks are not read. */
void rating_win_probabilities(const rating_model *m, const rating_team *teams, size_t nteams, double *out)
{
    if (nteams == 0)
        return;
    double c_sq = 0, top = -INFINITY, total = 0;
    for (size_t i = 0; i < nteams; i++) {
        team_strength s = strength_of(m, &teams[i], /* above_new= */ true);
        c_sq += s.sigma_sq + m->beta * m->beta;
        out[i] = s.mu;
    }
    double c = sqrt(c_sq);
    /* shifted by the largest, as in the update: no exp() overflows, and the leader's term is 1 */
    for (size_t i = 0; i < nteams; i++)
        top = fmax(top, out[i] / c);
    for (size_t i = 0; i < nteams; i++) {
        out[i] = exp(out[i] / c - top);
        total += out[i];
    }
    for (size_t i = 0; i < nteams; i++)
        out[i] /= total;
    /* Two teams: the chance is predicted from the rosters that start the match, but players leave and join during
     * it, so the result is less certain than the start roster says. A mixture: with weight start_weight the start
     * roster's chance, else an even one. Only between two teams: a free-for-all's chance of finishing first was
     * calibrated without it (docs/ratings.md, "Turnover"). */
    if (nteams == 2 && m->start_weight != 1.0) {
        out[0] = 0.5 + (out[0] - 0.5) * m->start_weight;
        out[1] = 1.0 - out[0];
    }
}

#define MS_PER_DAY 86400000.0

double rating_sigma_at(const rating_model *m, double sigma, uint64_t last_ms, uint64_t now_ms, double per_day)
{
    if (last_ms == 0 || now_ms <= last_ms)
        return sigma;
    return rating_after_inactivity(m, sigma, (double)(now_ms - last_ms) / MS_PER_DAY, per_day);
}

double rating_after_inactivity(const rating_model *m, double sigma, double days, double per_day)
{
    if (!(days > 0))
        return sigma;
    double widened = sqrt(sigma * sigma + per_day * per_day * days);
    return widened < m->sigma ? widened : (sigma > m->sigma ? sigma : m->sigma);
}
