/* achievd's tournament thread: the results of linked tournament matches into the forum's tables, exactly once
 * (docs/tournaments.md). tournament.c decides (ClickHouse's match, the teams' sides); tournament_forum.c reads and
 * writes the forum's tables in whichever schema variant is present; tournament_rating.c keeps the teams' ratings
 * there. */
#ifndef MOHSTATS_ACHIEVD_TOURNAMENT_H
#define MOHSTATS_ACHIEVD_TOURNAMENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "achievd.h"
#include "game_vocab.h"

/* ---- deciding (tournament.c) ---- */

/* The side most of a team's linked members played on: NONE when none played or as many on each side. */
team_side tournament_team_side(unsigned on_allies, unsigned on_axis);
/* A tournament match's outcome: 'a' or 'b' (that team won) or 'd' (draw), from the game match's winning side
 * ("allies", "axis" or "" when the match named none: then the scores decide, equal scores are a draw), its
 * scores, and the side each team played on (different sides, neither NONE). */
char tournament_outcome(const char *winner, int allies_score, int axis_score, team_side side_a);

typedef struct tournament_thread tournament_thread;

/* Polls every ACHIEVD_TOURNAMENT_POLL_MS on connections of its own, while *leader is set (this process holds
 * achievd's lease: the evaluator's, pipeline.c); NULL when out of memory. */
tournament_thread *tournament_thread_new(const achievd_settings *s, const atomic_int *leader);
int tournament_thread_start(tournament_thread *t);
/* Stop after the step under way, and wait for the thread. */
void tournament_thread_stop(tournament_thread *t);
void tournament_thread_free(tournament_thread *t);

/* ---- the forum's tables (tournament_forum.c) ---- */

typedef struct tforum tforum;

/* A linked tournament match whose result is not recorded yet: between two teams, or, in the plugin's player-based
 * brackets, between two forum members (player_a, player_b; the teams 0). */
typedef struct {
    uint32_t id_match, id_tournament, team_a, team_b, player_a, player_b;
    char match_id[65];
} tlink;

/* What is recorded of one: the outcome ('a', 'b', 'd'), each team's score, the map and when the game ended; or a
 * bye (bye: no game, l.match_id "", the one team or player present advances: outcome 'a' or 'b', whichever slot
 * holds it; ended_s is when it was recorded). */
typedef struct {
    tlink l;
    bool bye;
    char outcome;
    int score_a, score_b;
    char map[101];
    uint64_t ended_s;
} tresult;

tforum *tforum_new(const achievd_settings *s);
void tforum_free(tforum *f);
/* Read which columns the forum's team and tournament tables have (their schema variants); logs them when they
 * change. 0, or a negative error. */
int tforum_detect(tforum *f);
/* Whether the forum has a bracket table at all (as of the last tforum_detect): without one there is nothing to do. */
bool tforum_has_brackets(const tforum *f);
/* Up to max linked tournament matches without a recorded result whose id is above after, in id order (malloc'd
 * into *out). */
int tforum_pending(tforum *f, uint32_t after, tlink **out, size_t *n, size_t max);
/* Keep mohstats_team_memberships (who was in which team, when) up to date with the forum's member rows: a stint
 * opened for each active member without one, the open stints of members no longer active closed. 0, or a
 * negative error. */
int tforum_sync_memberships(tforum *f);
/* The GUIDs linked to the team's members while they were members during [from_s, to_s]: their stints in
 * mohstats_team_memberships, as of the last tforum_sync_memberships (malloc'd array of malloc'd strings). */
int tforum_team_guids(tforum *f, uint32_t team, uint64_t from_s, uint64_t to_s, char ***out, size_t *n);
/* The GUIDs linked to a forum member (a player of a player-based bracket). */
int tforum_member_guids(tforum *f, uint32_t member, char ***out, size_t *n);
void tforum_guids_free(char **g, size_t n);
/* Write the result in one transaction with its mark in mohstats_tournament_results: *recorded is false when the
 * mark was already there (written before) or the link is no longer to r's game (moved since it was read; a bye:
 * linked since): nothing changed. The final's result also writes the tournament's winner. 0, or a negative error
 * (nothing written). */
int tforum_record(tforum *f, const tresult *r, bool *recorded);

/* Up to max byes not recorded yet: first-round bracket matches, not linked, with one team (the other slot NULL or
 * 0) or, in a player-based bracket, one player (malloc'd into *out; l.match_id ""). */
int tforum_byes(tforum *f, tlink **out, size_t *n, size_t max);

/* Automatic links: tournament matches not linked, not completed, scheduled (a time in the schema's schedule
 * column) between from_s and to_s, with both teams set, or, in a player-based bracket, both players. */
int tforum_scheduled(tforum *f, uint64_t from_s, uint64_t to_s, tlink **out, uint64_t **when, size_t *n, size_t max);
/* Whether a game match decides a tournament match already (it is then no candidate for another). */
int tforum_game_linked(tforum *f, const char *match_id, bool *linked);
/* Link a tournament match automatically unless a link exists already; *linked says whether it did. */
int tforum_autolink(tforum *f, uint32_t id_match, const char *match_id, bool *linked);

/* A team's active member and one GUID they linked ("" when none), as queryd's team rating reads them. */
typedef struct {
    uint32_t team, member;
    char guid[65];
} tmember;

/* Whether the forum's teams have a rating column, and members (as of the last tforum_detect). */
bool tforum_has_team_rating(const tforum *f);
/* Every team's active members with each GUID they linked, ordered by team, member and GUID (malloc'd into *out). */
int tforum_rosters(tforum *f, tmember **out, size_t *n);
/* Write a team's rating on the forum's scale; *changed is false when it had that value already. */
int tforum_set_rating(tforum *f, uint32_t team, int rating, bool *changed);

/* ---- team ratings into the forum (tournament_rating.c) ---- */

typedef struct team_rater team_rater;

team_rater *team_rater_new(const achievd_settings *s, tforum *f);
void team_rater_free(team_rater *r);
/* Write each team's rating (rating_team_mean of its active members' skill ratings, on the forum's scale) where it
 * changed, when the teams' members or the ratings changed since the last pass. *written counts the teams written.
 * 0, or a negative error (retried at the next pass). */
int team_rater_step(team_rater *r, unsigned *written);

/* ClickHouse's answer to sql (malloc'd), or NULL with the failure logged; a NULL sql is a query that could not be
 * built (out of memory). */
char *tournament_ch_rows(const achievd_settings *s, const char *sql);

#endif
