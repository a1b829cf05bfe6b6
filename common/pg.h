/* PostgreSQL helper: a small pool of libpq connections whose blocking calls run on libuv's thread
 * pool, with results delivered back on the loop thread. Parameters are always sent separately from
 * the SQL text ($1, $2, ...), never interpolated. */
#ifndef MOHSTATS_PG_H
#define MOHSTATS_PG_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct pg_pool pg_pool;

/* res is NULL on a connection failure (err says why) or a non-OK result status (err holds the
 * server's message, res is still given). res is freed after the callback returns. */
typedef void (*pg_result_fn)(PGresult *res, const char *err, void *arg);

/* conninfo: postgresql://user:password@host:port/db (or key=value). size connections at most;
 * they are opened lazily and re-opened after failures. */
pg_pool *pg_pool_new(uv_loop_t *loop, const char *conninfo, int size);
/* Waits for queued queries to finish, then closes connections. Never blocks: with nothing in flight the
 * pool is freed at once; otherwise queued queries still run, their callbacks are called, and the pool frees
 * itself after the last one, so the loop must keep running (uv_run does: the work requests keep it alive). */
void pg_pool_free(pg_pool *p);
/* db_pool_stop: refuse new queries, finish queued ones, stay allocated until pg_pool_free. */
void pg_pool_stop(pg_pool *p);

/* Queue a query. params (nparams of them, NULL entries are SQL NULL) are copied. Without parameters the SQL
 * may hold several statements (PQexec). Returns 0, -ENOMEM, or -ECANCELED once pg_pool_free was called. */
int pg_query(pg_pool *p, const char *sql, int nparams, const char *const *params, pg_result_fn cb, void *arg);

/* Blocking single query on a fresh connection, for tools and tests; returns NULL + err on failure. */
PGresult *pg_exec_sync(const char *conninfo, const char *sql, int nparams, const char *const *params,
                       char *err, size_t errlen);

#endif
