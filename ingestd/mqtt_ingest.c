/* MQTT in, the connection: an MQTT 5 subscriber of our own on the daemon's libuv loop (mqtt_codec.c has the
 * packets): resolve the broker, connect, log in, subscribe, read packets, ping, reconnect after a backoff, stop and
 * close; and the settings and lifetime. What it does with the messages it reads, and why each counts once, is in
 * mqtt_ingest_messages.c.
 *
 * Why not libmosquitto: it sends a QoS 1 PUBACK as soon as it has read the message, before its callback runs (2.0's
 * lib/handle_publish.c), and has no option to defer it; a message between that PUBACK and its XADD was lost if
 * ingestd died then. Here the PUBACK goes out after the XADD, so the broker forgets nothing ingestd has not stored. */
#include "mqtt_ingest_state.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Seconds between keepalive pings: the broker drops a client silent for 1.5 times this. */
#define KEEPALIVE_S 30
/* How often the loop looks at pings, login timeouts and reconnecting. */
#define TICK_MS 500
/* A login the broker has not answered by then is given up, and tried again. */
#define LOGIN_TIMEOUT_MS 10000
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
    {"MQTT_HOLD_MAX_MS", "10000",
     "the longest a message of a server over its byte budget waits, unacknowledged, to be stored as the budget "
     "allows; a message that would wait longer is refused (counted as over_budget), as over HTTP: held messages "
     "hold back the acknowledgement of every later message, of every server"},
    {"MQTT_ACCOUNTS_FILE", "",
     "where ingestd writes the active game servers' ids and token hashes for the broker's plugin (empty: not "
     "written; one ingestd writing it is enough)"},
    {"MQTT_ACCOUNTS_REFRESH_MS", "2000",
     "how often that list is read from the server registry: a new, rotated or revoked token reaches the broker "
     "within this"},
    {NULL, NULL, NULL},
};

/* A connection's handle is closed: free it. */
static void on_tcp_closed(uv_handle_t *h)
{
    free(h);
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

/* The connection failed or ended: close it and try again later (backoff_ms). Messages of it still being stored get
 * no PUBACK: the broker sends them again on the next connection. */
void mqtt_connection_lost(mqtt_ingest *m, const char *why)
{
    mqtt_link_lost(m, why, /* log= */ true);
}

/* mqtt_connection_lost, with log false when the reason was logged already. */
void mqtt_link_lost(mqtt_ingest *m, const char *why, bool log)
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
    mqtt_drop_held(m);
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
        mqtt_connection_lost(m, uv_strerror(status));
    free(w);
}

/* Send the packets in out (then emptied) on the connection, if it is still there. */
void mqtt_send_packets(mqtt_ingest *m, bytebuf *out)
{
    if (!out->len || !m->tcp) {
        out->len = 0;
        return;
    }
    write_req *w = malloc(sizeof *w + out->len);
    if (!w) {
        out->len = 0;
        mqtt_connection_lost(m, "out of memory");
        return;
    }
    w->m = m;
    memcpy(w->data, out->data, out->len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)out->len);
    out->len = 0;
    int rc = uv_write(&w->req, (uv_stream_t *)m->tcp, &buf, 1, on_written);
    if (rc < 0) {
        free(w);
        mqtt_connection_lost(m, uv_strerror(rc));
        return;
    }
    m->sent_ms = now_ms();
}

/* The broker accepted or refused the login. */
static void on_connack(mqtt_ingest *m, const mqtt_packet *p)
{
    bool session_present;
    uint8_t reason;
    if (mqtt_parse_connack(p, &session_present, &reason) != 0) {
        mqtt_connection_lost(m, "malformed CONNACK");
        return;
    }
    if (reason != 0) {
        log_error("MQTT broker %s:%d refused ingestd's login: %s (check MQTT_URL's user and password)", m->host,
                  m->port, mqtt_reason_string(reason));
        mqtt_connection_lost(m, "login refused");
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
        mqtt_connection_lost(m, "out of memory");
    else
        mqtt_send_packets(m, &out);
    bytebuf_free(&out);
}

/* One packet from the broker. */
static void on_packet(mqtt_ingest *m, const mqtt_packet *p)
{
    if (m->state == LINK_LOGGING_IN && p->type != MQTT_CONNACK) {
        mqtt_connection_lost(m, "the broker sent a packet before its CONNACK");
        return;
    }
    uint8_t reason;
    uint16_t pid;
    mqtt_publish pub;
    char why[320];
    switch (p->type) {
    case MQTT_CONNACK:
        if (m->state != LINK_LOGGING_IN)
            mqtt_connection_lost(m, "a second CONNACK");
        else
            on_connack(m, p);
        return;
    case MQTT_SUBACK:
        if (mqtt_parse_suback(p, &pid, &reason) != 0) {
            mqtt_connection_lost(m, "malformed SUBACK");
        } else if (reason != 1) {
            /* Refused (0x80 and up), or granted QoS 0: then the broker would neither keep messages for ingestd
             * while it is away nor wait for their PUBACK, and a message would be lost with the process reading it.
             * Treated as a failed login: tried again later, 1 s doubling up to 30 s. A broker's configuration to
             * fix, so an error of its own, once a minute (mqtt_connection_lost's line may have just been written). */
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
            mqtt_connection_lost(m, why);
        } else {
            m->retry_ms = 0;
            /* While messages cannot be stored, each try reconnects: its line said so once already. */
            if (!m->store_failures)
                log_info("MQTT: connected to %s:%d, reading %s", m->host, m->port, m->subscription);
        }
        return;
    case MQTT_PUBLISH:
        if (mqtt_parse_publish(p, &pub) != 0 || pub.qos > 1) {
            mqtt_connection_lost(m, "malformed PUBLISH, or QoS 2 (ingestd subscribes with QoS 1)");
            return;
        }
        if (pub.qos == 0 && !m->qos0_warned) {
            m->qos0_warned = true;
            log_warn("MQTT: the broker delivers messages with QoS 0: it does not keep them for ingestd while it is "
                     "away, and a message is lost with an ingestd killed while storing it (set upgrade_outgoing_qos "
                     "true in mosquitto.conf); warned once");
        }
        mqtt_on_message(m, &pub);
        return;
    case MQTT_PINGRESP:
        m->ping_ms = 0;
        return;
    case MQTT_DISCONNECT:
        mqtt_parse_disconnect(p, &reason);
        snprintf(why, sizeof why, "the broker ended the connection: %s", mqtt_reason_string(reason));
        mqtt_connection_lost(m, why);
        return;
    default:
        snprintf(why, sizeof why, "unexpected packet of type %u from the broker", p->type);
        mqtt_connection_lost(m, why);
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
        mqtt_connection_lost(m, "the broker closed the connection");
        return;
    }
    if (nread < 0) {
        mqtt_connection_lost(m, uv_strerror((int)nread));
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
        mqtt_connection_lost(m, why);
        return;
    }
    if (rc < 0) {
        mqtt_connection_lost(m, "malformed packet length from the broker");
        return;
    }
    if (m->in_flight >= m->max_in_flight && !m->paused) {
        m->paused = true;
        uv_read_stop(s);
        m->reading = false;
    }
}

/* Read the connection, unless paused. */
void mqtt_start_reading(mqtt_ingest *m)
{
    if (!m->tcp || m->reading || m->paused || m->state == LINK_CONNECTING)
        return;
    int rc = uv_read_start((uv_stream_t *)m->tcp, on_alloc, on_read);
    if (rc < 0)
        mqtt_connection_lost(m, uv_strerror(rc));
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
        mqtt_connection_lost(m, uv_strerror(status));
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
        mqtt_connection_lost(m, "out of memory");
        return;
    }
    mqtt_send_packets(m, &out);
    bytebuf_free(&out);
    mqtt_start_reading(m);
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
    m->state = LINK_CONNECTING; /* so that mqtt_connection_lost schedules the retry */
    m->linked_ms = now_ms();
    if (resolve(m, &addr) != 0) {
        mqtt_connection_lost(m, "cannot resolve the broker's host name");
        return;
    }
    if (!(m->tcp = malloc(sizeof *m->tcp))) {
        mqtt_connection_lost(m, "out of memory");
        return;
    }
    uv_tcp_init(m->loop, m->tcp);
    m->tcp->data = m;
    uv_tcp_nodelay(m->tcp, 1);
    m->connect_req.data = m;
    int rc = uv_tcp_connect(&m->connect_req, m->tcp, (const struct sockaddr *)&addr, on_connected);
    if (rc < 0)
        mqtt_connection_lost(m, uv_strerror(rc));
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
            mqtt_connection_lost(m, "no answer to the login within 10 s");
        return;
    case LINK_READY:
        if (m->ping_ms && now - m->ping_ms > KEEPALIVE_S * 1000) {
            mqtt_connection_lost(m, "no answer to a ping within 30 s");
        } else if (!m->ping_ms && now - m->sent_ms >= KEEPALIVE_S * 1000 / 2) {
            bytebuf out = {0};
            if (mqtt_put_pingreq(&out) == 0) {
                m->ping_ms = now;
                mqtt_send_packets(m, &out);
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
    int max_in_flight = 0, session_expiry_s = 0, hold_max_ms = 0;
    bool url_ok = url_parse(url, 1883, &u) == 0 && strcmp(u.scheme, "mqtt") == 0 && u.user[0] && u.host[0];
    if (!url_ok)
        log_error("MQTT_URL must be mqtt://USER:PASSWORD@HOST:PORT (ingestd's user on the broker)");
    /* The broker's Receive Maximum is two bytes. */
    if (!url_ok || config_get_int_in("MQTT_MAX_IN_FLIGHT", 1, 65535, &max_in_flight) != 0 ||
        config_get_int_in("MQTT_SESSION_EXPIRY_S", 60, 2147483647 - DEDUPE_MARGIN_S, &session_expiry_s) != 0 ||
        config_get_int_in("MQTT_HOLD_MAX_MS", 0, 3600000, &hold_max_ms) != 0) {
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
    m->hold_max_ms = (uint64_t)hold_max_ms;
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
void mqtt_finish_stop(mqtt_ingest *m)
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
            mqtt_send_packets(m, &out);
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
    mqtt_drop_held(m); /* not acknowledged: the broker sends them again to the next ingestd */
    if (m->tcp && m->reading) {
        uv_read_stop((uv_stream_t *)m->tcp);
        m->reading = false;
    }
    if (m->in_flight == 0)
        mqtt_finish_stop(m);
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
    hashmap_free(m->held_servers, free);
    free(m);
}
