/* POST /api/v1/ingest/events: authenticate the game server, parse and enrich its batch, store it
 * durably (Redis stream, or the local spool when Redis is unreachable), then answer 202. */
#ifndef MOHSTATS_INGEST_API_H
#define MOHSTATS_INGEST_API_H

#include <stdbool.h>
#include <stdint.h>

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

/* How a batch that came by another transport (MQTT) ended: status as POST /api/v1/ingest/events would have
 * answered (202: stored durably, or empty; 4xx: refused for good; 503: could not be stored), reason the refusal's
 * label in mohstats_ingest_rejected_total (NULL when stored), message what the HTTP body would have said. */
typedef void (*ingest_done_fn)(int status, const char *reason, const char *message, void *arg);

/* What a transport knows of a batch besides its bytes. */
typedef struct {
    const char *origin;      /* names the sender in log lines */
    const uint8_t *batch_id; /* 16 bytes: the batch's id, the same for every copy a transport delivers again (NULL:
                                a new random one) */
    bool maybe_duplicate;    /* a copy may be stored already: consumers check for batch_id (stream.h) */
    uint32_t dedupe_ttl_s;   /* not 0: the batch is stored once within this many seconds (stream.h) */
} ingest_submission;

/* Ingest len bytes of body (copied) as a batch of server_id, whom its transport authenticated (the MQTT broker,
 * by its credentials and topic ACL): the same budgets, parsing, quirks, enrichment, limits and durable append as
 * an HTTP batch, then done(...) on the loop's thread, possibly from within this call. 0, or -ENOMEM (done is not
 * called). */
int ingest_api_submit(ingest_api *api, const char *server_id, const ingest_submission *how, const char *body,
                      size_t len, ingest_done_fn done, void *arg);

/* How long a batch of len bytes from server_id must wait before its budgets let it through (0: it would pass now,
 * ingest_api_submit would not answer 429): for a transport that holds a batch back rather than refuse it. */
uint64_t ingest_api_budget_wait_ms(ingest_api *api, const char *server_id, size_t len);
/* How long a server's budget takes to pass bytes more, at INGEST_SERVER_BYTES_PER_S, in ms (0 without budgets). */
uint64_t ingest_api_budget_drain_ms(const ingest_api *api, size_t bytes);

#endif
