/* The SQL of the stream writer (stream_writer.c): what it inserts, how an insert's query_id names its entries, and the
 * checks of I4. Pure functions, exposed for tests. */
#ifndef MOHSTATS_WRITER_SQL_H
#define MOHSTATS_WRITER_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"
#include "stream.h"

/* The insert's URL settings behind I2: one block per insert, whatever the server profile says. */
#define INSERT_URL_SETTINGS                                                                                            \
    "max_insert_block_size=1048576&min_insert_block_size_rows=1048576&min_insert_block_size_bytes=268435456"

/* "INSERT INTO <table> (<raw_row_columns>) FORMAT TabSeparated" appended to out: 0 or -ENOMEM. */
int writer_insert_sql(const char *table, bytebuf *out);

/* The ClickHouse query_id of an insert of entries with ids from lo to hi by the writer named consumer:
 * "mohstats-ins-" + lo + "-" + hi + "-" + owner, each id as 20 + "-" + 20 zero-padded digits so that ranges
 * compare as strings in SQL, owner the consumer name's 64-bit FNV-1a hash in 16 hex digits (a name is any text;
 * the hash is safe in a URL and in SQL). Deterministic: retrying the same set gives the same id, and ClickHouse
 * refuses a query whose id is still running. Two consumers whose hashes collide only wait for each other's
 * inserts as well (stream_writer_running_sql), which is safe. */
#define WRITER_QUERY_ID_PREFIX "mohstats-ins-"
#define WRITER_QUERY_ID_SIZE 128
#define WRITER_QUERY_OWNER_SIZE 17 /* 16 hex digits and the NUL */
void stream_writer_query_id(stream_id lo, stream_id hi, const char *consumer, char out[WRITER_QUERY_ID_SIZE]);
/* The owner part of consumer's query_ids. */
void stream_writer_query_owner(const char *consumer, char out[WRITER_QUERY_OWNER_SIZE]);

/* The receive time (Unix seconds) in the received_at column of the first row of rendered rows; 0 if it
 * cannot be read. */
uint32_t stream_rows_received_at(const char *rows, size_t len);

/* Whether s is a UUID in text form (36 characters, hex digits and dashes in their places): a batch id that may
 * reach the SQL. */
bool writer_is_uuid(const char *s);

/* SQL listing which of batch_ids (UUID text) are in table, with their row counts, looking only at
 * received_at within an hour of [min_received, max_received] so that few partitions are read. Returns 0,
 * -EINVAL for a batch id that is not a UUID (it would otherwise reach the SQL), -ENOMEM. */
int stream_writer_present_sql(const char *table, const char *const *batch_ids, size_t n, uint32_t min_received,
                              uint32_t max_received, bytebuf *out);

/* Entry ids from lo to hi; empty when lo > hi (WRITER_RANGE_EMPTY). */
typedef struct {
    stream_id lo, hi;
} writer_range;
#define WRITER_RANGE_EMPTY ((writer_range){{UINT64_MAX, UINT64_MAX}, {0, 0}})
/* Widen r to hold id. */
void writer_range_add(writer_range *r, stream_id id);
/* Whether r holds no id. */
bool writer_range_empty(writer_range r);

/* SQL counting the writer inserts still running in ClickHouse that may hold entries we are about to check (I4 a, b
 * in stream_writer.c): any writer's inserts whose query_id range overlaps any (entries another consumer may have
 * held), and consumer's own inserts whose range overlaps own (entries only we can have inserted). An empty range
 * asks nothing; at least one must not be empty (-EINVAL). 0 or -ENOMEM. */
int stream_writer_running_sql(writer_range any, writer_range own, const char *consumer, bytebuf *out);

#endif
