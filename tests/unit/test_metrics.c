/* Unit tests: the Prometheus registry renders counters, labelled series, gauges and histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static double sample(void *arg)
{
    return *(double *)arg;
}

static void test_render(void **state)
{
    metric *a = metrics_counter("events_total", "Events accepted", NULL);
    metric *r1 = metrics_counter("rejected_total", "Rejected requests", "reason=\"bad_json\"");
    metric *r2 = metrics_counter("rejected_total", "Rejected requests", "reason=\"too_large\"");
    assert_ptr_equal(metrics_counter("rejected_total", "x", "reason=\"bad_json\""), r1);
    metric_add(a, 3);
    metric_inc(r1);
    metric_inc(r2);
    metric_inc(r2);
    double v = 2.5;
    metrics_gauge_fn("lag", "Consumer lag", NULL, sample, &v);
    const double b[] = {0.1, 1};
    metric *h = metrics_histogram("latency_seconds", "Latency", "op=\"insert\"", b, 2);
    metric_observe(h, 0.05);
    metric_observe(h, 0.5);
    metric_observe(h, 5);
    size_t len;
    char *text = metrics_render(&len);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "# TYPE events_total counter\nevents_total 3\n"));
    /* Both labelled series under one HELP/TYPE header. */
    assert_non_null(strstr(text, "# TYPE rejected_total counter\nrejected_total{reason=\"bad_json\"} 1\n"
                                 "rejected_total{reason=\"too_large\"} 2\n"));
    assert_non_null(strstr(text, "lag 2.5\n"));
    assert_non_null(strstr(text, "latency_seconds_bucket{op=\"insert\",le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "latency_seconds_bucket{op=\"insert\",le=\"1\"} 2\n"));
    assert_non_null(strstr(text, "latency_seconds_bucket{op=\"insert\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "latency_seconds_count{op=\"insert\"} 3\n"));
    free(text);
    metrics_reset();
    text = metrics_render(&len);
    assert_int_equal(len, 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
