/* POST /api/v1/servers/register: a game server obtains its id and token.
 *
 * The rule: a server's identity is the address its requests come from plus the game port it
 * claims. Registering again from that same address and port (the stock tracker does so on every
 * process start when its config sets no token, and after any 401) returns the same server id with a
 * new token; the old token stops working. That trusts whoever can send from the address: on shared
 * game hosting, every tenant of the host. So every such rotation is logged and counted
 * (mohstats_registration_token_rotations_total), and an operator can pin a server (`ingestd servers
 * pin`; `ingestd servers create` makes pinned servers): a pinned server is never registered again,
 * by anyone, and keeps the token in its config. Nobody at another address can take over or lock out
 * an identity: the `ip_address` the body claims is only informative. With REGISTRATION_MODE=closed
 * no new identity is made; any active server that is not pinned still re-registers, as above.
 * Registrations are rate limited per source address. Revoked servers cannot register again. */
#ifndef MOHSTATS_REGISTRATION_H
#define MOHSTATS_REGISTRATION_H

#include <stdbool.h>

#include "http_server.h"
#include "pg.h"
#include "server_auth.h"

typedef struct registration registration;

registration *registration_new(http_server *http, pg_pool *pg, server_auth *auth);
void registration_free(registration *r);

/* A new token ("mst_" + 53 base32 characters: 264 random bits) and its SHA-256 hex. */
void registration_new_token(char token[64], char hash[65]);
/* Whether token has the shape registration_new_token gives every token: any other string is no server's token, and
 * can be refused without asking the registry. */
bool registration_token_well_formed(const char *token);

#endif
