/* `ratingd evaluate`: how well the ratings predict (issue 21 item 4). Every match is replayed in rating order from
 * raw_events with the daemon's code (rater.c, nothing written); each rated team match is predicted before it
 * updates anything, by the ratings and by two baselines, and the last 25% of those matches are scored. */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "rater.h"

#define PAGE RATINGD_MAX_MATCHES
#define BINS 10
#define P_FLOOR 1e-6 /* probabilities are kept in [P_FLOOR, 1 - P_FLOOR]: a log-loss must stay finite */

/* One team match as predicted before it was played: the Allies' chance by each model, and what happened. */
typedef struct {
    double p_rating, p_map; /* the ratings' and the map's win rate for the Allies */
    double kd_diff;         /* the Allies' mean prior K/D minus the Axis' */
    int allies_won;
} sample;

typedef struct {
    double kills, deaths;
} kd;

typedef struct {
    double allies_wins, matches;
} map_record;

typedef struct {
    hashmap *kd;   /* guid -> kd: every match's kills and deaths so far */
    hashmap *maps; /* map -> map_record: the team matches' results so far */
    sample *v;
    size_t n, cap;
    int rc;
} eval_state;

static double clamp_p(double p)
{
    return p < P_FLOOR ? P_FLOOR : p > 1 - P_FLOOR ? 1 - P_FLOOR : p;
}

/* A player's K/D before this match: (kills + 1) / (deaths + 1), so that a newcomer reads as 1, not 0 or infinite. */
static double prior_kd(hashmap *m, const char *guid)
{
    const kd *k = hashmap_get(m, guid, strlen(guid));
    return k ? (k->kills + 1) / (k->deaths + 1) : 1;
}

/* Predict a rated team match (before learning from it), then learn: K/D of every ratable player, the map's record. */
static void observe(void *arg, const match_ref *ref, const match_data *d, const match_plan *plan,
                    const double *win_prob)
{
    (void)ref;
    eval_state *e = arg;
    if (e->rc)
        return;
    const match_facts *f = &d->f;
    if (plan->rated && plan->family != RFAM_FFA && plan->nteams == 2) {
        double kd_sum[2] = {0, 0}, kd_n[2] = {0, 0}, p_winner = 0.5;
        for (size_t i = 0; i < f->nplayers; i++) {
            if (plan->verdict[i] != PLAYER_RATED)
                continue;
            int side = f->players[i].side == SIDE_ALLIES ? 0 : 1;
            kd_sum[side] += prior_kd(e->kd, f->players[i].guid);
            kd_n[side] += 1;
            if (plan->team[i] == 0)
                p_winner = win_prob[i];
        }
        int allies_won = f->winner == SIDE_ALLIES;
        const map_record *mr = hashmap_get(e->maps, d->map, strlen(d->map));
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 1024;
            sample *v = realloc(e->v, e->cap * sizeof *v);
            if (!v) {
                e->rc = -ENOMEM;
                return;
            }
            e->v = v;
        }
        e->v[e->n++] = (sample){
            .p_rating = clamp_p(allies_won ? p_winner : 1 - p_winner),
            /* Laplace's rule: a map never seen, or even, says 0.5 */
            .p_map = clamp_p(mr ? (mr->allies_wins + 1) / (mr->matches + 2) : 0.5),
            .kd_diff = (kd_n[0] ? kd_sum[0] / kd_n[0] : 1) - (kd_n[1] ? kd_sum[1] / kd_n[1] : 1),
            .allies_won = allies_won,
        };
        map_record *w = (map_record *)mr;
        if (!w) {
            w = calloc(1, sizeof *w);
            if (!w || hashmap_put(e->maps, d->map, strlen(d->map), w, NULL)) {
                free(w);
                e->rc = -ENOMEM;
                return;
            }
        }
        w->allies_wins += allies_won;
        w->matches += 1;
    }
    for (size_t i = 0; i < f->nplayers; i++) {
        const match_player *p = &f->players[i];
        if (!rating_guid_ratable(p->guid))
            continue;
        kd *k = hashmap_get(e->kd, p->guid, strlen(p->guid));
        if (!k) {
            k = calloc(1, sizeof *k);
            if (!k || hashmap_put(e->kd, p->guid, strlen(p->guid), k, NULL)) {
                free(k);
                e->rc = -ENOMEM;
                return;
            }
        }
        k->kills += p->kills;
        k->deaths += p->deaths;
    }
}

static double logistic(double x)
{
    return 1 / (1 + exp(-x));
}

/* Fit p = logistic(a + b x) to v[0 .. n) by Newton's method on the log-likelihood (a tiny ridge keeps the 2x2
 * system solvable when every x is equal). */
static void fit_logistic(const sample *v, size_t n, double *a, double *b)
{
    *a = 0;
    *b = 0;
    for (int it = 0; it < 50; it++) {
        double ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
        for (size_t i = 0; i < n; i++) {
            double x = v[i].kd_diff, p = logistic(*a + *b * x), w = p * (1 - p);
            ga += v[i].allies_won - p;
            gb += (v[i].allies_won - p) * x;
            haa += w;
            hab += w * x;
            hbb += w * x * x;
        }
        double det = haa * hbb - hab * hab;
        if (!(fabs(det) > 1e-12))
            break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        *a += da;
        *b += db;
        if (fabs(da) + fabs(db) < 1e-10)
            break;
    }
}

/* Score the predictions p[i] of outcomes y[i]: log-loss, Brier, accuracy, and the calibration error over 10 equal
 * bins of p (the bins' |mean p - share won|, weighted by their size). */
static void score(const char *name, const double *p, const int *y, size_t n)
{
    double ll = 0, brier = 0, right = 0, bin_p[BINS] = {0}, bin_y[BINS] = {0}, bin_n[BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        ll -= y[i] ? log(p[i]) : log(1 - p[i]);
        brier += (p[i] - y[i]) * (p[i] - y[i]);
        right += (p[i] > 0.5 && y[i]) || (p[i] < 0.5 && !y[i]) ? 1 : p[i] == 0.5 ? 0.5 : 0;
        int b = (int)(p[i] * BINS);
        b = b >= BINS ? BINS - 1 : b;
        bin_p[b] += p[i];
        bin_y[b] += y[i];
        bin_n[b] += 1;
    }
    double ece = 0;
    for (int b = 0; b < BINS; b++)
        if (bin_n[b] > 0)
            ece += fabs(bin_p[b] - bin_y[b]) / (double)n;
    printf("%-28s %9.4f %9.4f %9.3f %12.4f\n", name, ll / (double)n, brier / (double)n, right / (double)n, ece);
}

int evaluate_main(const ratingd_settings *s, int argc, char **argv)
{
    (void)argv;
    if (argc != 2) {
        fprintf(stderr, "usage: ratingd evaluate\n"
                        "Replays every finished match from raw_events in order (nothing is written), predicts each\n"
                        "rated team match before learning from it, and scores the last 25%% of them for the ratings\n"
                        "and two baselines: the map's Allies win rate, and the teams' mean prior K/D (a logistic\n"
                        "curve fitted on the first 75%%).\n");
        return 2;
    }
    eval_state e = {.kd = hashmap_new(), .maps = hashmap_new()};
    hashmap *ratings = hashmap_new();
    int rc = e.kd && e.maps && ratings ? 0 : -ENOMEM;
    match_ref last = {0};
    rater_counts counts = {0};
    while (rc == 0) {
        match_list page;
        rc = facts_find_matches(s, /* unrated_only= */ false, last.match_key ? &last : NULL, PAGE, &page);
        if (rc || page.n == 0)
            break;
        match_data *d = calloc(page.n, sizeof *d);
        rc = d ? facts_load(s, page.v, page.n, d) : -ENOMEM;
        if (rc == 0)
            rc = rater_rate_observed(s, page.v, d, page.n, ratings, NULL, &counts, observe, &e);
        if (rc == 0)
            rc = e.rc;
        if (d)
            match_data_free(d, page.n);
        free(d);
        free(last.match_key);
        last = page.v[page.n - 1];
        last.match_key = strdup(last.match_key);
        if (!last.match_key && rc == 0)
            rc = -ENOMEM;
        match_list_free(&page);
    }
    free(last.match_key);
    size_t train = e.n * 3 / 4, test = e.n - train;
    if (rc == 0 && (train == 0 || test == 0)) {
        fprintf(stderr, "ratingd evaluate: %zu rated team matches: too few to hold a quarter out (at least 4)\n", e.n);
        rc = -EINVAL;
    }
    if (rc == 0) {
        double a, b;
        fit_logistic(e.v, train, &a, &b);
        double *p = malloc(test * 3 * sizeof *p);
        int *y = malloc(test * sizeof *y);
        if (!p || !y)
            rc = -ENOMEM;
        for (size_t i = 0; rc == 0 && i < test; i++) {
            const sample *x = &e.v[train + i];
            p[i] = x->p_rating;
            p[test + i] = x->p_map;
            p[2 * test + i] = clamp_p(logistic(a + b * x->kd_diff));
            y[i] = x->allies_won;
        }
        if (rc == 0) {
            printf("%zu matches replayed, %zu rated; %zu rated team matches: first %zu to learn, last %zu scored\n",
                   counts.matches, counts.rated, e.n, train, test);
            printf("K/D baseline: P(Allies win) = logistic(%.4f + %.4f * (mean prior K/D of the Allies - the Axis'))\n",
                   a, b);
            printf("%-28s %9s %9s %9s %12s\n", "model (held-out matches)", "log-loss", "Brier", "accuracy",
                   "calibration");
            score("ratings (Weng-Lin PL)", p, y, test);
            score("map win rate", p + test, y, test);
            score("mean prior K/D, logistic", p + 2 * test, y, test);
        }
        free(p);
        free(y);
    }
    hashmap_free(e.kd, free);
    hashmap_free(e.maps, free);
    hashmap_free(ratings, free);
    free(e.v);
    if (rc)
        fprintf(stderr, "ratingd evaluate: failed (%d)\n", rc);
    return rc ? 1 : 0;
}
