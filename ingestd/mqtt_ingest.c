/* MQTT in: one libmosquitto client driven by the daemon's libuv loop (a uv_poll on its socket, a timer for its
 * keepalive and reconnects), each message handed to ingest_api_submit as a batch of the server its topic names.
 *
 * Why the topic's server id can be believed: the broker lets a client log in only with an active server's id and
 * token, and publish only to that id's topic (ingestd/broker_auth/). ingestd checks again that the id is an active
 * server (broker_accounts): a server revoked a moment ago may still have a connection the broker has not closed.
 *
 * What "taken" means here: the tracker publishes with QoS 0; the broker upgrades what it delivers to ingestd to
 * the subscription's QoS 1 (upgrade_outgoing_qos) and keeps it in the persistent session until ingestd
 * acknowledges it. libmosquitto sends that PUBACK as soon as the message is read, before the XADD: a message
 * between its PUBACK and its durable append (milliseconds) is lost if ingestd dies right then (SIGKILL, a crash);
 * a clean stop first finishes every message read. README, Known limits, says what else can be lost where. */
#include "mqtt_ingest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "log.h"
#include "metrics.h"

#define EVENTS_PREFIX "openmohaa/events/"
/* Seconds between keepalive pings: the broker drops a client silent for 1.5 times this. */
#define KEEPALIVE_S 30
/* How often the loop lets libmosquitto do its housekeeping (pings, timeouts), and looks at reconnecting. */
#define TICK_MS 500
/* A login the broker has not answered by then is given up, and tried again. */
#define LOGIN_TIMEOUT_MS 10000
/* Packets read at most per readiness of the socket, so one busy broker connection cannot hold the loop long. */
#define READS_PER_POLL 64

const config_var mqtt_ingest_config_vars[] = {
    {"MQTT_URL", "",
     "the MQTT broker game servers publish events to, mqtt://USER:PASSWORD@HOST:PORT with ingestd's own broker "
     "user; empty: ingestd reads no MQTT"},
    {"MQTT_CLIENT_ID", "mohstats-ingestd-{host}",
     "ingestd's persistent session on the broker, kept across restarts: one per ingestd process ({host}: the host "
     "name)"},
    {"MQTT_SHARE_GROUP", "mohstats",
     "the shared subscription's group: the ingestd processes of a group split the "
     "messages, each message to one of them"},
    {"MQTT_MAX_IN_FLIGHT", "1000",
     "messages read but not stored yet, at most: beyond, ingestd stops reading and the broker queues them"},
    {"MQTT_ACCOUNTS_FILE", "",
     "where ingestd writes the active game servers' ids and token hashes for the broker's plugin (empty: not "
     "written; one ingestd writing it is enough)"},
    {"MQTT_ACCOUNTS_REFRESH_MS", "2000",
     "how often that list is read from the server registry: a new, rotated or revoked token reaches the broker "
     "within this"},
    {NULL, NULL, NULL},
};

struct mqtt_ingest {
    uv_loop_t *loop;
    ingest_api *api;
    const broker_accounts *accounts;
    struct mosquitto *mosq;
    char host[256], subscription[192];
    int port;
    uv_poll_t *poll; /* on the client's socket while it has one; freed by its close callback */
    int poll_fd;
    uv_timer_t timer;
    bool linked;    /* the client has a socket (connecting or connected) */
    bool connected; /* the broker accepted the login */
    bool paused;    /* not reading: too many messages in flight, or stopping */
    bool stopping, stopped;
    uint64_t linked_ms; /* when the current connection attempt began */
    uint64_t retry_at_ms, retry_ms;
    uint64_t failure_logged_ms;
    unsigned in_flight, max_in_flight;
    void (*stop_done)(void *);
    void *stop_arg;
    metric *received, *accepted, *connected_gauge;
    log_throttle drops_log;
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void poll_close(mqtt_ingest *m)
{
    if (!m->poll)
        return;
    uv_close((uv_handle_t *)m->poll, (uv_close_cb)free);
    m->poll = NULL;
    m->poll_fd = -1;
}

/* Watch the client's socket for what it needs now: reading unless paused, writing while it has output queued. */
static void poll_update(mqtt_ingest *m)
{
    int fd = mosquitto_socket(m->mosq);
    if (fd < 0 || !m->linked) {
        poll_close(m);
        return;
    }
    if (m->poll && m->poll_fd != fd)
        poll_close(m);
    if (!m->poll) {
        m->poll = malloc(sizeof *m->poll);
        if (!m->poll || uv_poll_init(m->loop, m->poll, fd) != 0) {
            free(m->poll);
            m->poll = NULL;
            return;
        }
        m->poll->data = m;
        m->poll_fd = fd;
    }
    int events = (m->paused ? 0 : UV_READABLE) | (mosquitto_want_write(m->mosq) ? UV_WRITABLE : 0);
    if (events)
        uv_poll_start(m->poll, events, on_poll);
    else
        uv_poll_stop(m->poll);
}

/* The connection failed or ended: stop watching it and try again later (1 s, doubling up to 30 s). */
static void connection_lost(mqtt_ingest *m, const char *why)
{
    if (!m->linked)
        return;
    bool was_connected = m->connected;
    m->linked = m->connected = false;
    metric_set(m->connected_gauge, 0);
    poll_close(m);
    if (m->stopping)
        return;
    m->retry_ms = was_connected ? 1000 : (m->retry_ms ? m->retry_ms * 2 : 1000);
    if (m->retry_ms > 30000)
        m->retry_ms = 30000;
    m->retry_at_ms = now_ms() + m->retry_ms;
    if (was_connected || now_ms() - m->failure_logged_ms >= 60000) {
        log_warn("MQTT broker %s:%d: %s; reconnecting in %llu s (game servers fall back to HTTP meanwhile)", m->host,
                 m->port, why, (unsigned long long)m->retry_ms / 1000);
        m->failure_logged_ms = now_ms();
    }
}

static void start_connect(mqtt_ingest *m)
{
    /* A host name is resolved here, blocking the loop: give MQTT_URL an address, or a name /etc/hosts knows. */
    int rc = mosquitto_connect_async(m->mosq, m->host, m->port, KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        m->linked = true; /* so that connection_lost schedules the retry */
        connection_lost(m, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return;
    }
    m->linked = true;
    m->linked_ms = now_ms();
    poll_update(m);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    mqtt_ingest *m = h->data;
    int rc = MOSQ_ERR_SUCCESS;
    if (status < 0 || (events & UV_READABLE))
        rc = mosquitto_loop_read(m->mosq, READS_PER_POLL);
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE))
        rc = mosquitto_loop_write(m->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS)
        connection_lost(m, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    else
        poll_update(m);
}

static void on_timer(uv_timer_t *t)
{
    mqtt_ingest *m = t->data;
    if (m->stopping)
        return;
    if (!m->linked) {
        if (now_ms() >= m->retry_at_ms)
            start_connect(m);
        return;
    }
    if (!m->connected && now_ms() - m->linked_ms > LOGIN_TIMEOUT_MS) {
        /* The next connect closes this socket (libmosquitto does, before it opens one). */
        connection_lost(m, "no answer to the login within 10 s");
        return;
    }
    int rc = mosquitto_loop_misc(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS)
        connection_lost(m, mosquitto_strerror(rc));
    else
        poll_update(m);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mqtt_ingest *m = obj;
    if (rc != 0) {
        /* The library ends the connection; connection_lost follows with the retry. */
        log_error("MQTT broker %s:%d refused ingestd's login: %s (check MQTT_URL's user and password)", m->host,
                  m->port, mosquitto_connack_string(rc));
        return;
    }
    m->connected = true;
    m->retry_ms = 0;
    metric_set(m->connected_gauge, 1);
    /* The session is persistent, so the broker keeps this subscription; subscribing again costs nothing. */
    rc = mosquitto_subscribe(mosq, NULL, m->subscription, 1);
    if (rc != MOSQ_ERR_SUCCESS)
        log_error("MQTT: cannot subscribe to %s: %s", m->subscription, mosquitto_strerror(rc));
    else
        log_info("MQTT: connected to %s:%d, reading %s", m->host, m->port, m->subscription);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    connection_lost(obj, rc == 0 ? "disconnected" : "connection lost");
}

/* Count a message by outcome: mohstats_mqtt_messages_total{outcome="accepted" or the refusal's reason}. */
static void count_outcome(const char *outcome)
{
    char label[96];
    snprintf(label, sizeof label, "outcome=\"%s\"", outcome);
    metric_inc(metrics_counter("mohstats_mqtt_messages_total", "MQTT messages read, by outcome", label));
}

/* Drop a message that is not a batch of an active server: counted, and logged at most once a second. */
static void drop(mqtt_ingest *m, const char *outcome, const char *topic, const char *why)
{
    count_outcome(outcome);
    uint64_t skipped;
    if (!log_throttle_pass(&m->drops_log, now_ms(), &skipped))
        return;
    char more[64] = "";
    if (skipped)
        snprintf(more, sizeof more, " (and %llu more dropped since the last line)", (unsigned long long)skipped);
    log_warn("MQTT: dropped a message on %.100s: %s%s", topic, why, more);
}

static void finish_stop(mqtt_ingest *m);

/* A message's batch was stored or refused (ingest_api logged a refusal). */
static void on_ingested(int status, const char *reason, const char *message, void *arg)
{
    mqtt_ingest *m = arg;
    (void)message;
    m->in_flight--;
    if (status == 202)
        metric_inc(m->accepted);
    else
        count_outcome(reason ? reason : "refused");
    if (m->stopping) {
        if (m->in_flight == 0)
            finish_stop(m);
        return;
    }
    if (m->paused && m->in_flight <= m->max_in_flight / 2) {
        m->paused = false;
        poll_update(m);
    }
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    mqtt_ingest *m = obj;
    (void)mosq;
    metric_inc(m->received);
    const char *topic = msg->topic ? msg->topic : "";
    size_t plen = strlen(EVENTS_PREFIX);
    const char *id = strncmp(topic, EVENTS_PREFIX, plen) == 0 ? topic + plen : NULL;
    if (!id || !*id || strchr(id, '/') || strlen(id) >= 64) {
        drop(m, "bad_topic", topic, "not openmohaa/events/<server id>");
        return;
    }
    if (strcmp(id, "unknown") == 0) {
        drop(m, "unknown_server", topic,
             "the tracker has no server id yet (it registers over HTTP; set opm_server_id and opm_server_token)");
        return;
    }
    if (broker_accounts_active(m->accounts, id) == 0) {
        drop(m, "unknown_or_revoked_server", topic, "no active server has this id (revoked, or never registered)");
        return;
    }
    m->in_flight++;
    if (ingest_api_submit(m->api, id, "mqtt", msg->payload ? msg->payload : "", (size_t)msg->payloadlen, on_ingested,
                          m) != 0) {
        m->in_flight--;
        count_outcome("storage_unavailable");
        log_error("MQTT: out of memory: a message of server %s was lost", id);
        return;
    }
    if (m->in_flight >= m->max_in_flight)
        m->paused = true; /* poll_update, after this read, stops reading */
}

mqtt_ingest *mqtt_ingest_new(uv_loop_t *loop, ingest_api *api, const broker_accounts *accounts, int *err)
{
    *err = 0;
    const char *url = config_get("MQTT_URL");
    if (!url || !*url)
        return NULL;
    char id_setting[256], client_id[256], hostname[128] = "localhost";
    url_parts u;
    int max_in_flight = 0;
    bool url_ok = url_parse(url, 1883, &u) == 0 && strcmp(u.scheme, "mqtt") == 0 && u.user[0] && u.host[0];
    if (!url_ok)
        log_error("MQTT_URL must be mqtt://USER:PASSWORD@HOST:PORT (ingestd's user on the broker)");
    if (!url_ok || config_get_int_in("MQTT_MAX_IN_FLIGHT", 1, 1000000, &max_in_flight) != 0) {
        *err = -EINVAL;
        return NULL;
    }
    mqtt_ingest *m = calloc(1, sizeof *m);
    if (!m) {
        *err = -ENOMEM;
        return NULL;
    }
    snprintf(m->host, sizeof m->host, "%s", u.host);
    m->port = u.port;
    m->max_in_flight = (unsigned)max_in_flight;
    snprintf(id_setting, sizeof id_setting, "%s", config_get("MQTT_CLIENT_ID"));
    gethostname(hostname, sizeof hostname - 1);
    char *at = strstr(id_setting, "{host}");
    if (at)
        snprintf(client_id, sizeof client_id, "%.*s%s%s", (int)(at - id_setting), id_setting, hostname, at + 6);
    else
        snprintf(client_id, sizeof client_id, "%s", id_setting);
    snprintf(m->subscription, sizeof m->subscription, "$share/%s/" EVENTS_PREFIX "+", config_get("MQTT_SHARE_GROUP"));
    mosquitto_lib_init();
    /* clean_session false: the broker keeps the subscription and queues messages while ingestd is away. */
    m->mosq = mosquitto_new(client_id, false, m);
    if (!m->mosq || mosquitto_username_pw_set(m->mosq, u.user, u.password) != MOSQ_ERR_SUCCESS) {
        if (m->mosq)
            mosquitto_destroy(m->mosq);
        free(m);
        mosquitto_lib_cleanup();
        *err = -ENOMEM;
        return NULL;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    m->loop = loop;
    m->api = api;
    m->accounts = accounts;
    m->poll_fd = -1;
    m->received = metrics_counter("mohstats_mqtt_received_total", "MQTT messages read from the broker", NULL);
    m->accepted =
        metrics_counter("mohstats_mqtt_messages_total", "MQTT messages read, by outcome", "outcome=\"accepted\"");
    m->connected_gauge =
        metrics_gauge("mohstats_mqtt_connected", "1 while ingestd is logged in to the MQTT broker", NULL);
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    uv_timer_start(&m->timer, on_timer, TICK_MS, TICK_MS);
    log_info("MQTT: reading %s as %s (session %s)", m->subscription, u.user, client_id);
    start_connect(m);
    return m;
}

static void on_timer_closed(uv_handle_t *h)
{
    mqtt_ingest *m = h->data;
    m->stop_done(m->stop_arg);
}

/* Every message read is stored or refused: log out (the session stays on the broker) and close the handles. */
static void finish_stop(mqtt_ingest *m)
{
    if (m->stopped)
        return;
    m->stopped = true;
    if (m->connected) {
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_write(m->mosq, 1);
    }
    m->linked = m->connected = false;
    metric_set(m->connected_gauge, 0);
    poll_close(m);
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}

void mqtt_ingest_stop(mqtt_ingest *m, void (*done)(void *), void *arg)
{
    m->stop_done = done;
    m->stop_arg = arg;
    m->stopping = true;
    m->paused = true;
    if (m->linked)
        poll_update(m);
    if (m->in_flight == 0)
        finish_stop(m);
}

void mqtt_ingest_free(mqtt_ingest *m)
{
    if (!m)
        return;
    mosquitto_destroy(m->mosq);
    mosquitto_lib_cleanup();
    free(m);
}
