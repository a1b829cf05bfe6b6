/* Redis client: hiredis's async API on the libuv loop, with AUTH and SELECT on connect and reconnection with backoff.
 *
 * hiredis 0.14 quirks this file works around, each explained where it is handled:
 * - its adapters/libuv.h ignores poll errors, so a refused connect or a reset connection goes unnoticed;
 *   we attach our own small adapter instead (redis_io below);
 * - no connect timeout, and host names are resolved with a blocking getaddrinfo;
 * - the connect callback is not flagged "in callback", so freeing the context from it is a use-after-free;
 * - a failed connect frees the context itself, without calling the disconnect callback;
 * - pending callbacks get reply NULL while the context is freed, before the disconnect callback. */
#include "redis_client.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "config.h"
#include "log.h"
#include "probe.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* hiredis 0.14 has no connect timeout: this bounds connect + AUTH + SELECT before we give up and retry. */
#define HANDSHAKE_TIMEOUT_MS 5000
#define PROBE_TIMEOUT_MS 2000

typedef struct redis_cmd redis_cmd;

/* The callback of one queued command. Recycled through a free list: steady traffic does not malloc. */
struct redis_cmd {
    redis_client *c;
    redis_reply_fn cb;
    void *arg;
    redis_cmd *next_free;
};

typedef struct {
    void (*fn)(redis_client *c, void *arg);
    void *arg;
} redis_hook;

struct redis_client {
    uv_loop_t *loop;
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
    redisAsyncContext *ac; /* NULL while disconnected */
    bool ready;            /* AUTH and SELECT answered: commands may be sent */
    bool closing;
    bool outage_logged; /* one warning per outage, not one per retry */
    unsigned backoff_ms;
    uv_timer_t timer; /* reconnect backoff, or the handshake deadline while connecting */
    unsigned pending;
    redis_cmd *free_cmds;
    redis_hook *hooks;
    size_t nhooks;
    char last_err[128]; /* why the last attempt failed or the connection dropped, for the probe */
    unsigned handles;   /* our timer plus each adapter poll handle not yet closed */
    void (*close_done)(void *arg);
    void *close_arg;
    bool retain; /* redis_client_stop: stay allocated after closing, until redis_client_free */
    bool closed; /* every handle closed while retained */
};

/* ---- libuv adapter ----
 * Like hiredis 0.14's adapters/libuv.h with two differences. libuv reports POLLERR (a refused connect, a
 * reset connection) as status UV_EBADF and stops the handle; the stock adapter then returns without telling
 * hiredis, which waits forever. We let hiredis read or write instead, so it meets the socket error and
 * disconnects. And we count the poll handle until its close callback, so redis_client_close can report done
 * only when every handle is closed. */

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis has let go */
    redis_client *c;
    uv_poll_t poll;
    int events;
} redis_io;

static void client_maybe_finish(redis_client *c);

/* The socket is ready, or failed: hand over to hiredis. */
static void io_on_poll(uv_poll_t *h, int status, int events)
{
    redis_io *io = h->data;
    if (status < 0)
        events = io->events;
    if (io->ac && (events & UV_READABLE))
        redisAsyncHandleRead(io->ac);
    if (io->ac && (events & UV_WRITABLE)) /* the read may have freed the context */
        redisAsyncHandleWrite(io->ac);
}

/* Watch for the events hiredis currently wants. */
static void io_update(redis_io *io)
{
    if (io->events)
        uv_poll_start(&io->poll, io->events, io_on_poll);
    else
        uv_poll_stop(&io->poll);
}

/* hiredis hooks: start or stop reading or writing. */
static void io_add_read(void *privdata)
{
    redis_io *io = privdata;
    io->events |= UV_READABLE;
    io_update(io);
}

static void io_del_read(void *privdata)
{
    redis_io *io = privdata;
    io->events &= ~UV_READABLE;
    io_update(io);
}

static void io_add_write(void *privdata)
{
    redis_io *io = privdata;
    io->events |= UV_WRITABLE;
    io_update(io);
}

static void io_del_write(void *privdata)
{
    redis_io *io = privdata;
    io->events &= ~UV_WRITABLE;
    io_update(io);
}

/* Close callback of an adapter's poll handle. */
static void io_on_closed(uv_handle_t *h)
{
    redis_io *io = h->data;
    redis_client *c = io->c;
    free(io);
    c->handles--;
    client_maybe_finish(c);
}

/* hiredis hook: the context is being freed. Idempotent, in case hiredis calls it twice. */
static void io_cleanup(void *privdata)
{
    redis_io *io = privdata;
    if (!io->ac)
        return;
    io->ac = NULL;
    uv_close((uv_handle_t *)&io->poll, io_on_closed);
}

/* Attach a fresh context to the loop. */
static int io_attach(redis_client *c, redisAsyncContext *ac)
{
    redis_io *io = calloc(1, sizeof *io);
    if (!io)
        return -ENOMEM;
    int rc = uv_poll_init_socket(c->loop, &io->poll, ac->c.fd);
    if (rc) {
        free(io);
        return rc;
    }
    io->ac = ac;
    io->c = c;
    io->poll.data = io;
    c->handles++;
    ac->ev.data = io;
    ac->ev.addRead = io_add_read;
    ac->ev.delRead = io_del_read;
    ac->ev.addWrite = io_add_write;
    ac->ev.delWrite = io_del_write;
    ac->ev.cleanup = io_cleanup;
    return 0;
}

static void start_connect(redis_client *c);
static void on_timer(uv_timer_t *t);

/* Remember why we are not connected, as a short lowercase reason ("connection refused"). */
static void set_last_err(redis_client *c, const char *why)
{
    snprintf(c->last_err, sizeof c->last_err, "%s", why && *why ? why : "connection lost");
    /* "Connection refused" reads better as "connection refused"; "WRONGPASS ..." stays as Redis wrote it. */
    if (islower((unsigned char)c->last_err[1]))
        c->last_err[0] = (char)tolower((unsigned char)c->last_err[0]);
}

/* Warn once per outage; retries of the same outage only go to the debug log. */
static void warn_outage(redis_client *c, const char *what)
{
    if (!c->outage_logged)
        log_warn("redis: %s %s:%d: %s; retrying every %d ms at most", what, c->host, c->port, c->last_err,
                 BACKOFF_MAX_MS);
    else
        log_debug("redis: %s %s:%d: %s", what, c->host, c->port, c->last_err);
    c->outage_logged = true;
}

/* Try again after the current backoff, and double it for next time. */
static void schedule_reconnect(redis_client *c)
{
    if (c->closing)
        return;
    uv_timer_start(&c->timer, on_timer, c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Give up on the current context: its pending callbacks get reply NULL, and no disconnect callback fires
 * (we know why it went away). Safe inside hiredis reply callbacks: hiredis then defers the free until
 * the callback returns. */
static void drop_connection(redis_client *c)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    c->ready = false;
    ac->onDisconnect = NULL;
    redisAsyncFree(ac);
}

/* Backoff expired (connect again) or the handshake deadline passed (give up on this attempt). */
static void on_timer(uv_timer_t *t)
{
    redis_client *c = t->data;
    if (!c->ac) {
        start_connect(c);
        return;
    }
    set_last_err(c, "timeout");
    warn_outage(c, "no answer from");
    drop_connection(c);
    schedule_reconnect(c);
}

/* Reply to AUTH or SELECT; SELECT's (privdata non-NULL) completes the handshake. */
static void on_handshake_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redis_client *c = ac->data;
    redisReply *r = reply;
    if (!r || c->ac != ac)
        return; /* the context is being torn down; whoever did it reconnects */
    if (r->type == REDIS_REPLY_ERROR) {
        set_last_err(c, r->str);
        warn_outage(c, privdata ? "SELECT refused by" : "AUTH refused by");
        drop_connection(c);
        schedule_reconnect(c);
        return;
    }
    if (!privdata)
        return;
    c->ready = true;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->last_err[0] = '\0';
    c->outage_logged = false;
    uv_timer_stop(&c->timer);
    log_info("redis: connected to %s:%d db %d", c->host, c->port, c->db);
    /* Hooks run inside a reply callback, where hiredis defers any free: a hook may close the client.
     * Index, not pointer: a hook may register another hook and move the array. */
    for (size_t i = 0; i < c->nhooks && c->ready && !c->closing; i++)
        c->hooks[i].fn(c, c->hooks[i].arg);
}

/* hiredis: the TCP connect finished. On failure hiredis frees the context itself after we return. */
static void on_connected(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    redis_client *c = ac->data;
    if (status != REDIS_OK) {
        c->ac = NULL;
        set_last_err(c, ac->errstr);
        warn_outage(c, "cannot connect to");
        schedule_reconnect(c);
        return;
    }
    /* Connected is announced from the SELECT reply, never from here: hiredis 0.14 does not flag this
     * callback as "in callback", so a user freeing the context from an on_connect hook run here would
     * free it under hiredis's feet. SELECT is sent even for db 0 for that reason. */
    if (c->password[0]) {
        if (c->user[0])
            redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s %s", c->user, c->password);
        else
            redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s", c->password);
    }
    /* If this fails the handshake deadline fires and we retry. */
    redisAsyncCommand(ac, on_handshake_reply, c, "SELECT %d", c->db);
}

/* hiredis: an established connection went away (server closed it, network error). */
static void on_disconnected(const redisAsyncContext *ac, int status)
{
    redis_client *c = ac->data;
    if (c->ac != ac)
        return;
    c->ac = NULL;
    c->ready = false;
    set_last_err(c, ac->err ? ac->errstr : "server closed the connection");
    warn_outage(c, "lost connection to");
    schedule_reconnect(c);
}

/* Open a new context and attach it to the loop; failures schedule a retry. */
static void start_connect(redis_client *c)
{
    /* hiredis 0.14 resolves host names with a blocking getaddrinfo: prefer IP addresses in REDIS_URL. */
    redisAsyncContext *ac = redisAsyncConnect(c->host, c->port);
    if (!ac || ac->err) {
        set_last_err(c, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        warn_outage(c, "cannot connect to");
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    if (io_attach(c, ac) != 0) {
        redisAsyncFree(ac);
        set_last_err(c, "cannot watch the socket");
        warn_outage(c, "cannot connect to");
        schedule_reconnect(c);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    c->ac = ac;
    uv_timer_start(&c->timer, on_timer, HANDSHAKE_TIMEOUT_MS, 0);
}

/* Decode %XX escapes in place (URL userinfo). */
static void percent_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

redis_client *redis_client_new(uv_loop_t *loop, const char *url)
{
    url_parts u;
    if (url_parse(url, 6379, &u) || strcmp(u.scheme, "redis") != 0)
        return NULL;
    char *end;
    long db = u.path[0] ? strtol(u.path, &end, 10) : 0;
    if ((u.path[0] && *end) || db < 0 || db > 1000000)
        return NULL;
    redis_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    snprintf(c->host, sizeof c->host, "%s", u.host);
    c->port = u.port;
    snprintf(c->user, sizeof c->user, "%s", u.user);
    snprintf(c->password, sizeof c->password, "%s", u.password);
    percent_decode(c->user);
    percent_decode(c->password);
    c->db = (int)db;
    c->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
    start_connect(c);
    return c;
}

bool redis_client_connected(const redis_client *c)
{
    return c->ready;
}

void redis_client_on_connect(redis_client *c, void (*fn)(redis_client *c, void *arg), void *arg)
{
    redis_hook *h = realloc(c->hooks, (c->nhooks + 1) * sizeof *h);
    if (!h) {
        log_error("redis: out of memory registering a connect hook");
        return;
    }
    c->hooks = h;
    c->hooks[c->nhooks++] = (redis_hook){fn, arg};
}

unsigned redis_client_pending(const redis_client *c)
{
    return c->pending;
}

/* Take a command record from the free list, or allocate one. */
static redis_cmd *cmd_get(redis_client *c)
{
    redis_cmd *cmd = c->free_cmds;
    if (cmd)
        c->free_cmds = cmd->next_free;
    else if (!(cmd = malloc(sizeof *cmd)))
        return NULL;
    cmd->c = c;
    return cmd;
}

/* Return a command record to the free list. */
static void cmd_put(redis_client *c, redis_cmd *cmd)
{
    cmd->next_free = c->free_cmds;
    c->free_cmds = cmd;
}

/* hiredis: the reply to a user command, or NULL when the context is being torn down. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redis_cmd *cmd = privdata;
    redis_client *c = cmd->c;
    redis_reply_fn cb = cmd->cb;
    void *arg = cmd->arg;
    cmd_put(c, cmd);
    c->pending--;
    const char *err = NULL;
    if (!reply) {
        /* hiredis 0.14 passes NULL only while freeing the context: no command may be sent on it now. */
        if (c->ac == ac)
            c->ready = false;
        err = c->closing ? "client closed" : ac->err ? ac->errstr : "connection lost";
    }
    if (cb)
        cb(c, reply, err, arg);
}

int redis_command(redis_client *c, redis_reply_fn cb, void *arg, const char *fmt, ...)
{
    if (!c->ready || c->closing)
        return -ENOTCONN;
    redis_cmd *cmd = cmd_get(c);
    if (!cmd)
        return -ENOMEM;
    cmd->cb = cb;
    cmd->arg = arg;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(c->ac, on_reply, cmd, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        cmd_put(c, cmd);
        return -ENOTCONN;
    }
    c->pending++;
    return 0;
}

int redis_command_argv(redis_client *c, redis_reply_fn cb, void *arg, int argc, const char **argv,
                       const size_t *argvlen)
{
    if (!c->ready || c->closing)
        return -ENOTCONN;
    redis_cmd *cmd = cmd_get(c);
    if (!cmd)
        return -ENOMEM;
    cmd->cb = cb;
    cmd->arg = arg;
    if (redisAsyncCommandArgv(c->ac, on_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
        cmd_put(c, cmd);
        return -ENOTCONN;
    }
    c->pending++;
    return 0;
}

/* Close callback of the reconnect timer. */
static void on_timer_closed(uv_handle_t *h)
{
    redis_client *c = h->data;
    c->handles--;
    client_maybe_finish(c);
}

/* Free the client's memory (every handle closed). */
static void client_release(redis_client *c)
{
    redis_cmd *cmd;
    while ((cmd = c->free_cmds)) {
        c->free_cmds = cmd->next_free;
        free(cmd);
    }
    free(c->hooks);
    memset(c->password, 0, sizeof c->password);
    free(c);
}

/* Last step of redis_client_close: once every handle is closed, tell the caller and free (unless retained). */
static void client_maybe_finish(redis_client *c)
{
    if (!c->closing || c->handles || c->closed)
        return;
    void (*done)(void *arg) = c->close_done;
    c->close_done = NULL;
    if (c->retain) {
        c->closed = true;
        if (done)
            done(c->close_arg); /* may call redis_client_free: nothing touches c after it */
        return;
    }
    if (done)
        done(c->close_arg);
    client_release(c);
}

void redis_client_close(redis_client *c, void (*done)(void *arg), void *arg)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_done = done;
    c->close_arg = arg;
    /* Pending callbacks run from here with reply NULL (or right after the current reply callback, if
     * we are inside one: hiredis defers the free). done runs once the adapter's poll handle and our
     * timer have both closed. */
    if (c->ac)
        drop_connection(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void redis_client_stop(redis_client *c, void (*done)(void *arg), void *arg)
{
    c->retain = true;
    redis_client_close(c, done, arg);
}

void redis_client_free(redis_client *c)
{
    if (!c)
        return;
    if (c->closed) {
        client_release(c);
        return;
    }
    c->retain = false;
    redis_client_close(c, NULL, NULL); /* frees once closed; nothing if already closing */
}

/* ---- readiness probe ---- */

/* The PING reply (or its failure). */
static void on_probe_reply(redis_client *c, redisReply *r, const char *err, void *arg)
{
    probe_req *p = arg;
    if (!r)
        probe_req_answer(p, false, err);
    else if (r->type == REDIS_REPLY_ERROR)
        probe_req_answer(p, false, r->str);
    else
        probe_req_answer(p, true, NULL);
}

void redis_probe(void *client, void *token, probe_done_fn done)
{
    redis_client *c = client;
    if (!c->ready) {
        done(token, false, c->closing ? "shutting down" : c->last_err[0] ? c->last_err : "not connected yet");
        return;
    }
    probe_req *p = probe_req_new(c->loop, token, done);
    if (!p)
        return;
    if (redis_command(c, on_probe_reply, p, "PING") != 0) {
        probe_req_fail(p, "not connected");
        return;
    }
    probe_req_start(p, PROBE_TIMEOUT_MS);
}
