/* queryd's endpoint tables (queryd/endpoint.h) against the rules the one handler relies on: every parameter fits in
 * its endpoint's args and a path parameter is in the path; query slots are distinct and within a job's; every
 * endpoint builds an answer; and two endpoints sharing a cache key are the same answer (an alias path), so that the
 * cache never serves one endpoint's answer for another's; and each query of a table renders, with the endpoint's
 * values or by its queue function. Runs in milliseconds: routes are only registered, and queries only rendered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint.h"
#include "http_server.h"
#include "idle_server.h"
#include "params.h"
#include "queryd.h"
#include "sqlt.h"
#include "stats.h"

/* The bytes a parameter's field takes in the args. */
static size_t field_size(param_kind k)
{
    switch (k) {
    case PARAM_IDENT:
    case PARAM_IDENT_PLUS:
    case PARAM_QUERY_IDENT:
        return IDENT_MAX + 1;
    case PARAM_NAME:
        return PLAYER_NAME_MAX;
    case PARAM_ID:
    case PARAM_QUERY_ID:
    case PARAM_LIMIT:
    case PARAM_NUMBER:
    case PARAM_OFFSET:
        return sizeof(long);
    case PARAM_PAGING:
        return sizeof(paging);
    case PARAM_FLAG:
    case PARAM_GIVEN:
        return sizeof(bool);
    case PARAM_CHOICE:
    case PARAM_CHOICE_ANY:
    case PARAM_PATH_CHOICE:
        return sizeof(const param_choice *);
    case PARAM_PERIOD:
        return sizeof(period);
    case PARAM_SETTING:
        return sizeof(long);
    case PARAM_STAT:
    case PARAM_PATH_STAT:
        return sizeof(const lb_stat *);
    case PARAM_END:
        break;
    }
    return 0;
}

/* Whether the parameter is read from the path. */
static bool in_path(param_kind k)
{
    return k == PARAM_IDENT || k == PARAM_IDENT_PLUS || k == PARAM_NAME || k == PARAM_ID || k == PARAM_PATH_CHOICE ||
           k == PARAM_PATH_STAT;
}

/* Every endpoint queryd registers (queryd_api_routes), on a server that never listens. */
static queryd q;

static void register_all(void)
{
    idle_server x;
    memset(&q, 0, sizeof q);
    queryd_api_routes(&q, idle_server_open(&x));
    idle_server_close(&x);
}

static void test_tables(void **state)
{
    (void)state;
    register_all();
    /* The player (22, and its rating history), match (4, and its ratings at 2 paths), map (7), weapon (5), game
     * server (16), global (4), game type (3), heat map (5), achievement (7) and leaderboard (4) areas. */
    assert_true(q.nroutes >= 80);
    for (size_t i = 0; i < 2 * q.nroutes; i++) {
        /* Every route's endpoint, then each endpoint that answers instead of one. */
        const endpoint *e = i < q.nroutes ? q.routes[i].ep : q.routes[i - q.nroutes].ep->instead.ep;
        if (!e)
            continue;
        if (i < q.nroutes)
            assert_ptr_equal(q.routes[i].q, &q);
        if (e->instead.ep && (!e->instead.param || !e->instead.value))
            fail_msg("%s: the endpoint answering instead needs its parameter and value", e->path);
        assert_non_null(e->key);
        assert_true(*e->key);
        if (!e->build && !e->start)
            fail_msg("%s builds no answer", e->path);
        if (e->rule.ok && (!e->rule.param || !e->rule.why))
            fail_msg("%s: a rule between parameters needs the parameter its 400 names and why", e->path);
        size_t args = e->args_size > sizeof(endpoint_args) ? e->args_size : sizeof(endpoint_args);
        for (size_t p = 0; p < ENDPOINT_PARAMS && e->params[p].kind != PARAM_END; p++) {
            const endpoint_param *x = &e->params[p];
            if (x->at < sizeof(endpoint_args) || x->at + field_size(x->kind) > args)
                fail_msg("%s: parameter %s is outside its args", e->path, x->name);
            char brace[80];
            snprintf(brace, sizeof brace, "{%s}", x->name);
            if (in_path(x->kind) && !strstr(e->path, brace))
                fail_msg("%s: path parameter %s is not in the path", e->path, x->name);
            if (!in_path(x->kind) && strstr(e->path, brace))
                fail_msg("%s: %s is in the path but read from the query string", e->path, x->name);
            bool choice = x->kind == PARAM_CHOICE || x->kind == PARAM_CHOICE_ANY || x->kind == PARAM_PATH_CHOICE;
            if (choice && (!x->choices || !x->choices[0].name))
                fail_msg("%s: choice %s has no values", e->path, x->name);
            if (x->kind == PARAM_PATH_CHOICE && (x->max < 1 || x->max > IDENT_MAX || !x->unknown))
                fail_msg("%s: %s needs its longest value (1 to IDENT_MAX) and its 404's text", e->path, x->name);
            if (x->kind == PARAM_NUMBER && (x->min > x->max || x->def < x->min || x->def > x->max))
                fail_msg("%s: %s's default is outside its bounds", e->path, x->name);
            if (x->kind != PARAM_LIMIT && x->kind != PARAM_NUMBER && x->kind != PARAM_OFFSET &&
                x->kind != PARAM_PAGING && x->kind != PARAM_FLAG && x->kind != PARAM_GIVEN &&
                x->kind != PARAM_CHOICE_ANY && x->kind != PARAM_SETTING && !x->why)
                fail_msg("%s: parameter %s has no text for its 400", e->path, x->name);
        }
        unsigned used = 0;
        for (size_t k = 0; k < ENDPOINT_QUERIES && (e->queries[k].sql || e->queries[k].queue); k++) {
            int slot = e->queries[k].slot;
            if (slot < 0 || slot >= QJOB_SLOTS || (used & (1u << slot)))
                fail_msg("%s: query slot %d is out of range or used twice", e->path, slot);
            used |= 1u << slot;
            if (!e->queries[k].queue && !e->vals && strchr(e->queries[k].sql, '{'))
                fail_msg("%s: slot %d's template has placeholders but the endpoint has no values", e->path, slot);
        }
    }
}

/* Two endpoints with one key: one answer at two paths (the same parameters, queries and builder). */
static void test_keys_are_answers(void **state)
{
    (void)state;
    register_all();
    for (size_t i = 0; i < q.nroutes; i++)
        for (size_t k = i + 1; k < q.nroutes; k++) {
            const endpoint *a = q.routes[i].ep, *b = q.routes[k].ep;
            if (strcmp(a->key, b->key) != 0)
                continue;
            bool same = a->args_size == b->args_size && a->ttl == b->ttl && a->vals == b->vals &&
                        a->start == b->start && a->build == b->build && a->board == b->board &&
                        a->instead.ep == b->instead.ep && a->rule.ok == b->rule.ok &&
                        memcmp(a->params, b->params, sizeof a->params) == 0 &&
                        memcmp(a->queries, b->queries, sizeof a->queries) == 0 &&
                        (a->part == b->part || (a->part && b->part && strcmp(a->part, b->part) == 0));
            if (!same)
                fail_msg("%s and %s share the cache key \"%s\" but are different answers", a->path, b->path, a->key);
        }
}

/* Fill args with a value of each declared parameter, as endpoint_parse would from a request. */
static void args_fill(const endpoint *e, char *args)
{
    ((endpoint_args *)args)->ep = e;
    for (size_t p = 0; p < ENDPOINT_PARAMS && e->params[p].kind != PARAM_END; p++) {
        const endpoint_param *x = &e->params[p];
        void *field = args + x->at;
        switch (x->kind) {
        case PARAM_IDENT:
        case PARAM_IDENT_PLUS:
        case PARAM_QUERY_IDENT:
        case PARAM_NAME:
            strcpy(field, "x");
            break;
        case PARAM_ID:
            *(long *)field = 1;
            break;
        case PARAM_QUERY_ID:
            *(long *)field = 2;
            break;
        case PARAM_LIMIT:
        case PARAM_NUMBER:
        case PARAM_OFFSET:
            *(long *)field = x->def;
            break;
        case PARAM_PAGING:
            *(paging *)field = (paging){.limit = x->def, .offset = 0, .page = 1};
            break;
        case PARAM_FLAG:
        case PARAM_GIVEN:
            *(bool *)field = true;
            break;
        case PARAM_CHOICE:
        case PARAM_CHOICE_ANY:
        case PARAM_PATH_CHOICE:
            *(const param_choice **)field = x->choices;
            break;
        case PARAM_PERIOD:
            *(period *)field = PERIOD_ALL;
            break;
        case PARAM_SETTING:
            *(long *)field = x->def;
            break;
        case PARAM_STAT:
        case PARAM_PATH_STAT:
            *(const lb_stat **)field = lb_stat_find("kills");
            break;
        case PARAM_END:
            break;
        }
    }
}

/* What a job queues, in place of job.c's functions (linked with --wrap, tests/CMakeLists.txt), so that the tables'
 * queue functions run here without a database: a ClickHouse query is rendered as it would be sent, and every
 * template that does not render, or a job that ends in an error, counts as failed. */
static int queued, failed;

void __wrap_job_ch(qjob *j, int slot, const char *tmpl, const sqlv *vals, size_t nvals);
void __wrap_job_ch(qjob *j, int slot, const char *tmpl, const sqlv *vals, size_t nvals)
{
    char *sql = sqlt_render(tmpl, vals, nvals);
    failed += sql == NULL;
    queued++;
    free(sql);
}

void __wrap_job_mdb(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric);
void __wrap_job_mdb(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric)
{
    queued++;
}

void __wrap_job_pg(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric,
                   const char *boolean);
void __wrap_job_pg(qjob *j, int slot, const char *sql, int nparams, const char *const *params, const char *numeric,
                   const char *boolean)
{
    queued++;
}

void __wrap_job_redis_hash(qjob *j, int slot, const char *key, const char *field);
void __wrap_job_redis_hash(qjob *j, int slot, const char *key, const char *field)
{
    queued++;
}

void __wrap_job_error(qjob *j, int status, const char *message);
void __wrap_job_error(qjob *j, int status, const char *message)
{
    failed++;
}

/* Every query of the first step renders: each template the table queues with the endpoint's values (queue NULL)
 * has a value for each of its placeholders, and each queue function queues its query without an error. A misspelt
 * {name} would otherwise show only at run time, as a logged render error and a 500. */
static void test_placeholders_have_values(void **state)
{
    (void)state;
    register_all();
    for (size_t i = 0; i < q.nroutes; i++) {
        const endpoint *e = q.routes[i].ep;
        size_t size = e->args_size > sizeof(endpoint_args) ? e->args_size : sizeof(endpoint_args);
        char *args = calloc(1, size);
        assert_non_null(args);
        args_fill(e, args);
        qjob j = {.q = &q, .args = args};
        sqlv vals[ENDPOINT_VALS];
        size_t n = e->vals ? e->vals(&j, vals) : 0;
        assert_true(n <= ENDPOINT_VALS);
        for (size_t k = 0; k < ENDPOINT_QUERIES && (e->queries[k].sql || e->queries[k].queue); k++) {
            const endpoint_query *x = &e->queries[k];
            if (x->queue) {
                queued = failed = 0;
                x->queue(&j, x->slot, x->sql, x->n);
                if (failed || !queued)
                    fail_msg("%s: slot %d's queue function queued no query or failed to render one", e->path, x->slot);
                continue;
            }
            char *sql = sqlt_render(x->sql, vals, n);
            if (!sql)
                fail_msg("%s: slot %d's template has a placeholder its values (vals) do not name", e->path, x->slot);
            free(sql);
        }
        free(args);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_keys_are_answers),
        cmocka_unit_test(test_placeholders_have_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
