/* PostgreSQL pool: libpq's blocking calls run on libuv's thread pool, results come back on the loop thread. */
#include "pg.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "probe.h"

/* Applies when the URL sets none; keeps a dead host from holding a pool thread for minutes. */
#define PG_CONNECT_TIMEOUT "5"
#define PG_PROBE_TIMEOUT_MS 2000

typedef struct pg_job pg_job;

/* One connection slot. pg is touched only by the worker thread running a job on it (busy), or by the
 * loop thread while it is idle; uv_queue_work's hand-offs order the two. */
typedef struct {
    PGconn *pg;
    bool busy;
} pg_conn;

/* One query: its copied SQL and parameters live in the same allocation. */
struct pg_job {
    uv_work_t work;
    pg_pool *pool;
    pg_conn *conn;
    const char *sql;
    int nparams;
    const char **params;
    pg_result_fn cb;
    void *arg;
    PGresult *res;
    char err[512];
    pg_job *next;
};

struct pg_pool {
    uv_loop_t *loop;
    char *conninfo;
    int size;
    pg_conn *conns;
    pg_job *queue_head, *queue_tail; /* waiting for a free connection */
    unsigned running;
    bool freeing;
    bool delivering; /* inside a user callback: pg_pool_free must not destroy the pool under us */
};

/* Server notices (and the FATAL a dying backend sends) go to our log, not raw to stderr. */
static void on_notice(void *arg, const char *msg)
{
    int n = (int)strcspn(msg, "\n");
    log_debug("postgres: %.*s", n, msg);
}

/* Open a connection; the URL's own connect_timeout, if any, wins over ours. */
static PGconn *pg_connect(const char *conninfo)
{
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {PG_CONNECT_TIMEOUT, "mohstats", conninfo, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, /* expand_dbname= */ 1);
    if (pg)
        PQsetNoticeProcessor(pg, on_notice, NULL);
    return pg;
}

/* Whether a connection's socket has something to read right now. */
static bool socket_readable(PGconn *pg)
{
    struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
    return pfd.fd >= 0 && poll(&pfd, 1, 0) > 0;
}

/* Copy msg into err without libpq's trailing newline. */
static void set_err(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

/* Keep res if its status is a success; otherwise put the server's message in err. */
static void check_result(PGconn *pg, PGresult *res, char *err, size_t errlen)
{
    if (!res) {
        set_err(err, errlen, PQerrorMessage(pg));
        return;
    }
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        err[0] = '\0';
        break;
    default:
        set_err(err, errlen, *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    }
}

/* Run one statement. Without parameters PQexec is used, so a migration script of several statements
 * works too; with parameters PQexecParams sends them apart from the SQL text. */
static PGresult *run(PGconn *pg, const char *sql, int nparams, const char *const *params)
{
    if (nparams == 0)
        return PQexec(pg, sql);
    return PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* Thread pool: (re)connect if needed and run the job's query. */
static void work_cb(uv_work_t *w)
{
    pg_job *j = w->data;
    pg_conn *pc = j->conn;
    if (!pc->pg) {
        pc->pg = pg_connect(j->pool->conninfo);
    } else {
        /* An idle connection has nothing to read unless the server is dropping it (restart, terminated
         * backend, idle timeout): its FATAL message, then EOF, each of which PQconsumeInput reads in
         * turn. Finding out now saves failing the query. Nothing here waits. */
        for (int i = 0; i < 8 && PQstatus(pc->pg) == CONNECTION_OK && socket_readable(pc->pg); i++)
            if (!PQconsumeInput(pc->pg))
                break;
        if (PQstatus(pc->pg) != CONNECTION_OK)
            PQreset(pc->pg);
    }
    if (!pc->pg) {
        set_err(j->err, sizeof j->err, "out of memory");
        return;
    }
    if (PQstatus(pc->pg) != CONNECTION_OK) {
        set_err(j->err, sizeof j->err, PQerrorMessage(pc->pg));
        return; /* kept: PQreset tries again with the same parameters next time */
    }
    j->res = run(pc->pg, j->sql, j->nparams, j->params);
    check_result(pc->pg, j->res, j->err, sizeof j->err);
    /* A job that left a transaction open would poison the next job on this connection. */
    PGTransactionStatusType ts = PQtransactionStatus(pc->pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(pc->pg, "ROLLBACK"));
}

static void dispatch(pg_pool *p);

/* Close the connections and free the pool (nothing is running or queued). */
static void pool_destroy(pg_pool *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].pg)
            PQfinish(p->conns[i].pg);
    free(p->conns);
    free(p->conninfo);
    free(p);
}

/* Loop thread: deliver the result, free the job, and give the connection to the next queued job. */
static void after_work_cb(uv_work_t *w, int status)
{
    pg_job *j = w->data;
    pg_pool *p = j->pool;
    j->conn->busy = false;
    p->running--;
    p->delivering = true;
    if (j->cb)
        j->cb(j->res, j->err[0] ? j->err : NULL, j->arg);
    p->delivering = false;
    PQclear(j->res);
    free(j);
    dispatch(p);
    if (p->freeing && p->running == 0 && !p->queue_head)
        pool_destroy(p);
}

/* A free connection, preferring one already open; NULL if all are busy. */
static pg_conn *free_conn(pg_pool *p)
{
    pg_conn *unopened = NULL;
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].busy)
            continue;
        if (p->conns[i].pg)
            return &p->conns[i];
        if (!unopened)
            unopened = &p->conns[i];
    }
    return unopened;
}

/* Start queued jobs on free connections. */
static void dispatch(pg_pool *p)
{
    pg_conn *pc;
    while (p->queue_head && (pc = free_conn(p))) {
        pg_job *j = p->queue_head;
        p->queue_head = j->next;
        if (!p->queue_head)
            p->queue_tail = NULL;
        j->conn = pc;
        pc->busy = true;
        p->running++;
        j->work.data = j;
        /* uv_queue_work fails only for a NULL work callback. */
        uv_queue_work(p->loop, &j->work, work_cb, after_work_cb);
    }
}

pg_pool *pg_pool_new(uv_loop_t *loop, const char *conninfo, int size)
{
    if (!conninfo || size <= 0)
        return NULL;
    /* Catch a malformed URL now rather than at the first query. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(opts);
    pg_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->size = size;
    p->conninfo = strdup(conninfo);
    p->conns = calloc((size_t)size, sizeof *p->conns);
    if (!p->conninfo || !p->conns) {
        free(p->conninfo);
        free(p->conns);
        free(p);
        return NULL;
    }
    return p;
}

/* Safe at any time: with queries running or queued, the pool lets them finish (their callbacks run as
 * usual) and frees itself after the last one, so the caller must keep running the loop. */
void pg_pool_free(pg_pool *p)
{
    if (!p || p->freeing)
        return;
    p->freeing = true;
    if (!p->delivering && p->running == 0 && !p->queue_head)
        pool_destroy(p);
}

/* Copy sql and params into a new job. */
static pg_job *job_new(const char *sql, int nparams, const char *const *params)
{
    size_t size = sizeof(pg_job) + (size_t)nparams * sizeof(char *) + strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            size += strlen(params[i]) + 1;
    pg_job *j = calloc(1, size);
    if (!j)
        return NULL;
    const char **ptrs = (const char **)(j + 1);
    char *s = (char *)(ptrs + nparams);
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            ptrs[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(s, params[i], n);
        ptrs[i] = s;
        s += n;
    }
    memcpy(s, sql, strlen(sql) + 1);
    j->sql = s;
    j->nparams = nparams;
    j->params = ptrs;
    return j;
}

int pg_query(pg_pool *p, const char *sql, int nparams, const char *const *params, pg_result_fn cb, void *arg)
{
    if (p->freeing)
        return -ECANCELED;
    pg_job *j = job_new(sql, nparams, params);
    if (!j)
        return -ENOMEM;
    j->pool = p;
    j->cb = cb;
    j->arg = arg;
    if (p->queue_tail)
        p->queue_tail->next = j;
    else
        p->queue_head = j;
    p->queue_tail = j;
    dispatch(p);
    return 0;
}

PGresult *pg_exec_sync(const char *conninfo, const char *sql, int nparams, const char *const *params, char *err,
                       size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    PGconn *pg = pg_connect(conninfo);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        set_err(err, errlen, pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    PGresult *res = run(pg, sql, nparams, params);
    check_result(pg, res, err, errlen);
    PQfinish(pg);
    if (err[0]) {
        PQclear(res);
        return NULL;
    }
    return res;
}

/* ---- readiness probe ---- */

typedef struct {
    uv_timer_t timer;
    void *token;
    probe_done_fn done;
    bool answered;
    int refs; /* the timer's close callback and the query callback each hold one */
} pg_probe_req;

/* Drop one reference to a probe; free it with the last. */
static void probe_release(pg_probe_req *pr)
{
    if (--pr->refs == 0)
        free(pr);
}

/* Close callback of the probe's deadline timer. */
static void on_probe_timer_closed(uv_handle_t *h)
{
    probe_release(h->data);
}

/* Report the probe's outcome once, whichever of answer and deadline comes first. */
static void probe_finish(pg_probe_req *pr, bool ok, const char *detail)
{
    if (pr->answered)
        return;
    pr->answered = true;
    pr->done(pr->token, ok, detail);
    uv_timer_stop(&pr->timer);
    uv_close((uv_handle_t *)&pr->timer, on_probe_timer_closed);
}

/* The probe's deadline passed (server slow, or every connection busy). */
static void on_probe_timeout(uv_timer_t *t)
{
    probe_finish(t->data, false, "timeout");
}

/* Shorten a libpq message to what a person needs: 'connection to server at "h", port 1 failed:
 * Connection refused\n\tIs the server running...' becomes "connection refused". */
static void short_reason(const char *msg, char *out, size_t outlen)
{
    const char *s = strstr(msg, " failed: ");
    s = s ? s + 9 : msg;
    size_t n = strcspn(s, "\n");
    snprintf(out, outlen, "%.*s", (int)n, s);
    if (strncmp(out, "FATAL:  ", 8) != 0 && strncmp(out, "ERROR:  ", 8) != 0)
        out[0] = (char)tolower((unsigned char)out[0]);
    if (strstr(out, "timeout expired"))
        snprintf(out, outlen, "timeout");
}

/* The answer to the probe's SELECT 1. */
static void on_probe_result(PGresult *res, const char *err, void *arg)
{
    pg_probe_req *pr = arg;
    if (err) {
        char reason[256];
        short_reason(err, reason, sizeof reason);
        probe_finish(pr, false, reason);
    } else {
        probe_finish(pr, true, NULL);
    }
    probe_release(pr);
}

void pg_probe(void *pool, void *token, probe_done_fn done)
{
    pg_pool *p = pool;
    pg_probe_req *pr = calloc(1, sizeof *pr);
    if (!pr) {
        done(token, false, "out of memory");
        return;
    }
    pr->token = token;
    pr->done = done;
    pr->refs = 2;
    uv_timer_init(p->loop, &pr->timer);
    pr->timer.data = pr;
    int rc = pg_query(p, "SELECT 1", 0, NULL, on_probe_result, pr);
    if (rc) {
        pr->refs = 1;
        probe_finish(pr, false, rc == -ECANCELED ? "shutting down" : "out of memory");
        return;
    }
    uv_timer_start(&pr->timer, on_probe_timeout, PG_PROBE_TIMEOUT_MS, 0);
}
