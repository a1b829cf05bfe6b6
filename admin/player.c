/* Which GUIDs an export or an erase covers. A GUID alone is itself; a forum member's are every GUID linked to
 * them: the forum's smf_mohaa_identities, authd's smf_user_mappings and login codes, and the events that carried
 * their member id (a tracker sends it for a logged-in player), so a GUID linked once and unlinked since is
 * covered too. */
#include "player.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "log.h"
#include "mariadb.h"
#include "pg.h"
#include "sha256.h"

/* GUIDs of one member that player_forum binds, a placeholder each (the member id is one more): a member with more
 * is refused whole rather than erased in part. */
#define FORUM_GUIDS_MAX 63

/* Add g to t's GUIDs unless it is empty or there already. */
static int add_guid(player_target *t, const char *g)
{
    if (!g || !*g)
        return 0;
    for (size_t i = 0; i < t->nguids; i++)
        if (!strcmp(t->guids[i], g))
            return 0;
    char **grown = realloc(t->guids, (t->nguids + 1) * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    t->guids = grown;
    t->guids[t->nguids] = strdup(g);
    return t->guids[t->nguids++] ? 0 : -ENOMEM;
}

/* The member's GUIDs from the forum, PostgreSQL and raw_events. */
static int member_guids(const admin_ctx *a, player_target *t)
{
    char id[24], err[512];
    snprintf(id, sizeof id, "%lu", t->member);
    const char *params[1] = {id};
    int rc = 0;
    char *sql = mdb_prefixed_sql(a->smf_prefix, "SELECT player_guid FROM {p}mohaa_identities WHERE id_member = ?");
    mdb_result *m = sql ? mdb_query_sync(a->mariadb_url, sql, 1, params, err, sizeof err) : NULL;
    free(sql);
    if (!m) {
        log_error("the forum's identities could not be read: %s", sql ? err : "out of memory");
        return -EIO;
    }
    for (unsigned long long r = 0; r < m->nrows && !rc; r++)
        rc = add_guid(t, mdb_cell(m, r, 0));
    mdb_result_free(m);
    PGresult *p =
        rc ? NULL
           : pg_exec_sync(a->postgres_url,
                          "SELECT primary_guid FROM smf_user_mappings WHERE smf_member_id = $1::integer\n"
                          "UNION SELECT used_player_guid FROM login_tokens WHERE forum_user_id = $1::integer\n"
                          "UNION SELECT player_guid FROM login_token_history WHERE forum_user_id = $1::integer\n"
                          "  AND success",
                          1, params, err, sizeof err);
    if (!rc && !p) {
        log_error("PostgreSQL's links could not be read: %s", err);
        return -EIO;
    }
    for (int r = 0; p && r < PQntuples(p) && !rc; r++)
        rc = PQgetisnull(p, r, 0) ? 0 : add_guid(t, PQgetvalue(p, r, 0));
    if (p)
        PQclear(p);
    char *out = NULL;
    if (!rc) {
        char q[512];
        snprintf(q, sizeof q,
                 "SELECT DISTINCT g FROM raw_events\n"
                 "ARRAY JOIN [if(actor_smf_id = %lu, actor_guid, ''), if(target_smf_id = %lu, target_guid, '')] AS g\n"
                 "WHERE (actor_smf_id = %lu OR target_smf_id = %lu) AND g != '' FORMAT TSVRaw",
                 t->member, t->member, t->member, t->member);
        rc = admin_ch(a, q, &out);
    }
    char *save = NULL;
    for (char *line = rc || !out ? NULL : strtok_r(out, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save))
        rc = add_guid(t, line);
    free(out);
    return rc;
}

/* The GUIDs as ClickHouse literals, and the label. */
static int finish_target(player_target *t)
{
    if (t->nguids > FORUM_GUIDS_MAX) {
        log_error("member %lu has %zu GUIDs: erase them one by one with --guid, then the member", t->member, t->nguids);
        return -E2BIG;
    }
    bytebuf b = {0};
    /* No GUID: a list that matches nothing ('' would match every event without an actor). */
    int rc = t->nguids ? 0 : (bytebuf_appendf(&b, "SELECT '' WHERE 0") ? -ENOMEM : 0);
    for (size_t i = 0; i < t->nguids && !rc; i++) {
        rc = i ? (bytebuf_appendf(&b, ", ") ? -ENOMEM : 0) : 0;
        rc = rc ? rc : ch_append_quoted(&b, t->guids[i], strlen(t->guids[i]));
    }
    if (rc) {
        bytebuf_free(&b);
        return -ENOMEM;
    }
    t->ch_list = b.data;
    if (t->member) {
        snprintf(t->label, sizeof t->label, "member %lu (%zu GUID%s)", t->member, t->nguids, t->nguids == 1 ? "" : "s");
    } else {
        /* The log outlives an erase: it names the GUID by a hash, which confirms a request without keeping it. */
        char hex[65];
        sha256_hex(t->guids[0], strlen(t->guids[0]), hex);
        snprintf(t->label, sizeof t->label, "GUID sha256:%.16s", hex);
    }
    return 0;
}

int player_target_arg(const admin_ctx *a, int argc, char **argv, int *i, player_target *t)
{
    bool guid = !strcmp(argv[*i], "--guid"), member = !strcmp(argv[*i], "--member");
    if (!guid && !member)
        return 1;
    if (*i + 1 >= argc || t->nguids || t->member) {
        log_error("give one --guid GUID or one --member ID");
        return -EINVAL;
    }
    const char *v = argv[++*i];
    int rc;
    if (guid) {
        if (!*v || strlen(v) > 64) {
            log_error("a GUID is 1 to 64 characters");
            return -EINVAL;
        }
        if (!strcmp(v, ERASED_GUID)) {
            log_error(ERASED_GUID " stands for every erased player: it is nobody's");
            return -EINVAL;
        }
        rc = add_guid(t, v);
    } else {
        char *end = NULL;
        unsigned long n = strtoul(v, &end, 10);
        if (!*v || *end || n == 0 || n > 4294967295UL) {
            log_error("--member takes a forum member id (a positive number)");
            return -EINVAL;
        }
        t->member = n;
        rc = member_guids(a, t);
    }
    return rc ? rc : finish_target(t);
}

void player_target_free(player_target *t)
{
    for (size_t i = 0; i < t->nguids; i++)
        free(t->guids[i]);
    free(t->guids);
    free(t->ch_list);
    memset(t, 0, sizeof *t);
}

const player_rows player_pg_rows[] = {
    {"smf_user_mappings", "smf_member_id, smf_username, primary_guid, created_at, updated_at",
     "smf_member_id = $1 OR primary_guid = ANY($2)"},
    {"login_tokens", "id, forum_user_id, created_at, expires_at, used_at, used_player_guid, revoked_at, is_active",
     "forum_user_id = $1 OR used_player_guid = ANY($2)"},
    {"login_token_history", "*", "forum_user_id = $1 OR player_guid = ANY($2)"},
    {"trusted_ips", "*", "forum_user_id = $1 AND $2::text[] IS NOT NULL"}, /* $2 unused: every statement takes two */
    {"pending_ip_approvals", "*", "forum_user_id = $1 OR player_guid = ANY($2)"},
    {NULL, NULL, NULL},
};

/* Achievements belong to the member (achievd counts a member's GUIDs together): a GUID alone takes only the
 * unlocks recorded with it. */
const player_rows player_forum_rows[] = {
    {"{p}mohaa_identities", "*", "id_member = ? OR player_guid IN ({g})"},
    {"{p}mohaa_player_achievements", "*", "id_member = ? OR player_guid IN ({g})"},
    {"{p}mohaa_achievement_progress", "*", "id_member = ?"},
    /* Ours (no prefix; one table for every forum of the database): when the member was in which team. */
    {"mohstats_team_memberships", "*", "forum_prefix = '{p}' AND id_member = ?"},
    {NULL, NULL, NULL},
};

PGresult *player_pg(const admin_ctx *a, const player_target *t, const char *sql)
{
    char id[24], err[512];
    snprintf(id, sizeof id, "%lu", t->member);
    /* The GUIDs as an array literal: each one double-quoted, with '"' and '\' escaped. */
    bytebuf arr = {0};
    int rc = bytebuf_appendf(&arr, "{");
    for (size_t i = 0; i < t->nguids && !rc; i++) {
        rc = bytebuf_appendf(&arr, "%s\"", i ? "," : "");
        for (const char *c = t->guids[i]; *c && !rc; c++)
            rc = (*c == '"' || *c == '\\') ? bytebuf_appendf(&arr, "\\%c", *c) : bytebuf_append(&arr, c, 1);
        rc = rc ? rc : bytebuf_appendf(&arr, "\"");
    }
    rc = rc ? rc : bytebuf_appendf(&arr, "}");
    if (rc) {
        bytebuf_free(&arr);
        log_error("out of memory");
        return NULL;
    }
    const char *params[2] = {id, arr.data};
    PGresult *res = pg_exec_sync(a->postgres_url, sql, 2, params, err, sizeof err);
    if (!res)
        log_error("PostgreSQL: %s; statement: %.200s", err, sql);
    bytebuf_free(&arr);
    return res;
}

mdb_result *player_forum(const admin_ctx *a, const player_target *t, const char *tmpl)
{
    char id[24], err[512];
    snprintf(id, sizeof id, "%lu", t->member);
    const char *params[1 + FORUM_GUIDS_MAX];
    int n = 0;
    params[n++] = id;
    /* {g}: one placeholder per GUID. */
    bytebuf b = {0};
    const char *g = strstr(tmpl, "{g}");
    int rc = bytebuf_append(&b, tmpl, g ? (size_t)(g - tmpl) : strlen(tmpl));
    if (g) {
        /* No GUID: NULL, which no row's GUID equals ('' would be every row without one). */
        rc = t->nguids ? 0 : bytebuf_appendf(&b, "NULL");
        for (size_t i = 0; i < t->nguids && n < (int)(sizeof params / sizeof params[0]) && !rc; i++) {
            rc = bytebuf_appendf(&b, "%s?", i ? ", " : "");
            params[n++] = t->guids[i];
        }
        rc = rc ? rc : bytebuf_appendf(&b, "%s", g + 3);
    }
    char *sql = rc ? NULL : mdb_prefixed_sql(a->smf_prefix, b.data);
    bytebuf_free(&b);
    mdb_result *res = sql ? mdb_query_sync(a->mariadb_url, sql, n, params, err, sizeof err) : NULL;
    if (!res)
        log_error("the forum's MariaDB: %s; statement: %.200s", sql ? err : "out of memory", sql ? sql : tmpl);
    free(sql);
    return res;
}
