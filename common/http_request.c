/* The HTTP server's requests as handlers see them: answering (exactly once) and the accessors. */
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
 * Answering
 * ------------------------------------------------------------------------------------------- */

/* The request was answered (or dropped): release it, free a closed connection, or wait for the
 * next request. */
static void request_finish(http_conn *c)
{
    http_server *s = c->srv;
    c->busy = false;
    c->req.data = NULL;
    c->req.on_abort = NULL;
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
        http_conn_free(c);
        http_server_maybe_done(s);
        return;
    }
    if (c->state == CONN_OPEN)
        http_conn_set_timer(c, TIMER_IDLE, s->cfg.idle_timeout_ms);
}

void http_response_header(http_request *req, const char *name, const char *value)
{
    http_conn *c = req->conn;
    if (!c->busy && !c->admitting)
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
    if (http_buf_reserve(&c->resp, &c->resp_cap, c->resp_len + nlen + vlen + 4, 256) != 0)
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
    /* Answered: a write failing below closes the connection, which must not call the handler back. */
    req->on_abort = NULL;
    if (c->state != CONN_OPEN || req->aborted) {
        request_finish(c); /* may free c */
        return;
    }
    bool keep = c->keep_alive && !c->srv->shutting_down;
    http_conn_send_response(c, status, content_type, body ? body : "", body ? len : 0, keep, req->head);
    request_finish(c);
    if (!keep)
        http_conn_finish(c);
    else
        http_conn_process(c); /* the next pipelined request, unless we are inside http_conn_run already */
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
    char *text = http_error_json(message);
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
    return http_conn_header(req->conn, name);
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

void http_request_on_abort(http_request *req, http_abort_fn fn, void *arg)
{
    if (!req->conn->busy || req->aborted)
        return;
    req->on_abort = fn;
    req->on_abort_arg = arg;
}
