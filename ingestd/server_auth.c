/* Server token -> server id, with a cache that rides out PostgreSQL outages. */
#include "server_auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "sha256.h"

/* A lookup waiting for the registry's answer. */
typedef struct waiter {
    server_auth_fn cb;
    void *arg;
    struct waiter *next;
} waiter;

/* One cached token, by hash. */
typedef struct {
    char server_id[64];
    int valid;            /* 1 known and active, 0 unknown or revoked */
    uint64_t expires_ms;  /* re-ask the registry after this */
    waiter *waiters;      /* non-NULL while a query is in flight */
    int querying;
} cache_entry;

struct server_auth {
    pg_pool *pg;
    hashmap *cache;
    uint64_t ttl_ms, negative_ttl_ms;
    metric *hits, *misses, *errors;
};

typedef struct {
    server_auth *a;
    char hash[65];
} query_ctx;

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

server_auth *server_auth_new(pg_pool *pg)
{
    server_auth *a = calloc(1, sizeof *a);
    if (!a || !(a->cache = hashmap_new())) {
        free(a);
        return NULL;
    }
    a->pg = pg;
    a->ttl_ms = (uint64_t)config_get_int("SERVER_TOKEN_CACHE_MS", 60000);
    a->negative_ttl_ms = 5000;
    a->hits = metrics_counter("mohstats_server_auth_cache_total", "Server token lookups by cache outcome",
                              "outcome=\"hit\"");
    a->misses = metrics_counter("mohstats_server_auth_cache_total", "Server token lookups by cache outcome",
                                "outcome=\"miss\"");
    a->errors = metrics_counter("mohstats_server_auth_errors_total",
                                "Token lookups the registry could not answer (PostgreSQL unavailable)", NULL);
    return a;
}

/* Free a cache entry (no query may be in flight: the pool was drained before). */
static void entry_free(void *p)
{
    cache_entry *e = p;
    while (e->waiters) {
        waiter *w = e->waiters;
        e->waiters = w->next;
        w->cb(SERVER_AUTH_UNAVAILABLE, NULL, w->arg);
        free(w);
    }
    free(e);
}

void server_auth_free(server_auth *a)
{
    if (!a)
        return;
    hashmap_free(a->cache, entry_free);
    free(a);
}

const char *server_auth_header_token(const http_request *req)
{
    const char *t = http_request_header(req, "X-Server-Token");
    if (t && *t)
        return t;
    const char *auth = http_request_header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 && auth[7])
        return auth + 7;
    return NULL;
}

bool server_auth_query_token_plain(const char *query)
{
    static const char name[] = "server_token";
    for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, sizeof name - 1) == 0 && (p[sizeof name - 1] == '=' || p[sizeof name - 1] == '&' ||
                                                      p[sizeof name - 1] == '\0'))
            return true;
    return false;
}

const char *server_auth_token(const http_request *req)
{
    const char *t = server_auth_header_token(req);
    if (t)
        return t;
    t = http_request_query(req, "server_token");
    /* Only under its plain name: the front door scrubs "server_token=" from what nginx logs, and a name spelled
     * with escapes (server%5Ftoken) would put the token in its logs. Such a request has no token (401). */
    if (t && !server_auth_query_token_plain(http_request_query_string(req)))
        return NULL;
    return t && *t ? t : NULL;
}

const char *server_auth_known(server_auth *a, const char *token)
{
    if (!token || !*token)
        return NULL;
    char hash[65];
    sha256_hex(token, strlen(token), hash);
    const cache_entry *e = hashmap_get(a->cache, hash, 64);
    return e && e->valid ? e->server_id : NULL;
}

/* The registry answered (or failed): settle the entry and every waiter. */
static void on_lookup(PGresult *res, const char *err, void *arg)
{
    query_ctx *q = arg;
    server_auth *a = q->a;
    cache_entry *e = hashmap_get(a->cache, q->hash, 64);
    free(q);
    if (!e)
        return;
    e->querying = 0;
    server_auth_result result;
    if (!res) {
        metric_inc(a->errors);
        log_warn("server registry unavailable for a token lookup: %s", err ? err : "unknown error");
        /* Stale but known beats refusing: a database outage must not look like a bad token. */
        result = e->valid ? SERVER_AUTH_OK : SERVER_AUTH_UNAVAILABLE;
    } else {
        if (PQntuples(res) == 1) {
            snprintf(e->server_id, sizeof e->server_id, "%s", PQgetvalue(res, 0, 0));
            e->valid = 1;
            e->expires_ms = now_ms() + a->ttl_ms;
        } else {
            e->valid = 0;
            e->expires_ms = now_ms() + a->negative_ttl_ms;
        }
        result = e->valid ? SERVER_AUTH_OK : SERVER_AUTH_INVALID;
    }
    waiter *w = e->waiters;
    e->waiters = NULL;
    char server_id[64];
    snprintf(server_id, sizeof server_id, "%s", e->server_id);
    if (result == SERVER_AUTH_UNAVAILABLE)
        e->expires_ms = 0; /* ask again on the next request */
    while (w) {
        waiter *next = w->next;
        w->cb(result, server_id, w->arg);
        free(w);
        w = next;
    }
}

void server_auth_check(server_auth *a, const char *token, server_auth_fn cb, void *arg)
{
    if (!token || !*token) {
        cb(SERVER_AUTH_MISSING, NULL, arg);
        return;
    }
    char hash[65];
    sha256_hex(token, strlen(token), hash);
    cache_entry *e = hashmap_get(a->cache, hash, 64);
    if (e && !e->querying && now_ms() < e->expires_ms) {
        metric_inc(a->hits);
        cb(e->valid ? SERVER_AUTH_OK : SERVER_AUTH_INVALID, e->server_id, arg);
        return;
    }
    metric_inc(a->misses);
    if (!e) {
        /* Bound the cache: guessed tokens must not grow it without end. */
        if (hashmap_size(a->cache) > 100000) {
            hashmap_free(a->cache, entry_free);
            a->cache = hashmap_new();
            if (!a->cache)
                abort();
        }
        e = calloc(1, sizeof *e);
        if (!e || hashmap_put(a->cache, hash, 64, e, NULL)) {
            free(e);
            cb(SERVER_AUTH_UNAVAILABLE, NULL, arg);
            return;
        }
    }
    waiter *w = malloc(sizeof *w);
    if (!w) {
        cb(SERVER_AUTH_UNAVAILABLE, NULL, arg);
        return;
    }
    *w = (waiter){cb, arg, e->waiters};
    e->waiters = w;
    if (e->querying)
        return; /* one query answers every concurrent request with this token */
    query_ctx *q = malloc(sizeof *q);
    if (!q) {
        e->waiters = w->next;
        free(w);
        cb(SERVER_AUTH_UNAVAILABLE, NULL, arg);
        return;
    }
    q->a = a;
    memcpy(q->hash, hash, 65);
    e->querying = 1;
    const char *params[1] = {hash};
    if (pg_query(a->pg, "SELECT id FROM servers WHERE token_hash = $1 AND is_active", 1, params, on_lookup, q))
        on_lookup(NULL, "out of memory", q);
}

void server_auth_remember(server_auth *a, const char *token_hash, const char *server_id)
{
    cache_entry *e = hashmap_get(a->cache, token_hash, 64);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || hashmap_put(a->cache, token_hash, 64, e, NULL)) {
            free(e);
            return;
        }
    }
    snprintf(e->server_id, sizeof e->server_id, "%s", server_id);
    e->valid = 1;
    e->expires_ms = now_ms() + a->ttl_ms;
}

void server_auth_forget_server(server_auth *a, const char *server_id)
{
    char *stale[16];
    int n = 0;
    size_t pos = 0, len;
    const char *key;
    void *v;
    while (n < 16 && hashmap_next(a->cache, &pos, &key, &len, &v)) {
        cache_entry *e = v;
        if (e->valid && !e->querying && strcmp(e->server_id, server_id) == 0 && (stale[n] = strdup(key)))
            n++;
    }
    for (int i = 0; i < n; i++) {
        free(hashmap_remove(a->cache, stale[i], 64));
        free(stale[i]);
    }
}
