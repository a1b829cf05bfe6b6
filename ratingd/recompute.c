/* `ratingd recompute [--replace]`: every rating again from raw_events, in rating order, into a fresh table
 * (rating_changes_recompute), with the daemon's own code (rater.c); then whether it equals rating_changes, and with
 * --replace the swap of the two tables. */
#include "recompute.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clickhouse.h"
#include "facts.h"
#include "log.h"
#include "rater.h"
#include "store.h"
#include "worker.h"

#define TARGET "rating_changes_recompute"
#define TARGET_BY_MATCH "rating_changes_by_match_recompute"
#define PAGE RATINGD_MAX_MATCHES /* matches per facts query: each page reads raw_events once */

/* The same rows, whatever their order and however many copies a repeated insert left: a count and a sum of row
 * hashes over FINAL. */
static const char digest_sql[] =
    "SELECT count(), sum(cityHash64(guid, match_key, kind, end_ms, family, game_type, rated, reason, team, place,\n"
    "       weight, mu_before, sigma_before, mu_after, sigma_after, win_prob))\n"
    "FROM %s FINAL\n"
    "FORMAT TabSeparated";

/* Run a statement; print its error. */
static int run_sql(const ratingd_settings *s, const char *sql, char **out)
{
    char *body = NULL;
    int rc = ch_query_sync(s->clickhouse_url, sql, &body);
    if (rc)
        fprintf(stderr, "ratingd recompute: ClickHouse refused '%.60s...': %.300s\n", sql, body ? body : "no answer");
    if (out && rc == 0)
        *out = body;
    else
        free(body);
    return rc;
}

/* A table's digest (count and hash sum) as text, into out. */
static int digest(const ratingd_settings *s, const char *table, char *out, size_t cap)
{
    char sql[512], *body = NULL;
    snprintf(sql, sizeof sql, digest_sql, table);
    int rc = run_sql(s, sql, &body);
    if (rc == 0) {
        snprintf(out, cap, "%s", body);
        out[strcspn(out, "\n")] = '\0';
    }
    free(body);
    return rc;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Where a recomputation's time went: listing the matches, reading their facts, rating, writing. */
typedef struct {
    double find, load, rate, insert;
} phase_times;

/* Add the time since *t to *acc and restart *t. */
static void lap(struct timespec *t, double *acc)
{
    *acc += seconds_since(t);
    clock_gettime(CLOCK_MONOTONIC, t);
}

/* Rate every due match, page by page, into TARGET. */
static int rate_all(const ratingd_settings *s, rater_counts *counts, phase_times *pt)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    hashmap *ratings = hashmap_new();
    if (!ratings)
        return -ENOMEM;
    match_ref last = {0};
    int rc = 0;
    for (;;) {
        match_list page;
        rc = facts_find_matches(s, /* unrated_only= */ false, last.match_key ? &last : NULL, PAGE, 0, &page);
        lap(&t, &pt->find);
        if (rc || page.n == 0)
            break;
        match_data *d = calloc(page.n, sizeof *d);
        bytebuf rows = {0};
        rc = d ? facts_load(s, page.v, page.n, d) : -ENOMEM;
        lap(&t, &pt->load);
        if (rc == 0)
            rc = rater_rate(s, page.v, d, page.n, ratings, &rows, counts);
        lap(&t, &pt->rate);
        if (rc == 0)
            rc = store_insert(s, TARGET, &rows);
        lap(&t, &pt->insert);
        if (d)
            match_data_free(d, page.n);
        free(d);
        bytebuf_free(&rows);
        free(last.match_key);
        last.match_key = NULL;
        if (rc == 0) {
            last = page.v[page.n - 1];
            last.match_key = strdup(last.match_key);
            if (!last.match_key)
                rc = -ENOMEM;
        }
        match_list_free(&page);
        if (rc)
            break;
    }
    free(last.match_key);
    hashmap_free(ratings, free);
    return rc;
}

int recompute_main(const ratingd_settings *s, int argc, char **argv)
{
    bool replace = argc == 3 && strcmp(argv[2], "--replace") == 0;
    if (argc > 3 || (argc == 3 && !replace)) {
        fprintf(stderr, "usage: ratingd recompute [--replace]\n"
                        "Rates every finished match again from raw_events, in order, into " TARGET ", prints the\n"
                        "rate and whether the result equals rating_changes; --replace then makes it rating_changes\n"
                        "(the old table is kept as rating_changes_previous).\n");
        return 2;
    }
    /* With --replace the lease keeps a ratingd from writing into the table being swapped out: the daemons are
     * stopped first (a running one renews its lease), and one started meanwhile stands by until the swap is done. */
    rating_lease *lease = NULL;
    if (replace) {
        lease = lease_new(s);
        int held = lease ? lease_hold(lease) : -ENOMEM;
        for (int waited = 0; held == 0 && waited < s->lease_ms * 2; waited += 200) {
            usleep(200 * 1000);
            held = lease_hold(lease);
        }
        if (held != 1) {
            fprintf(stderr, "ratingd recompute: could not take the rating lease (%s): stop every ratingd first\n",
                    held == 0 ? "a ratingd holds it" : "Redis unreachable");
            lease_free(lease);
            return 1;
        }
    }
    int rc = run_sql(s, "CREATE TABLE IF NOT EXISTS " TARGET " AS rating_changes", NULL);
    if (rc == 0)
        rc = run_sql(s, "TRUNCATE TABLE " TARGET, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rater_counts counts = {0};
    phase_times pt = {0};
    if (rc == 0)
        rc = rate_all(s, &counts, &pt);
    double took = seconds_since(&t0);
    if (rc == 0) {
        printf("recomputed %zu matches (%zu rated, %zu player ratings) in %.3f s: %.0f matches/s\n", counts.matches,
               counts.rated, counts.players, took, took > 0 ? (double)counts.matches / took : 0.0);
        printf("time: listing matches %.3f s, reading their facts %.3f s, rating %.3f s, writing %.3f s\n", pt.find,
               pt.load, pt.rate, pt.insert);
        char a[128] = "", b[128] = "";
        rc = digest(s, TARGET, a, sizeof a) | digest(s, "rating_changes", b, sizeof b);
        if (rc == 0)
            printf("%s: %s rating_changes (rows and hash: %s, %s)\n", TARGET,
                   strcmp(a, b) == 0 ? "identical to" : "differs from", a, b);
    }
    if (rc == 0 && replace) {
        /* The by-match copy the daemon keeps beside it (0006_rating_changes_by_match.sql), from the same rows. */
        rc = run_sql(s, "CREATE TABLE IF NOT EXISTS " TARGET_BY_MATCH " AS rating_changes_by_match", NULL);
        if (rc == 0)
            rc = run_sql(s, "TRUNCATE TABLE " TARGET_BY_MATCH, NULL);
        if (rc == 0)
            rc = run_sql(s, "INSERT INTO " TARGET_BY_MATCH " SELECT * FROM " TARGET, NULL);
        if (rc == 0)
            rc = run_sql(s, "DROP TABLE IF EXISTS rating_changes_previous", NULL);
        if (rc == 0)
            rc = run_sql(s, "DROP TABLE IF EXISTS rating_changes_by_match_previous", NULL);
        if (rc == 0)
            rc = run_sql(s,
                         "RENAME TABLE rating_changes TO rating_changes_previous, " TARGET " TO rating_changes, "
                         "rating_changes_by_match TO rating_changes_by_match_previous, " TARGET_BY_MATCH
                         " TO rating_changes_by_match",
                         NULL);
        if (rc == 0)
            printf("rating_changes and rating_changes_by_match replaced; the previous tables are "
                   "rating_changes_previous and rating_changes_by_match_previous\n");
        if (rc == 0) /* every rating may have changed: queryd's answers carrying one are computed again */
            lease_note_ratings(lease, NULL, 0);
    }
    if (lease) {
        lease_release(lease);
        lease_free(lease);
    }
    if (rc)
        fprintf(stderr, "ratingd recompute: failed (%d); rating_changes is unchanged\n", rc);
    return rc ? 1 : 0;
}
