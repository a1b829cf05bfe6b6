/* The event stream's entry format, shared by its producer (ingestd) and its consumers (the ClickHouse writer,
 * achievd): one entry is one accepted HTTP batch, its events rendered as raw_events TSV rows (raw_row.h). */
#ifndef MOHSTATS_STREAM_ENTRY_H
#define MOHSTATS_STREAM_ENTRY_H

/* Field names of a stream entry. */
#define STREAM_F_BATCH "bid"  /* the batch's UUID; also the batch_id column of each of its rows */
#define STREAM_F_SERVER "srv" /* the server_id the token named */
#define STREAM_F_COUNT "n"    /* number of rows */
#define STREAM_F_ROWS "rows"  /* the rows: n TSV lines, each ending in '\n', in raw_row_columns order */
#define STREAM_F_DUP "dup"    /* always present: one of the STREAM_DUP_* values */

/* A batch may be in the stream more than once, so every consumer group counts a batch_id once:
 * - STREAM_DUP_NO: the first and only XADD of this batch by ingestd;
 * - STREAM_DUP_MAYBE: ingestd may have added it before (an XADD whose outcome was unknown, a spool replay);
 * - STREAM_DUP_COPY: a copy a writer added after ClickHouse restarted (ingestd/ch_guard.c), of an entry that
 *   was already delivered to every group. */
#define STREAM_DUP_NO "0"
#define STREAM_DUP_MAYBE "1"
#define STREAM_DUP_COPY "2"

/* "<stream>" STREAM_RELEASED_SUFFIX: a hash, consumer group -> the MINID of the newest trim that went past entries
 * the group had not read yet (a group more than STREAM_MAX_BACKLOG behind is released: ingestd/stream_trimmer.c).
 * Written in the same script as the XTRIM and only ever raised, so a group whose last-delivered id is older than
 * its value knows it missed entries, and which (achievd/catchup.c replays them from ClickHouse). */
#define STREAM_RELEASED_SUFFIX ":released"
/* "<stream>" STREAM_DEDUPE_INFIX "<batch id>": an MQTT batch added already (ingestd/stream.h, dedupe_ttl_s); not
 * state a backup keeps (admin/backup_redis.c): it matters only to the broker session that sent the batch. */
#define STREAM_DEDUPE_INFIX ":dedupe:"

/* "<stream>" STREAM_DEAD_SUFFIX: the dead-letter stream, where the writers move entries whose rows ClickHouse
 * refuses (ingestd/writer_lifetime.c), read by `mohstats-admin dead`. */
#define STREAM_DEAD_SUFFIX ":dead"
/* "<stream>" STREAM_GUARD_SUFFIX: the writers' hash about ClickHouse's restarts (ingestd/ch_guard.c); a restore
 * (admin/backup_redis.c) resets it, so that the writers check the whole stream against the restored ClickHouse. */
#define STREAM_GUARD_SUFFIX ":guard"
/* "<stream>:<achievd's group>" ACHIEVD_FORGET_SUFFIX: a set of members erased meanwhile (admin/erase.c), whose state
 * the evaluating achievd drops (achievd/store.c, store_forget). */
#define ACHIEVD_FORGET_SUFFIX ":forget"

/* The consumer group of achievd, by default (ACHIEVD_GROUP; the stream's key is the setting INGEST_STREAM). */
#define STREAM_GROUP_ACHIEVD "achievd"

#endif
