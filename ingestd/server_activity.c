/* Records in the server registry that a server has sent events: its first accepted batch, once. */
#include "server_activity.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"

/* What the map holds for a server: the registry already knows, or is being told. The value is a tag, not
 * memory: nothing to free. */
static char recorded_tag;

struct server_activity {
    pg_pool *pg;
    hashmap *recorded; /* server id -> &recorded_tag: no need to tell the registry again */
    int in_flight;     /* updates not answered yet: the pool answers them even after we are freed */
    bool closing;      /* freed while updates were in flight: the last answer frees */
};

/* One update in flight; the server id is copied because the batch that named it is gone by the answer. */
typedef struct {
    server_activity *s;
    char server_id[64];
} activity_update;

server_activity *server_activity_new(pg_pool *pg)
{
    server_activity *s = calloc(1, sizeof *s);
    if (!s || !(s->recorded = hashmap_new())) {
        free(s);
        return NULL;
    }
    s->pg = pg;
    return s;
}

void server_activity_free(server_activity *s)
{
    if (!s)
        return;
    if (s->in_flight > 0) {
        s->closing = true;
        return;
    }
    hashmap_free(s->recorded, NULL);
    free(s);
}

/* PostgreSQL answered: on failure forget the server, so its next batch tries again. */
static void on_recorded(PGresult *res, const char *err, void *arg)
{
    activity_update *u = arg;
    server_activity *s = u->s;
    s->in_flight--;
    if (s->closing) {
        free(u);
        server_activity_free(s);
        return;
    }
    if (!res) {
        log_warn("could not record that server %s has sent events (its address does not count for logins yet; "
                 "retried with its next batch): %s",
                 u->server_id, err ? err : "database unavailable");
        hashmap_remove(s->recorded, u->server_id, strlen(u->server_id));
    }
    free(u);
}

void server_activity_batch_accepted(server_activity *s, const char *server_id)
{
    size_t len = strlen(server_id);
    if (len >= sizeof((activity_update *)0)->server_id || hashmap_get(s->recorded, server_id, len))
        return; /* the hot path: one lookup, no allocation */
    /* Bounded like the token cache: forgetting only costs one no-op update per server. */
    if (hashmap_size(s->recorded) > 100000) {
        hashmap_free(s->recorded, NULL);
        if (!(s->recorded = hashmap_new()))
            abort();
    }
    activity_update *u = malloc(sizeof *u);
    if (!u || hashmap_put(s->recorded, server_id, len, &recorded_tag, NULL)) {
        free(u);
        return; /* out of memory: the next batch tries again */
    }
    u->s = s;
    s->in_flight++;
    memcpy(u->server_id, server_id, len + 1);
    const char *params[1] = {server_id};
    /* "IS NULL": the first batch's time is history, never moved by later ones. */
    if (pg_query(s->pg, "UPDATE servers SET first_batch_at = now() WHERE id = $1 AND first_batch_at IS NULL", 1, params,
                 on_recorded, u))
        on_recorded(NULL, "out of memory", u);
}
