/* A raw_events row as the event stream carries it: the column order ingestd renders and ClickHouse stores,
 * and reading one TabSeparated line back into its fields (achievd, tests). */
#ifndef MOHSTATS_RAW_ROW_H
#define MOHSTATS_RAW_ROW_H

#include <stdbool.h>
#include <stddef.h>

/* The columns, in the order of raw_row_columns. */
typedef enum {
    RC_EVENT_ID,
    RC_BATCH_ID,
    RC_SERVER_ID,
    RC_RECEIVED_AT, /* epoch seconds */
    RC_RECEIVED_MS, /* the milliseconds of the receive time */
    RC_GAME_TIME,   /* the tracker's timestamp, seconds since the map started; \N when absent */
    RC_SESSION_ID,
    RC_MATCH_KEY,
    RC_MAP_NAME,
    RC_EVENT_TYPE,
    RC_TYPE_SENT,
    RC_KNOWN_TYPE,
    RC_ACTOR_GUID,
    RC_ACTOR_NAME,
    RC_ACTOR_TEAM,
    RC_ACTOR_SMF_ID,
    RC_ACTOR_X,
    RC_ACTOR_Y,
    RC_ACTOR_Z,
    RC_ACTOR_PITCH,
    RC_ACTOR_YAW,
    RC_ACTOR_STANCE,
    RC_TARGET_GUID,
    RC_TARGET_NAME,
    RC_TARGET_TEAM,
    RC_TARGET_SMF_ID,
    RC_TARGET_X,
    RC_TARGET_Y,
    RC_TARGET_Z,
    RC_TARGET_PITCH,
    RC_TARGET_YAW,
    RC_TARGET_STANCE,
    RC_WEAPON,
    RC_OLD_WEAPON,
    RC_MEANS_OF_DEATH,
    RC_HITLOC,
    RC_DAMAGE,
    RC_DISTANCE,
    RC_TOTAL_DISTANCE,
    RC_AMOUNT,
    RC_MESSAGE,
    RC_ITEM,
    RC_TEAM,
    RC_GAMETYPE,
    RC_ROUND_NUMBER,
    RC_ALLIES_SCORE,
    RC_AXIS_SCORE,
    RC_PLAYER_COUNT,
    RC_UNKNOWN_FIELDS,
    RC_RAW,
    RC_ACTOR_COUNTRY, /* last: rows written before it (schemas/clickhouse/0009_countries.sql) lack it */
    RC__COUNT
} raw_col;

/* "event_id, batch_id, ...": the column list for "INSERT INTO raw_events (...)", in raw_col order. */
extern const char raw_row_columns[];

/* Split one TSV line (without its '\n'; line[len] must be writable, e.g. its NUL) in place: f[i] points into line at
 * column i, unescaped and NUL-terminated; a NULL (\N) becomes "" and null[i] (when null is not NULL) says so. A line
 * in the format before actor_country (RC__COUNT - 1 columns, from a stream or spool older than the upgrade) reads
 * with an empty actor_country. Returns 0, or -EINVAL when the line has neither RC__COUNT nor RC__COUNT - 1 columns. */
int raw_row_split(char *line, size_t len, char *f[RC__COUNT], unsigned char null[RC__COUNT]);

/* Whether rows (TSV lines, the first one complete) are in the format before actor_country: the writer gives such
 * rows the missing column before it inserts them. */
bool raw_row_previous_format(const char *rows, size_t len);

#endif
