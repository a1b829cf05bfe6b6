/* Parsing of large batches on libuv's threadpool. */
#include "parse_worker.h"

/* On a threadpool thread: the parse itself. */
static void parse_run(uv_work_t *req)
{
    parse_work *w = req->data;
    w->rc = batch_parse_max(w->body, w->len, w->max_events, w->out);
}

/* Back on the loop's thread. A work request is never cancelled (parse_work_start's callers wait for every
 * parse), so status is always 0. */
static void parse_after(uv_work_t *req, int status)
{
    (void)status;
    parse_work *w = req->data;
    w->done(w->rc, w->arg);
}

int parse_work_start(uv_loop_t *loop, parse_work *w, const char *body, size_t len, size_t max_events, batch *out,
                     parse_done_fn done, void *arg)
{
    *w = (parse_work){.body = body, .len = len, .max_events = max_events, .out = out, .done = done, .arg = arg};
    w->work.data = w;
    return uv_queue_work(loop, &w->work, parse_run, parse_after);
}
