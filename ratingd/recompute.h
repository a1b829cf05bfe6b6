/* `ratingd recompute`: the whole rating history again from raw_events (recompute.c). */
#ifndef MOHSTATS_RATINGD_RECOMPUTE_H
#define MOHSTATS_RATINGD_RECOMPUTE_H

#include "ratingd.h"

/* argv as main's (argv[1] is "recompute"). Returns the process exit code. */
int recompute_main(const ratingd_settings *s, int argc, char **argv);

#endif
