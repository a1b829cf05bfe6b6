/* `ratingd evaluate`: how well the ratings predict (issue 21 item 4). Every match is replayed in rating order from
 * raw_events with the daemon's code (rater.c, nothing written); each rated team match is predicted before it
 * updates anything, by the ratings and by two baselines, and the last 25% of those matches are scored: log-loss,
 * Brier, accuracy, calibration error (beside what chance alone gives exactly right predictions), and a paired
 * bootstrap interval of the log-loss the ratings gain over the K/D baseline. Rated free-for-all matches are scored
 * apart (who finishes first, against a uniform guess and a K/D softmax). Given the hidden skills of a simulated
 * world (demo_world --skills), it also says how well the final ratings rank the players who played enough. This file
 * is the replay, the team baselines and the report; the scores are eval_metrics.c's, free-for-all eval_ffa.c's and
 * the ranking eval_rank.c's. */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_ffa.h"
#include "eval_metrics.h"
#include "eval_rank.h"
#include "facts.h"
#include "rater.h"
#include "store.h"

#define PAGE RATINGD_MAX_MATCHES

/* One team match as predicted before it was played: the Allies' chance by each model, and what happened. */
typedef struct {
    double p_rating, p_map; /* the ratings' and the map's win rate for the Allies */
    double kd_diff;         /* the Allies' mean prior K/D minus the Axis' */
    double start_share;     /* of the play on a side (player time, weighted by fraction), the start roster's */
    int allies_won;
} sample;

typedef struct {
    double kills, deaths;
} kd;

typedef struct {
    double allies_wins, matches;
} map_record;

typedef struct {
    hashmap *kd;      /* guid -> kd: every match's kills and deaths so far */
    hashmap *maps;    /* map -> map_record: the team matches' results so far */
    hashmap *matches; /* store_rating_key -> double: rated matches per player and family */
    sample *v;
    size_t n, cap;
    ffa_samples ffa;
    int rc;
} eval_state;

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
    if (plan->rated && plan->family == RFAM_FFA) {
        double *priors = malloc((f->nplayers ? f->nplayers : 1) * sizeof *priors);
        for (size_t i = 0; priors && i < f->nplayers; i++)
            priors[i] = rating_guid_ratable(f->players[i].guid) ? prior_kd(e->kd, f->players[i].guid) : 1;
        e->rc = priors ? eval_ffa_observe(&e->ffa, f, plan, win_prob, priors) : -ENOMEM;
        free(priors);
        if (e->rc)
            return;
    }
    if (plan->rated && plan->family != RFAM_FFA && plan->nteams == 2) {
        double kd_sum[2] = {0, 0}, kd_n[2] = {0, 0}, p_winner = 0.5, play = 0, start_play = 0;
        /* Both predictions know only the roster present at the start (match_rating.h): the K/D baseline averages
         * the members there at the start, on their first side, as the ratings' chance (win_prob) counts them. */
        for (size_t i = 0; i < f->nplayers; i++) {
            if (plan->team[i] == 0)
                p_winner = win_prob[i];
            if (plan->side_team[i] >= 0) {
                play += plan->fraction[i];
                start_play += plan->at_start[i] ? plan->fraction[i] : 0;
            }
            if (plan->start_team[i] < 0 || !rating_guid_ratable(f->players[i].guid))
                continue;
            int side = f->players[i].first_side == SIDE_ALLIES ? 0 : 1;
            kd_sum[side] += prior_kd(e->kd, f->players[i].guid);
            kd_n[side] += 1;
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
            .p_rating = eval_clamp_p(allies_won ? p_winner : 1 - p_winner),
            /* Laplace's rule: a map never seen, or even, says 0.5 */
            .p_map = eval_clamp_p(mr ? (mr->allies_wins + 1) / (mr->matches + 2) : 0.5),
            .kd_diff = (kd_n[0] ? kd_sum[0] / kd_n[0] : 1) - (kd_n[1] ? kd_sum[1] / kd_n[1] : 1),
            .start_share = play > 0 ? start_play / play : 1,
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
    for (size_t i = 0; plan->rated && i < f->nplayers; i++) {
        if (plan->verdict[i] != PLAYER_RATED)
            continue;
        char key[256];
        size_t len = store_rating_key(key, sizeof key, plan->family, f->players[i].guid);
        double *c = hashmap_get(e->matches, key, len);
        if (!c) {
            c = calloc(1, sizeof *c);
            if (!c || hashmap_put(e->matches, key, len, c, NULL)) {
                free(c);
                e->rc = -ENOMEM;
                return;
            }
        }
        *c += 1;
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

/* The s that makes logistic(s * logit(p)) fit v[from .. to)'s outcomes best (log-likelihood, Newton's method): how
 * much sharper (s > 1) or softer (s < 1) the ratings' predictions should have been. */
static double fit_scale(const sample *v, size_t from, size_t to)
{
    double s = 1;
    for (int it = 0; it < 50; it++) {
        double g = 0, h = 1e-12;
        for (size_t i = from; i < to; i++) {
            double x = log(v[i].p_rating / (1 - v[i].p_rating)), p = logistic(s * x);
            g += (v[i].allies_won - p) * x;
            h += p * (1 - p) * x * x;
        }
        double d = g / h;
        s += d;
        if (fabs(d) < 1e-10)
            break;
    }
    return s;
}

/* The w that makes 0.5 + (p - 0.5) w fit v[from .. to)'s outcomes best (log-likelihood; its slope falls with w, so
 * bisection finds it): how much more (w > 1) or less (w < 1) of the ratings' chances the outcomes bore out. The
 * form of RATING_START_WEIGHT (rating_win_probabilities), so that the weight a history asks for is the current
 * one times w. Bounded where a chance would reach 0 or 1. */
static double fit_start_weight(const sample *v, size_t from, size_t to)
{
    double far = 0;
    for (size_t i = from; i < to; i++)
        far = fmax(far, fabs(v[i].p_rating - 0.5));
    double lo = 0, hi = far > 0 ? 0.5 / far * (1 - 1e-9) : 1;
    for (int it = 0; it < 100; it++) {
        double w = (lo + hi) / 2, slope = 0;
        for (size_t i = from; i < to; i++) {
            double d = v[i].p_rating - 0.5, q = 0.5 + d * w;
            slope += v[i].allies_won ? d / q : -d / (1 - q);
        }
        if (slope > 0)
            lo = w;
        else
            hi = w;
    }
    return (lo + hi) / 2;
}

/* A number for JSON: null when it is not one. */
static void json_num(FILE *f, const char *key, double v, const char *after)
{
    if (isfinite(v))
        fprintf(f, "\"%s\": %.6g%s", key, v, after);
    else
        fprintf(f, "\"%s\": null%s", key, after);
}

static const char usage_text[] =
    "usage: ratingd evaluate [--skills FILE] [--json FILE]\n"
    "Replays every finished match from raw_events in order (nothing is written), predicts each rated team match\n"
    "before learning from it, and scores the last 25%% of them for the ratings and two baselines: the map's Allies\n"
    "win rate, and the teams' mean prior K/D (a logistic curve fitted on the first 75%%), with a paired bootstrap\n"
    "interval of the log-loss the ratings gain over the K/D baseline, and the calibration error that exactly right\n"
    "predictions would show on as many matches by chance.\n"
    "Rated free-for-all matches are scored apart, on who finishes first: the ratings' chance (against the field\n"
    "present at the start) against a uniform guess and a softmax of prior K/D (fitted on the first 75%%).\n"
    "--skills FILE: a simulated world's hidden skills (demo_world --skills): the rank correlation of the final mu\n"
    "with them, per family, over the players with at least %d rated matches in it.\n"
    "--json FILE: the figures as one JSON object too.\n";

int evaluate_main(const ratingd_settings *s, int argc, char **argv)
{
    const char *skills_path = NULL, *json_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--skills") == 0 && i + 1 < argc)
            skills_path = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else {
            fprintf(stderr, usage_text, MIN_RANKED_MATCHES);
            return 2;
        }
    }
    hashmap *skills = NULL;
    if (skills_path && !(skills = eval_read_skills(skills_path)))
        return 1;
    eval_state e = {.kd = hashmap_new(), .maps = hashmap_new(), .matches = hashmap_new()};
    hashmap *ratings = hashmap_new();
    int rc = e.kd && e.maps && e.matches && ratings ? 0 : -ENOMEM;
    match_ref last = {0};
    rater_counts counts = {0};
    while (rc == 0) {
        match_list page;
        rc = facts_find_matches(s, /* unrated_only= */ false, last.match_key ? &last : NULL, PAGE, 0, &page);
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
    double *p = NULL;
    int *y = NULL;
    eval_metrics m[3] = {{.name = "ratings (Weng-Lin PL)", .id = "ratings"},
                    {.name = "map win rate", .id = "map_win_rate"},
                    {.name = "mean prior K/D, logistic", .id = "prior_kd"}};
    double a = 0, b = 0, gain_lo = NAN, gain_hi = NAN, chance_mean = NAN, chance_p90 = NAN;
    family_ranking ranking[RFAM__COUNT];
    if (rc == 0) {
        fit_logistic(e.v, train, &a, &b);
        p = malloc(test * 3 * sizeof *p);
        y = malloc(test * sizeof *y);
        if (!p || !y)
            rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < test; i++) {
        const sample *x = &e.v[train + i];
        p[i] = x->p_rating;
        p[test + i] = x->p_map;
        p[2 * test + i] = eval_clamp_p(logistic(a + b * x->kd_diff));
        y[i] = x->allies_won;
    }
    /* The ratings' log-loss on the matches the K/D curve learns from: what a setting (RATING_BETA) may be chosen by,
     * leaving the held-out quarter to say how well the choice predicts. */
    double train_ll = 0, late_ll = 0;
    for (size_t i = 0; rc == 0 && i < train; i++) {
        double l = -log(e.v[i].allies_won ? e.v[i].p_rating : 1 - e.v[i].p_rating);
        train_ll += l / (double)train;
        if (i >= train / 2)
            late_ll += l / (double)(train - train / 2);
    }
    if (rc == 0) {
        for (int k = 0; k < 3; k++)
            eval_score(&m[k], p + k * test, y, test);
        rc = eval_bootstrap_gain(p, p + 2 * test, y, test, &gain_lo, &gain_hi);
    }
    if (rc == 0)
        rc = eval_calibration_by_chance(p, test, &chance_mean, &chance_p90);
    for (int f = 0; rc == 0 && skills && f < RFAM__COUNT; f++)
        rc = eval_rank_family((rating_family)f, skills, ratings, e.matches, &ranking[f]);
    ffa_report fr;
    if (rc == 0)
        rc = eval_ffa_score(&e.ffa, &fr);
    if (rc == 0) {
        printf("%zu matches replayed, %zu rated; %zu rated team matches: first %zu to learn, last %zu scored\n",
               counts.matches, counts.rated, e.n, train, test);
        printf("ratings with beta %.4f: log-loss %.4f on the first %zu (for choosing settings; scores below are the "
               "last %zu)\n",
               s->model.beta, train_ll, train, test);
        printf("  its second half (matches %zu to %zu, the players as established as in the scored ones): %.4f\n",
               train / 2 + 1, train, late_ll);
        printf("K/D baseline: P(Allies win) = logistic(%.4f + %.4f * (mean prior K/D of the Allies - the Axis'))\n", a,
               b);
        printf("%-28s %9s %9s %9s %12s\n", "model (held-out matches)", "log-loss", "Brier", "accuracy", "calibration");
        for (int k = 0; k < 3; k++)
            printf("%-28s %9.4f %9.4f %9.3f %12.4f\n", m[k].name, m[k].log_loss, m[k].brier, m[k].accuracy,
                   m[k].calibration);
        printf("log-loss gain of the ratings over the K/D baseline: %.4f, 95%% paired bootstrap interval %.4f .. %.4f "
               "(%d resamples)\n",
               m[2].log_loss - m[0].log_loss, gain_lo, gain_hi, EVAL_RESAMPLES);
        printf("ratings' calibration error %.4f; exactly right predictions would show %.4f by chance (90%% of draws "
               "below %.4f)\n",
               m[0].calibration, chance_mean, chance_p90);
        printf("ratings' calibration, bins of the predicted chance: predicted / won (matches)\n");
        for (int k = 0; k < EVAL_BINS; k++)
            if (m[0].bin_n[k] > 0)
                printf("  %.1f-%.1f: %.3f / %.3f (%.0f)\n", k / (double)EVAL_BINS, (k + 1) / (double)EVAL_BINS,
                       m[0].bin_p[k] / m[0].bin_n[k], m[0].bin_y[k] / m[0].bin_n[k], m[0].bin_n[k]);
        for (int f = 0; skills && f < RFAM__COUNT; f++)
            if (ranking[f].players > 0)
                printf("rank correlation with the hidden skill, %s, %zu players with %d+ rated matches: mu %.3f "
                       "(mu - 3 sigma %.3f)\n",
                       rating_family_name((rating_family)f), ranking[f].players, MIN_RANKED_MATCHES, ranking[f].by_mu,
                       ranking[f].by_ordinal);
        for (int f = 0; skills && f < RFAM__COUNT; f++)
            if (ranking[f].players > 2)
                printf("  %s: mu about a line fitted on the hidden skill scatters by %.3f (rms); sigma %.3f (rms); "
                       "%.0f%% within one sigma (68%% if sigma were right)\n",
                       rating_family_name((rating_family)f), ranking[f].resid_rms, ranking[f].sigma_rms,
                       100 * ranking[f].within_sigma);
        printf("scale fitted to the ratings' predictions (logit times s): first 75%% %.3f, its second half %.3f, "
               "held-out %.3f (1: no change; below 1: too sure)\n",
               fit_scale(e.v, 0, train), fit_scale(e.v, train / 2, train), fit_scale(e.v, train, e.n));
        double share = 0;
        for (size_t i = 0; i < train; i++)
            share += e.v[i].start_share / (double)train;
        double w = fit_start_weight(e.v, 0, train);
        printf("RATING_START_WEIGHT %.4f; the first 75%% fit best with %.4f times it: %.4f (the play on a side by "
               "players there at the start: %.3f of it)\n",
               s->model.start_weight, w, w * s->model.start_weight, share);
        if (fr.test == 0) {
            printf("free-for-all: %zu rated matches: too few to hold a quarter out\n", fr.matches);
        } else {
            printf("free-for-all: %zu rated matches: first %zu to learn, last %zu scored on who finished first "
                   "(%zu chances of rated players)\n",
                   fr.matches, fr.train, fr.test, fr.pairs);
            printf("K/D baseline: P(finishes first) = exp(%.4f * prior K/D) over the field present at the start\n",
                   fr.b);
            printf("%-28s %9s %9s %9s %12s\n", "model (held-out matches)", "log-loss", "Brier", "favourite",
                   "calibration");
            for (int k = 0; k < 3; k++)
                printf("%-28s %9.4f %9.4f %9.3f %12.4f\n", fr.m[k].name, fr.m[k].log_loss, fr.m[k].brier,
                       fr.m[k].accuracy, fr.m[k].calibration);
            printf("free-for-all log-loss gain of the ratings over the K/D baseline: %.4f, 95%% paired bootstrap "
                   "interval %.4f .. %.4f; calibration error %.4f, by chance %.4f (90%% of draws below %.4f)\n",
                   fr.m[2].log_loss - fr.m[0].log_loss, fr.gain_lo, fr.gain_hi, fr.m[0].calibration,
                   fr.chance_mean, fr.chance_p90);
            printf("free-for-all calibration, bins of the predicted chance: predicted / finished first (chances)\n");
            for (int k = 0; k < EVAL_BINS; k++)
                if (fr.m[0].bin_n[k] > 0)
                    printf("  %.1f-%.1f: %.3f / %.3f (%.0f)\n", k / (double)EVAL_BINS, (k + 1) / (double)EVAL_BINS,
                           fr.m[0].bin_p[k] / fr.m[0].bin_n[k], fr.m[0].bin_y[k] / fr.m[0].bin_n[k],
                           fr.m[0].bin_n[k]);
        }
    }
    FILE *jf = NULL;
    if (rc == 0 && json_path && !(jf = fopen(json_path, "w"))) {
        fprintf(stderr, "ratingd evaluate: cannot write %s: %s\n", json_path, strerror(errno));
        rc = -errno;
    }
    if (jf) {
        fprintf(jf, "{\"matches\": %zu, \"rated\": %zu, \"team_matches\": %zu, \"scored\": %zu, ", counts.matches,
                counts.rated, e.n, test);
        json_num(jf, "beta", s->model.beta, ", ");
        json_num(jf, "start_weight", s->model.start_weight, ", ");
        json_num(jf, "ratings_train_log_loss", train_ll, ", ");
        json_num(jf, "ratings_train_late_log_loss", late_ll, ", ");
        for (int k = 0; k < 3; k++) {
            fprintf(jf, "\"%s\": {", m[k].id);
            json_num(jf, "log_loss", m[k].log_loss, ", ");
            json_num(jf, "brier", m[k].brier, ", ");
            json_num(jf, "accuracy", m[k].accuracy, ", ");
            json_num(jf, "calibration", m[k].calibration, "}, ");
        }
        fprintf(jf, "\"log_loss_gain_vs_prior_kd\": {");
        json_num(jf, "mean", m[2].log_loss - m[0].log_loss, ", ");
        json_num(jf, "lo95", gain_lo, ", ");
        json_num(jf, "hi95", gain_hi, "}, ");
        fprintf(jf, "\"ratings_calibration_by_chance\": {");
        json_num(jf, "mean", chance_mean, ", ");
        json_num(jf, "p90", chance_p90, "}");
        if (fr.test > 0) {
            fprintf(jf, ", \"ffa\": {\"matches\": %zu, \"scored\": %zu, ", fr.matches, fr.test);
            for (int k = 0; k < 3; k++) {
                fprintf(jf, "\"%s\": {", fr.m[k].id);
                json_num(jf, "log_loss", fr.m[k].log_loss, ", ");
                json_num(jf, "brier", fr.m[k].brier, ", ");
                json_num(jf, "favourite_won", fr.m[k].accuracy, ", ");
                json_num(jf, "calibration", fr.m[k].calibration, "}, ");
            }
            fprintf(jf, "\"log_loss_gain_vs_prior_kd\": {");
            json_num(jf, "mean", fr.m[2].log_loss - fr.m[0].log_loss, ", ");
            json_num(jf, "lo95", fr.gain_lo, ", ");
            json_num(jf, "hi95", fr.gain_hi, "}, ");
            fprintf(jf, "\"ratings_calibration_by_chance\": {");
            json_num(jf, "mean", fr.chance_mean, ", ");
            json_num(jf, "p90", fr.chance_p90, "}}");
        }
        if (skills) {
            fprintf(jf, ", \"rank_correlation\": {");
            for (int f = 0; f < RFAM__COUNT; f++) {
                fprintf(jf, "%s\"%s\": {\"players\": %zu, ", f ? ", " : "", rating_family_name((rating_family)f),
                        ranking[f].players);
                json_num(jf, "mu", ranking[f].by_mu, ", ");
                json_num(jf, "ordinal", ranking[f].by_ordinal, "}");
            }
            fprintf(jf, "}");
        }
        fprintf(jf, "}\n");
        if (fclose(jf) != 0 && rc == 0)
            rc = -EIO;
    }
    free(p);
    free(y);
    hashmap_free(e.kd, free);
    hashmap_free(e.maps, free);
    hashmap_free(e.matches, free);
    hashmap_free(ratings, free);
    if (skills)
        hashmap_free(skills, free);
    free(e.v);
    free(e.ffa.entries);
    free(e.ffa.field);
    free(e.ffa.matches);
    if (rc)
        fprintf(stderr, "ratingd evaluate: failed (%d)\n", rc);
    return rc ? 1 : 0;
}
