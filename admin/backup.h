/* `mohstats-admin backup DIR` and `restore DIR` (backup.c): the four stores, consistent with each other while
 * ingest runs, and back onto a fresh stack. */
#ifndef MOHSTATS_ADMIN_BACKUP_H
#define MOHSTATS_ADMIN_BACKUP_H

#include "admin.h"

/* argv[0] is "backup" or "restore", argv[1] the directory. Returns the process's exit status. */
int backup_command(const admin_ctx *a, int argc, char **argv);

#endif
