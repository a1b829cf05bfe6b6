/* Finished matches and their facts, from the aggregates of 0010_rating_facts.sql or raw_events (facts.h). */
#include "facts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "game_vocab.h"
#include "log.h"
#include "text.h"

/* A match's events are read from at most this long before its end: twelve hours is longer than any match a
 * server's gameflow runs, and it lets a step read only the recent parts of raw_events. */
#define MATCH_WINDOW_MS (12ull * 3600 * 1000)

/* The matches due, in rating order. Ended matches from their match_end events (few: the first key of raw_events'
 * order makes this a small read); matches that never ended from match_summary, once idle. {after} and {unrated}
 * are extra conditions, {settle_ms}, {idle_ms} and {limit} numbers. now() is ClickHouse's clock, the same
 * machine's as ingestd's receive times in a stack; across machines their skew adds to RATING_SETTLE_MS. */
// clang-format off
static const char due_sql[] =
    "SELECT match_key, end_ms, ended FROM\n"
    "(\n"
    "    SELECT match_key, min(toUInt64(received_at) * 1000 + received_ms) AS end_ms, toUInt8(1) AS ended\n"
    "    FROM raw_events\n"
    "    WHERE event_type = 'match_end'\n"
    "    GROUP BY match_key\n"
    "    HAVING end_ms + %d <= toUInt64(now()) * 1000\n"
    "    UNION ALL\n"
    "    SELECT match_key, maxMerge(last_ms) AS end_ms, toUInt8(0) AS ended\n"
    "    FROM match_summary\n"
    "    %s\n"
    "    GROUP BY match_key\n"
    "    HAVING sumMerge(ends) = 0 AND end_ms + %lld <= toUInt64(now()) * 1000\n"
    ")\n"
    "WHERE 1 %s %s\n"
    "ORDER BY end_ms, match_key\n"
    "LIMIT %zu\n"
    "FORMAT TabSeparated";

/* The facts of matches whose events all fall within their windows, from the aggregates kept at insert time
 * (schemas/clickhouse/0010_rating_facts.sql): the same expressions as the raw_events queries below, so the same
 * bytes. {keys} is a tuple of match keys (18.16's IN takes no array). The match query also gives each match's first
 * and last receive time (ms), which say whether its window would have left any of its events out. */
static const char agg_match_facts_sql[] =
    "SELECT match_key, argMaxMerge(gametype), argMaxMerge(map), sumMerge(starts), minIfMerge(start_at),\n"
    "       minMerge(first_t), sumMerge(ends), minIfMerge(end_at), maxMerge(last_t), argMaxMerge(winner),\n"
    "       minMerge(first_ms), maxMerge(last_ms)\n"
    "FROM rating_match_facts\n"
    "WHERE match_key IN %s\n"
    "GROUP BY match_key\n"
    "FORMAT TabSeparated";

static const char agg_player_facts_sql[] =
    "SELECT match_key, guid, argMaxMerge(last_side), argMinMerge(first_side), minMerge(first_t), maxMerge(last_t),\n"
    "       sumMerge(kills), sumMerge(suicides), sumMerge(deaths)\n"
    "FROM rating_player_facts\n"
    "WHERE match_key IN %s\n"
    "GROUP BY match_key, guid\n"
    "ORDER BY match_key, guid\n"
    "FORMAT TabSeparated";

/* The events of a set of matches within each one's window: {keys} an array of match keys, {cutoffs} the last
 * receive time (ms) to read of each, {starts} the first (MATCH_WINDOW_MS before its end), then the tuple of keys
 * for IN and the whole set's window in seconds: a bound on received_at lets ClickHouse skip the parts of
 * raw_events written before it (their min/max of the partition key), so that a step reads the recent parts, not
 * the whole history. The per-match window keeps the answer the same whichever matches share the query. Sides are
 * raw_events' normalised columns (schemas/clickhouse/0005) and a kill is ENEMY_KILL_SQL (common/game_vocab.h).
 * Ties of argMax are broken by game time, receive time and event id, so that the answer never depends on the order
 * ClickHouse reads its parts in. Read only for matches the aggregates above cannot answer for: events outside
 * their window (a late event after a match's settle time, a match key reused after more than MATCH_WINDOW_MS). */
#define EVENTS_WITH                                                                                                    \
    "WITH toUInt64(received_at) * 1000 + received_ms AS ts,\n"                                                         \
    "     ifNull(game_time, toFloat64(ts) / 1000) AS t,\n"                                                             \
    "     tuple(t, ts, toString(event_id)) AS order_key,\n"                                                            \
    "     transform(match_key, %s, %s, toUInt64(0)) AS cutoff,\n"                                                      \
    "     transform(match_key, %s, %s, toUInt64(0)) AS window_start\n"

static const char match_facts_sql[] =
    EVENTS_WITH
    "SELECT match_key,\n"
    "       argMax(gametype, tuple(gametype != '', order_key)) AS gt,\n"
    "       argMax(map_name, tuple(map_name != '', order_key)) AS map,\n"
    "       countIf(event_type = 'match_start') AS starts,\n"
    "       minIf(t, event_type = 'match_start') AS start_at,\n"
    "       min(t) AS first_t,\n"
    "       countIf(event_type = 'match_end') AS ends,\n"
    "       minIf(t, event_type = 'match_end') AS end_at,\n"
    "       max(t) AS last_t,\n"
    "       argMax(win, tuple(win != '', order_key)) AS winner\n"
    "FROM\n"
    "(\n"
    "    SELECT *, if(event_type IN ('match_end', 'team_win'), team_side, '') AS win\n"
    "    FROM raw_events\n"
    "    WHERE match_key IN %s AND received_at >= toDateTime(%llu) AND received_at <= toDateTime(%llu)\n"
    ")\n"
    "WHERE ts >= window_start AND ts <= cutoff\n"
    "GROUP BY match_key\n"
    "FORMAT TabSeparated";

static const char player_facts_sql[] =
    EVENTS_WITH
    "SELECT match_key, guid,\n"
    "       argMax(side, tuple(side != '', order_key)) AS last_side,\n"
    "       argMin(side, tuple(side = '', order_key)) AS first_side,\n"
    "       min(t) AS first_t, max(t) AS last_t,\n"
    "       sum(is_kill) AS kills, sum(suicide) AS suicides, sum(death) AS deaths\n"
    "FROM\n"
    "(\n"
    "    SELECT *,\n"
    "           if(role = 1, actor_guid, target_guid) AS guid,\n"
    "           if(role = 1, actor_side, target_side) AS side,\n"
    "           toUInt64(role = 1 AND event_type = 'player_kill' AND " ENEMY_KILL_SQL ") AS is_kill,\n"
    "           toUInt64(role = 2 AND event_type = 'player_kill'\n"
    "                    AND (actor_guid = '' OR actor_guid = target_guid)) AS suicide,\n"
    "           toUInt64(role = 2 AND event_type = 'player_kill') AS death\n"
    "    FROM raw_events\n"
    "    ARRAY JOIN arrayFilter(r -> (r = 1 AND actor_guid != '') OR (r = 2 AND target_guid != ''), [1, 2]) AS role\n"
    "    WHERE match_key IN %s AND received_at >= toDateTime(%llu) AND received_at <= toDateTime(%llu)\n"
    ")\n"
    "WHERE ts >= window_start AND ts <= cutoff\n"
    "GROUP BY match_key, guid\n"
    "ORDER BY match_key, guid\n"
    "FORMAT TabSeparated";
// clang-format on

void match_list_free(match_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].match_key);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Run a query; log and return its error. */
static int query(const ratingd_settings *s, const char *what, const char *sql, char **body)
{
    int rc = ch_query_sync(s->clickhouse_query_url, sql, body);
    if (rc) {
        log_warn("ratingd: %s failed (%d): %.300s", what, rc, *body ? *body : "no answer from ClickHouse");
        free(*body);
        *body = NULL;
    }
    return rc;
}

int facts_find_matches(const ratingd_settings *s, bool unrated_only, const match_ref *after, size_t limit,
                       uint64_t idle_since_s, match_list *out)
{
    memset(out, 0, sizeof *out);
    bytebuf cond = {0}, sql = {0}, recent = {0};
    int rc = 0;
    /* A bound on received_at skips the parts of raw_events written before it (their min/max of the partition key),
     * so this reads the recent parts, not the history. */
    if (idle_since_s)
        rc |= bytebuf_appendf(
            &recent, "WHERE match_key IN (SELECT match_key FROM raw_events WHERE received_at >= toDateTime(%llu))",
            (unsigned long long)idle_since_s);
    if (after) {
        rc |= bytebuf_appendf(&cond, "AND (end_ms > %llu OR (end_ms = %llu AND match_key > ",
                              (unsigned long long)after->end_ms, (unsigned long long)after->end_ms);
        rc |= ch_append_quoted(&cond, after->match_key, strlen(after->match_key));
        rc |= bytebuf_append(&cond, "))", 2);
    }
    const char *unrated =
        unrated_only ? "AND match_key NOT IN (SELECT match_key FROM rating_changes WHERE guid = '')" : "";
    rc |= bytebuf_appendf(&sql, due_sql, s->settle_ms, recent.data ? recent.data : "", (long long)s->idle_s * 1000,
                          cond.data ? cond.data : "", unrated, limit);
    char *body = NULL;
    if (rc == 0)
        rc = query(s, "looking for finished matches", sql.data, &body);
    bytebuf_free(&cond);
    bytebuf_free(&sql);
    bytebuf_free(&recent);
    if (rc)
        return rc;
    size_t cap = 0;
    char *f[3], *rest = body;
    while (tsv_split_line(&rest, f, 3) == 3) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            match_ref *v = realloc(out->v, cap * sizeof *v);
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            out->v = v;
        }
        match_ref *m = &out->v[out->n];
        m->match_key = strdup(f[0]);
        if (!m->match_key) {
            rc = -ENOMEM;
            break;
        }
        m->end_ms = strtoull(f[1], NULL, 10);
        m->ended = f[2][0] == '1';
        out->n++;
    }
    free(body);
    if (rc)
        match_list_free(out);
    return rc;
}

void match_data_free(match_data *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].gametype);
        free(d[i].map);
        for (size_t j = 0; j < d[i].f.nplayers; j++)
            free((char *)d[i].players[j].guid);
        free(d[i].players);
        memset(&d[i], 0, sizeof d[i]);
    }
}

/* The match whose key is key, by binary search over refs sorted by key in idx; -1 when none. */
static long find_ref(const match_ref *refs, const size_t *idx, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(refs[idx[mid]].match_key, key);
        if (c == 0)
            return (long)idx[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static const match_ref *sort_refs;
/* qsort order of indexes by match key (a single-threaded use: the worker or the command, never both). */
static int by_key(const void *a, const void *b)
{
    return strcmp(sort_refs[*(const size_t *)a].match_key, sort_refs[*(const size_t *)b].match_key);
}

/* Fill a match's own facts from a match_facts_sql row. */
static int set_match(match_data *d, const match_ref *r, char **f)
{
    d->gametype = strdup(f[1]);
    d->map = strdup(f[2]);
    if (!d->gametype || !d->map)
        return -ENOMEM;
    double first_t = strtod(f[5], NULL), last_t = strtod(f[8], NULL);
    d->f.gametype = d->gametype;
    d->f.map = d->map;
    d->f.ended = r->ended && strtoull(f[6], NULL, 10) > 0;
    d->f.start_t = strtoull(f[3], NULL, 10) > 0 ? strtod(f[4], NULL) : first_t;
    d->f.end_t = d->f.ended ? strtod(f[7], NULL) : last_t;
    d->f.winner = vocab_team_side(f[9]);
    return 0;
}

/* A set of matches as the queries name them: their keys as an array (for transform()) and as a tuple (for IN,
 * which takes no array on 18.16), each one's window as arrays of receive times (ms), and the whole set's window. */
typedef struct {
    bytebuf keys, in, cutoffs, starts;
    uint64_t first_ms, last_ms;
    size_t n;
} key_set;

static void key_set_free(key_set *k)
{
    bytebuf_free(&k->keys);
    bytebuf_free(&k->in);
    bytebuf_free(&k->cutoffs);
    bytebuf_free(&k->starts);
}

/* Add a match and its window [from, to] (ms). 0 or -ENOMEM. */
static int key_set_add(key_set *k, const char *key, uint64_t from, uint64_t to)
{
    const char *sep = k->n ? ", " : "[";
    int rc = bytebuf_append(&k->keys, sep, strlen(sep)) | bytebuf_append(&k->cutoffs, sep, strlen(sep)) |
             bytebuf_append(&k->starts, sep, strlen(sep)) | bytebuf_append(&k->in, k->n ? ", " : "(", k->n ? 2 : 1);
    rc |= ch_append_quoted(&k->keys, key, strlen(key)) | ch_append_quoted(&k->in, key, strlen(key));
    /* Bare numbers: an array of toUInt64(...) calls is not a constant to 18.16, and made transform() 100 times
     * slower. Receive times in ms are all above 2^32, so the array is UInt64 anyway. */
    rc |= bytebuf_appendf(&k->cutoffs, "%llu", (unsigned long long)to);
    rc |= bytebuf_appendf(&k->starts, "%llu", (unsigned long long)from);
    if (k->n == 0 || from < k->first_ms)
        k->first_ms = from;
    if (to > k->last_ms)
        k->last_ms = to;
    k->n++;
    return rc ? -ENOMEM : 0;
}

/* Close the lists once every match is in. 0 or -ENOMEM. */
static int key_set_close(key_set *k)
{
    int rc = bytebuf_append(&k->keys, "]", 1) | bytebuf_append(&k->cutoffs, "]", 1) |
             bytebuf_append(&k->starts, "]", 1) | bytebuf_append(&k->in, ")", 1);
    return rc ? -ENOMEM : 0;
}

/* The rows of a player facts query into their matches' player lists (cap[i]: the room in out[i].players). */
static int add_players(char *body, const match_ref *refs, const size_t *idx, size_t n, match_data *out, size_t *cap)
{
    char *f[9], *rest = body;
    while (tsv_split_line(&rest, f, 9) == 9) {
        long i = find_ref(refs, idx, n, f[0]);
        if (i < 0)
            continue;
        match_data *d = &out[i];
        if (d->f.nplayers == cap[i]) {
            cap[i] = cap[i] ? cap[i] * 2 : 16;
            match_player *p = realloc(d->players, cap[i] * sizeof *p);
            if (!p)
                return -ENOMEM;
            d->players = p;
            d->f.players = p;
        }
        match_player *p = &d->players[d->f.nplayers];
        p->guid = strdup(f[1]);
        if (!p->guid)
            return -ENOMEM;
        p->side = vocab_team_side(f[2]);
        p->first_side = vocab_team_side(f[3]);
        p->first_t = strtod(f[4], NULL);
        p->last_t = strtod(f[5], NULL);
        p->kills = strtod(f[6], NULL);
        p->suicides = strtod(f[7], NULL);
        p->deaths = strtod(f[8], NULL);
        d->f.nplayers++;
    }
    return 0;
}

/* The facts of the matches in k from raw_events, each within its window. */
static int load_raw(const ratingd_settings *s, const key_set *k, const match_ref *refs, const size_t *idx, size_t n,
                    match_data *out, size_t *cap)
{
    bytebuf sql = {0};
    char *body = NULL, *f[10], *rest;
    unsigned long long from_s = k->first_ms / 1000, to_s = k->last_ms / 1000 + 1;
    int rc = bytebuf_appendf(&sql, match_facts_sql, k->keys.data, k->cutoffs.data, k->keys.data, k->starts.data,
                             k->in.data, from_s, to_s);
    if (rc == 0)
        rc = query(s, "reading the matches' facts", sql.data, &body);
    rest = body;
    while (rc == 0 && tsv_split_line(&rest, f, 10) == 10) {
        long i = find_ref(refs, idx, n, f[0]);
        if (i >= 0)
            rc = set_match(&out[i], &refs[i], f);
    }
    free(body);
    body = NULL;
    sql.len = 0;
    if (rc == 0)
        rc = bytebuf_appendf(&sql, player_facts_sql, k->keys.data, k->cutoffs.data, k->keys.data, k->starts.data,
                             k->in.data, from_s, to_s);
    if (rc == 0)
        rc = query(s, "reading the matches' players", sql.data, &body);
    if (rc == 0)
        rc = add_players(body, refs, idx, n, out, cap);
    free(body);
    bytebuf_free(&sql);
    return rc;
}

int facts_load(const ratingd_settings *s, const match_ref *refs, size_t n, match_data *out)
{
    memset(out, 0, n * sizeof *out);
    if (n == 0)
        return 0;
    key_set all = {0}, clean = {0}, raw = {0};
    uint64_t *from = malloc(n * sizeof *from), *to = malloc(n * sizeof *to);
    size_t *idx = malloc(n * sizeof *idx), *cap = calloc(n, sizeof *cap);
    bool *aggregated = calloc(n, sizeof *aggregated);
    int rc = from && to && idx && cap && aggregated ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        out[i].f.match_key = refs[i].match_key;
        to[i] = refs[i].end_ms + (refs[i].ended ? (uint64_t)s->settle_ms : 0);
        from[i] = refs[i].end_ms > MATCH_WINDOW_MS ? refs[i].end_ms - MATCH_WINDOW_MS : 0;
        idx[i] = i;
        rc = key_set_add(&all, refs[i].match_key, from[i], to[i]);
    }
    if (rc == 0) {
        rc = key_set_close(&all);
        sort_refs = refs;
        qsort(idx, n, sizeof *idx, by_key);
    }
    /* The aggregates answer for a match whose first and last events fall within its window: then the window would
     * have kept all of them, and the aggregate over all is the one over the window. */
    bytebuf sql = {0};
    char *body = NULL, *f[12], *rest;
    if (rc == 0)
        rc = bytebuf_appendf(&sql, agg_match_facts_sql, all.in.data);
    if (rc == 0)
        rc = query(s, "reading the matches' facts", sql.data, &body);
    rest = body;
    while (rc == 0 && tsv_split_line(&rest, f, 12) == 12) {
        long i = find_ref(refs, idx, n, f[0]);
        if (i < 0 || strtoull(f[10], NULL, 10) < from[i] || strtoull(f[11], NULL, 10) > to[i])
            continue;
        aggregated[i] = true;
        rc = set_match(&out[i], &refs[i], f);
    }
    free(body);
    body = NULL;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = key_set_add(aggregated[i] ? &clean : &raw, refs[i].match_key, from[i], to[i]);
    if (rc == 0)
        rc = key_set_close(&clean) | key_set_close(&raw);
    sql.len = 0;
    if (rc == 0 && clean.n > 0)
        rc = bytebuf_appendf(&sql, agg_player_facts_sql, clean.in.data);
    if (rc == 0 && clean.n > 0)
        rc = query(s, "reading the matches' players", sql.data, &body);
    if (rc == 0 && clean.n > 0)
        rc = add_players(body, refs, idx, n, out, cap);
    free(body);
    if (rc == 0 && raw.n > 0)
        rc = load_raw(s, &raw, refs, idx, n, out, cap);
    for (size_t i = 0; i < n; i++) {
        /* A match with no events left under its cutoff (cannot happen for a listed one, but never rate garbage) */
        if (!out[i].gametype && rc == 0) {
            out[i].gametype = strdup("");
            out[i].map = strdup("");
            out[i].f.gametype = out[i].gametype;
            out[i].f.map = out[i].map;
            if (!out[i].gametype || !out[i].map)
                rc = -ENOMEM;
        }
    }
    free(from);
    free(to);
    free(idx);
    free(cap);
    free(aggregated);
    key_set_free(&all);
    key_set_free(&clean);
    key_set_free(&raw);
    bytebuf_free(&sql);
    if (rc)
        match_data_free(out, n);
    return rc;
}
