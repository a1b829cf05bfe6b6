/* Free-for-all matches in `ratingd evaluate`: each rated one recorded as predicted before it, then the last 25%
 * scored on who finished first, for the ratings' chances against a uniform guess over the field and a softmax of
 * prior K/D fitted on the first 75% (eval_ffa.c). */
#ifndef MOHSTATS_RATINGD_EVAL_FFA_H
#define MOHSTATS_RATINGD_EVAL_FFA_H

#include <stdbool.h>
#include <stddef.h>

#include "eval_metrics.h"
#include "match_rating.h"

/* One rated player of a rated free-for-all match as predicted before it: the ratings' chance to finish first
 * (win_prob: against the field present at the start, rating_win_probabilities), their prior K/D, whether they
 * finished first, and whether they were in that field (a late joiner is predicted against it as one more). */
typedef struct {
    double p, kd;
    int won;
    bool at_start;
} ffa_entry;

/* A rated free-for-all match: its rated players entries[first .. first + n) and the prior K/D of everyone in the
 * field present at its start (guests and unrated members too) field[field_first .. field_first + nfield). */
typedef struct {
    size_t first, n, field_first, nfield;
} ffa_match;

typedef struct {
    ffa_entry *entries;
    double *field;
    ffa_match *matches;
    size_t nentries, nfield, nmatches, cap_entries, cap_field, cap_matches;
} ffa_samples;

typedef struct {
    size_t matches, train, test, pairs;
    double b; /* the K/D softmax's, fitted on the first 75% */
    eval_metrics m[3];
    double gain_lo, gain_hi, chance_mean, chance_p90;
} ffa_report;

/* Record a rated free-for-all match as predicted before it: win_prob[i] the ratings' chance of its rated player i,
 * prior_kd[i] every player's K/D before it (1 for a guest or a bot). 0 or -ENOMEM. */
int eval_ffa_observe(ffa_samples *s, const match_facts *f, const match_plan *plan, const double *win_prob,
                     const double *prior_kd);

/* Score the last 25% of the recorded matches into r. 0 (r->test 0: too few matches), or -ENOMEM. */
int eval_ffa_score(const ffa_samples *s, ffa_report *r);

#endif
