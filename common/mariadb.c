/* MariaDB pool: libmariadb's blocking calls run on libuv's thread pool; results are copied out for the loop thread. */
#include "mariadb.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "config.h"
#include "db_pool.h"
#include "log.h"
#include "probe.h"

#define MDB_CONNECT_TIMEOUT_S 5
/* Long enough for the heaviest achievement query, short enough that a hung server frees the thread. */
#define MDB_RW_TIMEOUT_S 30
#define MDB_PROBE_TIMEOUT_MS 2000
/* InnoDB ends a deadlock by rolling one transaction back, and tells its client to run it again. Every query here
 * is a transaction of its own (autocommit, one statement), so the pool does that itself. Concurrent
 * INSERT ... SELECT ... ON DUPLICATE KEY UPDATE of one key gets there (authd links a GUID so: two logins of one
 * member at once): both statements take shared locks on what they read, then both want them exclusive; when the
 * lock they wait for is the table's AUTO-INC lock the deadlock is reported as "Failed to read auto-increment
 * value from storage engine" (Innodb_deadlocks counts it). Measured: 8 such statements at a time on one new key
 * end like that one time in 3 (test_pg_mariadb.c); a few need a third try, none more so far. */
#define MDB_DEADLOCK_TRIES 5

/* Where to connect, from the URL (user and password percent-decoded). */
typedef struct {
    char host[256];
    int port;
    char user[128];
    char password[256];
    char db[256];
} mdb_target;

/* An mdb_pool is a db_pool (db_pool.h) with libmariadb as its driver: the public type is never defined, only
 * converted to and from the pool's own. */

static uv_once_t library_once = UV_ONCE_INIT;

/* mysql_library_init is not thread-safe: run it once on the loop thread before any worker connects. */
static void library_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

/* Decode %XX escapes in place (URL userinfo). */
static void percent_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* Parse mysql://user:password@host:port/db (or mariadb://). */
static int parse_target(const char *url, mdb_target *t)
{
    url_parts u;
    if (url_parse(url, 3306, &u) || (strcmp(u.scheme, "mysql") != 0 && strcmp(u.scheme, "mariadb") != 0))
        return -EINVAL;
    memset(t, 0, sizeof *t);
    snprintf(t->host, sizeof t->host, "%s", u.host);
    t->port = u.port;
    snprintf(t->user, sizeof t->user, "%s", u.user);
    snprintf(t->password, sizeof t->password, "%s", u.password);
    snprintf(t->db, sizeof t->db, "%s", u.path);
    percent_decode(t->user);
    percent_decode(t->password);
    percent_decode(t->db);
    return 0;
}

/* Copy msg into err. */
static void set_err(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg && *msg ? msg : "unknown error");
}

/* Describe a failed connect: "cannot connect to 127.0.0.1:3306: connection refused". libmariadb puts the
 * errno in parentheses, but for a refused TCP connect that is 115 (EINPROGRESS, from its non-blocking
 * connect) rather than ECONNREFUSED: how long the attempt took tells refused from timed out. */
static void connect_error(MYSQL *my, const mdb_target *t, uint64_t elapsed_ms, char *err, size_t errlen)
{
    unsigned code = mysql_errno(my);
    const char *msg = mysql_error(my), *open = strrchr(msg, '(');
    long os = open ? strtol(open + 1, NULL, 10) : 0;
    if ((code != CR_CONNECTION_ERROR && code != CR_CONN_HOST_ERROR) || os <= 0) {
        set_err(err, errlen, msg); /* access denied, unknown database... */
        return;
    }
    char why[128];
    if (os == EINPROGRESS)
        snprintf(why, sizeof why, "%s",
                 elapsed_ms + 500 < MDB_CONNECT_TIMEOUT_S * 1000 ? "connection refused" : "timeout");
    else
        snprintf(why, sizeof why, "%s", os == ETIMEDOUT ? "timeout" : strerror((int)os));
    why[0] = (char)tolower((unsigned char)why[0]);
    snprintf(err, errlen, "cannot connect to %s:%d: %s", t->host, t->port, why);
}

/* Open a connection with our timeouts and utf8mb4; NULL with err set on failure. */
static MYSQL *mdb_connect(const mdb_target *t, char *err, size_t errlen)
{
    MYSQL *my = mysql_init(NULL);
    if (!my) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    unsigned int connect_timeout = MDB_CONNECT_TIMEOUT_S, rw_timeout = MDB_RW_TIMEOUT_S;
    /* "localhost" would silently mean the Unix socket: the URL names a TCP port, so use TCP. */
    unsigned int protocol = MYSQL_PROTOCOL_TCP;
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(my, MYSQL_OPT_PROTOCOL, &protocol);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    uint64_t start = uv_hrtime();
    if (!mysql_real_connect(my, t->host, t->user, t->password, t->db[0] ? t->db : NULL, (unsigned)t->port, NULL,
                            CLIENT_MULTI_RESULTS)) {
        connect_error(my, t, (uv_hrtime() - start) / 1000000, err, errlen);
        mysql_close(my);
        return NULL;
    }
    return my;
}

/* Where a placeholder scan is: plain SQL, inside a quoted string or identifier, or a comment. */
enum scan_state { SQL_PLAIN, SQL_QUOTED, SQL_LINE_COMMENT, SQL_BLOCK_COMMENT };

/* Call visit for each "?" placeholder of sql, in order; returns how many there are. */
static int scan_placeholders(const char *sql, void (*visit)(size_t pos, void *ctx), void *ctx)
{
    enum scan_state st = SQL_PLAIN;
    char quote = 0;
    int count = 0;
    for (size_t i = 0; sql[i]; i++) {
        char ch = sql[i];
        switch (st) {
        case SQL_PLAIN:
            if (ch == '\'' || ch == '"' || ch == '`') {
                st = SQL_QUOTED;
                quote = ch;
            } else if (ch == '#' || (ch == '-' && sql[i + 1] == '-' && isspace((unsigned char)sql[i + 2]))) {
                st = SQL_LINE_COMMENT;
            } else if (ch == '/' && sql[i + 1] == '*') {
                st = SQL_BLOCK_COMMENT;
                i++;
            } else if (ch == '?') {
                if (visit)
                    visit(i, ctx);
                count++;
            }
            break;
        case SQL_QUOTED:
            if (ch == '\\' && quote != '`' && sql[i + 1])
                i++; /* an escaped character, maybe the quote itself; '' needs nothing: it reopens */
            else if (ch == quote)
                st = SQL_PLAIN;
            break;
        case SQL_LINE_COMMENT:
            if (ch == '\n')
                st = SQL_PLAIN;
            break;
        case SQL_BLOCK_COMMENT:
            if (ch == '*' && sql[i + 1] == '/') {
                st = SQL_PLAIN;
                i++;
            }
            break;
        }
    }
    return count;
}

typedef struct {
    size_t *pos;
    int n;
} placeholder_list;

/* What mysql_real_escape_string does for utf8mb4 (whose multi-byte sequences never contain ASCII bytes),
 * for use without a connection: libmariadb's own mysql_escape_string crashes before mysql_library_init. */
static unsigned long escape_plain(char *to, const char *from, unsigned long len)
{
    char *o = to;
    for (unsigned long i = 0; i < len; i++) {
        char esc = 0;
        switch (from[i]) {
        case '\0':
            esc = '0';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        case '\032':
            esc = 'Z';
            break;
        case '\\':
        case '\'':
        case '"':
            esc = from[i];
            break;
        }
        if (esc) {
            *o++ = '\\';
            *o++ = esc;
        } else {
            *o++ = from[i];
        }
    }
    *o = '\0';
    return (unsigned long)(o - to);
}

/* scan_placeholders visitor: record a placeholder's offset. */
static void record_placeholder(size_t pos, void *ctx)
{
    placeholder_list *l = ctx;
    l->pos[l->n++] = pos;
}

char *mdb_expand_params(struct st_mysql *m, const char *sql, int nparams, const char *const *params, size_t *outlen,
                        char *err, size_t errlen)
{
    int count = scan_placeholders(sql, NULL, NULL);
    if (count != nparams) {
        snprintf(err, errlen, "the query has %d placeholders but %d parameters were given", count, nparams);
        return NULL;
    }
    size_t sqllen = strlen(sql), size = sqllen + 1;
    for (int i = 0; i < nparams; i++)
        size += params[i] ? strlen(params[i]) * 2 + 2 : 4; /* escaping at most doubles; quotes */
    placeholder_list l = {.pos = malloc(((size_t)nparams + 1) * sizeof(size_t)), .n = 0};
    char *out = malloc(size);
    if (!l.pos || !out) {
        free(l.pos);
        free(out);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    scan_placeholders(sql, record_placeholder, &l);
    char *o = out;
    size_t from = 0;
    for (int i = 0; i < nparams; i++) {
        memcpy(o, sql + from, l.pos[i] - from);
        o += l.pos[i] - from;
        from = l.pos[i] + 1;
        if (!params[i]) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        unsigned long plen = (unsigned long)strlen(params[i]), n;
        *o++ = '\'';
        /* With a connection the escaping follows its character set and NO_BACKSLASH_ESCAPES mode. */
        n = m ? mysql_real_escape_string(m, o, params[i], plen) : escape_plain(o, params[i], plen);
        if (n == (unsigned long)-1) {
            free(l.pos);
            free(out);
            set_err(err, errlen, "cannot escape a parameter in the connection's character set");
            return NULL;
        }
        o += n;
        *o++ = '\'';
    }
    memcpy(o, sql + from, sqllen - from);
    o += sqllen - from;
    *o = '\0';
    free(l.pos);
    if (outlen)
        *outlen = (size_t)(o - out);
    return out;
}

/* Copy len bytes into a new NUL-terminated string. */
static char *memdup_str(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void mdb_result_free(mdb_result *r)
{
    if (!r)
        return;
    if (r->cells)
        for (unsigned long long i = 0; i < r->nrows * r->ncols; i++)
            free(r->cells[i]);
    if (r->colnames)
        for (unsigned i = 0; i < r->ncols; i++)
            free(r->colnames[i]);
    free(r->cells);
    free(r->colnames);
    free(r);
}

int mdb_col(const mdb_result *r, const char *name)
{
    for (unsigned i = 0; i < r->ncols; i++)
        if (strcasecmp(r->colnames[i], name) == 0)
            return (int)i;
    return -1;
}

/* Copy a stored result set into an mdb_result; NULL on out of memory. */
static mdb_result *copy_result(MYSQL *my, MYSQL_RES *rs)
{
    mdb_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->affected_rows = mysql_affected_rows(my);
    r->insert_id = mysql_insert_id(my);
    if (!rs)
        return r;
    r->ncols = mysql_num_fields(rs);
    r->nrows = mysql_num_rows(rs);
    r->colnames = calloc(r->ncols ? r->ncols : 1, sizeof(char *));
    unsigned long long ncells = r->nrows * r->ncols;
    r->cells = calloc(ncells ? ncells : 1, sizeof(char *));
    if (!r->colnames || !r->cells)
        goto oom;
    MYSQL_FIELD *fields = mysql_fetch_fields(rs);
    for (unsigned i = 0; i < r->ncols; i++)
        if (!(r->colnames[i] = memdup_str(fields[i].name, fields[i].name_length)))
            goto oom;
    MYSQL_ROW row;
    for (unsigned long long n = 0; n < r->nrows && (row = mysql_fetch_row(rs)); n++) {
        unsigned long *lengths = mysql_fetch_lengths(rs);
        for (unsigned i = 0; i < r->ncols; i++)
            if (row[i] && !(r->cells[n * r->ncols + i] = memdup_str(row[i], lengths[i])))
                goto oom;
    }
    return r;
oom:
    mdb_result_free(r);
    return NULL;
}

/* Run one query on an open connection: expand placeholders, execute, copy the result. */
static mdb_result *run(MYSQL *my, const char *sql, int nparams, const char *const *params, char *err, size_t errlen)
{
    size_t len;
    char *q = mdb_expand_params(my, sql, nparams, params, &len, err, errlen);
    if (!q)
        return NULL;
    int rc = mysql_real_query(my, q, (unsigned long)len);
    free(q);
    if (rc) {
        set_err(err, errlen, mysql_error(my));
        return NULL;
    }
    MYSQL_RES *rs = mysql_store_result(my);
    if (!rs && mysql_field_count(my) != 0) {
        set_err(err, errlen, mysql_error(my));
        return NULL;
    }
    mdb_result *r = copy_result(my, rs);
    mysql_free_result(rs);
    /* A CALL returns extra result sets; read them so the connection is ready for the next query. */
    while (mysql_more_results(my) && mysql_next_result(my) == 0)
        mysql_free_result(mysql_store_result(my));
    if (!r)
        set_err(err, errlen, "out of memory");
    return r;
}

/* An idle connection has nothing to read: if its socket is readable, the server closed it (restart,
 * wait_timeout) and the next query would fail. */
static bool idle_conn_dead(MYSQL *my)
{
    struct pollfd pfd = {.fd = (int)mysql_get_socket(my), .events = POLLIN};
    return poll(&pfd, 1, 0) != 0;
}

/* Worker thread: (re)connect if needed and run the query. ctx is the mdb_target. */
static void mdb_run(void *ctx, void **conn, db_query *q)
{
    MYSQL *my = *conn;
    /* A no-op in Connector/C 3, required by older client libraries on every thread that uses them. */
    mysql_thread_init();
    if (my && idle_conn_dead(my)) {
        mysql_close(my);
        my = NULL;
    }
    if (!my)
        my = mdb_connect(ctx, q->err, sizeof q->err);
    if (my) {
        unsigned e;
        for (int tries = 1;; tries++) {
            q->res = run(my, q->sql, q->nparams, q->params, q->err, sizeof q->err);
            e = mysql_errno(my);
            if (q->res || (e != ER_LOCK_DEADLOCK && e != ER_AUTOINC_READ_FAILED) || tries == MDB_DEADLOCK_TRIES)
                break;
            uv_sleep(1u << tries); /* 2, 4, 8, 16 ms: lets the transaction that won finish first */
        }
        /* Client errors (2000-2999: server gone, lost, timeout) leave the connection unusable. */
        if (!q->res && e >= 2000 && e < 3000) {
            mysql_close(my);
            my = NULL;
        }
    }
    *conn = my;
    mysql_thread_end();
}

/* Loop thread: the result (freed after the callback), or the error. */
static void mdb_deliver(db_any_fn cb, db_query *q, void *arg)
{
    if (cb)
        ((mdb_result_fn)cb)(q->res, q->res ? NULL : q->err, arg);
    mdb_result_free(q->res);
}

static void mdb_close(void *conn)
{
    mysql_close(conn);
}

/* The target holds the password: cleared before it is freed. */
static void mdb_free_target(void *ctx)
{
    if (ctx)
        memset(ctx, 0, sizeof(mdb_target));
    free(ctx);
}

static const db_driver mdb_driver = {mdb_run, mdb_deliver, mdb_close, mdb_free_target};

mdb_pool *mdb_pool_new(uv_loop_t *loop, const char *url, int size)
{
    uv_once(&library_once, library_init);
    mdb_target *t = calloc(1, sizeof *t);
    if (!t || parse_target(url, t)) {
        mdb_free_target(t);
        return NULL;
    }
    return (mdb_pool *)db_pool_new(loop, &mdb_driver, t, size);
}

void mdb_pool_free(mdb_pool *p)
{
    db_pool_free((db_pool *)p);
}

void mdb_pool_stop(mdb_pool *p)
{
    db_pool_stop((db_pool *)p);
}

int mdb_query(mdb_pool *p, const char *sql, int nparams, const char *const *params, mdb_result_fn cb, void *arg)
{
    return db_pool_query((db_pool *)p, sql, nparams, params, (db_any_fn)cb, arg);
}

struct mdb_conn {
    mdb_target target;
    MYSQL *my;
    bool in_tx; /* between mdb_conn_begin and mdb_conn_end */
};

mdb_conn *mdb_conn_open(const char *url, char *err, size_t errlen)
{
    uv_once(&library_once, library_init);
    mdb_conn *c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (parse_target(url, &c->target)) {
        set_err(err, errlen, "not a mysql:// or mariadb:// URL");
        free(c);
        return NULL;
    }
    return c;
}

mdb_result *mdb_conn_query(mdb_conn *c, const char *sql, int nparams, const char *const *params, char *err,
                           size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    /* In a transaction a new connection would run the rest of it outside the transaction (autocommit), and a
     * deadlock has already rolled the whole of it back: the caller must end it and start again. */
    if (c->in_tx && !c->my) {
        set_err(err, errlen, "the connection was lost during the transaction");
        return NULL;
    }
    if (!c->in_tx && c->my && idle_conn_dead(c->my)) {
        mysql_close(c->my);
        c->my = NULL;
    }
    if (!c->my && !(c->my = mdb_connect(&c->target, err, errlen)))
        return NULL;
    mdb_result *r;
    unsigned e;
    for (int tries = 1;; tries++) {
        r = run(c->my, sql, nparams, params, err, errlen);
        e = mysql_errno(c->my);
        if (r || c->in_tx || (e != ER_LOCK_DEADLOCK && e != ER_AUTOINC_READ_FAILED) || tries == MDB_DEADLOCK_TRIES)
            break;
        uv_sleep(1u << tries);
    }
    if (!r && e >= 2000 && e < 3000) { /* client errors leave the connection unusable */
        mysql_close(c->my);
        c->my = NULL;
    }
    return r;
}

int mdb_conn_begin(mdb_conn *c, char *err, size_t errlen)
{
    c->in_tx = false;
    mdb_result *r = mdb_conn_query(c, "START TRANSACTION", 0, NULL, err, errlen);
    if (!r)
        return -EIO;
    mdb_result_free(r);
    c->in_tx = true;
    return 0;
}

int mdb_conn_end(mdb_conn *c, bool commit, char *err, size_t errlen)
{
    mdb_result *r = mdb_conn_query(c, commit ? "COMMIT" : "ROLLBACK", 0, NULL, err, errlen);
    c->in_tx = false;
    if (!r) {
        /* The server rolls back what it did not see committed when the connection goes. */
        if (c->my) {
            mysql_close(c->my);
            c->my = NULL;
        }
        return -EIO;
    }
    mdb_result_free(r);
    return 0;
}

void mdb_conn_close(mdb_conn *c)
{
    if (!c)
        return;
    if (c->my)
        mysql_close(c->my);
    memset(&c->target, 0, sizeof c->target); /* it holds the password */
    free(c);
}

mdb_result *mdb_query_sync(const char *url, const char *sql, int nparams, const char *const *params, char *err,
                           size_t errlen)
{
    mdb_conn *c = mdb_conn_open(url, err, errlen);
    if (!c)
        return NULL;
    mdb_result *r = mdb_conn_query(c, sql, nparams, params, err, errlen);
    mdb_conn_close(c);
    return r;
}

/* ---- readiness probe ---- */

/* Shorten an error for /ready: "cannot connect to h:p: connection refused" becomes "connection refused". */
static void short_reason(const char *msg, char *out, size_t outlen)
{
    const char *colon = strrchr(msg, ':');
    if (strncmp(msg, "cannot connect to ", 18) == 0 && colon && colon[1] == ' ')
        msg = colon + 2;
    snprintf(out, outlen, "%s", msg);
}

/* The answer to the probe's SELECT 1. */
static void on_probe_result(mdb_result *res, const char *err, void *arg)
{
    probe_req *pr = arg;
    if (!res) {
        char reason[256];
        short_reason(err, reason, sizeof reason);
        probe_req_answer(pr, false, reason);
    } else {
        probe_req_answer(pr, true, NULL);
    }
}

void mdb_probe(void *pool, void *token, probe_done_fn done)
{
    mdb_pool *p = pool;
    probe_req *pr = probe_req_new(db_pool_loop((db_pool *)p), token, done);
    if (!pr)
        return;
    int rc = mdb_query(p, "SELECT 1", 0, NULL, on_probe_result, pr);
    if (rc) {
        probe_req_fail(pr, rc == -ECANCELED ? "shutting down" : "out of memory");
        return;
    }
    probe_req_start(pr, MDB_PROBE_TIMEOUT_MS);
}

int mdb_smf_prefix(char *out, size_t outlen)
{
    const char *prefix = config_get("SMF_DB_PREFIX");
    size_t n = prefix ? strlen(prefix) : 0;
    if (n >= outlen || strspn(prefix ? prefix : "", "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
        log_error("SMF_DB_PREFIX must be lowercase letters, digits and '_', at most %zu characters", outlen - 1);
        return -EINVAL;
    }
    memcpy(out, prefix ? prefix : "", n + 1);
    return 0;
}

char *mdb_prefixed_sql(const char *prefix, const char *tmpl)
{
    size_t plen = strlen(prefix), n = 0;
    for (const char *p = tmpl; (p = strstr(p, "{p}")); p += 3)
        n++;
    char *out = malloc(strlen(tmpl) + n * plen + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "{p}", 3) == 0) {
            memcpy(o, prefix, plen);
            o += plen;
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

mdb_result *mdb_conn_query_prefixed(mdb_conn *c, const char *prefix, const char *tmpl, int nparams,
                                    const char *const *params, char *err, size_t errlen)
{
    char *sql = mdb_prefixed_sql(prefix, tmpl);
    if (!sql) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mdb_result *r = mdb_conn_query(c, sql, nparams, params, err, errlen);
    free(sql);
    return r;
}
