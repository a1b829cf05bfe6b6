/* rating_changes in and out (store.h). */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "log.h"
#include "text.h"

/* The columns in the order RowBinary writes them: keep in step with 0004_ratings.sql and store_match_rows. */
#define ROW_COLUMNS                                                                                                    \
    "(guid, match_key, kind, end_ms, family, game_type, rated, reason, team, place, weight, mu_before, "               \
    "sigma_before, mu_after, sigma_after, win_prob)"

/* Each player's latest row per family in rating order (end_ms, match_key); duplicates of a row (a repeated
 * insert) are equal, so argMax needs no FINAL. */
// clang-format off
static const char current_sql[] =
    "SELECT guid, family, argMax(mu_after, o) AS mu, argMax(sigma_after, o) AS sigma, max(end_ms) AS last_ms\n"
    "FROM\n"
    "(\n"
    "    SELECT guid, family, mu_after, sigma_after, end_ms, tuple(end_ms, match_key) AS o\n"
    "    FROM %s\n"
    "    WHERE kind = 'player' AND guid IN %s\n"
    ")\n"
    "GROUP BY guid, family\n"
    "FORMAT TabSeparated";
// clang-format on

size_t store_rating_key(char *out, size_t cap, rating_family f, const char *guid)
{
    int n = snprintf(out, cap, "%s\t%s", rating_family_name(f), guid);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static rating_family family_by_name(const char *name)
{
    for (int f = 0; f < RFAM__COUNT; f++)
        if (strcmp(name, rating_family_name((rating_family)f)) == 0)
            return (rating_family)f;
    return RFAM_NONE;
}

int store_load_ratings(const ratingd_settings *s, const char *table, const char *const *guids, size_t n,
                       hashmap *ratings)
{
    if (n == 0)
        return 0;
    bytebuf list = {0}, sql = {0};
    int rc = bytebuf_append(&list, "(", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            rc |= bytebuf_append(&list, ", ", 2);
        rc |= ch_append_quoted(&list, guids[i], strlen(guids[i]));
    }
    rc |= bytebuf_append(&list, ")", 1);
    if (rc == 0)
        rc = bytebuf_appendf(&sql, current_sql, table, list.data);
    char *body = NULL;
    if (rc == 0) {
        rc = ch_query_sync(s->clickhouse_query_url, sql.data, &body);
        if (rc)
            log_warn("ratingd: reading current ratings failed (%d): %.300s", rc, body ? body : "no answer");
    }
    char *f[5], *rest = body;
    while (rc == 0 && tsv_split_line(&rest, f, 5) == 5) {
        rating_family fam = family_by_name(f[1]);
        if (fam == RFAM_NONE)
            continue;
        stored_rating *r = malloc(sizeof *r);
        if (!r) {
            rc = -ENOMEM;
            break;
        }
        r->r.mu = strtod(f[2], NULL);
        r->r.sigma = strtod(f[3], NULL);
        r->last_ms = strtoull(f[4], NULL, 10);
        char key[320];
        size_t len = store_rating_key(key, sizeof key, fam, f[0]);
        void *old = NULL;
        if (hashmap_put(ratings, key, len, r, &old)) {
            free(r);
            rc = -ENOMEM;
        }
        free(old);
    }
    free(body);
    bytebuf_free(&list);
    bytebuf_free(&sql);
    return rc;
}

/* RowBinary values: strings as a LEB128 length and the bytes; numbers little-endian (every host we build on). */
static int put_str(bytebuf *b, const char *s)
{
    size_t len = strlen(s), v = len;
    unsigned char pre[10];
    size_t n = 0;
    do {
        pre[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            pre[n] |= 0x80;
        n++;
    } while (v);
    return bytebuf_append(b, (const char *)pre, n) | bytebuf_append(b, s, len);
}

static int put_u64(bytebuf *b, uint64_t v)
{
    return bytebuf_append(b, (const char *)&v, sizeof v);
}

static int put_u16(bytebuf *b, uint16_t v)
{
    return bytebuf_append(b, (const char *)&v, sizeof v);
}

static int put_u8(bytebuf *b, uint8_t v)
{
    return bytebuf_append(b, (const char *)&v, 1);
}

static int put_f64(bytebuf *b, double v)
{
    return bytebuf_append(b, (const char *)&v, sizeof v);
}

typedef struct {
    const char *guid, *kind, *reason, *team;
    bool rated;
    int place;
    double weight;
    rating before, after;
    double win_prob;
} row;

static int put_row(bytebuf *b, const match_ref *ref, const match_plan *plan, const row *r)
{
    int rc = put_str(b, r->guid) | put_str(b, ref->match_key) | put_str(b, r->kind) | put_u64(b, ref->end_ms);
    rc |= put_str(b, rating_family_name(plan->family)) | put_str(b, plan->game_type) | put_u8(b, r->rated);
    rc |= put_str(b, r->reason) | put_str(b, r->team) | put_u16(b, (uint16_t)r->place) | put_f64(b, r->weight);
    rc |= put_f64(b, r->before.mu) | put_f64(b, r->before.sigma) | put_f64(b, r->after.mu);
    rc |= put_f64(b, r->after.sigma) | put_f64(b, r->win_prob);
    return rc ? -ENOMEM : 0;
}

int store_match_rows(bytebuf *rows, const match_ref *ref, const match_data *d, const match_plan *plan,
                     const rating *before, const rating *after, const double *win_prob)
{
    row m = {.guid = "", .kind = "match", .reason = plan->reason, .team = "", .rated = plan->rated};
    int rc = put_row(rows, ref, plan, &m);
    for (size_t i = 0; i < d->f.nplayers && plan->rated && rc == 0; i++) {
        const match_player *p = &d->f.players[i];
        char reason[96];
        row r = {.guid = p->guid, .team = vocab_team_side_name(p->side), .weight = plan->fraction[i]};
        if (plan->family == RFAM_FFA)
            r.team = "";
        switch (plan->verdict[i]) {
        case PLAYER_RATED:
            r.kind = "player";
            r.reason = "";
            r.rated = true;
            r.place = plan->rank[i];
            r.before = before[i];
            r.after = after[i];
            r.win_prob = win_prob[i];
            break;
        case PLAYER_SHORT:
            snprintf(reason, sizeof reason, "played %.0f%% of the match (minimum %.0f%%)", plan->fraction[i] * 100,
                     plan->min_fraction * 100);
            r.kind = "skipped";
            r.reason = reason;
            break;
        case PLAYER_NO_SIDE:
            r.kind = "skipped";
            r.reason = "on no team";
            break;
        default:
            continue; /* guests and bots: no rating, no row */
        }
        rc = put_row(rows, ref, plan, &r);
    }
    return rc;
}

int store_insert(const ratingd_settings *s, const char *table, const bytebuf *rows)
{
    if (rows->len == 0)
        return 0;
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s " ROW_COLUMNS " FORMAT RowBinary", table);
    char *body = NULL;
    int rc = ch_insert_sync(s->clickhouse_url, sql, rows->data, rows->len, &body);
    if (rc)
        log_warn("ratingd: writing %s failed (%d): %.300s", table, rc, body ? body : "no answer from ClickHouse");
    free(body);
    return rc;
}
