/* Game server authentication: the server token of a request -> the server's id, cached.
 * Tokens are looked up by their SHA-256 only. A database outage never turns into 401: known tokens
 * keep working from the cache, unknown ones get 503 (retry), never "Invalid server token". */
#ifndef MOHSTATS_SERVER_AUTH_H
#define MOHSTATS_SERVER_AUTH_H

#include <uv.h>

#include "http_server.h"
#include "pg.h"

typedef struct server_auth server_auth;

typedef enum {
    SERVER_AUTH_OK,
    SERVER_AUTH_MISSING,     /* 401 Missing server token */
    SERVER_AUTH_INVALID,     /* 401 Invalid server token (unknown or revoked) */
    SERVER_AUTH_UNAVAILABLE, /* 503: the registry could not be asked and the token is not cached */
} server_auth_result;

/* server_id is valid during the call. */
typedef void (*server_auth_fn)(server_auth_result result, const char *server_id, void *arg);

server_auth *server_auth_new(pg_pool *pg);
void server_auth_free(server_auth *a);

/* The token of a request: X-Server-Token, else Authorization: Bearer, else ?server_token=. */
const char *server_auth_token(const http_request *req);

/* The token of a request from its headers only (X-Server-Token, else Authorization: Bearer), for checks made before
 * the request's query is parsed; NULL if none. */
const char *server_auth_header_token(const http_request *req);

/* Whether a raw query string names its token pair plainly, "server_token=" as written: only that spelling is a
 * token (the front door scrubs it from nginx's logs; server%5Ftoken= would put the token in them). */
bool server_auth_query_token_plain(const char *query);

/* The server id of token if the registry confirmed it once, however long ago (NULL if never, or if it said no
 * since): a server seen before, though it may have been revoked meanwhile (the next lookup tells). Nothing is asked
 * of the registry. Valid until the next call into server_auth. */
const char *server_auth_known(server_auth *a, const char *token);

/* Resolve token (NULL or empty = missing). cb may run before this returns (cache hit). */
void server_auth_check(server_auth *a, const char *token, server_auth_fn cb, void *arg);

/* Put a freshly issued token in the cache (registration). */
void server_auth_remember(server_auth *a, const char *token_hash, const char *server_id);
/* Forget every cached token of a server (its token was replaced), so the old one stops working at once. */
void server_auth_forget_server(server_auth *a, const char *server_id);

#endif
