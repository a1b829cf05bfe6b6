/* SQL templates: {name} placeholders filled with escaped, typed values. */
#include "sqlt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "log.h"

/* The value named (name, len), or NULL. */
static const sqlv *find_value(const sqlv *vals, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(vals[i].name) == len && memcmp(vals[i].name, name, len) == 0)
            return &vals[i];
    return NULL;
}

/* Append one value in its SQL form. */
static int append_value(bytebuf *b, const sqlv *v)
{
    switch (v->kind) {
    case SQLV_STR:
        return ch_append_quoted(b, v->s ? v->s : "", v->s ? strlen(v->s) : 0);
    case SQLV_INT:
        return bytebuf_appendf(b, "%lld", v->i);
    case SQLV_FLOAT:
        /* nan and inf have no literal that both 18.16 and current releases read the same way. */
        return bytebuf_appendf(b, "%.17g", isfinite(v->f) ? v->f : 0.0);
    case SQLV_LIST: {
        if (v->n == 0)
            return bytebuf_append(b, "('')", 4);
        int rc = bytebuf_append(b, "(", 1);
        for (size_t i = 0; i < v->n && !rc; i++) {
            if (i)
                rc = bytebuf_append(b, ", ", 2);
            if (!rc)
                rc = ch_append_quoted(b, v->list[i], strlen(v->list[i]));
        }
        return rc ? rc : bytebuf_append(b, ")", 1);
    }
    case SQLV_RAW:
        return bytebuf_append(b, v->s, strlen(v->s));
    }
    return -1;
}

char *sqlt_render(const char *tmpl, const sqlv *vals, size_t n)
{
    bytebuf b = {0};
    const char *p = tmpl;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            if (bytebuf_append(&b, p, strlen(p)))
                goto fail;
            break;
        }
        const char *close = open + 1;
        while ((*close >= 'a' && *close <= 'z') || (*close >= '0' && *close <= '9') || *close == '_')
            close++;
        if (*close != '}' || close == open + 1) {
            /* Not a placeholder: a literal brace. */
            if (bytebuf_append(&b, p, (size_t)(open - p) + 1))
                goto fail;
            p = open + 1;
            continue;
        }
        if (bytebuf_append(&b, p, (size_t)(open - p)))
            goto fail;
        const sqlv *v = find_value(vals, n, open + 1, (size_t)(close - open - 1));
        if (!v) {
            log_error("sql template: no value for {%.*s}", (int)(close - open - 1), open + 1);
            goto fail;
        }
        if (append_value(&b, v))
            goto fail;
        p = close + 1;
    }
    if (!b.data && bytebuf_append(&b, "", 0))
        goto fail;
    return b.data;
fail:
    bytebuf_free(&b);
    return NULL;
}
