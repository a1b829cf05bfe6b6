/* The tournament thread: writes the result of each linked tournament match into the forum's tables once its game
 * match has ended, exactly once, and the final's winner into the tournament; records the byes (a first-round match
 * with one team advances it); links scheduled tournament matches, of two teams or two players, to the one game
 * match that fits, when only one does; then writes the teams' ratings where they changed (tournament_rating.c)
 * (docs/tournaments.md).
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
 * achievd finds the row and writes nothing. The thread polls only while this process holds achievd's lease (the
 * evaluator's), so that standbys stay idle; exactly once does not depend on it.
 *
 * Who played for whom. A team's players are the GUIDs linked (smf_mohaa_identities) to its members while they
 * were members (mohstats_team_memberships, which each poll brings up to date first: the forum keeps no date of
 * leaving); a team played on the side most of its players present in the match were on (their last side,
 * match_players). A match where either team has no player, both sides tie, or both teams are on one side is not
 * recorded: it waits (a link or a membership may still be fixed) and is logged once. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytebuf.h"
#include "clickhouse.h"
#include "config.h"
#include "event_model.h"
#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "text.h"
#include "tournament.h"

#define PENDING_MAX 100 /* linked matches examined per step */
#define SCHEDULED_MAX 50
#define GAMES_MAX 1000 /* games of a scheduled match's teams read per window: more is left to the forum */
#define PLAYERS_MAX 256

struct tournament_thread {
    const achievd_settings *s;
    const atomic_int *leader; /* the pipeline's: 1 while this process holds achievd's lease */
    tforum *fm;
    team_rater *rater;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    hashmap *logged;        /* "what:id" already logged (undecidable results, ambiguous links) */
    hashmap *bye_seen;      /* id_match -> when its row was first seen as a bye (record_byes), as a uintptr_t */
    uint32_t pending_after; /* record_pending's place in the linked matches (see there) */
    atomic_ullong recorded, undecided, autolinked, ambiguous, teams_rated, errors;
};

/* One player's last side in a game match. */
typedef struct {
    char guid[65];
    team_side side;
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

team_side tournament_team_side(unsigned on_allies, unsigned on_axis)
{
    return on_allies > on_axis ? SIDE_ALLIES : on_axis > on_allies ? SIDE_AXIS : SIDE_NONE;
}

char tournament_outcome(const char *winner, int allies_score, int axis_score, team_side side_a)
{
    team_side won = vocab_team_side(winner);
    if (won == SIDE_NONE)
        won = allies_score > axis_score ? SIDE_ALLIES : axis_score > allies_score ? SIDE_AXIS : SIDE_NONE;
    return won == SIDE_NONE ? 'd' : won == side_a ? 'a' : 'b';
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

/* Append strings (n of them) to q, quoted and separated by commas. */
static int append_list(bytebuf *q, char *const *strings, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= i ? bytebuf_append(q, ", ", 2) : 0;
        rc |= ch_append_quoted(q, strings[i], strlen(strings[i]));
    }
    return rc;
}

static game *game_find(game *g, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].key, key) == 0)
            return &g[i];
    return NULL;
}

/* Each side's score where the game's tracker sent none. The stock tracker's match_end carries only the winning team
 * (docs/tracker-wire.md §4.3): a side's score is then the rounds it won, its team_win events (as the views read a
 * side, docs/definitions.md); a game without any is 1-0 to the winner its match_end named. Scores a tracker sent
 * (allies_score / axis_score, on any event of the game) are kept as sent. */
static int games_scored(tournament_thread *t, char *const *keys, size_t n, game *g, size_t ng)
{
    bytebuf q = {0};
    int rc = bytebuf_appendf(&q, "SELECT match_key, countIf(isNotNull(allies_score) OR isNotNull(axis_score)),\n"
                                 "       countIf(event_type = " EVT_SQL_TEAM_WIN " AND team_side = 'allies'),\n"
                                 "       countIf(event_type = " EVT_SQL_TEAM_WIN " AND team_side = 'axis')\n"
                                 "FROM raw_events WHERE match_key IN (");
    rc |= append_list(&q, keys, n);
    rc |= bytebuf_appendf(&q, ")\nGROUP BY match_key\nFORMAT TabSeparated");
    char *body = tournament_ch_rows(t->s, rc == 0 ? q.data : NULL);
    bytebuf_free(&q);
    if (!body)
        return -EIO;
    char *p = body, *f[4];
    size_t k;
    while ((k = tsv_split_line(&p, f, 4)) > 0) {
        game *x = k == 4 ? game_find(g, ng, f[0]) : NULL;
        if (!x || strtoull(f[1], NULL, 10) > 0)
            continue;
        x->allies = atoi(f[2]);
        x->axis = atoi(f[3]);
        if (x->allies == 0 && x->axis == 0) {
            x->allies = strcmp(x->winner, "allies") == 0;
            x->axis = strcmp(x->winner, "axis") == 0;
        }
    }
    free(body);
    return 0;
}

/* The ended games among keys (n of them) into *out, with each side's score (games_scored). */
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
    rc |= append_list(&q, keys, n);
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
    if (*nout > 0 && (rc = games_scored(t, keys, n, g, *nout)) != 0) {
        free(g);
        *nout = 0;
        return rc;
    }
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
        x->side = vocab_team_side(f[1]);
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

/* The side a team played on in a game, from its members' GUIDs during the game; in a player-based bracket (team 0),
 * the side the member played on, from their GUIDs. */
static int played_side(tournament_thread *t, uint32_t team, uint32_t member, const game *g, team_side *side)
{
    char **guids = NULL;
    size_t n = 0;
    *side = SIDE_NONE;
    if (team == 0 && member == 0)
        return 0;
    int rc = team ? tforum_team_guids(t->fm, team, g->first_s, g->last_s, &guids, &n)
                  : tforum_member_guids(t->fm, member, &guids, &n);
    if (rc != 0)
        return rc;
    unsigned allies = 0, axis = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < g->nplayers; j++)
            if (strcmp(guids[i], g->players[j].guid) == 0) {
                allies += g->players[j].side == SIDE_ALLIES;
                axis += g->players[j].side == SIDE_AXIS;
            }
    tforum_guids_free(guids, n);
    *side = tournament_team_side(allies, axis);
    return 0;
}

/* Both teams' (or players') sides in a game; true when they are known and opposite. */
static int teams_opposed(tournament_thread *t, const tlink *l, const game *g, team_side *side_a, bool *opposed)
{
    team_side b;
    *opposed = false;
    bool players = l->team_a == 0 && l->team_b == 0;
    int rc = played_side(t, l->team_a, players ? l->player_a : 0, g, side_a);
    rc = rc ? rc : played_side(t, l->team_b, players ? l->player_b : 0, g, &b);
    *opposed = rc == 0 && *side_a != SIDE_NONE && b != SIDE_NONE && *side_a != b;
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
        game *g = game_find(games, ng, links[i].match_id);
        if (!g)
            continue; /* not ended (or not played) yet */
        bool players = links[i].team_a == 0 && links[i].team_b == 0 && links[i].player_a && links[i].player_b;
        if ((links[i].team_a == 0 || links[i].team_b == 0) && !players) {
            char key[48];
            snprintf(key, sizeof key, "teamless:%" PRIu32, links[i].id_match);
            if (first_time(t, key)) {
                atomic_fetch_add(&t->undecided, 1);
                log_warn("achievd: tournaments: tournament match %" PRIu32 " has neither two teams nor two players "
                         "(not set yet): its result is not recorded",
                         links[i].id_match);
            }
            continue;
        }
        if (!g->players && (rc = game_players(t, g)) != 0)
            break;
        team_side side_a;
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
        r.score_a = side_a == SIDE_ALLIES ? g->allies : g->axis;
        r.score_b = side_a == SIDE_ALLIES ? g->axis : g->allies;
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

/* Record the byes: a first-round match with one team (or player) advances it without a game (docs/tournaments.md,
 * "Byes"). The forum's plugin creates its byes completed with their winner, and never advances them; a bracket made
 * by hand may leave a bye as it is. Recorded like a result, exactly once (tforum_record), and never linked: nothing
 * is played. */
static int record_byes(tournament_thread *t)
{
    tlink *byes = NULL;
    size_t n = 0;
    int rc = tforum_byes(t->fm, &byes, &n, PENDING_MAX);
    /* A bye is recorded for good, so a row must stay one for ACHIEVD_TOURNAMENT_SETTLE_S first: a bracket made by
     * hand gets its two teams in two edits, and the first alone reads as a bye. The clock is this process's memory
     * (a restart only delays), and starts again for a row that stopped being a bye in between. */
    uint64_t now = (uint64_t)time(NULL);
    hashmap *seen = rc == 0 ? hashmap_new() : NULL;
    for (size_t i = 0; rc == 0 && seen && i < n; i++) {
        const tlink *l = &byes[i];
        char key[16];
        int klen = snprintf(key, sizeof key, "%" PRIu32, l->id_match);
        uintptr_t first = (uintptr_t)hashmap_get(t->bye_seen, key, (size_t)klen);
        if (!first)
            first = (uintptr_t)now;
        hashmap_put(seen, key, (size_t)klen, (void *)first, NULL);
        if (now < (uint64_t)first + (uint64_t)t->s->tournament_settle_s)
            continue;
        tresult r = {.l = *l, .bye = true, .ended_s = (uint64_t)time(NULL)};
        r.outcome = l->team_a || l->player_a ? 'a' : 'b';
        bool recorded = false;
        if ((rc = tforum_record(t->fm, &r, &recorded)) == 0 && recorded) {
            atomic_fetch_add(&t->recorded, 1);
            log_info("achievd: tournaments: tournament match %" PRIu32 " is a bye: %s %" PRIu32 " advances",
                     l->id_match, l->team_a || l->team_b ? "team" : "member",
                     l->team_a     ? l->team_a
                     : l->team_b   ? l->team_b
                     : l->player_a ? l->player_a
                                   : l->player_b);
        }
    }
    if (seen) {
        hashmap_free(t->bye_seen, NULL);
        t->bye_seen = seen;
    }
    free(byes);
    return rc;
}

/* The games with a match_end between from_s and to_s in which one of guids (n of them) played (keys malloc'd), at
 * most GAMES_MAX + 1 of them: more than GAMES_MAX is a page the caller cannot see to the end of. Selected by the
 * teams' GUIDs so that the other games of a busy window (other servers, other players) crowd nothing out. */
static int games_between(tournament_thread *t, uint64_t from_s, uint64_t to_s, char *const *guids, size_t ng,
                         char ***keys, size_t *n)
{
    *keys = NULL;
    *n = 0;
    if (ng == 0)
        return 0;
    bytebuf q = {0};
    int rc = bytebuf_appendf(&q,
                             "SELECT DISTINCT match_key FROM raw_events\n"
                             "WHERE event_type = " EVT_SQL_MATCH_END "\n"
                             "  AND received_at >= toDateTime(%" PRIu64 ")\n"
                             "  AND received_at <= toDateTime(%" PRIu64 ")\n"
                             "  AND match_key IN (SELECT match_key FROM match_players WHERE guid IN (",
                             from_s, to_s);
    rc |= append_list(&q, guids, ng);
    rc |= bytebuf_appendf(&q, "))\nORDER BY match_key LIMIT %d FORMAT TabSeparated", GAMES_MAX + 1);
    char *body = tournament_ch_rows(t->s, rc == 0 ? q.data : NULL);
    bytebuf_free(&q);
    if (!body)
        return -EIO;
    size_t cap = 0;
    char *p = body, *f[1];
    rc = 0;
    while (rc == 0 && tsv_split_line(&p, f, 1) == 1) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **k = realloc(*keys, cap * sizeof *k);
            if (!k) {
                rc = -ENOMEM;
                break;
            }
            *keys = k;
        }
        if (!((*keys)[*n] = strdup(f[0])))
            rc = -ENOMEM;
        else
            (*n)++;
    }
    free(body);
    return rc;
}

/* A scheduled tournament match's candidates: the games that fit it (keys malloc'd), or too many to know. */
typedef struct {
    char **keys;
    size_t n;
    bool too_many; /* more than GAMES_MAX games of its teams in the window */
} tfits;

static void fits_free(tfits *f)
{
    for (size_t j = 0; j < f->n; j++)
        free(f->keys[j]);
    free(f->keys);
}

/* Both teams' GUIDs during [from_s, to_s] (or both players' in a player-based bracket), in one list. */
static int both_teams_guids(tournament_thread *t, const tlink *l, uint64_t from_s, uint64_t to_s, char ***out,
                            size_t *n)
{
    char **a = NULL, **b = NULL;
    size_t na = 0, nb = 0;
    bool players = l->team_a == 0 && l->team_b == 0;
    *out = NULL;
    *n = 0;
    int rc = players ? tforum_member_guids(t->fm, l->player_a, &a, &na)
                     : tforum_team_guids(t->fm, l->team_a, from_s, to_s, &a, &na);
    rc = rc        ? rc
         : players ? tforum_member_guids(t->fm, l->player_b, &b, &nb)
                   : tforum_team_guids(t->fm, l->team_b, from_s, to_s, &b, &nb);
    char **all = rc == 0 && na + nb ? realloc(a, (na + nb) * sizeof *all) : NULL;
    if (rc == 0 && na + nb && !all)
        rc = -ENOMEM;
    if (rc != 0) {
        tforum_guids_free(a, na);
        tforum_guids_free(b, nb);
        return rc;
    }
    if (all) {
        memcpy(all + na, b, nb * sizeof *b);
        free(b);
    }
    *out = all;
    *n = na + nb;
    return 0;
}

/* The ended games not linked yet, within w of when, where the match's two teams (or players) played on opposite
 * sides. */
static int match_fits(tournament_thread *t, const tlink *l, uint64_t when, uint64_t w, tfits *out)
{
    char **guids = NULL, **keys = NULL;
    size_t nguids = 0, nk = 0, ng = 0;
    game *games = NULL;
    uint64_t from = when > w ? when - w : 0;
    *out = (tfits){0};
    int rc = both_teams_guids(t, l, from, when + w, &guids, &nguids);
    rc = rc ? rc : games_between(t, from, when + w, guids, nguids, &keys, &nk);
    tforum_guids_free(guids, nguids);
    if (rc == 0 && nk > GAMES_MAX)
        out->too_many = true;
    else if (rc == 0)
        rc = games_ended(t, keys, nk, &games, &ng);
    for (size_t j = 0; rc == 0 && j < ng; j++) {
        team_side side_a;
        bool opposed = false, taken = false;
        rc = tforum_game_linked(t->fm, games[j].key, &taken);
        if (rc == 0 && taken)
            continue;
        rc = rc ? rc : game_players(t, &games[j]);
        rc = rc ? rc : teams_opposed(t, l, &games[j], &side_a, &opposed);
        if (rc == 0 && opposed) {
            char **k = realloc(out->keys, (out->n + 1) * sizeof *k);
            if (!k || !(k[out->n] = strdup(games[j].key))) {
                out->keys = k ? k : out->keys;
                rc = -ENOMEM;
                break;
            }
            out->keys = k;
            out->n++;
        }
    }
    games_free(games, ng);
    for (size_t j = 0; j < nk; j++)
        free(keys[j]);
    free(keys);
    return rc;
}

/* The other scheduled match (index) a game fits as well, or n when none does. */
static size_t also_fits(const tfits *fits, size_t n, size_t self, const char *key)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; i != self && j < fits[i].n; j++)
            if (strcmp(fits[i].keys[j], key) == 0)
                return i;
    return n;
}

/* Count and log, once, a scheduled match left to the forum. */
static void refuse(tournament_thread *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(tournament_thread *t, const char *key, const char *fmt, ...)
{
    if (!first_time(t, key))
        return;
    atomic_fetch_add(&t->ambiguous, 1);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("achievd: tournaments: %s; not linked: link it through the forum", msg);
}

/* Link each scheduled tournament match to the one ended game not linked yet, within the window around its time,
 * where its two teams played on opposite sides; two or more such games, or a game that fits another scheduled
 * match as well (the same teams scheduled twice), or more games of its teams than one page holds: no link
 * (logged, counted). The candidates of every match of the poll are found before any is linked, so that a game
 * fitting two matches is seen as such whichever comes first.
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
    tfits *fits = rc == 0 && n ? calloc(n, sizeof *fits) : NULL;
    if (rc == 0 && n && !fits)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = match_fits(t, &sched[i], when[i], w, &fits[i]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[96];
        size_t other = fits[i].n == 1 ? also_fits(fits, n, i, fits[i].keys[0]) : n;
        if (fits[i].too_many) {
            snprintf(key, sizeof key, "toomany:%" PRIu32, sched[i].id_match);
            refuse(t, key,
                   "tournament match %" PRIu32 ": more than %d matches of its teams' players within %" PRIu64
                   " s of its schedule",
                   sched[i].id_match, GAMES_MAX, w);
        } else if (fits[i].n > 1) {
            snprintf(key, sizeof key, "ambiguous:%" PRIu32 ":%zu", sched[i].id_match, fits[i].n);
            refuse(t, key,
                   "tournament match %" PRIu32 ": %zu matches of its teams within %" PRIu64 " s of its schedule",
                   sched[i].id_match, fits[i].n, w);
        } else if (fits[i].n == 1 && other < n) {
            snprintf(key, sizeof key, "shared:%" PRIu32 ":%s", sched[i].id_match, fits[i].keys[0]);
            refuse(t, key, "tournament match %" PRIu32 ": match %s fits tournament match %" PRIu32 " as well",
                   sched[i].id_match, fits[i].keys[0], sched[other].id_match);
        } else if (fits[i].n == 1) {
            bool linked = false;
            rc = tforum_autolink(t->fm, sched[i].id_match, fits[i].keys[0], &linked);
            if (rc == 0 && linked) {
                atomic_fetch_add(&t->autolinked, 1);
                log_info("achievd: tournaments: tournament match %" PRIu32 " linked to match %s automatically "
                         "(the only match of its teams within %" PRIu64 " s of its schedule)",
                         sched[i].id_match, fits[i].keys[0], w);
            }
        }
    }
    for (size_t i = 0; fits && i < n; i++)
        fits_free(&fits[i]);
    free(fits);
    free(sched);
    free(when);
    return rc;
}

/* One poll: automatic links, results, ratings. */
static void step(tournament_thread *t)
{
    int rc = tforum_detect(t->fm);
    /* who is in which team first: results and automatic links below count a member's games only while they were
     * in the team, and queryd reads the same history */
    rc = rc ? rc : tforum_sync_memberships(t->fm);
    /* a forum without a bracket table (no tournaments package) has nothing to write */
    if (rc == 0 && tforum_has_brackets(t->fm)) {
        rc = autolink(t);
        rc = rc ? rc : record_byes(t);
        rc = rc ? rc : record_pending(t);
    }
    unsigned rated = 0;
    if (rc == 0 && (rc = team_rater_step(t->rater, &rated)) == 0)
        atomic_fetch_add(&t->teams_rated, rated);
    /* after a failure, the next poll tries again: every step starts from what MariaDB says */
    if (rc != 0)
        atomic_fetch_add(&t->errors, 1);
}

static void *run(void *arg)
{
    tournament_thread *t = arg;
    while (!atomic_load(&t->stop)) {
        /* Only the lease holder polls: extra achievds stand by (docs/operations.md) and take over with the lease.
         * The writes stay exactly once with two writers anyway (tforum_record), which a holder that loses its
         * lease in the middle of a step relies on; the lease spares the forum a second poller, and the ratings
         * and automatic links a race. */
        if (atomic_load(t->leader))
            step(t);
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

tournament_thread *tournament_thread_new(const achievd_settings *s, const atomic_int *leader)
{
    tournament_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = s;
    t->leader = leader;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    t->fm = tforum_new(s);
    t->rater = t->fm ? team_rater_new(s, t->fm) : NULL;
    t->logged = hashmap_new();
    t->bye_seen = hashmap_new();
    if (!t->fm || !t->rater || !t->logged || !t->bye_seen) {
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
    if (t->bye_seen)
        hashmap_free(t->bye_seen, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
