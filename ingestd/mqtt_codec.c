/* MQTT 5.0 packets: encoders of CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT, a bounded reader, and the
 * parsers of CONNACK, PUBLISH, SUBACK and DISCONNECT. Section numbers are those of the OASIS MQTT 5.0 standard. */
#include "mqtt_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Properties (3.1.2.11) ingestd sends in CONNECT. */
#define PROP_SESSION_EXPIRY 0x11
#define PROP_RECEIVE_MAXIMUM 0x21
#define PROP_MAXIMUM_PACKET_SIZE 0x27

/* The reader's first allocation: a stock tracker's message is a few KB. */
#define READER_INITIAL 16384

/* Append v as a Variable Byte Integer (1.5.5): 1 to 4 bytes, seven bits each, low first. */
static int put_varint(bytebuf *out, uint32_t v)
{
    char b[4];
    size_t n = 0;
    do {
        b[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= (char)0x80;
        n++;
    } while (v && n < 4);
    return bytebuf_append(out, b, n);
}

/* Big-endian integers (1.5.2, 1.5.3). */
static int put_u8(bytebuf *out, uint8_t v)
{
    return bytebuf_append(out, (const char *)&v, 1);
}

static int put_u16(bytebuf *out, uint16_t v)
{
    char b[2] = {(char)(v >> 8), (char)(v & 0xff)};
    return bytebuf_append(out, b, 2);
}

static int put_u32(bytebuf *out, uint32_t v)
{
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    return bytebuf_append(out, b, 4);
}

/* A UTF-8 string or binary data (1.5.4, 1.5.6): two bytes of length, then the bytes. */
static int put_string(bytebuf *out, const char *s)
{
    size_t n = strlen(s);
    if (n > 0xffff)
        return -EINVAL;
    return put_u16(out, (uint16_t)n) || bytebuf_append(out, s, n) ? -ENOMEM : 0;
}

/* Append the fixed header of a packet of type and flags, then body. */
static int put_packet(bytebuf *out, uint8_t type, uint8_t flags, const bytebuf *body)
{
    if (body->len > MQTT_MAX_REMAINING)
        return -EINVAL;
    if (put_u8(out, (uint8_t)(type << 4 | flags)) || put_varint(out, (uint32_t)body->len) ||
        bytebuf_append(out, body->data ? body->data : "", body->len))
        return -ENOMEM;
    return 0;
}

int mqtt_put_connect(bytebuf *out, const mqtt_connect_opts *o)
{
    bytebuf props = {0}, body = {0};
    int rc = -ENOMEM;
    /* 3.1.2.11: the session outlives the connection, the broker sends at most receive_max unacknowledged
     * messages, and none larger than what the reader accepts. */
    if (put_u8(&props, PROP_SESSION_EXPIRY) || put_u32(&props, o->session_expiry_s) ||
        put_u8(&props, PROP_RECEIVE_MAXIMUM) || put_u16(&props, o->receive_max) ||
        put_u8(&props, PROP_MAXIMUM_PACKET_SIZE) || put_u32(&props, o->max_packet))
        goto out;
    /* 3.1.2: protocol name and level 5, then flags: user name, password, and no Clean Start (0x02 clear). */
    uint8_t flags = (o->user ? 0x80 : 0) | (o->password ? 0x40 : 0);
    if ((rc = put_string(&body, "MQTT")) || (rc = put_u8(&body, 5)) || (rc = put_u8(&body, flags)) ||
        (rc = put_u16(&body, o->keepalive_s)) || (rc = put_varint(&body, (uint32_t)props.len)) ||
        (rc = bytebuf_append(&body, props.data, props.len)))
        goto out;
    /* 3.1.3: client id, then (no will) user name and password. */
    if ((rc = put_string(&body, o->client_id)) || (o->user && (rc = put_string(&body, o->user))) ||
        (o->password && (rc = put_string(&body, o->password))))
        goto out;
    rc = put_packet(out, MQTT_CONNECT, 0, &body);
out:
    bytebuf_free(&props);
    bytebuf_free(&body);
    return rc;
}

int mqtt_put_subscribe(bytebuf *out, uint16_t packet_id, const char *filter, uint8_t qos)
{
    bytebuf body = {0};
    int rc;
    /* 3.8: packet id, no properties, the filter and its options (the QoS; the rest 0). Flags 0010 (3.8.1). */
    if (!(rc = put_u16(&body, packet_id)) && !(rc = put_varint(&body, 0)) && !(rc = put_string(&body, filter)) &&
        !(rc = put_u8(&body, qos & 3)))
        rc = put_packet(out, MQTT_SUBSCRIBE, 0x2, &body);
    bytebuf_free(&body);
    return rc;
}

int mqtt_put_puback(bytebuf *out, uint16_t packet_id)
{
    /* 3.4.2.1: a Remaining Length of 2 means reason 0 (Success) and no properties. */
    char b[4] = {(char)(MQTT_PUBACK << 4), 2, (char)(packet_id >> 8), (char)(packet_id & 0xff)};
    return bytebuf_append(out, b, sizeof b);
}

int mqtt_put_pingreq(bytebuf *out)
{
    char b[2] = {(char)(MQTT_PINGREQ << 4), 0};
    return bytebuf_append(out, b, sizeof b);
}

int mqtt_put_disconnect(bytebuf *out)
{
    /* 3.14.2.1: no reason code means 0, Normal disconnection: the broker keeps the session. */
    char b[2] = {(char)(MQTT_DISCONNECT << 4), 0};
    return bytebuf_append(out, b, sizeof b);
}

/* -- the reader -- */

void mqtt_reader_init(mqtt_reader *r, size_t max_packet)
{
    memset(r, 0, sizeof *r);
    r->max_packet = max_packet;
}

void mqtt_reader_close(mqtt_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

void mqtt_reader_reset(mqtt_reader *r)
{
    r->len = r->start = 0;
}

int mqtt_reader_space(mqtt_reader *r, size_t want, uint8_t **space, size_t *n)
{
    /* Whatever was consumed goes: the bytes held are the start of the next packet, at most a whole one. */
    if (r->start) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    /* At most one whole packet (5 bytes of fixed header) is held; mqtt_reader_next refuses a larger one before
     * its body is read, so the buffer never needs more. */
    size_t bound = r->max_packet + 5;
    if (want < 1)
        want = 1;
    if (r->len + want > bound)
        want = bound > r->len ? bound - r->len : 1;
    if (r->cap - r->len < want) {
        size_t cap = r->cap ? r->cap : READER_INITIAL;
        while (cap - r->len < want)
            cap *= 2;
        if (cap > bound && bound >= r->len + want)
            cap = bound;
        uint8_t *b = realloc(r->buf, cap);
        if (!b)
            return -ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    *space = r->buf + r->len;
    *n = r->cap - r->len;
    return 0;
}

void mqtt_reader_wrote(mqtt_reader *r, size_t n)
{
    r->len += n;
}

int mqtt_reader_next(mqtt_reader *r, mqtt_packet *p)
{
    const uint8_t *b = r->buf + r->start;
    size_t avail = r->len - r->start, remaining = 0, i = 1;
    if (avail < 2)
        return 0;
    /* 2.1.4: the Remaining Length, at most four bytes. */
    for (unsigned shift = 0;; shift += 7, i++) {
        if (i > 4)
            return -EPROTO;
        if (i >= avail)
            return 0;
        remaining |= (size_t)(b[i] & 0x7f) << shift;
        if (!(b[i] & 0x80))
            break;
    }
    i++; /* the header's length */
    if (remaining > r->max_packet)
        return -EMSGSIZE;
    if (avail - i < remaining)
        return 0;
    p->type = b[0] >> 4;
    p->flags = b[0] & 0x0f;
    p->body = b + i;
    p->len = remaining;
    r->start += i + remaining;
    return 1;
}

/* -- what the broker sends -- */

/* Read a Variable Byte Integer at *pos of p's body into *v. */
static int get_varint(const mqtt_packet *p, size_t *pos, size_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 28; shift += 7) {
        if (*pos >= p->len)
            return -EPROTO;
        uint8_t c = p->body[(*pos)++];
        *v |= (size_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -EPROTO;
}

/* Skip the properties at *pos (a length, then that many bytes): ingestd needs none of the broker's. */
static int skip_properties(const mqtt_packet *p, size_t *pos)
{
    size_t n;
    if (get_varint(p, pos, &n) || n > p->len - *pos)
        return -EPROTO;
    *pos += n;
    return 0;
}

/* A Two Byte Integer at b. */
static uint16_t get_u16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

int mqtt_parse_connack(const mqtt_packet *p, bool *session_present, uint8_t *reason)
{
    if (p->type != MQTT_CONNACK || p->len < 2)
        return -EPROTO;
    *session_present = p->body[0] & 1;
    *reason = p->body[1];
    return 0;
}

int mqtt_parse_publish(const mqtt_packet *p, mqtt_publish *m)
{
    if (p->type != MQTT_PUBLISH)
        return -EPROTO;
    m->dup = p->flags & 0x8;
    m->qos = (p->flags >> 1) & 3;
    if (m->qos == 3 || p->len < 2)
        return -EPROTO;
    size_t pos = 2;
    m->topic_len = get_u16(p->body);
    m->topic = (const char *)p->body + pos;
    if (m->topic_len > p->len - pos)
        return -EPROTO;
    pos += m->topic_len;
    m->packet_id = 0;
    if (m->qos) {
        if (p->len - pos < 2 || (m->packet_id = get_u16(p->body + pos)) == 0)
            return -EPROTO;
        pos += 2;
    }
    if (skip_properties(p, &pos))
        return -EPROTO;
    m->payload = p->body + pos;
    m->payload_len = p->len - pos;
    return 0;
}

int mqtt_parse_suback(const mqtt_packet *p, uint16_t *packet_id, uint8_t *reason)
{
    size_t pos = 2;
    if (p->type != MQTT_SUBACK || p->len < 2)
        return -EPROTO;
    *packet_id = get_u16(p->body);
    if (skip_properties(p, &pos) || pos >= p->len)
        return -EPROTO;
    *reason = p->body[pos];
    return 0;
}

int mqtt_parse_disconnect(const mqtt_packet *p, uint8_t *reason)
{
    if (p->type != MQTT_DISCONNECT)
        return -EPROTO;
    *reason = p->len ? p->body[0] : 0;
    return 0;
}

const char *mqtt_reason_string(uint8_t reason)
{
    /* 2.4: the reason codes a broker answers CONNECT, SUBSCRIBE or ends a connection with. */
    static const struct {
        uint8_t code;
        const char *name;
    } names[] = {
        {0x00, "Success"},
        {0x01, "Granted QoS 1"},
        {0x02, "Granted QoS 2"},
        {0x80, "Unspecified error"},
        {0x81, "Malformed Packet"},
        {0x82, "Protocol Error"},
        {0x83, "Implementation specific error"},
        {0x84, "Unsupported Protocol Version"},
        {0x85, "Client Identifier not valid"},
        {0x86, "Bad User Name or Password"},
        {0x87, "Not authorized"},
        {0x88, "Server unavailable"},
        {0x89, "Server busy"},
        {0x8A, "Banned"},
        {0x8B, "Server shutting down"},
        {0x8D, "Keep Alive timeout"},
        {0x8E, "Session taken over"},
        {0x8F, "Topic Filter invalid"},
        {0x93, "Receive Maximum exceeded"},
        {0x95, "Packet too large"},
        {0x97, "Quota exceeded"},
        {0x9E, "Shared Subscriptions not supported"},
        {0x9F, "Connection rate exceeded"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == reason)
            return names[i].name;
    return "unknown reason";
}
