/* The one handler of every declared endpoint (endpoint.h): parameters, cache key, cache, job. */
#include "endpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "area.h"
#include "board.h"
#include "log.h"
#include "ratings.h"

/* The longest cache key: its first part, and its parameters, none longer than a player name (an escaped identifier
 * takes at most QCACHE_PART_MAX bytes, a number far fewer). */
#define KEY_MAX (64 + ENDPOINT_PARAMS * (PLAYER_NAME_MAX + 1))

/* Append ":" and a formatted part to the key; -1 when it does not fit (it always does: KEY_MAX). */
static int key_add(char *key, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = *len + 1 < size ? vsnprintf(key + *len + 1, size - *len - 1, fmt, ap) : -1;
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *len - 1)
        return -1;
    key[*len] = ':';
    *len += 1 + (size_t)n;
    return 0;
}

/* Check an identifier and copy it into its field (char[IDENT_MAX + 1]); NULL when it is not one. */
static char *ident_into(void *field, const char *v, bool plus_is_space)
{
    if (!ident_ok(v, IDENT_MAX))
        return NULL;
    char *out = field;
    snprintf(out, IDENT_MAX + 1, "%s", v);
    if (plus_is_space)
        for (char *p = out; *p; p++)
            if (*p == '+')
                *p = ' ';
    return out;
}

/* A key part was added (0), or did not fit: answer 500. Returns rc. */
static int key_added(http_request *req, int rc)
{
    if (rc != 0)
        http_respond_error(req, 500, "The request's cache key is too long.");
    return rc;
}

/* Parse one parameter into args and its part of the key: 0, or -1 after answering 400 (or 500). */
static int param_parse(const endpoint_param *p, const queryd *q, http_request *req, char *args, char *key, size_t size,
                       size_t *len)
{
    void *field = args + p->at;
    char part[QCACHE_PART_MAX];
    switch (p->kind) {
    case PARAM_IDENT:
    case PARAM_IDENT_PLUS: {
        const char *s = ident_into(field, http_request_param(req, p->name), p->kind == PARAM_IDENT_PLUS);
        if (!s)
            break;
        return key_added(req, key_add(key, size, len, "%s", qcache_part(s, part)));
    }
    case PARAM_QUERY_IDENT: {
        const char *v = http_request_query(req, p->name);
        if (v && *v && !ident_into(field, v, false))
            break;
        return key_added(req, key_add(key, size, len, "%s", qcache_part(field, part)));
    }
    case PARAM_NAME:
        if (!name_normalize(http_request_param(req, p->name), field, PLAYER_NAME_MAX))
            break;
        /* As it is: a name may be longer than a part (qcache_part would cut it), and is the key's last part. */
        return key_added(req, key_add(key, size, len, "%s", (char *)field));
    case PARAM_ID: {
        long id = param_long_parse(http_request_param(req, p->name), -1, -1, 2147483647L);
        if (id <= 0)
            break;
        *(long *)field = id;
        return key_added(req, key_add(key, size, len, "%ld", id));
    }
    case PARAM_QUERY_ID: {
        const char *v = http_request_query(req, p->name);
        bool given = v && *v;
        long id = given ? param_long_parse(v, -1, -1, 2147483647L) : 0;
        if (given && id <= 0)
            break;
        *(long *)field = id;
        return key_added(req, key_add(key, size, len, "%ld", id));
    }
    case PARAM_LIMIT:
        *(long *)field = param_long(req, p->name, p->def, 1, q->max_limit);
        return key_added(req, key_add(key, size, len, "%ld", *(long *)field));
    case PARAM_NUMBER:
        *(long *)field = param_long(req, p->name, p->def, p->min, p->max);
        return key_added(req, key_add(key, size, len, "%ld", *(long *)field));
    case PARAM_OFFSET:
        *(long *)field = param_long(req, p->name, p->def, 0, q->max_offset);
        return key_added(req, key_add(key, size, len, "%ld", *(long *)field));
    case PARAM_PAGING: {
        paging *pg = field;
        paging_parse(req, q, p->def, pg);
        return key_added(req, key_add(key, size, len, "%ld:%ld", pg->limit, pg->offset));
    }
    case PARAM_FLAG:
        *(bool *)field = param_flag(req, p->name);
        return key_added(req, key_add(key, size, len, "%d", *(bool *)field));
    case PARAM_GIVEN:
        *(bool *)field = http_request_query(req, p->name) != NULL;
        return key_added(req, key_add(key, size, len, "%d", *(bool *)field));
    case PARAM_CHOICE:
    case PARAM_CHOICE_ANY: {
        const char *v = http_request_query(req, p->name);
        const param_choice *c = p->choices;
        if (v && *v)
            while (c->name && strcmp(c->name, v) != 0)
                c++;
        if (!c->name && p->kind == PARAM_CHOICE_ANY)
            c = p->choices;
        if (!c->name)
            break;
        *(const param_choice **)field = c;
        return key_added(req, key_add(key, size, len, "%s", param_choice_value(c)));
    }
    case PARAM_PERIOD:
        if (period_parse(http_request_query(req, p->name), field) != 0)
            break;
        return key_added(req, key_add(key, size, len, "%s", period_name(*(period *)field)));
    case PARAM_STAT:
    case PARAM_PATH_STAT: {
        const char *v = p->kind == PARAM_STAT ? http_request_query(req, p->name) : http_request_param(req, p->name);
        const lb_stat *st = lb_stat_find(v && *v ? v : "kills");
        if (!st)
            break;
        *(const lb_stat **)field = st;
        return key_added(req, key_add(key, size, len, "%s", st->name));
    }
    case PARAM_SETTING: {
        long long v = config_get_int(p->name, p->def);
        *(long *)field = v < p->min ? p->min : (long)v;
        return key_added(req, key_add(key, size, len, "%ld", *(long *)field));
    }
    case PARAM_PATH_CHOICE: {
        const char *v = http_request_param(req, p->name);
        if (!ident_ok(v, (size_t)p->max))
            break;
        char lower[IDENT_MAX + 1];
        size_t i = 0;
        for (; v[i] && i < IDENT_MAX; i++)
            lower[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
        lower[i] = '\0';
        const param_choice *c = p->choices;
        while (c->name && strcmp(c->name, lower) != 0)
            c++;
        if (!c->name) {
            char msg[256];
            snprintf(msg, sizeof msg, p->unknown, lower);
            http_respond_error(req, 404, msg);
            return -1;
        }
        *(const param_choice **)field = c;
        return key_added(req, key_add(key, size, len, "%s", param_choice_value(c)));
    }
    case PARAM_END:
        return 0;
    }
    respond_bad_param(req, p->shown ? p->shown : p->name, p->why);
    return -1;
}

int endpoint_parse(const endpoint *e, const queryd *q, http_request *req, void *args, char *key, size_t size)
{
    ((endpoint_args *)args)->ep = e;
    size_t len = strlen(e->key);
    if (len >= size) {
        http_respond_error(req, 500, "The request's cache key is too long.");
        return -1;
    }
    memcpy(key, e->key, len + 1);
    for (const endpoint_param *p = e->params; p < e->params + ENDPOINT_PARAMS && p->kind != PARAM_END; p++) {
        if (param_parse(p, q, req, args, key, size, &len) != 0)
            return -1;
    }
    if (e->rule.ok && !e->rule.ok(args)) {
        respond_bad_param(req, e->rule.param, e->rule.why);
        return -1;
    }
    return 0;
}

/* The endpoint that answers req: e, or the one e names instead for a parameter's value. */
static const endpoint *endpoint_for(const endpoint *e, http_request *req)
{
    if (!e->instead.param)
        return e;
    const char *v = http_request_param(req, e->instead.param);
    if (!v)
        v = http_request_query(req, e->instead.param);
    return v && strcmp(v, e->instead.value) == 0 ? e->instead.ep : e;
}

/* The period of a board's answer: its PARAM_PERIOD's, or all time. */
static period endpoint_period(const endpoint *e, const void *args)
{
    for (const endpoint_param *p = e->params; p < e->params + ENDPOINT_PARAMS && p->kind != PARAM_END; p++)
        if (p->kind == PARAM_PERIOD)
            return *(const period *)((const char *)args + p->at);
    return PERIOD_ALL;
}

/* The route of every declared endpoint. */
static void endpoint_serve(http_request *req, void *arg)
{
    const queryd_route *r = arg;
    const endpoint *e = endpoint_for(r->ep, req);
    queryd *q = r->q;
    endpoint_args *a = calloc(1, e->args_size > sizeof *a ? e->args_size : sizeof *a);
    if (!a) {
        http_respond_error(req, 500, "Out of memory.");
        return;
    }
    char key[KEY_MAX];
    if (endpoint_parse(e, q, req, a, key, sizeof key) != 0) {
        free(a);
        return;
    }
    int ttl = e->ttl == TTL_LIVE ? q->live_ttl_s : q->cache_ttl_s;
    if (e->board)
        qcache_serve_at(q->cache, req, key, ttl, board_set_gen(q->boards, endpoint_period(e, a)), endpoint_start, a,
                        free);
    else
        qcache_serve(q->cache, req, key, ttl, endpoint_start, a, free);
}

void endpoint_start(qjob *j)
{
    endpoint_run(j, job_endpoint(j));
}

void endpoint_run(qjob *j, const endpoint *e)
{
    sqlv vals[ENDPOINT_VALS];
    size_t nvals = e->vals ? e->vals(j, vals) : 0;
    for (const endpoint_query *x = e->queries; x < e->queries + ENDPOINT_QUERIES && (x->sql || x->queue); x++) {
        if (x->queue)
            x->queue(j, x->slot, x->sql, x->n);
        else
            job_ch(j, x->slot, x->sql, vals, nvals);
    }
    if (e->start)
        e->start(j);
    if (e->build)
        job_then(j, e->build);
}

void endpoints_add(queryd *q, http_server *s, const endpoint *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1%s", table[i].path);
        if (q->nroutes == QUERYD_ROUTES_MAX) {
            log_error("cannot register route %s: more than QUERYD_ROUTES_MAX (%d) endpoints", path, QUERYD_ROUTES_MAX);
            continue;
        }
        queryd_route *r = &q->routes[q->nroutes];
        r->q = q;
        r->ep = &table[i];
        if (http_server_route(s, "GET", path, endpoint_serve, r) != 0)
            log_error("cannot register route %s", path);
        else
            q->nroutes++;
    }
}
