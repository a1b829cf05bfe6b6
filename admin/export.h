/* `mohstats-admin export`: a player's rows as JSON lines (export.c). */
#ifndef MOHSTATS_ADMIN_EXPORT_H
#define MOHSTATS_ADMIN_EXPORT_H

#include <stdio.h>

#include "player.h"

/* Write every row of t's to out, one JSON object a line; record the export. 0 or a negative error. */
int export_run(const admin_ctx *a, const player_target *t, FILE *out);

#endif
