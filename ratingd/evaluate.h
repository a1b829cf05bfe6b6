/* `ratingd evaluate`: how well the ratings predict, against two baselines (evaluate.c). */
#ifndef MOHSTATS_RATINGD_EVALUATE_H
#define MOHSTATS_RATINGD_EVALUATE_H

#include "ratingd.h"

/* argv as main's (argv[1] is "evaluate"). Returns the process exit code. */
int evaluate_main(const ratingd_settings *s, int argc, char **argv);

#endif
