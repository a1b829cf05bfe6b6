/* ClickHouse client: HTTP POSTs on libcurl's multi interface, its sockets and timer driven by the libuv loop. */
#include "clickhouse.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "log.h"
#include "probe.h"

#define CH_DEFAULT_TIMEOUT_MS 30000
#define CH_PROBE_TIMEOUT_MS 2000
/* ClickHouse closes idle keep-alive connections after keep_alive_timeout (3 s by default, on 18.16 too).
 * Retiring them sooner on our side means curl never sends a request into a socket the server is closing;
 * a reused dead socket is harmless for buffered bodies (curl retries) but fails a streamed insert, whose
 * read callback cannot be rewound. */
#define CH_MAX_IDLE_S 2

typedef struct ch_sock ch_sock;
typedef struct ch_request ch_request;

/* One socket curl asked us to watch. Freed from its close callback. */
struct ch_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    ch_client *c;
    ch_sock *prev, *next;
};

/* One HTTP request in flight. */
struct ch_request {
    CURL *easy;
    ch_client *c;
    ch_result_fn cb;
    void *arg;
    /* Set instead of cb for ch_probe, which wants a short reason rather than the body. */
    probe_done_fn probe_done;
    void *probe_token;
    ch_read_fn read_fn;
    void *read_arg;
    bytebuf resp;
    bool oom;
    char errbuf[CURL_ERROR_SIZE];
    ch_request *prev, *next;
};

struct ch_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    char *url;                  /* http://host:port/?database=... without credentials */
    struct curl_slist *headers; /* credentials, and no "Expect: 100-continue" */
    long timeout_ms;
    unsigned inflight;
    ch_request *requests;
    ch_sock *socks;
    int depth;        /* > 0 while our code runs under a curl call or a user callback */
    bool freeing;     /* ch_client_free (or ch_client_stop) was called */
    bool retain;      /* ch_client_stop: stay allocated after the teardown, until ch_client_free */
    bool torn_down;   /* curl is gone; waiting for handles to close */
    unsigned closing; /* uv handles whose close callback has not run yet */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe on every libcurl build: run it once, whoever gets here first. */
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- ClickHouse formats in a buffer ---- */

/* The escape letter ClickHouse reads back for a control byte, or 0 if it has none. */
static char escape_letter(unsigned char ch)
{
    switch (ch) {
    case '\0':
        return '0';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}

int ch_append_quoted(bytebuf *b, const char *s, size_t len)
{
    /* Worst case every byte becomes \xHH. */
    if (len > (SIZE_MAX - 3) / 4 || bytebuf_grow(b, len * 4 + 2))
        return -ENOMEM;
    char *o = b->data + b->len;
    *o++ = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char letter = escape_letter(ch);
        if (ch == '\\' || ch == '\'') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (letter) {
            *o++ = '\\';
            *o++ = letter;
        } else if (ch < 0x20 || ch == 0x7f) {
            /* \xHH is read back by ClickHouse 18.16 and later; raw control bytes would be too, but
             * they make SQL unreadable in logs. Bytes >= 0x80 pass through: strings are bytes. */
            static const char hex[] = "0123456789ABCDEF";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '\'';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* For each byte, the letter that follows the backslash in its TSV escape, or 0 when it passes as is. */
static const char tsv_escape[256] = {
    ['\0'] = '0', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['\\'] = '\\',
};

/* Whether a byte of the 8 in w may need a TSV escape: one below 0x0e (every escaped byte but the backslash is,
 * with a few that are not) or a backslash. Exact as a yes/no: a byte flags only if it, or a lower byte already
 * flagged, is one of those. */
static inline bool word_may_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t bs = w ^ (ones * '\\');
    return ((((w - ones * 0x0e) & ~w) | ((bs - ones) & ~bs)) & highs) != 0;
}

/* The first byte at or after i that needs an escape, or len. Eight bytes at a time, since raw objects are a few
 * hundred bytes with rarely anything to escape; a flagged word is then looked at byte by byte. */
static size_t tsv_next_escape(const char *s, size_t i, size_t len)
{
    for (;;) {
        uint64_t w;
        while (i + 8 <= len && (memcpy(&w, s + i, 8), !word_may_escape(w)))
            i += 8;
        size_t stop = len - i > 8 ? i + 8 : len;
        while (i < stop && !tsv_escape[(unsigned char)s[i]])
            i++;
        if (i < stop || i == len)
            return i;
    }
}

int ch_append_tsv(bytebuf *b, const char *s, size_t len)
{
    if (len > (SIZE_MAX - 1) / 2 || bytebuf_grow(b, len * 2))
        return -ENOMEM;
    /* Rows are mostly text with nothing to escape: copy the runs between escapes whole. */
    char *o = b->data + b->len;
    size_t i = 0;
    while (i < len) {
        size_t run = tsv_next_escape(s, i, len);
        memcpy(o, s + i, run - i);
        o += run - i;
        if (run == len)
            break;
        *o++ = '\\';
        *o++ = tsv_escape[(unsigned char)s[run]];
        i = run + 1;
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

/* ---- client lifetime ---- */

/* Free the client once curl is gone and the last uv handle has closed. */
static void client_maybe_release(ch_client *c)
{
    if (!c->torn_down || c->closing || c->retain)
        return;
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c);
}

/* Close callback of a socket's poll handle. */
static void on_sock_closed(uv_handle_t *h)
{
    ch_sock *s = h->data;
    ch_client *c = s->c;
    free(s);
    c->closing--;
    client_maybe_release(c);
}

/* Stop watching a socket: unlink it and close its poll handle. */
static void sock_close(ch_client *c, ch_sock *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    c->closing++;
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Close callback of the curl timer. */
static void on_timer_closed(uv_handle_t *h)
{
    ch_client *c = h->data;
    c->closing--;
    client_maybe_release(c);
}

/* Unlink a request from the in-flight list and free it. */
static void request_free(ch_client *c, ch_request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->inflight--;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    bytebuf_free(&r->resp);
    free(r);
}

/* Deliver a request's outcome to whoever asked: the user callback or the probe. */
static void request_deliver(ch_request *r, int err, long status, const char *body, size_t len, const char *reason)
{
    if (r->probe_done)
        r->probe_done(r->probe_token, err == 0, err == 0 ? NULL : reason);
    else if (r->cb)
        r->cb(r->c, err, status, body, len, r->arg);
}

/* Abort every request (callbacks get -ECANCELED), drop curl, and close our handles. */
static void client_teardown(ch_client *c)
{
    ch_request *r;
    c->depth++;
    while ((r = c->requests)) {
        curl_multi_remove_handle(c->multi, r->easy);
        static const char msg[] = "request cancelled: the ClickHouse client is shutting down";
        request_deliver(r, -ECANCELED, 0, msg, sizeof msg - 1, "shutting down");
        request_free(c, r);
    }
    c->depth--;
    /* Closes pooled connections; curl may still call our socket callback from here. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c, c->socks);
    uv_timer_stop(&c->timer);
    c->closing++;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    c->torn_down = true;
    client_maybe_release(c);
}

/* Leave a section that may have run user code: tear down now if ch_client_free was called meanwhile. */
static void client_leave(ch_client *c)
{
    if (--c->depth == 0 && c->freeing && !c->torn_down)
        client_teardown(c);
}

/* A short reason a person can read for a transport failure: "connection refused", "timeout". */
static const char *transport_reason(CURL *easy, CURLcode code)
{
    long os_errno = 0;
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "cannot resolve host";
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED)
            return "connection refused";
        if (os_errno == ETIMEDOUT)
            return "timeout";
        return "cannot connect";
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return "connection lost";
    default:
        return curl_easy_strerror(code);
    }
}

/* The message of a ClickHouse error, for a probe's one-line reason. 18.16 writes "Code: 193,
 * e.displayText() = DB::Exception: Wrong password for user moh, e.what() = DB::Exception", current releases
 * "Code: 516. DB::Exception: ...: Authentication failed. (AUTHENTICATION_FAILED) (version 24.3.1)". */
static const char *error_summary(const char *body, char *out, size_t outlen)
{
    const char *s = strstr(body, "DB::Exception: ");
    s = s ? s + 15 : body;
    size_t n = strcspn(s, "\n");
    const char *end = strstr(s, ", e.what() = ");
    if (end && (size_t)(end - s) < n)
        n = (size_t)(end - s);
    end = strstr(s, " (version ");
    if (end && (size_t)(end - s) < n)
        n = (size_t)(end - s);
    snprintf(out, outlen, "%.*s", (int)n, s);
    return out;
}

/* Hand every finished transfer to its callback. */
static void process_done(ch_client *c)
{
    CURLMsg *m;
    int left;
    while (!c->freeing && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result; /* m is invalid once the handle is removed */
        ch_request *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(c->multi, easy);

        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        const char *body = r->resp.data ? r->resp.data : "";
        size_t len = r->resp.len;
        const char *reason = NULL;
        int err = 0;
        if (code == CURLE_OK && status == 200) {
            err = 0;
        } else if (code == CURLE_OK) {
            /* ClickHouse's error text ("Code: 62, e.displayText() = ...") ends with a newline. */
            err = -EPROTO;
            while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
                len--;
            r->resp.len = len;
            if (r->resp.data)
                r->resp.data[len] = '\0';
            /* errbuf is free: curl only writes it for transport errors. */
            reason = len ? error_summary(body, r->errbuf, sizeof r->errbuf) : "HTTP error";
            if (!len) {
                body = reason;
                len = strlen(reason);
            }
        } else {
            err = r->oom ? -ENOMEM : code == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
            reason = r->oom ? "out of memory" : transport_reason(easy, code);
            body = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
            len = strlen(body);
        }
        if (err && !r->probe_done && err != -EPROTO)
            log_debug("clickhouse: request failed: %s", body);
        request_deliver(r, err, status, body, len, reason);
        request_free(c, r);
    }
}

/* A watched socket is ready (or failed): let curl do its I/O. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    ch_sock *s = h->data;
    ch_client *c = s->c;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    c->depth++;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    process_done(c);
    client_leave(c);
}

/* curl's timeout expired: let it handle timeouts and start queued transfers. */
static void on_timer(uv_timer_t *t)
{
    ch_client *c = t->data;
    int running;
    c->depth++;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_done(c);
    client_leave(c);
}

/* CURLMOPT_TIMERFUNCTION: curl wants to be called back after timeout_ms (-1: never). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ch_client *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else /* 0 too goes through the loop: curl must not be re-entered from its own callback. */
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching one of curl's sockets. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    ch_client *c = userp;
    ch_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(c, s);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->c = c;
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

/* CURLOPT_WRITEFUNCTION: collect the response body. */
static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    ch_request *r = userp;
    size_t n = size * nmemb;
    if (bytebuf_append(&r->resp, data, n)) {
        r->oom = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

/* CURLOPT_READFUNCTION: the next piece of a streamed insert. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
    ch_request *r = userp;
    return r->read_fn(buf, size * nitems, r->read_arg);
}

/* Split url into a credential-free request URL (with database=) and the user and password, decoded. */
static int parse_url(const char *url, char **base, char **user, char **password)
{
    int rc = -EINVAL;
    char *query = NULL, *scheme = NULL;
    CURLU *u = curl_url();
    *base = *user = *password = NULL;
    if (!u)
        return -ENOMEM;
    if (!url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        goto out;
    curl_url_get(u, CURLUPART_USER, user, CURLU_URLDECODE);
    curl_url_get(u, CURLUPART_PASSWORD, password, CURLU_URLDECODE);
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    if (!query || (strncmp(query, "database=", 9) != 0 && !strstr(query, "&database=")))
        curl_url_set(u, CURLUPART_QUERY, "database=default", CURLU_APPENDQUERY);
    char *full = NULL;
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        goto out;
    *base = strdup(full);
    curl_free(full);
    rc = *base ? 0 : -ENOMEM;
out:
    curl_free(query);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

/* Append "name: value" to the header list; values with line breaks would inject headers. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    if (strpbrk(value, "\r\n"))
        return -EINVAL;
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return -ENOMEM;
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (!l)
        return -ENOMEM;
    *list = l;
    return 0;
}

ch_client *ch_client_new(uv_loop_t *loop, const char *url, long timeout_ms)
{
    pthread_once(&curl_once, curl_init_once);
    char *user, *password;
    ch_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (parse_url(url, &c->url, &user, &password))
        goto fail;
    /* Credentials travel as X-ClickHouse-User/-Key headers: accepted by 18.16 and current releases, and
     * unlike user=/password= URL parameters they never show up in access logs. */
    int rc = 0;
    if (user && *user)
        rc = add_header(&c->headers, "X-ClickHouse-User", user);
    if (!rc && password && *password)
        rc = add_header(&c->headers, "X-ClickHouse-Key", password);
    curl_free(user);
    curl_free(password);
    /* Without this curl waits up to a second for "100 Continue" before sending bodies over 1 MiB. */
    struct curl_slist *l = rc ? NULL : curl_slist_append(c->headers, "Expect:");
    if (!l)
        goto fail;
    c->headers = l;
    c->multi = curl_multi_init();
    if (!c->multi)
        goto fail;
    c->loop = loop;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : CH_DEFAULT_TIMEOUT_MS;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
fail:
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c);
    return NULL;
}

void ch_client_stop(ch_client *c)
{
    if (!c || c->freeing)
        return;
    c->retain = true;
    ch_client_free(c);
}

void ch_client_free(ch_client *c)
{
    if (!c)
        return;
    if (c->freeing) {
        if (c->retain) { /* stopped: the memory may go now, or once the handles have closed */
            c->retain = false;
            client_maybe_release(c);
        }
        return;
    }
    c->freeing = true;
    /* Inside one of our callbacks curl is on the stack: client_leave finishes it. */
    if (c->depth == 0)
        client_teardown(c);
}

unsigned ch_client_inflight(const ch_client *c)
{
    return c->inflight;
}

/* CURLOPT_SOCKOPTFUNCTION: close every connection to ClickHouse abortively (RST). When a request times out,
 * its bytes may still sit unread in the server's socket buffer; an orderly close (FIN) would let a stalled
 * server read and run them later, after the caller has already retried. A reset discards them, which is what
 * lets the stream writer's retries stay exactly-once. Keep-alive reuse is unaffected. */
static int on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (purpose == CURLSOCKTYPE_IPCXN)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    return CURL_SOCKOPT_OK;
}

/* Create a request for url with the common options; the caller sets the body. */
static ch_request *request_new(ch_client *c, const char *url, long timeout_ms)
{
    ch_request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->c = c;
    r->easy = curl_easy_init();
    if (!r->easy) {
        free(r);
        return NULL;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, (long)CH_MAX_IDLE_S);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    /* Linked now so request_free can unlink it on any path. */
    r->next = c->requests;
    if (c->requests)
        c->requests->prev = r;
    c->requests = r;
    c->inflight++;
    return r;
}

/* Hand a prepared request to curl. */
static int request_start(ch_client *c, ch_request *r)
{
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        request_free(c, r);
        return -ENOMEM;
    }
    return 0;
}

/* The request URL of an INSERT: the statement goes in query=, URL-encoded. */
static char *insert_url(ch_client *c, CURL *easy, const char *insert_sql)
{
    char *q = curl_easy_escape(easy, insert_sql, 0);
    if (!q)
        return NULL;
    size_t n = strlen(c->url) + strlen(q) + 8;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "%s&query=%s", c->url, q);
    curl_free(q);
    return url;
}

/* ch_query with a given timeout; probes use a shorter one. */
static ch_request *query_new(ch_client *c, const char *sql, long timeout_ms)
{
    if (c->freeing)
        return NULL;
    ch_request *r = request_new(c, c->url, timeout_ms);
    if (!r)
        return NULL;
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(sql));
    if (curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, sql) != CURLE_OK) {
        request_free(c, r);
        return NULL;
    }
    return r;
}

int ch_query(ch_client *c, const char *sql, ch_result_fn cb, void *arg)
{
    if (c->freeing)
        return -ECANCELED;
    ch_request *r = query_new(c, sql, c->timeout_ms);
    if (!r)
        return -ENOMEM;
    r->cb = cb;
    r->arg = arg;
    return request_start(c, r);
}

/* Whether id may go into a URL and a SQL string literal as it is. */
static bool query_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return false;
    }
    return true;
}

int ch_query_tracked(ch_client *c, const char *sql, const char *query_id, ch_result_fn cb, void *arg, ch_request **out)
{
    if (c->freeing)
        return -ECANCELED;
    if (!query_id_valid(query_id))
        return -EINVAL;
    ch_request *r = query_new(c, sql, c->timeout_ms);
    if (!r)
        return -ENOMEM;
    size_t n = strlen(c->url) + strlen(query_id) + 16;
    char *url = malloc(n);
    if (!url) {
        request_free(c, r);
        return -ENOMEM;
    }
    snprintf(url, n, "%s&query_id=%s", c->url, query_id);
    curl_easy_setopt(r->easy, CURLOPT_URL, url); /* curl copies it */
    free(url);
    r->cb = cb;
    r->arg = arg;
    int rc = request_start(c, r);
    if (rc == 0)
        *out = r;
    return rc;
}

void ch_cancel(ch_client *c, ch_request *r)
{
    /* Removing a transfer is allowed anywhere but inside curl's own callbacks, which never run user code here;
     * curl may call on_curl_socket (CURL_POLL_REMOVE) and on_curl_timer from it, as in client_teardown. */
    curl_multi_remove_handle(c->multi, r->easy);
    request_free(c, r);
}

/* Prepare an INSERT request: statement in the URL, body set by the caller. */
static ch_request *insert_new(ch_client *c, const char *insert_sql)
{
    ch_request *r = request_new(c, c->url, c->timeout_ms);
    if (!r)
        return NULL;
    char *url = insert_url(c, r->easy, insert_sql);
    if (!url) {
        request_free(c, r);
        return NULL;
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url); /* curl copies it */
    free(url);
    return r;
}

int ch_insert(ch_client *c, const char *insert_sql, const char *data, size_t len, ch_result_fn cb, void *arg)
{
    if (c->freeing)
        return -ECANCELED;
    ch_request *r = insert_new(c, insert_sql);
    if (!r)
        return -ENOMEM;
    r->cb = cb;
    r->arg = arg;
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, len ? data : "");
    return request_start(c, r);
}

int ch_insert_stream(ch_client *c, const char *insert_sql, ch_read_fn read_fn, void *read_arg, ch_result_fn cb,
                     void *arg)
{
    if (c->freeing)
        return -ECANCELED;
    ch_request *r = insert_new(c, insert_sql);
    if (!r)
        return -ENOMEM;
    r->cb = cb;
    r->arg = arg;
    r->read_fn = read_fn;
    r->read_arg = read_arg;
    /* No size given: curl sends the body with chunked transfer encoding, which 18.16 accepts. */
    curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
    return request_start(c, r);
}

void ch_probe(void *client, void *token, probe_done_fn done)
{
    ch_client *c = client;
    ch_request *r = query_new(c, "SELECT 1", CH_PROBE_TIMEOUT_MS);
    if (!r) {
        done(token, false, c->freeing ? "shutting down" : "out of memory");
        return;
    }
    r->probe_done = done;
    r->probe_token = token;
    if (request_start(c, r))
        done(token, false, "out of memory");
}

/* ---- blocking helper ---- */

typedef struct {
    int err;
    char *body;
} sync_result;

/* Completion of ch_query_sync's request: keep the outcome and let the private loop end. */
static void on_sync_done(ch_client *c, int err, long status, const char *body, size_t len, void *arg)
{
    sync_result *res = arg;
    res->err = err;
    res->body = malloc(len + 1);
    if (res->body) {
        memcpy(res->body, body, len);
        res->body[len] = '\0';
    }
    ch_client_free(c);
}

int ch_query_sync(const char *url, const char *sql, char **out)
{
    uv_loop_t loop;
    sync_result res = {.err = -EINVAL, .body = NULL};
    if (out)
        *out = NULL;
    if (uv_loop_init(&loop))
        return -ENOMEM;
    ch_client *c = ch_client_new(&loop, url, 0);
    if (c) {
        int rc = ch_query(c, sql, on_sync_done, &res);
        if (rc) {
            res.err = rc;
            ch_client_free(c);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    if (out)
        *out = res.body;
    else
        free(res.body);
    return res.err;
}

int ch_insert_sync(const char *url, const char *insert_sql, const char *data, size_t len, char **out)
{
    uv_loop_t loop;
    sync_result res = {.err = -EINVAL, .body = NULL};
    if (out)
        *out = NULL;
    if (uv_loop_init(&loop))
        return -ENOMEM;
    ch_client *c = ch_client_new(&loop, url, 0);
    if (c) {
        int rc = ch_insert(c, insert_sql, data, len, on_sync_done, &res);
        if (rc) {
            res.err = rc;
            ch_client_free(c);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    if (out)
        *out = res.body;
    else
        free(res.body);
    return res.err;
}
