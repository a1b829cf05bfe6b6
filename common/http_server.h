/* HTTP/1.1 server on libuv + llhttp: keep-alive, pipelining, Expect: 100-continue, size limits,
 * idle and slow-client timeouts, routing with path parameters, query strings, JSON replies.
 *
 * Handlers are asynchronous: a handler may answer at once or keep the request and answer later
 * (after a database replies). A request stays valid until http_respond*() is called on it, even
 * if the client went away meanwhile (the answer is then dropped; http_request_on_abort tells the
 * handler at once, so that it can stop the work). Pipelined requests on one connection are
 * answered strictly in order: the next one is not parsed until the previous one has been answered. */
#ifndef MOHSTATS_HTTP_SERVER_H
#define MOHSTATS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct cJSON cJSON;
typedef struct http_server http_server;
typedef struct http_request http_request;

typedef void (*http_handler_fn)(http_request *req, void *arg);

typedef struct {
    size_t max_header_bytes;     /* request line + headers; over it: 431. Default 16 KiB */
    size_t max_body_bytes;       /* over it: 413 {"error":"Request body too large"}. Default 1 MiB */
    uint64_t idle_timeout_ms;    /* keep-alive connection with no request in progress. Default 60 s */
    uint64_t request_timeout_ms; /* a started request must be fully received within it (slow clients):
                                    408 then close. Default 30 s */
    unsigned max_connections;    /* over it new connections are closed at once. Default 4096 */
    const char *server_name;     /* for logs; may be NULL */
} http_server_config;

/* Fill cfg with defaults. */
void http_server_config_init(http_server_config *cfg);

http_server *http_server_new(uv_loop_t *loop, const http_server_config *cfg);

/* Register a route. pattern segments are literal or "{name}" (one segment, matched non-empty);
 * a final "{name*}" matches the rest of the path. Literal segments win over parameters.
 * method is "GET", "POST", ... or "*" for any. A path that matches no route gets 404, a path that
 * matches with another method 405. Returns 0 or -ENOMEM. */
int http_server_route(http_server *s, const char *method, const char *pattern, http_handler_fn fn, void *arg);

/* A check of a request before its body is read, for routes whose bodies are costly to take: called once the headers
 * are in (http_request_header and http_request_peer work; the path, parameters and query do not yet), for requests
 * that announce a body. Returns 0 to read the body and call the handler as usual, or an error status: the request
 * is then answered at once with that status and {"error": message} (written into message, of size bytes), plus the
 * headers the check added with http_response_header, and the connection is closed without reading the body. */
typedef int (*http_admit_fn)(http_request *req, void *arg, char *message, size_t size);
/* http_server_route, with admit checking each request first (fn and admit get the same arg). */
int http_server_route_admit(http_server *s, const char *method, const char *pattern, http_handler_fn fn,
                            http_admit_fn admit, void *arg);

/* Call fn(ctx, method, pattern) for every registered route, in registration order, with the method and pattern as
 * registered: what a server serves, for a document of its API to be checked against (tests/unit/test_openapi.c). */
typedef void (*http_route_each_fn)(void *ctx, const char *method, const char *pattern);
void http_server_routes_each(const http_server *s, http_route_each_fn fn, void *ctx);

/* Listen on host:port (host may be an IPv4 or IPv6 literal). May be called several times.
 * Returns 0 or a negative libuv error. */
int http_server_listen(http_server *s, const char *host, int port);
/* Port of the first listener (useful after listening on port 0), or -1. */
int http_server_port(const http_server *s);

/* Graceful stop: stop accepting, close idle connections, let in-flight requests be answered,
 * then close everything and call done(arg). Connections still busy after grace_ms are closed. */
void http_server_shutdown(http_server *s, uint64_t grace_ms, void (*done)(void *arg), void *arg);
/* Free after shutdown completed. */
void http_server_free(http_server *s);

/* Count of requests received but not answered yet. */
unsigned http_server_inflight(const http_server *s);

/* ---- request accessors (valid until the request is answered) ---- */
const char *http_request_method(const http_request *req);
/* Path without the query string, percent-decoded. */
const char *http_request_path(const http_request *req);
/* Raw query string without '?', "" if none. */
const char *http_request_query_string(const http_request *req);
/* Case-insensitive header lookup; NULL if absent. */
const char *http_request_header(const http_request *req, const char *name);
/* Path parameter captured by "{name}", percent-decoded; NULL if absent. */
const char *http_request_param(const http_request *req, const char *name);
/* Query parameter, '+' and percent-decoded; the last one wins; NULL if absent. */
const char *http_request_query(const http_request *req, const char *name);
/* Request body (may contain NUL bytes); *len gets its length. Never NULL (empty string). */
const char *http_request_body(const http_request *req, size_t *len);
/* Address of the peer ("127.0.0.1", "::1"). */
const char *http_request_peer(const http_request *req);
/* Monotonic time (uv_hrtime, ns) at which the request's headers arrived. */
uint64_t http_request_start_ns(const http_request *req);
/* For a route's admission check, where http_request_query does not work yet: query parameter name of the request
 * target, decoded as http_request_query will decode it (the last one wins, the same first pairs are looked at),
 * into out (size bytes). Returns its length, -1 if absent, or -2 if it does not fit. */
long http_request_admission_query(const http_request *req, const char *name, char *out, size_t size);
/* For a route's admission check: the raw query string of the request target (without '?'; "" if none), as
 * http_request_query_string will give it. */
const char *http_request_admission_query_string(const http_request *req);
/* Per-request user pointer for handlers that answer later. A route's admission check may set it: its handler finds
 * it there. */
void http_request_set_data(http_request *req, void *data);
void *http_request_data(const http_request *req);
/* True once the client's connection closed; the answer will be discarded. */
bool http_request_aborted(const http_request *req);
/* Called once when the client's connection closes (EOF, reset, a shutdown's grace running out) while its request is
 * still with the handler: the moment to stop work whose answer nobody will read (queryd kills its ClickHouse
 * queries). The request must still be answered, and fn may do it. One per request: setting it again replaces it,
 * fn NULL clears it; it is cleared when the request is answered. Not called for a request that is aborted already
 * when it is set: check http_request_aborted first. */
typedef void (*http_abort_fn)(http_request *req, void *arg);
void http_request_on_abort(http_request *req, http_abort_fn fn, void *arg);

/* ---- answering (exactly once per request; frees the request) ---- */
/* Add a response header before answering (copied). */
void http_response_header(http_request *req, const char *name, const char *value);
void http_respond(http_request *req, int status, const char *content_type, const char *body, size_t len);
/* Serialize json (unformatted), answer with application/json, and cJSON_Delete it. */
void http_respond_json(http_request *req, int status, cJSON *json);
/* {"error":"<message>"} with the given status. */
void http_respond_error(http_request *req, int status, const char *message);

/* Standard reason phrase, e.g. 404 -> "Not Found". */
const char *http_status_text(int status);

/* Percent-decode in place ('+' becomes ' ' when plus_is_space). Returns the new length, or -1 on a
 * malformed escape. Exposed for tests and the legacy form parser. */
long http_percent_decode(char *s, size_t len, bool plus_is_space);

#endif
