/* The SQL of the boards' builds and deltas, and running a build's or a delta's three queries (a query set). */
#include "board.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board_int.h"
#include "clickhouse.h"
#include "log.h"
#include "sqlt.h"

/* ---- SQL ---- */

/* Per-match results of every player, for each of the periods asked for (period: 1 for the first, ...; ARRAY
 * JOIN counts a match in every period it started in; the periods are listed as [if(fms >= <bound>, 1, 0), ...]
 * because ClickHouse 18.16 cannot capture a subquery's column in a lambda): each (player, match) once, joined to its
 * match's result and top kill count (one right side: the match's summary joined to {top_kills}); then summed per
 * player, with the stats' values ({values}: ", toFloat64(<value>) AS v<i>, ...") in the same SELECT. The same
 * definitions as match_totals_render (stats.c), which serves one player's page; this form reads player_match
 * once instead of restricting every part to a player's matches, which costs three more passes over it when
 * the players are all of them.
 *
 * Why so few levels: ClickHouse 18.16 analyses a subquery again for every level above it, and runs each
 * `IN (subquery)` that can use a table's index (the matches' filters) at each analysis. A delta's match query of
 * five levels, with the top kill counts in a second join and their own nested IN, selected its parts 23 times to
 * read each table's once or twice: about 40 ms of ClickHouse CPU whatever the players, against 25 ms for this form
 * (docs/performance.md "Board deltas: the match query's levels"). */
// clang-format off
static const char board_match_sql[] =
    "SELECT period, guid, count() AS games, sum(l - f) AS playtime_s, sum(r) AS rounds,\n"
    "       sum(tw OR fw) AS wins, sum(tw) AS team_wins, sum(fw) AS ffa_wins,\n"
    "       sum((tl OR fl) AND NOT (tw OR fw)) AS losses{values}\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, f, l, r, fms,\n"
    "           toUInt64(winner IN ('allies', 'axis') AND team = winner) AS tw,\n"
    "           toUInt64(winner IN ('allies', 'axis') AND team IN ('allies', 'axis') AND team != winner) AS tl,\n"
    "           toUInt64(gametype = 'dm' AND ends > 0 AND k > 0 AND k = top_kills) AS fw,\n"
    "           toUInt64(gametype = 'dm' AND ends > 0 AND NOT (k > 0 AND k = top_kills)) AS fl\n"
    "    FROM\n"
    "    (\n"
    "        SELECT guid, match_key, argMaxMerge(team) AS team, sumMerge(kills) AS k,\n"
    "               minMerge(first_t) AS f, maxMerge(last_t) AS l, minMerge(first_ms) AS fms\n"
    "        FROM player_match\n"
    "        WHERE " LISTED_PLAYER_SQL("guid") " AND {who}\n"
    "        GROUP BY guid, match_key\n"
    "        HAVING fms >= {bound_ms}\n"
    "    )\n"
    "    ANY LEFT JOIN\n"
    "    (\n"
    "        SELECT match_key, winner, gametype, ends, r, top_kills\n"
    "        FROM\n"
    "        (\n"
    "            SELECT match_key, argMaxMerge(winner) AS winner,\n"
    "                   " GAMETYPE_SQL("argMaxMerge(gt)", "argMaxMerge(map)") " AS gametype,\n"
    "                   sumMerge(ends) AS ends, sumMerge(rounds) AS r\n"
    "            FROM match_summary\n"
    "            {matches_where}\n"
    "            GROUP BY match_key\n"
    "        )\n"
    "        ANY LEFT JOIN\n"
    "        (\n"
    "{top_kills}\n"
    "        ) USING match_key\n"
    "    ) USING match_key\n"
    ")\n"
    "ARRAY JOIN arrayFilter(x -> x > 0, {periods_of_match}) AS period\n"
    "GROUP BY period, guid";

/* The top kill counts of a build: of every finished free-for-all match (TOP_KILLS_SQL, the only matches they
 * decide). */
static const char build_top_kills_sql[] = TOP_KILLS_SQL("");

/* The top kill counts of a delta: of every match of its players ({matches_where}), free-for-all or not. Counts of
 * the other matches are joined but unused (fw and fl above need gametype 'dm' and an end), and reading a few
 * matches' rows costs less than TOP_KILLS_SQL's nested filter (its IN over match_summary, itself over player_match,
 * would be run at every analysis of the levels above: see board_match_sql). */
static const char delta_top_kills_sql[] =
    "SELECT match_key, max(k) AS top_kills\n"
    "FROM\n"
    "(\n"
    "    SELECT match_key, guid, sumMerge(kills) AS k\n"
    "    FROM match_players\n"
    "    {matches_where}\n"
    "    GROUP BY match_key, guid\n"
    ")\n"
    "GROUP BY match_key";

static const char board_names_sql[] =
    "SELECT guid, " SERVED_NAME_SQL("guid", "argMax(name, last_ms)") " AS name\n"
    "FROM player_names\n"
    "WHERE " LISTED_PLAYER_SQL("guid") " AND {who}\n"
    "GROUP BY guid";

// clang-format on

/* A delta's queries read a few granules of each column file of each part (a few players' rows), and ClickHouse gives
 * every column file it opens a read buffer of max_read_buffer_size (1 MiB by default), allocated for each file
 * whatever it then reads: with player_daily's ~55 columns that was most of a delta's daily query (74-109 ms
 * of ClickHouse CPU replayed on two parts, 18-21 ms with 64 KiB; docs/performance.md "Board deltas: the read
 * buffers"), and it grows with the parts ingest keeps adding. A build reads whole files: the default suits it. */
#define DELTA_SETTINGS "SETTINGS max_read_buffer_size = 65536\n"

/* ", toFloat64(<value>) AS v<i>, ..." for the stats of one source, appended to b. 0 or -ENOMEM. */
static int append_values(bytebuf *b, stat_source src)
{
    int rc = 0;
    for (size_t i = 0; i < lb_stats_count && rc == 0; i++)
        if (lb_stats[i].source == src)
            rc = bytebuf_appendf(b, ", toFloat64(%s) AS v%zu", lb_stats[i].value_sql, i);
    return rc;
}

/* "SELECT *, toFloat64(<value>) AS v<i>, ... FROM (<totals>)" for the stats of one source, with settings (a
 * "SETTINGS ...\n" clause or ""), malloc'd. The daily totals need the wrapper: their values name the totals'
 * aliases (sum(kills) AS kills), which current ClickHouse releases would read as the table's columns in the same
 * SELECT. */
static char *with_values(const char *totals, stat_source src, const char *settings)
{
    bytebuf b = {0};
    int rc = bytebuf_appendf(&b, "SELECT *");
    if (rc == 0)
        rc = append_values(&b, src);
    if (rc == 0)
        rc = bytebuf_appendf(&b, "\nFROM (%s)\n%sFORMAT TabSeparatedWithNames", totals, settings);
    if (rc != 0) {
        bytebuf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Replace the one occurrence of from in *text by to (a new malloc'd text). -1 when from is not there once. */
static int replace_once(char **text, const char *from, const char *to)
{
    char *at = strstr(*text, from);
    if (!at || strstr(at + 1, from))
        return -1;
    bytebuf b = {0};
    if (bytebuf_appendf(&b, "%.*s%s%s", (int)(at - *text), *text, to, at + strlen(from)) != 0) {
        bytebuf_free(&b);
        return -1;
    }
    free(*text);
    *text = b.data;
    return 0;
}

/* player_totals_sql (the template, before its values go in) per period as well as per player: each daily row
 * counts in every period of the list it is in. That SQL is the player pages' too, kept in one place (stats.c), so
 * it is extended here rather than copied; a change to it that moves these anchors fails every build loudly
 * (logged), not silently. */
static int daily_by_period(char **daily, const char *periods_of_day)
{
    char from[512];
    snprintf(from, sizeof from, "FROM player_daily\nARRAY JOIN arrayFilter(x -> x > 0, %s) AS period\n",
             periods_of_day);
    if (replace_once(daily, "SELECT\n    guid,", "SELECT\n    period, guid,") != 0 ||
        replace_once(daily, "FROM player_daily\n", from) != 0 ||
        replace_once(daily, "GROUP BY guid", "GROUP BY period, guid") != 0) {
        log_error("board: player_totals_sql (stats.c) no longer has the shape board.c extends per period");
        return -1;
    }
    return 0;
}

/* The three queries of the boards of periods ps (np of them), tagged for system.query_log like the jobs'
 * queries: of every player, or (a delta) of the players who (delta_who_sql, rendered) names only. The daily
 * and match answers have a period column first (1 for ps[0], ...), the names answer none. */
static int board_sql(const period *ps, size_t np, const char *who, const char *tag, char *sql[PARTS])
{
    char day_min[11] = "9999-12-31", days[384] = "[", bounds[384] = "[";
    uint64_t ms_min = UINT64_MAX;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < np; i++) {
        char day[11];
        uint64_t ms;
        period_bound(ps[i], now, day, &ms);
        if (strcmp(day, day_min) < 0)
            memcpy(day_min, day, sizeof day);
        if (ms < ms_min)
            ms_min = ms;
        const char *sep = i + 1 < np ? ", " : "]";
        snprintf(days + strlen(days), sizeof days - strlen(days), "if(day >= toDate('%s'), %zu, 0)%s", day, i + 1, sep);
        snprintf(bounds + strlen(bounds), sizeof bounds - strlen(bounds), "if(fms >= toUInt64(%llu), %zu, 0)%s",
                 (unsigned long long)ms, i + 1, sep);
    }
    bytebuf where = {0}, mwhere = {0};
    int wrc = bytebuf_appendf(&where, LISTED_PLAYER_SQL("guid") " AND %s", who ? who : "1");
    if (wrc == 0)
        wrc = who ? bytebuf_appendf(&mwhere, "WHERE match_key IN (SELECT match_key FROM player_match WHERE %s)", who)
                  : bytebuf_appendf(&mwhere, " ");
    bytebuf values = {0};
    if (wrc == 0)
        wrc = append_values(&values, STAT_MATCH);
    sqlv tv[] = {SQL_RAW("matches_where", mwhere.data)};
    char *top_kills = wrc == 0 ? sqlt_render(who ? delta_top_kills_sql : build_top_kills_sql, tv, 1) : NULL;
    sqlv dv[] = {SQL_RAW("where", where.data), SQL_STR("day_from", day_min)};
    sqlv mv[] = {SQL_RAW("who", who ? who : "1"),       SQL_INT("bound_ms", (long long)ms_min),
                 SQL_RAW("matches_where", mwhere.data), SQL_RAW("periods_of_match", bounds),
                 SQL_RAW("values", values.data),        SQL_RAW("top_kills", top_kills)};
    /* Extended per period before its values go in: a GUID in who can be any text, the anchors' too. */
    char *daily_tmpl = wrc == 0 ? strdup(player_totals_sql) : NULL;
    if (daily_tmpl && daily_by_period(&daily_tmpl, days) != 0) {
        free(daily_tmpl);
        daily_tmpl = NULL;
    }
    char *daily = daily_tmpl ? sqlt_render(daily_tmpl, dv, 2) : NULL;
    free(daily_tmpl);
    char *match_sql = top_kills ? sqlt_render(board_match_sql, mv, 6) : NULL;
    char *names_sql = wrc == 0 ? sqlt_render(board_names_sql, mv, 1) : NULL;
    free(top_kills);
    bytebuf_free(&values);
    bytebuf_free(&where);
    bytebuf_free(&mwhere);
    const char *settings = who ? DELTA_SETTINGS : "";
    bytebuf match = {0};
    char *parts[PARTS] = {daily ? with_values(daily, STAT_DAILY, settings) : NULL, NULL, NULL};
    if (match_sql && bytebuf_appendf(&match, "%s\n%sFORMAT TabSeparatedWithNames", match_sql, settings) == 0)
        parts[PART_MATCH] = match.data;
    free(daily);
    free(match_sql);
    bytebuf names = {0};
    if (names_sql && bytebuf_appendf(&names, "%s\n%sFORMAT TabSeparatedWithNames", names_sql, settings) == 0)
        parts[PART_NAMES] = names.data;
    free(names_sql);
    int rc = 0;
    for (int i = 0; i < PARTS; i++) {
        bytebuf b = {0};
        if (!parts[i] || bytebuf_appendf(&b, "%s%s", tag, parts[i]) != 0) {
            bytebuf_free(&b);
            rc = -ENOMEM;
        }
        sql[i] = b.data;
        free(parts[i]);
    }
    return rc;
}

/* ---- running a query set ---- */

typedef struct {
    board_set *set;
    qset *qs;
    int part;
} part_call;

static void on_part(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    (void)c;
    part_call *pc = arg;
    board_set *s = pc->set;
    qset *qs = pc->qs;
    int part = pc->part;
    free(pc);
    if (board_set_call_ended(s))
        return;
    if (err != 0) {
        log_warn("board %s: ClickHouse query failed (%ld): %.*s", qs->sl ? period_name(qs->sl->p) : "delta",
                 http_status, (int)(len > 300 ? 300 : len), body ? body : "");
        if (!qs->fail || err != -EPROTO)
            qs->fail = err == -EPROTO ? 500 : 503;
    } else if (!(qs->body[part] = malloc(len + 1))) {
        qs->fail = 500;
    } else {
        memcpy(qs->body[part], body, len);
        qs->body[part][len] = '\0';
    }
    if (--qs->pending == 0)
        board_qset_done(s, qs);
}

/* Send the three queries of the boards of periods ps. */
void board_qset_send(board_set *s, qset *qs, const period *ps, size_t np, const char *who, const char *tag)
{
    char *sql[PARTS];
    qs->fail = 0;
    qs->pending = PARTS + 1; /* + this function, so that a synchronous failure ends the build only once */
    int rc = board_sql(ps, np, who, tag, sql);
    for (int i = 0; i < PARTS; i++) {
        part_call *pc = rc == 0 ? malloc(sizeof *pc) : NULL;
        if (pc) {
            *pc = (part_call){s, qs, i};
            s->inflight++;
            if (ch_query(s->q->ch, sql[i], on_part, pc) == 0) {
                free(sql[i]);
                continue;
            }
            s->inflight--;
            free(pc);
        }
        qs->fail = 500;
        qs->pending--;
        free(sql[i]);
    }
    if (--qs->pending == 0)
        board_qset_done(s, qs);
}

/* Split a daily or match answer (TabSeparatedWithNames, the period index first) into one answer per period
 * (without that column), malloc'd into out[0..np-1]. -1 when it is not that. */
static int split_by_period(const char *text, size_t np, char *out[])
{
    bytebuf b[NPERIODS] = {{0}};
    const char *nl = strchr(text, '\n'), *tab = strchr(text, '\t');
    int rc = nl && tab && tab < nl && strncmp(text, "period\t", 7) == 0 ? 0 : -1;
    for (size_t i = 0; i < np && rc == 0; i++)
        rc = bytebuf_appendf(&b[i], "%.*s", (int)(nl + 1 - (tab + 1)), tab + 1);
    for (const char *line = nl ? nl + 1 : NULL; rc == 0 && line && *line;) {
        const char *end = strchr(line, '\n'), *t = strchr(line, '\t');
        if (!end)
            end = line + strlen(line);
        unsigned long idx = strtoul(line, NULL, 10);
        if (!t || t > end || idx < 1 || idx > np) {
            rc = -1;
            break;
        }
        rc = bytebuf_appendf(&b[idx - 1], "%.*s\n", (int)(end - (t + 1)), t + 1);
        line = *end ? end + 1 : NULL;
    }
    for (size_t i = 0; i < np; i++) {
        if (rc == 0 && !b[i].data)
            rc = bytebuf_appendf(&b[i], "%s", "");
        out[i] = rc == 0 ? b[i].data : NULL;
        if (rc != 0)
            bytebuf_free(&b[i]);
    }
    return rc;
}

/* The boards of an answer set: one per period of ps, into boards[] (NULL where it failed). The answers are
 * freed. Returns 0 or an HTTP status. */
int board_qset_boards(qset *qs, size_t np, board *boards[])
{
    char *daily[NPERIODS] = {0}, *match[NPERIODS] = {0};
    int status = qs->fail;
    for (size_t i = 0; i < np; i++)
        boards[i] = NULL;
    if (!status && (split_by_period(qs->body[PART_DAILY], np, daily) != 0 ||
                    split_by_period(qs->body[PART_MATCH], np, match) != 0))
        status = 500;
    for (size_t i = 0; i < np && !status; i++) {
        char *names = i + 1 < np ? strdup(qs->body[PART_NAMES]) : qs->body[PART_NAMES];
        if (i + 1 == np)
            qs->body[PART_NAMES] = NULL;
        boards[i] = names ? board_parse(daily[i], match[i], names) : NULL;
        if (!names) {
            free(daily[i]);
            free(match[i]);
        }
        daily[i] = match[i] = NULL;
        if (!boards[i])
            status = 500;
    }
    for (size_t i = 0; i < np; i++) {
        free(daily[i]);
        free(match[i]);
        if (status) {
            board_free(boards[i]);
            boards[i] = NULL;
        }
    }
    for (int i = 0; i < PARTS; i++) {
        free(qs->body[i]);
        qs->body[i] = NULL;
    }
    if (status == 500 && !qs->fail)
        log_warn("board %s: the ClickHouse answers are not the columns expected",
                 qs->sl ? period_name(qs->sl->p) : "delta");
    return status;
}
