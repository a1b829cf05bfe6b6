/* achievd's /metrics, copied from the pipeline's counters once a second. */
#ifndef MOHSTATS_ACHIEVD_REPORT_H
#define MOHSTATS_ACHIEVD_REPORT_H

#include <uv.h>

#include "achievd.h"

typedef struct report report;
report *report_new(uv_loop_t *loop, pipeline *p);
/* Stops the timer; the report is freed once the loop closed it. */
void report_free(report *r);

#endif
