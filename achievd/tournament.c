/* The tournament thread: writes the result of each linked tournament match into the forum's tables once its game
 * match has ended, exactly once; links scheduled tournament matches to the one game match that fits, when only one
 * does; then writes the teams' ratings where they changed (tournament_rating.c) (docs/tournaments.md).
 *
 * Why in achievd, and polling. achievd is mohstats' writer of game results into the forum's database: it has the
 * forum's settings, its schema variants and its deployment already; a daemon of its own would repeat all of that
 * for one query a few seconds. The thread shares nothing with the achievement pipeline but the settings. It
 * polls instead of reading the stream because a result needs two things that arrive in either order: the link
 * (authd writes it when the forum calls) and the match's end (in ClickHouse once ingestd's writer inserted it);
 * a poll sees both, and a link made after the match ended is recorded by the next poll.
 *
 * Why exactly once. Each result is written in one MariaDB transaction together with its row in
 * mohstats_tournament_results (tournament_forum.c): a crash before the commit writes nothing, a replay or a second
 * achievd finds the row and writes nothing. No lease is needed.
 *
 * Who played for whom. A team's players are the GUIDs linked (smf_mohaa_identities) to its members while they
 * were members; a team played on the side most of its players present in the match were on (their last side,
 * match_players). A match where either team has no player, both sides tie, or both teams are on one side is not
 * recorded: it waits (a link or a membership may still be fixed) and is logged once. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "config.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "text.h"
#include "tournament.h"

#define PENDING_MAX 100 /* linked matches examined per step */
#define SCHEDULED_MAX 50
#define PLAYERS_MAX 256

struct tournament_thread {
    const achievd_settings *s;
    tforum *fm;
    team_rater *rater;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    hashmap *logged; /* "what:id" already logged (undecidable results, ambiguous links) */
    uint32_t pending_after; /* record_pending's place in the linked matches (see there) */
    atomic_ullong recorded, undecided, autolinked, ambiguous, teams_rated, errors;
};

/* One player's last side in a game match. */
typedef struct {
    char guid[65];
    tside side;
} played;

/* A game match as ClickHouse has it, once it ended. */
typedef struct {
    char key[65];
    char winner[16];
    int allies, axis;
    char map[101];
    uint64_t first_s, last_s;
    played *players;
    size_t nplayers;
} game;

tside tournament_team_side(unsigned on_allies, unsigned on_axis)
{
    return on_allies > on_axis ? TSIDE_ALLIES : on_axis > on_allies ? TSIDE_AXIS : TSIDE_NONE;
}

char tournament_outcome(const char *winner, int allies_score, int axis_score, tside side_a)
{
    tside won = strcmp(winner, "allies") == 0 ? TSIDE_ALLIES
                : strcmp(winner, "axis") == 0 ? TSIDE_AXIS
                : allies_score > axis_score   ? TSIDE_ALLIES
                : axis_score > allies_score   ? TSIDE_AXIS
                                              : TSIDE_NONE;
    return won == TSIDE_NONE ? 'd' : won == side_a ? 'a' : 'b';
}

/* Log a message once per key for the life of the process (a condition that waits is seen every poll). */
static bool first_time(tournament_thread *t, const char *key)
{
    if (hashmap_get(t->logged, key, strlen(key)))
        return false;
    hashmap_put(t->logged, key, strlen(key), (void *)1, NULL);
    return true;
}

char *tournament_ch_rows(const achievd_settings *s, const char *sql)
{
    char *body = NULL;
    if (sql && ch_query_sync(s->clickhouse_url, sql, &body) == 0)
        return body;
    log_error("achievd: tournaments: ClickHouse failed: %s", body ? body : "out of memory");
    free(body);
    return NULL;
}

/* The ended games among keys (n of them) into *out. */
static int games_ended(tournament_thread *t, char *const *keys, size_t n, game **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    bytebuf q = {0};
    int rc = bytebuf_appendf(&q, "SELECT match_key, argMaxMerge(winner), argMaxMerge(allies_score),\n"
                                 "       argMaxMerge(axis_score), argMaxMerge(map), intDiv(minMerge(first_ms), 1000),\n"
                                 "       intDiv(maxMerge(last_ms), 1000)\n"
                                 "FROM match_summary\n"
                                 "WHERE match_key IN (");
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= i ? bytebuf_append(&q, ", ", 2) : 0;
        rc |= ch_append_quoted(&q, keys[i], strlen(keys[i]));
    }
    rc |= bytebuf_appendf(&q, ")\nGROUP BY match_key\nHAVING sumMerge(ends) > 0\nFORMAT TabSeparated");
    char *body = tournament_ch_rows(t->s, rc == 0 ? q.data : NULL);
    bytebuf_free(&q);
    if (!body)
        return -EIO;
    game *g = calloc(n, sizeof *g);
    char *p = body, *f[7];
    size_t k;
    while (g && *nout < n && (k = tsv_split_line(&p, f, 7)) > 0) {
        if (k < 7)
            continue;
        game *x = &g[(*nout)++];
        snprintf(x->key, sizeof x->key, "%s", f[0]);
        snprintf(x->winner, sizeof x->winner, "%s", f[1]);
        x->allies = atoi(f[2]);
        x->axis = atoi(f[3]);
        snprintf(x->map, sizeof x->map, "%s", f[4]);
        x->first_s = strtoull(f[5], NULL, 10);
        x->last_s = strtoull(f[6], NULL, 10);
    }
    free(body);
    if (!g)
        return -ENOMEM;
    *out = g;
    return 0;
}

/* The players of a game and their last sides. */
static int game_players(tournament_thread *t, game *g)
{
    bytebuf q = {0};
    int rc = bytebuf_appendf(&q, "SELECT guid, argMaxMerge(team) FROM match_players WHERE match_key = ");
    rc |= ch_append_quoted(&q, g->key, strlen(g->key));
    rc |= bytebuf_appendf(&q, "\nGROUP BY guid ORDER BY guid LIMIT %d FORMAT TabSeparated", PLAYERS_MAX);
    char *body = tournament_ch_rows(t->s, rc == 0 ? q.data : NULL);
    bytebuf_free(&q);
    if (!body)
        return -EIO;
    g->players = calloc(PLAYERS_MAX, sizeof *g->players);
    char *p = body, *f[2];
    while (g->players && g->nplayers < PLAYERS_MAX && tsv_split_line(&p, f, 2) == 2) {
        played *x = &g->players[g->nplayers++];
        snprintf(x->guid, sizeof x->guid, "%s", f[0]);
        x->side = strcmp(f[1], "allies") == 0 ? TSIDE_ALLIES : strcmp(f[1], "axis") == 0 ? TSIDE_AXIS : TSIDE_NONE;
    }
    free(body);
    return g->players ? 0 : -ENOMEM;
}

static void games_free(game *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].players);
    free(g);
}

/* The side a team played on in a game, from its members' GUIDs during the game. */
static int played_side(tournament_thread *t, uint32_t team, const game *g, tside *side)
{
    char **guids = NULL;
    size_t n = 0;
    *side = TSIDE_NONE;
    if (team == 0)
        return 0;
    int rc = tforum_team_guids(t->fm, team, g->first_s, g->last_s, &guids, &n);
    if (rc != 0)
        return rc;
    unsigned allies = 0, axis = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < g->nplayers; j++)
            if (strcmp(guids[i], g->players[j].guid) == 0) {
                allies += g->players[j].side == TSIDE_ALLIES;
                axis += g->players[j].side == TSIDE_AXIS;
            }
    tforum_guids_free(guids, n);
    *side = tournament_team_side(allies, axis);
    return 0;
}

/* Both teams' sides in a game; true when they are known and opposite. */
static int teams_opposed(tournament_thread *t, const tlink *l, const game *g, tside *side_a, bool *opposed)
{
    tside b;
    *opposed = false;
    int rc = played_side(t, l->team_a, g, side_a);
    rc = rc ? rc : played_side(t, l->team_b, g, &b);
    *opposed = rc == 0 && *side_a != TSIDE_NONE && b != TSIDE_NONE && *side_a != b;
    return rc;
}

/* Record each linked tournament match whose game has ended. Each step reads PENDING_MAX of the unrecorded links
 * after the last one it looked at, in id order, and starts again from the first once it has read them all: links
 * that never resolve (a game that never ends, a player-based bracket) and a link whose recording keeps failing
 * take their turn but cannot keep the ones after them from being looked at. */
static int record_pending(tournament_thread *t)
{
    tlink *links = NULL;
    size_t n = 0;
    int rc = tforum_pending(t->fm, t->pending_after, &links, &n, PENDING_MAX);
    if (rc != 0 || n == 0) {
        t->pending_after = 0;
        free(links);
        return rc;
    }
    char **keys = calloc(n, sizeof *keys);
    for (size_t i = 0; keys && i < n; i++)
        keys[i] = links[i].match_id;
    game *games = NULL;
    size_t ng = 0;
    rc = keys ? games_ended(t, keys, n, &games, &ng) : -ENOMEM;
    free(keys);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        t->pending_after = links[i].id_match;
        game *g = NULL;
        for (size_t j = 0; j < ng && !g; j++)
            if (strcmp(games[j].key, links[i].match_id) == 0)
                g = &games[j];
        if (!g)
            continue; /* not ended (or not played) yet */
        if (links[i].team_a == 0 || links[i].team_b == 0) {
            char key[48];
            snprintf(key, sizeof key, "teamless:%" PRIu32, links[i].id_match);
            if (first_time(t, key)) {
                atomic_fetch_add(&t->undecided, 1);
                log_warn("achievd: tournaments: tournament match %" PRIu32 " has no two teams (a player-based "
                         "bracket, or teams not set yet): its result is not recorded",
                         links[i].id_match);
            }
            continue;
        }
        if (!g->players && (rc = game_players(t, g)) != 0)
            break;
        tside side_a;
        bool opposed;
        if ((rc = teams_opposed(t, &links[i], g, &side_a, &opposed)) != 0)
            break;
        if (!opposed) {
            char key[96];
            snprintf(key, sizeof key, "undecided:%" PRIu32 ":%s", links[i].id_match, g->key);
            if (first_time(t, key)) {
                atomic_fetch_add(&t->undecided, 1);
                log_warn("achievd: tournaments: tournament match %" PRIu32 " (teams %" PRIu32 " and %" PRIu32
                         ") is linked to match %s, where its teams' linked members were not on opposite sides: "
                         "not recorded; check the link, the teams' members and their GUID links",
                         links[i].id_match, links[i].team_a, links[i].team_b, g->key);
            }
            continue;
        }
        tresult r = {.l = links[i], .ended_s = g->last_s};
        r.outcome = tournament_outcome(g->winner, g->allies, g->axis, side_a);
        r.score_a = side_a == TSIDE_ALLIES ? g->allies : g->axis;
        r.score_b = side_a == TSIDE_ALLIES ? g->axis : g->allies;
        snprintf(r.map, sizeof r.map, "%s", g->map);
        bool recorded = false;
        if ((rc = tforum_record(t->fm, &r, &recorded)) != 0)
            break;
        if (recorded) {
            atomic_fetch_add(&t->recorded, 1);
            log_info("achievd: tournaments: tournament match %" PRIu32 " recorded from match %s: %s", r.l.id_match,
                     g->key,
                     r.outcome == 'd'   ? "a draw"
                     : r.outcome == 'a' ? "team a won"
                                        : "team b won");
        }
    }
    if (rc == 0 && n < PENDING_MAX)
        t->pending_after = 0; /* read to the end: from the first again */
    games_free(games, ng);
    free(links);
    return rc;
}

/* The ended games with a match_end between from_s and to_s (keys malloc'd). */
static int games_between(tournament_thread *t, uint64_t from_s, uint64_t to_s, char ***keys, size_t *n)
{
    char sql[512], *body = NULL;
    *keys = NULL;
    *n = 0;
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT match_key FROM raw_events\n"
             "WHERE event_type = 'match_end' AND received_at >= toDateTime(%" PRIu64 ")\n"
             "  AND received_at <= toDateTime(%" PRIu64 ")\n"
             "ORDER BY match_key LIMIT 1000 FORMAT TabSeparated",
             from_s, to_s);
    if (!(body = tournament_ch_rows(t->s, sql)))
        return -EIO;
    size_t cap = 0;
    char *p = body, *f[1];
    while (tsv_split_line(&p, f, 1) == 1) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **k = realloc(*keys, cap * sizeof *k);
            if (!k)
                break;
            *keys = k;
        }
        if (((*keys)[*n] = strdup(f[0])))
            (*n)++;
    }
    free(body);
    return 0;
}

/* Link each scheduled tournament match to the one ended game not linked yet, within the window around its time,
 * where its two teams played on opposite sides; two or more such games: no link (logged, counted).
 *
 * Only once its window has closed, and settled: before, a second game may still end within it (a replay, the next
 * map) and make the choice ambiguous, and a game ended just now may be in raw_events and not yet in match_summary
 * (ClickHouse fills a view after the table). Each match is looked at for one more window after that (a GUID link
 * or a membership fixed late); later, the forum links it. */
static int autolink(tournament_thread *t)
{
    if (t->s->tournament_window_s == 0)
        return 0;
    uint64_t now = (uint64_t)time(NULL), w = (uint64_t)t->s->tournament_window_s;
    uint64_t closed = w + (uint64_t)t->s->tournament_settle_s;
    tlink *sched = NULL;
    uint64_t *when = NULL;
    size_t n = 0;
    if (now < closed)
        return 0;
    int rc = tforum_scheduled(t->fm, now > closed + w ? now - closed - w : 0, now - closed, &sched, &when, &n,
                              SCHEDULED_MAX);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char **keys = NULL;
        size_t nk = 0;
        game *games = NULL;
        size_t ng = 0;
        rc = games_between(t, when[i] > w ? when[i] - w : 0, when[i] + w, &keys, &nk);
        rc = rc ? rc : games_ended(t, keys, nk, &games, &ng);
        const char *found = NULL;
        size_t fits = 0;
        for (size_t j = 0; rc == 0 && j < ng; j++) {
            tside side_a;
            bool opposed = false, taken = false;
            rc = tforum_game_linked(t->fm, games[j].key, &taken);
            if (rc == 0 && taken)
                continue;
            rc = game_players(t, &games[j]);
            rc = rc ? rc : teams_opposed(t, &sched[i], &games[j], &side_a, &opposed);
            if (rc == 0 && opposed) {
                fits++;
                found = games[j].key;
            }
        }
        if (rc == 0 && fits == 1) {
            bool linked = false;
            rc = tforum_autolink(t->fm, sched[i].id_match, found, &linked);
            if (rc == 0 && linked) {
                atomic_fetch_add(&t->autolinked, 1);
                log_info("achievd: tournaments: tournament match %" PRIu32 " linked to match %s automatically "
                         "(the only match of its teams within %" PRIu64 " s of its schedule)",
                         sched[i].id_match, found, w);
            }
        } else if (rc == 0 && fits > 1) {
            char key[64];
            snprintf(key, sizeof key, "ambiguous:%" PRIu32 ":%zu", sched[i].id_match, fits);
            if (first_time(t, key)) {
                atomic_fetch_add(&t->ambiguous, 1);
                log_warn("achievd: tournaments: tournament match %" PRIu32 ": %zu matches of its teams within "
                         "%" PRIu64 " s of its schedule; not linked: link it through the forum",
                         sched[i].id_match, fits, w);
            }
        }
        games_free(games, ng);
        for (size_t j = 0; j < nk; j++)
            free(keys[j]);
        free(keys);
    }
    free(sched);
    free(when);
    return rc;
}

static void *run(void *arg)
{
    tournament_thread *t = arg;
    while (!atomic_load(&t->stop)) {
        int rc = tforum_detect(t->fm);
        /* a forum without a bracket table (no tournaments package) has nothing to write */
        if (rc == 0 && tforum_has_brackets(t->fm)) {
            rc = autolink(t);
            rc = rc ? rc : record_pending(t);
        }
        unsigned rated = 0;
        if (rc == 0 && (rc = team_rater_step(t->rater, &rated)) == 0)
            atomic_fetch_add(&t->teams_rated, rated);
        /* after a failure, the next poll tries again: every step starts from what MariaDB says */
        if (rc != 0)
            atomic_fetch_add(&t->errors, 1);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = until.tv_nsec + (long long)t->s->tournament_poll_ms * 1000000;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&t->lock);
        if (!atomic_load(&t->stop))
            pthread_cond_timedwait(&t->wake, &t->lock, &until);
        pthread_mutex_unlock(&t->lock);
    }
    return NULL;
}

static double stat_of(void *arg)
{
    return (double)atomic_load((atomic_ullong *)arg);
}

tournament_thread *tournament_thread_new(const achievd_settings *s)
{
    tournament_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = s;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    t->fm = tforum_new(s);
    t->rater = t->fm ? team_rater_new(s, t->fm) : NULL;
    t->logged = hashmap_new();
    if (!t->fm || !t->rater || !t->logged) {
        tournament_thread_free(t);
        return NULL;
    }
    metrics_gauge_fn("achievd_tournament_results_recorded", "tournament results written to the forum since start", NULL,
                     stat_of, &t->recorded);
    metrics_gauge_fn("achievd_tournament_results_undecided",
                     "linked tournament matches whose teams were not found on opposite sides (each logged once)", NULL,
                     stat_of, &t->undecided);
    metrics_gauge_fn("achievd_tournament_autolinks", "tournament matches linked automatically since start", NULL,
                     stat_of, &t->autolinked);
    metrics_gauge_fn("achievd_tournament_autolinks_ambiguous",
                     "scheduled tournament matches left unlinked because several matches fitted", NULL, stat_of,
                     &t->ambiguous);
    metrics_gauge_fn("achievd_team_ratings_written", "forum teams whose rating was written since start", NULL, stat_of,
                     &t->teams_rated);
    metrics_gauge_fn("achievd_tournament_errors", "tournament steps that failed (retried at the next poll)", NULL,
                     stat_of, &t->errors);
    return t;
}

int tournament_thread_start(tournament_thread *t)
{
    if (pthread_create(&t->thread, NULL, run, t) != 0)
        return -EAGAIN;
    t->started = true;
    return 0;
}

void tournament_thread_stop(tournament_thread *t)
{
    if (!t || !t->started)
        return;
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->stop, true);
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->started = false;
}

void tournament_thread_free(tournament_thread *t)
{
    if (!t)
        return;
    tournament_thread_stop(t);
    team_rater_free(t->rater);
    tforum_free(t->fm);
    if (t->logged)
        hashmap_free(t->logged, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
