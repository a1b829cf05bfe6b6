/* Retention: raw_events keeps every event byte for byte and grows without bound; the aggregates queryd reads are
 * small. Dropping a month partition of raw_events (ALTER TABLE ... DROP PARTITION: on 18.16 there is no TTL)
 * frees its disk at once and leaves every aggregate table as it is: views only ever add to their tables.
 *
 * What is lost: the rebuild of anything from those months (rebuild.c refuses it, reading the drops recorded here
 * in admin_actions), and the lookups queryd makes in raw_events by a key (a match's event log, a player's chat),
 * which find nothing for dropped months. */
#include "retention.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int retention_run(const admin_ctx *a, int keep_months)
{
    char *parts = NULL;
    int rc = admin_ch(a,
                      "SELECT partition, sum(rows) FROM system.parts\n"
                      "WHERE database = currentDatabase() AND table = 'raw_events' AND active\n"
                      "GROUP BY partition ORDER BY partition FORMAT TSV",
                      &parts);
    long long cut = 0;
    char cut_sql[160];
    snprintf(cut_sql, sizeof cut_sql, "SELECT toYYYYMM(subtractMonths(today(), %d)) FORMAT TSV", keep_months);
    rc = rc ? rc : admin_ch_count(a, &cut, "%s", cut_sql);
    if (rc) {
        free(parts);
        return rc;
    }
    /* The partitions to drop, and a line for the operator. */
    int drop[512];
    size_t n = 0;
    long long rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(parts, "\n", &save); line && n < sizeof drop / sizeof drop[0];
         line = strtok_r(NULL, "\n", &save)) {
        int month = atoi(line);
        const char *tab = strchr(line, '\t');
        if (month > 0 && month < cut) {
            drop[n++] = month;
            rows += tab ? atoll(tab + 1) : 0;
        }
    }
    free(parts);
    if (n == 0) {
        log_info("raw_events holds nothing before %lld: nothing to drop", cut);
        return 0;
    }
    char question[256];
    snprintf(question, sizeof question,
             "Drop %zu month(s) of raw_events (%d to %d, %lld events) for good? The aggregates stay.", n, drop[0],
             drop[n - 1], rows);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        return -ECANCELED;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        char month[16];
        snprintf(month, sizeof month, "%d", drop[i]);
        /* Recorded first: a drop that happened must be known to rebuild, even if the tool dies right after. */
        rc = admin_record(a, "retention-drop", month);
        rc = rc ? rc : admin_chf(a, "ALTER TABLE raw_events DROP PARTITION %d", drop[i]);
    }
    return rc;
}
