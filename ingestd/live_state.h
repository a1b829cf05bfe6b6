/* Live state per game server, kept from the events ingestd accepts: current map, session and match,
 * players seen recently with team, kills and deaths, last event time. Published to the Redis hash
 * `live_matches` (field = server id, value = JSON) at most once a tick (a second) per server, and dropped
 * when a server has been quiet for LIVE_TTL_MS. Also remembers each session's map, so events that
 * carry none are stored with their session's map: kept in the Redis hash `ingest_session_maps` (field =
 * server id) until the server has been quiet for SESSION_MAP_TTL_S, so that a map running on with nobody
 * playing, or a restart of ingestd, does not cost the next events their map. */
#ifndef MOHSTATS_LIVE_STATE_H
#define MOHSTATS_LIVE_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "event_row.h"
#include "redis_client.h"

typedef struct live_state live_state;
typedef struct live_server live_server;

/* The live state's clock: how often it publishes and ages servers, and how long a quiet server lasts. */
typedef struct {
    uint64_t tick_ms;        /* publish changed servers, unlist and forget quiet ones this often (0: a second) */
    uint64_t ttl_ms;         /* LIVE_TTL_MS: a server quiet this long leaves the live view */
    uint64_t session_ttl_ms; /* SESSION_MAP_TTL_S: a server quiet this long has its sessions' maps forgotten */
} live_state_timing;

/* ingestd's timing: a tick a second (live_matches is read as "at most a second old"), the lifetimes from the
 * settings. A test passes a shorter one of its own rather than waiting out seconds. */
live_state_timing live_state_timing_from_config(void);
live_state *live_state_new(uv_loop_t *loop, redis_client *redis, live_state_timing timing);
/* Stop timers and free (state lives on in Redis until it expires). done may be NULL. */
void live_state_close(live_state *ls, void (*done)(void *arg), void *arg);

/* Redis (re)connected: read the stored state back now rather than at the next tick, so that the first
 * batches after a restart already get their sessions' maps. */
void live_state_redis_connected(live_state *ls);
/* The stored state was read back (for /ready). */
bool live_state_restored(const live_state *ls);

/* The state of one server (created on first use); NULL only when out of memory. */
live_server *live_state_server(live_state *ls, const char *server_id);
/* The session->map memory of one server, for event_row_render. */
session_maps live_server_session_maps(live_server *s);
/* The country of the guest (unauth_) of that name on this server, from the address of their connect: a login
 * (player_auth) names the member, not the guest, and carries no address (event_context.guest_countries). */
bool live_server_guest_country(live_server *s, const char *name, size_t len, char out[3]);
/* Account an accepted (durably stored) event. */
void live_server_observe(live_server *s, const event_summary *ev, uint64_t received_ms);

#endif
