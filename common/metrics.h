/* Prometheus text-format metrics: a process-wide registry of counters, gauges and histograms. */
#ifndef MOHSTATS_METRICS_H
#define MOHSTATS_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metric metric;

/* Each call registers one time series. labels is NULL or a Prometheus label list without braces,
 * e.g. "reason=\"bad_json\"". Series with the same name share HELP/TYPE lines. Names are copied.
 * Registering the same name+labels twice returns the existing series. */
metric *metrics_counter(const char *name, const char *help, const char *labels);
metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* buckets: ascending upper bounds, nbuckets of them (+Inf is implicit). */
metric *metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                          size_t nbuckets);

void metric_inc(metric *m);
void metric_add(metric *m, double v);
void metric_set(metric *m, double v);
void metric_observe(metric *m, double v);
double metric_value(const metric *m);

/* Gauges whose value is computed when scraped. */
typedef double (*metric_sample_fn)(void *arg);
metric *metrics_gauge_fn(const char *name, const char *help, const char *labels, metric_sample_fn fn, void *arg);

/* Render every series; returns a malloc'd NUL-terminated buffer, length in *len. */
char *metrics_render(size_t *len);
/* Drop every series (tests and shutdown). */
void metrics_reset(void);

/* Default latency buckets in seconds. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

#endif
