/* POST /api/v1/ingest/events: authenticate the game server, parse and enrich its batch, store it
 * durably (Redis stream, or the local spool when Redis is unreachable), then answer 202. */
#ifndef MOHSTATS_INGEST_API_H
#define MOHSTATS_INGEST_API_H

#include "http_server.h"
#include "live_state.h"
#include "redis_client.h"
#include "server_auth.h"
#include "spool.h"

typedef struct ingest_api ingest_api;

ingest_api *ingest_api_new(http_server *http, server_auth *auth, redis_client *redis, spool *sp, live_state *live,
                           const char *stream_key);
void ingest_api_free(ingest_api *api);

#endif
