/* `mohstats-admin rebuild`: recompute aggregate tables from raw_events while ingest runs (rebuild.c says why it
 * is exact). */
#ifndef MOHSTATS_ADMIN_REBUILD_H
#define MOHSTATS_ADMIN_REBUILD_H

#include "admin.h"

/* Rebuild the table of view (NULL: every view on raw_events) for month (YYYYMM; 0: every month raw_events holds,
 * and the tables not partitioned by month, which only all time can rebuild). Returns 0 or a negative error. */
int rebuild_run(const admin_ctx *a, const char *view, int month);

#endif
