/* achievd's state of players and matches: the structures the evaluator updates (evaluate.c) and saves
 * (evaluate_state.c). Private to those two files. */
#ifndef MOHSTATS_ACHIEVD_EVALUATE_STATE_H
#define MOHSTATS_ACHIEVD_EVALUATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "criteria.h"
#include "game_vocab.h"

#define MAX_METRICS 160
#define RING 16       /* kill times kept for SHAPE_WINDOW (its count is what a window can reach) */
#define MAX_KILLERS 8 /* distinct killers tallied per match for "dominated" */
#define SESSION_GAP_MS (30 * 60 * 1000ULL)
#define DAY_MS 86400000ULL
_Static_assert(MAX_METRICS <= 255, "a player's metric indexes are bytes");

/* A metric's state for one player. All zero is the state of a metric the player never moved: players hold only the
 * states that are not (player_metric_find), and a state they do not hold reads as all zero. */
typedef struct {
    uint32_t value; /* the metric's value; never decreases */
    uint32_t cur;   /* the running part: this match, life, streak, chain, day or year */
    double t;       /* SHAPE_CHAIN: time of the last link; SHAPE_SUM/RATIO: accumulator; SHAPE_DAY: day/year */
} mstate;

typedef struct {
    uint64_t hash;
    uint32_t n;
} tally;

typedef struct {
    uint32_t member;
    char guid[65];
    /* The metric states held (not all zero), sorted by metric index. One allocation: cm states, then the cm metric
     * indexes of those states as bytes (player_metric_ids). A player moves 30-60 of the 160 metrics: holding only
     * those is what keeps 50,000 players in memory under 100 MB (docs/performance.md). */
    mstate *ms;
    uint16_t nm, cm;
    /* the current match */
    char match_key[25];
    double match_first_gt, match_last_gt;
    uint32_t mk, md, m_pistol, m_melee;
    team_side side;
    uint32_t conds_done; /* live match conditions already counted in this match */
    uint32_t hit_mask;
    bool said_gg;
    tally killers[MAX_KILLERS];
    /* the current life */
    bool has_spawn;
    double spawn_gt;
    uint32_t elev_mask;
    uint64_t last_killer; /* hash of the GUID of the player who killed this one last in the match; 0: none */
    bool has_chain;
    double chain_t;
    uint32_t chain_len;
    bool teabag_armed;
    double kill_gt, corpse[3];
    double ring[RING];
    uint32_t ring_n;
    /* sessions (all-night) */
    uint64_t session_start_ms, session_last_ms;
    bool session_counted;
    /* sets */
    uint64_t *maps;
    uint32_t nmaps, cmaps;
    tally *weapons;
    uint32_t nweapons, cweapons;
    uint32_t class_mask;
    uint64_t *unlocked; /* hashes of the codes unlocked, sorted */
    uint32_t nunlocked, cunlocked;
    uint32_t points;
    bool dirty;
} player;

typedef struct {
    uint64_t hash;
    bool has_spawn, has_jump, has_switch;
    double spawn_gt, jump_gt, switch_gt; /* the last spawn, jump and weapon change */
} guid_times;

typedef struct {
    char key[25];
    uint64_t last_ms;
    bool ended, first_blood, has_start;
    double start_gt;
    team_side winner;
    int deficit[3]; /* by team_side: the most rounds that side trailed by */
    guid_times *guids;
    uint32_t nguids, cguids;
    uint32_t *members;
    uint32_t nmembers, cmembers;
    bool dirty;
} match;

/* The metric indexes of p's held states, p->ms[k] being the state of metric player_metric_ids(p)[k]. */
static inline const uint8_t *player_metric_ids(const player *p)
{
    return (const uint8_t *)(p->ms + p->cm);
}

static inline bool mstate_is_zero(const mstate *s)
{
    return s->value == 0 && s->cur == 0 && s->t == 0;
}

/* Where metric i's state is in p->ms (*found), or where it would go to keep the order. */
uint32_t player_metric_pos(const player *p, int i, bool *found);
/* The state of metric i, or NULL when p holds none (all zero). */
const mstate *player_metric_find(const player *p, int i);
/* Hold state s for metric i at position k, which must be player_metric_pos(p, i) of a metric p does not hold.
 * Returns 0 or -ENOMEM (p unchanged). Pointers into p->ms are stale after it. */
int player_metric_insert(player *p, uint32_t k, int i, const mstate *s);

/* Serialize p or m into a malloc'd blob (*len); NULL when out of memory. */
void *player_encode(const player *p, size_t *len);
void *match_encode(const match *m, size_t *len);
/* Decode into a zeroed p / m; returns 0 or -EINVAL (the blob is not one of ours) or -ENOMEM. */
int player_decode(player *p, const void *blob, size_t len);
int match_decode(match *m, const void *blob, size_t len);

#endif
