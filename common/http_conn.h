/* The HTTP server's private parts, shared by its files and by nothing else: http_server.c (setup, listeners,
 * connections, reading and writing, shutdown), http_parse.c (llhttp callbacks, dispatch to a route), http_request.c
 * (answering, request accessors), http_text.c (status texts, percent-decoding), http_route.c (the route table). */
#ifndef MOHSTATS_HTTP_CONN_H
#define MOHSTATS_HTTP_CONN_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "http_route.h"
#include "http_server.h"

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
    http_abort_fn on_abort; /* http_request_on_abort: called by conn_close while the handler holds the request */
    void *on_abort_arg;
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
    char pending_message[256]; /* ... with this message when a route's admission check refused it, else "" */
    bool hdr_phase;     /* a message began and its headers are not complete yet */
    bool msg_active;    /* a message began and is not complete yet */
    bool msg_complete;  /* on_message_complete paused the parser: dispatch */
    bool busy;          /* a request was dispatched and is not answered yet */
    bool admitting;     /* its route's admission check is looking at the request (http_parse.c, admitted) */
    bool keep_alive;
    bool processing; /* inside http_conn_run: answers given now must not re-enter the parser */
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

/* Grow *buf so that it holds at least need bytes; 0 or -ENOMEM. */
int http_buf_reserve(char **buf, size_t *cap, size_t need, size_t min_cap);

/* Release a connection's memory: its handles are closed and no handler holds its request. */
void http_conn_free(http_conn *c);

/* Arm the connection's single timer for mode; the timer is only restarted when the new deadline
 * is earlier than the armed one, so the per-request cost is a few stores (see on_conn_timer). */
void http_conn_set_timer(http_conn *c, timer_mode mode, uint64_t ms);

/* Send bufs, directly when the socket takes them (no copy), else a copy of what is left is
 * queued behind earlier writes. 0 or a negative libuv error (the connection is then closed). */
int http_conn_write(http_conn *c, uv_buf_t *bufs, unsigned nbufs);

/* Write a complete response. Extra headers come from c->resp. */
void http_conn_send_response(http_conn *c, int status, const char *content_type, const char *body, size_t len,
                             bool keep_alive, bool head);

/* Serialize {"error": message}; the caller frees it with cJSON_free. NULL on allocation failure. */
char *http_error_json(const char *message);

/* Close after what is queued has been written: send FIN, then drain input until the client
 * closes or LINGER_MS passes. Until the queued answer is written the idle timeout applies, so a
 * slow reader still gets a big answer. */
void http_conn_finish(http_conn *c);

/* Parse and dispatch as many requests from data as the connection allows; returns the bytes
 * consumed. Stops at a request whose handler has not answered yet. */
size_t http_conn_run(http_conn *c, const char *data, size_t len);

/* Parse what the connection has buffered, unless we are already inside its parsing loop. */
void http_conn_process(http_conn *c);

/* Called whenever a handle or a request goes away: complete a shutdown, or a deferred free.
 * The server may be freed on return. */
void http_server_maybe_done(http_server *s);

/* Last value of header name (case-insensitive), or NULL. */
const char *http_conn_header(const http_conn *c, const char *name);

/* A complete request: resolve path, parameters and query, pick the route and call its handler. */
void http_conn_dispatch(http_conn *c);

/* The llhttp callbacks (http_parse.c). */
extern const llhttp_settings_t http_parser_settings;

/* Decode %xx (and '+' if asked) in place, keeping malformed escapes as they are; NUL-terminates. */
size_t http_percent_decode_lenient(char *s, size_t len, bool plus_is_space);

#endif
