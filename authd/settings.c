/* authd's settings and the request-reading helpers both API halves use. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"
#include "log.h"

const config_var authd_config_vars[] = {
    {"AUTHD_TOKEN_KEY", "", "64 hex digits, secret: login codes are derived from it (`authd keygen` makes one)"},
    {"FORUM_API_TOKEN_SHA256", "",
     "SHA-256 hex of the forum's secret (its mohaa_stats_server_token setting); empty: forum calls answer 503"},
    {"LOGIN_TOKEN_TTL_DAYS", "365", "days a login code stays valid (regenerating revokes it sooner)"},
    {"PENDING_IP_TTL_H", "24", "hours a login from a new address waits for the member's approval"},
    {"AUTH_MAX_IDENTITIES", "3", "GUIDs one member may have linked, unless the forum sets mohaa_stats_max_identities"},
    {"AUTH_VERIFY_FROM", "registered", "registered: logins only from registered game servers' addresses; or any"},
    {"AUTH_VERIFY_FAILURES_PER_MINUTE", "30",
     "failed logins allowed per game server (its address; IPv6: its /64) and minute, all its players together"},
    {"AUTH_VERIFY_PLAYER_FAILURES_PER_MINUTE", "5",
     "failed logins allowed per player (the GUID a game server sends, on that server) and minute"},
    {NULL, NULL, NULL},
};

/* n bytes from 2n hex digits; -1 if s is anything else. */
static int hex_decode(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
            sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

int authd_settings_load(authd *a)
{
    const char *key = config_get("AUTHD_TOKEN_KEY");
    if (!key || hex_decode(key, a->code_key, sizeof a->code_key) != 0) {
        log_error("AUTHD_TOKEN_KEY must be 64 hex digits (a secret; `authd keygen` prints one)");
        return -EINVAL;
    }
    const char *forum = config_get("FORUM_API_TOKEN_SHA256");
    uint8_t raw[32];
    if (forum && *forum) {
        if (hex_decode(forum, raw, sizeof raw) != 0) {
            log_error("FORUM_API_TOKEN_SHA256 must be the 64 hex digits of a SHA-256 (`authd keygen`)");
            return -EINVAL;
        }
        for (size_t i = 0; i < 64; i++)
            a->forum_hash[i] = (char)tolower((unsigned char)forum[i]);
    } else {
        log_warn("FORUM_API_TOKEN_SHA256 is not set: the forum's calls (/auth/device, ...) answer 503");
    }
    a->code_ttl_days = (int)config_get_int("LOGIN_TOKEN_TTL_DAYS", 365);
    a->pending_hours = (int)config_get_int("PENDING_IP_TTL_H", 24);
    a->max_identities = (int)config_get_int("AUTH_MAX_IDENTITIES", 3);
    long long per_minute = config_get_int("AUTH_VERIFY_FAILURES_PER_MINUTE", 30);
    long long player_per_minute = config_get_int("AUTH_VERIFY_PLAYER_FAILURES_PER_MINUTE", 5);
    const char *from = config_get("AUTH_VERIFY_FROM");
    if (a->code_ttl_days < 1 || a->code_ttl_days > 36500 || a->pending_hours < 1 || a->pending_hours > 8760 ||
        a->max_identities < 1 || per_minute < 1 || player_per_minute < 1) {
        log_error("LOGIN_TOKEN_TTL_DAYS (1-36500), PENDING_IP_TTL_H (1-8760), AUTH_MAX_IDENTITIES, "
                  "AUTH_VERIFY_FAILURES_PER_MINUTE and AUTH_VERIFY_PLAYER_FAILURES_PER_MINUTE must be positive");
        return -EINVAL;
    }
    if (strcmp(from, "registered") != 0 && strcmp(from, "any") != 0) {
        log_error("AUTH_VERIFY_FROM must be registered or any");
        return -EINVAL;
    }
    a->verify_from_any = strcmp(from, "any") == 0;
    if (mdb_smf_prefix(a->smf_prefix, sizeof a->smf_prefix) != 0)
        return -EINVAL;
    if (player_per_minute > per_minute)
        log_warn("AUTH_VERIFY_PLAYER_FAILURES_PER_MINUTE (%lld) is above AUTH_VERIFY_FAILURES_PER_MINUTE (%lld): "
                 "one player can then spend the whole server's allowance",
                 player_per_minute, per_minute);
    if (login_limits_init(&a->verify_limits, (double)per_minute, (double)player_per_minute) != 0)
        return -ENOMEM;
    a->forum_failures = rate_limit_new(10, 10);
    return a->forum_failures ? 0 : -ENOMEM;
}

/* A form body (key=value&...) as an object of strings; later keys win, as in JSON. */
static cJSON *form_object(const char *body, size_t len)
{
    cJSON *o = cJSON_CreateObject();
    char *copy = malloc(len + 1);
    if (!o || !copy) {
        free(copy);
        cJSON_Delete(o);
        return NULL;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    for (char *save = NULL, *pair = strtok_r(copy, "&\r\n", &save); pair; pair = strtok_r(NULL, "&\r\n", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq || eq == pair)
            continue;
        *eq = '\0';
        long kl = http_percent_decode(pair, strlen(pair), true);
        long vl = http_percent_decode(eq + 1, strlen(eq + 1), true);
        if (kl < 0 || vl < 0 || memchr(pair, '\0', (size_t)kl) || memchr(eq + 1, '\0', (size_t)vl))
            continue; /* a malformed escape or an encoded NUL: the field is not readable */
        cJSON_DeleteItemFromObjectCaseSensitive(o, pair);
        cJSON_AddStringToObject(o, pair, eq + 1);
    }
    free(copy);
    return o;
}

cJSON *authd_body(http_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    return authd_body_parse(body, len);
}

cJSON *authd_body_parse(const char *body, size_t len)
{
    while (len && isspace((unsigned char)*body))
        body++, len--;
    if (len && *body == '{') {
        cJSON *o = cJSON_ParseWithLength(body, len);
        if (cJSON_IsObject(o))
            return o;
        cJSON_Delete(o);
        return NULL;
    }
    return form_object(body, len);
}

long authd_member_str(const char *s)
{
    if (!s || !*s || strlen(s) > 10 || strspn(s, "0123456789") != strlen(s))
        return 0;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 2147483647L ? v : 0;
}

long authd_member_id(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return v->valuedouble >= 1 && v->valuedouble <= 2147483647.0 && v->valuedouble == floor(v->valuedouble)
                   ? (long)v->valuedouble
                   : 0;
    return cJSON_IsString(v) ? authd_member_str(v->valuestring) : 0;
}

const char *authd_text(const cJSON *o, const char *name, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(v))
        return v->valuestring;
    buf[0] = '\0';
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 1e15)
            snprintf(buf, len, "%.0f", d);
        else
            snprintf(buf, len, "%g", d);
    }
    return buf;
}

bool authd_truthy(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v))
        return v->valuedouble != 0;
    if (cJSON_IsString(v))
        return !strcasecmp(v->valuestring, "1") || !strcasecmp(v->valuestring, "true") ||
               !strcasecmp(v->valuestring, "yes") || !strcasecmp(v->valuestring, "on");
    return false;
}
