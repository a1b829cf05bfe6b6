/* MQTT in's state (struct mqtt_ingest) and what its two files call in each other: the connection, settings and
 * lifetime (mqtt_ingest.c), and the messages, which states points 1-3 of why each counts once, referred to here
 * (mqtt_ingest_messages.c). Not for other modules: they use mqtt_ingest.h. */
#ifndef MOHSTATS_MQTT_INGEST_STATE_H
#define MOHSTATS_MQTT_INGEST_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "mqtt_codec.h"
#include "mqtt_ingest.h"

#define EVENTS_PREFIX "openmohaa/events/"
/* Reconnecting after a failure: 1 s, doubling with each failure in a row up to 30 s, each wait drawn between half
 * and all of that (jitter: the ingestd processes of a group that lost Redis or the broker together do not come
 * back in step). */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000
/* How much longer than the session a batch's dedupe key lives (point 3): for a message that was sent, stored and
 * acknowledged, and then sent again by a broker that crashed before it saved the acknowledgement and restarted. */
#define DEDUPE_MARGIN_S 3600

typedef enum { LINK_NONE, LINK_CONNECTING, LINK_LOGGING_IN, LINK_READY } link_state;

/* A message read and not acknowledged yet, in the order they came (PUBACKs go out in that order). */
typedef struct mqtt_message mqtt_message;
struct mqtt_message {
    mqtt_ingest *m;
    mqtt_message *next;
    uint64_t link;      /* the connection it came on: a PUBACK on another one would acknowledge another message */
    uint16_t packet_id; /* 0: QoS 0, nothing to acknowledge */
    bool done;
    /* Held back for its server's byte budget (point 2): what ingest_api_submit needs later. */
    bool held, maybe_duplicate;
    char server_id[64];
    uint8_t batch_id[16];
    char *payload; /* a copy, while held */
    size_t payload_len;
};

/* A server's held messages: how many, and their bytes (what its budget must pass before the next one). */
typedef struct {
    unsigned messages;
    size_t bytes;
} held_server;

struct mqtt_ingest {
    uv_loop_t *loop;
    ingest_api *api;
    const broker_accounts *accounts;
    char host[256], client_id[256], user[128], password[256], subscription[192];
    int port;
    uv_timer_t timer;
    /* Held messages (point 2): how many, how many per server id (a later message of a server with one held is
     * held too, so that a server's messages are stored in order), the timer that submits them, and whether that
     * is under way (acknowledge_done then waits, so that no message is freed under the walk). */
    unsigned held;
    hashmap *held_servers; /* server id -> held_server */
    uint64_t hold_max_ms;  /* MQTT_HOLD_MAX_MS */
    uv_timer_t budget_timer;
    bool releasing;
    /* The connection: its TCP handle while it has one (freed by its close callback), and its state. */
    uv_tcp_t *tcp;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    link_state state;
    uint64_t link; /* counts connections: which one a message came on */
    mqtt_reader reader;
    bool reading; /* uv_read_start'ed on tcp */
    bool paused;  /* not reading: too many messages in flight, or stopping */
    bool stopping, stopped;
    uint64_t linked_ms, sent_ms, ping_ms; /* ping_ms: a PINGREQ unanswered since then, or 0 */
    /* retry_ms: the ceiling of the wait before the next try after failed logins in a row (0: none failed). */
    uint64_t retry_at_ms, retry_ms, failure_logged_ms;
    /* Messages that could not be stored (503: Redis and the spool both failed) since the last one stored: each
     * ends the connection, so that the broker sends it again, after a backoff (store_retry_ms, its ceiling) that
     * grows with them. Logged when it starts and when it ends. */
    unsigned store_failures;
    uint64_t store_retry_ms;
    uint64_t jitter_state;
    uint32_t session_expiry_s;
    bool connected_before; /* logged in once already: a CONNACK without a session then means it was lost */
    bool qos0_warned;
    uint64_t suback_logged_ms; /* a subscription refused or downgraded: logged once a minute */
    mqtt_message *head, *tail;
    unsigned in_flight, max_in_flight;
    void (*stop_done)(void *);
    void *stop_arg;
    metric *received, *accepted, *redelivered, *held_total, *connected_gauge;
    log_throttle drops_log, held_log;
};

static inline uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* ---- mqtt_ingest.c: the connection, settings and lifetime ---- */

/* The connection failed or ended: close it and try again later (backoff_ms). Messages of it still being stored get
 * no PUBACK: the broker sends them again on the next connection. */
void mqtt_connection_lost(mqtt_ingest *m, const char *why);
/* mqtt_connection_lost, with log false when the reason was logged already. */
void mqtt_link_lost(mqtt_ingest *m, const char *why, bool log);
/* Send the packets in out (then emptied) on the connection, if it is still there. */
void mqtt_send_packets(mqtt_ingest *m, bytebuf *out);
/* Read the connection, unless paused. */
void mqtt_start_reading(mqtt_ingest *m);
/* Every message read is stored or refused, and acknowledged: log out (the session stays on the broker), close. */
void mqtt_finish_stop(mqtt_ingest *m);

/* ---- mqtt_ingest_messages.c: the messages ---- */

/* A PUBLISH: drop it (and acknowledge it) if it is not an active server's batch, else hand it to ingest_api. */
void mqtt_on_message(mqtt_ingest *m, const mqtt_publish *p);
/* Give up every held message: not acknowledged, the broker sends them again on the next connection. They leave
 * the queue with the next acknowledge_done. */
void mqtt_drop_held(mqtt_ingest *m);

#endif
