/* authd's shared state and the small helpers its two API halves (game servers, forum) both use. The rules
 * (who may call what, what a login code is, what a login links) are in docs/api.md, "Login and identity". */
#ifndef MOHSTATS_AUTHD_H
#define MOHSTATS_AUTHD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "http_server.h"
#include "login_limit.h"
#include "mariadb.h"
#include "metrics.h"
#include "pg.h"
#include "rate_limit.h"

typedef struct cJSON cJSON;

typedef struct {
    pg_pool *pg;
    mdb_pool *mdb;
    uint8_t code_key[32];   /* AUTHD_TOKEN_KEY: login codes are derived from it and stored as MACs under it */
    char forum_hash[65];    /* FORUM_API_TOKEN_SHA256, lowercase; "" = forum calls not configured */
    char smf_prefix[32];    /* SMF_DB_PREFIX, checked to be [a-z0-9_] */
    int code_ttl_days;      /* LOGIN_TOKEN_TTL_DAYS */
    int pending_hours;      /* PENDING_IP_TTL_H */
    int max_identities;     /* AUTH_MAX_IDENTITIES */
    bool verify_from_any;   /* AUTH_VERIFY_FROM=any */
    login_limits verify_limits; /* failed game logins, per server and per player (login_limit.h) */
    rate_limit *forum_failures;
    metric *logins[9];      /* by outcome, see verify.c */
    metric *codes_issued, *forum_refused;
} authd;

extern const config_var authd_config_vars[];

/* Read and check the settings (key, hashes, numbers). Logs what is wrong and returns -EINVAL. */
int authd_settings_load(authd *a);

/* Rewrite the login codes stored before schema 0004 (bare SHA-256) as MACs, in the background; /ready says
 * when it is done (code_upgrade.c). */
void code_upgrade_start(authd *a, daemon_ctx *d);

/* Route registration of each half, and of the tournament links (tournament.c). */
void verify_routes(authd *a, http_server *s);
void forum_routes(authd *a, http_server *s);
void tournament_routes(authd *a, http_server *s);

/* Whether the request carries the forum's secret (X-Server-Token, FORUM_API_TOKEN_SHA256); if not, it has been
 * answered (401, 429 after repeated failures from one address, 503 when not configured). Every forum call
 * checks it first (forum.c). */
bool authd_forum_allowed(authd *a, http_request *req);

/* The request body as a JSON object: JSON when it starts with '{' (the tracker sends JSON under a form
 * Content-Type), else a form (key=value&...) whose values become strings. NULL when it is neither. */
cJSON *authd_body(http_request *req);
/* The same for a body already in hand (len bytes, may hold NULs). */
cJSON *authd_body_parse(const char *body, size_t len);
/* A member id from a JSON number or a string of digits: 1 .. 2^31-1, else 0. */
long authd_member_id(const cJSON *v);
long authd_member_str(const char *s);
/* A field as text: strings as they are, integral numbers without a fraction, others as %g; "" if absent. */
const char *authd_text(const cJSON *o, const char *name, char *buf, size_t len);
/* true for JSON true, a non-zero number, or "1"/"true"/"yes"/"on". */
bool authd_truthy(const cJSON *v);

#endif
