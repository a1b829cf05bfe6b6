/* Leaderboard boards.
 *
 * Why: the forum's leaderboard page asks for 38 stats at once, and each ranking needs every player's totals
 * over the period. Ranking in ClickHouse re-aggregated the same totals for each stat, page and count (about
 * 10 s of ClickHouse 18.16 work for one page over 10 million events). A board is those totals for every
 * player, built by three queries run together (daily counters, per-match results, names); each stat, page
 * and count is then a sort in memory, kept per stat for the board's life.
 *
 * Freshness: a board serves for QUERY_CACHE_TTL_S, the answers' own cache time. A request that finds it
 * older starts a rebuild and, while the board is less than twice that old, is answered from it at once
 * (refresh ahead: steady traffic never waits for a build); an older board, or none, is waited for. Builds of
 * one period never overlap: every request arriving during a build waits for that build (single flight).
 * When a build fails (ClickHouse down), the waiters get the last board while it is younger than
 * QUERY_STALE_TTL_S, else the failure (503 or 500), and the answer cache may still serve its stale copies.
 * That is a queryd with QUERY_BOARD_WARM=0; by default boards are kept warm instead (see "keeping boards
 * warm" below): a timer rebuilds them and requests are answered from the board they find.
 *
 * Memory: one double per column (about 60) per player and period, e.g. 25 MB for 50,000 players all time. */
#include "board.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clickhouse.h"
#include "daemon.h"
#include "fresh.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "sqlt.h"

#define NPERIODS (PERIOD_YEAR + 1)
#define WARM_TICK_MS 1000
#define WARM_RETRY_MS 5000 /* after a failed build, before the warmer tries that period again */

enum { PART_DAILY, PART_MATCH, PART_NAMES, PARTS };

/* Every stat of one player (the daily and the match columns), over one period. */
typedef struct {
    const char *guid, *name; /* into the board's texts */
    double *v;               /* ncols values */
} bplayer;

struct board {
    size_t ncols;
    const char **cols; /* column names, daily then match; "v<i>" is the value of lb_stats[i] */
    bool *is_value;    /* cols that are stat values, not counters */
    int *stat_col;     /* lb_stats[i]'s value column, -1 if none */
    size_t n;
    bplayer *players;
    double *vals;
    size_t **order; /* per stat, computed on first use: rows on the board, best first */
    size_t *order_n;
    char *texts[PARTS]; /* the query answers, parsed in place */
    hashmap *rows;      /* guid -> row + 1 */
    size_t cap;         /* players (and ncols values each) that players and vals hold */
    char **owned;       /* guids and names added by deltas (board_apply), freed with the board */
    size_t nowned, owned_cap;
    uint64_t gen; /* the data generation (fresh.h) it counts every event of */
};

typedef struct slot slot;

/* The three queries of a build (one slot's board) or of a delta (every board), and their answers. */
typedef struct {
    slot *sl; /* the build's slot; NULL: the set's delta */
    char *body[PARTS];
    int pending, fail;
} qset;

typedef struct waiter {
    board_fn cb;
    void *arg;
    struct waiter *next;
} waiter;

struct slot {
    board_set *set;
    period p;
    board *cur;
    uint64_t built_at, started_at; /* loop time (ms) the current / the running build's queries were sent */
    uint64_t retry_at;             /* the warmer starts no build of this slot before (after a failure) */
    bool building;
    unsigned builds;
    unsigned boards; /* how many boards cur has been: a delta tells by it whether a build replaced its board */
    waiter *waiters;
    qset qs;                    /* the running build's queries */
    uint64_t build_gen;         /* the generation when the running build's queries were sent */
    hashmap *since_g, *since_m; /* players and matches touched since the running build started: re-read after
                                 * (values as touched_g's) */
    hashmap *changed;           /* players whose rows deltas changed while the build ran: copied into its board */
};

struct board_set {
    queryd *q;
    slot slots[NPERIODS];
    int inflight; /* queries in flight, and the warm timer while open; a closing set is freed by the last */
    bool closing;
    uv_timer_t warm; /* board_set_keep_warm's tick */
    bool warming;
    /* Deltas (see "keeping boards fresh" below). */
    /* Players and matches changed since the boards (or a delta) read them, each with the generation read before
     * the entry that first touched it (touch_val): every event up to that generation is on the boards for it. */
    hashmap *touched_g, *touched_m;
    bool delta_running;
    period delta_periods[NPERIODS]; /* the boards it re-reads */
    unsigned delta_base[NPERIODS];  /* ... which board they had when it started (slot.boards) */
    size_t ndelta;
    uint64_t delta_gen, delta_started, delta_retry_at;
    char **taken_g, **taken_m; /* the running delta's keys */
    size_t ntaken_g, ntaken_m;
    char **listed; /* taken_g and the players of taken_m (delta_match_players_sql), for its SQL */
    size_t nlisted;
    uint64_t taken_gen; /* the oldest of their generations (touched_g's values): what they go back with */
    qset dqs;
    unsigned deltas;
    metric *built, *failed, *seconds, *players, *delta_ok, *delta_failed, *delta_seconds, *delta_players;
};

/* ---- SQL ---- */

/* Per-match results of every player, for each of the periods asked for (period: 1 for the first, ...; ARRAY
 * JOIN counts a match in every period it started in; the periods are listed as [if(fms >= <bound>, 1, 0), ...]
 * because ClickHouse 18.16 cannot capture a subquery's column in a lambda): each (player, match) once, joined to its
 * match's result and, for finished free-for-all matches only, to the match's top kill count; then summed per player.
 * The same definitions as match_totals_render (stats.c), which serves one player's page; this form reads player_match
 * once instead of restricting every part to a player's matches, which costs three more passes over it when
 * the players are all of them. */
// clang-format off
static const char board_match_sql[] =
    "SELECT period, guid, count() AS games, sum(l - f) AS playtime_s, sum(r) AS rounds,\n"
    "       sum(tw OR fw) AS wins, sum(tw) AS team_wins, sum(fw) AS ffa_wins,\n"
    "       sum((tl OR fl) AND NOT (tw OR fw)) AS losses\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, f, l, r, fms,\n"
    "           toUInt64(winner IN ('allies', 'axis') AND team = winner) AS tw,\n"
    "           toUInt64(winner IN ('allies', 'axis') AND team IN ('allies', 'axis') AND team != winner) AS tl,\n"
    "           toUInt64(gametype = 'dm' AND ends > 0 AND k > 0 AND k = top_kills) AS fw,\n"
    "           toUInt64(gametype = 'dm' AND ends > 0 AND NOT (k > 0 AND k = top_kills)) AS fl\n"
    "    FROM\n"
    "    (\n"
    "        SELECT *\n"
    "        FROM\n"
    "        (\n"
    "            SELECT guid, match_key, argMaxMerge(team) AS team, sumMerge(kills) AS k,\n"
    "                   minMerge(first_t) AS f, maxMerge(last_t) AS l, minMerge(first_ms) AS fms\n"
    "            FROM player_match\n"
    "            WHERE " NOT_UNAUTH_SQL("guid") " AND {who}\n"
    "            GROUP BY guid, match_key\n"
    "            HAVING fms >= {bound_ms}\n"
    "        )\n"
    "        ANY LEFT JOIN\n"
    "        (\n"
    "            SELECT match_key, argMaxMerge(winner) AS winner,\n"
    "                   " GAMETYPE_SQL("argMaxMerge(gt)", "argMaxMerge(map)") " AS gametype,\n"
    "                   sumMerge(ends) AS ends, sumMerge(rounds) AS r\n"
    "            FROM match_summary\n"
    "            {matches_where}\n"
    "            GROUP BY match_key\n"
    "        ) USING match_key\n"
    "    )\n"
    "    ANY LEFT JOIN\n"
    "    (\n" TOP_KILLS_SQL("{matches_where}") "\n"
    "    ) USING match_key\n"
    ")\n"
    "ARRAY JOIN arrayFilter(x -> x > 0, {periods_of_match}) AS period\n"
    "GROUP BY period, guid";

static const char board_names_sql[] =
    "SELECT guid, argMax(name, last_ms) AS name\n"
    "FROM player_names\n"
    "WHERE " NOT_UNAUTH_SQL("guid") " AND {who}\n"
    "GROUP BY guid";

/* A delta's players ({who} above): the players an insert touched, and every player of the matches it touched
 * (a match's end decides all its players' wins and losses, and a free-for-all's top kill count too). The players of
 * the matches are read first (delta_match_players_sql) and listed: each table below is ordered by guid first, and
 * a plain list lets ClickHouse 18.16 read only their granules, where "guid IN (...) OR guid IN (subquery)" cost a
 * delta about seven times the CPU while ingest kept adding parts (the subquery ran once per use, five per delta).
 * The subquery form stays for a list that would be too long (DELTA_MAX_LISTED). */
static const char delta_who_listed_sql[] = "guid IN {guids}";
static const char delta_who_sql[] =
    "(guid IN {guids} OR guid IN (SELECT guid FROM match_players WHERE match_key IN {matches}))";
static const char delta_match_players_sql[] =
    "SELECT DISTINCT guid\n"
    "FROM match_players\n"
    "WHERE match_key IN {matches} AND " NOT_UNAUTH_SQL("guid") "\n"
    "FORMAT TabSeparated";
// clang-format on

/* "SELECT *, toFloat64(<value>) AS v<i>, ... FROM (<totals>)" for the stats of one source, malloc'd. */
static char *with_values(const char *totals, stat_source src)
{
    bytebuf b = {0};
    int rc = bytebuf_appendf(&b, "SELECT *");
    for (size_t i = 0; i < lb_stats_count && rc == 0; i++)
        if (lb_stats[i].source == src)
            rc = bytebuf_appendf(&b, ", toFloat64(%s) AS v%zu", lb_stats[i].value_sql, i);
    if (rc == 0)
        rc = bytebuf_appendf(&b, "\nFROM (%s)\nFORMAT TabSeparatedWithNames", totals);
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
    int wrc = bytebuf_appendf(&where, NOT_UNAUTH_SQL("guid") " AND %s", who ? who : "1");
    if (wrc == 0)
        wrc = who ? bytebuf_appendf(&mwhere, "WHERE match_key IN (SELECT match_key FROM player_match WHERE %s)", who)
                  : bytebuf_appendf(&mwhere, " ");
    sqlv dv[] = {SQL_RAW("where", where.data), SQL_STR("day_from", day_min)};
    sqlv mv[] = {SQL_INT("bound_ms", (long long)ms_min), SQL_RAW("who", who ? who : "1"),
                 SQL_RAW("matches_where", mwhere.data), SQL_RAW("periods_of_match", bounds)};
    /* Extended per period before its values go in: a GUID in who can be any text, the anchors' too. */
    char *daily_tmpl = wrc == 0 ? strdup(player_totals_sql) : NULL;
    if (daily_tmpl && daily_by_period(&daily_tmpl, days) != 0) {
        free(daily_tmpl);
        daily_tmpl = NULL;
    }
    char *daily = daily_tmpl ? sqlt_render(daily_tmpl, dv, 2) : NULL;
    free(daily_tmpl);
    char *match = wrc == 0 ? sqlt_render(board_match_sql, mv, 4) : NULL;
    char *names_sql = wrc == 0 ? sqlt_render(board_names_sql, mv + 1, 1) : NULL;
    bytebuf_free(&where);
    bytebuf_free(&mwhere);
    char *parts[PARTS] = {daily ? with_values(daily, STAT_DAILY) : NULL, match ? with_values(match, STAT_MATCH) : NULL,
                          NULL};
    free(daily);
    free(match);
    bytebuf names = {0};
    if (names_sql && bytebuf_appendf(&names, "%s\nFORMAT TabSeparatedWithNames", names_sql) == 0)
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

/* ---- parsing TabSeparatedWithNames in place ---- */

/* Undo TabSeparated escaping of s (NUL-terminated) in place. */
static void tsv_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '\\' || !r[1]) {
            *w++ = *r;
            continue;
        }
        r++;
        switch (*r) {
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case '0': *w++ = '\0'; break;
        default: *w++ = *r; break;
        }
    }
    *w = '\0';
}

/* Split the next line of *p into at most max tab-separated fields (NUL-terminated, unescaped). Returns the
 * field count, 0 at the end. */
static size_t tsv_line(char **p, char **fields, size_t max)
{
    char *s = *p;
    if (!s || !*s)
        return 0;
    char *nl = strchr(s, '\n');
    if (nl)
        *nl = '\0';
    *p = nl ? nl + 1 : NULL;
    size_t n = 0;
    while (n < max) {
        char *tab = strchr(s, '\t');
        if (tab)
            *tab = '\0';
        tsv_unescape(s);
        fields[n++] = s;
        if (!tab)
            break;
        s = tab + 1;
    }
    return n;
}

#define MAX_COLS 128

/* One parsed answer: its column names (the first is guid) and its rows' fields. */
typedef struct {
    char *cols[MAX_COLS];
    size_t ncols;
    char *next; /* the rows not read yet */
} tsv;

static int tsv_open(tsv *t, char *text)
{
    t->next = text;
    t->ncols = tsv_line(&t->next, t->cols, MAX_COLS);
    return t->ncols >= 2 && strcmp(t->cols[0], "guid") == 0 ? 0 : -1;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

void board_free(board *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->order && i < lb_stats_count; i++)
        free(b->order[i]);
    free(b->order);
    free(b->order_n);
    free(b->cols);
    free(b->is_value);
    free(b->stat_col);
    free(b->players);
    free(b->vals);
    for (int i = 0; i < PARTS; i++)
        free(b->texts[i]);
    if (b->rows)
        hashmap_free(b->rows, NULL);
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b);
}

/* The player row of guid, added (zeros) when new. */
static bplayer *player_of(board *b, hashmap *rows, const char *guid)
{
    void *v = hashmap_get(rows, guid, strlen(guid));
    if (v)
        return &b->players[(uintptr_t)v - 1];
    bplayer *p = &b->players[b->n];
    p->guid = guid;
    p->name = "";
    p->v = b->vals + b->n * b->ncols;
    b->n++;
    if (hashmap_put(rows, guid, strlen(guid), (void *)(uintptr_t)b->n, NULL) != 0)
        return NULL;
    return p;
}

/* The columns of one answer's rows into the board's columns from first on. */
static int read_rows(board *b, hashmap *rows, tsv *t, size_t first)
{
    char *f[MAX_COLS];
    size_t n;
    while ((n = tsv_line(&t->next, f, MAX_COLS)) > 0) {
        if (n != t->ncols)
            return -1;
        bplayer *p = player_of(b, rows, f[0]);
        if (!p)
            return -1;
        for (size_t c = 1; c < n; c++)
            p->v[first + c - 1] = strtod(f[c], NULL);
    }
    return 0;
}

board *board_parse(char *daily, char *match, char *names)
{
    char *text[PARTS] = {daily, match, names};
    board *b = calloc(1, sizeof *b);
    if (!b) {
        for (int i = 0; i < PARTS; i++)
            free(text[i]);
        return NULL;
    }
    memcpy(b->texts, text, sizeof b->texts);
    tsv t[PARTS];
    hashmap *rows = hashmap_new();
    size_t upper = count_lines(text[PART_DAILY]) + count_lines(text[PART_MATCH]);
    bool ok = rows && tsv_open(&t[PART_DAILY], text[PART_DAILY]) == 0 &&
              tsv_open(&t[PART_MATCH], text[PART_MATCH]) == 0 && tsv_open(&t[PART_NAMES], text[PART_NAMES]) == 0;
    if (ok) {
        b->ncols = t[PART_DAILY].ncols - 1 + t[PART_MATCH].ncols - 1;
        b->cols = calloc(b->ncols, sizeof *b->cols);
        b->is_value = calloc(b->ncols, sizeof *b->is_value);
        b->stat_col = malloc(lb_stats_count * sizeof *b->stat_col);
        b->order = calloc(lb_stats_count, sizeof *b->order);
        b->order_n = calloc(lb_stats_count, sizeof *b->order_n);
        b->players = calloc(upper + 1, sizeof *b->players);
        b->vals = calloc((upper + 1) * b->ncols, sizeof *b->vals);
        ok = b->cols && b->is_value && b->stat_col && b->order && b->order_n && b->players && b->vals;
    }
    if (ok) {
        size_t c = 0;
        for (int part = PART_DAILY; part <= PART_MATCH; part++)
            for (size_t i = 1; i < t[part].ncols; i++)
                b->cols[c++] = t[part].cols[i];
        for (size_t i = 0; i < lb_stats_count; i++) {
            char want[24];
            snprintf(want, sizeof want, "v%zu", i);
            b->stat_col[i] = -1;
            for (c = 0; c < b->ncols; c++)
                if (strcmp(b->cols[c], want) == 0) {
                    b->stat_col[i] = (int)c;
                    b->is_value[c] = true;
                }
            ok = ok && b->stat_col[i] >= 0;
        }
    }
    ok = ok && read_rows(b, rows, &t[PART_DAILY], 0) == 0 &&
         read_rows(b, rows, &t[PART_MATCH], t[PART_DAILY].ncols - 1) == 0;
    if (ok) {
        char *f[2];
        size_t n;
        while ((n = tsv_line(&t[PART_NAMES].next, f, 2)) > 0) {
            void *v = n == 2 ? hashmap_get(rows, f[0], strlen(f[0])) : NULL;
            if (v)
                b->players[(uintptr_t)v - 1].name = f[1];
        }
    }
    b->rows = rows;
    b->cap = upper + 1;
    if (!ok) {
        board_free(b);
        return NULL;
    }
    return b;
}

/* ---- building ---- */

typedef struct {
    board_set *set;
    qset *qs;
    int part;
} part_call;

static void qset_done(board_set *s, qset *qs);
static void warm_closed(uv_handle_t *h);
static slot *warm_next(board_set *s, uint64_t now);

static void on_part(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    (void)c;
    part_call *pc = arg;
    board_set *s = pc->set;
    qset *qs = pc->qs;
    int part = pc->part;
    free(pc);
    s->inflight--;
    if (s->closing) {
        if (s->inflight == 0)
            free(s);
        return;
    }
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
        qset_done(s, qs);
}

/* Send the three queries of the boards of periods ps. */
static void qset_send(board_set *s, qset *qs, const period *ps, size_t np, const char *who, const char *tag)
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
        qset_done(s, qs);
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
static int qset_boards(qset *qs, size_t np, board *boards[])
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

static void build_start(slot *sl)
{
    board_set *s = sl->set;
    char tag[64];
    sl->building = true;
    sl->builds++;
    sl->started_at = uv_now(s->q->loop);
    sl->build_gen = fresh_gen(s->q->fresh);
    /* Unique per build (process and count), so that the benchmark can replay each build's queries. */
    snprintf(tag, sizeof tag, "/* queryd board:%s:%ld.%u #0 */\n", period_name(sl->p), (long)getpid(), sl->builds);
    qset_send(s, &sl->qs, &sl->p, 1, NULL, tag);
}

/* Forget every key of m. */
static void keys_clear(hashmap *m)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;
    char **keys = NULL;
    size_t n = 0, cap = 0;
    while (hashmap_next(m, &pos, &k, &klen, &v)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(keys, cap * sizeof *keys);
            if (!grown)
                break;
            keys = grown;
        }
        keys[n++] = strndup(k, klen);
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i])
            hashmap_remove(m, keys[i], strlen(keys[i]));
        free(keys[i]);
    }
    free(keys);
}

/* The touched sets' values: a generation, stored + 1 so that generation 0 (nothing read yet) is not NULL. */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a generation is stored as a hashmap value");
static void *touch_val(uint64_t gen)
{
    return (void *)(uintptr_t)(gen + 1);
}

static uint64_t touch_gen(const void *v)
{
    return (uint64_t)(uintptr_t)v - 1;
}

/* Note key as touched at generation gen in m, keeping the older generation when it is already there. */
static void keys_note(hashmap *m, const char *key, size_t len, uint64_t gen)
{
    void *v = hashmap_get(m, key, len);
    if (!v || touch_gen(v) > gen)
        hashmap_put(m, key, len, touch_val(gen), NULL);
}

/* Add every key of from to to. */
static void keys_merge(hashmap *to, const hashmap *from)
{
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (hashmap_next(from, &pos, &k, &klen, &v))
        keys_note(to, k, klen, touch_gen(v));
}

/* The oldest generation of m's keys (UINT64_MAX when empty). */
static uint64_t keys_oldest(const hashmap *m)
{
    uint64_t oldest = UINT64_MAX;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (hashmap_next(m, &pos, &k, &klen, &v))
        if (touch_gen(v) < oldest)
            oldest = touch_gen(v);
    return oldest;
}

static void delta_kick(board_set *s);
static void delta_done(board_set *s);
static int board_copy_rows(board *to, const board *from, const hashmap *guids);

static void build_done(slot *sl)
{
    board_set *s = sl->set;
    sl->building = false;
    board *b = NULL;
    int status = qset_boards(&sl->qs, 1, &b);
    uint64_t now = uv_now(s->q->loop);
    if (b) {
        /* The build's queries ran while deltas kept the old board current: without the rows those deltas changed,
         * the new board would answer older totals than the old one did (a leaderboard going back in time until
         * the next delta). Copied over, the new board counts everything the old one did. */
        b->gen = sl->build_gen;
        if (sl->cur && board_copy_rows(b, sl->cur, sl->changed) == 0 && sl->cur->gen > b->gen)
            b->gen = sl->cur->gen;
        board_free(sl->cur);
        sl->cur = b;
        sl->boards++;
        sl->built_at = sl->started_at;
        metric_inc(s->built);
        metric_observe(s->seconds, (double)(now - sl->started_at) / 1000);
        metric_set(s->players, (double)b->n);
        /* What changed since the build's queries were sent may be missing from them: re-read it (a delta). */
        keys_merge(s->touched_g, sl->since_g);
        keys_merge(s->touched_m, sl->since_m);
    } else {
        metric_inc(s->failed);
        sl->retry_at = now + WARM_RETRY_MS;
        if (sl->cur && now - sl->built_at < (uint64_t)s->q->stale_ttl_s * 1000)
            status = 0; /* serve the last board */
    }
    keys_clear(sl->since_g);
    keys_clear(sl->since_m);
    keys_clear(sl->changed);
    waiter *w = sl->waiters;
    sl->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        w->cb(status ? NULL : sl->cur, status, w->arg);
        free(w);
        w = next;
    }
    delta_kick(s);
    /* Kept warm, the next board due is built as soon as this one is done, not at the warmer's next tick: a
     * queryd starting on an empty database is ready after five quick builds back to back (well under a
     * second), not after five ticks. A failed slot waits for its retry_at, so this chain always ends. */
    if (s->warming) {
        slot *next = warm_next(s, now);
        if (next)
            build_start(next);
    }
}

static void qset_done(board_set *s, qset *qs)
{
    if (qs->sl)
        build_done(qs->sl);
    else
        delta_done(s);
}

/* ---- keeping boards fresh: deltas ----
 *
 * Why: a board rebuilt every QUERY_BOARD_REFRESH_S is up to five minutes behind, and rebuilding all five boards
 * every second would cost ClickHouse about 9 s of work per second at 10 million events. Instead each insert's
 * players and matches (from the freshness stream, fresh.c) are re-read, for those players only: their totals,
 * computed by the builds' own three queries restricted to them (delta_who_sql) and for every period at once
 * (ARRAY JOIN over the periods' bounds: one pass, about the cost of one period), replace their rows, and the
 * rankings already sorted are merged, not re-sorted (order_update). The ClickHouse work is then proportional to
 * the players that changed (and their history in the aggregate tables), not to all that are stored. Rows are
 * replaced with totals, never incremented, so re-reading a player twice is harmless: that is what makes the
 * overlaps below safe.
 *
 * One delta runs at a time, alongside builds if they run (a build of 10 million events takes seconds; its board
 * must not hold back the one being served). A build's board then re-reads whatever was touched while it ran.
 * The full rebuild every QUERY_BOARD_REFRESH_S stays: it moves the period's start (yesterday's events leave the
 * day board) and repairs anything a lost stream entry left out.
 *
 * A board's generation (its answers are cached under it, cache.c) is one it counts every event of. A delta takes
 * at most DELTA_MAX_GUIDS players and DELTA_MAX_MATCHES matches (so that its SQL stays far under ClickHouse's
 * max_query_size), the oldest touched first; each touched key remembers the generation read before the entry
 * that touched it. After a delta the board counts every event up to the older of: the generation when the delta
 * started, and the oldest generation of the keys still waiting (every entry before that one had all its keys
 * re-read after it was in ClickHouse). So a delta that took only part of the keys still moves the generation as
 * far as it may, and one that took them all moves it to its start; a board changed without a new generation
 * would keep serving answers cached before the change. */
#define DELTA_MAX_GUIDS 2000
#define DELTA_MAX_MATCHES 400
#define DELTA_MAX_LISTED 6000 /* players listed in a delta's SQL (about 150 KB of its 256 KB max_query_size) */

typedef struct {
    const char *key;
    size_t len;
    uint64_t gen;
} touched_key;

static int touched_cmp(const void *a, const void *b)
{
    uint64_t x = ((const touched_key *)a)->gen, y = ((const touched_key *)b)->gen;
    return x < y ? -1 : x > y;
}

/* Take up to max keys out of m, the oldest first, into a malloc'd array (*n of them); *oldest becomes the oldest
 * generation taken if older. */
static char **keys_take(hashmap *m, size_t max, size_t *n, uint64_t *oldest)
{
    size_t total = hashmap_size(m), want = total < max ? total : max, got = 0;
    char **keys = calloc(want + 1, sizeof *keys);
    touched_key *all = want < total ? malloc(total * sizeof *all) : NULL;
    size_t pos = 0, klen, i = 0;
    const char *k;
    void *v;
    if (all) { /* only when some must stay */
        while (hashmap_next(m, &pos, &k, &klen, &v))
            all[i++] = (touched_key){k, klen, touch_gen(v)};
        qsort(all, total, sizeof *all, touched_cmp);
    }
    pos = 0;
    for (i = 0; keys && got < want; i++) {
        if (all) {
            k = all[i].key;
            klen = all[i].len;
            v = touch_val(all[i].gen);
        } else if (!hashmap_next(m, &pos, &k, &klen, &v)) {
            break;
        }
        if (!(keys[got] = strndup(k, klen)))
            break;
        if (touch_gen(v) < *oldest)
            *oldest = touch_gen(v);
        got++;
    }
    free(all);
    for (i = 0; i < got; i++)
        hashmap_remove(m, keys[i], strlen(keys[i]));
    *n = got;
    return keys;
}

/* Forget the running delta's list of players. */
static void taken_unlist(board_set *s)
{
    for (size_t i = 0; i < s->nlisted; i++)
        free(s->listed[i]);
    free(s->listed);
    s->listed = NULL;
    s->nlisted = 0;
}

static void taken_free(board_set *s)
{
    for (size_t i = 0; i < s->ntaken_g; i++)
        free(s->taken_g[i]);
    for (size_t i = 0; i < s->ntaken_m; i++)
        free(s->taken_m[i]);
    free(s->taken_g);
    free(s->taken_m);
    s->taken_g = s->taken_m = NULL;
    s->ntaken_g = s->ntaken_m = 0;
    taken_unlist(s);
}

/* The three queries of the running delta, of taken_g and listed (when listed is NULL: taken_g and the players of
 * taken_m by subquery). */
static void delta_send(board_set *s)
{
    char *who = NULL;
    if (s->listed) {
        sqlv lv[] = {SQL_LIST("guids", (const char *const *)s->listed, s->nlisted)};
        who = sqlt_render(delta_who_listed_sql, lv, 1);
    } else if (s->taken_g && s->taken_m) {
        sqlv wv[] = {SQL_LIST("guids", (const char *const *)s->taken_g, s->ntaken_g),
                     SQL_LIST("matches", (const char *const *)s->taken_m, s->ntaken_m)};
        who = sqlt_render(delta_who_sql, wv, 2);
    }
    if (!who) {
        s->dqs.fail = 500;
        delta_done(s);
        return;
    }
    char tag[64];
    /* Tagged boarddelta, so that the freshness benchmark can sum the deltas' ClickHouse work. */
    snprintf(tag, sizeof tag, "/* queryd boarddelta:%ld.%u #0 */\n", (long)getpid(), s->deltas);
    qset_send(s, &s->dqs, s->delta_periods, s->ndelta, who, tag);
    free(who);
}

/* Answer to delta_match_players_sql: list taken_g and those players, then send the delta's queries. */
static void on_match_players(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    (void)c;
    board_set *s = arg;
    s->inflight--;
    if (s->closing) {
        if (s->inflight == 0)
            free(s);
        return;
    }
    if (err != 0) {
        log_warn("board delta: ClickHouse query failed (%ld): %.*s", http_status, (int)(len > 300 ? 300 : len),
                 body ? body : "");
        s->dqs.fail = err == -EPROTO ? 500 : 503;
        delta_done(s);
        return;
    }
    size_t lines = count_lines(body), cap = s->ntaken_g + lines + 1;
    char *text = lines + s->ntaken_g <= DELTA_MAX_LISTED ? strndup(body ? body : "", len) : NULL;
    s->listed = text ? calloc(cap, sizeof *s->listed) : NULL;
    bool ok = s->listed != NULL;
    for (size_t i = 0; ok && i < s->ntaken_g; i++)
        ok = (s->listed[s->nlisted++] = strdup(s->taken_g[i])) != NULL;
    char *p = text, *f[1];
    while (ok && s->nlisted < cap && tsv_line(&p, f, 1) == 1)
        ok = (s->listed[s->nlisted++] = strdup(f[0])) != NULL;
    free(text);
    if (!ok) /* too many to list, or out of memory: the subquery form */
        taken_unlist(s);
    delta_send(s);
}

/* Start a delta when a board is behind what was touched. */
static void delta_kick(board_set *s)
{
    if (s->closing || s->delta_running || uv_now(s->q->loop) < s->delta_retry_at ||
        (hashmap_size(s->touched_g) == 0 && hashmap_size(s->touched_m) == 0))
        return;
    s->ndelta = 0;
    for (int p = 0; p < NPERIODS; p++)
        if (s->slots[p].cur) {
            s->delta_periods[s->ndelta] = (period)p;
            s->delta_base[s->ndelta++] = s->slots[p].boards;
        }
    if (s->ndelta == 0)
        return; /* no board yet: the first builds read everything */
    s->delta_gen = fresh_gen(s->q->fresh);
    s->taken_gen = UINT64_MAX;
    s->taken_g = keys_take(s->touched_g, DELTA_MAX_GUIDS, &s->ntaken_g, &s->taken_gen);
    s->taken_m = keys_take(s->touched_m, DELTA_MAX_MATCHES, &s->ntaken_m, &s->taken_gen);
    s->delta_running = true;
    s->deltas++;
    s->delta_started = uv_now(s->q->loop);
    if (s->ntaken_m == 0 && s->taken_g) { /* no match: the players are the list */
        s->listed = calloc(s->ntaken_g + 1, sizeof *s->listed);
        for (size_t i = 0; s->listed && i < s->ntaken_g; i++)
            if ((s->listed[s->nlisted] = strdup(s->taken_g[i])))
                s->nlisted++;
        if (s->listed && s->nlisted < s->ntaken_g)
            taken_unlist(s); /* out of memory: the subquery form, which lists taken_g itself */
        delta_send(s);
        return;
    }
    sqlv mv[] = {SQL_LIST("matches", (const char *const *)s->taken_m, s->ntaken_m)};
    char *sql = s->taken_m ? sqlt_render(delta_match_players_sql, mv, 1) : NULL;
    bytebuf b = {0};
    int rc = sql ? bytebuf_appendf(&b, "/* queryd boarddelta:%ld.%u #0 */\n%s", (long)getpid(), s->deltas, sql) : -1;
    free(sql);
    if (rc == 0) {
        s->inflight++;
        rc = ch_query(s->q->ch, b.data, on_match_players, s);
        if (rc != 0)
            s->inflight--;
    }
    bytebuf_free(&b);
    if (rc != 0) {
        s->dqs.fail = 500;
        delta_done(s);
    }
}

/* The running delta's keys back into the touched sets: the next delta reads them again. Each goes back with the
 * oldest generation taken (not its own, which was not kept): older than or as old as its own, so the boards'
 * generation waits for it. */
static void keys_requeue(board_set *s)
{
    for (size_t i = 0; i < s->ntaken_g; i++)
        keys_note(s->touched_g, s->taken_g[i], strlen(s->taken_g[i]), s->taken_gen);
    for (size_t i = 0; i < s->ntaken_m; i++)
        keys_note(s->touched_m, s->taken_m[i], strlen(s->taken_m[i]), s->taken_gen);
}

static void delta_done(board_set *s)
{
    s->delta_running = false;
    board *d[NPERIODS] = {0};
    int status = qset_boards(&s->dqs, s->ndelta, d);
    size_t players = 0;
    bool again = false; /* a board the delta's totals are older than: its keys are read again */
    bool applied[NPERIODS] = {0};
    for (size_t i = 0; i < s->ndelta && status == 0; i++) {
        slot *sl = &s->slots[s->delta_periods[i]];
        bool replaced = sl->boards != s->delta_base[i];
        /* A build that replaced the board was sent after this delta: its totals are newer than the delta's, which
         * would take its players back in time. Rows are totals, so a build sent before the delta is older and
         * the delta's rows go onto the new board. */
        if (replaced && sl->built_at >= s->delta_started) {
            again = true;
            continue;
        }
        if (!sl->cur || board_apply(sl->cur, d[i], (const char *const *)s->taken_g, s->ntaken_g) != 0) {
            status = 500;
            break;
        }
        applied[i] = !replaced;
        if (sl->building) {
            for (size_t r = 0; r < d[i]->n; r++)
                hashmap_put(sl->changed, d[i]->players[r].guid, strlen(d[i]->players[r].guid), (void *)1, NULL);
            for (size_t g = 0; g < s->ntaken_g; g++)
                hashmap_put(sl->changed, s->taken_g[g], strlen(s->taken_g[g]), (void *)1, NULL);
        }
        players += d[i]->n;
    }
    for (size_t i = 0; i < s->ndelta; i++)
        board_free(d[i]);
    uint64_t now = uv_now(s->q->loop);
    if (status == 0 && again)
        keys_requeue(s);
    if (status == 0) {
        /* See "A board's generation" above: what every key still waiting allows, and no further than the delta. */
        uint64_t gen = s->delta_gen, g = keys_oldest(s->touched_g), m = keys_oldest(s->touched_m);
        gen = g < gen ? g : gen;
        gen = m < gen ? m : gen;
        for (size_t i = 0; i < s->ndelta; i++) {
            slot *sl = &s->slots[s->delta_periods[i]];
            if (applied[i] && sl->cur && gen > sl->cur->gen)
                sl->cur->gen = gen;
        }
        metric_inc(s->delta_ok);
        metric_observe(s->delta_seconds, (double)(now - s->delta_started) / 1000);
        metric_add(s->delta_players, (double)players);
    } else {
        /* Keep the keys for the next try (ClickHouse down: the warmer's tick tries again after WARM_RETRY_MS).
         * Boards already applied are simply read again. */
        keys_requeue(s);
        metric_inc(s->delta_failed);
        s->delta_retry_at = now + WARM_RETRY_MS;
    }
    taken_free(s);
    delta_kick(s);
}

void board_set_touched(board_set *s, uint64_t before, const char *guids, size_t glen, const char *matches,
                       size_t mlen)
{
    /* Without a board (QUERY_BOARD_WARM=0 and no leaderboard asked for yet) there is nothing to re-read: the
     * first build reads everything. Keeping the keys would only grow the map. */
    bool boards = false, any = false;
    for (int i = 0; i < NPERIODS; i++) {
        boards = boards || s->slots[i].cur;
        any = any || s->slots[i].cur || s->slots[i].building;
    }
    if (!any)
        return;
    const char *lists[2] = {guids, matches};
    size_t lens[2] = {glen, mlen};
    for (int l = 0; l < 2; l++) {
        const char *p = lists[l], *end = lists[l] + lens[l];
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((nl ? nl : end) - p);
            char *key = n ? strndup(p, n) : NULL;
            if (key) {
                tsv_unescape(key);
                if (boards)
                    keys_note(l == 0 ? s->touched_g : s->touched_m, key, strlen(key), before);
                for (int i = 0; i < NPERIODS; i++)
                    if (s->slots[i].building)
                        keys_note(l == 0 ? s->slots[i].since_g : s->slots[i].since_m, key, strlen(key), before);
            }
            free(key);
            p += n + 1;
        }
    }
    delta_kick(s);
}

uint64_t board_set_gen(const board_set *s, period p)
{
    return s->slots[p].cur ? s->slots[p].cur->gen : 0;
}

void board_get(board_set *s, period p, board_fn cb, void *arg)
{
    slot *sl = &s->slots[p];
    uint64_t now = uv_now(s->q->loop), ttl = (uint64_t)s->q->cache_ttl_s * 1000;
    uint64_t age = sl->cur ? now - sl->built_at : UINT64_MAX;
    /* Kept warm, a board is rebuilt by the warmer alone; while its builds fail (ClickHouse down), the last one
     * serves for up to QUERY_STALE_TTL_S, as below. */
    if (age < ttl || (s->warming && age < (uint64_t)s->q->stale_ttl_s * 1000)) {
        cb(sl->cur, 0, arg);
        return;
    }
    bool serve_now = age < 2 * ttl;
    if (!serve_now) {
        waiter *w = malloc(sizeof *w);
        if (!w) {
            cb(NULL, 500, arg);
            return;
        }
        *w = (waiter){cb, arg, sl->waiters};
        sl->waiters = w;
    }
    if (!sl->building)
        build_start(sl);
    if (serve_now)
        cb(sl->cur, 0, arg);
}

board_set *board_set_new(queryd *q)
{
    board_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->q = q;
    for (int p = 0; p < NPERIODS; p++) {
        slot *sl = &s->slots[p];
        sl->set = s;
        sl->p = (period)p;
        sl->qs.sl = sl;
        sl->since_g = hashmap_new();
        sl->since_m = hashmap_new();
        sl->changed = hashmap_new();
    }
    s->touched_g = hashmap_new();
    s->touched_m = hashmap_new();
    bool ok = s->touched_g && s->touched_m;
    for (int p = 0; p < NPERIODS; p++)
        ok = ok && s->slots[p].since_g && s->slots[p].since_m && s->slots[p].changed;
    if (!ok) {
        board_set_free(s);
        return NULL;
    }
    s->delta_ok = metrics_counter("queryd_board_deltas_total", "Leaderboard deltas applied", "result=\"ok\"");
    s->delta_failed = metrics_counter("queryd_board_deltas_total", "Leaderboard deltas applied", "result=\"error\"");
    s->delta_seconds = metrics_histogram("queryd_board_delta_seconds", "Time to re-read the players of a delta", NULL,
                                         metrics_latency_buckets, metrics_latency_nbuckets);
    s->delta_players = metrics_counter("queryd_board_delta_players_total", "Players re-read by deltas", NULL);
    s->built = metrics_counter("queryd_board_builds_total", "Leaderboard boards built", "result=\"ok\"");
    s->failed = metrics_counter("queryd_board_builds_total", "Leaderboard boards built", "result=\"error\"");
    s->seconds = metrics_histogram("queryd_board_build_seconds", "Time to build a leaderboard board", NULL,
                                   metrics_latency_buckets, metrics_latency_nbuckets);
    s->players = metrics_gauge("queryd_board_players", "Players on the last board built", NULL);
    return s;
}

void board_set_free(board_set *s)
{
    if (!s)
        return;
    for (int p = 0; p < NPERIODS; p++) {
        slot *sl = &s->slots[p];
        board_free(sl->cur);
        for (int i = 0; i < PARTS; i++)
            free(sl->qs.body[i]);
        if (sl->since_g)
            hashmap_free(sl->since_g, NULL);
        if (sl->since_m)
            hashmap_free(sl->since_m, NULL);
        if (sl->changed)
            hashmap_free(sl->changed, NULL);
        while (sl->waiters) {
            waiter *next = sl->waiters->next;
            free(sl->waiters);
            sl->waiters = next;
        }
    }
    for (int i = 0; i < PARTS; i++)
        free(s->dqs.body[i]);
    taken_free(s);
    if (s->touched_g)
        hashmap_free(s->touched_g, NULL);
    if (s->touched_m)
        hashmap_free(s->touched_m, NULL);
    s->closing = true;
    if (s->warming) { /* the daemon never ran its stop hooks (it failed to start) */
        s->warming = false;
        uv_close((uv_handle_t *)&s->warm, warm_closed);
    }
    if (s->inflight == 0)
        free(s);
}

/* ---- keeping boards warm ----
 *
 * Why: a board of 10 million events takes ClickHouse 18.16 up to two seconds to build, far over what one
 * leaderboard request may take. A queryd that keeps its boards warm builds every period's board at start,
 * one after another, says it is not ready until all five exist, and from then on rebuilds each board when it
 * is QUERY_BOARD_REFRESH_S old: requests are always answered from the board in memory (board_get), never
 * after a build. The cost is five builds per QUERY_BOARD_REFRESH_S, with or without traffic (about 9 s of
 * ClickHouse work on 10 million events, hence a default of minutes, not seconds). */

/* The slot the warmer should build now: none while any build runs (one at a time, so that the warmer never
 * takes more than one ClickHouse query set), else the one without a board or with the oldest expired one. */
static slot *warm_next(board_set *s, uint64_t now)
{
    uint64_t refresh = (uint64_t)s->q->board_refresh_s * 1000;
    slot *pick = NULL;
    for (int p = 0; p < NPERIODS; p++) {
        slot *sl = &s->slots[p];
        if (sl->building)
            return NULL;
        bool due = !sl->cur || now - sl->built_at >= refresh;
        if (due && now >= sl->retry_at && (!pick || (sl->cur && pick->cur && sl->built_at < pick->built_at) ||
                                           (!sl->cur && pick->cur)))
            pick = sl;
    }
    return pick;
}

static void warm_tick(uv_timer_t *t)
{
    board_set *s = t->data;
    slot *sl = warm_next(s, uv_now(s->q->loop));
    if (sl)
        build_start(sl);
    delta_kick(s); /* after a failed delta's WARM_RETRY_MS */
}

static void warm_closed(uv_handle_t *h)
{
    board_set *s = h->data;
    if (--s->inflight == 0 && s->closing)
        free(s);
}

/* Shutdown: the timer would keep the loop turning. Builds in flight end with the ClickHouse client. */
static void warm_stop(void *arg, void *token, void (*done)(void *token))
{
    board_set *s = arg;
    if (s->warming) {
        s->warming = false;
        uv_close((uv_handle_t *)&s->warm, warm_closed);
    }
    done(token);
}

/* /ready: every period's board built once. */
static void warm_probe(void *arg, void *token, probe_done_fn done)
{
    board_set *s = arg;
    int missing = 0;
    for (int p = 0; p < NPERIODS; p++)
        missing += s->slots[p].cur == NULL;
    char detail[64];
    snprintf(detail, sizeof detail, "%d of %d leaderboard boards not built yet", missing, NPERIODS);
    done(token, missing == 0, missing ? detail : NULL);
}

int board_set_keep_warm(board_set *s, daemon_ctx *d)
{
    int rc = uv_timer_init(s->q->loop, &s->warm);
    if (rc != 0)
        return rc;
    s->warm.data = s;
    s->inflight++;
    s->warming = true;
    uv_timer_start(&s->warm, warm_tick, 0, WARM_TICK_MS);
    daemon_add_ready_check(d, "boards", warm_probe, s);
    daemon_add_stop_hook(d, warm_stop, s);
    return 0;
}

/* ---- ranking ---- */

typedef struct {
    double v;
    const char *guid;
    size_t row;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return strcmp(x->guid, y->guid);
}

/* Sort the stat's board once: value descending, then guid, as the SQL rankings did. */
static int board_order(board *b, size_t si)
{
    if (b->order[si] || b->n == 0)
        return 0;
    int col = b->stat_col[si];
    ranked *r = malloc(b->n * sizeof *r);
    if (!r)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->players[i].v[col] > 0)
            r[n++] = (ranked){b->players[i].v[col], b->players[i].guid, i};
    qsort(r, n, sizeof *r, ranked_cmp);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        free(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = r[i].row;
    free(r);
    b->order[si] = order;
    b->order_n[si] = n;
    return 0;
}

size_t board_rank(const board *cb, const lb_stat *st, size_t offset, size_t max, size_t *out, size_t *total)
{
    board *b = (board *)cb; /* the order is a cache: filling it does not change the board */
    size_t si = (size_t)(st - lb_stats);
    *total = 0;
    if (board_order(b, si) != 0)
        return 0;
    *total = b->order_n[si];
    size_t n = 0;
    for (size_t i = offset; i < b->order_n[si] && n < max; i++)
        out[n++] = b->order[si][i];
    return n;
}

uint64_t board_gen(const board *b)
{
    return b->gen;
}

const char *board_guid(const board *b, size_t row)
{
    return b->players[row].guid;
}

const char *board_name(const board *b, size_t row)
{
    return b->players[row].name;
}

double board_value(const board *b, size_t row, const lb_stat *st)
{
    return b->players[row].v[b->stat_col[st - lb_stats]];
}

cJSON *board_stats_json(const board *b, size_t row)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t c = 0; c < b->ncols; c++)
        if (!b->is_value[c])
            cJSON_AddNumberToObject(o, b->cols[c], b->players[row].v[c]);
    cJSON *stats = player_stats_json(o, o);
    cJSON_Delete(o);
    return stats;
}

/* ---- applying a delta ---- */

/* Room for one more player: players and vals grow together, and every row's values pointer follows vals. */
static int board_grow(board *b)
{
    if (b->n < b->cap)
        return 0;
    size_t cap = b->cap * 2 + 16;
    bplayer *players = realloc(b->players, cap * sizeof *players);
    if (!players)
        return -ENOMEM;
    b->players = players;
    double *vals = realloc(b->vals, cap * b->ncols * sizeof *vals);
    if (!vals)
        return -ENOMEM;
    b->vals = vals;
    for (size_t i = 0; i < b->n; i++)
        b->players[i].v = b->vals + i * b->ncols;
    b->cap = cap;
    return 0;
}

/* A copy of s that lives as long as the board. */
static const char *board_own(board *b, const char *s)
{
    if (b->nowned == b->owned_cap) {
        size_t cap = b->owned_cap ? b->owned_cap * 2 : 64;
        char **owned = realloc(b->owned, cap * sizeof *owned);
        if (!owned)
            return NULL;
        b->owned = owned;
        b->owned_cap = cap;
    }
    char *copy = strdup(s);
    if (copy)
        b->owned[b->nowned++] = copy;
    return copy;
}

/* Re-rank the rows in touched (whose values changed) in stat si's order: the other rows keep their order, the
 * changed ones are sorted among themselves and merged in. O(board + changed log changed) per stat, instead of a
 * sort of the whole board. */
static int order_update(board *b, size_t si, const size_t *touched, size_t nt, const bool *is_touched)
{
    int col = b->stat_col[si];
    ranked *r = malloc((nt ? nt : 1) * sizeof *r);
    size_t *out = malloc((b->order_n[si] + nt + 1) * sizeof *out);
    if (!r || !out) {
        free(r);
        free(out);
        return -ENOMEM;
    }
    size_t nr = 0;
    for (size_t i = 0; i < nt; i++)
        if (b->players[touched[i]].v[col] > 0)
            r[nr++] = (ranked){b->players[touched[i]].v[col], b->players[touched[i]].guid, touched[i]};
    qsort(r, nr, sizeof *r, ranked_cmp);
    const size_t *old = b->order[si];
    size_t i = 0, j = 0, k = 0, n_old = b->order_n[si];
    for (;;) {
        while (i < n_old && is_touched[old[i]])
            i++;
        if (i >= n_old && j >= nr)
            break;
        ranked o = {0};
        if (i < n_old)
            o = (ranked){b->players[old[i]].v[col], b->players[old[i]].guid, old[i]};
        if (i < n_old && (j >= nr || ranked_cmp(&o, &r[j]) <= 0))
            out[k++] = old[i++];
        else
            out[k++] = r[j++].row;
    }
    free(r);
    free(b->order[si]);
    b->order[si] = out;
    b->order_n[si] = k;
    return 0;
}

int board_apply(board *b, const board *d, const char *const *guids, size_t nguids)
{
    if (d->ncols != b->ncols)
        return -EINVAL;
    for (size_t c = 0; c < b->ncols; c++)
        if (strcmp(b->cols[c], d->cols[c]) != 0)
            return -EINVAL;
    size_t *touched = malloc((d->n + nguids + 1) * sizeof *touched), nt = 0;
    if (!touched)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < d->n && rc == 0; i++) {
        const bplayer *dp = &d->players[i];
        void *v = hashmap_get(b->rows, dp->guid, strlen(dp->guid));
        size_t row;
        if (v) {
            row = (uintptr_t)v - 1;
        } else {
            const char *guid = board_grow(b) == 0 ? board_own(b, dp->guid) : NULL;
            if (!guid || hashmap_put(b->rows, guid, strlen(guid), (void *)(uintptr_t)(b->n + 1), NULL) != 0) {
                rc = -ENOMEM;
                break;
            }
            row = b->n++;
            b->players[row] = (bplayer){guid, "", b->vals + row * b->ncols};
        }
        bplayer *p = &b->players[row];
        memcpy(p->v, dp->v, b->ncols * sizeof *p->v);
        if (dp->name[0] && strcmp(p->name, dp->name) != 0) {
            const char *name = board_own(b, dp->name);
            if (name)
                p->name = name;
        }
        touched[nt++] = row;
    }
    /* A touched player the delta no longer finds in the period has nothing to count there any more. */
    for (size_t i = 0; i < nguids && rc == 0; i++) {
        if (hashmap_get(d->rows, guids[i], strlen(guids[i])))
            continue;
        void *v = hashmap_get(b->rows, guids[i], strlen(guids[i]));
        if (v) {
            size_t row = (uintptr_t)v - 1;
            memset(b->players[row].v, 0, b->ncols * sizeof(double));
            touched[nt++] = row;
        }
    }
    bool *is_touched = rc == 0 ? calloc(b->n + 1, sizeof *is_touched) : NULL;
    if (rc == 0 && !is_touched)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < nt; i++)
        is_touched[touched[i]] = true;
    for (size_t si = 0; rc == 0 && si < lb_stats_count; si++)
        if (b->order[si])
            rc = order_update(b, si, touched, nt, is_touched);
    if (rc != 0) /* the orders may be out of date: sort again on next use */
        for (size_t si = 0; si < lb_stats_count; si++) {
            free(b->order[si]);
            b->order[si] = NULL;
            b->order_n[si] = 0;
        }
    free(is_touched);
    free(touched);
    return rc;
}

/* Copy the rows of guids (a set) from one board to another (added when missing there; zeroed when from lacks
 * them). The rankings of to are sorted again on next use. 0 or -ENOMEM. */
static int board_copy_rows(board *to, const board *from, const hashmap *guids)
{
    if (to->ncols != from->ncols)
        return -EINVAL;
    size_t pos = 0, klen;
    const char *k;
    void *v;
    while (hashmap_next(guids, &pos, &k, &klen, &v)) {
        void *fv = hashmap_get(from->rows, k, klen), *tv = hashmap_get(to->rows, k, klen);
        const bplayer *fp = fv ? &from->players[(uintptr_t)fv - 1] : NULL;
        if (!tv && !fp)
            continue;
        size_t row;
        if (tv) {
            row = (uintptr_t)tv - 1;
        } else {
            const char *guid = board_grow(to) == 0 ? board_own(to, fp->guid) : NULL;
            if (!guid || hashmap_put(to->rows, guid, strlen(guid), (void *)(uintptr_t)(to->n + 1), NULL) != 0)
                return -ENOMEM;
            row = to->n++;
            to->players[row] = (bplayer){guid, "", to->vals + row * to->ncols};
        }
        bplayer *tp = &to->players[row];
        if (fp) {
            memcpy(tp->v, fp->v, to->ncols * sizeof *tp->v);
            if (fp->name[0] && strcmp(tp->name, fp->name) != 0) {
                const char *name = board_own(to, fp->name);
                if (name)
                    tp->name = name;
            }
        } else {
            memset(tp->v, 0, to->ncols * sizeof *tp->v);
        }
    }
    for (size_t si = 0; si < lb_stats_count; si++) {
        free(to->order[si]);
        to->order[si] = NULL;
        to->order_n[si] = 0;
    }
    return 0;
}
