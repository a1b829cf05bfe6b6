/* ClickHouse's part of `mohstats-admin backup` and `restore` (backup_clickhouse.c): a snapshot of every table that
 * no insert straddles, its dump in ClickHouse's Native format, and the load onto a fresh stack. */
#ifndef MOHSTATS_ADMIN_BACKUP_CLICKHOUSE_H
#define MOHSTATS_ADMIN_BACKUP_CLICKHOUSE_H

#include <stdbool.h>
#include <stdio.h>

#include "admin.h"

/* The tables a backup holds: every *MergeTree table of the database but schema_migrations (the migrations write
 * it) and the scratch tables of rebuild and backup. */
typedef struct {
    char **names;
    size_t n;
} bk_tables;

/* The tables of the database now, into t (bk_tables_free). 0 or a negative error. */
int bk_tables_list(const admin_ctx *a, bk_tables *t);
void bk_tables_free(bk_tables *t);

/* Make the (empty) snapshot tables admin_backup_<table>, dropping any a killed backup left. */
int bk_ch_snapshot_tables(const admin_ctx *a, const bk_tables *t);
/* One round of the snapshot: each table's parts hard-linked into admin_backup_<table>, in the gap after an insert.
 * at_start(arg) runs just before the round's first look at ClickHouse (the caller reads the stream position there).
 * *clean is true when no insert and no mutation ran from that look to after the last copy, so that each batch of
 * the writers is in every table of the snapshot or in none. 0 or a negative error. */
int bk_ch_snapshot_round(const admin_ctx *a, const bk_tables *t, int (*at_start)(void *), void *arg, bool *clean);
/* Write each snapshot table to DIR/clickhouse/<table>.native and a line "table<TAB>rows" to counts, and the applied
 * migrations to DIR/clickhouse/schema_migrations.tsv. 0 or a negative error. */
int bk_ch_dump(const admin_ctx *a, const bk_tables *t, const char *dir, FILE *counts);
/* Drop the snapshot tables (also those a killed backup left). */
int bk_ch_snapshot_drop(const admin_ctx *a);

/* Whether DIR/clickhouse can be loaded here, changing nothing: its files are there, this database's migrations are
 * the backup's, and raw_events is empty (a fresh stack). 0 or a negative error (logged). */
int bk_ch_restore_check(const admin_ctx *a, const char *dir);
/* Load DIR/clickhouse onto this database (bk_ch_restore_check first). The materialized views are detached meanwhile
 * (their tables come from the backup), then attached again; each table's rows are counted against the backup's.
 * 0 or a negative error. */
int bk_ch_restore(const admin_ctx *a, const char *dir);

#endif
