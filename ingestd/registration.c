/* Game server registration: identity by source address and port, tokens stored hashed. */
#include "registration.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_ip.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "random.h"
#include "rate_limit.h"
#include "sha256.h"

/* Every token: this prefix, then the base32 (random.c's alphabet) of 33 random bytes. */
#define TOKEN_PREFIX "mst_"
#define TOKEN_SYMBOLS 53 /* 264 bits / 5, rounded up */

struct registration {
    pg_pool *pg;
    server_auth *auth;
    rate_limit *limit;
    int closed;
    metric *ok, *refused, *rotated;
};

/* One registration waiting for PostgreSQL. */
typedef struct {
    registration *r;
    http_request *req;
    char token[64], hash[65], ip[64], name[128];
    int port;
} pending_registration;

void registration_new_token(char token[64], char hash[65])
{
    uint8_t raw[33];
    if (random_secure(raw, sizeof raw) != 0)
        abort(); /* no kernel randomness: issuing a guessable token would be worse than stopping */
    memcpy(token, TOKEN_PREFIX, 4);
    base32_encode(raw, sizeof raw, token + 4);
    sha256_hex(token, strlen(token), hash);
}

bool registration_token_well_formed(const char *token)
{
    return strncmp(token, TOKEN_PREFIX, 4) == 0 && strlen(token) == 4 + TOKEN_SYMBOLS &&
           strspn(token + 4, "0123456789abcdefghjkmnpqrstvwxyz") == TOKEN_SYMBOLS;
}

/* Why no row was (re-)registered, from what the statement saw of the identity before it ran. */
static void refuse_existing(pending_registration *pr, PGresult *res)
{
    registration *r = pr->r;
    bool existed = !PQgetisnull(res, 0, 2), active = existed && PQgetvalue(res, 0, 2)[0] == 't',
         pinned = existed && PQgetvalue(res, 0, 3)[0] == 't';
    metric_inc(r->refused);
    if (existed && !active) {
        log_warn("registration refused for %s port %d: the server was revoked", pr->ip, pr->port);
        http_respond_error(pr->req, 403, "This server was revoked by the operator");
    } else if (pinned) {
        log_warn("registration refused for %s port %d: server %s is pinned", pr->ip, pr->port, PQgetvalue(res, 0, 4));
        http_respond_error(pr->req, 403,
                           "This server is pinned by the operator and cannot be registered again: set its token "
                           "(opm_server_token) in the server's config, or ask the operator to unpin it (ingestd "
                           "servers unpin)");
    } else if (!r->closed) {
        /* Open mode refuses only an existing identity: one a concurrent statement made after ours looked. */
        log_warn("registration refused for %s port %d: a concurrent registration changed the server", pr->ip, pr->port);
        http_respond_error(pr->req, 409, "Another registration for this address and port was in progress; try again");
    } else {
        log_warn("registration refused for %s port %d: registration is closed and no such server exists", pr->ip,
                 pr->port);
        http_respond_error(pr->req, 403,
                           "Registration is closed: ask the operator to create this server (ingestd servers "
                           "create)");
    }
}

/* PostgreSQL answered the upsert: one row (server_id or NULL, rotated, and the identity as it was before:
 * is_active, pinned, id). */
static void on_registered(PGresult *res, const char *err, void *arg)
{
    pending_registration *pr = arg;
    registration *r = pr->r;
    if (!res || PQntuples(res) != 1) {
        log_error("registration of %s port %d failed: %s", pr->ip, pr->port, err ? err : "database unavailable");
        metric_inc(r->refused);
        http_respond_error(pr->req, 503, "Server registry unavailable; try again shortly");
    } else if (PQgetisnull(res, 0, 0)) {
        refuse_existing(pr, res);
    } else {
        const char *id = PQgetvalue(res, 0, 0);
        server_auth_forget_server(r->auth, id);
        server_auth_remember(r->auth, pr->hash, id);
        metric_inc(r->ok);
        if (PQgetvalue(res, 0, 1)[0] == 't') {
            /* The stock tracker does this on every start when its config has no token, and so can anyone else
             * sending from this address: the log and the counter let an operator match rotations with restarts. */
            metric_inc(r->rotated);
            log_info("server %s re-registered from %s port %d (\"%s\"): its token was rotated, the previous one "
                     "no longer works",
                     id, pr->ip, pr->port, pr->name);
        } else {
            log_info("server %s registered from %s port %d (\"%s\")", id, pr->ip, pr->port, pr->name);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "server_id", id);
        cJSON_AddStringToObject(o, "token", pr->token);
        http_respond_json(pr->req, 200, o);
    }
    memset(pr->token, 0, sizeof pr->token);
    free(pr);
}

/* The port as a number or a numeric string; 0 if invalid. */
static int parse_port(const cJSON *p)
{
    double v;
    if (cJSON_IsNumber(p)) {
        v = p->valuedouble;
    } else if (cJSON_IsString(p)) {
        char *end;
        v = strtod(p->valuestring, &end);
        if (end == p->valuestring || *end)
            return 0;
    } else {
        return 0;
    }
    return v >= 1 && v <= 65535 && v == (int)v ? (int)v : 0;
}

/* POST /api/v1/servers/register {"name", "ip_address", "port"}. */
static void register_handler(http_request *req, void *arg)
{
    registration *r = arg;
    const char *ip = client_ip(req);
    char key[CLIENT_LIMIT_KEY_LEN];
    client_limit_key(ip, key);
    if (!rate_limit_take(r->limit, key, uv_hrtime() / 1000000)) {
        metric_inc(r->refused);
        log_warn("registration refused for %s: too many registrations from this address", ip);
        http_respond_error(req, 429, "Too many registrations from this address; wait a minute");
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    int port = parse_port(cJSON_GetObjectItemCaseSensitive(o, "port"));
    if (!cJSON_IsObject(o) || port == 0 || (name && !cJSON_IsString(name))) {
        cJSON_Delete(o);
        metric_inc(r->refused);
        log_warn("registration refused for %s: malformed body", ip);
        http_respond_error(req, 400,
                           "Expected a JSON object {\"name\": string, \"ip_address\": string, \"port\": 1-65535}");
        return;
    }
    pending_registration *pr = calloc(1, sizeof *pr);
    if (!pr) {
        cJSON_Delete(o);
        http_respond_error(req, 503, "Out of memory");
        return;
    }
    pr->r = r;
    pr->req = req;
    pr->port = port;
    snprintf(pr->ip, sizeof pr->ip, "%s", ip);
    snprintf(pr->name, sizeof pr->name, "%s", name && name->valuestring[0] ? name->valuestring : "OpenMOHAA Server");
    cJSON_Delete(o);
    registration_new_token(pr->token, pr->hash);

    char id[37], port_s[8], prefix[12];
    uint8_t raw[16];
    uuid_v4(raw);
    uuid_format(raw, id);
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(prefix, sizeof prefix, "%.8s", pr->token);
    /* Each statement answers one row: the server id if it (re-)registered (NULL if refused), whether that
     * replaced an existing token, and the identity as it was before (NULLs if there was none), so a refusal can
     * say why. Pinned and revoked identities are never touched. */
    int rc;
    if (r->closed) {
        const char *params[5] = {pr->hash, prefix, pr->name, pr->ip, port_s};
        rc = pg_query(r->pg,
                      "WITH old AS (SELECT id, is_active, pinned FROM servers\n"
                      "              WHERE ip_address = $4::inet AND port = $5::int),\n"
                      "     up AS (UPDATE servers\n"
                      "               SET token_hash = $1, token_prefix = $2, name = $3, updated_at = now()\n"
                      "             WHERE ip_address = $4::inet AND port = $5::int AND is_active AND NOT pinned\n"
                      "            RETURNING id)\n"
                      "SELECT up.id, up.id IS NOT NULL, old.is_active, old.pinned, old.id\n"
                      "  FROM (SELECT 1) one LEFT JOIN up ON true LEFT JOIN old ON true",
                      5, params, on_registered, pr);
    } else {
        /* One statement, so two registrations racing for one identity cannot both create it. A row the
         * ON CONFLICT branch updated has this transaction's id in xmax, a row it inserted has 0: that tells a
         * rotation from a new server even when the identity was created by a racing registration. */
        const char *params[6] = {id, pr->name, pr->ip, port_s, pr->hash, prefix};
        rc = pg_query(r->pg,
                      "WITH old AS (SELECT id, is_active, pinned FROM servers\n"
                      "              WHERE ip_address = $3::inet AND port = $4::int),\n"
                      "     up AS (INSERT INTO servers (id, name, ip_address, port, token_hash, token_prefix,\n"
                      "                                 registered_from_ip)\n"
                      "            VALUES ($1, $2, $3::inet, $4::int, $5, $6, $3::inet)\n"
                      "            ON CONFLICT (ip_address, port) DO UPDATE\n"
                      "               SET token_hash = EXCLUDED.token_hash, token_prefix = EXCLUDED.token_prefix,\n"
                      "                   name = EXCLUDED.name, updated_at = now()\n"
                      "             WHERE servers.is_active AND NOT servers.pinned\n"
                      "            RETURNING id, xmax::text <> '0' AS rotated)\n"
                      "SELECT up.id, coalesce(up.rotated, false), old.is_active, old.pinned, old.id\n"
                      "  FROM (SELECT 1) one LEFT JOIN up ON true LEFT JOIN old ON true",
                      6, params, on_registered, pr);
    }
    if (rc)
        on_registered(NULL, "out of memory", pr);
}

registration *registration_new(http_server *http, pg_pool *pg, server_auth *auth)
{
    registration *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->pg = pg;
    r->auth = auth;
    const char *mode = config_get("REGISTRATION_MODE");
    r->closed = mode && strcmp(mode, "closed") == 0;
    r->limit = rate_limit_new((double)config_get_int("REGISTRATION_PER_MINUTE", 10), 10);
    r->ok = metrics_counter("mohstats_registrations_total", "Server registrations by outcome", "outcome=\"ok\"");
    r->refused =
        metrics_counter("mohstats_registrations_total", "Server registrations by outcome", "outcome=\"refused\"");
    r->rotated = metrics_counter("mohstats_registration_token_rotations_total",
                                 "Registrations that replaced the token of an existing server (the old one stopped "
                                 "working)",
                                 NULL);
    if (!r->limit) {
        free(r);
        return NULL;
    }
    http_server_route(http, "POST", "/api/v1/servers/register", register_handler, r);
    return r;
}

void registration_free(registration *r)
{
    if (!r)
        return;
    rate_limit_free(r->limit);
    free(r);
}
