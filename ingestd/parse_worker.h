/* Parsing of large batches on libuv's threadpool: a 1 MiB body costs the parser milliseconds, which on the
 * event loop every other connection would wait for. */
#ifndef MOHSTATS_PARSE_WORKER_H
#define MOHSTATS_PARSE_WORKER_H

#include <stddef.h>

#include <uv.h>

#include "batch_parse.h"

/* The parse ran (rc as batch_parse_max returns it); called on the loop's thread. */
typedef void (*parse_done_fn)(int rc, void *arg);

/* One parse in flight; embedded in the caller's request, so that starting one allocates nothing. */
typedef struct {
    uv_work_t work;
    const char *body;
    size_t len, max_events;
    batch *out;
    int rc;
    parse_done_fn done;
    void *arg;
} parse_work;

/* batch_parse_max(body, len, max_events, out) on a threadpool thread, then done(rc, arg) on loop's thread. The
 * parser touches nothing but body and *out, which must stay untouched until done. Returns 0, or a negative libuv
 * error (done is then never called). */
int parse_work_start(uv_loop_t *loop, parse_work *w, const char *body, size_t len, size_t max_events, batch *out,
                     parse_done_fn done, void *arg);

#endif
