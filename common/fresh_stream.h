/* The freshness stream: after each ClickHouse insert the stream writer (ingestd/fresh_note.c) adds one entry
 * naming the players and matches whose events that insert made visible; queryd (queryd/fresh.c) reads it to
 * know when its cached answers and leaderboard boards are behind, and which players to re-read. The one
 * definition of its key and field names.
 *
 * ratingd adds to it too, after each insert into rating_changes (ratingd/worker.c): an entry with the ratings field
 * only. Its id is a generation like the writer's (an answer carrying a rating must be computed again), and it has
 * nothing for the leaderboard boards, which hold no ratings.
 *
 * Another writer may add an entry with the guids field alone to have queryd re-read those players at once: a player
 * hidden since (mohstats-admin hide) is then dropped from every leaderboard board within a delta (queryd re-reads
 * them with LISTED_PLAYER_SQL, which leaves them out, and zeroes a re-read player it no longer finds, board_apply),
 * not at the next full rebuild (QUERY_BOARD_REFRESH_S). Its Redis user then needs XADD on this key.
 *
 * An entry's id is the data generation: every entry is added after its rows are in ClickHouse, so a query sent
 * after an entry was read counts every event of that entry and of all the entries before it. */
#ifndef MOHSTATS_FRESH_STREAM_H
#define MOHSTATS_FRESH_STREAM_H

#define FRESH_STREAM_KEY "fresh"
/* Kept short (MAXLEN ~, hours of inserts): a reader further behind than that misses the oldest entries, and its
 * boards count those players again at their next full rebuild (QUERY_BOARD_REFRESH_S, queryd/board_set.c). */
#define FRESH_STREAM_MAXLEN "10000"

#define FRESH_GUIDS "guids"     /* the players (actor and target guids), '\n'-separated, TabSeparated-escaped */
#define FRESH_MATCHES "matches" /* the match keys, the same way */
#define FRESH_RATINGS "ratings" /* ratingd's: the players whose ratings it inserted, the same way; "" = everyone's */

#endif
