/* Leaderboard boards kept fresh: deltas, the players and matches each insert touched re-read and applied to
 * every board (see "keeping boards fresh" below). */
#include "board.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board_int.h"
#include "clickhouse.h"
#include "fresh.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "sqlt.h"
#include "text.h"

// clang-format off
/* A delta's players ({who} in board_sql.c's queries): the players an insert touched, and every player of the
 * matches it touched (a match's end decides all its players' wins and losses, and a free-for-all's top kill count
 * too). The players of the matches are read first (delta_match_players_sql) and listed: the tables the delta reads
 * are ordered by guid first, and with a plain list ClickHouse 18.16 reads only their granules (the subquery, in
 * each of the delta's queries, ran once per use: about 10% of a delta's CPU under ingest, docs/performance.md).
 * The subquery form stays for a list that would be too long (DELTA_MAX_LISTED). */
static const char delta_who_listed_sql[] = "guid IN {guids}";
static const char delta_who_sql[] =
    "(guid IN {guids} OR guid IN (SELECT guid FROM match_players WHERE match_key IN {matches}))";
static const char delta_match_players_sql[] =
    "SELECT DISTINCT guid\n"
    "FROM match_players\n"
    "WHERE match_key IN {matches} AND " LISTED_PLAYER_SQL("guid") "\n"
    "FORMAT TabSeparated";
// clang-format on

/* ---- the touched sets ---- */

/* Forget every key of m. */
void board_keys_clear(hashmap *m)
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
void board_keys_merge(hashmap *to, const hashmap *from)
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
 * overlaps below safe. Not increments read from the insert's own rows (a cost that would follow the insert, not the
 * players' history): player_daily's rows cannot be told apart by insert once merged, and the views' definitions
 * have one copy, in ClickHouse; what reading the new parts by block number would need is in docs/performance.md
 * ("Board deltas: the read buffers").
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

void board_taken_free(board_set *s)
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
        board_delta_done(s);
        return;
    }
    char tag[64];
    /* Tagged boarddelta, so that the freshness benchmark can sum the deltas' ClickHouse work. */
    snprintf(tag, sizeof tag, "/* queryd boarddelta:%ld.%u #0 */\n", (long)getpid(), s->deltas);
    board_qset_send(s, &s->dqs, s->delta_periods, s->ndelta, who, tag);
    free(who);
}

/* Answer to delta_match_players_sql: list taken_g and those players, then send the delta's queries. */
static void on_match_players(ch_client *c, int err, long http_status, const char *body, size_t len, void *arg)
{
    (void)c;
    board_set *s = arg;
    if (board_set_call_ended(s))
        return;
    if (err != 0) {
        log_warn("board delta: ClickHouse query failed (%ld): %.*s", http_status, (int)(len > 300 ? 300 : len),
                 body ? body : "");
        s->dqs.fail = err == -EPROTO ? 500 : 503;
        board_delta_done(s);
        return;
    }
    size_t lines = board_count_lines(body), cap = s->ntaken_g + lines + 1;
    char *text = lines + s->ntaken_g <= DELTA_MAX_LISTED ? strndup(body ? body : "", len) : NULL;
    s->listed = text ? calloc(cap, sizeof *s->listed) : NULL;
    bool ok = s->listed != NULL;
    for (size_t i = 0; ok && i < s->ntaken_g; i++)
        ok = (s->listed[s->nlisted++] = strdup(s->taken_g[i])) != NULL;
    char *p = text, *f[1];
    while (ok && s->nlisted < cap && tsv_split_line(&p, f, 1) == 1)
        ok = (s->listed[s->nlisted++] = strdup(f[0])) != NULL;
    free(text);
    if (!ok) /* too many to list, or out of memory: the subquery form */
        taken_unlist(s);
    delta_send(s);
}

/* Start a delta when a board is behind what was touched. */
void board_delta_kick(board_set *s)
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
        board_delta_done(s);
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

void board_delta_done(board_set *s)
{
    s->delta_running = false;
    board *d[NPERIODS] = {0};
    int status = board_qset_boards(&s->dqs, s->ndelta, d);
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
        /* Onto the replaced board too: its build read every key touched before it was sent, the delta's rows are
         * newer than it (see above), and a board whose rows changed must move its generation, or answers cached
         * from it before the change are served on (test_freshness: the first kill on a fresh stack, whose boards
         * were still being built, stayed off the leaderboard for QUERY_CACHE_TTL_S). */
        applied[i] = true;
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
    board_taken_free(s);
    board_delta_kick(s);
}

void board_set_touched(board_set *s, uint64_t before, const char *guids, size_t glen, const char *matches, size_t mlen)
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
            if (key)
                tsv_unescape(key);
            /* A slot's name (unauth_<n>) is never on a board (LISTED_PLAYER_SQL): re-reading it would only read its
             * rows to drop them. */
            if (key && l == 0 && strncmp(key, "unauth_", 7) == 0) {
                free(key);
                key = NULL;
            }
            if (key) {
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
    board_delta_kick(s);
}
