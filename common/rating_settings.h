/* The rating model's settings, one for every daemon that rates or predicts: ratingd stores each match's win
 * probabilities with them and queryd computes the chances it serves (the forum's predictions, a team against
 * another) and the uncertainty it serves with them, so that the two always agree (docs/ratings.md). */
#ifndef MOHSTATS_RATING_SETTINGS_H
#define MOHSTATS_RATING_SETTINGS_H

#include "config.h"
#include "rating.h"

/* RATING_BETA, RATING_START_WEIGHT and RATING_INACTIVITY_SIGMA_PER_DAY; register them (config_register) before reading them. */
extern const config_var rating_model_config_vars[];

/* The model: OpenSkill's defaults with RATING_BETA and RATING_START_WEIGHT. 0, or -EINVAL after logging what is wrong. */
int rating_model_load(rating_model *m);

/* RATING_INACTIVITY_SIGMA_PER_DAY (rating_sigma_at's per_day). 0, or -EINVAL after logging what is wrong. */
int rating_inactivity_load(double *per_day);

#endif
