/* `mohstats-admin rename`: the display name served for a GUID, pinned by the operator, or given back (rename.c). */
#ifndef MOHSTATS_ADMIN_RENAME_H
#define MOHSTATS_ADMIN_RENAME_H

#include "player.h"

/* `rename GUID NAME` or `rename GUID --clear` (argv[0] is "rename"). 0, 2 for a usage error, else 1. */
int rename_command(const admin_ctx *a, int argc, char **argv);

#endif
