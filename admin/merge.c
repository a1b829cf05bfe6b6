/* `mohstats-admin merge --from A --into B`: two GUIDs of one person become one player, B, in every answer.
 *
 * raw_events. One mutation rewrites A to B on both sides of every event (actor and target); `raw`, the tracker's
 * JSON, keeps what the server sent. Exact with ingest running for the reason erase is (erase.c): the mutation
 * applies to every part holding rows inserted before it, and it is waited for (system.mutations) before anything
 * reads raw_events again; rows of A inserted after it are new events, counted at the end (run merge again).
 *
 * Aggregates. Every table of a view on raw_events is rebuilt from the rewritten raw_events (rebuild.c, exact while
 * the writers insert): the months A's events were in for the tables partitioned by month, the others whole. A
 * kill between A and B becomes one of B's own (the views count it as erase counts a kill between two GUIDs of one
 * member). rating_changes is ratingd's, not a view's: A's ratings stay until `ratingd recompute --replace`
 * recomputes every rating from raw_events (merge says so), and A is hidden (hide.c) so that the rating leaderboard
 * does not list the rating A had meanwhile.
 *
 * Identities. A forum member owns achievements and their GUIDs (achievd counts a member's GUIDs together), so the
 * merge is only a change of links: A linked to member M and B to nobody, B takes A's links (the forum's identity
 * row, authd's primary GUID, the unlocks recorded with A); both linked to M, A's link goes; linked to two members,
 * the merge would join two accounts' players and is refused unless --force, which keeps B's member and removes
 * A's link (M keeps its achievements; achievd sees the links change at its next identities reload).
 *
 * Future events of A are not mapped to B (ingestd has no alias table yet): run merge again after A played. */
#include "merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hide.h"
#include "log.h"
#include "pg.h"
#include "rebuild.h"
#include "redis_admin.h"

/* Run one statement on the forum's MariaDB ({p}: SMF_DB_PREFIX) with the parameters given; rows changed added to *n. */
static int forum_do(const admin_ctx *a, const char *tmpl, int nparams, const char *const *params, long *n,
                    unsigned long *first)
{
    char err[512];
    char *sql = mdb_prefixed_sql(a->smf_prefix, tmpl);
    mdb_result *r = sql ? mdb_query_sync(a->mariadb_url, sql, nparams, params, err, sizeof err) : NULL;
    free(sql);
    if (!r) {
        log_error("the forum's MariaDB: %s; statement: %.200s", sql ? err : "out of memory", tmpl);
        return -EIO;
    }
    if (n)
        *n += (long)r->affected_rows;
    if (first)
        *first = r->nrows && mdb_cell(r, 0, 0) ? strtoul(mdb_cell(r, 0, 0), NULL, 10) : 0;
    mdb_result_free(r);
    return 0;
}

/* Run one statement on PostgreSQL with the parameters given; rows changed added to *n, the first cell in *first. */
static int pg_do(const admin_ctx *a, const char *sql, int nparams, const char *const *params, long *n,
                 unsigned long *first)
{
    char err[512];
    PGresult *p = pg_exec_sync(a->postgres_url, sql, nparams, params, err, sizeof err);
    if (!p) {
        log_error("PostgreSQL: %s; statement: %.200s", err, sql);
        return -EIO;
    }
    if (n)
        *n += atol(PQcmdTuples(p));
    if (first)
        *first = PQntuples(p) && !PQgetisnull(p, 0, 0) ? strtoul(PQgetvalue(p, 0, 0), NULL, 10) : 0;
    PQclear(p);
    return 0;
}

/* The forum member guid is linked to (the forum's identities, else authd's primary GUIDs), or 0. */
static int linked_member(const admin_ctx *a, const char *guid, unsigned long *member)
{
    const char *params[1] = {guid};
    int rc = forum_do(a, "SELECT id_member FROM {p}mohaa_identities WHERE player_guid = ? AND id_member > 0", 1, params,
                      NULL, member);
    if (rc || *member)
        return rc;
    return pg_do(a, "SELECT smf_member_id FROM smf_user_mappings WHERE primary_guid = $1 ORDER BY 1 LIMIT 1", 1, params,
                 NULL, member);
}

/* The links of A after the merge (see the top). keep_member: B is A's member's from now on (B was linked to nobody,
 * or to the same member), so A's identity row becomes B's (or goes, B having one), and the unlocks recorded with A
 * and authd's primary GUID name B; else (--force across two members) A's identity row goes and its member's primary
 * GUID is unset, and its unlocks stay as they were. Rows changed added to *n. */
static int merge_links(const admin_ctx *a, const char *from, const char *into, bool keep_member, bool into_linked,
                       long *n)
{
    const char *ba[2] = {into, from};
    bool move_row = keep_member && !into_linked; /* UNIQUE (player_guid): B's row, when there is one, stays alone */
    int rc = forum_do(a,
                      move_row ? "UPDATE {p}mohaa_identities SET player_guid = ? WHERE player_guid = ?"
                               : "DELETE FROM {p}mohaa_identities WHERE player_guid = ?",
                      move_row ? 2 : 1, move_row ? ba : ba + 1, n, NULL);
    if (!rc && keep_member)
        rc = forum_do(a, "UPDATE {p}mohaa_player_achievements SET player_guid = ? WHERE player_guid = ?", 2, ba, n,
                      NULL);
    rc = rc ? rc
            : pg_do(a,
                    keep_member ? "UPDATE smf_user_mappings SET primary_guid = $1, updated_at = now()\n"
                                  "WHERE primary_guid = $2"
                                : "UPDATE smf_user_mappings SET primary_guid = NULL, updated_at = now()\n"
                                  "WHERE primary_guid = $2 AND $1::text IS NOT NULL",
                    2, ba, n, NULL);
    return rc;
}

/* ClickHouse: A's events rewritten to B (waited for), then the aggregates rebuilt from them. With --force over two
 * members (B keeps member_b), A's side of each event takes member_b too: the events' member column is how export and
 * erase find a member's GUIDs (player.c), and left at A's member it would make B one of that member's. */
static int merge_clickhouse(const admin_ctx *a, const player_target *from, const player_target *into,
                            unsigned long member_a, unsigned long member_b, const char *months)
{
    char *since = NULL;
    int rc = admin_ch(a, "SELECT now() FORMAT TSV", &since);
    char *nl = since ? strchr(since, '\n') : NULL;
    if (nl)
        *nl = '\0';
    const char *A = from->ch_list, *B = into->ch_list;
    char members[256] = "";
    if (member_a && member_b && member_a != member_b)
        snprintf(members, sizeof members,
                 ",\n  actor_smf_id = if(actor_guid = %s, %lu, actor_smf_id),\n"
                 "  target_smf_id = if(target_guid = %s, %lu, target_smf_id)",
                 A, member_b, A, member_b);
    rc = rc ? rc
            : admin_chf(a,
                        "ALTER TABLE raw_events\n"
                        "UPDATE actor_guid = if(actor_guid = %s, %s, actor_guid),\n"
                        "  target_guid = if(target_guid = %s, %s, target_guid)%s\n"
                        "WHERE actor_guid = %s OR target_guid = %s",
                        A, B, A, B, members, A, A);
    rc = rc ? rc : admin_wait_mutations(a, since);
    free(since);
    return rc ? rc : rebuild_months(a, months, /* guidless_only= */ false);
}

/* The answer to sql's first column, lines, malloc'd ("" when empty); NULL on error (logged). */
static char *ch_lines(const admin_ctx *a, const char *fmt, const char *A)
{
    char *sql = NULL, *out = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (asprintf(&sql, fmt, A, A) < 0)
        return NULL;
#pragma GCC diagnostic pop
    int rc = admin_ch(a, sql, &out);
    free(sql);
    if (rc) {
        free(out);
        return NULL;
    }
    return out ? out : strdup("");
}

int merge_run(const admin_ctx *a, const player_target *from, const player_target *into, bool force)
{
    const char *A = from->ch_list, *ga = from->guids[0], *gb = into->guids[0];
    if (!strcmp(ga, gb)) {
        log_error("--from and --into are the same GUID: nothing to merge");
        return -EINVAL;
    }
    /* A guest slot (unauth_N) is every guest in that slot of every server: not one player to merge. */
    if (!strncmp(ga, "unauth_", 7) || !strncmp(gb, "unauth_", 7)) {
        log_error("%s is a guest slot, shared by every guest in it: merge takes players' GUIDs only",
                  !strncmp(ga, "unauth_", 7) ? ga : gb);
        return -EINVAL;
    }
    unsigned long ma = 0, mb = 0;
    int rc = linked_member(a, ga, &ma);
    rc = rc ? rc : linked_member(a, gb, &mb);
    if (!rc && ma && mb && ma != mb && !force) {
        log_error("%s is linked to forum member %lu and %s to member %lu: merging would join two accounts' players. "
                  "Unlink one in the forum first, or add --force (%s keeps member %lu; %s's link to %lu goes, and "
                  "member %lu keeps its achievements)",
                  ga, ma, gb, mb, gb, mb, ga, ma, ma);
        return -EPERM;
    }
    long long events = 0;
    rc = rc ? rc
            : admin_ch_count(a, &events, "SELECT count() FROM raw_events WHERE actor_guid = %s OR target_guid = %s", A,
                             A);
    char *months = rc ? NULL
                      : ch_lines(a,
                                 "SELECT DISTINCT toYYYYMM(received_at) AS m FROM raw_events\n"
                                 "WHERE actor_guid = %s OR target_guid = %s ORDER BY m FORMAT TSV",
                                 events ? A : into->ch_list);
    if (!rc && !months)
        rc = -EIO;
    if (rc)
        return rc;
    bool keep_member = ma && (!mb || ma == mb), move = ma && !mb;
    char question[640];
    snprintf(question, sizeof question,
             "Merge GUID %s into %s: its %lld events become %s's, every aggregate table is rebuilt for the months "
             "they are in (and the tables of all time), %s?",
             ga, gb, events, gb,
             move ? "and its forum links move to it"
             : ma ? "and its forum link is removed"
                  : "and it has no forum link");
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        free(months);
        return -ECANCELED;
    }
    char detail[320];
    snprintf(detail, sizeof detail, "GUID %s into GUID %s", ga, gb);
    /* Recorded first: a merge that stops half-way is known, and running it again finishes it (each step finds
     * what is left). */
    rc = admin_record(a, "merge-start", detail);
    /* No event of A's left: nothing to rewrite, but this may be a merge run again after it stopped between the
     * rewrite and the rebuilds, so B's months are rebuilt (more than needed, never less). */
    rc = rc       ? rc
         : events ? merge_clickhouse(a, from, into, ma, mb, months)
                  : rebuild_months(a, months, /* guidless_only= */ false);
    free(months);
    long rows = 0;
    rc = rc || !ma ? rc : merge_links(a, ga, gb, keep_member, /* into_linked= */ mb != 0, &rows);
    /* A's ratings stay until ratingd recomputes them from the rewritten events: A is hidden, so that no list shows
     * them (hide also empties queryd's answer cache and has its boards re-read A). */
    rc = rc ? rc : hide_run(a, from, /* hidden= */ true);
    rc = rc ? rc : admin_fresh_touch(a, into->guids, 1);
    long long later = 0;
    rc = rc ? rc
            : admin_ch_count(a, &later, "SELECT count() FROM raw_events WHERE actor_guid = %s OR target_guid = %s", A,
                             A);
    if (rc) {
        log_error("the merge of %s into %s stopped half-way (above): run it again", ga, gb);
        return rc;
    }
    if (later)
        log_warn("%lld events of %s arrived during the merge (still playing, or the writer was behind): run merge "
                 "again",
                 later, ga);
    log_info("ratings: run `ratingd recompute --replace` so that %s's rating counts %s's matches", gb, ga);
    if (ma)
        log_info("achievd sees the links change at its next identities reload (ACHIEVD_IDENTITIES_RELOAD_S)");
    char done[512];
    snprintf(done, sizeof done,
             "%s: %lld events, %ld rows of PostgreSQL and the forum (forum member of %s: %lu, of "
             "%s: %lu)",
             detail, events, rows, ga, ma, gb, mb);
    return admin_record(a, "merge", done);
}
