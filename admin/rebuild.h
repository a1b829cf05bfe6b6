/* `mohstats-admin rebuild`: recompute aggregate tables from raw_events while ingest runs (rebuild.c says why it
 * is exact). */
#ifndef MOHSTATS_ADMIN_REBUILD_H
#define MOHSTATS_ADMIN_REBUILD_H

#include <stdbool.h>

#include "admin.h"

/* Rebuild the table of view (NULL: every view on raw_events) for month (YYYYMM; 0: every month raw_events holds,
 * and the tables not partitioned by month, which only all time can rebuild). Returns 0 or a negative error. */
int rebuild_run(const admin_ctx *a, const char *view, int month);
/* Rebuild what an action that rewrote raw_events (erase, merge) changed: the months given (YYYYMM, one a line) of
 * the tables partitioned by month, the others whole; guidless_only: only the tables without a guid column. A table
 * that cannot be rebuilt is said (logged) and skipped; a refusal by retention is not an error, any other failure
 * is (the first one is returned, once every table was tried). 0 or a negative error. */
int rebuild_months(const admin_ctx *a, const char *months, bool guidless_only);

#endif
