/* What the board files share (board.c: a board; board_sql.c: the SQL and the query sets; board_set.c: the set,
 * builds and warming; board_delta.c: deltas). Not for the rest of queryd: board.h is its interface. */
#ifndef MOHSTATS_BOARD_INT_H
#define MOHSTATS_BOARD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "board.h"
#include "hashmap.h"
#include "metrics.h"

#define NPERIODS (PERIOD_YEAR + 1)
#define WARM_TICK_MS 1000
#define WARM_RETRY_MS 5000 /* after a failed build, before the warmer tries that period again */

enum { PART_DAILY, PART_MATCH, PART_NAMES, PARTS };

/* Every stat of one player (the daily and the match columns), over one period. */
typedef struct {
    const char *guid, *name; /* into the board's texts */
    double *v;               /* ncols values */
} bplayer;

struct board {
    size_t ncols;
    const char **cols; /* column names, daily then match; "v<i>" is the value of lb_stats[i] */
    bool *is_value;    /* cols that are stat values, not counters */
    int *stat_col;     /* lb_stats[i]'s value column, -1 if none */
    size_t n;
    bplayer *players;
    double *vals;
    size_t **order; /* per stat, computed on first use: rows on the board, best first */
    size_t *order_n;
    char *texts[PARTS]; /* the query answers, parsed in place */
    hashmap *rows;      /* guid -> row + 1 */
    size_t cap;         /* players (and ncols values each) that players and vals hold */
    char **owned;       /* guids and names added by deltas (board_apply), freed with the board */
    size_t nowned, owned_cap;
    uint64_t gen; /* the data generation (fresh.h) it counts every event of */
};

typedef struct slot slot;

/* The three queries of a build (one slot's board) or of a delta (every board), and their answers. */
typedef struct {
    slot *sl; /* the build's slot; NULL: the set's delta */
    char *body[PARTS];
    int pending, fail;
} qset;

typedef struct waiter {
    board_fn cb;
    void *arg;
    struct waiter *next;
} waiter;

struct slot {
    board_set *set;
    period p;
    board *cur;
    uint64_t built_at, started_at; /* loop time (ms) the current / the running build's queries were sent */
    uint64_t retry_at;             /* the warmer starts no build of this slot before (after a failure) */
    bool building;
    unsigned builds;
    unsigned boards; /* how many boards cur has been: a delta tells by it whether a build replaced its board */
    waiter *waiters;
    qset qs;                    /* the running build's queries */
    uint64_t build_gen;         /* the generation when the running build's queries were sent */
    hashmap *since_g, *since_m; /* players and matches touched since the running build started: re-read after
                                 * (values as touched_g's) */
    hashmap *changed;           /* players whose rows deltas changed while the build ran: copied into its board */
};

struct board_set {
    queryd *q;
    slot slots[NPERIODS];
    int inflight; /* queries in flight, and the warm timer while open; a closing set is freed by the last */
    bool closing;
    uv_timer_t warm; /* board_set_keep_warm's tick */
    bool warming;
    /* Deltas (see "keeping boards fresh" below). */
    /* Players and matches changed since the boards (or a delta) read them, each with the generation read before
     * the entry that first touched it (touch_val): every event up to that generation is on the boards for it. */
    hashmap *touched_g, *touched_m;
    bool delta_running;
    period delta_periods[NPERIODS]; /* the boards it re-reads */
    unsigned delta_base[NPERIODS];  /* ... which board they had when it started (slot.boards) */
    size_t ndelta;
    uint64_t delta_gen, delta_started, delta_retry_at;
    char **taken_g, **taken_m; /* the running delta's keys */
    size_t ntaken_g, ntaken_m;
    char **listed; /* taken_g and the players of taken_m (delta_match_players_sql), for its SQL */
    size_t nlisted;
    uint64_t taken_gen; /* the oldest of their generations (touched_g's values): what they go back with */
    qset dqs;
    unsigned deltas;
    metric *built, *failed, *seconds, *players, *delta_ok, *delta_failed, *delta_seconds, *delta_players;
};

/* board.c */
size_t board_count_lines(const char *s);
/* Copy the rows of guids (a set) from one board to another (added when missing there; zeroed when from lacks
 * them). The rankings of to are sorted again on next use. 0 or -ENOMEM. */
int board_copy_rows(board *to, const board *from, const hashmap *guids);

/* board_sql.c */
/* Send the three queries of the boards of periods ps: of every player, or (a delta) of those who (SQL) names. */
void board_qset_send(board_set *s, qset *qs, const period *ps, size_t np, const char *who, const char *tag);
/* The boards of an answer set: one per period of ps, into boards[] (NULL where it failed). The answers are
 * freed. Returns 0 or an HTTP status. */
int board_qset_boards(qset *qs, size_t np, board *boards[]);

/* board_set.c */
/* A query set's answers are all in: its build or delta goes on. */
void board_qset_done(board_set *s, qset *qs);

/* board_delta.c */
/* Start a delta when a board is behind what was touched. */
void board_delta_kick(board_set *s);
/* One of the set's calls ended (a query answered, the warm timer closed): true when the set is closing, in which
 * case the caller returns at once (the last call frees it). */
bool board_set_call_ended(board_set *s);
void board_delta_done(board_set *s);
/* Forget the running delta's keys. */
void board_taken_free(board_set *s);
/* Forget every key of m. */
void board_keys_clear(hashmap *m);
/* Add every key of from to to (the older generation where both have it). */
void board_keys_merge(hashmap *to, const hashmap *from);

#endif
