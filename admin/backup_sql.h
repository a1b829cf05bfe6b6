/* PostgreSQL and the forum's MariaDB in `mohstats-admin backup` and `restore` (backup_sql.c), with their own dump
 * tools (pg_dump, pg_restore, mariadb-dump, mariadb), which give one transaction's view of each database. */
#ifndef MOHSTATS_ADMIN_BACKUP_SQL_H
#define MOHSTATS_ADMIN_BACKUP_SQL_H

#include "admin.h"

/* pg_dump of POSTGRES_URL's database into DIR/postgres.dump (custom format). 0 or a negative error. */
int bk_pg_dump(const admin_ctx *a, const char *dir);
/* pg_restore of DIR/postgres.dump onto POSTGRES_URL's database, replacing what the migrations made, in one
 * transaction. 0 or a negative error. */
int bk_pg_restore(const admin_ctx *a, const char *dir);

/* mariadb-dump of the tables mohstats writes in the forum's database (identities, achievements and their progress,
 * the catalogue, tournament results, our migrations) into DIR/mariadb.sql. 0 or a negative error. */
int bk_mdb_dump(const admin_ctx *a, const char *dir);
/* Whether DIR/postgres.dump can be restored, changing nothing: pg_restore reads the whole archive, and PostgreSQL
 * answers. 0 or a negative error (logged). */
int bk_pg_restore_check(const admin_ctx *a, const char *dir);
/* Whether DIR/mariadb.sql can be replayed, changing nothing: the file is mariadb-dump's, and MariaDB answers. */
int bk_mdb_restore_check(const admin_ctx *a, const char *dir);
/* Replay DIR/mariadb.sql: those tables are dropped and made again with the backup's rows. */
int bk_mdb_restore(const admin_ctx *a, const char *dir);

#endif
