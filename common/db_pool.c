/* The connection pool behind pg.c and mariadb.c (db_pool.h). */
#include "db_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One connection slot. handle is touched only by the worker thread running a query on it (busy), or by the
 * loop thread while it is idle; uv_queue_work's hand-offs order the two. */
typedef struct {
    void *handle;
    bool busy;
} db_conn;

/* One queued or running query: its copied SQL and parameters live in the same allocation. */
typedef struct pool_query {
    uv_work_t work;
    db_pool *pool;
    db_conn *conn;
    db_any_fn cb;
    void *arg;
    db_query q;
    struct pool_query *next;
} pool_query;

struct db_pool {
    uv_loop_t *loop;
    const db_driver *drv;
    void *ctx;
    int size;
    db_conn *conns;
    pool_query *queue_head, *queue_tail; /* waiting for a free connection */
    unsigned running;
    bool freeing;
    bool retain;     /* db_pool_stop: stay allocated once idle, until db_pool_free */
    bool delivering; /* inside a user callback: db_pool_free must not destroy the pool under us */
};

static void work_cb(uv_work_t *w)
{
    pool_query *j = w->data;
    j->pool->drv->run(j->pool->ctx, &j->conn->handle, &j->q);
}

static void dispatch(db_pool *p);

/* Close the connections and free the pool (nothing is running or queued). */
static void pool_destroy(db_pool *p)
{
    for (int i = 0; i < p->size; i++)
        if (p->conns[i].handle)
            p->drv->close(p->conns[i].handle);
    p->drv->free_ctx(p->ctx);
    free(p->conns);
    free(p);
}

/* Loop thread: deliver the outcome, free the query, and give the connection to the next queued one. */
static void after_work_cb(uv_work_t *w, int status)
{
    pool_query *j = w->data;
    db_pool *p = j->pool;
    j->conn->busy = false;
    p->running--;
    p->delivering = true;
    p->drv->deliver(j->cb, &j->q, j->arg);
    p->delivering = false;
    free(j);
    dispatch(p);
    if (p->freeing && !p->retain && p->running == 0 && !p->queue_head)
        pool_destroy(p);
}

/* A free connection, preferring one already open; NULL if all are busy. */
static db_conn *free_conn(db_pool *p)
{
    db_conn *unopened = NULL;
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].busy)
            continue;
        if (p->conns[i].handle)
            return &p->conns[i];
        if (!unopened)
            unopened = &p->conns[i];
    }
    return unopened;
}

/* Start queued queries on free connections. */
static void dispatch(db_pool *p)
{
    db_conn *c;
    while (p->queue_head && (c = free_conn(p))) {
        pool_query *j = p->queue_head;
        p->queue_head = j->next;
        if (!p->queue_head)
            p->queue_tail = NULL;
        j->conn = c;
        c->busy = true;
        p->running++;
        j->work.data = j;
        /* uv_queue_work fails only for a NULL work callback. */
        uv_queue_work(p->loop, &j->work, work_cb, after_work_cb);
    }
}

db_pool *db_pool_new(uv_loop_t *loop, const db_driver *drv, void *ctx, int size)
{
    db_pool *p = size > 0 ? calloc(1, sizeof *p) : NULL;
    if (p && !(p->conns = calloc((size_t)size, sizeof *p->conns))) {
        free(p);
        p = NULL;
    }
    if (!p) {
        drv->free_ctx(ctx);
        return NULL;
    }
    p->loop = loop;
    p->drv = drv;
    p->ctx = ctx;
    p->size = size;
    return p;
}

void db_pool_stop(db_pool *p)
{
    if (!p || p->freeing)
        return;
    p->retain = true;
    p->freeing = true;
}

void db_pool_free(db_pool *p)
{
    if (!p)
        return;
    if (p->freeing && !p->retain)
        return;
    p->retain = false;
    p->freeing = true;
    if (!p->delivering && p->running == 0 && !p->queue_head)
        pool_destroy(p);
}

uv_loop_t *db_pool_loop(const db_pool *p)
{
    return p->loop;
}

/* Copy sql and params into a new pool_query. */
static pool_query *pool_query_new(const char *sql, int nparams, const char *const *params)
{
    size_t size = sizeof(pool_query) + (size_t)nparams * sizeof(char *) + strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        if (params[i])
            size += strlen(params[i]) + 1;
    pool_query *j = calloc(1, size);
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
    j->q.sql = s;
    j->q.nparams = nparams;
    j->q.params = ptrs;
    return j;
}

int db_pool_query(db_pool *p, const char *sql, int nparams, const char *const *params, db_any_fn cb, void *arg)
{
    if (p->freeing)
        return -ECANCELED;
    pool_query *j = pool_query_new(sql, nparams, params);
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
