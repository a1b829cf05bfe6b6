/* Bounded bytes of bodies whose sender's token is not known yet (see unverified_bodies.h). */
#include "unverified_bodies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/* One charge. Charges are made with one hold each, so they expire in the order they were made: a list in that
 * order, oldest first, is also the order of their deadlines. */
typedef struct charge {
    uint64_t id, deadline_ms;
    size_t bytes;
    size_t *sender_held; /* the sender's count in by_sender, which lives while the sender holds a charge */
    char sender[64];
    struct charge *prev, *next;
} charge;

struct unverified_bodies {
    size_t max_bytes, sender_bytes, held;
    uint64_t hold_ms, next_id;
    hashmap *by_id;     /* id (its 8 bytes) -> charge */
    hashmap *by_sender; /* sender -> size_t, the bytes it holds (only senders that hold some) */
    charge *oldest, *newest;
};

unverified_bodies *unverified_bodies_new(size_t max_bytes, size_t sender_bytes, uint64_t hold_ms)
{
    unverified_bodies *u = calloc(1, sizeof *u);
    if (!u || !(u->by_id = hashmap_new()) || !(u->by_sender = hashmap_new())) {
        if (u)
            hashmap_free(u->by_id, NULL);
        free(u);
        return NULL;
    }
    u->max_bytes = max_bytes;
    u->sender_bytes = sender_bytes;
    u->hold_ms = hold_ms;
    u->next_id = 1;
    return u;
}

void unverified_bodies_free(unverified_bodies *u)
{
    if (!u)
        return;
    hashmap_free(u->by_id, free);
    hashmap_free(u->by_sender, free);
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
    if ((*c->sender_held -= c->bytes) == 0)
        free(hashmap_remove(u->by_sender, c->sender, strlen(c->sender)));
    free(c);
}

/* Release the charges whose hold ended by now_ms: their requests are gone. */
static void expire(unverified_bodies *u, uint64_t now_ms)
{
    while (u->oldest && u->oldest->deadline_ms <= now_ms)
        charge_drop(u, u->oldest);
}

/* The count of bytes sender holds, made (at 0) if it has none: NULL on ENOMEM. */
static size_t *sender_count(unverified_bodies *u, const char *sender)
{
    size_t *n = hashmap_get(u->by_sender, sender, strlen(sender));
    if (n)
        return n;
    if (!(n = calloc(1, sizeof *n)) || hashmap_put(u->by_sender, sender, strlen(sender), n, NULL) != 0) {
        free(n);
        return NULL;
    }
    return n;
}

uint64_t unverified_bodies_take(unverified_bodies *u, const char *sender, size_t len, uint64_t now_ms)
{
    expire(u, now_ms);
    if (len == 0)
        len = 1; /* every charge counts: a sender's count goes when its last charge does */
    if (len > u->max_bytes - u->held)
        return 0;
    charge *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    snprintf(c->sender, sizeof c->sender, "%s", sender);
    size_t *n = sender_count(u, c->sender);
    if (!n || len > u->sender_bytes - *n) {
        if (n && *n == 0)
            free(hashmap_remove(u->by_sender, c->sender, strlen(c->sender)));
        free(c);
        return 0;
    }
    c->id = u->next_id++;
    c->deadline_ms = now_ms + u->hold_ms;
    c->bytes = len;
    c->sender_held = n;
    c->prev = u->newest;
    if (hashmap_put(u->by_id, (const char *)&c->id, sizeof c->id, c, NULL) != 0) {
        if (*n == 0)
            free(hashmap_remove(u->by_sender, c->sender, strlen(c->sender)));
        free(c);
        return 0;
    }
    *n += len;
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
