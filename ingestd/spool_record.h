/* The spool's record format (spool_record.c): how one batch is framed in a spool file, and scanning a file's bytes. */
#ifndef MOHSTATS_SPOOL_RECORD_H
#define MOHSTATS_SPOOL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"
#include "stream.h"

/* A record is: magic "MSP1" | payload length (u32 LE) | CRC-32 of the payload (u32 LE) | payload.
 * Payload: version (u8: 1, or 2 for a batch with a dedupe TTL) | flags (u8, bit 0: maybe_duplicate when spooled)
 *          | spooled at (u64 LE, Unix ms) | batch_id (36 bytes) | nevents (u32 LE) | server_id length (u16 LE)
 *          | version 2 only: dedupe_ttl_s (u32 LE) | server_id | NUL | rows (the rest). */
#define SPOOL_RECORD_HEADER 12

/* CRC-32 (IEEE 802.3, as zlib's crc32). */
uint32_t spool_crc32(const void *data, size_t len);

/* Append b's record to out. Returns 0, -ENOMEM, or -E2BIG (server_id over 64 KiB, rows over 4 GiB). */
int spool_record_encode(const stream_batch *b, uint64_t spooled_at_ms, bytebuf *out);
/* The same with the CRC left zero, for spool_records_fill_crc to fill in later (on a worker thread: the CRC of a
 * 1 MiB batch costs milliseconds). */
int spool_record_encode_deferred(const stream_batch *b, uint64_t spooled_at_ms, bytebuf *out);
/* Fill in the CRC of every record in data (records encoded deferred, back to back). */
void spool_records_fill_crc(char *data, size_t len);

/* What spool_scan found in a file's bytes. */
typedef struct {
    size_t records;       /* good records */
    size_t corrupt_bytes; /* skipped in the middle of the file (bad CRC or framing followed by good records) */
    size_t torn_bytes;    /* at the end: a record cut short by a crash (or a failed write) */
} spool_scan_result;

/* A good record: b points into the scanned bytes; end is the offset just past the record. Return nonzero
 * to stop the scan (spool_scan returns that value). */
typedef int (*spool_record_fn)(const stream_batch *b, uint64_t spooled_at_ms, size_t end, void *arg);

/* Walk the records of a file's contents. After a bad record it resynchronises on the next magic whose
 * record checks out; a bad stretch with no good record after it is a torn tail. Returns 0 or fn's value. */
int spool_scan(const char *data, size_t len, spool_record_fn fn, void *arg, spool_scan_result *res);

#endif
