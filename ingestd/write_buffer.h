/* The stream writer's buffer of entries (write_buffer.c). Only stream_writer.c uses it; its own header keeps the
 * buffer's bookkeeping (the indexes, the event counts) in one place.
 *
 * Usage:
 *   write_buffer_init(&b, stream_key, dead_key);            the keys are borrowed, for log messages
 *   wentry *e = write_buffer_add(&b, reply_entry, now, read_at_ms, taken_over);
 *   ... the writer moves entries through E_NEW -> E_SET -> E_ACK (wentry_to_ack) ...
 *   wentry_drop(&b, e);                                     acknowledged (or given up): unlinked and freed
 *   write_buffer_close(&b);                                 drops whatever is left */
#ifndef MOHSTATS_WRITE_BUFFER_H
#define MOHSTATS_WRITE_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "stream.h"
#include "writer_sql.h"

typedef enum { E_NEW, E_SET, E_ACK } entry_state;

typedef struct wentry wentry;

/* One stream entry (one accepted batch) held by this writer. */
struct wentry {
    wentry *prev, *next; /* the buffer, in arrival order */
    wentry *same_batch;  /* next buffered entry with the same batch_id (I4 c, I5) */
    stream_id id;
    char id_text[44];
    char batch_id[37];
    uint32_t nevents;      /* rows to insert (fewer than total_events after a repair) */
    uint32_t total_events; /* rows of the batch */
    uint32_t received_s;
    entry_state state;
    bool dup;            /* ingestd flagged it: an earlier copy of the batch may exist (I4 c) */
    bool recheck;        /* ... a copy made after ClickHouse restarted (ch_guard.c): an earlier copy inserted
                            before the restart proves nothing */
    bool taken_over;     /* I4 a/b: an insert holding it may still run in ClickHouse */
    bool foreign;        /* ... an insert of another writer's among them: it was taken over with XAUTOCLAIM, or
                            re-read from our pending list, where a lost XAUTOCLAIM reply may hide a claim (I4 a).
                            Entries only we read and held are uncertain only through our own inserts (I4 b). */
    bool skip;           /* in the set but not inserted: present already, or another entry carries the batch */
    bool dead;           /* goes to the dead-letter stream instead (malformed, or refused by ClickHouse alone) */
    bool dead_stored;    /* ... and is there now */
    bool owned_mark;     /* scratch for the lease */
    bool blocked;        /* dup entry waiting for older entries held by other consumers (I4 c) */
    bool owners_wait;    /* ... found so in this attempt: only checked for presence, not inserted */
    uint64_t arrived_ms; /* loop time it entered the buffer */
    uint64_t read_at_ms; /* Redis's clock just before the XREADGROUP that delivered it to us; 0: unknown (I3) */
    uint64_t not_before; /* loop time before which it is not put in a set (a postponed dup entry) */
    char *dead_reason;
    char *rows;
    size_t rows_len;
    bool rows_owned; /* rows is a repaired subset, malloc'd on its own */
};

typedef struct {
    wentry *head, *tail;
    hashmap *by_id;    /* id text -> entry */
    hashmap *by_batch; /* batch_id -> first entry of its same_batch chain */
    size_t nentries;
    uint64_t new_events;               /* events of entries in state E_NEW */
    bool maybe_acks;                   /* false only when no entry is in state E_ACK: see wentry_to_ack */
    const char *stream_key, *dead_key; /* for log messages */
} write_buffer;

/* An empty buffer: 0 or -ENOMEM (then write_buffer_close still applies). */
int write_buffer_init(write_buffer *b, const char *stream_key, const char *dead_key);
/* Drop every entry and free the indexes. */
void write_buffer_close(write_buffer *b);

/* Add one [id, [fields]] entry from XREADGROUP or XAUTOCLAIM at loop time now; read_at_ms is Redis's clock just
 * before the read that delivered it (I3, unused when taken_over); taken_over per I4 a (and then foreign). Returns the
 * entry, or NULL when it was not added: ours already, not an entry, or out of memory (it then stays pending in Redis
 * and is taken over after claim idle). A malformed entry is added in state E_ACK, dead. */
wentry *write_buffer_add(write_buffer *b, const struct redisReply *r, uint64_t now, uint64_t read_at_ms,
                         bool taken_over);
/* Unlink e from the buffer and its indexes, and free it. */
void wentry_drop(write_buffer *b, wentry *e);
/* Put e in state E_ACK. Every entry gets there through here, so that the writer can skip looking for one (a walk
 * over the whole buffer, after every read) while maybe_acks is false. */
void wentry_to_ack(write_buffer *b, wentry *e);
/* Whether an entry of the set has rows to insert. */
static inline bool set_inserts(const wentry *e)
{
    return e->state == E_SET && !e->skip && !e->dead;
}

/* The entry ranges the running-insert check covers (I4 a, b in stream_writer.c): the set's uncertain entries still
 * to insert (taken over, not just waiting for their presence check: owners_wait), the foreign ones in any (an
 * insert of any writer may hold them) and the others in own (only our inserts can). Both empty: no check. */
void write_buffer_running_ranges(const write_buffer *b, writer_range *any, writer_range *own);

/* When the next insert is due: the oldest new entry's arrival plus flush_ms, or later for postponed entries;
 * 0 if there is no new entry. */
uint64_t write_buffer_next_due(const write_buffer *b, uint64_t flush_ms);

#endif
