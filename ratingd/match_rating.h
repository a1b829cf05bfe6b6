/* Whether one finished match is rated, and how: its rating family, its teams and finishing order, each player's
 * partial-play weight (docs/ratings.md). Pure: no I/O, no clock; the daemon and `ratingd recompute` both call it
 * with facts read from raw_events, so the same events always give the same rating changes. */
#ifndef MOHSTATS_MATCH_RATING_H
#define MOHSTATS_MATCH_RATING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "game_vocab.h"
#include "rating.h"

/* The game mode families a player has one rating in each of (issue 21). */
typedef enum {
    RFAM_NONE = -1,
    RFAM_FFA,       /* dm: every player for themselves */
    RFAM_TEAM,      /* tdm: two teams, most kills */
    RFAM_OBJECTIVE, /* rb, obj, tow, lib, ctf: rounds and objectives */
    RFAM__COUNT
} rating_family;

/* "ffa", "team", "objective" ("" for RFAM_NONE): the family column of rating_changes. */
const char *rating_family_name(rating_family f);

/* The rating family of a game type id (common/game_vocab.h's vocab_game_type, the table's family). */
rating_family match_game_type_family(const char *type);

/* Whether a GUID can hold a rating: not a guest slot (unauth_*, whose numbers are reused by anyone) nor a bot. */
bool rating_guid_ratable(const char *guid);

/* One player of a match, as read from its events. Times are game times (seconds since the map started). */
typedef struct {
    const char *guid;
    team_side side;         /* the last side the player had in the match; SIDE_NONE when never on one */
    double first_t, last_t; /* the player's first and last event */
    double kills, suicides, deaths;
    team_side first_side; /* the side of the player's first event on one; SIDE_NONE when never on one */
} match_player;

/* The roster a match's win probabilities are predicted from: the players whose first event came within this many
 * seconds (game time) of the match's start, on their first side (team games), each counted whole. A prediction
 * made from the actual roster and time played would know who left: players who leave a losing side early shrink
 * it and leak the result into the "before the match" chance (docs/ratings.md, "Win probability"). 30 s covers the
 * spawns of everyone on the server at a map's start and a map load's delay; a player who joins later was not
 * there when the match began. */
#define RATING_START_ROSTER_S 30.0

/* One finished (or abandoned) match. */
typedef struct {
    const char *match_key;
    const char *gametype, *map; /* as stored: the latest non-empty of the match's events */
    bool ended;                 /* a match_end arrived */
    double start_t, end_t;      /* the match's first event (or match_start) and its match_end, in game time */
    team_side winner;           /* the latest match_end / team_win side, SIDE_NONE for none */
    const match_player *players;
    size_t nplayers;
} match_facts;

typedef struct {
    double min_fraction;   /* RATING_MIN_FRACTION: players who played less of the match are not rated */
    double min_duration_s; /* RATING_MIN_MATCH_S: shorter matches are not rated */
} match_rules;

/* What happens to one player. */
typedef enum {
    PLAYER_RATED,
    PLAYER_UNRATABLE, /* a guest or a bot: no rating, no row */
    PLAYER_SHORT,     /* played less than min_fraction of the match */
    PLAYER_NO_SIDE,   /* team game, never on a side (a spectator) */
    PLAYER_UNRATED,   /* the match is not rated */
} player_verdict;

typedef struct {
    bool rated;
    char reason[128]; /* why the match is not rated; "" when rated */
    rating_family family;
    const char *game_type; /* vocab_game_type's id, static */
    size_t nteams;
    size_t nplayers;     /* the facts' */
    double min_fraction; /* the rules' */
    /* Per player (facts->players' order), allocated by match_plan_build: */
    player_verdict *verdict;
    double *fraction; /* of the match played, in [0, 1] after clamping to [start_t, end_t] */
    int *team;        /* the player's team index (0 .. nteams - 1) when rated, else -1 */
    int *rank;        /* the team's place: 1 is the winner, equal ranks drew */
    /* Team games: the team index of every player who played on a side, rated or not (guests, bots, late joiners),
     * else -1. Their play is part of their side's strength (see match_plan_apply); only rated players move. */
    int *side_team;
    /* The roster present at the start (RATING_START_ROSTER_S), rated or not, that the win probabilities are
     * predicted from; in team games start_team is each such player's team index by their first side, else -1. */
    bool *at_start;
    int *start_team;
} match_plan;

/* Decide whether facts is rated and build its teams. Returns 0, or -ENOMEM. plan is always safe to free after. */
int match_plan_build(const match_facts *facts, const match_rules *rules, match_plan *plan);
void match_plan_free(match_plan *plan);

/* Apply a rated plan. before[i] holds player i's stored rating (read for rated players and, in team games, for every
 * other player on a side: a new player's rating for a guest or a bot, their own for a member who played too little
 * of the match to be rated) and last_ms[i] the end of their previous rated match of this family (0: none); end_ms
 * is this match's end. A side's strength counts everyone who played on it, weighted by the fraction played: a
 * guest is an unknown player, not nobody (leaving them out made a side with more guests look weaker than it was,
 * and the predicted chances far too sure: docs/ratings.md). Only rated players' after[] and win_prob[] are set. Each
 * player's sigma is first widened for the days between (rating_after_inactivity with inactivity_per_day), in
 * before[i]: the prior the match starts from. after[i] gets the rating after the match, and win_prob[i] (when not NULL)
 * the chance the player's team had to win, predicted from the priors of the roster present at the start only
 * (at_start, start_team: everyone counted whole, whoever left or joined later; in free-for-all a rated player who
 * joined later is predicted against that roster). Returns 0, -1 when the model refuses the match,
 * or -ENOMEM. */
int match_plan_apply(const match_plan *plan, const rating_model *m, double inactivity_per_day, uint64_t end_ms,
                     const uint64_t *last_ms, rating *before, rating *after, double *win_prob);

#endif
