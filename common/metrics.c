/* Prometheus text-format metrics registry. Single-threaded by design: every update happens on the
 * daemon's loop thread (thread-pool work reports back there), so no atomics are needed. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } metric_kind;

struct metric {
    metric_kind kind;
    char *name, *help, *labels;
    double value;
    metric_sample_fn fn;
    void *fn_arg;
    double *bounds; /* histogram */
    unsigned long long *counts;
    size_t nbounds;
    double sum;
    unsigned long long count;
    metric *next;
};

static metric *head, *tail;

const double metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t metrics_latency_nbuckets = sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0];

/* Find an existing series or register a new one. */
static metric *metrics_register(metric_kind kind, const char *name, const char *help, const char *labels)
{
    const char *lab = labels ? labels : "";
    for (metric *m = head; m; m = m->next)
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, lab) == 0)
            return m;
    metric *m = calloc(1, sizeof *m);
    if (!m)
        abort(); /* registration happens at start-up; without memory there is nothing to run */
    m->kind = kind;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    m->labels = strdup(lab);
    if (!m->name || !m->help || !m->labels)
        abort();
    /* Keep series of one name together so HELP/TYPE are printed once. */
    metric *after = NULL;
    for (metric *p = head; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            after = p;
    if (after) {
        m->next = after->next;
        after->next = m;
        if (tail == after)
            tail = m;
    } else if (tail) {
        tail->next = m;
        tail = m;
    } else {
        head = tail = m;
    }
    return m;
}

metric *metrics_counter(const char *name, const char *help, const char *labels)
{
    return metrics_register(M_COUNTER, name, help, labels);
}

metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return metrics_register(M_GAUGE, name, help, labels);
}

metric *metrics_gauge_fn(const char *name, const char *help, const char *labels, metric_sample_fn fn, void *arg)
{
    metric *m = metrics_register(M_GAUGE, name, help, labels);
    m->fn = fn;
    m->fn_arg = arg;
    return m;
}

metric *metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                          size_t nbuckets)
{
    metric *m = metrics_register(M_HISTOGRAM, name, help, labels);
    if (!m->bounds) {
        m->bounds = malloc(nbuckets * sizeof *m->bounds);
        m->counts = calloc(nbuckets + 1, sizeof *m->counts);
        if (!m->bounds || !m->counts)
            abort();
        memcpy(m->bounds, buckets, nbuckets * sizeof *buckets);
        m->nbounds = nbuckets;
    }
    return m;
}

void metric_inc(metric *m)
{
    m->value += 1;
}

void metric_add(metric *m, double v)
{
    m->value += v;
}

void metric_set(metric *m, double v)
{
    m->value = v;
}

void metric_observe(metric *m, double v)
{
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i])
        i++;
    m->counts[i]++;
    m->sum += v;
    m->count++;
}

double metric_value(const metric *m)
{
    return m->fn ? m->fn(m->fn_arg) : m->value;
}

typedef struct {
    char *data;
    size_t len, cap;
} out_buf;

/* printf into the growing output buffer. */
static void out_printf(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(out_buf *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->data + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t ncap = o->cap * 2 + (n > 0 ? (size_t)n : 0);
        char *p = realloc(o->data, ncap);
        if (!p)
            abort();
        o->data = p;
        o->cap = ncap;
    }
}

/* A sample value in Prometheus syntax. */
static void out_value(out_buf *o, double v)
{
    if (isnan(v))
        out_printf(o, "NaN\n");
    else if (isinf(v))
        out_printf(o, v > 0 ? "+Inf\n" : "-Inf\n");
    else if (v == (double)(long long)v && fabs(v) < 1e15)
        out_printf(o, "%lld\n", (long long)v);
    else
        out_printf(o, "%.9g\n", v);
}

char *metrics_render(size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    out_buf o = {malloc(4096), 0, 4096};
    if (!o.data)
        abort();
    o.data[0] = '\0';
    const char *last = "";
    for (metric *m = head; m; m = m->next) {
        if (strcmp(last, m->name) != 0) {
            out_printf(&o, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, type_names[m->kind]);
            last = m->name;
        }
        const char *sep = m->labels[0] ? "," : "";
        if (m->kind != M_HISTOGRAM) {
            if (m->labels[0])
                out_printf(&o, "%s{%s} ", m->name, m->labels);
            else
                out_printf(&o, "%s ", m->name);
            out_value(&o, metric_value(m));
            continue;
        }
        unsigned long long cum = 0;
        for (size_t i = 0; i <= m->nbounds; i++) {
            cum += m->counts[i];
            if (i < m->nbounds)
                out_printf(&o, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, m->labels, sep, m->bounds[i], cum);
            else
                out_printf(&o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, m->labels, sep, cum);
        }
        out_printf(&o, m->labels[0] ? "%s_sum{%s} " : "%s_sum%s ", m->name, m->labels);
        out_value(&o, m->sum);
        out_printf(&o, m->labels[0] ? "%s_count{%s} %llu\n" : "%s_count%s %llu\n", m->name, m->labels, m->count);
    }
    *len = o.len;
    return o.data;
}

void metrics_reset(void)
{
    metric *m = head;
    while (m) {
        metric *next = m->next;
        free(m->name);
        free(m->help);
        free(m->labels);
        free(m->bounds);
        free(m->counts);
        free(m);
        m = next;
    }
    head = tail = NULL;
}
