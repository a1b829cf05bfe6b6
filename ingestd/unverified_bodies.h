/* The bytes of request bodies held for senders whose server token is not known yet, bounded in all and per sender.
 *
 * A request's token is looked up in PostgreSQL after its body has been read (the lookup is asynchronous; an
 * admission check cannot wait for it). A token of the right shape that is in no cache may be anyone's: without a
 * bound, a sender of made-up tokens could hold a 1 MiB body on every connection it opens. Each such body is
 * charged here from its announced length when its headers arrive, and released once its token is resolved; a
 * request whose connection went away before that is released when its hold ends (the server has given up on it
 * by then: HTTP_REQUEST_TIMEOUT_MS). Each sender (its address, or /64) may hold only a share of the bound, so that
 * one address cannot take all of it from the servers that ingestd has not seen yet. */
#ifndef MOHSTATS_UNVERIFIED_BODIES_H
#define MOHSTATS_UNVERIFIED_BODIES_H

#include <stddef.h>
#include <stdint.h>

typedef struct unverified_bodies unverified_bodies;

/* At most max_bytes held at once, of which at most sender_bytes by one sender; a charge not released within hold_ms
 * is released then. NULL on ENOMEM. */
unverified_bodies *unverified_bodies_new(size_t max_bytes, size_t sender_bytes, uint64_t hold_ms);
void unverified_bodies_free(unverified_bodies *u);

/* Charge a body of len bytes from sender (a string key, at most 63 bytes are used) at time now_ms (milliseconds,
 * monotonic): its id (never 0), or 0 if that would take the bytes held in all, or by that sender, over their bound
 * (or on ENOMEM). */
uint64_t unverified_bodies_take(unverified_bodies *u, const char *sender, size_t len, uint64_t now_ms);
/* Release a charge; an id of 0, or of a charge released already or expired, is ignored. */
void unverified_bodies_release(unverified_bodies *u, uint64_t id);
/* Bytes held now in all (after releasing what expired by now_ms). */
size_t unverified_bodies_held(unverified_bodies *u, uint64_t now_ms);

#endif
