/* Leaderboard boards: every player's totals over one period, built from ClickHouse in one go and ranked in
 * memory. A leaderboard answer (any stat, any page, the count, the cards) is a sort of the board, not a
 * ClickHouse query. */
#ifndef MOHSTATS_BOARD_H
#define MOHSTATS_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"
#include "queryd.h"
#include "stats.h"

typedef struct cJSON cJSON;
typedef struct board board;
typedef struct board_set board_set;

/* Called with the board (status 0), or without one (NULL) and the HTTP status the answer should have. The
 * board is valid during the call only. */
typedef void (*board_fn)(const board *b, int status, void *arg);

typedef struct daemon_ctx daemon_ctx;

board_set *board_set_new(queryd *q);
void board_set_free(board_set *s);

/* Keep every period's board built (QUERY_BOARD_WARM): build them all now, one after another, rebuild each
 * as it reaches QUERY_BOARD_REFRESH_S, and answer /ready only once all exist. Returns 0 or a libuv error. */
int board_set_keep_warm(board_set *s, daemon_ctx *d);

/* The board of period p, fresh enough (see board.c), to cb: at once when there is one, else when the build
 * that this call starts or joins ends. */
void board_get(board_set *s, period p, board_fn cb, void *arg);

/* The players on the stat's board (value > 0), best first (ties by guid), from offset: at most max row
 * indexes into out. *total gets how many players are on the board. Returns how many were written. */
size_t board_rank(const board *b, const lb_stat *st, size_t offset, size_t max, size_t *out, size_t *total);

/* A row's guid, name, the stat's value, and its player stats object (player_stats_json; the caller owns it). */
const char *board_guid(const board *b, size_t row);
/* The data generation (fresh.h) the board counts every event of: what its answers are cached under. */
uint64_t board_gen(const board *b);
const char *board_name(const board *b, size_t row);
double board_value(const board *b, size_t row, const lb_stat *st);
cJSON *board_stats_json(const board *b, size_t row);

/* Exposed for tests: a board from the three TabSeparatedWithNames answers of a build (daily totals, match
 * totals, names; each with guid first and the daily and match ones with a v<i> column per stat of their
 * source), taken over (freed with the board, or at once on failure). NULL when they are not that. */
board *board_parse(char *daily, char *match, char *names);
void board_free(board *b);

/* Exposed for tests: apply a delta d (board_parse of a delta's answers: the full totals of the players it
 * re-read) to b: its rows replace or join b's, each of guids (the players the delta was asked for) that d does
 * not hold is zeroed, and the rankings already sorted are updated. 0, or -EINVAL when d's columns are not b's
 * (b unchanged), or -ENOMEM (b's values applied so far stay; its rankings are sorted again on next use). */
int board_apply(board *b, const board *d, const char *const *guids, size_t nguids);

/* The players and matches an insert touched (fresh.c; '\n'-separated, TabSeparated-escaped): every board
 * re-reads those players soon after (a delta), and its answers' generation follows. before: the generation of the
 * entry read before this one (every event of it was in ClickHouse before this entry's). */
void board_set_touched(board_set *s, uint64_t before, const char *guids, size_t glen, const char *matches,
                       size_t mlen);

/* The data generation (fresh.h) that period p's board counts every event of (0 without a board). */
uint64_t board_set_gen(const board_set *s, period p);

#endif
