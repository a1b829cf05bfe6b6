/* A mosquitto plugin: game servers log in to the broker with their mohstats server id and token, and each may
 * publish only to its own topic; ingestd logs in with a password of its own and may only read the events.
 *
 * Why a plugin and not mosquitto's password file or its dynamic security plugin: both need each token in clear (to
 * hash it their way), and mohstats keeps only the tokens' SHA-256 (schemas/postgres/0001_auth.sql). This plugin
 * checks SHA-256(password) against the hashes ingestd exports from its server registry (broker_accounts.c) into
 * the accounts file: a token works on the broker exactly while it works over HTTP, the server's existing token
 * included, with no step for the operator. The file is read again when it changes (checked once a second), and a
 * server whose token was rotated or revoked is disconnected then.
 *
 * Client ids are checked too: a client that logs in with another's client id takes over its session (MQTT: the
 * older connection is closed, and a persistent session's queue goes to the newcomer). So a game server may use only
 * the id the tracker uses, `opm-game-<its server id>` (docs/tracker-wire.md §1.4), or `opm-game-unknown` (a tracker
 * without its server id yet, whose messages are dropped anyway); and with the tracker's prefix taken by servers,
 * ingestd's sessions (MQTT_CLIENT_ID) cannot be taken by a server.
 *
 * Options (mosquitto.conf, after `plugin PATH`):
 *   plugin_opt_accounts_file PATH            lines "SERVER_ID TOKEN_SHA256_HEX", written by ingestd
 *   plugin_opt_ingest_user NAME              ingestd's user name (default mohstats-ingestd)
 *   plugin_opt_ingest_password_sha256 HEX    SHA-256 of ingestd's password */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "sha256.h"

#define EVENTS_PREFIX "openmohaa/events/"
#define COMMANDS_PREFIX "openmohaa/commands/"
/* The tracker's client id: this, then its server id (or "unknown"). */
#define TRACKER_CLIENT_PREFIX "opm-game-"

/* One game server that may log in. */
typedef struct {
    char id[64];
    char hash[65];
} account;

typedef struct {
    mosquitto_plugin_id_t *pid;
    char *accounts_file;
    char ingest_user[64];
    char ingest_hash[65];
    account *accounts; /* sorted by id */
    size_t naccounts;
    struct timespec file_mtime;
    off_t file_size;
    time_t checked_s;
    /* Denied publishes and subscriptions: logged once a second at most, with how many were not. */
    time_t denial_logged_s;
    unsigned long denials_unlogged;
} broker_auth;

static int account_cmp(const void *a, const void *b)
{
    return strcmp(((const account *)a)->id, ((const account *)b)->id);
}

static const account *account_find(const broker_auth *ba, const char *id)
{
    account key;
    if (strlen(id) >= sizeof key.id)
        return NULL;
    snprintf(key.id, sizeof key.id, "%s", id);
    return bsearch(&key, ba->accounts, ba->naccounts, sizeof *ba->accounts, account_cmp);
}

/* Read the accounts file into a new sorted table; NULL (and *n untouched) when it cannot be read. */
static account *accounts_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 64, len = 0;
    account *list = malloc(cap * sizeof *list);
    char line[256];
    while (list && fgets(line, sizeof line, f)) {
        account a;
        if (sscanf(line, "%63s %64s", a.id, a.hash) != 2 || strlen(a.hash) != 64)
            continue;
        if (len == cap) {
            account *bigger = realloc(list, 2 * cap * sizeof *list);
            if (!bigger) {
                free(list);
                list = NULL;
                break;
            }
            list = bigger;
            cap *= 2;
        }
        list[len++] = a;
    }
    fclose(f);
    if (!list)
        return NULL;
    qsort(list, len, sizeof *list, account_cmp);
    *n = len;
    return list;
}

/* Read the accounts file again if it changed (looked at once a second at most); servers whose token changed or
 * that are gone (revoked) are disconnected: their session was authenticated with what is no longer valid. */
static void accounts_refresh(broker_auth *ba, bool force)
{
    time_t now = time(NULL);
    if (!force && now == ba->checked_s)
        return;
    ba->checked_s = now;
    struct stat st;
    if (stat(ba->accounts_file, &st) != 0) {
        if (force)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "mohstats: no accounts file %s yet: no game server can log in",
                                 ba->accounts_file);
        return;
    }
    if (!force && st.st_mtim.tv_sec == ba->file_mtime.tv_sec && st.st_mtim.tv_nsec == ba->file_mtime.tv_nsec &&
        st.st_size == ba->file_size)
        return;
    size_t n = 0;
    account *fresh = accounts_read(ba->accounts_file, &n);
    if (!fresh) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mohstats: cannot read %s; keeping the %zu accounts read before",
                             ba->accounts_file, ba->naccounts);
        return;
    }
    account *old = ba->accounts;
    size_t nold = ba->naccounts;
    ba->accounts = fresh;
    ba->naccounts = n;
    ba->file_mtime = st.st_mtim;
    ba->file_size = st.st_size;
    size_t kicked = 0;
    for (size_t i = 0; i < nold; i++) {
        const account *now_a = account_find(ba, old[i].id);
        if (!now_a || strcmp(now_a->hash, old[i].hash) != 0) {
            mosquitto_kick_client_by_username(old[i].id, false);
            kicked++;
        }
    }
    free(old);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "mohstats: %zu game server accounts from %s (%zu changed or revoked)", n,
                         ba->accounts_file, kicked);
}

static bool password_matches(const char *password, const char *hash)
{
    char got[65];
    sha256_hex(password, strlen(password), got);
    /* Both are hex digests of fixed length: compare every byte, whatever matches first. */
    unsigned diff = 0;
    for (size_t i = 0; i < 64; i++)
        diff |= (unsigned)(got[i] ^ hash[i]);
    return diff == 0;
}

/* Whether a game server logged in as user may use client_id: the tracker's id of that server (see the top). */
static bool server_client_id_ok(const char *user, const char *client_id)
{
    size_t n = strlen(TRACKER_CLIENT_PREFIX);
    if (!client_id || strncmp(client_id, TRACKER_CLIENT_PREFIX, n) != 0)
        return false;
    return strcmp(client_id + n, user) == 0 || strcmp(client_id + n, "unknown") == 0;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    broker_auth *ba = userdata;
    struct mosquitto_evt_basic_auth *ev = event_data;
    (void)event;
    if (!ev->username || !ev->password)
        return MOSQ_ERR_AUTH;
    if (strcmp(ev->username, ba->ingest_user) == 0)
        return ba->ingest_hash[0] && password_matches(ev->password, ba->ingest_hash) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH;
    const char *client_id = mosquitto_client_id(ev->client);
    if (!server_client_id_ok(ev->username, client_id)) {
        /* Refused before the password is looked at: a client id is no secret, and this says what to fix. */
        mosquitto_log_printf(
            MOSQ_LOG_WARNING,
            "mohstats: refused the login of %s as client %s: a game server's client id must be " TRACKER_CLIENT_PREFIX
            "%s, as the tracker's",
            ev->username, client_id ? client_id : "(none)", ev->username);
        return MOSQ_ERR_AUTH;
    }
    accounts_refresh(ba, false);
    const account *a = account_find(ba, ev->username);
    if (a && password_matches(ev->password, a->hash))
        return MOSQ_ERR_SUCCESS;
    /* A token issued a moment ago may be in the file already: look again (a stat, and a read only if it changed)
     * rather than refuse a server for the rest of the second. */
    ba->checked_s = 0;
    accounts_refresh(ba, false);
    a = account_find(ba, ev->username);
    if (a && password_matches(ev->password, a->hash))
        return MOSQ_ERR_SUCCESS;
    /* Named here, because mosquitto's own line ("Client <unknown> disconnected, not authorised") names no one. The
     * password is never logged. */
    mosquitto_log_printf(MOSQ_LOG_WARNING, "mohstats: refused the login of %s as client %s: %s", ev->username,
                         client_id,
                         a ? "wrong token (rotated? the tracker's opm_mqtt_password must be its opm_server_token)"
                           : "no active game server has this id (never registered, or revoked)");
    return MOSQ_ERR_AUTH;
}

/* Whether topic is PREFIX followed by exactly id. */
static bool topic_is(const char *topic, const char *prefix, const char *id)
{
    size_t n = strlen(prefix);
    return strncmp(topic, prefix, n) == 0 && strcmp(topic + n, id) == 0;
}

/* Whether topic is a subscription to every server's events: openmohaa/events/+ (or #), shared or not. */
static bool events_of_all(const char *topic)
{
    if (strncmp(topic, "$share/", 7) == 0) {
        const char *rest = strchr(topic + 7, '/');
        if (!rest)
            return false;
        topic = rest + 1;
    }
    return strcmp(topic, EVENTS_PREFIX "+") == 0 || strcmp(topic, EVENTS_PREFIX "#") == 0;
}

/* A game server's publish or subscription was denied: a tracker misconfigured (another server's id in
 * opm_server_id, no id yet: openmohaa/events/unknown) or a client trying what it may not. The broker itself says
 * nothing of a denied publish (MQTT 3.1.1 has no refusal for one), so this is where an operator sees it. */
static void log_denial(broker_auth *ba, const struct mosquitto_evt_acl_check *ev, const char *user)
{
    time_t now = time(NULL);
    if (now == ba->denial_logged_s) {
        ba->denials_unlogged++;
        return;
    }
    const char *client_id = mosquitto_client_id(ev->client);
    mosquitto_log_printf(
        MOSQ_LOG_WARNING,
        "mohstats: denied game server %s (client %s) %s %s: a server may publish only to " EVENTS_PREFIX
        "%s and read only " COMMANDS_PREFIX "%s (%lu more denials not logged)",
        user, client_id ? client_id : "?",
        ev->access == MOSQ_ACL_WRITE       ? "publishing to"
        : ev->access == MOSQ_ACL_SUBSCRIBE ? "subscribing to"
                                           : "reading",
        ev->topic, user, user, ba->denials_unlogged);
    ba->denial_logged_s = now;
    ba->denials_unlogged = 0;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    broker_auth *ba = userdata;
    struct mosquitto_evt_acl_check *ev = event_data;
    (void)event;
    const char *user = mosquitto_client_username(ev->client);
    if (!user)
        return MOSQ_ERR_ACL_DENIED;
    if (ev->access == MOSQ_ACL_UNSUBSCRIBE)
        return MOSQ_ERR_SUCCESS;
    if (strcmp(user, ba->ingest_user) == 0) {
        /* ingestd reads events; it publishes nothing. */
        if (ev->access == MOSQ_ACL_SUBSCRIBE)
            return events_of_all(ev->topic) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
        if (ev->access == MOSQ_ACL_READ)
            return strncmp(ev->topic, EVENTS_PREFIX, strlen(EVENTS_PREFIX)) == 0 ? MOSQ_ERR_SUCCESS
                                                                                 : MOSQ_ERR_ACL_DENIED;
        return MOSQ_ERR_ACL_DENIED;
    }
    /* A game server: its events out, its commands in (the tracker subscribes to them), nothing else. The id in
     * the topic is what ingestd trusts as the sender, so this check is what makes it true. */
    bool allowed = false;
    if (ev->access == MOSQ_ACL_WRITE)
        allowed = topic_is(ev->topic, EVENTS_PREFIX, user);
    else if (ev->access == MOSQ_ACL_SUBSCRIBE || ev->access == MOSQ_ACL_READ)
        allowed = topic_is(ev->topic, COMMANDS_PREFIX, user);
    if (allowed)
        return MOSQ_ERR_SUCCESS;
    log_denial(ba, ev, user);
    return MOSQ_ERR_ACL_DENIED;
}

static int on_tick(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)event_data;
    accounts_refresh(userdata, false);
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
                          int option_count)
{
    broker_auth *ba = calloc(1, sizeof *ba);
    if (!ba)
        return MOSQ_ERR_NOMEM;
    ba->pid = identifier;
    snprintf(ba->ingest_user, sizeof ba->ingest_user, "mohstats-ingestd");
    for (int i = 0; i < option_count; i++) {
        if (strcmp(options[i].key, "accounts_file") == 0)
            ba->accounts_file = strdup(options[i].value);
        else if (strcmp(options[i].key, "ingest_user") == 0)
            snprintf(ba->ingest_user, sizeof ba->ingest_user, "%s", options[i].value);
        else if (strcmp(options[i].key, "ingest_password_sha256") == 0 && strlen(options[i].value) == 64)
            snprintf(ba->ingest_hash, sizeof ba->ingest_hash, "%s", options[i].value);
    }
    if (!ba->accounts_file || !ba->ingest_hash[0]) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "mohstats: plugin_opt_accounts_file and plugin_opt_ingest_password_sha256 "
                                           "(64 hex digits) must be set");
        free(ba->accounts_file);
        free(ba);
        return MOSQ_ERR_INVAL;
    }
    accounts_refresh(ba, true);
    *userdata = ba;
    if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, ba) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, ba) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, ba))
        return MOSQ_ERR_UNKNOWN;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    broker_auth *ba = userdata;
    (void)options;
    (void)option_count;
    if (ba) {
        mosquitto_callback_unregister(ba->pid, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
        mosquitto_callback_unregister(ba->pid, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
        mosquitto_callback_unregister(ba->pid, MOSQ_EVT_TICK, on_tick, NULL);
        free(ba->accounts);
        free(ba->accounts_file);
        free(ba);
    }
    return MOSQ_ERR_SUCCESS;
}
