/* Leaderboard boards: one period's totals of every player (parsed from a build's or a delta's answers), ranked
 * per stat, and a delta's rows applied to it. The set of boards and its builds: board_set.c; deltas:
 * board_delta.c; the SQL and the query sets: board_sql.c.
 *
 * Memory: one double per column (about 60) per player and period, e.g. 25 MB for 50,000 players all time. */
#include "board.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board_int.h"
#include "hashmap.h"
#include "text.h"

/* ---- parsing TabSeparatedWithNames in place ---- */

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
    t->ncols = tsv_split_line(&t->next, t->cols, MAX_COLS);
    return t->ncols >= 2 && strcmp(t->cols[0], "guid") == 0 ? 0 : -1;
}

size_t board_count_lines(const char *s)
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
    while ((n = tsv_split_line(&t->next, f, MAX_COLS)) > 0) {
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
    size_t upper = board_count_lines(text[PART_DAILY]) + board_count_lines(text[PART_MATCH]);
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
        while ((n = tsv_split_line(&t[PART_NAMES].next, f, 2)) > 0) {
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
int board_copy_rows(board *to, const board *from, const hashmap *guids)
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
