/* How well final ratings rank a simulated world's players by their hidden skill (eval_rank.h). */
#include "eval_rank.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* One player's final rating next to their hidden skill. */
typedef struct {
    double skill, mu, ordinal, sigma;
    double rank_skill, rank_value; /* scratch: ranks, ties averaged */
} ranked_player;

/* Give v[i].rank_* (by_mu: mu, else the ordinal) the average rank of its value among v[0 .. n) (1 is the lowest). */
static void assign_ranks(ranked_player *v, size_t n, bool skill, bool by_mu)
{
    for (size_t i = 0; i < n; i++) {
        double x = skill ? v[i].skill : by_mu ? v[i].mu : v[i].ordinal, below = 0, equal = 0;
        for (size_t j = 0; j < n; j++) { /* quadratic: a world has a few hundred members */
            double y = skill ? v[j].skill : by_mu ? v[j].mu : v[j].ordinal;
            below += y < x;
            equal += y == x;
        }
        double r = below + (equal + 1) / 2;
        if (skill)
            v[i].rank_skill = r;
        else
            v[i].rank_value = r;
    }
}

/* Spearman's rank correlation of v's hidden skill with its mu (by_mu) or ordinal: Pearson's over the ranks. */
static double spearman(ranked_player *v, size_t n, bool by_mu)
{
    assign_ranks(v, n, /* skill= */ true, by_mu);
    assign_ranks(v, n, /* skill= */ false, by_mu);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += v[i].rank_skill / (double)n;
        mb += v[i].rank_value / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        double a = v[i].rank_skill - ma, b = v[i].rank_value - mb;
        sab += a * b;
        saa += a * a;
        sbb += b * b;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* The hidden skills of demo_world --skills ("SKILL MEMBER_ID NAME" lines; guests, "guest", are never rated) as a
 * map guid -> double. NULL (said why) when the file cannot be read. */
hashmap *eval_read_skills(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ratingd evaluate: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    hashmap *m = hashmap_new();
    char line[512], guid[64];
    double skill;
    while (m && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lf %63s", &skill, guid) != 2 || strcmp(guid, "guest") == 0)
            continue;
        double *v = malloc(sizeof *v);
        if (!v || hashmap_put(m, guid, strlen(guid), v, NULL)) {
            free(v);
            hashmap_free(m, free);
            m = NULL;
            break;
        }
        *v = skill;
    }
    fclose(f);
    return m;
}


int eval_rank_family(rating_family fam, hashmap *skills, hashmap *ratings, hashmap *matches, family_ranking *out)
{
    *out = (family_ranking){0, NAN, NAN, NAN, NAN, NAN};
    size_t cap = hashmap_size(skills), n = 0, pos = 0, len;
    ranked_player *v = calloc(cap ? cap : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    const char *guid;
    void *value;
    while (hashmap_next(skills, &pos, &guid, &len, &value)) {
        char g[128], key[256];
        snprintf(g, sizeof g, "%.*s", (int)len, guid);
        size_t klen = store_rating_key(key, sizeof key, fam, g);
        const double *count = hashmap_get(matches, key, klen);
        const stored_rating *r = hashmap_get(ratings, key, klen);
        if (!count || *count < MIN_RANKED_MATCHES || !r)
            continue;
        v[n++] = (ranked_player){
            .skill = *(double *)value, .mu = r->r.mu, .ordinal = rating_ordinal(r->r), .sigma = r->r.sigma};
    }
    out->players = n;
    if (n >= 3) {
        double ms = 0, mm = 0, sxy = 0, sxx = 0, rr = 0, ss = 0, within = 0;
        for (size_t i = 0; i < n; i++) {
            ms += v[i].skill / (double)n;
            mm += v[i].mu / (double)n;
        }
        for (size_t i = 0; i < n; i++) {
            sxy += (v[i].skill - ms) * (v[i].mu - mm);
            sxx += (v[i].skill - ms) * (v[i].skill - ms);
        }
        double slope = sxx > 0 ? sxy / sxx : 0;
        for (size_t i = 0; i < n; i++) {
            double e = v[i].mu - (mm + slope * (v[i].skill - ms));
            rr += e * e;
            ss += v[i].sigma * v[i].sigma;
            within += fabs(e) <= v[i].sigma;
        }
        /* n - 2: the line's two parameters were fitted on the same players */
        out->resid_rms = sqrt(rr / (double)(n - 2));
        out->sigma_rms = sqrt(ss / (double)n);
        out->within_sigma = within / (double)n;
        out->by_mu = spearman(v, n, /* by_mu= */ true);
        out->by_ordinal = spearman(v, n, /* by_mu= */ false);
    }
    free(v);
    return 0;
}
