/* `mohstats-admin erase`: every row of a player's, everywhere (erase.c says how, and why it is exact). */
#ifndef MOHSTATS_ADMIN_ERASE_H
#define MOHSTATS_ADMIN_ERASE_H

#include "player.h"

/* Erase t after the operator's confirmation; record it. 0 or a negative error. */
int erase_run(const admin_ctx *a, const player_target *t);

#endif
