/* One accepted event -> one raw_events row: canonical type, columns from wire fields and aliases,
 * enrichment (server, receive time, ids, match key, map), rendered as a TabSeparated line. */
#ifndef MOHSTATS_EVENT_ROW_H
#define MOHSTATS_EVENT_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch_parse.h"
#include "bytebuf.h"
#include "event_model.h"
#include "geoip.h"
#include "raw_row.h"

/* Remembers each session's map, so events that carry none get the map of their session. */
typedef struct {
    /* The session's map, or NULL if not known. */
    const char *(*get)(void *arg, const char *session, size_t session_len, size_t *map_len);
    /* An event named the session's map. */
    void (*set)(void *arg, const char *session, size_t session_len, const char *map, size_t map_len);
    void *arg;
} session_maps;

/* The country a guest of the server connected from, found by their name (ingest_api.c: the batch's earlier events,
 * then live_server_guest_country). */
typedef struct {
    bool (*get)(void *arg, const char *name, size_t name_len, char out[3]);
    void *arg;
} guest_countries;

typedef struct {
    const char *server_id; /* from the token: a server_id in the payload never overrides it */
    uint64_t received_ms;  /* receive time, Unix epoch milliseconds */
    uint8_t batch_id[16];
    session_maps maps;
    const geoip *geo; /* the countries of players' addresses; NULL: none */
    guest_countries guests;
} event_context;

typedef struct {
    const char *p;
    size_t n;
} slice;

/* What the live state needs to know of an event. Every slice points into the batch, and map is only the
 * event's own map (never the session's, which the live state owns): a summary is read after the batch is
 * stored, when the live state may have changed. */
typedef struct {
    const event_type_def *type; /* NULL when the type is not in the vocabulary */
    slice type_sent, session, map;
    char match_key[24];
    slice actor_guid, actor_name, actor_team;
    slice target_guid, target_name, target_team;
    char actor_country[3]; /* of the address the event carried, "" when none or unknown */
} event_summary;

/* Append e's row (one TSV line, columns in raw_row_columns order) to out and describe it in *sum. Returns 0 or -ENOMEM. */
int event_row_render(const batch *b, const batch_event *e, const event_context *ctx, bytebuf *out, event_summary *sum);

/* The match key: match_id unless empty or "no_match", else the tracker session; hashed with the
 * server id so that matches never merge across servers or map loads. out gets "m" + 16 hex. */
void event_match_key(const char *server_id, const char *match_id, size_t match_len, const char *session,
                     size_t session_len, char out[24]);

#endif
