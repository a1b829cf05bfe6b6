/* Parsing of large batches on libuv's threadpool: a 1 MiB body costs the parser milliseconds, which on the
 * event loop every other connection would wait for. */
#ifndef MOHSTATS_PARSE_WORKER_H
#define MOHSTATS_PARSE_WORKER_H

#include <stddef.h>

#include <uv.h>

#include "batch_parse.h"

/* The parse ran (rc as batch_parse_max returns it); called on the loop's thread. */
typedef void (*parse_done_fn)(int rc, void *arg);

/* The parses of one loop, at most max_running of them on threads at once: libuv's threadpool (4 threads unless
 * UV_THREADPOOL_SIZE says otherwise) also runs the PostgreSQL queries of db_pool (a server's token lookup) and the
 * spool's file writes, which must not queue behind a flood's parses. Those beyond wait here, in arrival order. */
typedef struct parse_pool parse_pool;

/* One parse, running or waiting; embedded in the caller's request, so that starting one allocates nothing. */
typedef struct parse_work {
    uv_work_t work;
    parse_pool *pool;
    struct parse_work *next; /* in the pool's queue */
    const char *body;
    size_t len, max_events;
    batch *out;
    int rc;
    parse_done_fn done;
    void *arg;
} parse_work;

/* NULL when out of memory. */
parse_pool *parse_pool_new(uv_loop_t *loop, unsigned max_running);
/* Only once every parse started on it is done. */
void parse_pool_free(parse_pool *p);

/* batch_parse_max(body, len, max_events, out) on a threadpool thread, now or when one of the pool's running parses
 * ends, then done(rc, arg) on the loop's thread (never from within this call). The parser touches nothing but body
 * and *out, which must stay untouched until done. */
void parse_work_start(parse_pool *p, parse_work *w, const char *body, size_t len, size_t max_events, batch *out,
                      parse_done_fn done, void *arg);

#endif
