/* Rating matches in order (rater.h). */
#include "rater.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int rater_players(const match_data *d, size_t n, const char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    hashmap *seen = hashmap_new();
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += d[i].f.nplayers;
    const char **v = malloc((total ? total : 1) * sizeof *v);
    if (!seen || !v) {
        hashmap_free(seen, NULL);
        free(v);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d[i].f.nplayers; j++) {
            const char *g = d[i].f.players[j].guid;
            if (!rating_guid_ratable(g) || hashmap_get(seen, g, strlen(g)))
                continue;
            if (hashmap_put(seen, g, strlen(g), (void *)g, NULL)) {
                hashmap_free(seen, NULL);
                free(v);
                return -ENOMEM;
            }
            v[k++] = g;
        }
    hashmap_free(seen, NULL);
    *out = v;
    *nout = k;
    return 0;
}

/* Rate one match: its plan, each rated player's prior from ratings, the update, the new ratings back, the rows. */
static int rate_one(const ratingd_settings *s, const match_ref *ref, const match_data *d, hashmap *ratings,
                    bytebuf *rows, rater_counts *counts, rater_observe_fn observe, void *arg)
{
    match_plan plan;
    int rc = match_plan_build(&d->f, &s->rules, &plan);
    if (rc)
        return rc;
    size_t n = d->f.nplayers ? d->f.nplayers : 1;
    rating *before = calloc(n, sizeof *before), *after = calloc(n, sizeof *after);
    uint64_t *last = calloc(n, sizeof *last);
    double *win = calloc(n, sizeof *win);
    if (!before || !after || !last || !win)
        rc = -ENOMEM;
    char key[320];
    for (size_t i = 0; rc == 0 && plan.rated && i < d->f.nplayers; i++) {
        /* A guest or a bot on a side counts as a new player; a member who played too little, as they are. */
        if (plan.verdict[i] != PLAYER_RATED && plan.verdict[i] != PLAYER_SHORT) {
            before[i] = rating_new(&s->model);
            continue;
        }
        const stored_rating *sr =
            hashmap_get(ratings, key, store_rating_key(key, sizeof key, plan.family, d->f.players[i].guid));
        before[i] = sr ? sr->r : rating_new(&s->model);
        last[i] = sr ? sr->last_ms : 0;
    }
    if (rc == 0 && plan.rated) {
        int applied = match_plan_apply(&plan, &s->model, s->inactivity_per_day, ref->end_ms, last, before, after, win);
        if (applied == -ENOMEM)
            rc = applied;
        else if (applied != 0) {
            /* The model refused it (a rating no longer finite): recorded, not rated, never a partial update. */
            plan.rated = false;
            snprintf(plan.reason, sizeof plan.reason, "the rating model could not rate it");
        }
    }
    for (size_t i = 0; rc == 0 && plan.rated && i < d->f.nplayers; i++) {
        if (plan.verdict[i] != PLAYER_RATED)
            continue;
        size_t len = store_rating_key(key, sizeof key, plan.family, d->f.players[i].guid);
        stored_rating *sr = hashmap_get(ratings, key, len);
        if (!sr) {
            sr = malloc(sizeof *sr);
            if (!sr || hashmap_put(ratings, key, len, sr, NULL)) {
                free(sr);
                rc = -ENOMEM;
                break;
            }
        }
        sr->r = after[i];
        sr->last_ms = ref->end_ms;
        if (counts)
            counts->players++;
    }
    if (rc == 0 && rows)
        rc = store_match_rows(rows, ref, d, &plan, before, after, win);
    if (rc == 0 && observe)
        observe(arg, ref, d, &plan, win);
    if (rc == 0 && counts) {
        counts->matches++;
        counts->rated += plan.rated;
    }
    free(before);
    free(after);
    free(last);
    free(win);
    match_plan_free(&plan);
    return rc;
}

int rater_rate_observed(const ratingd_settings *s, const match_ref *refs, const match_data *d, size_t n,
                        hashmap *ratings, bytebuf *rows, rater_counts *counts, rater_observe_fn observe, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        int rc = rate_one(s, &refs[i], &d[i], ratings, rows, counts, observe, arg);
        if (rc)
            return rc;
    }
    return 0;
}

int rater_rate(const ratingd_settings *s, const match_ref *refs, const match_data *d, size_t n, hashmap *ratings,
               bytebuf *rows, rater_counts *counts)
{
    return rater_rate_observed(s, refs, d, n, ratings, rows, counts, NULL, NULL);
}
