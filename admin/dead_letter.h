/* `mohstats-admin dead`: the dead-letter stream's batches listed, shown, replayed after a fix, trimmed
 * (dead_letter.c). */
#ifndef MOHSTATS_ADMIN_DEAD_LETTER_H
#define MOHSTATS_ADMIN_DEAD_LETTER_H

#include "admin.h"

/* Run `dead` with its arguments (argv[0] is "dead"); 0, 2 for a usage error, or 1. */
int dead_letter_run(const admin_ctx *a, int argc, char **argv);

#endif
