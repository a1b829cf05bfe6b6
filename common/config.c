/* Configuration from environment variables, with one table of defaults for --help (docs/configuration.md). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Defaults match what scripts/stack.sh writes for a stack on the conventional ports. */
const config_var config_common_vars[] = {
    {"LOG_LEVEL", "info", "debug, info, warn or error"},
    {"MOHSTATS_URL", "http://127.0.0.1:8080", "the nginx front door: the one base URL for game servers and the forum"},
    {"CLICKHOUSE_URL", "http://default@127.0.0.1:8123/?database=mohstats", "ClickHouse HTTP interface and database"},
    {"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis: the event stream, live state and caches"},
    {"INGEST_STREAM", "mohstats:events",
     "Redis stream of accepted batches: ingestd appends, its writers and achievd read"},
    {"WRITER_GROUP", "clickhouse", "consumer group of the writers that move the stream into ClickHouse"},
    {"POSTGRES_URL", "postgresql://mohstats@127.0.0.1:5432/mohstats", "PostgreSQL: servers, login tokens, trusted IPs"},
    {"MARIADB_URL", "mysql://mohstats@127.0.0.1:3306/smf", "the forum's MariaDB database (SMF tables)"},
    {"CLICKHOUSE_TIMEOUT_MS", "30000", "bound on each ClickHouse request"},
    {"SMF_DB_PREFIX", "smf_", "table prefix of the forum's tables"},
    {"INGESTD_URL", "http://127.0.0.1:8101", "where ingestd is reached (and listens unless INGESTD_LISTEN is set)"},
    {"QUERYD_URL", "http://127.0.0.1:8102", "where queryd is reached (and listens unless QUERYD_LISTEN is set)"},
    {"AUTHD_URL", "http://127.0.0.1:8103", "where authd is reached (and listens unless AUTHD_LISTEN is set)"},
    {"ACHIEVD_URL", "http://127.0.0.1:8104", "where achievd is reached (and listens unless ACHIEVD_LISTEN is set)"},
    {"INGESTD_LISTEN", "", "host:port ingestd binds, e.g. 0.0.0.0:8101 in containers (default: from INGESTD_URL)"},
    {"QUERYD_LISTEN", "", "host:port queryd binds (default: from QUERYD_URL)"},
    {"AUTHD_LISTEN", "", "host:port authd binds (default: from AUTHD_URL)"},
    {"ACHIEVD_LISTEN", "", "host:port achievd binds (default: from ACHIEVD_URL)"},
    {"TRUSTED_PROXIES", "127.0.0.1,::1", "peers whose X-Real-IP header is believed (the nginx front door)"},
    {"HTTP_IDLE_TIMEOUT_MS", "60000", "close keep-alive connections idle this long"},
    {"HTTP_REQUEST_TIMEOUT_MS", "30000", "a request must arrive completely within this time (slow clients get 408)"},
    {"HTTP_MAX_CONNECTIONS", "4096", "connections over this number are refused"},
    {"SHUTDOWN_GRACE_MS", "10000", "on SIGTERM, time allowed for in-flight requests and flushes"},
    {NULL, NULL, NULL},
};

#define MAX_TABLES 8
static const config_var *tables[MAX_TABLES] = {config_common_vars};
static int ntables = 1;

void config_register(const config_var *vars)
{
    for (int i = 0; i < ntables; i++)
        if (tables[i] == vars)
            return;
    if (ntables < MAX_TABLES)
        tables[ntables++] = vars;
}

/* The registered entry for name, or NULL. */
static const config_var *config_find(const char *name)
{
    for (int t = 0; t < ntables; t++)
        for (const config_var *v = tables[t]; v->name; v++)
            if (strcmp(v->name, name) == 0)
                return v;
    return NULL;
}

const char *config_get(const char *name)
{
    const char *env = getenv(name);
    if (env)
        return env;
    const config_var *v = config_find(name);
    return v ? v->default_value : NULL;
}

long long config_get_int(const char *name, long long fallback)
{
    const char *s = config_get(name);
    if (!s || !*s)
        return fallback;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) {
        log_error("%s=%s is not an integer; using %lld", name, s, fallback);
        return fallback;
    }
    return v;
}

int config_get_int_in(const char *name, long long lo, long long hi, int *out)
{
    /* lo - 1 stands for "missing or malformed": out of range whatever the bounds (lo > LLONG_MIN by contract). */
    long long v = config_get_int(name, lo - 1);
    if (v < lo || v > hi || v < INT_MIN || v > INT_MAX) {
        log_error("%s must be between %lld and %lld", name, lo, hi);
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

/* Copy at most n bytes of s into a field of size cap, NUL-terminated; -EINVAL if it does not fit. */
static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -EINVAL;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int url_parse(const char *url, int default_port, url_parts *out)
{
    memset(out, 0, sizeof *out);
    out->port = default_port;
    if (!url)
        return -EINVAL;
    const char *p = strstr(url, "://");
    if (!p || copy_field(out->scheme, sizeof out->scheme, url, (size_t)(p - url)))
        return -EINVAL;
    p += 3;
    const char *end = p + strcspn(p, "/?");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q; /* the last '@' ends the userinfo: passwords may contain '@' */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (copy_field(out->user, sizeof out->user, p, (size_t)(colon - p)) ||
                copy_field(out->password, sizeof out->password, colon + 1, (size_t)(at - colon - 1)))
                return -EINVAL;
        } else if (copy_field(out->user, sizeof out->user, p, (size_t)(at - p))) {
            return -EINVAL;
        }
        p = at + 1;
    }
    const char *host_end;
    if (*p == '[') { /* IPv6 literal */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb || copy_field(out->host, sizeof out->host, p + 1, (size_t)(rb - p - 1)))
            return -EINVAL;
        host_end = rb + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (!host_end)
            host_end = end;
        if (copy_field(out->host, sizeof out->host, p, (size_t)(host_end - p)))
            return -EINVAL;
    }
    if (host_end < end && *host_end == ':') {
        char *pe;
        long port = strtol(host_end + 1, &pe, 10);
        if (pe != end || port <= 0 || port > 65535)
            return -EINVAL;
        out->port = (int)port;
    }
    if (!out->host[0])
        return -EINVAL;
    p = end;
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "?");
        if (copy_field(out->path, sizeof out->path, p, n))
            return -EINVAL;
        p += n;
    }
    if (*p == '?' && copy_field(out->query, sizeof out->query, p + 1, strlen(p + 1)))
        return -EINVAL;
    return 0;
}

void config_redact_url(const char *url, char *out, size_t outlen)
{
    if (!outlen)
        return;
    const char *scheme = url ? strstr(url, "://") : NULL;
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, outlen, "%s", url ? url : "");
        return;
    }
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}

/* Whether a setting holds a secret that --help must not print. */
static int config_is_secret(const char *name)
{
    return strstr(name, "TOKEN") || strstr(name, "SECRET") || strstr(name, "PASSWORD");
}

void config_print_help(const char *daemon, const char *summary)
{
    printf("Usage: %s [--help]\n\n%s\n\nConfiguration (environment variables, current value in brackets):\n", daemon,
           summary);
    for (int t = 0; t < ntables; t++) {
        for (const config_var *v = tables[t]; v->name; v++) {
            char shown[512];
            const char *val = config_get(v->name);
            if (config_is_secret(v->name) && val && *val)
                snprintf(shown, sizeof shown, "***");
            else
                config_redact_url(val, shown, sizeof shown);
            printf("  %-26s %s\n  %-26s [%s]\n", v->name, v->help, "", shown);
        }
    }
}
