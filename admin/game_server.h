/* `mohstats-admin hide|unhide|ban --server ID`: a game server left out of the lists, or banned (game_server.c). */
#ifndef MOHSTATS_ADMIN_GAME_SERVER_H
#define MOHSTATS_ADMIN_GAME_SERVER_H

#include <stdbool.h>

#include "admin.h"

/* Hide the server from the public lists of servers, or show it again; record it. 0 or a negative error. */
int game_server_hide(const admin_ctx *a, const char *id, bool hidden);
/* Ban the server after the operator's confirmation: its token revoked, its events refused; record it. */
int game_server_ban(const admin_ctx *a, const char *id);

#endif
