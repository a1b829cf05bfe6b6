/* MQTT in: an MQTT 5 subscriber of our own on the daemon's libuv loop (mqtt_codec.c has the packets), each message
 * handed to ingest_api_submit as a batch of the server its topic names, and acknowledged only once it is stored.
 *
 * Why the topic's server id can be believed: the broker lets a client log in only with an active server's id and
 * token, and publish only to that id's topic (ingestd/broker_auth/). ingestd checks again that the id is an active
 * server (broker_accounts): a server revoked a moment ago may still have a connection the broker has not closed.
 *
 * Why not libmosquitto: it sends a QoS 1 PUBACK as soon as it has read the message, before its callback runs (2.0's
 * lib/handle_publish.c), and has no option to defer it; a message between that PUBACK and its XADD was lost if
 * ingestd died then. Here the PUBACK goes out after the XADD, so the broker forgets nothing ingestd has not stored.
 *
 * Why every message counts once end to end, though MQTT QoS 1 is "at least once":
 *  1. The tracker publishes with QoS 0; the broker delivers to ingestd's session with the subscription's QoS 1
 *     (upgrade_outgoing_qos) and keeps each message in the session (persistence on) until ingestd's PUBACK for it.
 *     The session outlives ingestd's connection, by MQTT_SESSION_EXPIRY_S, and a clean restart of the broker. Not
 *     forever: mosquitto 2.0 deals a shared subscription's messages to offline members too, so the session of an
 *     ingestd gone for good (another MQTT_CLIENT_ID) takes its share of new messages until it expires.
 *  2. ingestd sends a message's PUBACK only after ingest_api_submit's done: 202 (the XADD was answered with an
 *     entry id, or the spool fsynced it) or a refusal for good (4xx but 429: counted and dropped, as over HTTP), and
 *     in the order the messages came (MQTT 5 4.6). A 503, no memory, or a lost connection: no PUBACK, the broker
 *     sends the message again on the next connection (MQTT 5 4.4: unacknowledged PUBLISH packets are sent again,
 *     with their packet ids and DUP set). So nothing taken from the broker is lost by a SIGKILL: at worst it comes
 *     again. A server over its byte budget (INGEST_SERVER_BYTES_PER_S; 429 over HTTP) is not refused but held
 *     back: after an ingestd outage the broker replays a server's queue at full speed, and a tracker cannot be told
 *     to retry a message it sent long ago. Its message waits here, unacknowledged (so the broker's Receive Maximum,
 *     MQTT_MAX_IN_FLIGHT, bounds how many wait), and is submitted when the budget lets it through, after every
 *     earlier message of that server (hold, release_held).
 *  3. A message that comes again may have been stored already: XADDed, and its PUBACK lost with the process or the
 *     connection; or acknowledged, and the broker crashed before its next autosave, so that it sends again what
 *     it had sent since, without DUP marks. Its batch id is not random but derived from the message (batch_id_of:
 *     the session, the topic, the packet id, the payload), so every copy has the same one, and the stream keeps it
 *     once: the append sets a key of that batch id in the same step as its XADD, and adds no entry while the key
 *     is there (stream.h, dedupe_ttl_s). The key lives MQTT_SESSION_EXPIRY_S plus DEDUPE_MARGIN_S: a message can
 *     come again only to the session that took it, before that session expires. That holds for a batch that was
 *     spooled (Redis down) too: the spool replays it through the same append, with the same key, so whichever of
 *     the replay and the broker's copy comes second adds nothing. A copy marked DUP is still flagged
 *     maybe_duplicate: the writers then check ClickHouse for it, which costs little (DUP is rare) and covers a
 *     copy that came after its key expired (below).
 *  What is not covered: a copy that comes after its key expired: a broker down for longer than DEDUPE_MARGIN_S
 *  after it had sent the message (a crash, then a restart from an autosave that had it unsent); then only DUP
 *  copies are caught, by the flag. And two different messages with the same topic, payload and packet id within
 *  the key's life (the broker reuses a packet id only after its PUBACK): identical bytes of one server, 65,535
 *  messages apart: the second is taken for a copy and stored once (the tracker's batches carry their events'
 *  timestamps, so identical ones are identical events). */
#include "mqtt_ingest.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hashmap.h"
#include "log.h"
#include "metrics.h"
#include "mqtt_codec.h"
#include "sha256.h"

#define EVENTS_PREFIX "openmohaa/events/"
/* Seconds between keepalive pings: the broker drops a client silent for 1.5 times this. */
#define KEEPALIVE_S 30
/* How often the loop looks at pings, login timeouts and reconnecting. */
#define TICK_MS 500
/* A login the broker has not answered by then is given up, and tried again. */
#define LOGIN_TIMEOUT_MS 10000
/* Reconnecting after a failure: 1 s, doubling with each failure in a row up to 30 s, each wait drawn between half
 * and all of that (jitter: the ingestd processes of a group that lost Redis or the broker together do not come
 * back in step). */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000
/* How much longer than the session a batch's dedupe key lives (point 3): for a message that was sent, stored and
 * acknowledged, and then sent again by a broker that crashed before it saved the acknowledgement and restarted. */
#define DEDUPE_MARGIN_S 3600
/* The largest packet the broker may send ingestd (Maximum Packet Size): it drops larger messages, and logs that.
 * Above the 1 MiB an HTTP body may have, so that a message over it is counted as too_large, as over HTTP. */
#define MAX_PACKET (4u << 20)
#define SUBSCRIBE_ID 1

const config_var mqtt_ingest_config_vars[] = {
    {"MQTT_URL", "",
     "the MQTT broker game servers publish events to, mqtt://USER:PASSWORD@HOST:PORT with ingestd's own broker "
     "user; empty: ingestd reads no MQTT"},
    {"MQTT_CLIENT_ID", "mohstats-ingestd-{host}",
     "ingestd's persistent session on the broker, kept across restarts: one per ingestd process ({host}: the host "
     "name)"},
    {"MQTT_SESSION_EXPIRY_S", "86400",
     "how long the broker keeps ingestd's session (its queue of messages) while ingestd is away: an ingestd gone "
     "for good (a new MQTT_CLIENT_ID) leaves a session that still takes its share of new messages until then. "
     "Each message's dedupe key stays in Redis this long plus an hour (about 150 bytes a message)"},
    {"MQTT_SHARE_GROUP", "mohstats",
     "the shared subscription's group: the ingestd processes of a group split the "
     "messages, each message to one of them"},
    {"MQTT_MAX_IN_FLIGHT", "1000",
     "messages read but not stored yet, at most (up to 65535): the broker sends no more until ingestd has "
     "acknowledged some, and queues them"},
    {"MQTT_ACCOUNTS_FILE", "",
     "where ingestd writes the active game servers' ids and token hashes for the broker's plugin (empty: not "
     "written; one ingestd writing it is enough)"},
    {"MQTT_ACCOUNTS_REFRESH_MS", "2000",
     "how often that list is read from the server registry: a new, rotated or revoked token reaches the broker "
     "within this"},
    {NULL, NULL, NULL},
};

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
    hashmap *held_servers;
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

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* A connection's handle is closed: free it. */
static void on_tcp_closed(uv_handle_t *h)
{
    free(h);
}

/* Add delta to the count of server_id's held messages (best effort: with no memory a later message of the server
 * may be submitted before a held one). */
static void held_servers_add(mqtt_ingest *m, const char *server_id, int delta)
{
    size_t len = strlen(server_id);
    uintptr_t n = (uintptr_t)hashmap_get(m->held_servers, server_id, len) + (uintptr_t)(intptr_t)delta;
    if (n == 0)
        hashmap_remove(m->held_servers, server_id, len);
    else
        hashmap_put(m->held_servers, server_id, len, (void *)n, NULL);
}

/* Give up every held message: not acknowledged, the broker sends them again on the next connection. They leave
 * the queue with the next acknowledge_done. */
static void drop_held(mqtt_ingest *m)
{
    for (mqtt_message *msg = m->head; msg && m->held; msg = msg->next) {
        if (!msg->held)
            continue;
        held_servers_add(m, msg->server_id, -1);
        free(msg->payload);
        msg->payload = NULL;
        msg->held = false;
        msg->done = true;
        msg->packet_id = 0;
        m->held--;
        m->in_flight--;
    }
    uv_timer_stop(&m->budget_timer);
}

uint64_t mqtt_retry_wait_ms(uint64_t *ceiling_ms, uint64_t random)
{
    *ceiling_ms = *ceiling_ms ? *ceiling_ms * 2 : RETRY_FIRST_MS;
    if (*ceiling_ms > RETRY_MAX_MS)
        *ceiling_ms = RETRY_MAX_MS;
    return *ceiling_ms / 2 + random % (*ceiling_ms / 2 + 1);
}

/* mqtt_retry_wait_ms with the next number of m's xorshift64 (spreading retries needs no better randomness). */
static uint64_t backoff_ms(mqtt_ingest *m, uint64_t *ceiling_ms)
{
    m->jitter_state ^= m->jitter_state << 13;
    m->jitter_state ^= m->jitter_state >> 7;
    m->jitter_state ^= m->jitter_state << 17;
    return mqtt_retry_wait_ms(ceiling_ms, m->jitter_state);
}

static void link_lost(mqtt_ingest *m, const char *why, bool log);

/* The connection failed or ended: close it and try again later (backoff_ms). Messages of it still being stored get
 * no PUBACK: the broker sends them again on the next connection. */
static void connection_lost(mqtt_ingest *m, const char *why)
{
    link_lost(m, why, /* log= */ true);
}

/* connection_lost, with log false when the reason was logged already. */
static void link_lost(mqtt_ingest *m, const char *why, bool log)
{
    if (m->state == LINK_NONE)
        return;
    bool was_ready = m->state == LINK_READY;
    m->state = LINK_NONE;
    m->link++;
    m->reading = false;
    m->ping_ms = 0;
    metric_set(m->connected_gauge, 0);
    if (m->tcp) {
        uv_close((uv_handle_t *)m->tcp, on_tcp_closed);
        m->tcp = NULL;
    }
    mqtt_reader_reset(&m->reader);
    drop_held(m);
    if (m->stopping)
        return;
    if (m->paused && m->in_flight <= m->max_in_flight / 2)
        m->paused = false; /* read the next connection from its start */
    /* A connection that was up had no login failures: its first retry is soon, unless messages keep failing to be
     * stored, when the wait grows with them. */
    if (was_ready)
        m->retry_ms = 0;
    uint64_t wait = backoff_ms(m, m->store_failures ? &m->store_retry_ms : &m->retry_ms);
    m->retry_at_ms = now_ms() + wait;
    if (log && (was_ready || now_ms() - m->failure_logged_ms >= 60000)) {
        log_warn("MQTT broker %s:%d: %s; reconnecting in %.1f s (game servers fall back to HTTP meanwhile)", m->host,
                 m->port, why, (double)wait / 1000);
        m->failure_logged_ms = now_ms();
    }
}

/* A write of packets, with its bytes. */
typedef struct {
    uv_write_t req;
    mqtt_ingest *m;
    char data[];
} write_req;

/* A write ended: free it; a failure ends the connection it was on, if that is still the current one. */
static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    mqtt_ingest *m = w->m;
    /* A write cancelled by the close of its connection, or of an earlier connection, says nothing new. */
    if (status < 0 && status != UV_ECANCELED && (uv_tcp_t *)req->handle == m->tcp)
        connection_lost(m, uv_strerror(status));
    free(w);
}

/* Send the packets in out (then emptied) on the connection, if it is still there. */
static void send_packets(mqtt_ingest *m, bytebuf *out)
{
    if (!out->len || !m->tcp) {
        out->len = 0;
        return;
    }
    write_req *w = malloc(sizeof *w + out->len);
    if (!w) {
        out->len = 0;
        connection_lost(m, "out of memory");
        return;
    }
    w->m = m;
    memcpy(w->data, out->data, out->len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)out->len);
    out->len = 0;
    int rc = uv_write(&w->req, (uv_stream_t *)m->tcp, &buf, 1, on_written);
    if (rc < 0) {
        free(w);
        connection_lost(m, uv_strerror(rc));
        return;
    }
    m->sent_ms = now_ms();
}

/* PUBACK the messages at the head of the queue that are done, in order, and forget them. */
static void acknowledge_done(mqtt_ingest *m)
{
    if (m->releasing)
        return; /* release_held acknowledges when its walk is over */
    bytebuf out = {0};
    while (m->head && m->head->done) {
        mqtt_message *msg = m->head;
        if (msg->packet_id && msg->link == m->link && m->state == LINK_READY && mqtt_put_puback(&out, msg->packet_id))
            break; /* no memory: left unacknowledged, the broker sends it again after a reconnect */
        m->head = msg->next;
        if (!m->head)
            m->tail = NULL;
        free(msg);
    }
    send_packets(m, &out);
    bytebuf_free(&out);
}

static void start_reading(mqtt_ingest *m);

static void finish_stop(mqtt_ingest *m);

/* Messages were stored, refused or held: acknowledge what is done, finish a stop once none is in flight, and read
 * again once the messages in flight are down to half the window. */
static void messages_settled(mqtt_ingest *m)
{
    acknowledge_done(m);
    if (m->stopping) {
        if (m->in_flight == 0)
            finish_stop(m);
        return;
    }
    if (m->paused && m->in_flight <= m->max_in_flight / 2) {
        m->paused = false;
        start_reading(m);
    }
}

/* Count a message by outcome: mohstats_mqtt_messages_total{outcome="accepted" or the refusal's reason}. */
static void count_outcome(const char *outcome)
{
    char label[96];
    snprintf(label, sizeof label, "outcome=\"%s\"", outcome);
    metric_inc(metrics_counter("mohstats_mqtt_messages_total", "MQTT messages read, by outcome", label));
}

/* A message's batch was stored or refused (ingest_api logged a refusal). */
static void on_ingested(int status, const char *reason, const char *message, void *arg)
{
    mqtt_message *msg = arg;
    mqtt_ingest *m = msg->m;
    m->in_flight--;
    if (status == 202) {
        metric_inc(m->accepted);
        msg->done = true;
        if (m->store_failures) {
            log_info("MQTT: messages are stored again, after %u that could not be", m->store_failures);
            m->store_failures = 0;
            m->store_retry_ms = 0;
        }
    } else if (status >= 400 && status < 500 && status != 429) {
        count_outcome(reason ? reason : "refused");
        msg->done = true; /* refused for good: acknowledged, never retried */
    } else {
        /* Not stored (503; or 429, which on_message's hold should have made impossible): no PUBACK. The broker
         * sends it again only on another connection, so start one. */
        count_outcome(reason ? reason : "storage_unavailable");
        msg->done = true;
        msg->packet_id = 0;
        if (m->store_failures++ == 0)
            log_warn("MQTT: a message could not be stored (%s): it is left to the broker, which sends it again on "
                     "the next connection; reconnecting with a backoff of up to %d s until one is stored",
                     message ? message : "storage unavailable", RETRY_MAX_MS / 1000);
        if (msg->link == m->link)
            link_lost(m, "a message could not be stored; the broker sends it again", /* log= */ false);
    }
    messages_settled(m);
}

/* Queue a message of packet_id for its PUBACK: NULL when there is no memory. */
static mqtt_message *message_queue(mqtt_ingest *m, uint16_t packet_id, bool done)
{
    mqtt_message *msg = calloc(1, sizeof *msg);
    if (!msg)
        return NULL;
    msg->m = m;
    msg->link = m->link;
    msg->packet_id = packet_id;
    msg->done = done;
    if (m->tail)
        m->tail->next = msg;
    else
        m->head = msg;
    m->tail = msg;
    return msg;
}

/* Drop a message that is not a batch of an active server: acknowledged, counted, logged at most once a second. */
static void drop(mqtt_ingest *m, const mqtt_publish *p, const char *outcome, const char *why)
{
    count_outcome(outcome);
    if (message_queue(m, p->packet_id, /* done= */ true))
        acknowledge_done(m);
    uint64_t skipped;
    if (!log_throttle_pass(&m->drops_log, now_ms(), &skipped))
        return;
    char more[64] = "";
    if (skipped)
        snprintf(more, sizeof more, " (and %llu more dropped since the last line)", (unsigned long long)skipped);
    log_warn("MQTT: dropped a message on %.*s: %s%s", (int)(p->topic_len > 100 ? 100 : p->topic_len), p->topic, why,
             more);
}

/* The batch id of every copy of a message the broker delivers to this session (point 3 at the top): a name-based
 * UUID (version 8, RFC 9562) from SHA-256 of the session, the topic, the packet id and the payload. */
static void batch_id_of(const mqtt_ingest *m, const mqtt_publish *p, uint8_t id[16])
{
    sha256_ctx c;
    uint8_t digest[32], pid[2] = {(uint8_t)(p->packet_id >> 8), (uint8_t)p->packet_id};
    sha256_init(&c);
    sha256_update(&c, m->client_id, strlen(m->client_id) + 1);
    sha256_update(&c, p->topic, p->topic_len);
    sha256_update(&c, "", 1);
    sha256_update(&c, pid, sizeof pid);
    sha256_update(&c, p->payload, p->payload_len);
    sha256_final(&c, digest);
    memcpy(id, digest, 16);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x80);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* Hand msg's batch to ingest_api; on_ingested follows (possibly from within this call: msg may be gone after it). */
static void submit(mqtt_ingest *m, mqtt_message *msg, const char *payload, size_t len)
{
    ingest_submission how = {
        .origin = "mqtt",
        .batch_id = msg->batch_id,
        .maybe_duplicate = msg->maybe_duplicate,
        .dedupe_ttl_s = m->session_expiry_s + DEDUPE_MARGIN_S,
    };
    if (ingest_api_submit(m->api, msg->server_id, &how, payload, len, on_ingested, msg) != 0) {
        /* Not taken: no PUBACK, and a new connection for the broker to send it again. */
        m->in_flight--;
        msg->done = true;
        msg->packet_id = 0;
        log_error("MQTT: out of memory: a message of server %s is left to the broker", msg->server_id);
        connection_lost(m, "out of memory");
        acknowledge_done(m);
    }
}

static void on_budget_timer(uv_timer_t *t);

/* Have release_held run in wait_ms, or sooner if it was due sooner. */
static void arm_budget_timer(mqtt_ingest *m, uint64_t wait_ms)
{
    if (!uv_is_active((uv_handle_t *)&m->budget_timer) || uv_timer_get_due_in(&m->budget_timer) > wait_ms)
        uv_timer_start(&m->budget_timer, on_budget_timer, wait_ms, 0);
}

/* Hold msg back until its server's budget lets it through (point 2), wait_ms from now or after the server's
 * earlier held messages. */
static void hold(mqtt_ingest *m, mqtt_message *msg, const mqtt_publish *p, uint64_t wait_ms)
{
    if (!(msg->payload = malloc(p->payload_len ? p->payload_len : 1))) {
        m->in_flight--;
        msg->done = true;
        msg->packet_id = 0;
        connection_lost(m, "out of memory");
        acknowledge_done(m);
        return;
    }
    memcpy(msg->payload, p->payload, p->payload_len);
    msg->payload_len = p->payload_len;
    msg->held = true;
    m->held++;
    held_servers_add(m, msg->server_id, 1);
    metric_inc(m->held_total);
    if (wait_ms)
        arm_budget_timer(m, wait_ms);
    uint64_t skipped;
    if (log_throttle_pass(&m->held_log, now_ms(), &skipped))
        log_info("MQTT: server %s is over its byte budget (INGEST_SERVER_BYTES_PER_S, INGEST_SERVER_BURST_BYTES): "
                 "its messages wait, unacknowledged, and are stored as the budget allows (%llu more held since the "
                 "last line)",
                 msg->server_id, (unsigned long long)skipped);
}

/* Submit the held messages whose budgets let them through, in the order they came, none before an earlier held one
 * of its server; the timer again for the first of the rest. */
static void release_held(mqtt_ingest *m)
{
    hashmap *blocked = hashmap_new(); /* the servers with a message still held in this walk */
    uint64_t link = m->link, next_wait = 0;
    m->releasing = true;
    for (mqtt_message *msg = m->head; msg && m->held && m->link == link && !m->stopping; msg = msg->next) {
        if (!msg->held)
            continue;
        size_t idlen = strlen(msg->server_id);
        uint64_t wait = 0;
        if ((blocked && hashmap_get(blocked, msg->server_id, idlen)) ||
            (wait = ingest_api_budget_wait_ms(m->api, msg->server_id, msg->payload_len)) > 0) {
            if (wait && (!next_wait || wait < next_wait))
                next_wait = wait;
            if (!blocked || hashmap_put(blocked, msg->server_id, idlen, (void *)1, NULL) != 0) {
                next_wait = next_wait ? next_wait : 1;
                break; /* no memory to tell servers apart: the rest waits */
            }
            continue;
        }
        char *payload = msg->payload;
        msg->payload = NULL;
        msg->held = false;
        m->held--;
        held_servers_add(m, msg->server_id, -1);
        submit(m, msg, payload, msg->payload_len);
        free(payload);
    }
    m->releasing = false;
    hashmap_free(blocked, NULL);
    if (m->held && m->link == link && !m->stopping)
        arm_budget_timer(m, next_wait ? next_wait : 1);
    messages_settled(m);
}

static void on_budget_timer(uv_timer_t *t)
{
    release_held(t->data);
}

/* A PUBLISH: drop it (and acknowledge it) if it is not an active server's batch, else hand it to ingest_api. */
static void on_message(mqtt_ingest *m, const mqtt_publish *p)
{
    metric_inc(m->received);
    size_t plen = strlen(EVENTS_PREFIX);
    char id[64];
    if (p->topic_len <= plen || p->topic_len - plen >= sizeof id || memcmp(p->topic, EVENTS_PREFIX, plen) != 0) {
        drop(m, p, "bad_topic", "not openmohaa/events/<server id>");
        return;
    }
    memcpy(id, p->topic + plen, p->topic_len - plen);
    id[p->topic_len - plen] = '\0';
    if (strlen(id) != p->topic_len - plen || strchr(id, '/')) {
        drop(m, p, "bad_topic", "not openmohaa/events/<server id>");
        return;
    }
    if (strcmp(id, "unknown") == 0) {
        drop(m, p, "unknown_server",
             "the tracker has no server id yet (it registers over HTTP; set opm_server_id and opm_server_token)");
        return;
    }
    if (broker_accounts_active(m->accounts, id) == 0) {
        drop(m, p, "unknown_or_revoked_server", "no active server has this id (revoked, or never registered)");
        return;
    }
    if (p->dup)
        metric_inc(m->redelivered);
    mqtt_message *msg = message_queue(m, p->packet_id, /* done= */ false);
    if (!msg) {
        connection_lost(m, "out of memory");
        return;
    }
    m->in_flight++;
    snprintf(msg->server_id, sizeof msg->server_id, "%s", id);
    batch_id_of(m, p, msg->batch_id);
    msg->maybe_duplicate = p->dup;
    uint64_t wait = 0;
    if (hashmap_get(m->held_servers, id, strlen(id)) ||
        (wait = ingest_api_budget_wait_ms(m->api, id, p->payload_len)) > 0)
        hold(m, msg, p, wait);
    else
        submit(m, msg, (const char *)p->payload, p->payload_len);
}

/* The broker accepted or refused the login. */
static void on_connack(mqtt_ingest *m, const mqtt_packet *p)
{
    bool session_present;
    uint8_t reason;
    if (mqtt_parse_connack(p, &session_present, &reason) != 0) {
        connection_lost(m, "malformed CONNACK");
        return;
    }
    if (reason != 0) {
        log_error("MQTT broker %s:%d refused ingestd's login: %s (check MQTT_URL's user and password)", m->host,
                  m->port, mqtt_reason_string(reason));
        connection_lost(m, "login refused");
        return;
    }
    if (!session_present && m->connected_before)
        log_warn("MQTT broker %s:%d had no session %s any more: the messages queued for ingestd while it was away "
                 "are lost (the session expired, MQTT_SESSION_EXPIRY_S, or the broker lost its persistence file)",
                 m->host, m->port, m->client_id);
    m->connected_before = true;
    m->state = LINK_READY;
    metric_set(m->connected_gauge, 1);
    /* The session is persistent, so the broker keeps this subscription; subscribing again costs nothing. */
    bytebuf out = {0};
    if (mqtt_put_subscribe(&out, SUBSCRIBE_ID, m->subscription, 1) != 0)
        connection_lost(m, "out of memory");
    else
        send_packets(m, &out);
    bytebuf_free(&out);
}

/* One packet from the broker. */
static void on_packet(mqtt_ingest *m, const mqtt_packet *p)
{
    if (m->state == LINK_LOGGING_IN && p->type != MQTT_CONNACK) {
        connection_lost(m, "the broker sent a packet before its CONNACK");
        return;
    }
    uint8_t reason;
    uint16_t pid;
    mqtt_publish pub;
    char why[320];
    switch (p->type) {
    case MQTT_CONNACK:
        if (m->state != LINK_LOGGING_IN)
            connection_lost(m, "a second CONNACK");
        else
            on_connack(m, p);
        return;
    case MQTT_SUBACK:
        if (mqtt_parse_suback(p, &pid, &reason) != 0) {
            connection_lost(m, "malformed SUBACK");
        } else if (reason != 1) {
            /* Refused (0x80 and up), or granted QoS 0: then the broker would neither keep messages for ingestd
             * while it is away nor wait for their PUBACK, and a message would be lost with the process reading it.
             * Treated as a failed login: tried again later, 1 s doubling up to 30 s. A broker's configuration to
             * fix, so an error of its own, once a minute (connection_lost's line may have just been written). */
            snprintf(why, sizeof why, "the broker %s the subscription %s",
                     reason == 0 ? "granted only QoS 0 (not 1) to" : "refused", m->subscription);
            if (reason >= 0x80)
                snprintf(why + strlen(why), sizeof why - strlen(why), ": %s", mqtt_reason_string(reason));
            if (!m->suback_logged_ms || now_ms() - m->suback_logged_ms >= 60000) {
                log_error("MQTT broker %s:%d: %s (check its ACL and max_qos; ingestd needs QoS 1)", m->host, m->port,
                          why);
                m->suback_logged_ms = now_ms();
            }
            m->state = LINK_LOGGING_IN;
            connection_lost(m, why);
        } else {
            m->retry_ms = 0;
            /* While messages cannot be stored, each try reconnects: its line said so once already. */
            if (!m->store_failures)
                log_info("MQTT: connected to %s:%d, reading %s", m->host, m->port, m->subscription);
        }
        return;
    case MQTT_PUBLISH:
        if (mqtt_parse_publish(p, &pub) != 0 || pub.qos > 1) {
            connection_lost(m, "malformed PUBLISH, or QoS 2 (ingestd subscribes with QoS 1)");
            return;
        }
        if (pub.qos == 0 && !m->qos0_warned) {
            m->qos0_warned = true;
            log_warn("MQTT: the broker delivers messages with QoS 0: it does not keep them for ingestd while it is "
                     "away, and a message is lost with an ingestd killed while storing it (set upgrade_outgoing_qos "
                     "true in mosquitto.conf); warned once");
        }
        on_message(m, &pub);
        return;
    case MQTT_PINGRESP:
        m->ping_ms = 0;
        return;
    case MQTT_DISCONNECT:
        mqtt_parse_disconnect(p, &reason);
        snprintf(why, sizeof why, "the broker ended the connection: %s", mqtt_reason_string(reason));
        connection_lost(m, why);
        return;
    default:
        snprintf(why, sizeof why, "unexpected packet of type %u from the broker", p->type);
        connection_lost(m, why);
    }
}

/* libuv reads into the reader's buffer: no copy, and never more than one packet's bound. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mqtt_ingest *m = h->data;
    uint8_t *space;
    size_t n;
    if (mqtt_reader_space(&m->reader, suggested, &space, &n) != 0) {
        *buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)space, (unsigned)n);
}

/* Bytes from the broker: handle every whole packet; stop reading with MQTT_MAX_IN_FLIGHT messages in flight. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    mqtt_ingest *m = s->data;
    (void)buf;
    if (nread == UV_EOF) {
        connection_lost(m, "the broker closed the connection");
        return;
    }
    if (nread < 0) {
        connection_lost(m, uv_strerror((int)nread));
        return;
    }
    mqtt_reader_wrote(&m->reader, (size_t)nread);
    uint64_t link = m->link;
    mqtt_packet p;
    int rc = 0;
    /* Every whole packet read, even beyond MQTT_MAX_IN_FLIGHT: what one read holds is bounded. */
    while (m->link == link && (rc = mqtt_reader_next(&m->reader, &p)) == 1)
        on_packet(m, &p);
    if (m->link != link)
        return;
    if (rc == -EMSGSIZE) {
        char why[120];
        snprintf(why, sizeof why, "the broker sent a packet over %u bytes, the Maximum Packet Size ingestd asked for",
                 MAX_PACKET);
        connection_lost(m, why);
        return;
    }
    if (rc < 0) {
        connection_lost(m, "malformed packet length from the broker");
        return;
    }
    if (m->in_flight >= m->max_in_flight && !m->paused) {
        m->paused = true;
        uv_read_stop(s);
        m->reading = false;
    }
}

/* Read the connection, unless paused. */
static void start_reading(mqtt_ingest *m)
{
    if (!m->tcp || m->reading || m->paused || m->state == LINK_CONNECTING)
        return;
    int rc = uv_read_start((uv_stream_t *)m->tcp, on_alloc, on_read);
    if (rc < 0)
        connection_lost(m, uv_strerror(rc));
    else
        m->reading = true;
}

/* The TCP connection is up: log in (CONNECT) and read the answer. */
static void on_connected(uv_connect_t *req, int status)
{
    mqtt_ingest *m = req->data;
    if (status == UV_ECANCELED || (uv_tcp_t *)req->handle != m->tcp)
        return;
    if (status < 0) {
        connection_lost(m, uv_strerror(status));
        return;
    }
    m->state = LINK_LOGGING_IN;
    mqtt_connect_opts o = {
        .client_id = m->client_id,
        .user = m->user,
        .password = m->password,
        .keepalive_s = KEEPALIVE_S,
        .session_expiry_s = m->session_expiry_s,
        .receive_max = (uint16_t)m->max_in_flight,
        .max_packet = MAX_PACKET,
    };
    bytebuf out = {0};
    if (mqtt_put_connect(&out, &o) != 0) {
        bytebuf_free(&out);
        connection_lost(m, "out of memory");
        return;
    }
    send_packets(m, &out);
    bytebuf_free(&out);
    start_reading(m);
}

/* The broker's address: a literal address, or a name resolved here, blocking the loop (as libmosquitto did): give
 * MQTT_URL an address, or a name /etc/hosts knows. */
static int resolve(const mqtt_ingest *m, struct sockaddr_storage *addr)
{
    if (uv_ip4_addr(m->host, m->port, (struct sockaddr_in *)addr) == 0 ||
        uv_ip6_addr(m->host, m->port, (struct sockaddr_in6 *)addr) == 0)
        return 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char port[16];
    snprintf(port, sizeof port, "%d", m->port);
    if (getaddrinfo(m->host, port, &hints, &res) != 0 || !res)
        return -ENOENT;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Open a TCP connection to the broker. */
static void start_connect(mqtt_ingest *m)
{
    struct sockaddr_storage addr;
    m->state = LINK_CONNECTING; /* so that connection_lost schedules the retry */
    m->linked_ms = now_ms();
    if (resolve(m, &addr) != 0) {
        connection_lost(m, "cannot resolve the broker's host name");
        return;
    }
    if (!(m->tcp = malloc(sizeof *m->tcp))) {
        connection_lost(m, "out of memory");
        return;
    }
    uv_tcp_init(m->loop, m->tcp);
    m->tcp->data = m;
    uv_tcp_nodelay(m->tcp, 1);
    m->connect_req.data = m;
    int rc = uv_tcp_connect(&m->connect_req, m->tcp, (const struct sockaddr *)&addr, on_connected);
    if (rc < 0)
        connection_lost(m, uv_strerror(rc));
}

/* Every TICK_MS: reconnect when it is time, give up a login not answered, ping an idle connection. */
static void on_timer(uv_timer_t *t)
{
    mqtt_ingest *m = t->data;
    if (m->stopping)
        return;
    uint64_t now = now_ms();
    switch (m->state) {
    case LINK_NONE:
        if (now >= m->retry_at_ms)
            start_connect(m);
        return;
    case LINK_CONNECTING:
    case LINK_LOGGING_IN:
        if (now - m->linked_ms > LOGIN_TIMEOUT_MS)
            connection_lost(m, "no answer to the login within 10 s");
        return;
    case LINK_READY:
        if (m->ping_ms && now - m->ping_ms > KEEPALIVE_S * 1000) {
            connection_lost(m, "no answer to a ping within 30 s");
        } else if (!m->ping_ms && now - m->sent_ms >= KEEPALIVE_S * 1000 / 2) {
            bytebuf out = {0};
            if (mqtt_put_pingreq(&out) == 0) {
                m->ping_ms = now;
                send_packets(m, &out);
            }
            bytebuf_free(&out);
        }
        return;
    }
}

mqtt_ingest *mqtt_ingest_new(uv_loop_t *loop, ingest_api *api, const broker_accounts *accounts, int *err)
{
    *err = 0;
    const char *url = config_get("MQTT_URL");
    if (!url || !*url)
        return NULL;
    char id_setting[256], hostname[128] = "localhost";
    url_parts u;
    int max_in_flight = 0, session_expiry_s = 0;
    bool url_ok = url_parse(url, 1883, &u) == 0 && strcmp(u.scheme, "mqtt") == 0 && u.user[0] && u.host[0];
    if (!url_ok)
        log_error("MQTT_URL must be mqtt://USER:PASSWORD@HOST:PORT (ingestd's user on the broker)");
    /* The broker's Receive Maximum is two bytes. */
    if (!url_ok || config_get_int_in("MQTT_MAX_IN_FLIGHT", 1, 65535, &max_in_flight) != 0 ||
        config_get_int_in("MQTT_SESSION_EXPIRY_S", 60, 2147483647 - DEDUPE_MARGIN_S, &session_expiry_s) != 0) {
        *err = -EINVAL;
        return NULL;
    }
    mqtt_ingest *m = calloc(1, sizeof *m);
    if (!m) {
        *err = -ENOMEM;
        return NULL;
    }
    snprintf(m->host, sizeof m->host, "%s", u.host);
    snprintf(m->user, sizeof m->user, "%s", u.user);
    snprintf(m->password, sizeof m->password, "%s", u.password);
    m->port = u.port;
    m->max_in_flight = (unsigned)max_in_flight;
    m->session_expiry_s = (uint32_t)session_expiry_s;
    snprintf(id_setting, sizeof id_setting, "%s", config_get("MQTT_CLIENT_ID"));
    gethostname(hostname, sizeof hostname - 1);
    char *at = strstr(id_setting, "{host}");
    if (at)
        snprintf(m->client_id, sizeof m->client_id, "%.*s%s%s", (int)(at - id_setting), id_setting, hostname, at + 6);
    else
        snprintf(m->client_id, sizeof m->client_id, "%s", id_setting);
    snprintf(m->subscription, sizeof m->subscription, "$share/%s/" EVENTS_PREFIX "+", config_get("MQTT_SHARE_GROUP"));
    mqtt_reader_init(&m->reader, MAX_PACKET);
    if (!(m->held_servers = hashmap_new())) {
        free(m);
        *err = -ENOMEM;
        return NULL;
    }
    m->loop = loop;
    m->api = api;
    m->jitter_state = uv_hrtime() | 1;
    m->accounts = accounts;
    m->received = metrics_counter("mohstats_mqtt_received_total", "MQTT messages read from the broker", NULL);
    m->accepted =
        metrics_counter("mohstats_mqtt_messages_total", "MQTT messages read, by outcome", "outcome=\"accepted\"");
    m->redelivered = metrics_counter("mohstats_mqtt_redelivered_total",
                                     "MQTT messages the broker sent again (DUP): ingestd may have stored them", NULL);
    m->held_total = metrics_counter("mohstats_mqtt_held_total",
                                    "MQTT messages held back while their server was over its byte budget "
                                    "(INGEST_SERVER_BYTES_PER_S), stored later",
                                    NULL);
    m->connected_gauge =
        metrics_gauge("mohstats_mqtt_connected", "1 while ingestd is logged in to the MQTT broker", NULL);
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    uv_timer_init(loop, &m->budget_timer);
    m->budget_timer.data = m;
    uv_timer_start(&m->timer, on_timer, TICK_MS, TICK_MS);
    log_info("MQTT: reading %s as %s (session %s)", m->subscription, u.user, m->client_id);
    start_connect(m);
    return m;
}

/* The last handle is closed: the stop is done. */
static void on_timer_closed(uv_handle_t *h)
{
    mqtt_ingest *m = h->data;
    m->stop_done(m->stop_arg);
}

/* The budget timer is closed: close the other one, then done. */
static void on_budget_timer_closed(uv_handle_t *h)
{
    mqtt_ingest *m = h->data;
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}

/* Close the timers, then done. */
static void close_timers(mqtt_ingest *m)
{
    uv_close((uv_handle_t *)&m->budget_timer, on_budget_timer_closed);
}

/* The connection is closed (after its DISCONNECT went out): close the timers, then done. */
static void on_stop_closed(uv_handle_t *h)
{
    mqtt_ingest *m = h->data;
    free(h);
    close_timers(m);
}

/* The DISCONNECT and the PUBACKs before it are written: close the connection. */
static void on_stop_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    uv_close((uv_handle_t *)req->handle, on_stop_closed);
}

/* Every message read is stored or refused, and acknowledged: log out (the session stays on the broker), close. */
static void finish_stop(mqtt_ingest *m)
{
    if (m->stopped)
        return;
    m->stopped = true;
    metric_set(m->connected_gauge, 0);
    uv_tcp_t *tcp = m->tcp;
    bool ready = m->state == LINK_READY;
    m->tcp = NULL;
    m->state = LINK_NONE;
    if (!tcp) {
        close_timers(m);
        return;
    }
    if (ready) {
        /* The PUBACKs sent before it are written first: a shutdown waits for the writes queued. */
        bytebuf out = {0};
        m->tcp = tcp;
        if (mqtt_put_disconnect(&out) == 0)
            send_packets(m, &out);
        bytebuf_free(&out);
        m->tcp = NULL;
        m->shutdown_req.data = m;
        if (uv_shutdown(&m->shutdown_req, (uv_stream_t *)tcp, on_stop_shutdown) == 0)
            return;
    }
    uv_close((uv_handle_t *)tcp, on_stop_closed);
}

void mqtt_ingest_stop(mqtt_ingest *m, void (*done)(void *), void *arg)
{
    m->stop_done = done;
    m->stop_arg = arg;
    m->stopping = true;
    m->paused = true;
    drop_held(m); /* not acknowledged: the broker sends them again to the next ingestd */
    if (m->tcp && m->reading) {
        uv_read_stop((uv_stream_t *)m->tcp);
        m->reading = false;
    }
    if (m->in_flight == 0)
        finish_stop(m);
}

void mqtt_ingest_free(mqtt_ingest *m)
{
    if (!m)
        return;
    while (m->head) {
        mqtt_message *next = m->head->next;
        free(m->head->payload);
        free(m->head);
        m->head = next;
    }
    mqtt_reader_close(&m->reader);
    hashmap_free(m->held_servers, NULL);
    free(m);
}
