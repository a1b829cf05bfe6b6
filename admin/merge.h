/* `mohstats-admin merge`: two GUIDs of one person made one player (merge.c says how, and why it is exact). */
#ifndef MOHSTATS_ADMIN_MERGE_H
#define MOHSTATS_ADMIN_MERGE_H

#include <stdbool.h>

#include "player.h"

/* Merge the GUID of from into the GUID of into after the operator's confirmation; record it. force: merge even
 * when they are linked to two different forum members. 0 or a negative error. */
int merge_run(const admin_ctx *a, const player_target *from, const player_target *into, bool force);

#endif
