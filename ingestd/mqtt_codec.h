/* MQTT 5.0 packets (OASIS MQTT Version 5.0): the few ingestd sends, a reader that cuts the broker's byte stream into
 * packets with bounded memory, and the fields ingestd reads from what the broker sends. No I/O: mqtt_ingest.c does
 * that on the daemon's loop. */
#ifndef MOHSTATS_MQTT_CODEC_H
#define MOHSTATS_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"

enum {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
};

/* The largest Remaining Length the protocol can express (four bytes of seven bits). */
#define MQTT_MAX_REMAINING 268435455u

/* One packet as read: its type, the fixed header's four flag bits, and its variable header and payload. */
typedef struct {
    uint8_t type, flags;
    const uint8_t *body;
    size_t len;
} mqtt_packet;

/* What CONNECT asks for. */
typedef struct {
    const char *client_id, *user, *password;
    uint16_t keepalive_s;
    uint32_t session_expiry_s; /* how long the broker keeps the session after a disconnect */
    uint16_t receive_max;      /* unacknowledged QoS 1 messages the broker may send at once */
    uint32_t max_packet;       /* larger packets the broker does not send (it drops them) */
} mqtt_connect_opts;

/* Append the packets ingestd sends to out; each returns 0 or -ENOMEM (-EINVAL: a string over 65535 bytes). */
int mqtt_put_connect(bytebuf *out, const mqtt_connect_opts *o);
int mqtt_put_subscribe(bytebuf *out, uint16_t packet_id, const char *filter, uint8_t qos);
int mqtt_put_puback(bytebuf *out, uint16_t packet_id);
int mqtt_put_pingreq(bytebuf *out);
int mqtt_put_disconnect(bytebuf *out);

/* Cuts a byte stream into packets. Its buffer grows to at most max_packet bytes plus a fixed header: a packet
 * announcing more is an error before any of its body is held. */
typedef struct {
    uint8_t *buf;
    size_t len, cap, start; /* bytes held, allocated, and consumed from the front */
    size_t max_packet;
} mqtt_reader;

void mqtt_reader_init(mqtt_reader *r, size_t max_packet);
void mqtt_reader_close(mqtt_reader *r);
/* Forget what is held (a new connection). */
void mqtt_reader_reset(mqtt_reader *r);
/* Room to read into: at least want bytes (fewer if the bound says so), *space and *n. 0 or -ENOMEM. */
int mqtt_reader_space(mqtt_reader *r, size_t want, uint8_t **space, size_t *n);
/* n bytes were read into the room mqtt_reader_space gave. */
void mqtt_reader_wrote(mqtt_reader *r, size_t n);
/* The next whole packet in *p (valid until the next call of mqtt_reader_space or _reset): 1; 0 when more bytes are
 * needed; -EPROTO for a malformed Remaining Length, -EMSGSIZE for a packet over max_packet. After an error the
 * connection cannot be read further. */
int mqtt_reader_next(mqtt_reader *r, mqtt_packet *p);

/* CONNACK: whether the broker had the session, and its reason code (0: accepted; 0x80 and above: refused). 0 or
 * -EPROTO. */
int mqtt_parse_connack(const mqtt_packet *p, bool *session_present, uint8_t *reason);

/* PUBLISH as ingestd reads it. */
typedef struct {
    const char *topic; /* not NUL-terminated */
    size_t topic_len;
    uint8_t qos;
    bool dup;           /* the broker sent it before (a redelivery) */
    uint16_t packet_id; /* 0 for QoS 0 */
    const uint8_t *payload;
    size_t payload_len;
} mqtt_publish;

/* 0 or -EPROTO (a QoS of 3, lengths beyond the packet, a QoS 1 or 2 packet id of 0). */
int mqtt_parse_publish(const mqtt_packet *p, mqtt_publish *m);
/* SUBACK of one filter: its packet id and reason code (0 to 2: the QoS granted; 0x80 and above: refused). */
int mqtt_parse_suback(const mqtt_packet *p, uint16_t *packet_id, uint8_t *reason);
/* DISCONNECT from the broker: its reason code (0 when it has none). */
int mqtt_parse_disconnect(const mqtt_packet *p, uint8_t *reason);
/* A reason code's name, for log lines ("Not authorized", ...). */
const char *mqtt_reason_string(uint8_t reason);

#endif
