/* MariaDB helper: a small pool of libmariadb connections whose blocking calls run on libuv's thread
 * pool. Placeholders "?" in the SQL are replaced by the parameters, escaped with
 * mysql_real_escape_string and quoted; nothing else is ever interpolated. */
#ifndef MOHSTATS_MARIADB_H
#define MOHSTATS_MARIADB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct mdb_pool mdb_pool;

/* A result set copied out of the client library: rows x cols cells, NULL for SQL NULL. */
typedef struct {
    unsigned ncols;
    unsigned long long nrows;
    char **colnames; /* ncols */
    char **cells;    /* nrows * ncols, row-major */
    unsigned long long affected_rows;
    unsigned long long insert_id;
} mdb_result;

static inline const char *mdb_cell(const mdb_result *r, unsigned long long row, unsigned col)
{
    return r->cells[row * r->ncols + col];
}
/* Column index by name, or -1. */
int mdb_col(const mdb_result *r, const char *name);

/* res is NULL on failure (err says why). res is freed after the callback returns. */
typedef void (*mdb_result_fn)(mdb_result *res, const char *err, void *arg);

/* url: mysql://user:password@host:port/db or mariadb://... */
mdb_pool *mdb_pool_new(uv_loop_t *loop, const char *url, int size);
/* Never blocks: with nothing in flight the pool is freed at once; otherwise queued queries still run, their
 * callbacks are called, and the pool frees itself after the last one (the loop must keep running). */
void mdb_pool_free(mdb_pool *p);
/* db_pool_stop: refuse new queries, finish queued ones, stay allocated until mdb_pool_free. */
void mdb_pool_stop(mdb_pool *p);

/* Queue a query with "?" placeholders (NULL params are SQL NULL). Returns 0, -ENOMEM, or -ECANCELED once
 * mdb_pool_free was called. */
int mdb_query(mdb_pool *p, const char *sql, int nparams, const char *const *params, mdb_result_fn cb, void *arg);

void mdb_result_free(mdb_result *r);

/* SMF_DB_PREFIX, the forum's table prefix, into out. It is pasted into table names, so it must be lowercase
 * letters, digits and '_'; otherwise this logs why and returns -EINVAL. */
int mdb_smf_prefix(char *out, size_t outlen);
/* tmpl with every "{p}" replaced by prefix (a checked SMF_DB_PREFIX). malloc'd; NULL when out of memory. */
char *mdb_prefixed_sql(const char *prefix, const char *tmpl);

/* Exposed for tests: sql with each "?" outside quotes and comments replaced by the next parameter, escaped
 * and quoted, or NULL for a NULL parameter. m is the connection whose character set and SQL mode govern
 * escaping; NULL escapes without one (right for utf8mb4). Returns a malloc'd string (its length in *outlen
 * if not NULL), or NULL with the reason in err (placeholder count mismatch, out of memory). */
struct st_mysql;
char *mdb_expand_params(struct st_mysql *m, const char *sql, int nparams, const char *const *params, size_t *outlen,
                        char *err, size_t errlen);

/* A blocking connection, for a thread of its own (achievd's pipeline) and tools: connects on first use and again
 * after the server went away; retries a deadlock's victim like the pool. */
typedef struct mdb_conn mdb_conn;
mdb_conn *mdb_conn_open(const char *url, char *err, size_t errlen);
mdb_result *mdb_conn_query(mdb_conn *c, const char *sql, int nparams, const char *const *params, char *err,
                           size_t errlen);
/* mdb_conn_query of tmpl with every "{p}" replaced by prefix (mdb_prefixed_sql); "out of memory" in err. */
mdb_result *mdb_conn_query_prefixed(mdb_conn *c, const char *prefix, const char *tmpl, int nparams,
                                    const char *const *params, char *err, size_t errlen);
void mdb_conn_close(mdb_conn *c);
/* A transaction on the connection. mdb_conn_begin connects if needed and starts it (0, or -EIO with err); until
 * mdb_conn_end, a query neither reconnects nor retries a deadlock, since either would run the rest of the
 * transaction outside it: on any error the caller ends it (commit=false) and may start again. mdb_conn_end
 * commits or rolls back: 0, or -EIO when the commit's outcome was not confirmed. */
int mdb_conn_begin(mdb_conn *c, char *err, size_t errlen);
int mdb_conn_end(mdb_conn *c, bool commit, char *err, size_t errlen);
/* Blocking query on a connection of its own, for tools and tests; returns NULL + err on failure. */
mdb_result *mdb_query_sync(const char *url, const char *sql, int nparams, const char *const *params, char *err,
                           size_t errlen);

#endif
