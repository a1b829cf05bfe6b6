/* `mohstats-admin retention`: drop the raw_events months older than RAW_RETENTION_MONTHS, keeping the
 * aggregates. */
#ifndef MOHSTATS_ADMIN_RETENTION_H
#define MOHSTATS_ADMIN_RETENTION_H

#include "admin.h"

/* Drop the raw_events partitions before the current month minus keep_months (keep_months >= 1). Returns 0 or a
 * negative error. */
int retention_run(const admin_ctx *a, int keep_months);

#endif
