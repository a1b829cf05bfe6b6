/* Parsing of large batches on libuv's threadpool. */
#include "parse_worker.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The nice value of a thread once it parsed a body. Under a flood of large bodies the parse threads would take
 * both cores from the loop, nginx and Redis, which every normal batch needs (tests/bench/ingest_flood_bench.sh);
 * at nice 10 they get the CPU the rest leaves. libuv's other work on these threads (db_pool's token lookups, the
 * spool's file writes) mostly waits for PostgreSQL or the disk, but under a flood it may also wait a little longer
 * for a CPU. */
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

struct parse_pool {
    uv_loop_t *loop;
    unsigned max_running, running;
    parse_work *head, *tail; /* waiting for a thread */
};

static void parse_after(uv_work_t *req, int status);

/* Hand w to a thread. uv_queue_work fails only without a work callback, never here. */
static void parse_queue(parse_work *w)
{
    w->pool->running++;
    (void)uv_queue_work(w->pool->loop, &w->work, parse_run, parse_after);
}

/* Back on the loop's thread: the next waiting parse takes the thread's place, then w's caller hears of it. A work
 * request is never cancelled, so status is always 0. */
static void parse_after(uv_work_t *req, int status)
{
    (void)status;
    parse_work *w = req->data;
    parse_pool *p = w->pool;
    p->running--;
    parse_work *next = p->head;
    if (next) {
        p->head = next->next;
        if (!p->head)
            p->tail = NULL;
        parse_queue(next);
    }
    w->done(w->rc, w->arg);
}

parse_pool *parse_pool_new(uv_loop_t *loop, unsigned max_running)
{
    parse_pool *p = calloc(1, sizeof *p);
    if (p) {
        p->loop = loop;
        p->max_running = max_running ? max_running : 1;
    }
    return p;
}

void parse_pool_free(parse_pool *p)
{
    free(p);
}

void parse_work_start(parse_pool *p, parse_work *w, const char *body, size_t len, size_t max_events, batch *out,
                      parse_done_fn done, void *arg)
{
    *w = (parse_work){
        .pool = p, .body = body, .len = len, .max_events = max_events, .out = out, .done = done, .arg = arg};
    w->work.data = w;
    if (p->running < p->max_running) {
        parse_queue(w);
    } else if (p->tail) {
        p->tail->next = w;
        p->tail = w;
    } else {
        p->head = p->tail = w;
    }
}
