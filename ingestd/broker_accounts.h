/* The game servers that may log in to the MQTT broker, exported from the server registry for the broker's plugin
 * (ingestd/broker_auth/), and the same list for ingestd's own check of who a message is from. */
#ifndef MOHSTATS_BROKER_ACCOUNTS_H
#define MOHSTATS_BROKER_ACCOUNTS_H

#include <uv.h>

#include "pg.h"

typedef struct broker_accounts broker_accounts;

/* Read the active servers (id and token hash) from the registry every refresh_ms; when path is not NULL, write
 * them to path ("ID HASH" lines, replaced atomically) whenever they changed. NULL when out of memory. */
broker_accounts *broker_accounts_new(uv_loop_t *loop, pg_pool *pg, const char *path, uint64_t refresh_ms);
/* Stops the timer; a query in flight finishes first (the object frees itself then). */
void broker_accounts_free(broker_accounts *a);

/* Whether server_id is a registered, active server: 1 yes, 0 no (unknown or revoked), -1 the registry has not
 * answered once since the start. */
int broker_accounts_active(const broker_accounts *a, const char *server_id);

#endif
