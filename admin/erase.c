/* `mohstats-admin erase`: a player's rows deleted everywhere; the events they shared with another player kept,
 * without their identity.
 *
 * raw_events. An event is only theirs when no other player is in it (they are the actor and the target is
 * nobody or them, or they are the target of nobody): deleted. An event with another player (a kill, a hit, in
 * either direction) is the other player's too: it stays, their side rewritten to ERASED_GUID, an empty name and
 * member id 0, and the same in `raw` and `unknown_fields` (the tracker's JSON: each "*guid", "*name" and
 * "*smf_id" field holding one of their values). The GUIDs are not in raw_events' ORDER BY (event_type,
 * server_id, match_key, received_at, event_id), so ALTER ... UPDATE may rewrite them (18.16 refuses it only for
 * key columns).
 *
 * Aggregates. The views derive a player's row from the events with that player in it and read the other party
 * only as "someone who is not me" (actor_guid != '' and != target_guid): so rewriting their side to ERASED_GUID
 * leaves every other player's rows as they were, and the rows keyed by their GUIDs (every table with a guid
 * column: player_daily, player_match, ..., rating_changes) are deleted whole. The tables without a guid column
 * (server_hourly, weapon_daily, match_summary, heat_match_cells) count the deleted events and hold their GUIDs
 * inside uniqExact states: those are rebuilt (rebuild.c) for the months the events were in, exact with ingest
 * running; a table of all time cannot be once retention dropped months (rebuild refuses it): it then keeps
 * counts of the deleted events and a hash of the GUID in its players state, and erase says so.
 *
 * Exactness with ingest running. ClickHouse applies a mutation to every part holding rows inserted before it
 * (by block number, a part inserted meanwhile included); rows inserted after it are new events. A player still
 * playing, or events still in the stream while the writer is behind, bring rows of theirs after it: erase counts
 * them at the end and says to run it again. The mutations are waited for
 * (system.mutations) before the rebuild reads raw_events, and the aggregates' deletes before the cache is
 * emptied.
 *
 * Outside ClickHouse: player.c's lists of PostgreSQL and forum rows; achievd's saved state of the member and its
 * GUID links in Redis, and its state in memory (erase_achievd: achievd is told to forget the member); ingestd's live
 * view of the servers (erase_live); queryd's whole answer cache, which may hold them in any answer, and its
 * leaderboard boards. The action log keeps who did what to them, without their GUIDs (erase_log). */
#include "erase.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "live_matches.h"
#include "log.h"
#include "rebuild.h"
#include "redis_admin.h"
#include "sha256.h"
#include "stream_entry.h"

#define MAX_VALUES "500"            /* names and member ids of theirs rewritten in `raw`, each (SQL's LIMIT) */
#define ACHIEVD_FORGET_WAIT_MS 5000 /* erase_achievd waits this long for achievd to forget the member */

/* Append to re s as the tracker's JSON spells it ('"' and '\' escaped), escaped for RE2. */
static int regex_of_json_string(bytebuf *re, const char *s)
{
    int rc = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c && !rc; c++) {
        if (*c == '"' || *c == '\\') /* JSON's backslash, then the character, each escaped for the regex */
            rc = bytebuf_appendf(re, "\\\\\\%c", *c);
        else if (*c < 0x80 && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            rc = bytebuf_appendf(re, "\\%c", *c);
        else
            rc = bytebuf_append(re, (const char *)c, 1);
    }
    return rc ? -ENOMEM : 0;
}

/* Wrap *expr in one replaceRegexpAll: the JSON field whose name ends in `field` holding `value` gets
 * `replacement` (value: a JSON string, or a bare number when number is set). */
static int wrap_rewrite(bytebuf *expr, const char *field, const char *value, bool number, const char *replacement)
{
    bytebuf re = {0}, out = {0};
    int rc = bytebuf_appendf(&re, "(\"[A-Za-z_]*%s\"[ ]*:[ ]*%s", field, number ? "\"?)" : ")\"");
    rc = rc ? rc : regex_of_json_string(&re, value);
    rc = rc ? rc : bytebuf_appendf(&re, "%s", number ? "\\b" : "\"");
    rc = rc ? rc : bytebuf_appendf(&out, "replaceRegexpAll(%.*s, ", (int)expr->len, expr->data);
    rc = rc ? rc : ch_append_quoted(&out, re.data, re.len);
    rc = rc ? rc : bytebuf_appendf(&out, ", ");
    rc = rc ? rc : ch_append_quoted(&out, replacement, strlen(replacement));
    rc = rc ? rc : bytebuf_appendf(&out, ")");
    bytebuf_free(&re);
    if (rc) {
        bytebuf_free(&out);
        return -ENOMEM;
    }
    bytebuf_free(expr);
    *expr = out;
    return 0;
}

/* The expression rewriting column col (raw or unknown_fields): each of t's GUIDs to ERASED_GUID, each of their
 * names (names, one a line) to "", each of their member ids (ids, one a line) to 0. malloc'd, or NULL. */
static char *rewrite_expr(const char *col, const player_target *t, const char *names, const char *ids)
{
    bytebuf e = {0};
    int rc = bytebuf_appendf(&e, "%s", col) ? -ENOMEM : 0;
    for (size_t i = 0; i < t->nguids && !rc; i++)
        rc = wrap_rewrite(&e, "guid", t->guids[i], /* number= */ false, "\\1\"" ERASED_GUID "\"");
    const char *lists[2] = {names, ids};
    for (int l = 0; l < 2 && !rc; l++) {
        char *copy = strdup(lists[l] ? lists[l] : ""), *save = NULL;
        if (!copy)
            rc = -ENOMEM;
        for (char *v = rc ? NULL : strtok_r(copy, "\n", &save); v && !rc; v = strtok_r(NULL, "\n", &save))
            rc = l == 0 ? wrap_rewrite(&e, "name", v, /* number= */ false, "\\1\"\"")
                        : wrap_rewrite(&e, "smf_(?:member_)?id", v, /* number= */ true, "\\10");
        free(copy);
    }
    if (rc) {
        bytebuf_free(&e);
        return NULL;
    }
    return e.data;
}

/* The answer to sql (lines) as a malloc'd string, "" when empty; NULL on error (logged). */
static char *ch_lines(const admin_ctx *a, const char *sql)
{
    char *out = NULL;
    if (admin_ch(a, sql, &out)) {
        free(out);
        return NULL;
    }
    return out ? out : strdup("");
}

/* ch_lines of fmt with the GUIDs' list at its two %s. */
static char *ch_lines_of(const admin_ctx *a, const char *fmt, const char *list)
{
    char *sql = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    if (asprintf(&sql, fmt, list, list) < 0)
        return NULL;
#pragma GCC diagnostic pop
    char *out = ch_lines(a, sql);
    free(sql);
    return out;
}

/* raw_events: delete the events only theirs, rewrite their side of the others. */
static int erase_raw(const admin_ctx *a, const player_target *t, const char *since)
{
    const char *L = t->ch_list;
    char *names =
        ch_lines_of(a,
                    "SELECT DISTINCT n FROM (SELECT actor_name AS n FROM raw_events WHERE actor_guid IN (%s)\n"
                    "  UNION ALL SELECT target_name FROM raw_events WHERE target_guid IN (%s)) WHERE n != ''\n"
                    "LIMIT " MAX_VALUES " FORMAT TSVRaw",
                    L);
    char *ids =
        names
            ? ch_lines_of(a,
                          "SELECT DISTINCT i FROM (SELECT actor_smf_id AS i FROM raw_events WHERE actor_guid IN (%s)\n"
                          "  UNION ALL SELECT target_smf_id FROM raw_events WHERE target_guid IN (%s)) WHERE i != 0\n"
                          "LIMIT " MAX_VALUES " FORMAT TSVRaw",
                          L)
            : NULL;
    size_t nnames = 0;
    for (const char *p = names; p && *p; p++)
        nnames += *p == '\n';
    if (nnames >= (size_t)atoi(MAX_VALUES))
        log_warn("they played under more than " MAX_VALUES " names: `raw` of the events shared with others keeps "
                 "the others (the columns lose them all); run erase again to rewrite " MAX_VALUES " more");
    char *raw = ids ? rewrite_expr("raw", t, names, ids) : NULL;
    char *unknown = raw ? rewrite_expr("unknown_fields", t, names, ids) : NULL;
    int rc = unknown ? 0 : -ENOMEM;
    /* One mutation (one rewrite of each part): the events only theirs deleted, their side of the others
     * rewritten. UPDATE's expressions read the row as it was. */
    rc = rc ? rc
            : admin_chf(a,
                        "ALTER TABLE raw_events\n"
                        "DELETE WHERE (actor_guid IN (%s) AND (target_guid = '' OR target_guid IN (%s)))\n"
                        "  OR (target_guid IN (%s) AND actor_guid = ''),\n"
                        "UPDATE actor_guid = if(actor_guid IN (%s), '" ERASED_GUID "', actor_guid),\n"
                        "  actor_name = if(actor_guid IN (%s), '', actor_name),\n"
                        "  actor_smf_id = if(actor_guid IN (%s), toUInt64(0), actor_smf_id),\n"
                        "  target_guid = if(target_guid IN (%s), '" ERASED_GUID "', target_guid),\n"
                        "  target_name = if(target_guid IN (%s), '', target_name),\n"
                        "  target_smf_id = if(target_guid IN (%s), toUInt64(0), target_smf_id),\n"
                        "  raw = %s, unknown_fields = %s\n"
                        "WHERE actor_guid IN (%s) OR target_guid IN (%s)",
                        L, L, L, L, L, L, L, L, L, raw, unknown, L, L);
    free(names);
    free(ids);
    free(raw);
    free(unknown);
    return rc ? rc : admin_wait_mutations(a, since);
}

/* The aggregate tables: the rows keyed by their GUIDs deleted, their GUID as another player's opponent rewritten. */
static int erase_aggregates(const admin_ctx *a, const player_target *t, const char *since)
{
    char *tables =
        ch_lines(a, "SELECT table, max(name = 'guid'), max(name = 'other_guid'), max(name = 'other_name')\n"
                    "FROM system.columns\n"
                    "WHERE database = currentDatabase() AND name IN ('guid', 'other_guid', 'other_name')\n"
                    "  AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase()\n"
                    "                AND engine NOT IN ('MaterializedView', 'View') AND name NOT LIKE 'admin\\\\_%')\n"
                    "GROUP BY table ORDER BY table FORMAT TSV");
    if (!tables)
        return -EIO;
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(tables, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        char table[128];
        int guid = 0, other = 0, other_name = 0;
        if (sscanf(line, "%127s %d %d %d", table, &guid, &other, &other_name) != 4 || !(guid || other))
            continue;
        /* One mutation per table: their rows deleted, their GUID as someone else's opponent rewritten. */
        const char *L = t->ch_list;
        rc = admin_chf(a, "ALTER TABLE %s %s%s%s%s%s%s%s", table, guid ? "DELETE WHERE guid IN (" : "", guid ? L : "",
                       guid ? ")" : "", guid && other ? ", " : "",
                       !other       ? ""
                       : other_name ? "UPDATE other_guid = '" ERASED_GUID "', other_name = '' WHERE other_guid IN ("
                                    : "UPDATE other_guid = '" ERASED_GUID "' WHERE other_guid IN (",
                       other ? L : "", other ? ")" : "");
    }
    free(tables);
    return rc ? rc : admin_wait_mutations(a, since);
}

/* Tell achievd to forget the member (achievd/store.c, store_forget): it holds their progress in memory and would
 * save it again and write it back to the forum. Before the forum's rows are deleted, so that a progress write of
 * achievd's under way lands before the delete, not after; waited for a few seconds (achievd looks every second). */
static int erase_achievd(const admin_ctx *a, const player_target *t)
{
    if (!t->member)
        return 0; /* achievements belong to the member: a GUID alone has no state of its own in achievd */
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c)
        return -EIO;
    char key[300], lease[300], member[24];
    snprintf(key, sizeof key, "%s:%s" ACHIEVD_FORGET_SUFFIX, a->stream, a->achievd_group);
    snprintf(lease, sizeof lease, "%s:%s:lease", a->stream, a->achievd_group);
    snprintf(member, sizeof member, "%lu", t->member);
    long long evaluating = 0;
    int rc = admin_redis_do(c, NULL, "SADD %s %s", key, member);
    rc = rc ? rc : admin_redis_do(c, &evaluating, "EXISTS %s", lease, NULL);
    long long left = 1;
    /* No lease: no achievd evaluates, and the next to start forgets the member before it reads anything. */
    for (int waited = 0; !rc && evaluating && left && waited < ACHIEVD_FORGET_WAIT_MS; waited += 100) {
        usleep(100 * 1000);
        left = 0;
        rc = admin_redis_do(c, &left, "SISMEMBER %s %s", key, member);
    }
    redisFree(c);
    if (!rc && evaluating && left)
        log_info("achievd did not take the erase within %d ms (not running?): it forgets the member when it "
                 "evaluates again, before anything else",
                 ACHIEVD_FORGET_WAIT_MS);
    return rc;
}

/* PostgreSQL's and the forum's rows (player.c's lists); the rows deleted added to *n. */
static int erase_databases(const admin_ctx *a, const player_target *t, long *n)
{
    for (const player_rows *r = player_pg_rows; r->table; r++) {
        char *sql = NULL;
        if (asprintf(&sql, "DELETE FROM %s WHERE %s", r->table, r->where) < 0)
            return -ENOMEM;
        PGresult *res = player_pg(a, t, sql);
        free(sql);
        if (!res)
            return -EIO;
        *n += atol(PQcmdTuples(res));
        PQclear(res);
    }
    for (const player_rows *r = player_forum_rows; r->table; r++) {
        char *sql = NULL;
        if (asprintf(&sql, "DELETE FROM %s WHERE %s", r->table, r->where) < 0)
            return -ENOMEM;
        mdb_result *res = player_forum(a, t, sql);
        free(sql);
        if (!res)
            return -EIO;
        *n += (long)res->affected_rows;
        mdb_result_free(res);
    }
    return 0;
}

/* Drop the players named in ARGV from every server's entry of the live view (KEYS[1]), in one script so that no
 * write of ingestd's falls between the read and the write of an entry. cjson writes an empty table as {}: an entry
 * left with no player gets its array back by hand. */
static const char live_forget_script[] =
    "local gone = {}\n"
    "for i = 1, #ARGV do gone[ARGV[i]] = true end\n"
    "local all, n = redis.call('HGETALL', KEYS[1]), 0\n"
    "for i = 1, #all, 2 do\n"
    "  local ok, o = pcall(cjson.decode, all[i + 1])\n"
    "  if ok and type(o) == 'table' and type(o['" LIVE_PLAYERS "']) == 'table' then\n"
    "    local kept, dropped = {}, 0\n"
    "    for _, p in ipairs(o['" LIVE_PLAYERS "']) do\n"
    "      if type(p) == 'table' and gone[p['" LIVE_PLAYER_GUID "']] then dropped = dropped + 1\n"
    "      else kept[#kept + 1] = p end\n"
    "    end\n"
    "    if dropped > 0 then\n"
    "      o['" LIVE_PLAYERS "'] = kept\n"
    "      o['" LIVE_PLAYER_COUNT "'] = #kept\n"
    "      local v = cjson.encode(o)\n"
    "      if #kept == 0 then v = string.gsub(v, '\"" LIVE_PLAYERS "\":{}', '\"" LIVE_PLAYERS "\":[]') end\n"
    "      redis.call('HSET', KEYS[1], all[i], v)\n"
    "      n = n + dropped\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n";

/* ingestd's live view (LIVE_MATCHES_KEY): their entries in the servers' player lists, which the live pages show.
 * ingestd writes a server's entry again from its memory at the server's next event, and a player stays in that
 * memory until unseen for five minutes (or their disconnect): one still playing, or seen in the last minutes on a
 * server still running, comes back there; erase says to run it again once they stopped, as for their events. The
 * players dropped in *n. */
static int erase_live(const admin_ctx *a, const player_target *t, long long *n)
{
    size_t argc = 4 + t->nguids;
    const char **args = calloc(argc, sizeof *args);
    size_t *lens = calloc(argc, sizeof *lens);
    redisContext *c = args && lens ? admin_redis_open(a->redis_url) : NULL;
    int rc = !args || !lens ? -ENOMEM : c ? 0 : -EIO;
    redisReply *r = NULL;
    if (!rc) {
        args[0] = "EVAL", args[1] = live_forget_script, args[2] = "1", args[3] = LIVE_MATCHES_KEY;
        for (size_t i = 0; i < t->nguids; i++)
            args[4 + i] = t->guids[i];
        for (size_t i = 0; i < argc; i++)
            lens[i] = strlen(args[i]);
        r = redisCommandArgv(c, (int)argc, args, lens);
        rc = r && r->type == REDIS_REPLY_INTEGER ? 0 : -EIO;
        if (rc)
            log_error("Redis: the live view could not be rewritten (%s)",
                      r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
        else
            *n = r->integer;
    }
    freeReplyObject(r);
    if (c)
        redisFree(c);
    free(args);
    free(lens);
    return rc;
}

/* achievd's saved state of the member and its links of their GUIDs; queryd's answers (admin_cache_flush) and
 * boards (admin_fresh_touch). */
static int erase_redis(const admin_ctx *a, const player_target *t, long long *cached)
{
    redisContext *c = admin_redis_open(a->redis_url);
    if (!c)
        return -EIO;
    char state[300], links[300], field[32];
    snprintf(state, sizeof state, "%s:%s:state", a->stream, a->achievd_group);
    snprintf(links, sizeof links, "%s:%s:links", a->stream, a->achievd_group);
    snprintf(field, sizeof field, "p:%lu", t->member);
    int rc = t->member ? admin_redis_do(c, NULL, "HDEL %s %s", state, field) : 0;
    for (size_t i = 0; i < t->nguids && !rc; i++)
        rc = admin_redis_do(c, NULL, "HDEL %s %s", links, t->guids[i]);
    redisFree(c);
    rc = rc ? rc : admin_cache_flush(a, cached);
    /* queryd's warm boards re-read them, find nothing, and drop them (as for hide). */
    return rc ? rc : admin_fresh_touch(a, t->guids, t->nguids);
}

/* Append s to re, escaped for RE2 (every ASCII character but letters and digits gets a backslash). */
static int regex_quote(bytebuf *re, const char *s)
{
    int rc = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c && !rc; c++)
        rc = bytebuf_appendf(
            re,
            *c < 0x80 && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) ? "\\%c"
                                                                                                             : "%c",
            *c);
    return rc ? -ENOMEM : 0;
}

/* Where a GUID counts in the log's text: no letter, digit, '_' or '-' touches it (a GUID inside a longer one is not
 * it). The GUID's pattern goes between the two, as \2 in a replacement, with \1 and \3 for what surrounds it. */
#define LOG_GUID_BEFORE "(^|[^A-Za-z0-9_-])("
#define LOG_GUID_AFTER ")($|[^A-Za-z0-9_-])"

/* The action log: the rows naming one of their GUIDs (hide, merge and rename log the GUID itself, so that the
 * operator finds it again) keep who did what, with each GUID replaced by "sha256:" and the first 16 hex digits of its
 * SHA-256 (as erase's own rows name a GUID: a request still matches the record), and a rename's names dropped. */
static int erase_log(const admin_ctx *a, const player_target *t, const char *since)
{
    bytebuf expr = {0}, any = {0};
    int rc = bytebuf_appendf(&expr, "detail") || bytebuf_appendf(&any, LOG_GUID_BEFORE) ? -ENOMEM : 0;
    for (size_t i = 0; i < t->nguids && !rc; i++) {
        bytebuf re = {0}, out = {0};
        char hex[65], label[40];
        sha256_hex(t->guids[i], strlen(t->guids[i]), hex);
        snprintf(label, sizeof label, "\\1sha256:%.16s\\3", hex);
        rc = bytebuf_appendf(&re, LOG_GUID_BEFORE) ? -ENOMEM : 0;
        rc = rc ? rc : regex_quote(&re, t->guids[i]);
        rc = rc ? rc : (i && bytebuf_appendf(&any, "|") ? -ENOMEM : 0);
        rc = rc ? rc : regex_quote(&any, t->guids[i]);
        rc = rc ? rc : (bytebuf_appendf(&re, LOG_GUID_AFTER) ? -ENOMEM : 0);
        rc = rc ? rc : (bytebuf_appendf(&out, "replaceRegexpAll(%.*s, ", (int)expr.len, expr.data) ? -ENOMEM : 0);
        rc = rc ? rc : ch_append_quoted(&out, re.data, re.len);
        rc = rc ? rc : (bytebuf_appendf(&out, ", ") ? -ENOMEM : 0);
        rc = rc ? rc : ch_append_quoted(&out, label, strlen(label));
        rc = rc ? rc : (bytebuf_appendf(&out, ")") ? -ENOMEM : 0);
        bytebuf_free(&re);
        bytebuf_free(&expr);
        expr = out;
    }
    rc = rc ? rc : (bytebuf_appendf(&any, LOG_GUID_AFTER) ? -ENOMEM : 0);
    bytebuf cond = {0};
    rc = rc ? rc : ch_append_quoted(&cond, any.data, any.len);
    /* A rename's detail is `GUID G: "old" -> "new"` (rename.c): the names were theirs too. */
    rc = rc ? rc
            : admin_chf(a,
                        "ALTER TABLE admin_actions UPDATE detail = if(action = 'rename',\n"
                        "  replaceRegexpOne(%s, ': \".*$', ': names erased'), %s)\n"
                        "WHERE match(detail, %s)",
                        expr.data, expr.data, cond.data);
    bytebuf_free(&expr);
    bytebuf_free(&any);
    bytebuf_free(&cond);
    return rc ? rc : admin_wait_mutations(a, since);
}

int erase_run(const admin_ctx *a, const player_target *t)
{
    const char *L = t->ch_list;
    long long events = 0, only = 0;
    int rc = admin_ch_count(a, &events,
                            "SELECT count() FROM raw_events WHERE actor_guid IN (%s) OR target_guid IN (%s)", L, L);
    rc = rc ? rc
            : admin_ch_count(a, &only,
                             "SELECT count() FROM raw_events WHERE (actor_guid IN (%s) AND (target_guid = ''\n"
                             "  OR target_guid IN (%s))) OR (target_guid IN (%s) AND actor_guid = '')",
                             L, L, L);
    char *months = NULL;
    if (!rc) {
        char *sql = NULL;
        if (asprintf(&sql,
                     "SELECT DISTINCT toYYYYMM(received_at) AS m FROM raw_events\n"
                     "WHERE actor_guid IN (%s) OR target_guid IN (%s) ORDER BY m FORMAT TSV",
                     L, L) < 0)
            return -ENOMEM;
        months = ch_lines(a, sql);
        free(sql);
        rc = months ? 0 : -EIO;
    }
    if (rc)
        return rc;
    char question[512];
    snprintf(question, sizeof question,
             "Erase %s for good: %lld events of theirs (%lld only theirs: deleted; the rest kept without their "
             "identity), their aggregates and ratings, links, login codes, trusted addresses and achievements?",
             t->label, events, only);
    if (!admin_confirm(a, question)) {
        log_info("nothing done");
        free(months);
        return -ECANCELED;
    }
    /* Recorded first: an erase that stops half-way is known, and running it again finishes it. */
    rc = admin_record(a, "erase-start", t->label);
    char *since = NULL;
    rc = rc ? rc : ((since = ch_lines(a, "SELECT now() FORMAT TSV")) ? 0 : -EIO);
    char *nl = since ? strchr(since, '\n') : NULL;
    if (nl)
        *nl = '\0';
    /* A mutation rewrites every part of its table even when nothing matches: none without an event of theirs (a
     * member without a GUID, months retention dropped), none at all without a GUID. */
    rc = rc || !events ? rc : erase_raw(a, t, since);
    rc = rc || !t->nguids ? rc : erase_aggregates(a, t, since);
    rc = rc ? rc : (*months ? rebuild_months(a, months, /* guidless_only= */ true) : 0);
    long rows = 0;
    long long cached = 0, later = 0;
    rc = rc ? rc : erase_achievd(a, t);
    rc = rc ? rc : erase_databases(a, t, &rows);
    long long live = 0;
    rc = rc || !t->nguids ? rc : erase_live(a, t, &live);
    rc = rc ? rc : erase_redis(a, t, &cached);
    rc = rc || !t->nguids ? rc : erase_log(a, t, since);
    free(since);
    rc = rc ? rc
            : admin_ch_count(a, &later,
                             "SELECT count() FROM raw_events WHERE actor_guid IN (%s) OR target_guid IN (%s)", L, L);
    free(months);
    if (rc) {
        log_error("the erase of %s stopped half-way (above): run it again", t->label);
        return rc;
    }
    if (later)
        log_warn("%lld events of theirs arrived during the erase (still playing, or the writer was behind): run erase "
                 "again (ban the server or wait first)",
                 later);
    char detail[256];
    snprintf(detail, sizeof detail,
             "%s: %lld events (%lld deleted, the rest anonymised), %ld rows of PostgreSQL and the forum, %lld players "
             "of the live view and %lld cached answers dropped",
             t->label, events, only, rows, live, cached);
    return admin_record(a, "erase", detail);
}
