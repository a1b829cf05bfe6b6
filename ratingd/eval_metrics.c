/* The scores of predictions `ratingd evaluate` prints (eval_metrics.h). */
#include "eval_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define P_FLOOR 1e-6        /* probabilities are kept in [P_FLOOR, 1 - P_FLOOR]: a log-loss must stay finite */
#define BOOTSTRAP_SEED 2011 /* fixed, so that two evaluations of the same history print the same interval */

double eval_clamp_p(double p)
{
    return p < P_FLOOR ? P_FLOOR : p > 1 - P_FLOOR ? 1 - P_FLOOR : p;
}


/* Score the predictions p[i] of outcomes y[i]: log-loss, Brier, accuracy, and the calibration error over 10 equal
 * bins of p (the bins' |mean p - share won|, weighted by their size). */
void eval_score(eval_metrics *m, const double *p, const int *y, size_t n)
{
    double ll = 0, brier = 0, right = 0;
    memset(m->bin_p, 0, sizeof m->bin_p);
    memset(m->bin_y, 0, sizeof m->bin_y);
    memset(m->bin_n, 0, sizeof m->bin_n);
    for (size_t i = 0; i < n; i++) {
        ll -= y[i] ? log(p[i]) : log(1 - p[i]);
        brier += (p[i] - y[i]) * (p[i] - y[i]);
        right += (p[i] > 0.5 && y[i]) || (p[i] < 0.5 && !y[i]) ? 1 : p[i] == 0.5 ? 0.5 : 0;
        int b = (int)(p[i] * EVAL_BINS);
        b = b >= EVAL_BINS ? EVAL_BINS - 1 : b;
        m->bin_p[b] += p[i];
        m->bin_y[b] += y[i];
        m->bin_n[b] += 1;
    }
    double ece = 0;
    for (int b = 0; b < EVAL_BINS; b++)
        if (m->bin_n[b] > 0)
            ece += fabs(m->bin_p[b] - m->bin_y[b]) / (double)n;
    m->log_loss = ll / (double)n;
    m->brier = brier / (double)n;
    m->accuracy = right / (double)n;
    m->calibration = ece;
}

/* splitmix64: the bootstrap's resampling, seeded so that its interval is reproducible. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The paired bootstrap of the mean log-loss difference base - model over the same n matches (positive: the model
 * predicts better): the matches are drawn with replacement EVAL_RESAMPLES times, both models scored on each draw, and
 * the 2.5th and 97.5th percentiles of the differences make the 95% interval. Pairing keeps the matches that are
 * hard for both from widening the interval. 0 or -ENOMEM. */
int eval_bootstrap_gain(const double *model, const double *base, const int *y, size_t n, double *lo, double *hi)
{
    double *d = malloc(n * sizeof *d), *means = malloc(EVAL_RESAMPLES * sizeof *means);
    if (!d || !means) {
        free(d);
        free(means);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = (y[i] ? -log(base[i]) : -log(1 - base[i])) - (y[i] ? -log(model[i]) : -log(1 - model[i]));
    uint64_t seed = BOOTSTRAP_SEED;
    for (size_t r = 0; r < EVAL_RESAMPLES; r++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += d[next_random(&seed) % n];
        means[r] = sum / (double)n;
    }
    qsort(means, EVAL_RESAMPLES, sizeof *means, cmp_double);
    *lo = means[EVAL_RESAMPLES * 25 / 1000];
    *hi = means[EVAL_RESAMPLES * 975 / 1000 - 1];
    free(d);
    free(means);
    return 0;
}

/* The calibration error that chance alone gives predictions p[0 .. n) that are exactly right: outcomes drawn from p
 * itself EVAL_RESAMPLES times (a fixed seed), each draw scored as score() scores; the mean and the 90th percentile. A few
 * hundred matches in 10 bins leave each bin's share won a few points from its mean prediction by chance, so a
 * calibration error is only evidence of miscalibration above this. 0 or -ENOMEM. */
int eval_calibration_by_chance(const double *p, size_t n, double *mean, double *p90)
{
    int *y = malloc(n * sizeof *y);
    double *errors = malloc(EVAL_RESAMPLES * sizeof *errors);
    if (!y || !errors) {
        free(y);
        free(errors);
        return -ENOMEM;
    }
    uint64_t seed = BOOTSTRAP_SEED;
    *mean = 0;
    for (size_t r = 0; r < EVAL_RESAMPLES; r++) {
        for (size_t i = 0; i < n; i++)
            y[i] = (double)(next_random(&seed) >> 11) / 9007199254740992.0 < p[i];
        eval_metrics m;
        eval_score(&m, p, y, n);
        errors[r] = m.calibration;
        *mean += m.calibration / EVAL_RESAMPLES;
    }
    qsort(errors, EVAL_RESAMPLES, sizeof *errors, cmp_double);
    *p90 = errors[EVAL_RESAMPLES * 9 / 10];
    free(y);
    free(errors);
    return 0;
}
