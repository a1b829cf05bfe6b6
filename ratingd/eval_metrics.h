/* The scores `ratingd evaluate` gives predictions of outcomes: log-loss, Brier score, accuracy and calibration
 * error, a paired bootstrap interval of one model's log-loss gain over another, and the calibration error that
 * chance alone gives exactly right predictions. Pure arithmetic over arrays (eval_metrics.c). */
#ifndef MOHSTATS_RATINGD_EVAL_METRICS_H
#define MOHSTATS_RATINGD_EVAL_METRICS_H

#include <stddef.h>

#define EVAL_BINS 10        /* of the calibration error: equal bins of the predicted chance */
#define EVAL_RESAMPLES 2000 /* of the paired bootstrap: enough for a stable 95% interval's ends */

/* How well predictions scored on the held-out matches. */
typedef struct {
    const char *name, *id; /* for people, and the JSON key */
    double log_loss, brier, accuracy, calibration;
    double bin_p[EVAL_BINS], bin_y[EVAL_BINS], bin_n[EVAL_BINS]; /* per bin of p: sum of p, wins, matches */
} eval_metrics;

/* p kept within [1e-6, 1 - 1e-6]: a log-loss must stay finite. */
double eval_clamp_p(double p);

/* Score the predictions p[i] of outcomes y[i] (1: won) into m (its name and id are left as they are). */
void eval_score(eval_metrics *m, const double *p, const int *y, size_t n);

/* The 95% paired bootstrap interval [*lo, *hi] of the mean log-loss of base minus model's over the same n
 * outcomes (positive: model predicts better). 0 or -ENOMEM. */
int eval_bootstrap_gain(const double *model, const double *base, const int *y, size_t n, double *lo, double *hi);

/* The calibration error exactly right predictions p[0 .. n) show by chance: its mean and 90th percentile. 0 or
 * -ENOMEM. */
int eval_calibration_by_chance(const double *p, size_t n, double *mean, double *p90);

#endif
