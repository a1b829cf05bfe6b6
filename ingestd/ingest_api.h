/* POST /api/v1/ingest/events: authenticate the game server, parse and enrich its batch, store it
 * durably (Redis stream, or the local spool when Redis is unreachable), then answer 202. */
#ifndef MOHSTATS_INGEST_API_H
#define MOHSTATS_INGEST_API_H

#include "http_server.h"
#include "live_state.h"
#include "redis_client.h"
#include "server_activity.h"
#include "server_auth.h"
#include "spool.h"

typedef struct ingest_api ingest_api;

/* What one request may cost (over either limit it is refused with 413 and a message naming the setting), and what
 * senders may send over time (beyond a budget, 429 with Retry-After; see ingest_api.c over_budget). */
typedef struct {
    size_t max_events;         /* INGEST_MAX_EVENTS: events per batch */
    size_t max_event_bytes;    /* INGEST_MAX_EVENT_BYTES: bytes of one event's rendered row */
    size_t server_bytes_per_s; /* INGEST_SERVER_BYTES_PER_S: bodies' bytes a second per server (0: no limit) */
    size_t server_burst_bytes; /* INGEST_SERVER_BURST_BYTES: ... of which this much at once */
    size_t large_body_bytes;   /* INGEST_LARGE_BODY_BYTES: a body this large is more than the stock tracker sends */
    size_t large_bytes_per_s;  /* INGEST_LARGE_BYTES_PER_S: large bodies' bytes a second, all servers (0: no limit) */
    size_t unverified_body_bytes; /* INGEST_UNVERIFIED_BODY_BYTES: bodies held at once whose token is not known yet */
    size_t max_body_bytes;        /* the HTTP server's: what a chunked body (no Content-Length) may grow to */
    uint64_t unverified_hold_ms;  /* HTTP_REQUEST_TIMEOUT_MS and a margin: a request still unread by then is gone */
} ingest_limits;

/* activity: told of every accepted batch (which servers have sent events, for authd). redis and bulk_redis: two
 * connections to the stream's Redis, for small and for large batches (ingest_api.c, append_lane_for). */
ingest_api *ingest_api_new(uv_loop_t *loop, http_server *http, server_auth *auth, server_activity *activity,
                           redis_client *redis, redis_client *bulk_redis, spool *sp, live_state *live,
                           const char *stream_key, const ingest_limits *limits);
void ingest_api_free(ingest_api *api);

#endif
