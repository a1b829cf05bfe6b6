/* Which servers have sent events: the registry's first_batch_at, set when a server's first batch is accepted.
 * authd trusts logins only from the address of a server that has sent events (AUTH_VERIFY_FROM=registered), so
 * registering alone, which anyone can do in open mode, does not make an address a "registered server". */
#ifndef MOHSTATS_SERVER_ACTIVITY_H
#define MOHSTATS_SERVER_ACTIVITY_H

#include "pg.h"

typedef struct server_activity server_activity;

server_activity *server_activity_new(pg_pool *pg);
void server_activity_free(server_activity *s);

/* A batch of server_id's was accepted. Asks PostgreSQL at most once per server and process (again only if
 * that failed); the column is written at most once per server. Never delays the batch. */
void server_activity_batch_accepted(server_activity *s, const char *server_id);

#endif
