/* achievd's pieces and what they share: settings, the forum side (MariaDB), the state side (Redis), the
 * pipeline thread that joins them, and its statistics for /metrics. */
#ifndef MOHSTATS_ACHIEVD_H
#define MOHSTATS_ACHIEVD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "evaluate.h"
#include "hashmap.h"

extern const config_var achievd_config_vars[];

typedef struct {
    const char *redis_url, *mariadb_url, *clickhouse_url, *stream_key;
    const char *writer_group; /* WRITER_GROUP: a backfill waits until the writers inserted what it reads */
    const char *group;        /* ACHIEVD_GROUP: the consumer group, also naming achievd's keys in Redis */
    char prefix[32];          /* SMF_DB_PREFIX, checked */
    int read_count;           /* ACHIEVD_READ_COUNT: stream entries per read */
    int flush_ms;             /* ACHIEVD_FLUSH_MS: unlocks go to MariaDB at most this often */
    int progress_ms;          /* ACHIEVD_PROGRESS_MS: progress rows go to MariaDB this often */
    int lease_ms;             /* ACHIEVD_LEASE_MS */
    int catalogue_reload_s;   /* ACHIEVD_CATALOGUE_RELOAD_S */
    int identities_reload_s;  /* ACHIEVD_IDENTITIES_RELOAD_S */
    int dedup_s;              /* ACHIEVD_DEDUP_S */
    int match_idle_s;         /* ACHIEVD_MATCH_IDLE_S */
    int write_rows;           /* ACHIEVD_WRITE_ROWS: rows per MariaDB statement */
    int tournament_poll_ms;   /* ACHIEVD_TOURNAMENT_POLL_MS: linked tournament matches are looked at this often */
    int tournament_window_s;  /* ACHIEVD_TOURNAMENT_WINDOW_S: automatic links' window; 0 = none */
    int tournament_settle_s;  /* ACHIEVD_TOURNAMENT_SETTLE_S: automatic links wait this long after the window */
} achievd_settings;

int achievd_settings_load(achievd_settings *s);

/* ---- the forum's tables (forum.c) ---- */

typedef struct forum forum;

/* Where an unlock was earned, for the forum's optional columns (match_id, player_guid). */
typedef struct {
    char match_key[25];
    char guid[65];
} unlock_note;

/* A pending write: the latest progress of (member, code), and its unlock when reached. Kept small: with 50,000
 * players, half a million of them wait for MariaDB at once (docs/performance.md). */
typedef struct {
    uint32_t member;
    uint32_t progress;
    uint64_t at_ms;
    const char *code;        /* lives as long as its holder: the pipeline interns codes, forum_grant passes its own */
    const unlock_note *note; /* unlocks: where it was earned (NULL: unknown; the columns get '') */
    bool unlocked;
} pending_write;

forum *forum_new(const achievd_settings *s);
void forum_free(forum *f);
/* Read which columns the forum's achievement tables have (schema variants, docs/forum.md §1.3). */
int forum_detect_schema(forum *f);
/* The catalogue, as definitions for the evaluator (malloc'd, *n of them); types achievd does not know are logged
 * once each and come with metric -1. Also refreshes the code -> id_achievement map for writes. */
int forum_load_catalogue(forum *f, ach_def **defs, size_t *n);
/* GUID -> member links (smf_mohaa_identities), replacing the previous map. */
int forum_load_identities(forum *f);
/* Each GUID -> member link of the last forum_load_identities. */
void forum_each_link(forum *f, void (*each)(void *arg, const char *guid, uint32_t member), void *arg);
/* Write n pending writes (unlocks insert-if-absent, progress only ever up). Returns 0 or a negative error
 * (then nothing may be assumed written: every write is idempotent, so the caller retries them all). */
int forum_write(forum *f, const pending_write *w, size_t n, double *seconds);
/* The operator's commands: grant or revoke one achievement of one member; print what was done. */
int forum_grant(forum *f, uint32_t member, const char *code, bool grant, char *msg, size_t msglen);

/* ---- the pipeline thread (pipeline.c) ---- */

typedef struct pipeline pipeline;

/* Counters the pipeline keeps for /metrics, read by the loop thread. */
typedef struct {
    atomic_ullong events, batches, duplicates, unlocks, progress_writes, write_errors, backfilled, checkpoints;
    atomic_ullong fenced;
    atomic_ullong catchup_events; /* events replayed from ClickHouse after the writers trimmed past the group */
    atomic_llong lag;             /* entries of the stream not yet read by the group, -1 unknown */
    atomic_ullong pending;        /* forum writes not yet in MariaDB */
    atomic_ullong players;
    atomic_int leader;
    atomic_ullong write_us_total, write_count; /* MariaDB write latency */
} pipeline_stats;

/* ---- the MariaDB writer thread (writer.c) ---- */

typedef struct writer writer;

/* A pending write handed to the writer, which change of it this is (the pipeline's number) and the pipeline's
 * number for its code. An unlock's note is copied by writer_submit and is NULL again in the reports. */
typedef struct {
    pending_write w;
    uint64_t seq;
    uint32_t code_id;
} writer_item;

/* A writer with a MariaDB connection of its own; it counts its statements in stats. */
writer *writer_new(const achievd_settings *s, pipeline_stats *stats);
int writer_start(writer *wr);
/* Stop after the statement under way, and wait for the thread. */
void writer_stop(writer *wr);
void writer_free(writer *wr);
/* Queue n writes (copied, notes too), all saved in Redis already; unlocks = true: ahead of every progress write.
 * Their codes must stay valid as long as the writer. */
int writer_submit(writer *wr, const writer_item *items, size_t n, bool unlocks);
/* The writes MariaDB has now, since the last call: *out (the caller frees it), their number. */
size_t writer_take_done(writer *wr, writer_item **out);
/* Progress writes queued and not yet taken for a statement. */
size_t writer_progress_queued(writer *wr);
/* Leadership lost: forget what is queued, and what the statement under way wrote. */
void writer_cancel(writer *wr);
/* The pipeline loaded the forum's catalogue: the writer reloads its code -> id map before its next write. */
void writer_catalogue_changed(writer *wr);
/* Wait up to ms until everything queued is written; true when it is. */
bool writer_drain(writer *wr, int ms);

pipeline *pipeline_new(const achievd_settings *s);
int pipeline_start(pipeline *p);
/* Ask the thread to stop after its current step, and wait for it. */
void pipeline_stop(pipeline *p);
void pipeline_free(pipeline *p);
pipeline_stats *pipeline_stats_of(pipeline *p);
/* Per-code counts since start, for /metrics: each(code, unlocks, progress_writes). */
void pipeline_code_counts(pipeline *p, void (*each)(void *arg, const char *code, uint64_t unlocks, uint64_t progress),
                          void *arg);

#endif
