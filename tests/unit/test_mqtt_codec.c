/* ingestd/mqtt_codec.c: the packets ingestd sends, byte for byte as MQTT 5.0 lays them out, and the reader of the
 * broker's stream: packets split across reads, several in one read, malformed lengths and oversize packets refused
 * with bounded memory; and the reconnect backoff of mqtt_ingest.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt_codec.h"
#include "mqtt_ingest.h"

/* Feed n bytes to r through mqtt_reader_space/_wrote, as the loop's reads do, at most chunk at a time. */
static void feed(mqtt_reader *r, const void *data, size_t n, size_t chunk)
{
    const uint8_t *d = data;
    while (n) {
        uint8_t *space;
        size_t room;
        assert_int_equal(mqtt_reader_space(r, chunk, &space, &room), 0);
        assert_true(room > 0);
        size_t k = n < room ? n : room;
        if (k > chunk)
            k = chunk;
        memcpy(space, d, k);
        mqtt_reader_wrote(r, k);
        d += k;
        n -= k;
    }
}

static void test_connect_bytes(void **state)
{
    (void)state;
    bytebuf b = {0};
    mqtt_connect_opts o = {.client_id = "c",
                           .user = "u",
                           .password = "pw",
                           .keepalive_s = 30,
                           .session_expiry_s = 0xffffffffu,
                           .receive_max = 1000,
                           .max_packet = 4u << 20};
    assert_int_equal(mqtt_put_connect(&b, &o), 0);
    /* One field a line. */
    // clang-format off
    static const uint8_t want[] = {
        0x10, 34,                                /* CONNECT, remaining length */
        0, 4, 'M', 'Q', 'T', 'T', 5,             /* protocol name, level 5 */
        0xc0,                                    /* user name, password; no Clean Start */
        0, 30,                                   /* keepalive */
        13,                                      /* properties' length */
        0x11, 0xff, 0xff, 0xff, 0xff,            /* Session Expiry Interval */
        0x21, 0x03, 0xe8,                        /* Receive Maximum 1000 */
        0x27, 0x00, 0x40, 0x00, 0x00,            /* Maximum Packet Size 4 MiB */
        0, 1, 'c', 0, 1, 'u', 0, 2, 'p', 'w',    /* client id, user, password */
    };
    // clang-format on
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    bytebuf_free(&b);
}

static void test_small_packets(void **state)
{
    (void)state;
    bytebuf b = {0};
    assert_int_equal(mqtt_put_subscribe(&b, 1, "$share/g/t/+", 1), 0);
    assert_int_equal(mqtt_put_puback(&b, 0x1234), 0);
    assert_int_equal(mqtt_put_pingreq(&b), 0);
    assert_int_equal(mqtt_put_disconnect(&b), 0);
    /* One packet a line. */
    // clang-format off
    static const uint8_t want[] = {
        0x82, 18, 0, 1, 0, 0, 12, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', '/', '+', 1,
        0x40, 2, 0x12, 0x34,
        0xc0, 0,
        0xe0, 0,
    };
    // clang-format on
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    bytebuf_free(&b);
}

/* A QoS 1 PUBLISH as mosquitto sends it: topic, packet id, properties, payload. */
static size_t make_publish(uint8_t *out, const char *topic, uint16_t pid, bool dup, const char *payload)
{
    size_t tl = strlen(topic), pl = strlen(payload), rem = 2 + tl + 2 + 1 + pl, n = 0;
    out[n++] = (uint8_t)(0x30 | (dup ? 0x8 : 0) | 0x2);
    do {
        out[n] = rem & 0x7f;
        rem >>= 7;
        out[n++] |= rem ? 0x80 : 0;
    } while (rem);
    out[n++] = 0;
    out[n++] = (uint8_t)tl;
    memcpy(out + n, topic, tl);
    n += tl;
    out[n++] = (uint8_t)(pid >> 8);
    out[n++] = (uint8_t)pid;
    out[n++] = 0; /* no properties */
    memcpy(out + n, payload, pl);
    return n + pl;
}

static void test_publish_split_and_joined(void **state)
{
    (void)state;
    uint8_t stream[600];
    size_t n = make_publish(stream, "openmohaa/events/s1", 7, false, "[{\"type\":\"jump\"}]");
    n += make_publish(stream + n, "openmohaa/events/s2", 8, true, "[]");
    static const uint8_t connack[] = {0x20, 3, 0, 0, 0}, pingresp[] = {0xd0, 0};
    memcpy(stream + n, connack, sizeof connack);
    n += sizeof connack;
    memcpy(stream + n, pingresp, sizeof pingresp);
    n += sizeof pingresp;
    /* Whole, then one byte at a time, then in chunks of 3: the same four packets. */
    size_t chunks[] = {sizeof stream, 1, 3};
    for (size_t c = 0; c < 3; c++) {
        mqtt_reader r;
        mqtt_reader_init(&r, 1024);
        mqtt_packet p;
        mqtt_publish m;
        int got = 0;
        for (size_t off = 0; off < n; off += chunks[c]) {
            size_t k = n - off < chunks[c] ? n - off : chunks[c];
            feed(&r, stream + off, k, k);
            int rc;
            while ((rc = mqtt_reader_next(&r, &p)) == 1) {
                got++;
                if (got == 1) {
                    assert_int_equal(p.type, MQTT_PUBLISH);
                    assert_int_equal(mqtt_parse_publish(&p, &m), 0);
                    assert_int_equal(m.topic_len, 19);
                    assert_memory_equal(m.topic, "openmohaa/events/s1", 19);
                    assert_int_equal(m.packet_id, 7);
                    assert_int_equal(m.qos, 1);
                    assert_false(m.dup);
                    assert_int_equal(m.payload_len, 17);
                    assert_memory_equal(m.payload, "[{\"type\":\"jump\"}]", 17);
                } else if (got == 2) {
                    assert_int_equal(mqtt_parse_publish(&p, &m), 0);
                    assert_true(m.dup);
                    assert_int_equal(m.packet_id, 8);
                    assert_int_equal(m.payload_len, 2);
                } else if (got == 3) {
                    bool sp;
                    uint8_t reason;
                    assert_int_equal(mqtt_parse_connack(&p, &sp, &reason), 0);
                    assert_int_equal(reason, 0);
                } else {
                    assert_int_equal(p.type, MQTT_PINGRESP);
                    assert_int_equal(p.len, 0);
                }
            }
            assert_int_equal(rc, 0);
        }
        assert_int_equal(got, 4);
        mqtt_reader_close(&r);
    }
}

/* A length of five bytes is malformed (2.1.4), whatever follows. */
static void test_malformed_length(void **state)
{
    (void)state;
    static const uint8_t bad[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    mqtt_reader r;
    mqtt_reader_init(&r, MQTT_MAX_REMAINING);
    mqtt_packet p;
    feed(&r, bad, 4, 4);
    assert_int_equal(mqtt_reader_next(&r, &p), 0); /* not known yet */
    feed(&r, bad + 4, 2, 2);
    assert_int_equal(mqtt_reader_next(&r, &p), -EPROTO);
    mqtt_reader_close(&r);
}

/* A packet announcing more than max_packet is refused from its header, before its body is held: the buffer never
 * grows past the bound, however much the peer sends. */
static void test_oversize(void **state)
{
    (void)state;
    mqtt_reader r;
    mqtt_reader_init(&r, 100);
    static const uint8_t big[] = {0x30, 101};
    uint8_t fill[300];
    memset(fill, 'x', sizeof fill);
    mqtt_packet p;
    feed(&r, big, sizeof big, sizeof big);
    assert_int_equal(mqtt_reader_next(&r, &p), -EMSGSIZE);
    mqtt_reader_close(&r);

    /* Exactly the bound passes; the reader asks for no more room than one whole packet. */
    mqtt_reader_init(&r, 100);
    static const uint8_t fits[] = {0x30, 100};
    feed(&r, fits, 2, 2);
    uint8_t *space;
    size_t room;
    assert_int_equal(mqtt_reader_space(&r, 65536, &space, &room), 0);
    assert_true(room <= 103);
    feed(&r, fill, 100, 100);
    assert_int_equal(mqtt_reader_next(&r, &p), 1);
    assert_int_equal(p.len, 100);
    assert_true(r.cap <= 105);
    mqtt_reader_close(&r);
}

static void test_malformed_publish(void **state)
{
    (void)state;
    /* A topic longer than the packet; a QoS 1 packet id of 0; QoS 3. */
    static const uint8_t long_topic[] = {0, 9, 'a', 'b'};
    static const uint8_t zero_pid[] = {0, 1, 't', 0, 0, 0};
    mqtt_packet p = {.type = MQTT_PUBLISH, .flags = 0x2, .body = long_topic, .len = sizeof long_topic};
    mqtt_publish m;
    assert_int_equal(mqtt_parse_publish(&p, &m), -EPROTO);
    p.body = zero_pid;
    p.len = sizeof zero_pid;
    assert_int_equal(mqtt_parse_publish(&p, &m), -EPROTO);
    p.flags = 0x6;
    assert_int_equal(mqtt_parse_publish(&p, &m), -EPROTO);
    /* Properties announced longer than what is left. */
    static const uint8_t long_props[] = {0, 1, 't', 0, 5, 9, 'x'};
    p.flags = 0x2;
    p.body = long_props;
    p.len = sizeof long_props;
    assert_int_equal(mqtt_parse_publish(&p, &m), -EPROTO);
}

static void test_suback_and_reasons(void **state)
{
    (void)state;
    static const uint8_t ok[] = {0, 1, 0, 1}, refused[] = {0, 1, 0, 0x87}, empty[] = {0, 1, 0};
    mqtt_packet p = {.type = MQTT_SUBACK, .body = ok, .len = sizeof ok};
    uint16_t pid;
    uint8_t reason;
    assert_int_equal(mqtt_parse_suback(&p, &pid, &reason), 0);
    assert_int_equal(pid, 1);
    assert_int_equal(reason, 1);
    p.body = refused;
    assert_int_equal(mqtt_parse_suback(&p, &pid, &reason), 0);
    assert_string_equal(mqtt_reason_string(reason), "Not authorized");
    p.body = empty;
    p.len = sizeof empty;
    assert_int_equal(mqtt_parse_suback(&p, &pid, &reason), -EPROTO);
    static const uint8_t bye[] = {0x8e};
    mqtt_packet d = {.type = MQTT_DISCONNECT, .body = bye, .len = 1};
    assert_int_equal(mqtt_parse_disconnect(&d, &reason), 0);
    assert_string_equal(mqtt_reason_string(reason), "Session taken over");
}

/* The waits after failures in a row: 0.5-1 s, then each ceiling doubled up to 30 s, never above it, and spread. */
static void test_retry_wait(void **state)
{
    (void)state;
    uint64_t ceilings[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    uint64_t lowest = UINT64_MAX, highest = 0;
    for (uint64_t random = 0; random < 5000; random += 7) {
        uint64_t ceiling = 0, wait = 0;
        for (size_t i = 0; i < sizeof ceilings / sizeof ceilings[0]; i++) {
            /* The lowest draw every time still doubles the ceiling. */
            wait = mqtt_retry_wait_ms(&ceiling, i == 0 ? 0 : random * 2654435761u);
            assert_int_equal(ceiling, ceilings[i]);
            assert_in_range(wait, ceilings[i] / 2, ceilings[i]);
        }
        lowest = wait < lowest ? wait : lowest;
        highest = wait > highest ? wait : highest;
    }
    /* Jitter: the capped waits of different draws are spread over most of 15-30 s. */
    assert_true(lowest < 17000 && highest > 28000);
    uint64_t ceiling = 0;
    assert_int_equal(mqtt_retry_wait_ms(&ceiling, 0), 500);
    assert_int_equal(mqtt_retry_wait_ms(&ceiling, 0), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_bytes),
        cmocka_unit_test(test_small_packets),
        cmocka_unit_test(test_publish_split_and_joined),
        cmocka_unit_test(test_malformed_length),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_malformed_publish),
        cmocka_unit_test(test_suback_and_reasons),
        cmocka_unit_test(test_retry_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
