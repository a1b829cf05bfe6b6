/* POST /api/v1/servers/register: a game server obtains its id and token.
 *
 * The rule: a server's identity is the address its requests come from plus the game port it
 * claims. Registering again from that same address and port (the tracker does so on every process
 * start) returns the same server id with a new token; the old token stops working. Nobody elsewhere
 * can take over or lock out that identity, because their requests come from another address; the
 * `ip_address` the body claims is only informative. With REGISTRATION_MODE=closed only servers an
 * operator created (`ingestd servers create`) can (re-)register. Registrations are rate limited
 * per source address. Revoked servers cannot register again. */
#ifndef MOHSTATS_REGISTRATION_H
#define MOHSTATS_REGISTRATION_H

#include "http_server.h"
#include "pg.h"
#include "server_auth.h"

typedef struct registration registration;

registration *registration_new(http_server *http, pg_pool *pg, server_auth *auth);
void registration_free(registration *r);

/* A new token ("mst_" + 53 base32 characters: 264 random bits) and its SHA-256 hex. */
void registration_new_token(char token[64], char hash[65]);

#endif
