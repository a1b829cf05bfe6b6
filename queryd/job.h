/* A job computes one answer: it runs queries (ClickHouse, MariaDB, PostgreSQL) in steps, the queries of a
 * step in parallel, each result turned into a cJSON array of row objects; the last step builds the JSON
 * answer. The cache (cache.h) starts jobs and hands their answers to every waiting request.
 *
 * A step: job_ch()/job_mdb()/job_pg() queue queries into numbered slots, job_then(j, next) runs next once
 * all of them answered. If any failed, next is not called: the job ends with 503 (database unreachable) or
 * 500 (a query was rejected), and the cache decides whether a stale answer can be served instead.
 *
 * Every ClickHouse query runs under a query_id of its own ("q-" and 16 random hex digits), so that job_cancel can
 * stop it on the server when nobody waits for the answer any more. */
#ifndef MOHSTATS_JOB_H
#define MOHSTATS_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queryd.h"
#include "sqlt.h"

typedef struct cJSON cJSON;
typedef struct qjob qjob;
typedef void (*qjob_fn)(qjob *j);

#define QJOB_SLOTS 10

typedef struct qcall qcall;

struct qjob {
    queryd *q;
    void *args; /* the endpoint's parameters; freed with the job by args_free */
    void (*args_free)(void *);
    void *state; /* scratch kept between steps; freed with the job by state_free */
    void (*state_free)(void *);
    cJSON *rows[QJOB_SLOTS]; /* the current step's results */
    int pending;
    int fail_status;   /* 0, or the status the job ends with */
    unsigned optional; /* slots (bit per slot) whose failure leaves an empty result instead of failing */
    qjob_fn next;
    bool done;
    bool cancelled;  /* job_cancel: no further step runs */
    qcall *ch_calls; /* ClickHouse queries in flight, for job_cancel */
    /* Written into every ClickHouse query as a leading comment "queryd <tag> #<step>", so system.query_log
     * shows which answer (cache key) and which step of it a query served. */
    char tag[72];
    int step;
    /* The data generation (fresh.h) the answer counts every event of: the newest known when the job started,
     * which every query it sends afterwards sees. An answer from a leaderboard board sets its board's. */
    uint64_t data_gen;
    /* Set by whoever started the job: receives the answer (status, malloc'd JSON body), or status 0 and no body
     * when job_cancel ended it before it had one. */
    void (*finish)(qjob *j, int status, char *body, size_t len, bool transient);
    void *finish_arg;
};

qjob *job_new(queryd *q, void *args, void (*args_free)(void *));
void job_free(qjob *j);
/* Set the tag written into the job's ClickHouse queries (sanitised for a SQL comment). */
void job_set_tag(qjob *j, const char *tag);

/* Queue a ClickHouse query built from a template; its rows land in rows[slot]. FORMAT JSON is appended. */
void job_ch(qjob *j, int slot, const char *tmpl, const sqlv *vals, size_t nvals);
/* Queue a MariaDB query ("?" placeholders); numeric lists the columns to return as numbers ("a,b"). */
void job_mdb(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric);
/* Queue a PostgreSQL query ($1 placeholders); numeric and boolean columns as for job_mdb. */
void job_pg(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric,
            const char *boolean);
/* Queue a Redis HGETALL (or HGET when field is not NULL); rows become [{field, value}] with each value parsed
 * as JSON (a string when it is not JSON). */
void job_redis_hash(qjob *j, int slot, const char *key, const char *field);
/* Run next when every queued query answered (at once if none is pending). */
void job_then(qjob *j, qjob_fn next);

/* Nobody waits for the answer any more: stop the job's ClickHouse queries in flight (the transfer is closed and
 * KILL QUERY sent, since ClickHouse 18.16 runs a query on after its HTTP client left) and run no further step.
 * The job ends with finish(j, 0, NULL, 0, false) once its other queries (MariaDB, PostgreSQL, Redis: short, not
 * stoppable) have answered, possibly before this returns. An answer given meanwhile by other means (one not
 * waiting for a step) still goes to finish as usual. Returns how many ClickHouse queries it stopped. */
int job_cancel(qjob *j);

/* The query_id job_ch gives a query: "q-" and 16 random hex digits. Exposed for tests. */
void job_query_id(char out[20]);

/* End the job with a JSON answer (taken over) / an error answer {"error": message}. */
void job_answer(qjob *j, int status, cJSON *body);
void job_error(qjob *j, int status, const char *message);

/* ---- reading rows ---- */
cJSON *job_rows(qjob *j, int slot); /* never NULL: an empty array when the slot has no result */
cJSON *job_row(qjob *j, int slot);  /* the first row, or NULL */
/* Detach rows[slot] from the job (the caller owns it). */
cJSON *job_take(qjob *j, int slot);

double row_num(const cJSON *row, const char *key);
const char *row_str(const cJSON *row, const char *key); /* "" when absent */

/* ---- building answers ---- */
/* Add a number rounded to decimals places (as a JSON number). */
void json_add_round(cJSON *o, const char *key, double v, int decimals);
/* Copy row[key] into o under the same key (or name when not NULL). */
void json_copy(cJSON *o, const cJSON *row, const char *key, const char *name);
/* Copy every field of row into o. */
void json_merge(cJSON *o, const cJSON *row);
/* An ISO-8601 UTC text for epoch milliseconds, e.g. 2026-01-31T20:15:00Z. */
void iso_time(uint64_t ms, char out[32]);

/* ---- conversions, exposed for tests ---- */
/* ClickHouse FORMAT JSON output -> the "data" array, with (U)Int64 strings turned into numbers by "meta". */
cJSON *chjson_rows(const char *body, size_t len);

#endif
