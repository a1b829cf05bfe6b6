/* Rating matches in order: the one code path of the daemon's steps and of `ratingd recompute`. */
#ifndef MOHSTATS_RATINGD_RATER_H
#define MOHSTATS_RATINGD_RATER_H

#include <stddef.h>

#include "bytebuf.h"
#include "facts.h"
#include "hashmap.h"
#include "ratingd.h"

typedef struct {
    size_t matches, rated, players;
} rater_counts;

/* The GUIDs of the players of d[0 .. n) who can hold a rating (no guests, no bots), each once, pointing into d:
 * whose current ratings to load before rating them. *out is malloc'd (free it), *nout its length. */
int rater_players(const match_data *d, size_t n, const char ***out, size_t *nout);

/* Called after each match is rated (or found not rated), with its plan and, for rated players, the chance their
 * team had to win as predicted before the match (`ratingd evaluate` scores these). */
typedef void (*rater_observe_fn)(void *arg, const match_ref *ref, const match_data *d, const match_plan *plan,
                                 const double *win_prob);

/* Rate the matches d[0 .. n) (the facts of refs, in rating order) one after the other: each starts from ratings
 * (a map of stored_rating * by store_rating_key; a player missing from it is new), which each rated match
 * updates, and appends its rows to rows. counts (may be NULL) adds up what was done. 0 or -ENOMEM. */
int rater_rate(const ratingd_settings *s, const match_ref *refs, const match_data *d, size_t n, hashmap *ratings,
               bytebuf *rows, rater_counts *counts);
/* The same, calling observe(arg, ...) after each match; rows may be NULL (nothing written). */
int rater_rate_observed(const ratingd_settings *s, const match_ref *refs, const match_data *d, size_t n,
                        hashmap *ratings, bytebuf *rows, rater_counts *counts, rater_observe_fn observe, void *arg);

#endif
