/* HTTP/1.1 server: setup, listeners, libuv connections (reading, writing, timeouts), shutdown. Parsing and
 * dispatch are in http_parse.c, answering in http_request.c, routing in http_route.c; http_conn.h holds what they
 * share. */
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

static void conn_close(http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void conn_fail(http_conn *c, int status, const char *message);

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

/* Grow *buf so that it holds at least need bytes; 0 or -ENOMEM. */
int http_buf_reserve(char **buf, size_t *cap, size_t need, size_t min_cap)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : min_cap;
    if (ncap < need)
        ncap = need;
    char *p = realloc(*buf, ncap);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = ncap;
    return 0;
}

/* Today's HTTP date, formatted again only when the second changes. */
static const char *server_date(http_server *s)
{
    time_t now = time(NULL);
    if (now != s->date_time) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_time = now;
    }
    return s->date;
}

/* ---------------------------------------------------------------------------------------------
 * Server setup and routes
 * ------------------------------------------------------------------------------------------- */

void http_server_config_init(http_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_header_bytes = 16 * 1024;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->idle_timeout_ms = 60 * 1000;
    cfg->request_timeout_ms = 30 * 1000;
    cfg->max_connections = 4096;
}

http_server *http_server_new(uv_loop_t *loop, const http_server_config *cfg)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    /* A zero field means "the default", so callers can set only what they care about. */
    http_server_config def;
    http_server_config_init(&def);
    s->cfg = cfg ? *cfg : def;
    if (!s->cfg.max_header_bytes)
        s->cfg.max_header_bytes = def.max_header_bytes;
    if (!s->cfg.max_body_bytes)
        s->cfg.max_body_bytes = def.max_body_bytes;
    if (!s->cfg.idle_timeout_ms)
        s->cfg.idle_timeout_ms = def.idle_timeout_ms;
    if (!s->cfg.request_timeout_ms)
        s->cfg.request_timeout_ms = def.request_timeout_ms;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = def.max_connections;
    s->name = strdup(s->cfg.server_name ? s->cfg.server_name : "http");
    s->cfg.server_name = s->name;
    s->rbuf = malloc(READ_BUF_SIZE);
    if (!s->name || !s->rbuf) {
        free(s->name);
        free(s->rbuf);
        free(s);
        return NULL;
    }
    return s;
}

int http_server_route(http_server *s, const char *method, const char *pattern, http_handler_fn fn, void *arg)
{
    return http_server_route_admit(s, method, pattern, fn, NULL, arg);
}

int http_server_route_admit(http_server *s, const char *method, const char *pattern, http_handler_fn fn,
                            http_admit_fn admit, void *arg)
{
    int rc = http_route_table_add(&s->routes, method, pattern, fn, arg);
    if (rc == -EINVAL)
        log_warn("%s: invalid route pattern \"%s\"", s->name, pattern);
    if (rc == 0)
        s->routes.routes[s->routes.n - 1].admit = admit;
    return rc;
}

void http_server_routes_each(const http_server *s, http_route_each_fn fn, void *ctx)
{
    for (size_t i = 0; i < s->routes.n; i++)
        fn(ctx, s->routes.routes[i].method, s->routes.routes[i].pattern);
}

/* ---------------------------------------------------------------------------------------------
 * Listeners
 * ------------------------------------------------------------------------------------------- */

static void on_connection(uv_stream_t *listener, int status);

/* Release a listener once libuv is done with it. */
static void on_listener_closed(uv_handle_t *h)
{
    http_listener *l = h->data;
    http_server *s = l->srv;
    free(l);
    s->listeners_open--;
    http_server_maybe_done(s);
}

int http_server_listen(http_server *s, const char *host, int port)
{
    if (s->shutting_down)
        return UV_EINVAL;
    struct sockaddr_storage ss;
    unsigned flags = 0;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
            return UV_EINVAL;
        /* So that "0.0.0.0" and "::" can both be listened on. */
        flags = UV_TCP_IPV6ONLY;
    }
    http_listener **ls = realloc(s->listeners, (s->nlisteners + 1) * sizeof *ls);
    if (!ls)
        return UV_ENOMEM;
    s->listeners = ls;
    http_listener *l = calloc(1, sizeof *l);
    if (!l)
        return UV_ENOMEM;
    l->srv = s;
    int rc = uv_tcp_init(s->loop, &l->tcp);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->tcp.data = l;
    s->listeners_open++;
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, flags);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
        return rc;
    }
    s->listeners[s->nlisteners++] = l;
    return 0;
}

int http_server_port(const http_server *s)
{
    if (s->nlisteners == 0)
        return -1;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listeners[0]->tcp, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

unsigned http_server_inflight(const http_server *s)
{
    return s->inflight;
}

/* ---------------------------------------------------------------------------------------------
 * Connection lifetime
 * ------------------------------------------------------------------------------------------- */

/* Release a connection's memory: its handles are closed and no handler holds its request. */
void http_conn_free(http_conn *c)
{
    free(c->ibuf);
    free(c->arena);
    free(c->body);
    free(c->resp);
    free(c);
}

/* Free the server itself (http_server_free already asked for it). */
static void server_free_now(http_server *s)
{
    http_route_table_free(&s->routes);
    free(s->listeners);
    free(s->rbuf);
    free(s->name);
    free(s);
}

/* One of the connection's two handles closed; the last one unlinks it from the server. */
static void on_conn_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    http_server *s = c->srv;
    if (--c->open_handles > 0)
        return;
    c->state = CONN_CLOSED;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    /* A handler still holding the request frees the connection when it answers. */
    if (!c->busy)
        http_conn_free(c);
    http_server_maybe_done(s);
}

/* Close now, dropping unsent output; a request still with its handler is marked aborted, and its handler told. */
static void conn_close(http_conn *c)
{
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSING;
    if (c->busy)
        c->req.aborted = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    /* Last, once the connection is fully in CLOSING: the callback may answer the request, which then only
     * releases it (request_finish), and the handles' close callbacks free the connection afterwards. */
    if (c->busy && c->req.on_abort) {
        http_abort_fn fn = c->req.on_abort;
        c->req.on_abort = NULL;
        fn(&c->req, c->req.on_abort_arg);
    }
}

static void on_conn_timer(uv_timer_t *t);

/* Arm the connection's single timer for mode; the timer is only restarted when the new deadline
 * is earlier than the armed one, so the per-request cost is a few stores (see on_conn_timer). */
void http_conn_set_timer(http_conn *c, timer_mode mode, uint64_t ms)
{
    c->tmode = mode;
    if (mode == TIMER_NONE)
        return;
    uint64_t deadline = uv_now(c->srv->loop) + ms;
    c->deadline = deadline;
    if (!uv_is_active((uv_handle_t *)&c->timer) || c->timer_due > deadline) {
        uv_timer_start(&c->timer, on_conn_timer, ms, 0);
        c->timer_due = deadline;
    }
}

/* Timer fired: re-arm if the deadline moved later, else act on the connection's current wait. */
static void on_conn_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->tmode == TIMER_NONE)
        return;
    uint64_t now = uv_now(c->srv->loop);
    if (now < c->deadline) {
        uv_timer_start(&c->timer, on_conn_timer, c->deadline - now, 0);
        c->timer_due = c->deadline;
        return;
    }
    switch (c->tmode) {
    case TIMER_IDLE:
    case TIMER_LINGER:
        conn_close(c);
        break;
    case TIMER_REQUEST:
        conn_fail(c, 408, "Request timeout: the request was not received in time");
        break;
    case TIMER_NONE:
        break;
    }
}

typedef struct {
    uv_write_t req;
    char data[];
} write_req;

/* A queued write finished: free it, and resume parsing once the client has read our answers. */
static void on_write_done(uv_write_t *w, int status)
{
    http_conn *c = w->data;
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            log_debug("%s: write failed: %s", c->srv->name, uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->write_blocked && c->tcp.write_queue_size == 0 && c->state == CONN_OPEN) {
        c->write_blocked = false;
        http_conn_process(c);
    }
}

/* Send bufs, directly when the socket takes them (no copy), else a copy of what is left is
 * queued behind earlier writes. 0 or a negative libuv error (the connection is then closed). */
int http_conn_write(http_conn *c, uv_buf_t *bufs, unsigned nbufs)
{
    if (c->state != CONN_OPEN)
        return UV_ECANCELED;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (n >= 0 && (size_t)n == total)
        return 0;
    if (n < 0 && n != UV_EAGAIN) {
        log_debug("%s: write failed: %s", c->srv->name, uv_strerror(n));
        conn_close(c);
        return n;
    }
    size_t skip = n > 0 ? (size_t)n : 0, left = total - skip;
    write_req *w = malloc(sizeof *w + left);
    if (!w) {
        conn_close(c);
        return UV_ENOMEM;
    }
    char *p = w->data;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len;
        const char *src = bufs[i].base;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(p, src + skip, len - skip);
        p += len - skip;
        skip = 0;
    }
    w->req.data = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)left);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
    if (rc != 0) {
        free(w);
        conn_close(c);
        return rc;
    }
    if (c->tcp.write_queue_size > OUTPUT_HIGH_WATER)
        c->write_blocked = true;
    return 0;
}

/* Write a complete response. Extra headers come from c->resp. */
void http_conn_send_response(http_conn *c, int status, const char *content_type, const char *body, size_t len,
                             bool keep_alive, bool head)
{
    char stack[1024];
    bool no_body = status == 204 || status == 304 || status < 200;
    size_t need = 256 + (content_type ? strlen(content_type) : 0) + c->resp_len;
    char *hdr = need <= sizeof stack ? stack : malloc(need);
    if (!hdr) {
        conn_close(c);
        return;
    }
    int n =
        snprintf(hdr, need, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_status_text(status), server_date(c->srv));
    if (content_type && !no_body)
        n += snprintf(hdr + n, need - (size_t)n, "Content-Type: %s\r\n", content_type);
    if (!no_body)
        n += snprintf(hdr + n, need - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(hdr + n, need - (size_t)n, "Connection: %s\r\n", keep_alive ? "keep-alive" : "close");
    if (c->resp_len) {
        memcpy(hdr + n, c->resp, c->resp_len);
        n += (int)c->resp_len;
    }
    memcpy(hdr + n, "\r\n", 2);
    n += 2;
    uv_buf_t bufs[2] = {uv_buf_init(hdr, (unsigned)n), uv_buf_init((char *)body, (unsigned)len)};
    http_conn_write(c, bufs, (head || no_body || len == 0) ? 1 : 2);
    if (hdr != stack)
        free(hdr);
    c->resp_len = 0;
}

/* Serialize {"error": message}; the caller frees it with cJSON_free. NULL on allocation failure. */
char *http_error_json(const char *message)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "error", message)) {
        cJSON_Delete(o);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void conn_refuse(http_conn *c, int status, const char *message, bool keep_headers);

/* Refuse what the client is sending (it is malformed, too big or too slow), then close. */
static void conn_fail(http_conn *c, int status, const char *message)
{
    conn_refuse(c, status, message, /* keep_headers= */ false);
}

/* conn_fail, with the response headers added for this request kept or not (a route's admission check adds its
 * own; anything else was meant for an answer that will not be given). */
static void conn_refuse(http_conn *c, int status, const char *message, bool keep_headers)
{
    if (c->state != CONN_OPEN)
        return;
    if (c->busy) {
        /* Cannot answer out of order; only a timeout could get here, and it cannot. */
        conn_close(c);
        return;
    }
    log_debug("%s: %d %s", c->srv->name, status, message);
    c->msg_active = c->hdr_phase = false;
    if (!keep_headers)
        c->resp_len = 0;
    char *body = http_error_json(message);
    static const char oom[] = "{\"error\":\"Out of memory\"}";
    http_conn_send_response(c, status, "application/json", body ? body : oom, body ? strlen(body) : sizeof oom - 1,
                            /* keep_alive= */ false, /* head= */ false);
    cJSON_free(body);
    http_conn_finish(c);
}

/* Shutdown finished: the answer and the FIN are out, the client gets LINGER_MS to close. A failure
 * means the peer is gone. */
static void on_shutdown_done(uv_shutdown_t *req, int status)
{
    http_conn *c = req->data;
    if (c->state != CONN_LINGER)
        return;
    if (status < 0)
        conn_close(c);
    else
        http_conn_set_timer(c, TIMER_LINGER, LINGER_MS);
}

/* Close after what is queued has been written: send FIN, then drain input until the client
 * closes or LINGER_MS passes. Until the queued answer is written the idle timeout applies, so a
 * slow reader still gets a big answer. */
void http_conn_finish(http_conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    if (c->busy) {
        conn_close(c);
        return;
    }
    c->state = CONN_LINGER;
    c->ilen = c->ioff = 0;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0) {
        conn_close(c);
        return;
    }
    if (!c->reading) {
        c->reading = true;
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            conn_close(c);
            return;
        }
    }
    http_conn_set_timer(c, TIMER_IDLE, c->srv->cfg.idle_timeout_ms);
}

/* The connection is free to parse its next request. */
static bool conn_can_parse(const http_conn *c)
{
    return c->state == CONN_OPEN && !c->busy && !c->write_blocked;
}

/* Refuse the request the parser choked on: 413/431 decided by a callback, else 400. */
static void conn_parse_error(http_conn *c, llhttp_errno_t err)
{
    if (c->pending_message[0]) { /* a route's admission check refused the request (http_parse.c, admitted) */
        conn_refuse(c, c->pending_status, c->pending_message, /* keep_headers= */ true);
        return;
    }
    switch (c->pending_status) {
    case 413:
        conn_fail(c, 413, "Request body too large");
        return;
    case 431:
        conn_fail(c, 431, "Request headers too large");
        return;
    case 500:
        conn_fail(c, 500, "Out of memory");
        return;
    }
    const char *reason = llhttp_get_error_reason(&c->parser);
    char msg[256];
    snprintf(msg, sizeof msg, "Malformed HTTP request: %s", reason ? reason : llhttp_errno_name(err));
    conn_fail(c, 400, msg);
}

/* Parse and dispatch as many requests from data as the connection allows; returns the bytes
 * consumed. Stops at a request whose handler has not answered yet. */
size_t http_conn_run(http_conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && conn_can_parse(c)) {
        llhttp_errno_t err = llhttp_execute(&c->parser, data + off, len - off);
        if (err == HPE_OK) {
            if (c->hdr_phase) {
                /* Headers still incomplete: also count what llhttp skips silently (whitespace). */
                c->hdr_raw += len - off;
                if (c->hdr_raw > c->srv->cfg.max_header_bytes) {
                    c->pending_status = 431;
                    conn_parse_error(c, err);
                }
            }
            off = len;
        } else if (err == HPE_PAUSED && c->msg_complete) {
            off = (size_t)(llhttp_get_error_pos(&c->parser) - data);
            llhttp_resume(&c->parser);
            c->msg_complete = false;
            http_conn_dispatch(c);
        } else {
            conn_parse_error(c, err);
            off = len;
        }
    }
    return off;
}

/* After parsing: drop consumed input and read only while the backlog is reasonable. */
static void conn_settle(http_conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    size_t pending = c->ilen - c->ioff;
    if (pending == 0) {
        c->ilen = c->ioff = 0;
        if (c->icap > INPUT_KEEP) {
            free(c->ibuf);
            c->ibuf = NULL;
            c->icap = 0;
        }
    }
    bool want = pending < INPUT_HIGH_WATER;
    if (want == c->reading)
        return;
    c->reading = want;
    if (want) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
            conn_close(c);
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

/* Parse what the connection has buffered, unless we are already inside its parsing loop. */
void http_conn_process(http_conn *c)
{
    if (c->processing || c->state != CONN_OPEN)
        return;
    if (c->ioff < c->ilen) {
        c->processing = true;
        c->ioff += http_conn_run(c, c->ibuf + c->ioff, c->ilen - c->ioff);
        c->processing = false;
    }
    conn_settle(c);
}

/* Read into the shared buffer when nothing is pending, else behind the pending bytes. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *c = h->data;
    if (c->state != CONN_OPEN || c->ilen == c->ioff) {
        *buf = uv_buf_init(c->srv->rbuf, READ_BUF_SIZE);
        return;
    }
    if (c->ioff > 0) {
        memmove(c->ibuf, c->ibuf + c->ioff, c->ilen - c->ioff);
        c->ilen -= c->ioff;
        c->ioff = 0;
    }
    if (c->icap - c->ilen < 4096 && http_buf_reserve(&c->ibuf, &c->icap, c->ilen + READ_BUF_SIZE, 0) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to on_read */
        return;
    }
    *buf = uv_buf_init(c->ibuf + c->ilen, (unsigned)(c->icap - c->ilen));
}

/* Input arrived: parse it in place from the shared buffer, keeping only what must wait. */
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    if (nread < 0) {
        /* EOF or reset: the client is gone, a request still with its handler is aborted. */
        if (nread != UV_EOF && c->state == CONN_OPEN)
            log_debug("%s: read failed: %s", c->srv->name, uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (nread == 0 || c->state != CONN_OPEN)
        return; /* lingering: input is dropped */
    if (buf->base != c->srv->rbuf) {
        c->ilen += (size_t)nread;
        http_conn_process(c);
        return;
    }
    size_t used = 0;
    if (conn_can_parse(c)) {
        c->processing = true;
        used = http_conn_run(c, buf->base, (size_t)nread);
        c->processing = false;
    }
    if (c->state == CONN_OPEN && used < (size_t)nread) {
        size_t left = (size_t)nread - used;
        if (http_buf_reserve(&c->ibuf, &c->icap, c->ilen + left, left) != 0) {
            conn_close(c);
            return;
        }
        memcpy(c->ibuf + c->ilen, buf->base + used, left);
        c->ilen += left;
    }
    conn_settle(c);
}

/* A client connected: accept it, or close it at once when over max_connections. */
static void on_connection(uv_stream_t *listener, int status)
{
    http_listener *l = listener->data;
    http_server *s = l->srv;
    if (status < 0) {
        log_warn("%s: accept failed: %s", s->name, uv_strerror(status));
        return;
    }
    http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_warn("%s: out of memory accepting a connection", s->name);
        return;
    }
    c->srv = s;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->state = CONN_OPEN;
    c->req.conn = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (s->nconns > s->cfg.max_connections) {
        uint64_t now = uv_now(s->loop);
        if (now - s->last_reject_log >= 10000 || s->last_reject_log == 0) {
            log_warn("%s: connection refused: %u connections open (max_connections)", s->name, s->nconns - 1);
            s->last_reject_log = now;
        }
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &http_parser_settings);
    c->parser.data = c;
    c->reading = true;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    /* Before its first request a connection gets the shorter of the two waits. */
    uint64_t wait =
        s->cfg.idle_timeout_ms < s->cfg.request_timeout_ms ? s->cfg.idle_timeout_ms : s->cfg.request_timeout_ms;
    http_conn_set_timer(c, TIMER_IDLE, wait);
}

/* ---------------------------------------------------------------------------------------------
 * Shutdown
 * ------------------------------------------------------------------------------------------- */

/* Grace period over: close whatever is still open, aborting requests still with handlers. */
static void on_grace_timeout(uv_timer_t *t)
{
    http_server *s = t->data;
    for (http_conn *c = s->conns; c; c = c->next)
        conn_close(c);
}

/* Last handle closed: report the shutdown done; then a free asked for earlier can happen. */
static void on_grace_closed(uv_handle_t *h)
{
    http_server *s = h->data;
    bool free_pending = s->free_pending;
    s->grace_closed = true;
    if (s->done)
        s->done(s->done_arg); /* may call http_server_free */
    if (free_pending)
        http_server_maybe_done(s);
}

/* Called whenever a handle or a request goes away: complete a shutdown, or a deferred free.
 * The server may be freed on return. */
void http_server_maybe_done(http_server *s)
{
    bool handles_left = s->listeners_open > 0 || s->nconns > 0;
    if (s->shutting_down && !s->grace_closing && !handles_left) {
        s->grace_closing = true;
        uv_close((uv_handle_t *)&s->grace, on_grace_closed);
        return;
    }
    if (s->free_pending && s->inflight == 0 && !handles_left && (!s->shutting_down || s->grace_closed))
        server_free_now(s);
}

void http_server_shutdown(http_server *s, uint64_t grace_ms, void (*done)(void *arg), void *arg)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    s->done = done;
    s->done_arg = arg;
    uv_timer_init(s->loop, &s->grace);
    s->grace.data = s;
    uv_timer_start(&s->grace, on_grace_timeout, grace_ms, 0);
    for (size_t i = 0; i < s->nlisteners; i++)
        uv_close((uv_handle_t *)&s->listeners[i]->tcp, on_listener_closed);
    s->nlisteners = 0;
    /* Idle connections go now (after any answer still being written); busy ones answer with
     * "Connection: close" and go then. */
    for (http_conn *c = s->conns; c; c = c->next)
        if (c->state == CONN_OPEN && !c->busy && !c->msg_active)
            http_conn_finish(c);
    http_server_maybe_done(s);
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    /* Requests aborted by the shutdown may still be with their handlers: free when they answer. */
    s->free_pending = true;
    http_server_maybe_done(s);
}
