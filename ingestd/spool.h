/* Local append-only spool: accepted batches that could not be added to the Redis stream, kept on disk
 * (fsync'd) until Redis is back, then replayed into the stream flagged as possible duplicates.
 *
 * Usage (ingestd):
 *   config_register(spool_config_vars);                        before daemon_new, so --help lists SPOOL_DIR
 *   spool *sp = spool_open(loop, config_get("SPOOL_DIR"), &err);   at start-up; refuses a directory that
 *                                                                  another process has open (-EBUSY)
 *   spool_append(sp, &batch, done, arg);     when XADD could not be sent or its outcome is unknown; answer 202
 *                                            only from done(0, arg): the record is then written and fsync'd
 *   spool_drain(sp, redis, stream_key);      from redis_client_on_connect and from a periodic timer (1 s)
 *   spool_close(sp, done, arg);              stop hook: after the HTTP server drained (no more appends) and
 *                                            before the Redis client is closed
 *
 * Files: DIR/spool-<seq>.log, appended to by one process (DIR/lock is flock'ed). A file is sealed (never
 * appended to again) when a drain starts or when it reaches SPOOL_FILE_MAX_BYTES, and deleted only once every
 * record in it was acknowledged by Redis. A crash at any point at worst replays records again; they are
 * replayed with dup=1, so the stream writer checks ClickHouse before inserting them. */
#ifndef MOHSTATS_SPOOL_H
#define MOHSTATS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bytebuf.h"
#include "config.h"
#include "redis_client.h"
#include "spool_record.h"
#include "stream.h"

typedef struct spool spool;

/* SPOOL_DIR. */
extern const config_var spool_config_vars[];

/* A file is sealed once it holds this much; the next append starts a new file. Bounds what a drain reads
 * into memory at once. */
#define SPOOL_FILE_MAX_BYTES (64u * 1024 * 1024)

/* Create dir if needed, lock it, and take stock of the files a previous run left (they are drained by the
 * next spool_drain). Blocks on the file system: call at start-up, before the loop runs. NULL and *err on
 * failure. */
spool *spool_open(uv_loop_t *loop, const char *dir, int *err);

/* Refuse appends (-ENOSPC) that would take the spool's files past max_bytes (0: no limit, the default). The files
 * of an earlier run count: a spool left full by a long outage refuses until its replay frees room. */
void spool_set_max_bytes(spool *s, uint64_t max_bytes);

/* Copy b into the spool. done(0, arg) runs once the record is written and fsync'd; done(-errno, arg) if
 * it could not be (then nothing of it will be replayed). Returns 0, or a negative errno (-ECANCELED after
 * spool_close, -ENOMEM, -E2BIG, -ENOSPC past spool_set_max_bytes) and then done is not called. */
int spool_append(spool *s, const stream_batch *b, void (*done)(int err, void *arg), void *arg);

/* Replay every spooled record into stream_key with XADD (dup=1), oldest file first, and delete each file
 * once all its records were acknowledged. Returns at once; the replay runs in the background and stops at
 * the first failure (the next call resumes). Returns 0 if a replay started or is running, 1 if there is
 * nothing to replay, -ENOTCONN if r is not connected. r must outlive the replay: close the spool first. */
int spool_drain(spool *s, redis_client *r, const char *stream_key);

/* Finish the writes already accepted, stop replaying, close the files and free s; done (may be NULL) runs
 * when everything is released. Records not yet replayed stay on disk for the next run. */
void spool_close(spool *s, void (*done)(void *arg), void *arg);

/* How long spool_open waits for another process to release the directory (a crashed ingestd whose threads are
 * still exiting) before it gives up with -EBUSY. 5000 ms; tests lower it. */
extern unsigned spool_lock_wait_ms;

/* Bytes in spool files that were not replayed yet (also the mohstats_spool_bytes gauge). */
uint64_t spool_bytes(const spool *s);
/* Whether a replay is in progress. */
bool spool_draining(const spool *s);

/* The record format (spool_record.h) is included above, for tests. */

#endif
