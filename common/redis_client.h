/* Redis client on hiredis's async API and its libuv adapter, with automatic reconnection. */
#ifndef MOHSTATS_REDIS_CLIENT_H
#define MOHSTATS_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct redisReply;
typedef struct redis_client redis_client;

/* reply is NULL when the command could not be executed (err says why: not connected, connection
 * lost, timeout). A Redis error reply (REDIS_REPLY_ERROR) is passed as a reply, with err NULL.
 * The reply is freed after the callback returns. */
typedef void (*redis_reply_fn)(redis_client *c, struct redisReply *reply, const char *err, void *arg);

/* url: redis://[:password@]host:port[/db]. Connects in the background and keeps reconnecting
 * (backoff 100 ms .. 2 s) whenever the connection drops. */
redis_client *redis_client_new(uv_loop_t *loop, const char *url);
/* Disconnect; pending callbacks are called with reply NULL. done may be NULL; it runs from the loop once
 * every uv handle of the client is closed, and c is freed right after it. */
void redis_client_close(redis_client *c, void (*done)(void *arg), void *arg);
/* redis_client_close, but c stays allocated (every command refused with -ENOTCONN) until redis_client_free:
 * for a client that other objects may still call while the process shuts down (daemon_services.c). */
void redis_client_stop(redis_client *c, void (*done)(void *arg), void *arg);
/* Free a client stopped with redis_client_stop; one still open is closed and freed once its handles have
 * closed (keep running the loop). */
void redis_client_free(redis_client *c);

bool redis_client_connected(const redis_client *c);
/* Called each time a connection is (re)established: for re-creating consumer groups etc. */
void redis_client_on_connect(redis_client *c, void (*fn)(redis_client *c, void *arg), void *arg);

/* Commands. Return 0 if queued, else -ENOTCONN (callback not called). cb may be NULL. */
int redis_command(redis_client *c, redis_reply_fn cb, void *arg, const char *fmt, ...);
int redis_command_argv(redis_client *c, redis_reply_fn cb, void *arg, int argc, const char **argv,
                       const size_t *argvlen);

/* Count of commands sent and not yet answered. */
unsigned redis_client_pending(const redis_client *c);

#endif
