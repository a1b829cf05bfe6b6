/* The stream writer: moves batches from the Redis stream into ClickHouse raw_events with exactly-once
 * effect, trims what every consumer group is done with, and samples stream metrics.
 *
 * Usage (ingestd/main.c):
 *   config_register(stream_writer_config_vars);          before daemon_new, so --help lists the settings
 *   stream_writer_config cfg;
 *   stream_writer_config_from_env(&cfg);                  REDIS_URL, CLICKHOUSE_URL, INGEST_STREAM, WRITER_* ...
 *   stream_writer *w = stream_writer_new(loop, &cfg, &err);
 *   stream_writer_start(w);
 *   stop hook: stream_writer_stop(w, done, token)         flushes what is buffered (until an attempt fails,
 *                                                         bounded by SHUTDOWN_GRACE_MS); anything not inserted
 *                                                         stays pending in Redis for the next writer
 *   after done: stream_writer_free(w)
 * The writer opens its own Redis connections (its XREADGROUP BLOCK would stall other commands on a shared
 * one) and its own ClickHouse clients (each insert attempt carries its query_id in the URL).
 *
 * Several writers (processes) may run at once on one stream and group; see stream_writer.c for the
 * invariants that make their inserts exactly-once. */
#ifndef MOHSTATS_STREAM_WRITER_H
#define MOHSTATS_STREAM_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "clickhouse.h"
#include "config.h"

typedef struct stream_writer stream_writer;

/* INGEST_STREAM, WRITER_GROUP, WRITER_BATCH_EVENTS, WRITER_FLUSH_MS, WRITER_CLAIM_IDLE_MS, WRITER_RETAIN_MS,
 * STREAM_GROUPS, STREAM_MAX_BACKLOG. */
extern const config_var stream_writer_config_vars[];

typedef struct {
    const char *redis_url;
    const char *clickhouse_url;
    long clickhouse_timeout_ms; /* bound on each ClickHouse request; the writer uses at most claim_idle_ms / 3 */
    const char *stream_key;     /* INGEST_STREAM */
    const char *group;          /* WRITER_GROUP */
    const char *consumer;       /* NULL: "<hostname>-<pid>" */
    long batch_events;          /* WRITER_BATCH_EVENTS: events per insert, at most (1 .. 1000000) */
    long flush_ms;              /* WRITER_FLUSH_MS: insert at the latest this long after the first entry came */
    long claim_idle_ms;         /* WRITER_CLAIM_IDLE_MS: take over entries idle this long with another consumer */
    const char *stream_groups;  /* STREAM_GROUPS: comma-separated groups that hold back trimming */
    long long max_backlog;      /* STREAM_MAX_BACKLOG */
    long long retain_ms;        /* WRITER_RETAIN_MS: acknowledged entries stay this long (ch_guard.c); 0: off */
    long shutdown_grace_ms;     /* SHUTDOWN_GRACE_MS: bound on the last flush at stop */
    const char *table;          /* NULL: "raw_events" */
} stream_writer_config;

/* Fill cfg from the settings (environment or defaults). The strings belong to the environment. */
void stream_writer_config_from_env(stream_writer_config *cfg);

/* Validate cfg (copied) and create the clients (they connect; no command is sent before stream_writer_start).
 * NULL and *err (-EINVAL for a bad setting, which is logged, or -ENOMEM) on failure. */
stream_writer *stream_writer_new(uv_loop_t *loop, const stream_writer_config *cfg, int *err);
/* Start reading (as soon as Redis is reachable), inserting, claiming, trimming. Returns 0. */
int stream_writer_start(stream_writer *w);
/* Stop reading, insert and ACK what is buffered (no retries after a failure; bounded by shutdown_grace_ms), close
 * the clients; done(arg) runs last. Also for a writer that was never started. */
void stream_writer_stop(stream_writer *w, void (*done)(void *arg), void *arg);
/* Free a writer once stream_writer_stop's done ran. */
void stream_writer_free(stream_writer *w);

/* Events inserted since start (also mohstats_writer_events_total). */
uint64_t stream_writer_events_written(const stream_writer *w);

/* ---- pure logic, exposed for tests ---- */

/* A stream entry id, "<ms>-<seq>". */
typedef struct {
    uint64_t ms, seq;
} stream_id;

/* Parse "ms-seq" (or "ms"): 0 or -EINVAL. */
int stream_id_parse(const char *s, size_t len, stream_id *out);
int stream_id_cmp(stream_id a, stream_id b);
/* Format as "ms-seq" into out (at least 42 bytes). */
void stream_id_format(stream_id id, char *out, size_t outlen);

/* The ClickHouse query_id of an insert of entries with ids from lo to hi:
 * "mohstats-ins-" + lo + "-" + hi, each id as 20 + "-" + 20 zero-padded digits so that ranges compare as
 * strings in SQL. Deterministic: retrying the same set gives the same id, and ClickHouse refuses a query
 * whose id is still running. */
#define WRITER_QUERY_ID_PREFIX "mohstats-ins-"
#define WRITER_QUERY_ID_SIZE 100
void stream_writer_query_id(stream_id lo, stream_id hi, char out[WRITER_QUERY_ID_SIZE]);

/* The receive time (Unix seconds) in the received_at column of the first row of rendered rows; 0 if it
 * cannot be read. */
uint32_t stream_rows_received_at(const char *rows, size_t len);

/* SQL listing which of batch_ids (UUID text) are in table, with their row counts, looking only at
 * received_at within an hour of [min_received, max_received] so that few partitions are read. Returns 0,
 * -EINVAL for a batch id that is not a UUID (it would otherwise reach the SQL), -ENOMEM. */
int stream_writer_present_sql(const char *table, const char *const *batch_ids, size_t n, uint32_t min_received,
                              uint32_t max_received, ch_buf *out);

/* SQL counting the writer inserts still running in ClickHouse that may hold entries we are about to check:
 * those whose query_id range overlaps [lo, hi]. */
int stream_writer_running_sql(stream_id lo, stream_id hi, ch_buf *out);

/* What the trimmer knows of one consumer group. */
typedef struct {
    const char *name;
    uint64_t pending;
    stream_id oldest_pending; /* valid when pending > 0 */
    stream_id last_delivered;
    bool lag_known; /* Redis 7 "lag": entries not yet delivered to the group; unknown after some deletions */
    uint64_t lag;
} stream_group_state;

/* The id below which no group in hold_groups (comma-separated) needs entries: XTRIM MINID target. Groups not
 * in hold_groups are ignored; a group other than writer_group whose backlog (pending + lag, at most the stream
 * length; the stream length when lag is unknown) is over max_backlog is ignored too and its name appended to released
 * (comma-separated, for the warning). Returns 0, or -ENOENT when no group holds anything back (do not trim). */
int stream_trim_point(const stream_group_state *groups, size_t n, const char *hold_groups, const char *writer_group,
                      uint64_t max_backlog, uint64_t stream_len, stream_id *minid, char *released, size_t released_len);

#endif
