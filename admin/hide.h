/* `mohstats-admin hide` / `unhide`: a player left out of the public lists, reversibly (hide.c). */
#ifndef MOHSTATS_ADMIN_HIDE_H
#define MOHSTATS_ADMIN_HIDE_H

#include <stdbool.h>

#include "player.h"

/* Hide (or show again) every GUID of t; record it. 0 or a negative error. */
int hide_run(const admin_ctx *a, const player_target *t, bool hidden);
/* Print the hidden GUIDs, one a line. */
int hide_list(const admin_ctx *a);

#endif
