/* HTTP/1.1 server: libuv connections, llhttp parsing, routing, in-order answers to async handlers. */
#include "http_server.h"

#include "http_route.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Fixed per-request tables: a request that needs more headers is refused with 431, more query
 * parameters are ignored (the first ones are kept); a route may not declare more than HTTP_MAX_PARAMS parameters
 * (http_route.h). */
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_QUERY 32

/* One read buffer per server: most reads hold whole requests and are parsed in place, so a
 * connection only keeps bytes of its own when a pipelined request waits behind one in flight. */
#define READ_BUF_SIZE (64 * 1024)
/* Buffered input past which a connection stops reading until its in-flight request is answered. */
#define INPUT_HIGH_WATER (128 * 1024)
/* Queued output past which a connection stops parsing new requests until the client reads. */
#define OUTPUT_HIGH_WATER (1024 * 1024)
/* Buffers bigger than these are released after each request rather than kept for the next. */
#define INPUT_KEEP (16 * 1024)
#define ARENA_KEEP (16 * 1024)
#define BODY_KEEP (64 * 1024)
/* After the last answer of a connection we send FIN and keep reading (and dropping) for a while:
 * closing with unread bytes makes the kernel send RST, which can destroy the answer in flight
 * (a 413 while the client is still sending its body). */
#define LINGER_MS 2000

typedef struct {
    uv_tcp_t tcp;
    http_server *srv;
} http_listener;

typedef enum { CONN_OPEN, CONN_LINGER, CONN_CLOSING, CONN_CLOSED } conn_state;
typedef enum { TIMER_NONE, TIMER_IDLE, TIMER_REQUEST, TIMER_LINGER } timer_mode;

typedef struct http_conn http_conn;

struct http_request {
    http_conn *conn;
    const char *method;
    const char *path;  /* percent-decoded */
    const char *query; /* raw, without '?' */
    uint64_t start_ns;
    void *data;
    bool aborted;
    bool head;
    size_t url_off;
    /* Offsets into the connection's arena: it may move while headers are still arriving. */
    struct {
        uint32_t name, value;
    } hdr[HTTP_MAX_HEADERS];
    unsigned nhdr;
    struct {
        const char *name, *value;
    } param[HTTP_MAX_PARAMS];
    unsigned nparam;
    struct {
        const char *name, *value;
    } qp[HTTP_MAX_QUERY];
    unsigned nqp;
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    http_server *srv;
    http_conn *prev, *next;
    conn_state state;
    int open_handles;
    llhttp_t parser;

    /* Unparsed input kept between reads (see READ_BUF_SIZE). */
    char *ibuf;
    size_t ilen, ioff, icap;

    /* Request line and headers of the current request, NUL-separated; then path, params, query. */
    char *arena;
    size_t alen, acap;
    size_t hdr_bytes; /* request line + headers as counted against max_header_bytes */
    size_t hdr_raw;   /* bytes fed to the parser while in headers (catches whitespace padding) */
    bool in_field;

    char *body;
    size_t body_len, body_cap;

    char *resp; /* extra response headers, "Name: value\r\n"... */
    size_t resp_len, resp_cap;

    http_request req;

    timer_mode tmode;
    uint64_t deadline, timer_due;

    int pending_status; /* set by a parser callback that refuses the request (the connection then closes) */
    bool hdr_phase;     /* a message began and its headers are not complete yet */
    bool msg_active;    /* a message began and is not complete yet */
    bool msg_complete;  /* on_message_complete paused the parser: dispatch */
    bool busy;          /* a request was dispatched and is not answered yet */
    bool keep_alive;
    bool processing; /* inside conn_run: answers given now must not re-enter the parser */
    bool write_blocked;
    bool reading;
    bool peer_done;
    char peer[64];
};

struct http_server {
    uv_loop_t *loop;
    http_server_config cfg;
    char *name;
    http_route_table routes;
    http_listener **listeners;
    size_t nlisteners;
    unsigned listeners_open;
    http_conn *conns;
    unsigned nconns; /* in the list: open, lingering or closing */
    unsigned inflight;
    char *rbuf;
    time_t date_time;
    char date[64];

    uint64_t last_reject_log;

    bool shutting_down;
    bool grace_closing, grace_closed;
    uv_timer_t grace;
    void (*done)(void *arg);
    void *done_arg;
    bool free_pending;
};

static void conn_close(http_conn *c);
static void conn_finish(http_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void conn_process(http_conn *c);
static void conn_fail(http_conn *c, int status, const char *message);
static void server_maybe_done(http_server *s);

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

/* Value of one hex digit, or -1. */
static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decode %xx (and '+' if asked) in place, keeping malformed escapes as they are; NUL-terminates. */
static size_t percent_decode_lenient(char *s, size_t len, bool plus_is_space)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%' && i + 2 < len) {
            int hi = hex_value((unsigned char)s[i + 1]), lo = hex_value((unsigned char)s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                s[out++] = (char)(hi << 4 | lo);
                i += 2;
                continue;
            }
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
        }
        s[out++] = ch;
    }
    s[out] = '\0';
    return out;
}

long http_percent_decode(char *s, size_t len, bool plus_is_space)
{
    /* Validate first so that a malformed string is left untouched. */
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%')
            continue;
        if (i + 2 >= len || hex_value((unsigned char)s[i + 1]) < 0 || hex_value((unsigned char)s[i + 2]) < 0)
            return -1;
        i += 2;
    }
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            s[out++] = (char)(hex_value((unsigned char)s[i + 1]) << 4 | hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else {
            s[out++] = (s[i] == '+' && plus_is_space) ? ' ' : s[i];
        }
    }
    if (out < len)
        s[out] = '\0';
    return (long)out;
}

static const struct {
    int status;
    const char *text;
} status_texts[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http_status_text(int status)
{
    for (size_t i = 0; i < sizeof status_texts / sizeof status_texts[0]; i++)
        if (status_texts[i].status == status)
            return status_texts[i].text;
    return "Unknown";
}

/* Grow *buf so that it holds at least need bytes; 0 or -ENOMEM. */
static int buf_reserve(char **buf, size_t *cap, size_t need, size_t min_cap)
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
    int rc = http_route_table_add(&s->routes, method, pattern, fn, arg);
    if (rc == -EINVAL)
        log_warn("%s: invalid route pattern \"%s\"", s->name, pattern);
    return rc;
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
    server_maybe_done(s);
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
static void conn_free(http_conn *c)
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
        conn_free(c);
    server_maybe_done(s);
}

/* Close now, dropping unsent output; a request still with its handler is marked aborted. */
static void conn_close(http_conn *c)
{
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSING;
    if (c->busy)
        c->req.aborted = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_conn_timer(uv_timer_t *t);

/* Arm the connection's single timer for mode; the timer is only restarted when the new deadline
 * is earlier than the armed one, so the per-request cost is a few stores (see on_conn_timer). */
static void conn_set_timer(http_conn *c, timer_mode mode, uint64_t ms)
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
        conn_process(c);
    }
}

/* Send bufs, directly when the socket takes them (no copy), else a copy of what is left is
 * queued behind earlier writes. 0 or a negative libuv error (the connection is then closed). */
static int conn_write(http_conn *c, uv_buf_t *bufs, unsigned nbufs)
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
static void conn_send_response(http_conn *c, int status, const char *content_type, const char *body, size_t len,
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
    conn_write(c, bufs, (head || no_body || len == 0) ? 1 : 2);
    if (hdr != stack)
        free(hdr);
    c->resp_len = 0;
}

/* Serialize {"error": message}; the caller frees it with cJSON_free. NULL on allocation failure. */
static char *error_json(const char *message)
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

/* Refuse what the client is sending (it is malformed, too big or too slow), then close. */
static void conn_fail(http_conn *c, int status, const char *message)
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
    c->resp_len = 0;
    char *body = error_json(message);
    static const char oom[] = "{\"error\":\"Out of memory\"}";
    conn_send_response(c, status, "application/json", body ? body : oom, body ? strlen(body) : sizeof oom - 1,
                       /* keep_alive= */ false, /* head= */ false);
    cJSON_free(body);
    conn_finish(c);
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
        conn_set_timer(c, TIMER_LINGER, LINGER_MS);
}

/* Close after what is queued has been written: send FIN, then drain input until the client
 * closes or LINGER_MS passes. Until the queued answer is written the idle timeout applies, so a
 * slow reader still gets a big answer. */
static void conn_finish(http_conn *c)
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
    conn_set_timer(c, TIMER_IDLE, c->srv->cfg.idle_timeout_ms);
}

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
    if (buf_reserve(&c->arena, &c->acap, c->alen + n, 1024) != 0) {
        c->pending_status = 500;
        return false;
    }
    memcpy(c->arena + c->alen, p, n);
    c->alen += n;
    return true;
}

/* Take n bytes of arena space that conn_dispatch reserved beforehand. */
static char *arena_take(http_conn *c, size_t n)
{
    char *p = c->arena + c->alen;
    c->alen += n;
    return p;
}

/* Last value of header name (case-insensitive), or NULL. */
static const char *conn_header(const http_conn *c, const char *name)
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
    conn_set_timer(c, TIMER_REQUEST, c->srv->cfg.request_timeout_ms);
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

/* Headers complete: refuse a declared body over the limit before it is sent, answer
 * "Expect: 100-continue", and size the body buffer once. */
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
    if (body_expected && p->http_major == 1 && p->http_minor >= 1) {
        const char *expect = conn_header(c, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0) {
            uv_buf_t b = uv_buf_init((char *)continue_line, sizeof continue_line - 1);
            if (conn_write(c, &b, 1) != 0)
                return -1;
        }
    }
    if (has_length && p->content_length > 0 &&
        buf_reserve(&c->body, &c->body_cap, (size_t)p->content_length + 1, 0) != 0) {
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
    if (buf_reserve(&c->body, &c->body_cap, c->body_len + len + 1, 1024) != 0) {
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

static const llhttp_settings_t parser_settings = {
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
            percent_decode_lenient(name, nlen, /* plus_is_space= */ true);
            const char *value = "";
            if (eq) {
                size_t vlen = (size_t)(pe - eq - 1);
                char *v = arena_take(c, vlen + 1);
                memcpy(v, eq + 1, vlen);
                percent_decode_lenient(v, vlen, /* plus_is_space= */ true);
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

/* Copy raw bytes into the arena and percent-decode them ('+' stays): one path parameter. */
static const char *request_decode_segment(http_conn *c, const char *raw, size_t len)
{
    char *v = arena_take(c, len + 1);
    memcpy(v, raw, len);
    percent_decode_lenient(v, len, /* plus_is_space= */ false);
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
static void conn_dispatch(http_conn *c)
{
    http_server *s = c->srv;
    http_request *req = &c->req;
    c->msg_active = c->hdr_phase = false;
    c->busy = true;
    s->inflight++;
    conn_set_timer(c, TIMER_NONE, 0);
    req->aborted = false;
    req->data = NULL;
    req->nparam = req->nqp = 0;
    req->method = llhttp_method_name(c->parser.method);
    req->head = c->parser.method == HTTP_HEAD;
    req->path = req->query = "";

    /* Everything derived from the target fits in three times its length (decoded path, params,
     * query pairs), reserved now so that the pointers handed out below stay put. */
    size_t ulen = c->arena ? strlen(c->arena + req->url_off) : 0;
    if (buf_reserve(&c->arena, &c->acap, c->alen + 3 * ulen + 16, 1024) != 0) {
        http_respond_error(req, 500, "Out of memory");
        return;
    }
    char *url = c->arena + req->url_off;
    char *path = url;
    if (url[0] != '/') {
        /* absolute-form ("http://host/path"): keep the path */
        char *scheme_end = strstr(url, "://");
        if (scheme_end)
            path = scheme_end + 3 + strcspn(scheme_end + 3, "/?");
    }
    char *qmark = strchr(path, '?');
    if (qmark) {
        *qmark = '\0';
        req->query = qmark + 1;
    }
    if (*path == '\0')
        path = (char *)"/";
    size_t plen = strlen(path);
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

/* The connection is free to parse its next request. */
static bool conn_can_parse(const http_conn *c)
{
    return c->state == CONN_OPEN && !c->busy && !c->write_blocked;
}

/* Refuse the request the parser choked on: 413/431 decided by a callback, else 400. */
static void conn_parse_error(http_conn *c, llhttp_errno_t err)
{
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
static size_t conn_run(http_conn *c, const char *data, size_t len)
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
            conn_dispatch(c);
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
static void conn_process(http_conn *c)
{
    if (c->processing || c->state != CONN_OPEN)
        return;
    if (c->ioff < c->ilen) {
        c->processing = true;
        c->ioff += conn_run(c, c->ibuf + c->ioff, c->ilen - c->ioff);
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
    if (c->icap - c->ilen < 4096 && buf_reserve(&c->ibuf, &c->icap, c->ilen + READ_BUF_SIZE, 0) != 0) {
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
        conn_process(c);
        return;
    }
    size_t used = 0;
    if (conn_can_parse(c)) {
        c->processing = true;
        used = conn_run(c, buf->base, (size_t)nread);
        c->processing = false;
    }
    if (c->state == CONN_OPEN && used < (size_t)nread) {
        size_t left = (size_t)nread - used;
        if (buf_reserve(&c->ibuf, &c->icap, c->ilen + left, left) != 0) {
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
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->reading = true;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    /* Before its first request a connection gets the shorter of the two waits. */
    uint64_t wait =
        s->cfg.idle_timeout_ms < s->cfg.request_timeout_ms ? s->cfg.idle_timeout_ms : s->cfg.request_timeout_ms;
    conn_set_timer(c, TIMER_IDLE, wait);
}

/* ---------------------------------------------------------------------------------------------
 * Answering
 * ------------------------------------------------------------------------------------------- */

/* The request was answered (or dropped): release it, free a closed connection, or wait for the
 * next request. */
static void request_finish(http_conn *c)
{
    http_server *s = c->srv;
    c->busy = false;
    c->req.data = NULL;
    c->resp_len = 0;
    c->body_len = 0;
    c->alen = 0;
    s->inflight--;
    if (c->body_cap > BODY_KEEP) {
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    if (c->acap > ARENA_KEEP) {
        free(c->arena);
        c->arena = NULL;
        c->acap = 0;
    }
    if (c->state == CONN_CLOSED) {
        conn_free(c);
        server_maybe_done(s);
        return;
    }
    if (c->state == CONN_OPEN)
        conn_set_timer(c, TIMER_IDLE, s->cfg.idle_timeout_ms);
}

void http_response_header(http_request *req, const char *name, const char *value)
{
    http_conn *c = req->conn;
    if (!c->busy)
        return;
    if (!*name || strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n")) {
        log_warn("%s: response header \"%s\" dropped: CR, LF or a bad name", c->srv->name, name);
        return;
    }
    /* Framing is ours: a handler setting these would corrupt the connection. */
    if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Connection") == 0 ||
        strcasecmp(name, "Transfer-Encoding") == 0) {
        log_warn("%s: response header \"%s\" dropped: set by the server", c->srv->name, name);
        return;
    }
    size_t nlen = strlen(name), vlen = strlen(value);
    if (buf_reserve(&c->resp, &c->resp_cap, c->resp_len + nlen + vlen + 4, 256) != 0)
        return;
    char *p = c->resp + c->resp_len;
    memcpy(p, name, nlen);
    memcpy(p + nlen, ": ", 2);
    memcpy(p + nlen + 2, value, vlen);
    memcpy(p + nlen + 2 + vlen, "\r\n", 2);
    c->resp_len += nlen + vlen + 4;
}

void http_respond(http_request *req, int status, const char *content_type, const char *body, size_t len)
{
    http_conn *c = req->conn;
    if (!c->busy) {
        log_warn("%s: a request was answered twice", c->srv->name);
        return;
    }
    if (c->state != CONN_OPEN || req->aborted) {
        request_finish(c); /* may free c */
        return;
    }
    bool keep = c->keep_alive && !c->srv->shutting_down;
    conn_send_response(c, status, content_type, body ? body : "", body ? len : 0, keep, req->head);
    request_finish(c);
    if (!keep)
        conn_finish(c);
    else
        conn_process(c); /* the next pipelined request, unless we are inside conn_run already */
}

void http_respond_json(http_request *req, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        http_respond_error(req, 500, "Could not serialize the response");
        return;
    }
    http_respond(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
}

void http_respond_error(http_request *req, int status, const char *message)
{
    static const char oom[] = "{\"error\":\"Out of memory\"}";
    char *text = error_json(message);
    http_respond(req, text ? status : 500, "application/json", text ? text : oom, text ? strlen(text) : sizeof oom - 1);
    cJSON_free(text);
}

/* ---------------------------------------------------------------------------------------------
 * Request accessors
 * ------------------------------------------------------------------------------------------- */

const char *http_request_method(const http_request *req)
{
    return req->method;
}

const char *http_request_path(const http_request *req)
{
    return req->path;
}

const char *http_request_query_string(const http_request *req)
{
    return req->query;
}

const char *http_request_header(const http_request *req, const char *name)
{
    return conn_header(req->conn, name);
}

const char *http_request_param(const http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->nparam; i++)
        if (strcmp(req->param[i].name, name) == 0)
            return req->param[i].value;
    return NULL;
}

const char *http_request_query(const http_request *req, const char *name)
{
    for (unsigned i = req->nqp; i-- > 0;)
        if (strcmp(req->qp[i].name, name) == 0)
            return req->qp[i].value;
    return NULL;
}

const char *http_request_body(const http_request *req, size_t *len)
{
    const http_conn *c = req->conn;
    if (len)
        *len = c->body_len;
    return c->body_len ? c->body : "";
}

const char *http_request_peer(const http_request *req)
{
    http_conn *c = req->conn;
    if (c->peer_done)
        return c->peer;
    c->peer_done = true;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (c->state != CONN_OPEN || uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return c->peer;
    if (ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    } else if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
        /* An IPv4 client on a dual-stack socket: show the address people know. */
        if (strncasecmp(c->peer, "::ffff:", 7) == 0 && strchr(c->peer + 7, '.'))
            memmove(c->peer, c->peer + 7, strlen(c->peer + 7) + 1);
    }
    return c->peer;
}

uint64_t http_request_start_ns(const http_request *req)
{
    return req->start_ns;
}

void http_request_set_data(http_request *req, void *data)
{
    req->data = data;
}

void *http_request_data(const http_request *req)
{
    return req->data;
}

bool http_request_aborted(const http_request *req)
{
    return req->aborted;
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
        server_maybe_done(s);
}

/* Called whenever a handle or a request goes away: complete a shutdown, or a deferred free.
 * The server may be freed on return. */
static void server_maybe_done(http_server *s)
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
            conn_finish(c);
    server_maybe_done(s);
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    /* Requests aborted by the shutdown may still be with their handlers: free when they answer. */
    s->free_pending = true;
    server_maybe_done(s);
}
