/* What every API area file uses: its route table, the common answers, helpers over result rows. */
#ifndef MOHSTATS_AREA_H
#define MOHSTATS_AREA_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "cache.h"
#include "http_server.h"
#include "job.h"
#include "params.h"
#include "queryd.h"
#include "sqlt.h"
#include "stats.h"

typedef struct {
    const char *path; /* under /api/v1 */
    http_handler_fn fn;
} route;

/* Register GET routes (each also answers HEAD-less clients the same way). */
void routes_add(http_server *s, queryd *q, const route *r, size_t n);

/* A SQL condition "col IN ('a', 'b')" (values escaped), malloc'd; "0" when n = 0. */
char *sql_in(const char *col, const char *const *vals, size_t n);

/* The string values of key in rows (pointers into rows), at most max; returns how many. */
size_t rows_strings(const cJSON *rows, const char *key, const char **out, size_t max);
/* The first row whose key equals val, or NULL. */
const cJSON *rows_find(const cJSON *rows, const char *key, const char *val);

/* A MariaDB statement for the forum's tables: every "{p}" in tmpl becomes SMF_DB_PREFIX (checked to be a plain
 * identifier at start-up). malloc'd. */
char *smf_sql(const queryd *q, const char *tmpl);

/* 400 {"error": ...} for a malformed parameter, naming it. */
void respond_bad_param(http_request *req, const char *name, const char *why);

/* Every area's parameters are plain structs; most need only free(). */
#define ARGS_NEW(type) ((type *)calloc(1, sizeof(type)))

#endif
