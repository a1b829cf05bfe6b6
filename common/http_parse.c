/* The HTTP server's parsing: llhttp callbacks that collect a request (size limits, headers, body), then
 * dispatch: path, parameters and query decoded, a route picked (http_route.c), its handler called. */
#include "http_server.h"

#include "http_conn.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------
 * Parser callbacks: they only collect the request; dispatching happens outside llhttp.
 * ------------------------------------------------------------------------------------------- */

/* Count n bytes of request line or headers; false (431 pending) once over the limit. */
static bool conn_count_header_bytes(http_conn *c, size_t n)
{
    c->hdr_bytes += n;
    if (c->hdr_bytes <= c->srv->cfg.max_header_bytes)
        return true;
    c->pending_status = 431;
    return false;
}

/* Append to the arena; false (500 pending) when out of memory. */
static bool arena_append(http_conn *c, const char *p, size_t n)
{
    if (http_buf_reserve(&c->arena, &c->acap, c->alen + n, 1024) != 0) {
        c->pending_status = 500;
        return false;
    }
    memcpy(c->arena + c->alen, p, n);
    c->alen += n;
    return true;
}

/* Take n bytes of arena space that http_conn_dispatch reserved beforehand. */
static char *arena_take(http_conn *c, size_t n)
{
    char *p = c->arena + c->alen;
    c->alen += n;
    return p;
}

/* Last value of header name (case-insensitive), or NULL. */
const char *http_conn_header(const http_conn *c, const char *name)
{
    const http_request *req = &c->req;
    for (unsigned i = req->nhdr; i-- > 0;)
        if (strcasecmp(c->arena + req->hdr[i].name, name) == 0)
            return c->arena + req->hdr[i].value;
    return NULL;
}

/* A new request starts: reset the per-request buffers and start the request timeout. */
static int on_message_begin(llhttp_t *p)
{
    http_conn *c = p->data;
    c->msg_active = c->hdr_phase = true;
    c->alen = c->hdr_bytes = c->hdr_raw = c->body_len = 0;
    c->in_field = false;
    c->req.nhdr = 0;
    c->req.url_off = 0;
    /* What the last request resolved points into an arena that may move or go: a route's admission check, which
     * runs before this request's target is resolved, must find nothing rather than the last request's. */
    c->req.path = c->req.query = "";
    c->req.data = NULL; /* from here on the request's own: a route's admission check may set it for the handler */
    c->req.method = llhttp_method_name((llhttp_method_t)p->method);
    c->req.nparam = c->req.nqp = 0;
    http_conn_set_timer(c, TIMER_REQUEST, c->srv->cfg.request_timeout_ms);
    return 0;
}

/* A piece of the request target. */
static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    return conn_count_header_bytes(c, len) && arena_append(c, at, len) ? 0 : HPE_USER;
}

/* Request target complete; the method and version count against the header limit too. */
static int on_url_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    size_t line = strlen(llhttp_method_name(p->method)) + sizeof " HTTP/1.1\r\n";
    return conn_count_header_bytes(c, line) && arena_append(c, "", 1) ? 0 : -1;
}

/* A piece of a header name. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (!c->in_field) {
        if (c->req.nhdr == HTTP_MAX_HEADERS) {
            c->pending_status = 431;
            return HPE_USER;
        }
        c->req.hdr[c->req.nhdr].name = (uint32_t)c->alen;
        c->in_field = true;
    }
    return conn_count_header_bytes(c, len) && arena_append(c, at, len) ? 0 : HPE_USER;
}

/* Header name complete: its value starts here. ": " and CRLF count against the limit. */
static int on_header_field_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    c->in_field = false;
    if (!conn_count_header_bytes(c, 4) || !arena_append(c, "", 1))
        return -1;
    c->req.hdr[c->req.nhdr].value = (uint32_t)c->alen;
    return 0;
}

/* A piece of a header value. */
static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    return conn_count_header_bytes(c, len) && arena_append(c, at, len) ? 0 : HPE_USER;
}

/* Header value complete: llhttp strips leading whitespace, we strip the trailing one. */
static int on_header_value_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    size_t start = c->req.hdr[c->req.nhdr].value;
    while (c->alen > start && (c->arena[c->alen - 1] == ' ' || c->arena[c->alen - 1] == '\t'))
        c->alen--;
    if (!arena_append(c, "", 1))
        return -1;
    c->req.nhdr++;
    return 0;
}

/* The path of a request target (origin-form "/p?q", or absolute-form "http://host/p?q"), without its query: its
 * start in *path and its length. The target is not modified. */
static size_t target_path(const char *url, const char **path)
{
    const char *p = url;
    if (url[0] != '/') {
        const char *scheme_end = strstr(url, "://");
        if (scheme_end)
            p = scheme_end + 3 + strcspn(scheme_end + 3, "/?");
    }
    *path = p;
    return strcspn(p, "?");
}

/* Whether the request may go on to send its body: false if its route's admission check (http_server_route_admit)
 * refused it, the refusal then pending in c->pending_status and c->pending_message. */
static bool admitted(http_conn *c, const llhttp_t *p)
{
    const char *path;
    size_t plen = target_path(c->arena + c->req.url_off, &path);
    if (plen == 0 || path[0] != '/')
        return true;
    http_path hp;
    bool path_known = false;
    http_path_split(&hp, path, plen);
    const http_route *r =
        http_route_table_find(&c->srv->routes, llhttp_method_name((llhttp_method_t)p->method), &hp, &path_known);
    if (!r || !r->admit)
        return true;
    c->pending_message[0] = '\0';
    c->admitting = true;
    int status = r->admit(&c->req, r->arg, c->pending_message, sizeof c->pending_message);
    c->admitting = false;
    if (status == 0) {
        /* Whatever the check wrote or added: only a refusal has a message and headers. */
        c->pending_message[0] = '\0';
        c->resp_len = 0;
        return true;
    }
    c->pending_status = status >= 400 && status <= 599 ? status : 500; /* a check's bug must not make "HTTP/1.1 1" */
    if (!c->pending_message[0])
        snprintf(c->pending_message, sizeof c->pending_message, "%s", http_status_text(status));
    return false;
}

/* Headers complete: refuse a declared body over the limit, or one its route's admission check refuses, before it
 * is sent; answer "Expect: 100-continue", and size the body buffer once. */
static int on_headers_complete(llhttp_t *p)
{
    static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    http_conn *c = p->data;
    http_server *s = c->srv;
    c->hdr_phase = false;
    c->req.start_ns = uv_hrtime();
    c->keep_alive = llhttp_should_keep_alive(p);
    bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
    if (has_length && p->content_length > s->cfg.max_body_bytes) {
        c->pending_status = 413;
        return -1;
    }
    bool body_expected = (p->flags & F_CHUNKED) || (has_length && p->content_length > 0);
    if (body_expected && !admitted(c, p))
        return -1;
    if (body_expected && p->http_major == 1 && p->http_minor >= 1) {
        const char *expect = http_conn_header(c, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0) {
            uv_buf_t b = uv_buf_init((char *)continue_line, sizeof continue_line - 1);
            if (http_conn_write(c, &b, 1) != 0)
                return -1;
        }
    }
    if (has_length && p->content_length > 0 &&
        http_buf_reserve(&c->body, &c->body_cap, (size_t)p->content_length + 1, 0) != 0) {
        c->pending_status = 500;
        return -1;
    }
    return 0;
}

/* A piece of the body (de-chunked); chunked bodies are held to the limit as they stream. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (c->body_len + len > c->srv->cfg.max_body_bytes) {
        c->pending_status = 413;
        return HPE_USER;
    }
    if (http_buf_reserve(&c->body, &c->body_cap, c->body_len + len + 1, 1024) != 0) {
        c->pending_status = 500;
        return HPE_USER;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

/* Request complete: pause the parser so that the next pipelined request waits for this answer. */
static int on_message_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    c->msg_complete = true;
    if (p->upgrade)
        c->keep_alive = false; /* no protocol switching here: answer, then close */
    if (c->body)
        c->body[c->body_len] = '\0';
    return HPE_PAUSED;
}

const llhttp_settings_t http_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------------- */

/* Split the query string into decoded name/value pairs (arena space reserved by the caller). */
static void request_parse_query(http_conn *c, const char *q, size_t qlen)
{
    http_request *req = &c->req;
    const char *p = q, *end = q + qlen;
    while (req->nqp < HTTP_MAX_QUERY) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            size_t nlen = (size_t)((eq ? eq : pe) - p);
            char *name = arena_take(c, nlen + 1);
            memcpy(name, p, nlen);
            http_percent_decode_lenient(name, nlen, /* plus_is_space= */ true);
            const char *value = "";
            if (eq) {
                size_t vlen = (size_t)(pe - eq - 1);
                char *v = arena_take(c, vlen + 1);
                memcpy(v, eq + 1, vlen);
                http_percent_decode_lenient(v, vlen, /* plus_is_space= */ true);
                value = v;
            }
            req->qp[req->nqp].name = name;
            req->qp[req->nqp].value = value;
            req->nqp++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
}

const char *http_request_admission_query_string(const http_request *req)
{
    const http_conn *c = req->conn;
    const char *q = strchr(c->arena ? c->arena + req->url_off : "", '?');
    return q ? q + 1 : "";
}

long http_request_admission_query(const http_request *req, const char *name, char *out, size_t size)
{
    const http_conn *c = req->conn;
    const char *target = c->arena ? c->arena + req->url_off : "";
    const char *q = strchr(target, '?');
    if (!q)
        return -1;
    /* The same walk as request_parse_query, without the arena: each pair's name decoded into a buffer and
     * compared, the value of the last match decoded into out. */
    const char *p = q + 1, *end = q + 1 + strlen(q + 1);
    long found = -1;
    for (unsigned pairs = 0; pairs < HTTP_MAX_QUERY;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            pairs++;
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            size_t nlen = (size_t)((eq ? eq : pe) - p);
            char key[64];
            if (nlen < sizeof key) {
                memcpy(key, p, nlen);
                http_percent_decode_lenient(key, nlen, /* plus_is_space= */ true);
                if (strcmp(key, name) == 0) {
                    size_t vlen = eq ? (size_t)(pe - eq - 1) : 0;
                    if (vlen >= size) {
                        found = -2;
                    } else {
                        memcpy(out, eq ? eq + 1 : "", vlen);
                        found = (long)http_percent_decode_lenient(out, vlen, /* plus_is_space= */ true);
                    }
                }
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return found;
}

/* Copy raw bytes into the arena and percent-decode them ('+' stays): one path parameter. */
static const char *request_decode_segment(http_conn *c, const char *raw, size_t len)
{
    char *v = arena_take(c, len + 1);
    memcpy(v, raw, len);
    http_percent_decode_lenient(v, len, /* plus_is_space= */ false);
    return v;
}

/* Answer 405 with the methods that the path does accept. */
static void request_method_not_allowed(http_server *s, http_request *req, const http_path *p)
{
    char allow[256];
    http_route_table_allow(&s->routes, p, allow, sizeof allow);
    http_response_header(req, "Allow", allow);
    http_respond_error(req, 405, "Method not allowed");
}

/* One path parameter of the matched route: decoded into the arena. */
static void request_add_param(void *ctx, const char *name, const char *raw, size_t len)
{
    http_conn *c = ctx;
    http_request *req = &c->req;
    req->param[req->nparam].name = name;
    req->param[req->nparam].value = request_decode_segment(c, raw, len);
    req->nparam++;
}

/* A complete request: resolve path, parameters and query, pick the route and call its handler. */
void http_conn_dispatch(http_conn *c)
{
    http_server *s = c->srv;
    http_request *req = &c->req;
    c->msg_active = c->hdr_phase = false;
    c->busy = true;
    s->inflight++;
    http_conn_set_timer(c, TIMER_NONE, 0);
    req->aborted = false;
    req->on_abort = NULL;
    req->nparam = req->nqp = 0;
    req->method = llhttp_method_name(c->parser.method);
    req->head = c->parser.method == HTTP_HEAD;
    req->path = req->query = "";

    /* Everything derived from the target fits in three times its length (decoded path, params,
     * query pairs), reserved now so that the pointers handed out below stay put. */
    size_t ulen = c->arena ? strlen(c->arena + req->url_off) : 0;
    if (http_buf_reserve(&c->arena, &c->acap, c->alen + 3 * ulen + 16, 1024) != 0) {
        http_respond_error(req, 500, "Out of memory");
        return;
    }
    const char *target_start;
    size_t plen = target_path(c->arena + req->url_off, &target_start);
    char *path = (char *)target_start; /* in the arena: ours to cut at the '?' */
    if (path[plen] == '?') {
        path[plen] = '\0';
        req->query = path + plen + 1;
    }
    if (plen == 0) {
        path = (char *)"/";
        plen = 1;
    }
    req->path = request_decode_segment(c, path, plen);

    http_path hp;
    bool path_known = false;
    const http_route *best = NULL;
    if (path[0] == '/') {
        http_path_split(&hp, path, plen);
        best = http_route_table_find(&s->routes, req->method, &hp, &path_known);
    }
    if (!best) {
        if (path_known)
            request_method_not_allowed(s, req, &hp);
        else
            http_respond_error(req, 404, "Not found");
        return;
    }
    http_route_params(best, &hp, request_add_param, c);
    if (req->query[0])
        request_parse_query(c, req->query, strlen(req->query));
    http_handler_fn fn = best->fn;
    fn(req, best->arg);
}
