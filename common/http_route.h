/* Routing for the HTTP server (http_route.c): a table of routes, matching a path against it. Used by http_server.c;
 * handlers register routes with http_server_route (http_server.h).
 *
 * A pattern's segments are literal or "{name}" (one segment, matched non-empty); a final "{name*}" matches the rest
 * of the path. Literal segments win over parameters, parameters over a rest. */
#ifndef MOHSTATS_HTTP_ROUTE_H
#define MOHSTATS_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "http_server.h"

/* A route may not declare more parameters; a path of more segments matches only a route ending in a rest. */
#define HTTP_MAX_PARAMS 16
#define HTTP_MAX_SEGMENTS 32

typedef enum { SEG_REST = 0, SEG_PARAM = 1, SEG_LITERAL = 2 } http_seg_kind;

typedef struct {
    http_seg_kind kind;
    char *text; /* literal text or parameter name */
    size_t len;
} http_route_seg;

typedef struct {
    char *method;  /* "GET", ... or "*" */
    char *pattern; /* as registered, for listing the routes (http_server_routes_each) */
    http_route_seg *segs;
    size_t nsegs;
    bool rest; /* last segment is {name*} */
    http_handler_fn fn;
    http_admit_fn admit; /* NULL, or checked before the body is read (http_server_route_admit) */
    void *arg;
} http_route;

typedef struct {
    http_route *routes;
    size_t n;
} http_route_table;

/* A raw (not yet decoded) request path split into segments for matching. */
typedef struct {
    size_t off, len;
} http_path_seg;
typedef struct {
    const char *path; /* borrowed */
    size_t plen;
    http_path_seg segs[HTTP_MAX_SEGMENTS];
    size_t n;
    bool overflow; /* more than HTTP_MAX_SEGMENTS segments */
} http_path;

/* Add a route (see http_server_route): 0, -EINVAL for a malformed pattern, -ENOMEM. */
int http_route_table_add(http_route_table *t, const char *method, const char *pattern, http_handler_fn fn, void *arg);
void http_route_table_free(http_route_table *t);

/* Split path (starting with '/'); a trailing slash adds no segment. */
void http_path_split(http_path *p, const char *path, size_t plen);
/* The most specific route for method and p, or NULL. *path_known is set to true when some route matches the path
 * with another method (405 rather than 404); the caller initialises it to false. HEAD is served by GET, "*" serves
 * any method. */
const http_route *http_route_table_find(const http_route_table *t, const char *method, const http_path *p,
                                        bool *path_known);
/* The methods of the routes matching p, ", "-separated, for an Allow header (truncated to size). */
void http_route_table_allow(const http_route_table *t, const http_path *p, char *allow, size_t size);

/* Each parameter of route r in path p, raw (still percent-encoded): fn(ctx, name, raw, len), in pattern order. */
typedef void (*http_route_param_fn)(void *ctx, const char *name, const char *raw, size_t len);
void http_route_params(const http_route *r, const http_path *p, http_route_param_fn fn, void *ctx);

#endif
