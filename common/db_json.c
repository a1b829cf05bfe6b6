/* Database rows as JSON. */
#include "db_json.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Whether name appears in the comma-separated list. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

cJSON *db_cell_json(const char *v, const char *col, const char *numeric, const char *boolean)
{
    if (!v)
        return cJSON_CreateNull();
    if (in_list(numeric, col))
        return cJSON_CreateNumber(strtod(v, NULL));
    if (in_list(boolean, col))
        return cJSON_CreateBool(v[0] == 't' || v[0] == '1');
    return cJSON_CreateString(v);
}

cJSON *pg_result_json(const PGresult *res, const char *numeric, const char *boolean)
{
    cJSON *rows = cJSON_CreateArray();
    int nf = PQnfields(res);
    for (int r = 0; r < PQntuples(res); r++) {
        cJSON *o = cJSON_CreateObject();
        for (int k = 0; k < nf; k++) {
            const char *v = PQgetisnull(res, r, k) ? NULL : PQgetvalue(res, r, k);
            cJSON_AddItemToObject(o, PQfname(res, k), db_cell_json(v, PQfname(res, k), numeric, boolean));
        }
        cJSON_AddItemToArray(rows, o);
    }
    return rows;
}

cJSON *mdb_result_json(const mdb_result *res, const char *numeric, const char *boolean)
{
    cJSON *rows = cJSON_CreateArray();
    for (unsigned long long r = 0; r < res->nrows; r++) {
        cJSON *o = cJSON_CreateObject();
        for (unsigned k = 0; k < res->ncols; k++)
            cJSON_AddItemToObject(o, res->colnames[k],
                                  db_cell_json(mdb_cell(res, r, k), res->colnames[k], numeric, boolean));
        cJSON_AddItemToArray(rows, o);
    }
    return rows;
}
