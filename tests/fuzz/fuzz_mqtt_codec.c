/* Fuzz target: the broker's byte stream as ingestd reads it (mqtt_codec.c). The input's first byte picks how the
 * stream is cut into reads and the Maximum Packet Size; the rest is the stream. Every packet the reader yields lies
 * inside the bytes read and within the bound, every parser's fields lie inside their packet, and reading the same
 * stream in one read or in many small ones yields the same packets and the same end (so a packet split across
 * reads, anywhere, is read as a whole one). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_codec.h"

/* What one reading of the stream produced: a digest of its packets, how many, and how it ended. */
typedef struct {
    uint64_t digest;
    size_t packets;
    int end; /* 0: wants more bytes; or the reader's error */
} reading;

/* FNV-1a over n bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *b = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Run every parser on p (whatever its type: each must refuse what is not its own) and check what they return. */
static void parse_all(const mqtt_packet *p)
{
    const uint8_t *end = p->body + p->len;
    mqtt_publish pub;
    if (mqtt_parse_publish(p, &pub) == 0) {
        if (p->type != MQTT_PUBLISH || pub.qos > 2 || (pub.qos && !pub.packet_id))
            abort();
        if ((const uint8_t *)pub.topic < p->body || (const uint8_t *)pub.topic + pub.topic_len > end ||
            pub.payload < (const uint8_t *)pub.topic + pub.topic_len || pub.payload + pub.payload_len != end)
            abort();
    }
    bool session_present;
    uint8_t reason;
    uint16_t packet_id;
    if (mqtt_parse_connack(p, &session_present, &reason) == 0 && (p->type != MQTT_CONNACK || p->len < 2))
        abort();
    if (mqtt_parse_suback(p, &packet_id, &reason) == 0 && (p->type != MQTT_SUBACK || p->len < 3))
        abort();
    if (mqtt_parse_disconnect(p, &reason) == 0 && p->type != MQTT_DISCONNECT)
        abort();
    if (!mqtt_reason_string(reason))
        abort();
}

/* Read the stream in reads of at most chunk bytes (0: as much as the reader has room for). */
static reading read_stream(const uint8_t *data, size_t size, size_t max_packet, size_t chunk)
{
    reading out = {.digest = 0xcbf29ce484222325ULL};
    mqtt_reader r;
    mqtt_reader_init(&r, max_packet);
    size_t fed = 0;
    for (;;) {
        mqtt_packet p;
        int rc;
        while ((rc = mqtt_reader_next(&r, &p)) == 1) {
            if (p.len > max_packet || p.body < r.buf || p.body + p.len > r.buf + r.len)
                abort();
            uint8_t head[2] = {p.type, p.flags};
            out.digest = fnv(fnv(out.digest, head, 2), p.body, p.len);
            out.packets++;
            parse_all(&p);
        }
        if (rc < 0 || fed == size) {
            out.end = rc;
            break;
        }
        uint8_t *space;
        size_t n;
        if (mqtt_reader_space(&r, chunk ? chunk : 65536, &space, &n) != 0)
            abort();
        /* The reader's room is bounded by one packet plus its header, and never empty. */
        if (n == 0 || r.len + n > max_packet + 5)
            abort();
        if (chunk && n > chunk)
            n = chunk;
        if (n > size - fed)
            n = size - fed;
        memcpy(space, data + fed, n);
        mqtt_reader_wrote(&r, n);
        fed += n;
    }
    mqtt_reader_close(&r);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* Bits 0-2: the small reads' size (1 to 8 bytes); bits 3-7: the Maximum Packet Size (16 bytes to 4 MiB). */
    size_t chunk = 1 + (data[0] & 7), max_packet = (size_t)16 << ((data[0] >> 3) % 19);
    reading whole = read_stream(data + 1, size - 1, max_packet, 0);
    reading pieces = read_stream(data + 1, size - 1, max_packet, chunk);
    if (whole.digest != pieces.digest || whole.packets != pieces.packets || whole.end != pieces.end)
        abort();
    return 0;
}
