/* PostgreSQL pool: libpq's blocking calls run on libuv's thread pool, results come back on the loop thread. */
#include "pg.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pool.h"
#include "log.h"
#include "probe.h"

/* Applies when the URL sets none; keeps a dead host from holding a pool thread for minutes. */
#define PG_CONNECT_TIMEOUT "5"
#define PG_PROBE_TIMEOUT_MS 2000

/* A pg_pool is a db_pool (db_pool.h) with libpq as its driver: the public type is never defined, only
 * converted to and from the pool's own. */
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

/* Worker thread: (re)connect if needed and run the query. ctx is the conninfo. */
static void pg_run(void *ctx, void **conn, db_query *q)
{
    PGconn *pg = *conn;
    if (!pg) {
        pg = *conn = pg_connect(ctx);
    } else {
        /* An idle connection has nothing to read unless the server is dropping it (restart, terminated
         * backend, idle timeout): its FATAL message, then EOF, each of which PQconsumeInput reads in
         * turn. Finding out now saves failing the query. Nothing here waits. */
        for (int i = 0; i < 8 && PQstatus(pg) == CONNECTION_OK && socket_readable(pg); i++)
            if (!PQconsumeInput(pg))
                break;
        if (PQstatus(pg) != CONNECTION_OK)
            PQreset(pg);
    }
    if (!pg) {
        set_err(q->err, sizeof q->err, "out of memory");
        return;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        set_err(q->err, sizeof q->err, PQerrorMessage(pg));
        return; /* kept: PQreset tries again with the same parameters next time */
    }
    q->res = run(pg, q->sql, q->nparams, q->params);
    check_result(pg, q->res, q->err, sizeof q->err);
    /* A query that left a transaction open would poison the next one on this connection. */
    PGTransactionStatusType ts = PQtransactionStatus(pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(pg, "ROLLBACK"));
}

/* Loop thread: the result (freed after the callback) and the error, if any. */
static void pg_deliver(db_any_fn cb, db_query *q, void *arg)
{
    if (cb)
        ((pg_result_fn)cb)(q->res, q->err[0] ? q->err : NULL, arg);
    PQclear(q->res);
}

static void pg_close(void *conn)
{
    PQfinish(conn);
}

static const db_driver pg_driver = {pg_run, pg_deliver, pg_close, free};

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
    char *ctx = strdup(conninfo);
    return ctx ? (pg_pool *)db_pool_new(loop, &pg_driver, ctx, size) : NULL;
}

void pg_pool_free(pg_pool *p)
{
    db_pool_free((db_pool *)p);
}

void pg_pool_stop(pg_pool *p)
{
    db_pool_stop((db_pool *)p);
}

int pg_query(pg_pool *p, const char *sql, int nparams, const char *const *params, pg_result_fn cb, void *arg)
{
    return db_pool_query((db_pool *)p, sql, nparams, params, (db_any_fn)cb, arg);
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
    probe_req *pr = arg;
    if (err) {
        char reason[256];
        short_reason(err, reason, sizeof reason);
        probe_req_answer(pr, false, reason);
    } else {
        probe_req_answer(pr, true, NULL);
    }
}

void pg_probe(void *pool, void *token, probe_done_fn done)
{
    pg_pool *p = pool;
    probe_req *pr = probe_req_new(db_pool_loop((db_pool *)p), token, done);
    if (!pr)
        return;
    int rc = pg_query(p, "SELECT 1", 0, NULL, on_probe_result, pr);
    if (rc) {
        probe_req_fail(pr, rc == -ECANCELED ? "shutting down" : "out of memory");
        return;
    }
    probe_req_start(pr, PG_PROBE_TIMEOUT_MS);
}
