/* Bounded bytes of bodies whose sender's token is not known yet (see unverified_bodies.h). */
#include "unverified_bodies.h"

#include <stdlib.h>

#include "hashmap.h"

/* One charge. Charges are made with one hold each, so they expire in the order they were made: a list in that
 * order, oldest first, is also the order of their deadlines. */
typedef struct charge {
    uint64_t id, deadline_ms;
    size_t bytes;
    struct charge *prev, *next;
} charge;

struct unverified_bodies {
    size_t max_bytes, held;
    uint64_t hold_ms, next_id;
    hashmap *by_id; /* id (its 8 bytes) -> charge */
    charge *oldest, *newest;
};

unverified_bodies *unverified_bodies_new(size_t max_bytes, uint64_t hold_ms)
{
    unverified_bodies *u = calloc(1, sizeof *u);
    if (!u || !(u->by_id = hashmap_new())) {
        free(u);
        return NULL;
    }
    u->max_bytes = max_bytes;
    u->hold_ms = hold_ms;
    u->next_id = 1;
    return u;
}

void unverified_bodies_free(unverified_bodies *u)
{
    if (!u)
        return;
    hashmap_free(u->by_id, free);
    free(u);
}

/* Take c out of the list and the map, give its bytes back, and free it. */
static void charge_drop(unverified_bodies *u, charge *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        u->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        u->newest = c->prev;
    hashmap_remove(u->by_id, (const char *)&c->id, sizeof c->id);
    u->held -= c->bytes;
    free(c);
}

/* Release the charges whose hold ended by now_ms: their requests are gone. */
static void expire(unverified_bodies *u, uint64_t now_ms)
{
    while (u->oldest && u->oldest->deadline_ms <= now_ms)
        charge_drop(u, u->oldest);
}

uint64_t unverified_bodies_take(unverified_bodies *u, size_t len, uint64_t now_ms)
{
    expire(u, now_ms);
    if (len > u->max_bytes - u->held)
        return 0;
    charge *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    *c = (charge){.id = u->next_id++, .deadline_ms = now_ms + u->hold_ms, .bytes = len, .prev = u->newest};
    if (hashmap_put(u->by_id, (const char *)&c->id, sizeof c->id, c, NULL) != 0) {
        free(c);
        return 0;
    }
    if (u->newest)
        u->newest->next = c;
    else
        u->oldest = c;
    u->newest = c;
    u->held += len;
    return c->id;
}

void unverified_bodies_release(unverified_bodies *u, uint64_t id)
{
    if (!id)
        return;
    charge *c = hashmap_get(u->by_id, (const char *)&id, sizeof id);
    if (c)
        charge_drop(u, c);
}

size_t unverified_bodies_held(unverified_bodies *u, uint64_t now_ms)
{
    expire(u, now_ms);
    return u->held;
}
