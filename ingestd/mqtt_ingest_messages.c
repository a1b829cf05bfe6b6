/* MQTT in, the messages: each PUBLISH the connection (mqtt_ingest.c) reads is handed to ingest_api_submit as a
 * batch of the server its topic names, held back while that server is over its byte budget, and acknowledged only
 * once it is stored, in the order the messages came; each outcome is counted.
 *
 * Why the topic's server id can be believed: the broker lets a client log in only with an active server's id and
 * token, and publish only to that id's topic (ingestd/broker_auth/). ingestd checks again that the id is an active
 * server (broker_accounts): a server revoked a moment ago may still have a connection the broker has not closed.
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
#include "mqtt_ingest_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

/* Count a message of bytes held (delta 1) or no longer held (-1) for server_id: what mqtt_on_message bounds a
 * server's hold by (best effort: with no memory a later message of the server may be submitted before a held one). */
static void held_servers_add(mqtt_ingest *m, const char *server_id, int delta, size_t bytes)
{
    size_t len = strlen(server_id);
    held_server *h = hashmap_get(m->held_servers, server_id, len);
    if (!h) {
        if (delta < 0)
            return;
        if (!(h = calloc(1, sizeof *h)) || hashmap_put(m->held_servers, server_id, len, h, NULL) != 0) {
            /* Not counted: the server's next message is not held behind this one, and its hold is not bounded by
             * it. Rare (no memory) and harmless for the order: release_held walks the messages in order. */
            free(h);
            return;
        }
    }
    if (delta > 0) {
        h->messages++;
        h->bytes += bytes;
    } else {
        h->messages--;
        h->bytes -= bytes < h->bytes ? bytes : h->bytes;
    }
    if (h->messages == 0)
        free(hashmap_remove(m->held_servers, server_id, len));
}

/* Give up every held message: not acknowledged, the broker sends them again on the next connection. They leave
 * the queue with the next acknowledge_done. */
void mqtt_drop_held(mqtt_ingest *m)
{
    for (mqtt_message *msg = m->head; msg && m->held; msg = msg->next) {
        if (!msg->held)
            continue;
        held_servers_add(m, msg->server_id, -1, msg->payload_len);
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
    mqtt_send_packets(m, &out);
    bytebuf_free(&out);
}

/* Messages were stored, refused or held: acknowledge what is done, finish a stop once none is in flight, and read
 * again once the messages in flight are down to half the window. */
static void messages_settled(mqtt_ingest *m)
{
    acknowledge_done(m);
    if (m->stopping) {
        if (m->in_flight == 0)
            mqtt_finish_stop(m);
        return;
    }
    if (m->paused && m->in_flight <= m->max_in_flight / 2) {
        m->paused = false;
        mqtt_start_reading(m);
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
        /* Not stored (503; or 429, which mqtt_on_message's hold should have made impossible): no PUBACK. The broker
         * sends it again only on another connection, so start one. */
        count_outcome(reason ? reason : "storage_unavailable");
        msg->done = true;
        msg->packet_id = 0;
        if (m->store_failures++ == 0)
            log_warn("MQTT: a message could not be stored (%s): it is left to the broker, which sends it again on "
                     "the next connection; reconnecting with a backoff of up to %d s until one is stored",
                     message ? message : "storage unavailable", RETRY_MAX_MS / 1000);
        if (msg->link == m->link)
            mqtt_link_lost(m, "a message could not be stored; the broker sends it again", /* log= */ false);
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
        mqtt_connection_lost(m, "out of memory");
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
        mqtt_connection_lost(m, "out of memory");
        acknowledge_done(m);
        return;
    }
    memcpy(msg->payload, p->payload, p->payload_len);
    msg->payload_len = p->payload_len;
    msg->held = true;
    m->held++;
    held_servers_add(m, msg->server_id, 1, msg->payload_len);
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
        held_servers_add(m, msg->server_id, -1, msg->payload_len);
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
void mqtt_on_message(mqtt_ingest *m, const mqtt_publish *p)
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
    /* PUBACKs go in the order the messages came, so a held message also holds back the acknowledgement of every
     * later message, of every server, and with MQTT_MAX_IN_FLIGHT of them unacknowledged the broker sends no more:
     * one server over its budget would stall all of them for as long as its hold lasts. So a message its server's
     * budget would let through only after MQTT_HOLD_MAX_MS (the server's held bytes ahead of it, at the budget's
     * rate) is refused as over HTTP (429): counted, acknowledged, not retried. */
    const held_server *h = hashmap_get(m->held_servers, id, strlen(id));
    uint64_t wait = ingest_api_budget_wait_ms(m->api, id, p->payload_len);
    if ((h || wait) && wait + ingest_api_budget_drain_ms(m->api, h ? h->bytes : 0) > m->hold_max_ms) {
        drop(m, p, "over_budget",
             "its server is over its byte budget (INGEST_SERVER_BYTES_PER_S, INGEST_SERVER_BURST_BYTES) for longer "
             "than MQTT_HOLD_MAX_MS");
        return;
    }
    if (p->dup)
        metric_inc(m->redelivered);
    mqtt_message *msg = message_queue(m, p->packet_id, /* done= */ false);
    if (!msg) {
        mqtt_connection_lost(m, "out of memory");
        return;
    }
    m->in_flight++;
    snprintf(msg->server_id, sizeof msg->server_id, "%s", id);
    batch_id_of(m, p, msg->batch_id);
    msg->maybe_duplicate = p->dup;
    if (h || wait)
        hold(m, msg, p, wait);
    else
        submit(m, msg, (const char *)p->payload, p->payload_len);
}
