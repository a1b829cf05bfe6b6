/* A pool of blocking database connections used from the libuv loop; pg.c (libpq) and mariadb.c
 * (libmariadb) are its drivers. Each query runs on libuv's thread pool on a free connection (opened on first
 * use, then kept); queries wait in order while every connection is busy; outcomes come back on the loop
 * thread. */
#ifndef MOHSTATS_DB_POOL_H
#define MOHSTATS_DB_POOL_H

#include <uv.h>

typedef struct db_pool db_pool;

/* One query as a driver sees it: the copied SQL and parameters, and what running it gave. */
typedef struct {
    const char *sql;
    int nparams;
    const char *const *params; /* NULL entries are SQL NULL */
    void *res;                 /* the driver's result, or NULL */
    char err[512];             /* "" or why it failed */
} db_query;

/* A driver's own callback type, cast to this and back by the driver's deliver. */
typedef void (*db_any_fn)(void);

typedef struct {
    /* Worker thread: run q on *conn, a connection slot only this call touches: NULL when not open (open it),
     * left NULL or closed and set to NULL when it cannot be used again. Sets q->res and q->err. */
    void (*run)(void *ctx, void **conn, db_query *q);
    /* Loop thread: give the outcome to the user's callback (may be NULL), then free q->res. */
    void (*deliver)(db_any_fn cb, db_query *q, void *arg);
    /* Loop thread, when the pool goes: close an open connection, then free ctx. */
    void (*close)(void *conn);
    void (*free_ctx)(void *ctx);
} db_driver;

/* size connections at most. ctx (what run needs to connect) is the pool's from now on, also on failure. */
db_pool *db_pool_new(uv_loop_t *loop, const db_driver *drv, void *ctx, int size);
/* Never blocks: with nothing in flight the pool goes at once; otherwise queued queries still run, their
 * callbacks are called, and the pool frees itself after the last one (the loop must keep running). */
void db_pool_free(db_pool *p);
/* Refuse new queries (-ECANCELED) and let queued ones finish, but keep the pool allocated until db_pool_free:
 * for a pool that other objects may still call while the process shuts down (daemon_services.c). */
void db_pool_stop(db_pool *p);
/* The loop the pool delivers on. */
uv_loop_t *db_pool_loop(const db_pool *p);
/* Queue a query (sql and params are copied). Returns 0, -ENOMEM, or -ECANCELED once db_pool_free was called. */
int db_pool_query(db_pool *p, const char *sql, int nparams, const char *const *params, db_any_fn cb, void *arg);

#endif
