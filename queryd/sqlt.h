/* SQL templates: readable SQL text with {name} placeholders, filled with typed values. Strings are always
 * quoted and escaped for ClickHouse, integers printed, lists become ('a', 'b'); a raw fragment may only come
 * from the code (a column expression from a table of stats), never from a request. */
#ifndef MOHSTATS_SQLT_H
#define MOHSTATS_SQLT_H

#include <stddef.h>

typedef enum { SQLV_STR, SQLV_INT, SQLV_FLOAT, SQLV_LIST, SQLV_RAW } sqlv_kind;

typedef struct {
    const char *name;
    sqlv_kind kind;
    const char *s;           /* SQLV_STR, SQLV_RAW */
    long long i;             /* SQLV_INT */
    double f;                /* SQLV_FLOAT */
    const char *const *list; /* SQLV_LIST: strings */
    size_t n;                /* SQLV_LIST: how many */
} sqlv;

#define SQL_STR(nm, v) ((sqlv){.name = (nm), .kind = SQLV_STR, .s = (v)})
#define SQL_INT(nm, v) ((sqlv){.name = (nm), .kind = SQLV_INT, .i = (long long)(v)})
#define SQL_FLOAT(nm, v) ((sqlv){.name = (nm), .kind = SQLV_FLOAT, .f = (double)(v)})
#define SQL_LIST(nm, l, cnt) ((sqlv){.name = (nm), .kind = SQLV_LIST, .list = (l), .n = (cnt)})
#define SQL_RAW(nm, v) ((sqlv){.name = (nm), .kind = SQLV_RAW, .s = (v)})

/* Render tmpl: each {name} is replaced by the value of that name. Returns a malloc'd string, or NULL when a
 * placeholder has no value (a bug: logged) or memory ran out. An empty SQLV_LIST renders as ('') so that
 * `x IN {list}` stays valid SQL and matches nothing real. */
char *sqlt_render(const char *tmpl, const sqlv *vals, size_t n);

#endif
