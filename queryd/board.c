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
};

typedef struct waiter {
    board_fn cb;
    void *arg;
    struct waiter *next;
} waiter;

typedef struct {
    board_set *set;
    period p;
    board *cur;
    uint64_t built_at, started_at; /* loop time (ms) the current / the running build's queries were sent */
    uint64_t retry_at;             /* the warmer starts no build of this slot before (after a failure) */
    bool building;
    unsigned builds;
    waiter *waiters;
    char *body[PARTS];
    size_t len[PARTS];
    int pending, fail;
} slot;

struct board_set {
    queryd *q;
    slot slots[NPERIODS];
    int inflight; /* queries in flight, and the warm timer while open; a closing set is freed by the last */
    bool closing;
    uv_timer_t warm; /* board_set_keep_warm's tick */
    bool warming;
    metric *built, *failed, *seconds, *players;
};

/* ---- SQL ---- */

/* Per-match results of every player: each (player, match) once, joined to its match's result and, for
 * finished free-for-all matches only, to the match's top kill count; then summed per player. The same
 * definitions as match_totals_render (stats.c), which serves one player's page; this form reads player_match
 * once instead of restricting every part to a player's matches, which costs three more passes over it when
 * the players are all of them. */
// clang-format off
static const char board_match_sql[] =
    "SELECT guid, count() AS games, sum(l - f) AS playtime_s, sum(r) AS rounds,\n"
    "       sum(tw OR fw) AS wins, sum(tw) AS team_wins, sum(fw) AS ffa_wins,\n"
    "       sum((tl OR fl) AND NOT (tw OR fw)) AS losses\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, f, l, r,\n"
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
    "                   minMerge(first_t) AS f, maxMerge(last_t) AS l\n"
    "            FROM player_match\n"
    "            WHERE " NOT_UNAUTH_SQL("guid") "\n"
    "            GROUP BY guid, match_key\n"
    "            HAVING minMerge(first_ms) >= {bound_ms}\n"
    "        )\n"
    "        ANY LEFT JOIN\n"
    "        (\n"
    "            SELECT match_key, argMaxMerge(winner) AS winner,\n"
    "                   " GAMETYPE_SQL("argMaxMerge(gt)", "argMaxMerge(map)") " AS gametype,\n"
    "                   sumMerge(ends) AS ends, sumMerge(rounds) AS r\n"
    "            FROM match_summary\n"
    "            GROUP BY match_key\n"
    "        ) USING match_key\n"
    "    )\n"
    "    ANY LEFT JOIN\n"
    "    (\n" TOP_KILLS_SQL("") "\n"
    "    ) USING match_key\n"
    ")\n"
    "GROUP BY guid";

static const char board_names_sql[] =
    "SELECT guid, argMax(name, last_ms) AS name\n"
    "FROM player_names\n"
    "WHERE " NOT_UNAUTH_SQL("guid") "\n"
    "GROUP BY guid";
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

/* The three queries of period p's board, tagged for system.query_log like the jobs' queries. */
static int board_sql(const slot *sl, char *sql[PARTS])
{
    char day[11], tag[64];
    uint64_t ms;
    period_bound(sl->p, (int64_t)time(NULL), day, &ms);
    /* Unique per build (process and count), so that the benchmark can replay each build's queries. */
    snprintf(tag, sizeof tag, "/* queryd board:%s:%ld.%u #0 */\n", period_name(sl->p), (long)getpid(), sl->builds);
    sqlv dv[] = {SQL_RAW("where", NOT_UNAUTH_SQL("guid")), SQL_STR("day_from", day)};
    sqlv mv[] = {SQL_INT("bound_ms", (long long)ms)};
    char *daily = sqlt_render(player_totals_sql, dv, 2);
    char *match = sqlt_render(board_match_sql, mv, 1);
    char *parts[PARTS] = {daily ? with_values(daily, STAT_DAILY) : NULL, match ? with_values(match, STAT_MATCH) : NULL,
                          NULL};
    free(daily);
    free(match);
    bytebuf names = {0};
    if (bytebuf_appendf(&names, "%s\nFORMAT TabSeparatedWithNames", board_names_sql) == 0)
        parts[PART_NAMES] = names.data;
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
    hashmap_free(rows, NULL);
    if (!ok) {
        board_free(b);
        return NULL;
    }
    return b;
}

/* ---- building ---- */

typedef struct {
    slot *sl;
    int part;
} part_call;

static void build_done(slot *sl);
static void warm_closed(uv_handle_t *h);
static slot *warm_next(board_set *s, uint64_t now);

static void on_part(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    part_call *pc = arg;
    slot *sl = pc->sl;
    board_set *s = sl->set;
    int part = pc->part;
    free(pc);
    s->inflight--;
    if (s->closing) {
        if (s->inflight == 0)
            free(s);
        return;
    }
    if (err != 0) {
        log_warn("board %s: ClickHouse query failed (%ld): %.*s", period_name(sl->p), http_status,
                 (int)(len > 300 ? 300 : len), body ? body : "");
        if (!sl->fail || err != -EPROTO)
            sl->fail = err == -EPROTO ? 500 : 503;
    } else if (!(sl->body[part] = malloc(len + 1))) {
        sl->fail = 500;
    } else {
        memcpy(sl->body[part], body, len);
        sl->body[part][len] = '\0';
    }
    if (--sl->pending == 0)
        build_done(sl);
}

static void build_start(slot *sl)
{
    board_set *s = sl->set;
    char *sql[PARTS];
    sl->building = true;
    sl->fail = 0;
    sl->builds++;
    sl->started_at = uv_now(s->q->loop);
    sl->pending = PARTS + 1; /* + this function, so that a synchronous failure ends the build only once */
    int rc = board_sql(sl, sql);
    for (int i = 0; i < PARTS; i++) {
        part_call *pc = rc == 0 ? malloc(sizeof *pc) : NULL;
        if (pc) {
            pc->sl = sl;
            pc->part = i;
            s->inflight++;
            if (ch_query(s->q->ch, sql[i], on_part, pc) == 0) {
                free(sql[i]);
                continue;
            }
            s->inflight--;
            free(pc);
        }
        sl->fail = 500;
        sl->pending--;
        free(sql[i]);
    }
    if (--sl->pending == 0)
        build_done(sl);
}

static void build_done(slot *sl)
{
    board_set *s = sl->set;
    sl->building = false;
    int status = sl->fail;
    board *b = NULL;
    if (!status) {
        b = board_parse(sl->body[PART_DAILY], sl->body[PART_MATCH], sl->body[PART_NAMES]);
        memset(sl->body, 0, sizeof sl->body);
        if (!b) {
            log_warn("board %s: the ClickHouse answers are not the columns expected", period_name(sl->p));
            status = 500;
        }
    }
    for (int i = 0; i < PARTS; i++) {
        free(sl->body[i]);
        sl->body[i] = NULL;
    }
    uint64_t now = uv_now(s->q->loop);
    if (b) {
        board_free(sl->cur);
        sl->cur = b;
        sl->built_at = sl->started_at;
        metric_inc(s->built);
        metric_observe(s->seconds, (double)(now - sl->started_at) / 1000);
        metric_set(s->players, (double)b->n);
    } else {
        metric_inc(s->failed);
        sl->retry_at = now + WARM_RETRY_MS;
        if (sl->cur && now - sl->built_at < (uint64_t)s->q->stale_ttl_s * 1000)
            status = 0; /* serve the last board */
    }
    waiter *w = sl->waiters;
    sl->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        w->cb(status ? NULL : sl->cur, status, w->arg);
        free(w);
        w = next;
    }
    /* Kept warm, the next board due is built as soon as this one is done, not at the warmer's next tick: a
     * queryd starting on an empty database is ready after five quick builds back to back (well under a
     * second), not after five ticks. A failed slot waits for its retry_at, so this chain always ends. */
    if (s->warming) {
        slot *next = warm_next(s, now);
        if (next)
            build_start(next);
    }
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
        s->slots[p].set = s;
        s->slots[p].p = (period)p;
    }
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
            free(sl->body[i]);
        while (sl->waiters) {
            waiter *next = sl->waiters->next;
            free(sl->waiters);
            sl->waiters = next;
        }
    }
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
