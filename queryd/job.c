/* Jobs: steps of parallel queries whose results become cJSON rows, ending in one JSON answer. */
#include "job.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse.h"
#include "db_json.h"
#include "fresh.h"
#include "log.h"
#include "mariadb.h"
#include "metrics.h"
#include "pg.h"
#include "random.h"
#include "redis_client.h"

#include <hiredis/hiredis.h>

/* One query in flight: which job and slot it answers, and what to convert. */
struct qcall {
    qjob *j;
    int slot;
    char numeric[256];
    char boolean[128];
    uint64_t start_ns;
    /* A ClickHouse query: its request and id, linked in j->ch_calls while in flight (job_cancel). */
    ch_request *chreq;
    char query_id[20];
    qcall *ch_next;
};

static metric *m_ch_seconds, *m_ch_errors, *m_db_errors, *m_cancelled;

/* Register the metrics once. */
static void job_metrics_init(void)
{
    if (m_ch_seconds)
        return;
    m_ch_seconds = metrics_histogram("queryd_clickhouse_query_seconds", "ClickHouse query latency seen by queryd", NULL,
                                     metrics_latency_buckets, metrics_latency_nbuckets);
    m_ch_errors = metrics_counter("queryd_clickhouse_errors_total", "ClickHouse queries that failed", NULL);
    m_db_errors = metrics_counter("queryd_sql_errors_total", "MariaDB or PostgreSQL queries that failed", NULL);
    m_cancelled =
        metrics_counter("mohstats_query_cancelled_total",
                        "ClickHouse queries stopped because every client waiting for their answer left", NULL);
}

qjob *job_new(queryd *q, void *args, void (*args_free)(void *))
{
    job_metrics_init();
    qjob *j = calloc(1, sizeof *j);
    if (!j) {
        if (args_free && args)
            args_free(args);
        return NULL;
    }
    j->q = q;
    j->args = args;
    j->args_free = args_free;
    j->data_gen = fresh_gen(q->fresh);
    return j;
}

void job_set_tag(qjob *j, const char *tag)
{
    /* Inside a SQL comment: nothing in it may close the comment. */
    size_t i = 0;
    for (; tag[i] && i < sizeof j->tag - 1; i++)
        j->tag[i] = tag[i] == '*' || tag[i] == '/' || (unsigned char)tag[i] < 0x20 ? '_' : tag[i];
    j->tag[i] = '\0';
}

void job_free(qjob *j)
{
    if (!j)
        return;
    for (int i = 0; i < QJOB_SLOTS; i++)
        cJSON_Delete(j->rows[i]);
    if (j->args_free && j->args)
        j->args_free(j->args);
    if (j->state_free && j->state)
        j->state_free(j->state);
    free(j);
}

/* End a cancelled job without an answer (job_cancel). */
static void job_end_cancelled(qjob *j)
{
    if (j->done)
        return;
    j->done = true;
    j->finish(j, 0, NULL, 0, false);
}

/* Answer a step's query: store rows or note the failure, then run the next step when all answered. */
static void call_done(qcall *c, cJSON *rows, int fail_status)
{
    qjob *j = c->j;
    if (fail_status && !j->fail_status && !(j->optional & (1u << c->slot)))
        j->fail_status = fail_status;
    cJSON_Delete(j->rows[c->slot]);
    j->rows[c->slot] = rows;
    free(c);
    if (--j->pending == 0 && j->next) {
        qjob_fn next = j->next;
        j->next = NULL;
        j->step++;
        if (j->cancelled)
            job_end_cancelled(j);
        else if (j->fail_status)
            job_error(j, j->fail_status,
                      j->fail_status == 503 ? "The statistics database is unreachable; try again in a minute."
                                            : "The statistics query failed; the error is in queryd's log.");
        else
            next(j);
    }
}

cJSON *chjson_rows(const char *body, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!doc)
        return NULL;
    cJSON *data = cJSON_DetachItemFromObject(doc, "data");
    const cJSON *meta = cJSON_GetObjectItem(doc, "meta");
    if (!cJSON_IsArray(data)) {
        cJSON_Delete(data);
        cJSON_Delete(doc);
        return NULL;
    }
    /* ClickHouse quotes 64-bit integers in JSON output (output_format_json_quote_64bit_integers); the
     * columns' types in "meta" say which strings are really numbers. */
    const cJSON *col;
    cJSON_ArrayForEach(col, meta)
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(col, "type"));
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(col, "name"));
        if (!type || !name || !strstr(type, "Int64"))
            continue;
        bool nullable = strncmp(type, "Nullable(", 9) == 0;
        if (strchr(type, '(') && !nullable)
            continue; /* Array(UInt64) and friends: left as they are */
        cJSON *row;
        cJSON_ArrayForEach(row, data)
        {
            cJSON *v = cJSON_GetObjectItem(row, name);
            if (cJSON_IsString(v))
                cJSON_ReplaceItemInObject(row, name, cJSON_CreateNumber(strtod(v->valuestring, NULL)));
        }
    }
    cJSON_Delete(doc);
    return data;
}

/* ClickHouse answered one query. */
static void ch_done(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    (void)c;
    qcall *call = arg;
    for (qcall **p = &call->j->ch_calls; *p; p = &(*p)->ch_next)
        if (*p == call) {
            *p = call->ch_next;
            break;
        }
    metric_observe(m_ch_seconds, (double)(uv_hrtime() - call->start_ns) / 1e9);
    if (err) {
        metric_inc(m_ch_errors);
        /* A status means ClickHouse answered and rejected the query: a bug here, not an outage. */
        int status = (err == -EPROTO || (http_status >= 400 && http_status < 500)) ? 500 : 503;
        log_warn("clickhouse query failed (%s, HTTP %ld): %.*s", status == 500 ? "rejected" : "unreachable",
                 http_status, (int)(len > 400 ? 400 : len), body ? body : "");
        call_done(call, NULL, status);
        return;
    }
    cJSON *rows = chjson_rows(body, len);
    if (!rows) {
        log_warn("clickhouse answer is not the JSON expected: %.*s", (int)(len > 200 ? 200 : len), body);
        call_done(call, NULL, 500);
        return;
    }
    call_done(call, rows, 0);
}

/* A new call answering slot of j, counted as pending; NULL (the job then fails with 500) when out of memory.
 * numeric and boolean list the columns to convert (may be NULL). */
static qcall *call_new(qjob *j, int slot, const char *numeric, const char *boolean)
{
    qcall *c = calloc(1, sizeof *c);
    if (!c) {
        if (!j->fail_status)
            j->fail_status = 500;
        return NULL;
    }
    c->j = j;
    c->slot = slot;
    snprintf(c->numeric, sizeof c->numeric, "%s", numeric ? numeric : "");
    snprintf(c->boolean, sizeof c->boolean, "%s", boolean ? boolean : "");
    j->pending++;
    return c;
}

void job_ch(qjob *j, int slot, const char *tmpl, const sqlv *vals, size_t nvals)
{
    char *sql = sqlt_render(tmpl, vals, nvals);
    size_t n = sql ? strlen(sql) + sizeof j->tag + 48 : 0;
    char *full = sql ? malloc(n) : NULL;
    if (full)
        snprintf(full, n, "/* queryd %s #%d */\n%s\nFORMAT JSON", *j->tag ? j->tag : "-", j->step, sql);
    free(sql);
    if (!full && !j->fail_status)
        j->fail_status = 500;
    qcall *c = full ? call_new(j, slot, NULL, NULL) : NULL;
    if (!c) {
        free(full);
        return;
    }
    c->start_ns = uv_hrtime();
    job_query_id(c->query_id);
    log_debug("clickhouse (query_id %s): %s", c->query_id, full);
    if (ch_query_tracked(j->q->ch, full, c->query_id, ch_done, c, &c->chreq) != 0) {
        call_done(c, NULL, 503);
    } else {
        c->ch_next = j->ch_calls;
        j->ch_calls = c;
    }
    free(full);
}

void job_query_id(char out[20])
{
    snprintf(out, 20, "q-%016llx", (unsigned long long)random_u64());
}

/* ClickHouse answered a KILL QUERY: only a failure is worth a line (the query then runs to max_execution_time). */
static void kill_done(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    (void)c;
    char *query_id = arg;
    if (err && err != -ECANCELED) /* -ECANCELED: queryd is shutting down, and the query ends with its connection */
        log_warn("could not stop ClickHouse query %s (HTTP %ld): %.*s", query_id, http_status,
                 (int)(len > 300 ? 300 : len), body ? body : "");
    free(query_id);
}

/* Stop a query on the server. ASYNC: the answer comes at once, whether or not the query has stopped yet. The
 * read-only user may kill its own queries (and only those), on 18.16 and current releases alike. */
static void kill_query(queryd *q, const char *query_id)
{
    char sql[96];
    snprintf(sql, sizeof sql, "KILL QUERY WHERE query_id = '%s' ASYNC", query_id);
    char *arg = strdup(query_id);
    if (!arg || ch_query(q->ch, sql, kill_done, arg) != 0) {
        log_warn("could not send KILL QUERY for ClickHouse query %s", query_id);
        free(arg);
    }
}

int job_cancel(qjob *j)
{
    if (j->done || j->cancelled)
        return 0;
    j->cancelled = true;
    qcall *list = j->ch_calls;
    j->ch_calls = NULL;
    int n = 0;
    for (qcall *c = list; c; c = c->ch_next, n++) {
        ch_cancel(j->q->ch, c->chreq);
        kill_query(j->q, c->query_id);
        metric_inc(m_cancelled);
    }
    if (n)
        log_info("stopped %d ClickHouse quer%s of %s (step %d): every client waiting for it left", n,
                 n == 1 ? "y" : "ies", *j->tag ? j->tag : "-", j->step);
    /* The last of these may end the job and free it: j is not touched after the loop. */
    while (list) {
        qcall *c = list;
        list = c->ch_next;
        call_done(c, NULL, 0);
    }
    return n;
}

/* MariaDB answered one query. */
static void mdb_done(mdb_result *res, const char *err, void *arg)
{
    qcall *c = arg;
    if (!res) {
        metric_inc(m_db_errors);
        log_warn("mariadb query failed: %s", err ? err : "?");
        call_done(c, NULL, 503);
        return;
    }
    call_done(c, mdb_result_json(res, c->numeric, c->boolean), 0);
}

void job_mdb(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric)
{
    qcall *c = call_new(j, slot, numeric, NULL);
    if (!c)
        return;
    if (!j->q->mdb || mdb_query(j->q->mdb, sql, nparams, params, mdb_done, c) != 0)
        call_done(c, NULL, 503);
}

/* PostgreSQL answered one query. */
static void pg_done(PGresult *res, const char *err, void *arg)
{
    qcall *c = arg;
    if (!res || err) {
        metric_inc(m_db_errors);
        log_warn("postgres query failed: %s", err ? err : "?");
        call_done(c, NULL, 503);
        return;
    }
    call_done(c, pg_result_json(res, c->numeric, c->boolean), 0);
}

void job_pg(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric,
            const char *boolean)
{
    qcall *c = call_new(j, slot, numeric, boolean);
    if (!c)
        return;
    if (!j->q->pg || pg_query(j->q->pg, sql, nparams, params, pg_done, c) != 0)
        call_done(c, NULL, 503);
}

/* A field/value pair of a Redis hash as a row. */
static cJSON *hash_row(const char *field, size_t flen, const char *value, size_t vlen)
{
    cJSON *o = cJSON_CreateObject();
    char *f = strndup(field, flen);
    cJSON_AddStringToObject(o, "field", f ? f : "");
    free(f);
    cJSON *v = cJSON_ParseWithLength(value, vlen);
    if (!v) {
        char *t = strndup(value, vlen);
        v = cJSON_CreateString(t ? t : "");
        free(t);
    }
    cJSON_AddItemToObject(o, "value", v);
    return o;
}

/* Redis answered HGETALL or HGET. */
static void redis_done(redis_client *rc, redisReply *r, const char *err, void *arg)
{
    (void)rc;
    qcall *c = arg;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        metric_inc(m_db_errors);
        log_warn("redis command failed: %s", err ? err : r ? r->str : "?");
        call_done(c, NULL, 503);
        return;
    }
    cJSON *rows = cJSON_CreateArray();
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            if (r->element[i]->type == REDIS_REPLY_STRING && r->element[i + 1]->type == REDIS_REPLY_STRING)
                cJSON_AddItemToArray(rows, hash_row(r->element[i]->str, r->element[i]->len, r->element[i + 1]->str,
                                                    r->element[i + 1]->len));
    } else if (r->type == REDIS_REPLY_STRING) {
        cJSON_AddItemToArray(rows, hash_row(c->numeric, strlen(c->numeric), r->str, r->len));
    }
    call_done(c, rows, 0);
}

void job_redis_hash(qjob *j, int slot, const char *key, const char *field)
{
    /* numeric holds the field name for the single-field case */
    qcall *c = call_new(j, slot, field, NULL);
    if (!c)
        return;
    int rc = field ? redis_command(j->q->redis, redis_done, c, "HGET %s %s", key, field)
                   : redis_command(j->q->redis, redis_done, c, "HGETALL %s", key);
    if (rc != 0)
        call_done(c, NULL, 503);
}

void job_then(qjob *j, qjob_fn next)
{
    if (j->pending > 0) {
        j->next = next;
        return;
    }
    j->step++;
    if (j->cancelled)
        job_end_cancelled(j);
    else if (j->fail_status)
        job_error(j, j->fail_status, "The statistics query failed; the error is in queryd's log.");
    else
        next(j);
}

void job_answer(qjob *j, int status, cJSON *body)
{
    if (j->done) {
        cJSON_Delete(body);
        return;
    }
    j->done = true;
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        status = 500;
        text = strdup("{\"error\":\"Out of memory while building the answer.\"}");
    }
    j->finish(j, status, text, text ? strlen(text) : 0, false);
}

void job_error(qjob *j, int status, const char *message)
{
    if (j->done)
        return;
    j->done = true;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* 5xx from a database is transient: the cache may serve a stale answer instead. */
    j->finish(j, status, text, text ? strlen(text) : 0, status >= 500);
}

cJSON *job_rows(qjob *j, int slot)
{
    if (!j->rows[slot])
        j->rows[slot] = cJSON_CreateArray();
    return j->rows[slot];
}

cJSON *job_row(qjob *j, int slot)
{
    return cJSON_GetArrayItem(job_rows(j, slot), 0);
}

cJSON *job_take(qjob *j, int slot)
{
    cJSON *r = job_rows(j, slot);
    j->rows[slot] = NULL;
    return r;
}

double row_num(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(row, key);
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v))
        return strtod(v->valuestring, NULL);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

const char *row_str(const cJSON *row, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(row, key));
    return s ? s : "";
}

void json_add_round(cJSON *o, const char *key, double v, int decimals)
{
    double scale = pow(10, decimals);
    double r = isfinite(v) ? round(v * scale) / scale : 0;
    cJSON_AddNumberToObject(o, key, r == 0 ? 0 : r); /* never -0 */
}

void json_copy(cJSON *o, const cJSON *row, const char *key, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(row, key);
    cJSON_AddItemToObject(o, name ? name : key, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

void json_merge(cJSON *o, const cJSON *row)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, row)
    {
        cJSON_DeleteItemFromObject(o, v->string);
        cJSON_AddItemToObject(o, v->string, cJSON_Duplicate(v, true));
    }
}

void iso_time(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
