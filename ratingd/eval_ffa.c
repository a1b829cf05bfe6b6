/* Free-for-all matches in `ratingd evaluate`: who finishes first, as the ratings, a uniform guess and a softmax of
 * prior K/D predicted it (eval_ffa.h). */
#include "eval_ffa.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Grow *v (of *cap elements of size) to hold one more than n; 0 or -ENOMEM. */
static int reserve(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    void *w = realloc(*v, c * size);
    if (!w)
        return -ENOMEM;
    *v = w;
    *cap = c;
    return 0;
}

/* Record a rated free-for-all match as predicted before it (ffa_samples). 0 or -ENOMEM. */
int eval_ffa_observe(ffa_samples *s, const match_facts *f, const match_plan *plan, const double *win_prob,
                     const double *prior_kd)
{
    if (reserve((void **)&s->matches, &s->cap_matches, s->nmatches, sizeof *s->matches))
        return -ENOMEM;
    ffa_match *m = &s->matches[s->nmatches];
    *m = (ffa_match){.first = s->nentries, .field_first = s->nfield};
    for (size_t i = 0; i < f->nplayers; i++) {
        double prior = prior_kd[i];
        if (plan->at_start[i]) {
            if (reserve((void **)&s->field, &s->cap_field, s->nfield, sizeof *s->field))
                return -ENOMEM;
            s->field[s->nfield++] = prior;
            m->nfield++;
        }
        if (plan->team[i] < 0)
            continue;
        if (reserve((void **)&s->entries, &s->cap_entries, s->nentries, sizeof *s->entries))
            return -ENOMEM;
        s->entries[s->nentries++] =
            (ffa_entry){.p = win_prob[i], .kd = prior, .won = plan->rank[i] == 1, .at_start = plan->at_start[i]};
        m->n++;
    }
    s->nmatches++;
    return 0;
}

/* The chance the K/D softmax gives entry k of match m to finish first: exp(b kd_k) / sum over the field present at
 * the start (and k, when k joined later) of exp(b kd). */
static double ffa_kd_p(const ffa_samples *s, const ffa_match *m, size_t k, double b)
{
    const ffa_entry *x = &s->entries[k];
    double z = x->at_start ? 0 : exp(b * x->kd);
    for (size_t j = 0; j < m->nfield; j++)
        z += exp(b * s->field[m->field_first + j]);
    return exp(b * x->kd) / z;
}

/* The log-likelihood of who finished first in matches [0, n) under the K/D softmax of b, with its slope (the
 * winners' K/D less the field's mean under the softmax) and its curvature (minus their variance) when not NULL. */
static double ffa_kd_loglik(const ffa_samples *s, size_t n, double b, double *slope, double *curve)
{
    double ll = 0, g = 0, h = 0;
    for (size_t i = 0; i < n; i++) {
        const ffa_match *m = &s->matches[i];
        for (size_t k = m->first; k < m->first + m->n; k++) {
            const ffa_entry *x = &s->entries[k];
            if (!x->won)
                continue;
            double z = 0, mean = 0, sq = 0;
            for (size_t j = 0; j <= m->nfield; j++) {
                if (j == m->nfield && x->at_start)
                    break;
                double v = j < m->nfield ? s->field[m->field_first + j] : x->kd, w = exp(b * v);
                z += w;
                mean += w * v;
                sq += w * v * v;
            }
            mean /= z;
            ll += b * x->kd - log(z);
            g += x->kd - mean;
            h -= sq / z - mean * mean;
        }
    }
    if (slope)
        *slope = g;
    if (curve)
        *curve = h;
    return ll;
}

/* Fit the K/D softmax's b on matches [0, n): Newton's method on the log-likelihood of who finished first, each step
 * halved until the likelihood grows (a full step from a flat start can overshoot far into a peaked softmax). */
static double fit_ffa_kd(const ffa_samples *s, size_t n)
{
    double b = 0, g, h, ll = ffa_kd_loglik(s, n, b, &g, &h);
    for (int it = 0; it < 100; it++) {
        double step = g / (-h + 1e-9), next = ll - 1;
        int halvings = 0;
        for (; halvings < 40; halvings++, step /= 2) {
            next = ffa_kd_loglik(s, n, b + step, NULL, NULL);
            if (next >= ll)
                break;
        }
        if (halvings == 40 || fabs(step) < 1e-10)
            break;
        b += step;
        ll = ffa_kd_loglik(s, n, b, &g, &h);
    }
    return b;
}


/* Score the last 25% of the rated free-for-all matches for the ratings (win_prob), a uniform guess over the field,
 * and the K/D softmax: per match, the log-loss of whoever finished first (-log of the chance given to them, summed
 * when several shared the first place), the Brier score summed over its rated players, and whether the favourite
 * among them finished first; over every (match, rated player), the calibration error of the chances to finish
 * first. 0 (r->test 0: too few matches), or -ENOMEM. */
int eval_ffa_score(const ffa_samples *s, ffa_report *r)
{
    memset(r, 0, sizeof *r);
    r->m[0] = (eval_metrics){.name = "ratings (Weng-Lin PL)", .id = "ratings"};
    r->m[1] = (eval_metrics){.name = "uniform over the field", .id = "uniform"};
    r->m[2] = (eval_metrics){.name = "prior K/D, softmax", .id = "prior_kd"};
    r->gain_lo = r->gain_hi = r->chance_mean = r->chance_p90 = NAN;
    r->matches = s->nmatches;
    r->train = s->nmatches * 3 / 4;
    r->test = s->nmatches - r->train;
    if (r->train == 0 || r->test == 0) {
        r->test = 0;
        return 0;
    }
    r->b = fit_ffa_kd(s, r->train);
    size_t first = s->matches[r->train].first, npairs = s->nentries - first;
    r->pairs = npairs;
    double *pw = calloc(3 * r->test, sizeof *pw), *pp = calloc(3 * npairs + 1, sizeof *pp);
    int *ones = malloc(r->test * sizeof *ones), *y = malloc((npairs + 1) * sizeof *y);
    int rc = pw && pp && ones && y ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->test; i++) {
        const ffa_match *m = &s->matches[r->train + i];
        ones[i] = 1;
        double best[3] = {-1, -1, -1}, fav_won[3] = {0, 0, 0}, fav_n[3] = {0, 0, 0};
        for (size_t k = m->first; k < m->first + m->n; k++) {
            const ffa_entry *x = &s->entries[k];
            double p[3] = {x->p, 1.0 / (double)(m->nfield + !x->at_start), ffa_kd_p(s, m, k, r->b)};
            for (int t = 0; t < 3; t++) {
                pp[t * npairs + (k - first)] = p[t];
                if (x->won)
                    pw[t * r->test + i] += p[t];
                r->m[t].brier += (p[t] - x->won) * (p[t] - x->won) / (double)r->test;
                if (p[t] > best[t]) {
                    best[t] = p[t];
                    fav_won[t] = x->won;
                    fav_n[t] = 1;
                } else if (p[t] == best[t]) {
                    fav_won[t] += x->won;
                    fav_n[t] += 1;
                }
            }
            y[k - first] = x->won;
        }
        for (int t = 0; t < 3; t++) {
            pw[t * r->test + i] = eval_clamp_p(pw[t * r->test + i]);
            r->m[t].log_loss -= log(pw[t * r->test + i]) / (double)r->test;
            r->m[t].accuracy += fav_won[t] / fav_n[t] / (double)r->test;
        }
    }
    for (int t = 0; rc == 0 && t < 3; t++) {
        eval_metrics cal;
        eval_score(&cal, pp + t * npairs, y, npairs);
        r->m[t].calibration = cal.calibration;
        memcpy(r->m[t].bin_p, cal.bin_p, sizeof cal.bin_p);
        memcpy(r->m[t].bin_y, cal.bin_y, sizeof cal.bin_y);
        memcpy(r->m[t].bin_n, cal.bin_n, sizeof cal.bin_n);
    }
    if (rc == 0)
        rc = eval_bootstrap_gain(pw, pw + 2 * r->test, ones, r->test, &r->gain_lo, &r->gain_hi);
    if (rc == 0)
        rc = eval_calibration_by_chance(pp, npairs, &r->chance_mean, &r->chance_p90);
    free(pw);
    free(pp);
    free(ones);
    free(y);
    return rc;
}
