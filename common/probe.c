/* One readiness probe in flight (probe.h): the deadline and the once-only report that pg.c, mariadb.c and
 * redis_client.c share. */
#include "probe.h"

#include <stdlib.h>

struct probe_req {
    uv_timer_t timer;
    void *token;
    probe_done_fn done;
    bool answered;
    int refs; /* the timer's close callback and the request's callback each hold one */
};

/* Drop one reference to a probe; free it with the last. */
static void probe_release(probe_req *p)
{
    if (--p->refs == 0)
        free(p);
}

/* Close callback of the probe's deadline timer. */
static void on_probe_timer_closed(uv_handle_t *h)
{
    probe_release(h->data);
}

/* Report the probe's outcome once, whichever of answer and deadline comes first. */
static void probe_finish(probe_req *p, bool ok, const char *detail)
{
    if (p->answered)
        return;
    p->answered = true;
    p->done(p->token, ok, detail);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_probe_timer_closed);
}

/* The probe's deadline passed (server slow, or every connection busy). */
static void on_probe_timeout(uv_timer_t *t)
{
    probe_finish(t->data, false, "timeout");
}

probe_req *probe_req_new(uv_loop_t *loop, void *token, probe_done_fn done)
{
    probe_req *p = calloc(1, sizeof *p);
    if (!p) {
        done(token, false, "out of memory");
        return NULL;
    }
    p->token = token;
    p->done = done;
    p->refs = 2;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    return p;
}

void probe_req_start(probe_req *p, uint64_t timeout_ms)
{
    uv_timer_start(&p->timer, on_probe_timeout, timeout_ms, 0);
}

void probe_req_answer(probe_req *p, bool ok, const char *detail)
{
    probe_finish(p, ok, detail);
    probe_release(p);
}

void probe_req_fail(probe_req *p, const char *detail)
{
    p->refs = 1; /* no answer will come */
    probe_finish(p, false, detail);
}
