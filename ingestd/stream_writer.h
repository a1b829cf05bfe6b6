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

/* Its parts: stream_writer.c (the exactly-once pipeline), writer_read.c (reading, taking over), writer_schedule.c
 * (when to act), writer_lifetime.c (settings, start, stop), sharing writer_state.h; and, each with its own header,
 * write_buffer.h (the entries held), writer_sql.h (the SQL and query_ids), stream_trimmer.h (trimming, stream
 * metrics, the consumer sweep), ch_guard.h (retention and recovery after a ClickHouse restart); the stream id type
 * is in stream.h. */

#endif
