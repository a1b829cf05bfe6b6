/* Routing for the HTTP server: route patterns compiled into segments, matched against a request's path, the most
 * specific match picked, the methods a path accepts listed for 405. No I/O: http_server.c owns a table and asks. */
#include "http_route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Free one compiled route's strings. */
static void route_release(http_route *r)
{
    for (size_t i = 0; i < r->nsegs; i++)
        free(r->segs[i].text);
    free(r->segs);
    free(r->method);
    free(r->pattern);
}

/* Split pattern into segments; 0, -EINVAL for a malformed pattern or -ENOMEM. */
static int route_compile(http_route *r, const char *pattern)
{
    if (pattern[0] != '/')
        return -EINVAL;
    const char *p = pattern + 1;
    size_t cap = 0, nparams = 0;
    for (const char *q = pattern; *q; q++)
        cap += *q == '/';
    r->segs = calloc(cap ? cap : 1, sizeof *r->segs);
    if (!r->segs)
        return -ENOMEM;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 && !end) /* trailing slash */
            break;
        http_route_seg *seg = &r->segs[r->nsegs];
        if (r->rest)
            return -EINVAL; /* {name*} must be last */
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            size_t nlen = len - 2;
            seg->kind = SEG_PARAM;
            if (nlen > 1 && p[len - 2] == '*') {
                seg->kind = SEG_REST;
                nlen--;
                r->rest = true;
            }
            if (nlen == 0 || memchr(p + 1, '*', nlen) || ++nparams > HTTP_MAX_PARAMS)
                return -EINVAL;
            seg->text = strndup(p + 1, nlen);
            seg->len = nlen;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len))
                return -EINVAL;
            seg->kind = SEG_LITERAL;
            seg->text = strndup(p, len);
            seg->len = len;
        }
        r->nsegs++;
        if (!seg->text)
            return -ENOMEM;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* Kind of route r's segment i, with everything past a {name*} counting as the rest. */
static http_seg_kind route_kind_at(const http_route *r, size_t i)
{
    size_t fixed = r->nsegs - (r->rest ? 1 : 0);
    return i < fixed ? r->segs[i].kind : SEG_REST;
}

/* True if route a is more specific than b: at the first segment where they differ, a literal beats
 * a parameter and a parameter beats a rest. This is the order in which a trie walked literals first
 * with backtracking would find them. */
static bool route_better(const http_route *a, const http_route *b)
{
    size_t n = a->nsegs > b->nsegs ? a->nsegs : b->nsegs;
    for (size_t i = 0; i < n; i++) {
        http_seg_kind ka = route_kind_at(a, i), kb = route_kind_at(b, i);
        if (ka != kb)
            return ka > kb;
    }
    return false;
}

/* Split a raw path into segments; a trailing slash adds none. Returns the count, capped. */
static size_t path_split(const char *path, size_t plen, http_path_seg *segs, bool *overflow)
{
    size_t n = 0, i = 1;
    *overflow = false;
    if (plen == 1)
        return 0;
    while (i <= plen) {
        const char *end = memchr(path + i, '/', plen - i);
        size_t e = end ? (size_t)(end - path) : plen;
        if (!end && e == i && n > 0) /* trailing slash */
            break;
        if (n == HTTP_MAX_SEGMENTS) {
            *overflow = true;
            break;
        }
        segs[n].off = i;
        segs[n].len = e - i;
        n++;
        i = e + 1;
    }
    return n;
}

/* True if route r matches the raw path's segments (method aside). */
static bool route_match(const http_route *r, const char *path, size_t plen, const http_path_seg *segs, size_t n,
                        bool overflow)
{
    size_t fixed = r->nsegs - (r->rest ? 1 : 0);
    if (r->rest) {
        if (fixed >= n || segs[fixed].off >= plen)
            return false; /* the rest must not be empty */
    } else if (overflow || n != fixed) {
        return false;
    }
    for (size_t i = 0; i < fixed; i++) {
        const http_route_seg *rs = &r->segs[i];
        if (rs->kind == SEG_LITERAL) {
            if (segs[i].len != rs->len || memcmp(path + segs[i].off, rs->text, rs->len) != 0)
                return false;
        } else if (segs[i].len == 0) {
            return false;
        }
    }
    return true;
}

/* True if a route registered for rm serves a request with method m (HEAD is served by GET). */
static bool method_matches(const char *rm, const char *m)
{
    return strcmp(rm, "*") == 0 || strcmp(rm, m) == 0 || (strcmp(m, "HEAD") == 0 && strcmp(rm, "GET") == 0);
}

int http_route_table_add(http_route_table *t, const char *method, const char *pattern, http_handler_fn fn, void *arg)
{
    http_route r = {.fn = fn, .arg = arg};
    int rc = route_compile(&r, pattern);
    if (rc == 0 && (!(r.method = strdup(method)) || !(r.pattern = strdup(pattern))))
        rc = -ENOMEM;
    if (rc == 0) {
        http_route *routes = realloc(t->routes, (t->n + 1) * sizeof *routes);
        if (!routes) {
            rc = -ENOMEM;
        } else {
            t->routes = routes;
            t->routes[t->n++] = r;
            return 0;
        }
    }
    route_release(&r);
    return rc;
}

void http_route_table_free(http_route_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        route_release(&t->routes[i]);
    free(t->routes);
    t->routes = NULL;
    t->n = 0;
}

void http_path_split(http_path *p, const char *path, size_t plen)
{
    p->path = path;
    p->plen = plen;
    p->n = path_split(path, plen, p->segs, &p->overflow);
}

const http_route *http_route_table_find(const http_route_table *t, const char *method, const http_path *p,
                                        bool *path_known)
{
    const http_route *best = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const http_route *r = &t->routes[i];
        if (!route_match(r, p->path, p->plen, p->segs, p->n, p->overflow))
            continue;
        *path_known = true;
        if (method_matches(r->method, method) && (!best || route_better(r, best)))
            best = r;
    }
    return best;
}

void http_route_table_allow(const http_route_table *t, const http_path *p, char *allow, size_t size)
{
    size_t len = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        const http_route *r = &t->routes[i];
        if (!route_match(r, p->path, p->plen, p->segs, p->n, p->overflow))
            continue;
        size_t mlen = strlen(r->method);
        bool seen = false;
        for (const char *s = allow; (s = strstr(s, r->method)) != NULL; s += mlen)
            if ((s == allow || s[-1] == ' ') && (s[mlen] == ',' || s[mlen] == '\0'))
                seen = true;
        if (!seen && len + mlen + 3 < size)
            len += (size_t)snprintf(allow + len, size - len, "%s%s", len ? ", " : "", r->method);
    }
}

void http_route_params(const http_route *r, const http_path *p, http_route_param_fn fn, void *ctx)
{
    size_t fixed = r->nsegs - (r->rest ? 1 : 0);
    for (size_t i = 0; i < fixed; i++) {
        if (r->segs[i].kind != SEG_PARAM)
            continue;
        fn(ctx, r->segs[i].text, p->path + p->segs[i].off, p->segs[i].len);
    }
    if (r->rest) {
        size_t off = p->segs[fixed].off, len = p->plen - off;
        if (p->path[p->plen - 1] == '/')
            len--;
        fn(ctx, r->segs[fixed].text, p->path + off, len);
    }
}
