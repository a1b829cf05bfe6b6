/* Team ratings into the forum: each team's rating (smf_mohaa_teams.rating, which the forum ranks teams by) from its
 * active members' skill ratings, on the forum's scale (docs/tournaments.md, docs/ratings.md).
 *
 * One computation. The team's rating is common/rating.c's rating_team_mean of its members' (each by the GUID with
 * the most rated matches in RATING_TEAM_FAMILY, rating_member_offer), the one queryd serves at
 * /stats/team/{id}/rating, mapped by rating_forum_points; the members are the ones queryd counts (active, with
 * their linked GUIDs). A team none of whose members is rated keeps the rating it has (a new team: the forum's 1000).
 *
 * When. A value, not an event: the pass writes only what changed, and runs only when its inputs may have: the
 * teams' members and GUIDs (read every poll from MariaDB, a small table) or rating_changes (its active parts in
 * system.parts: ratingd inserts once per rated match). Missing a change is not possible that way, writing one twice
 * is harmless. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "hashmap.h"
#include "log.h"
#include "rating.h"
#include "text.h"
#include "tournament.h"

struct team_rater {
    const achievd_settings *s;
    tforum *fm;
    rating_model model;
    uint64_t inputs;   /* the signature of the last pass's inputs (0: none yet, or it failed) */
    hashmap *written;  /* team id -> the rating last written, as "%d" (malloc'd) */
    bool parts_warned; /* system.parts could not be read: logged once */
};

team_rater *team_rater_new(const achievd_settings *s, tforum *f)
{
    team_rater *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->s = s;
    r->fm = f;
    /* rating_forum_points reads a new player's mu, the same whatever RATING_BETA is */
    rating_model_default(&r->model);
    r->written = hashmap_new();
    if (!r->written) {
        free(r);
        return NULL;
    }
    return r;
}

void team_rater_free(team_rater *r)
{
    if (!r)
        return;
    hashmap_free(r->written, free);
    free(r);
}

/* A signature of rating_changes' data: its active parts change with every insert (and merge). 0 when it cannot be
 * read: the pass then runs every time. */
static uint64_t ratings_signature(team_rater *r)
{
    char *body = tournament_ch_rows(r->s, "SELECT count(), sum(rows), max(modification_time) FROM system.parts\n"
                                          "WHERE database = currentDatabase() AND table = 'rating_changes' AND active\n"
                                          "FORMAT TabSeparated");
    if (!body) {
        if (!r->parts_warned)
            log_warn("achievd: tournaments: cannot read rating_changes' parts: team ratings are recomputed at "
                     "every poll");
        r->parts_warned = true;
        return 0;
    }
    uint64_t h = hash_fnv1a(body, strlen(body));
    free(body);
    return h ? h : 1;
}

/* The ratings in RATING_TEAM_FAMILY of the roster's GUIDs: "guid\tmu\tsigma\tmatches" rows (malloc'd), as
 * docs/ratings.md reads a player's current rating. */
static char *member_ratings(team_rater *r, const tmember *ms, size_t n)
{
    bytebuf q = {0};
    int rc = bytebuf_appendf(&q, "SELECT guid, argMax(mu_after, o), argMax(sigma_after, o), uniqExact(match_key)\n"
                                 "FROM\n"
                                 "(\n"
                                 "    SELECT guid, match_key, mu_after, sigma_after, tuple(end_ms, match_key) AS o\n"
                                 "    FROM rating_changes\n"
                                 "    WHERE kind = 'player' AND family = '" RATING_TEAM_FAMILY "' AND guid IN (");
    size_t listed = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!ms[i].guid[0])
            continue;
        rc |= listed++ ? bytebuf_append(&q, ", ", 2) : 0;
        rc |= ch_append_quoted(&q, ms[i].guid, strlen(ms[i].guid));
    }
    rc |= bytebuf_appendf(&q, ")\n)\nGROUP BY guid\nFORMAT TabSeparated");
    char *body = listed == 0 && rc == 0 ? strdup("") : tournament_ch_rows(r->s, rc == 0 ? q.data : NULL);
    bytebuf_free(&q);
    return body;
}

/* A GUID's rating in the rows of member_ratings (parsed into a table of n rows). */
typedef struct {
    const char *guid;
    rating r;
    double matches;
} guid_rating;

static const guid_rating *rating_of(const guid_rating *g, size_t n, const char *guid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].guid, guid) == 0)
            return &g[i];
    return NULL;
}

/* Write a team's rating unless it is the one written last; counts it in *written when the forum's changed. */
static int write_team(team_rater *r, uint32_t team, const rating_member *members, size_t n, unsigned *written)
{
    rating mean;
    if (!rating_team_mean(members, n, &mean))
        return 0; /* nobody rated: the team keeps its rating */
    int points = rating_forum_points(&r->model, mean);
    char key[16], val[16];
    snprintf(key, sizeof key, "%" PRIu32, team);
    snprintf(val, sizeof val, "%d", points);
    const char *last = hashmap_get(r->written, key, strlen(key));
    if (last && strcmp(last, val) == 0)
        return 0;
    bool changed = false;
    int rc = tforum_set_rating(r->fm, team, points, &changed);
    if (rc != 0)
        return rc;
    char *copy = strdup(val), *old = NULL;
    if (copy && hashmap_put(r->written, key, strlen(key), copy, (void **)&old) != 0)
        free(copy);
    free(old);
    if (changed) {
        (*written)++;
        log_info("achievd: tournaments: team %" PRIu32 "'s rating is now %d (mean skill %.2f of its rated members)",
                 team, points, mean.mu);
    }
    return 0;
}

int team_rater_step(team_rater *r, unsigned *written)
{
    *written = 0;
    if (!tforum_has_team_rating(r->fm))
        return 0;
    tmember *ms = NULL;
    size_t n = 0;
    int rc = tforum_rosters(r->fm, &ms, &n);
    if (rc != 0)
        return rc;
    uint64_t inputs = ratings_signature(r);
    for (size_t i = 0; inputs && i < n; i++) {
        char row[96];
        int len = snprintf(row, sizeof row, "%" PRIu32 " %" PRIu32 " %s\n", ms[i].team, ms[i].member, ms[i].guid);
        inputs = inputs * 1099511628211ULL ^ hash_fnv1a(row, (size_t)len);
    }
    if (inputs != 0 && inputs == r->inputs) {
        free(ms);
        return 0;
    }
    char *body = member_ratings(r, ms, n);
    size_t ng = 0, cap = 0;
    guid_rating *g = NULL;
    char *p = body, *f[4];
    bool oom = false; /* a partial list would write wrong ratings: none then */
    while (body && tsv_split_line(&p, f, 4) == 4) {
        if (ng == cap) {
            cap = cap ? cap * 2 : 16;
            guid_rating *more = realloc(g, cap * sizeof *more);
            if (!more) {
                oom = true;
                break;
            }
            g = more;
        }
        g[ng++] = (guid_rating){f[0], {strtod(f[1], NULL), strtod(f[2], NULL)}, strtod(f[3], NULL)};
    }
    rc = !body ? -EIO : oom ? -ENOMEM : 0;
    /* each team's members in turn (the roster is ordered by team, then member), the first RATING_TEAM_MAX_MEMBERS
     * of each as queryd counts them */
    rating_member members[RATING_TEAM_MAX_MEMBERS];
    size_t nm = 0;
    bool counted = false;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (nm == 0 || ms[i].member != ms[i - 1].member) {
            counted = nm < RATING_TEAM_MAX_MEMBERS;
            if (counted)
                members[nm++] = (rating_member){{0, 0}, 0};
        }
        const guid_rating *gr = counted && ms[i].guid[0] ? rating_of(g, ng, ms[i].guid) : NULL;
        if (gr)
            rating_member_offer(&members[nm - 1], gr->r, gr->matches);
        if (i + 1 == n || ms[i + 1].team != ms[i].team) {
            rc = write_team(r, ms[i].team, members, nm, written);
            nm = 0;
        }
    }
    free(g);
    free(body);
    free(ms);
    /* after a failure, the next poll passes again */
    r->inputs = rc == 0 ? inputs : 0;
    return rc;
}
