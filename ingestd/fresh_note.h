/* What an insert changed, for the freshness stream (common/fresh_stream.h): the stream writer notes the rows of
 * every entry it acknowledges and sends one entry per acknowledgement. */
#ifndef MOHSTATS_FRESH_NOTE_H
#define MOHSTATS_FRESH_NOTE_H

#include <stddef.h>

typedef struct redis_client redis_client;
typedef struct fresh_note fresh_note;

fresh_note *fresh_note_new(void);
void fresh_note_free(fresh_note *n);

/* Note the players and matches of raw_events rows (TabSeparated lines, raw_row.h's columns). */
void fresh_note_rows(fresh_note *n, const char *rows, size_t len);

/* Add the noted players and matches to the freshness stream (when there are any) and forget them. Called only
 * once the rows are in ClickHouse. A failed XADD is not retried: queryd's boards are also rebuilt whole every
 * QUERY_BOARD_REFRESH_S, and its answers follow the next entry. */
void fresh_note_send(fresh_note *n, redis_client *rd);

#endif
