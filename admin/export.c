/* `mohstats-admin export`: every row of a player's, as JSON lines (the answer to an access request). Each line is
 * one row, an object with "_source" (the store and table; no column of ours begins with "_") first and the row's
 * columns after, as stored: the events they took part in (raw_events, where they are the actor or the target; the
 * other party's GUID and name are in it as everywhere in the public stats, the other party's country is not:
 * raw_columns), their rating changes, and the rows erase would delete elsewhere (player.c's lists: links, login
 * codes, trusted addresses, achievements). The aggregate tables are not exported: they are sums of the events, which
 * are. */
#include "export.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "db_json.h"
#include "log.h"

/* Print the rows of a ClickHouse table that satisfy cond (from: the table, with FINAL where it needs it; columns:
 * what to select); their count added to *rows. */
static int ch_export(const admin_ctx *a, FILE *out, const char *table, const char *columns, const char *from,
                     const char *cond, const char *order, long *rows)
{
    char *sql = NULL, *body = NULL;
    if (asprintf(&sql, "SELECT 'clickhouse.%s' AS _source, %s FROM %s WHERE %s ORDER BY %s FORMAT JSONEachRow", table,
                 columns, from, cond, order) < 0)
        return -ENOMEM;
    int rc = admin_ch(a, sql, &body);
    free(sql);
    for (const char *p = rc ? NULL : body; p && *p; p++)
        *rows += *p == '\n';
    if (!rc && body)
        fputs(body, out);
    free(body);
    return rc;
}

/* raw_events' columns in their order (those of `*`: not the materialized ones), but the actor's country only where the
 * actor is the player (t's list): in an event where they are the target, the country is the other party's, learnt from
 * the other party's address, and not the requester's data. malloc'd, or NULL (logged). */
static char *raw_columns(const admin_ctx *a, const char *list)
{
    char *names = NULL;
    if (admin_ch(a,
                 "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'raw_events'\n"
                 "  AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') FORMAT TSVRaw",
                 &names) ||
        !names) {
        free(names);
        return NULL;
    }
    /* system.columns lists a table's columns in their order (18.16 has no `position` column to sort on). */
    bytebuf b = {0};
    int rc = 0;
    char *save = NULL;
    for (char *col = strtok_r(names, "\n", &save); col && !rc; col = strtok_r(NULL, "\n", &save)) {
        rc = b.len ? bytebuf_appendf(&b, ", ") : 0;
        if (!rc && !strcmp(col, "actor_country"))
            rc = bytebuf_appendf(&b, "if(actor_guid IN (%s), actor_country, '') AS actor_country", list);
        else if (!rc)
            rc = bytebuf_appendf(&b, "%s", col); /* names of our schema: letters, digits and '_' */
    }
    free(names);
    if (rc) {
        bytebuf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Print each row of a JSON array as a line, "_source" first. */
static int print_rows(FILE *out, const char *source, cJSON *rows)
{
    int n = 0;
    for (cJSON *row = rows ? rows->child : NULL; row; row = row->next) {
        cJSON *line = cJSON_CreateObject();
        if (!line || !cJSON_AddStringToObject(line, "_source", source))
            return cJSON_Delete(line), -ENOMEM;
        while (row->child) {
            cJSON *col = cJSON_DetachItemViaPointer(row, row->child);
            cJSON_AddItemToObject(line, col->string, col);
        }
        char *text = cJSON_PrintUnformatted(line);
        cJSON_Delete(line);
        if (!text)
            return -ENOMEM;
        fprintf(out, "%s\n", text);
        free(text);
        n++;
    }
    return n;
}

int export_run(const admin_ctx *a, const player_target *t, FILE *out)
{
    long rows = 0;
    int rc = 0;
    char *raw_cond = NULL, *rating_cond = NULL;
    if (asprintf(&raw_cond, "actor_guid IN (%s) OR target_guid IN (%s)", t->ch_list, t->ch_list) < 0 ||
        asprintf(&rating_cond, "guid IN (%s)", t->ch_list) < 0) {
        free(raw_cond);
        return -ENOMEM;
    }
    char *raw_cols = raw_columns(a, t->ch_list);
    rc = raw_cols ? ch_export(a, out, "raw_events", raw_cols, "raw_events", raw_cond,
                              "received_at, received_ms, event_id", &rows)
                  : -EIO;
    rc = rc ? rc
            : ch_export(a, out, "rating_changes", "*", "rating_changes FINAL", rating_cond, "end_ms, match_key", &rows);
    free(raw_cols);
    free(raw_cond);
    free(rating_cond);
    for (const player_rows *r = player_pg_rows; r->table && !rc; r++) {
        char *sql = NULL;
        if (asprintf(&sql, "SELECT %s FROM %s WHERE %s", r->columns, r->table, r->where) < 0)
            return -ENOMEM;
        PGresult *res = player_pg(a, t, sql);
        free(sql);
        if (!res)
            return -EIO;
        char source[80];
        snprintf(source, sizeof source, "postgres.%s", r->table);
        cJSON *json = pg_result_json(res, NULL, NULL);
        PQclear(res);
        int n = json ? print_rows(out, source, json) : -ENOMEM;
        cJSON_Delete(json);
        rc = n < 0 ? n : 0;
        rows += n > 0 ? n : 0;
    }
    for (const player_rows *r = player_forum_rows; r->table && !rc; r++) {
        char *sql = NULL;
        if (asprintf(&sql, "SELECT %s FROM %s WHERE %s", r->columns, r->table, r->where) < 0)
            return -ENOMEM;
        mdb_result *res = player_forum(a, t, sql);
        free(sql);
        if (!res)
            return -EIO;
        char source[80];
        /* Without "{p}": the forum's tables are named as the installers name them; ours as they are. */
        snprintf(source, sizeof source, "forum.%s", strncmp(r->table, "{p}", 3) ? r->table : r->table + 3);
        cJSON *json = mdb_result_json(res, NULL, NULL);
        mdb_result_free(res);
        int n = json ? print_rows(out, source, json) : -ENOMEM;
        cJSON_Delete(json);
        rc = n < 0 ? n : 0;
        rows += n > 0 ? n : 0;
    }
    if (rc)
        return rc;
    fflush(out);
    char detail[160];
    snprintf(detail, sizeof detail, "%s: %ld rows exported", t->label, rows);
    return admin_record(a, "export", detail);
}
