/* The spool's file format: records framed with a magic, a length and a CRC (spool_record.h), and the scan that finds
 * the good ones in a file a crash may have torn or corrupted. Pure functions, used by spool.c and tests. */
#include "spool_record.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define MAGIC "MSP1"
/* Version 1 has no dedupe TTL; a batch without one is still written as version 1, which an older ingestd reads. */
#define PAYLOAD_VERSION_1 1
#define PAYLOAD_VERSION_2 2
/* version, flags, spooled-at, batch_id, nevents, server_id length; version 2: then the dedupe TTL */
#define PAYLOAD_FIXED_1 (1 + 1 + 8 + 36 + 4 + 2)
#define PAYLOAD_FIXED_2 (PAYLOAD_FIXED_1 + 4)

static uint32_t crc_table[256];

/* Build the CRC-32 table once (first use is on the loop thread, or in a test). */
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t spool_crc32(const void *data, size_t len)
{
    if (!crc_table[1])
        crc_init();
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Store v little-endian in n bytes. */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Read an n-byte little-endian number. */
static uint64_t get_le(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

/* Append b's record to out; with_crc false leaves the CRC for spool_records_fill_crc. */
static int record_encode(const stream_batch *b, uint64_t spooled_at_ms, bytebuf *out, bool with_crc)
{
    size_t sid_len = strlen(b->server_id);
    size_t fixed = b->dedupe_ttl_s ? PAYLOAD_FIXED_2 : PAYLOAD_FIXED_1;
    if (strlen(b->batch_id) != 36)
        return -EINVAL;
    if (sid_len > UINT16_MAX || b->rows_len > UINT32_MAX - fixed - sid_len - 1)
        return -E2BIG;
    size_t plen = fixed + sid_len + 1 + b->rows_len;
    unsigned char head[SPOOL_RECORD_HEADER + PAYLOAD_FIXED_2];
    memcpy(head, MAGIC, 4);
    put_le(head + 4, plen, 4);
    put_le(head + 8, 0, 4); /* the CRC, patched below */
    unsigned char *p = head + SPOOL_RECORD_HEADER;
    p[0] = b->dedupe_ttl_s ? PAYLOAD_VERSION_2 : PAYLOAD_VERSION_1;
    p[1] = b->maybe_duplicate ? 1 : 0;
    put_le(p + 2, spooled_at_ms, 8);
    memcpy(p + 10, b->batch_id, 36);
    put_le(p + 46, b->nevents, 4);
    put_le(p + 50, sid_len, 2);
    if (b->dedupe_ttl_s)
        put_le(p + 52, b->dedupe_ttl_s, 4);
    size_t start = out->len;
    if (bytebuf_append(out, (const char *)head, SPOOL_RECORD_HEADER + fixed) ||
        bytebuf_append(out, b->server_id, sid_len + 1) ||
        bytebuf_append(out, b->rows ? b->rows : "", b->rows_len)) {
        out->len = start;
        return -ENOMEM;
    }
    if (with_crc) {
        unsigned char crc[4];
        put_le(crc, spool_crc32(out->data + start + SPOOL_RECORD_HEADER, plen), 4);
        memcpy(out->data + start + 8, crc, 4);
    }
    return 0;
}

int spool_record_encode(const stream_batch *b, uint64_t spooled_at_ms, bytebuf *out)
{
    return record_encode(b, spooled_at_ms, out, /* with_crc= */ true);
}

int spool_record_encode_deferred(const stream_batch *b, uint64_t spooled_at_ms, bytebuf *out)
{
    return record_encode(b, spooled_at_ms, out, /* with_crc= */ false);
}

void spool_records_fill_crc(char *data, size_t len)
{
    size_t off = 0;
    while (off + SPOOL_RECORD_HEADER <= len) {
        size_t plen = get_le(data + off + 4, 4);
        unsigned char crc[4];
        put_le(crc, spool_crc32(data + off + SPOOL_RECORD_HEADER, plen), 4);
        memcpy(data + off + 8, crc, 4);
        off += SPOOL_RECORD_HEADER + plen;
    }
}

/* Decode the record at the start of data: 0 and *rec_len if it is good, 1 if data ends inside it, -EBADMSG
 * if it is not a record. */
static int record_decode(const char *data, size_t len, stream_batch *b, uint64_t *at, size_t *rec_len)
{
    if (len < SPOOL_RECORD_HEADER)
        return memcmp(data, MAGIC, len < 4 ? len : 4) == 0 ? 1 : -EBADMSG;
    if (memcmp(data, MAGIC, 4) != 0)
        return -EBADMSG;
    uint64_t plen = get_le(data + 4, 4);
    if (plen < PAYLOAD_FIXED_1 + 1)
        return -EBADMSG;
    if (plen > len - SPOOL_RECORD_HEADER)
        return 1;
    const char *p = data + SPOOL_RECORD_HEADER;
    if (spool_crc32(p, plen) != (uint32_t)get_le(data + 8, 4) ||
        (p[0] != PAYLOAD_VERSION_1 && p[0] != PAYLOAD_VERSION_2))
        return -EBADMSG;
    size_t fixed = p[0] == PAYLOAD_VERSION_2 ? PAYLOAD_FIXED_2 : PAYLOAD_FIXED_1;
    size_t sid_len = get_le(p + 50, 2);
    if (fixed + sid_len + 1 > plen || p[fixed + sid_len] != '\0')
        return -EBADMSG;
    memset(b, 0, sizeof *b);
    b->maybe_duplicate = p[1] & 1;
    *at = get_le(p + 2, 8);
    memcpy(b->batch_id, p + 10, 36);
    b->batch_id[36] = '\0';
    b->nevents = (uint32_t)get_le(p + 46, 4);
    if (p[0] == PAYLOAD_VERSION_2)
        b->dedupe_ttl_s = (uint32_t)get_le(p + 52, 4);
    b->server_id = p + fixed;
    b->rows = p + fixed + sid_len + 1;
    b->rows_len = plen - (fixed + sid_len + 1);
    *rec_len = SPOOL_RECORD_HEADER + plen;
    return 0;
}

int spool_scan(const char *data, size_t len, spool_record_fn fn, void *arg, spool_scan_result *res)
{
    memset(res, 0, sizeof *res);
    size_t off = 0, bad_start = SIZE_MAX;
    while (off < len) {
        stream_batch b;
        uint64_t at;
        size_t rec_len;
        if (record_decode(data + off, len - off, &b, &at, &rec_len) == 0) {
            if (bad_start != SIZE_MAX) {
                res->corrupt_bytes += off - bad_start;
                bad_start = SIZE_MAX;
            }
            res->records++;
            off += rec_len;
            int rc = fn ? fn(&b, at, off, arg) : 0;
            if (rc)
                return rc;
            continue;
        }
        /* Resynchronise on the next magic. Rows are TSV-escaped text, so a record's length and CRC bytes
         * cannot hide inside another record's payload; a stray "MSP1" in text fails its CRC check. */
        if (bad_start == SIZE_MAX)
            bad_start = off;
        const char *next = off + 1 < len ? memmem(data + off + 1, len - off - 1, MAGIC, 4) : NULL;
        if (!next) {
            /* Keep a trailing partial magic ("MS") in the torn tail rather than looking for more. */
            break;
        }
        off = (size_t)(next - data);
    }
    if (bad_start != SIZE_MAX)
        res->torn_bytes = len - bad_start;
    return 0;
}
