/* How well final ratings rank a simulated world's players (demo_world --skills) by their hidden skill: Spearman's
 * rank correlation per family, and how far mu scatters about a line fitted on the skill against sigma
 * (eval_rank.c). */
#ifndef MOHSTATS_RATINGD_EVAL_RANK_H
#define MOHSTATS_RATINGD_EVAL_RANK_H

#include <stddef.h>

#include "hashmap.h"
#include "match_rating.h"

#define MIN_RANKED_MATCHES 20 /* the "players with 20 or more matches" for the rank correlation */

/* The rank correlation of one family: its players with MIN_RANKED_MATCHES rated matches and a known skill. */
typedef struct {
    size_t players;
    double by_mu, by_ordinal;
    double resid_rms, sigma_rms, within_sigma; /* mu around the line fitted on the hidden skill, against sigma */
} family_ranking;

/* The hidden skills of demo_world --skills ("SKILL MEMBER_ID NAME" lines) as a map guid -> double. NULL (said why)
 * when the file cannot be read. */
hashmap *eval_read_skills(const char *path);

/* Rank family fam's players: skills as eval_read_skills, ratings store_rating_key -> stored_rating (rater.c's),
 * matches store_rating_key -> double (rated matches). 0 or -ENOMEM. */
int eval_rank_family(rating_family fam, hashmap *skills, hashmap *ratings, hashmap *matches, family_ranking *out);

#endif
