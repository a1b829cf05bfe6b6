/* Parsing of large batches on libuv's threadpool. */
#include "parse_worker.h"

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The nice value of a thread once it parsed a body. Under a flood of large bodies the parse threads would take
 * both cores from the loop, nginx and Redis, which every normal batch needs (tests/bench/ingest_flood_bench.sh);
 * at nice 10 they get the CPU the rest leaves. libuv's other work on these threads (the spool's file writes)
 * waits for the disk, not for a CPU. */
#define PARSE_THREAD_NICE 10

/* On a threadpool thread: the parse itself. */
static void parse_run(uv_work_t *req)
{
    parse_work *w = req->data;
    static _Thread_local bool lowered;
    if (!lowered) {
        /* On Linux a thread id names the thread alone; failing leaves the thread as it was, which is harmless. */
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PARSE_THREAD_NICE);
        lowered = true;
    }
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
