/* docs/openapi.json against what the daemons serve: every route queryd registers (queryd_api_routes, the list
 * main.c uses) is a path of the document marked "x-mohstats-daemon": "queryd" with a GET operation, and every such
 * path is served; the same for authd's routes (verify_routes, forum_routes, tournament_routes) and its paths, method by
 * method; each path parameter is declared; each operation answers with a JSON schema; the leaderboard's stat and period
 * lists are the ones queryd accepts (the stats and rating). Runs in milliseconds: no server starts, routes are only
 * registered. ingestd's two paths are not checked here (their registration needs its running parts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "area.h"
#include "authd.h"
#include "endpoint.h"
#include "http_server.h"
#include "idle_server.h"
#include "params.h"
#include "ratings.h"
#include "stats.h"

#define MAX_ROUTES 256

typedef struct {
    char *paths[MAX_ROUTES];   /* under /api/v1 */
    char *methods[MAX_ROUTES]; /* lower case, as the document's operations: "get", "post", ... */
    size_t n;
} route_list;

static cJSON *doc;
/* What each daemon serves, registered once (authd's registration keeps its SQL in statics for the process's life:
 * registering again would drop the first strings). */
static route_list served_by[2];
/* queryd's registered endpoints (queryd_api_routes fills its routes). */
static queryd served_q;

/* http_server_routes_each: keep the routes under /api/v1, without the prefix. */
static void collect(void *ctx, const char *method, const char *pattern)
{
    route_list *l = ctx;
    static const char prefix[] = "/api/v1";
    if (strncmp(pattern, prefix, sizeof prefix - 1) != 0)
        return;
    assert_true(l->n < MAX_ROUTES);
    l->paths[l->n] = strdup(pattern + sizeof prefix - 1);
    l->methods[l->n] = strdup(method);
    assert_true(l->paths[l->n] && l->methods[l->n]);
    for (char *c = l->methods[l->n]; *c; c++)
        *c = (char)(*c - 'A' + 'a');
    l->n++;
}

typedef enum { QUERYD, AUTHD } daemon_kind;
static const char *const daemon_names[] = {"queryd", "authd"};

/* The routes a daemon serves, registered on a server that never listens. */
static void served_routes(daemon_kind d, route_list *l)
{
    idle_server x;
    http_server *s = idle_server_open(&x);
    /* The handlers' arguments; no handler is called here. */
    static authd a = {.smf_prefix = "smf_"};
    if (d == QUERYD) {
        queryd_api_routes(&served_q, s);
    } else {
        verify_routes(&a, s);
        forum_routes(&a, s);
        tournament_routes(&a, s);
    }
    memset(l, 0, sizeof *l);
    http_server_routes_each(s, collect, l);
    idle_server_close(&x);
}

static void route_list_free(route_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->methods[i]);
    }
}

static int load_doc(void **state)
{
    (void)state;
    const char *path = MOHSTATS_SOURCE_DIR "/docs/openapi.json";
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    size_t got = text ? fread(text, 1, (size_t)len, f) : 0;
    fclose(f);
    if (!text || got != (size_t)len) {
        free(text);
        return -1;
    }
    text[len] = '\0';
    doc = cJSON_Parse(text);
    free(text);
    if (!doc) {
        fprintf(stderr, "%s is not JSON\n", path);
        return -1;
    }
    served_routes(QUERYD, &served_by[QUERYD]);
    served_routes(AUTHD, &served_by[AUTHD]);
    return 0;
}

static int free_doc(void **state)
{
    (void)state;
    cJSON_Delete(doc);
    route_list_free(&served_by[QUERYD]);
    route_list_free(&served_by[AUTHD]);
    return 0;
}

/* Whether the document's path item is one of daemon d's. */
static bool is_of(const cJSON *item, daemon_kind d)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(item, "x-mohstats-daemon"));
    return name && strcmp(name, daemon_names[d]) == 0;
}

/* How many of daemon d's routes the document lacks (each said on stderr); *served gets how many it serves. */
static int undocumented(daemon_kind d, size_t *served)
{
    const route_list l = served_by[d];
    *served = l.n;
    const cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    int missing = 0;
    for (size_t i = 0; i < l.n; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, l.paths[i]);
        if (!item || !is_of(item, d) || !cJSON_GetObjectItem(item, l.methods[i])) {
            fprintf(stderr,
                    "%s serves %s /api/v1%s, which docs/openapi.json does not describe (as a path with "
                    "\"x-mohstats-daemon\": \"%s\" and a %s operation)\n",
                    daemon_names[d], l.methods[i], l.paths[i], daemon_names[d], l.methods[i]);
            missing++;
        }
    }
    return missing;
}

/* How many of the operations the document gives daemon d it does not serve (each said on stderr); *documented gets
 * how many it gives. */
static int unserved(daemon_kind d, int *documented)
{
    const route_list l = served_by[d];
    const cJSON *item;
    int extra = 0;
    *documented = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "paths"))
    {
        if (!is_of(item, d))
            continue;
        const cJSON *op;
        cJSON_ArrayForEach(op, item)
        {
            if (!cJSON_IsObject(op))
                continue; /* "x-mohstats-daemon" */
            (*documented)++;
            bool served = false;
            for (size_t i = 0; i < l.n && !served; i++)
                served = strcmp(l.paths[i], item->string) == 0 && strcmp(l.methods[i], op->string) == 0;
            if (!served) {
                fprintf(stderr, "docs/openapi.json describes %s %s, which %s does not serve\n", op->string,
                        item->string, daemon_names[d]);
                extra++;
            }
        }
    }
    return extra;
}

static void test_every_served_route_is_documented(void **state)
{
    (void)state;
    size_t nq, na;
    int missing = undocumented(QUERYD, &nq) + undocumented(AUTHD, &na);
    assert_true(nq > 50 && na > 10);
    assert_int_equal(missing, 0);
}

static void test_every_documented_route_is_served(void **state)
{
    (void)state;
    int nq, na;
    int extra = unserved(QUERYD, &nq) + unserved(AUTHD, &na);
    assert_true(nq > 50 && na > 10);
    assert_int_equal(extra, 0);
}

/* The parameter of op named name and in "path" or "query", or NULL. */
static const cJSON *param_of(const cJSON *op, const char *name, const char *in)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(op, "parameters"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")), name) == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "in")), in) == 0)
            return p;
    }
    return NULL;
}

static void test_operations_declare_parameters_and_answers(void **state)
{
    (void)state;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "paths"))
    {
        const cJSON *op;
        cJSON_ArrayForEach(op, item)
        {
            if (!cJSON_IsObject(op))
                continue; /* "x-mohstats-daemon" */
            /* Every {name} of the path is a declared path parameter. */
            for (const char *p = strchr(item->string, '{'); p; p = strchr(p + 1, '{')) {
                char name[64];
                const char *end = strchr(p, '}');
                assert_non_null(end);
                snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
                if (!param_of(op, name, "path"))
                    fail_msg("%s %s: path parameter %s is not declared", op->string, item->string, name);
            }
            assert_non_null(cJSON_GetObjectItem(op, "summary"));
            const cJSON *responses = cJSON_GetObjectItem(op, "responses");
            const cJSON *ok = cJSON_GetObjectItem(responses, "200");
            if (!ok)
                ok = cJSON_GetObjectItem(responses, "202");
            const cJSON *schema = cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(ok, "content"), "application/json"), "schema");
            if (!schema)
                fail_msg("%s %s: no JSON schema for its answer", op->string, item->string);
        }
    }
}

/* The enum of a query parameter of GET path. */
static const cJSON *query_enum(const char *path, const char *name)
{
    const cJSON *get =
        cJSON_GetObjectItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(doc, "paths"), path), "get");
    const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(param_of(get, name, "query"), "schema"), "enum");
    assert_non_null(e);
    return e;
}

static void test_leaderboard_lists_are_queryds(void **state)
{
    (void)state;
    const cJSON *stats = query_enum("/stats/leaderboard/global", "stat"), *v;
    /* Every name documented is accepted (aliases such as kd and kdr too), and every stat is documented; rating is
     * not a stat of the board but ranks by the skill ratings (queryd/ratings_leaderboard.c), and is documented too. */
    bool rating = false;
    cJSON_ArrayForEach(v, stats)
    {
        if (strcmp(cJSON_GetStringValue(v), RATING_STAT) == 0)
            rating = true;
        else if (!lb_stat_find(cJSON_GetStringValue(v)))
            fail_msg("stat %s is documented but not a stat of queryd's (queryd/stats.c)", cJSON_GetStringValue(v));
    }
    assert_true(rating);
    assert_null(lb_stat_find(RATING_STAT)); /* else leaderboard.c would never reach the ratings */
    for (size_t i = 0; i < lb_stats_count; i++) {
        bool found = false;
        cJSON_ArrayForEach(v, stats) found |= strcmp(cJSON_GetStringValue(v), lb_stats[i].name) == 0;
        if (!found)
            fail_msg("stat %s of queryd/stats.c is not in the document's list", lb_stats[i].name);
    }
    const cJSON *periods = query_enum("/stats/leaderboard/global", "period");
    size_t kinds = 0;
    cJSON_ArrayForEach(v, periods)
    {
        period p;
        if (period_parse(cJSON_GetStringValue(v), &p) != 0)
            fail_msg("period %s is documented but refused by queryd", cJSON_GetStringValue(v));
        kinds |= (size_t)1 << p;
    }
    assert_int_equal(kinds, 0x1f); /* all, day, week, month, year: each reachable */
}

/* Whether name is one of the values of the enum of parameter p's schema. */
static bool enum_has(const cJSON *p, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "schema"), "enum"))
    {
        if (strcmp(cJSON_GetStringValue(v), name) == 0)
            return true;
    }
    return false;
}

/* A parameter of endpoint e is read from its path when e's path names it. */
static const char *param_in(const endpoint *e, const char *name)
{
    char brace[80];
    snprintf(brace, sizeof brace, "{%s}", name);
    return strstr(e->path, brace) ? "path" : "query";
}

/* A path where another endpoint answers for one value of a parameter (endpoint.instead: stat=rating, the rating
 * leaderboards) is documented with that value, the other's parameters and both answers (a oneOf). */
static void test_instead_answers_are_documented(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; i < served_q.nroutes; i++) {
        const endpoint *e = served_q.routes[i].ep, *alt = e->instead.ep;
        if (!alt)
            continue;
        checked++;
        const cJSON *get =
            cJSON_GetObjectItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(doc, "paths"), e->path), "get");
        const cJSON *sw = param_of(get, e->instead.param, param_in(e, e->instead.param));
        if (!sw || !enum_has(sw, e->instead.value))
            fail_msg("%s: %s=%s (another answer) is not documented", e->path, e->instead.param, e->instead.value);
        for (const endpoint_param *p = alt->params; p < alt->params + ENDPOINT_PARAMS && p->kind != PARAM_END; p++) {
            static const char *const pages[] = {"limit", "offset", "page"};
            if (p->kind == PARAM_SETTING)
                continue; /* not of the request */
            bool pg = p->kind == PARAM_PAGING;
            for (size_t k = 0; k < (pg ? 3 : 1); k++) {
                const char *name = pg ? pages[k] : p->name;
                if (!param_of(get, name, param_in(alt, name)))
                    fail_msg("%s: parameter %s of its %s=%s answer is not documented", e->path, name, e->instead.param,
                             e->instead.value);
            }
        }
        const cJSON *schema = cJSON_GetObjectItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(get, "responses"), "200"), "content"),
                "application/json"),
            "schema");
        if (!cJSON_GetObjectItem(schema, "oneOf"))
            fail_msg("%s: its two answers are not documented (a oneOf)", e->path);
    }
    assert_true(checked >= 4); /* the leaderboard's three paths and the game type's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_served_route_is_documented),
        cmocka_unit_test(test_every_documented_route_is_served),
        cmocka_unit_test(test_operations_declare_parameters_and_answers),
        cmocka_unit_test(test_leaderboard_lists_are_queryds),
        cmocka_unit_test(test_instead_answers_are_documented),
    };
    return cmocka_run_group_tests(tests, load_doc, free_doc);
}
