/* Database rows as JSON, for answers that pass rows through: each row an object keyed by column name. Cells
 * are strings, except in the columns named in `numeric` (numbers) and `boolean` (true for 't' or '1'), both
 * comma-separated lists that may be NULL; SQL NULL is null. */
#ifndef MOHSTATS_DB_JSON_H
#define MOHSTATS_DB_JSON_H

#include <libpq-fe.h>

#include "mariadb.h"

typedef struct cJSON cJSON;

cJSON *db_cell_json(const char *v, const char *col, const char *numeric, const char *boolean);
/* A JSON array of the result's rows. */
cJSON *pg_result_json(const PGresult *res, const char *numeric, const char *boolean);
cJSON *mdb_result_json(const mdb_result *res, const char *numeric, const char *boolean);

#endif
