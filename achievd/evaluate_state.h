/* achievd's state of players and matches: the structures the evaluator updates (evaluate.c and its parts,
 * evaluate_parts.h) and saves (evaluate_state.c). Private to those files. */
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
 * states that are not (player_metric), and a state they do not hold reads as all zero. */
typedef struct {
    uint32_t value; /* the metric's value; never decreases */
    uint32_t cur;   /* the running part: this match, life, streak, chain, day or year */
    double t;       /* SHAPE_CHAIN: time of the last link; SHAPE_SUM/RATIO: accumulator; SHAPE_DAY: day/year */
} mstate;

typedef struct {
    uint64_t hash;
    uint32_t n;
} tally;

/* Metric states a player holds, sorted by metric index, in one allocation: cap elements of a given size, then the
 * cap metric indexes as bytes (held_ids). */
typedef struct {
    void *a;
    uint16_t n, cap;
} held_states;

typedef struct {
    uint32_t member;
    char guid[65];
    /* The metric states held (not all zero): a player moves 30-60 of the 160 metrics, and holding only those is what
     * keeps 50,000 players in memory under 100 MB (docs/performance.md). The metrics of the value-only shapes
     * (metric_value_only, about half of those moved) hold their value alone, in 4 bytes instead of 16. */
    held_states full;   /* mstate */
    held_states values; /* uint32_t: the value */
    /* Within each group below, fields are ordered so that the compiler pads nothing (the bools fill the ends of the
     * 25-byte match key and of the life's 4-byte fields): this struct is 40% of what a player costs. */
    /* the current match */
    char match_key[25];
    bool said_gg;
    double match_first_gt, match_last_gt;
    uint64_t killer_hash[MAX_KILLERS]; /* the match's distinct killers of this player, and how often each */
    uint32_t killer_n[MAX_KILLERS];
    uint32_t mk, md, m_pistol, m_melee;
    team_side side;
    uint32_t conds_done; /* live match conditions already counted in this match */
    uint32_t hit_mask;
    /* the current life */
    double spawn_gt;
    uint64_t last_killer; /* hash of the GUID of the player who killed this one last in the match; 0: none */
    double chain_t;
    double kill_gt, corpse[3];
    double ring[RING];
    uint32_t elev_mask;
    uint32_t chain_len;
    uint32_t ring_n;
    bool has_spawn, has_chain, teabag_armed;
    /* sessions (all-night) */
    bool session_counted;
    uint64_t session_start_ms, session_last_ms;
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

static inline bool mstate_is_zero(const mstate *s)
{
    return s->value == 0 && s->cur == 0 && s->t == 0;
}

/* Whether metric i's shape uses its value alone: counts, single bests, distinct counts (whose cur, the count now,
 * nothing reads), match outcomes, meta and manual metrics. evaluate_metrics.c reads and writes cur and t of the other
 * shapes only; their states are held whole. */
static inline bool metric_value_only(int i)
{
    switch (metrics[i].shape) {
    case SHAPE_COUNT:
    case SHAPE_MAX:
    case SHAPE_DISTINCT:
    case SHAPE_MATCH_END:
    case SHAPE_MATCH_BEST:
    case SHAPE_META:
    case SHAPE_MANUAL:
        return true;
    default:
        return false;
    }
}

/* The metric indexes of h's elements of size bytes: element k is the state of metric held_ids(h, size)[k]. */
static inline const uint8_t *held_ids(const held_states *h, size_t size)
{
    return h->a ? (const uint8_t *)h->a + (size_t)h->cap * size : NULL;
}

/* Where metric i's element is in h (*found), or where it would go to keep the order. */
uint32_t held_pos(const held_states *h, size_t size, int i, bool *found);
/* Hold elem for metric i at position k, which must be held_pos(h, size, i) of a metric h does not hold. Returns 0
 * or -ENOMEM (h unchanged). Pointers into h are stale after it. */
int held_insert(held_states *h, size_t size, uint32_t k, int i, const void *elem);

/* Metric i's state for p: all zero when p holds none, cur and t zero for a value-only metric. */
mstate player_metric(const player *p, int i);
/* Set metric i's state (of a value-only metric, the value); a zero state p does not hold is not held. Returns 0 or
 * -ENOMEM (p unchanged). */
int player_metric_set(player *p, int i, const mstate *s);

/* Serialize p or m into a malloc'd blob (*len); NULL when out of memory. */
void *player_encode(const player *p, size_t *len);
void *match_encode(const match *m, size_t *len);
/* Decode into a zeroed p / m; returns 0 or -EINVAL (the blob is not one of ours) or -ENOMEM. */
int player_decode(player *p, const void *blob, size_t len);
int match_decode(match *m, const void *blob, size_t len);

#endif
