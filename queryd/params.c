/* Checking and normalising request parameters. */
#include "params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text.h"

bool ident_ok(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

long param_long_parse(const char *v, long def, long min, long max)
{
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno)
        return def;
    if (x < min)
        return min;
    if (x > max)
        return max;
    return (long)x;
}

long param_long(http_request *req, const char *name, long def, long min, long max)
{
    return param_long_parse(http_request_query(req, name), def, min, max);
}

bool param_flag(http_request *req, const char *name)
{
    const char *v = http_request_query(req, name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0);
}

static const struct {
    const char *name;
    period p;
} period_names[] = {
    {"all", PERIOD_ALL},       {"alltime", PERIOD_ALL}, {"all_time", PERIOD_ALL}, {"day", PERIOD_DAY},
    {"today", PERIOD_DAY},     {"24h", PERIOD_DAY},     {"daily", PERIOD_DAY},    {"week", PERIOD_WEEK},
    {"7d", PERIOD_WEEK},       {"weekly", PERIOD_WEEK}, {"month", PERIOD_MONTH},  {"30d", PERIOD_MONTH},
    {"monthly", PERIOD_MONTH}, {"year", PERIOD_YEAR},   {"365d", PERIOD_YEAR},    {"yearly", PERIOD_YEAR},
};

int period_parse(const char *s, period *out)
{
    if (!s || !*s) {
        *out = PERIOD_ALL;
        return 0;
    }
    for (size_t i = 0; i < sizeof period_names / sizeof period_names[0]; i++)
        if (strcmp(s, period_names[i].name) == 0) {
            *out = period_names[i].p;
            return 0;
        }
    return -1;
}

const char *period_name(period p)
{
    static const char *const names[] = {"all", "day", "week", "month", "year"};
    return names[p];
}

void period_bound(period p, int64_t now_s, char day[11], uint64_t *ms)
{
    /* Whole UTC days: today, the last 7 / 30 / 365 days including today (docs/definitions.md). */
    static const int back[] = {0, 0, 6, 29, 364};
    if (p == PERIOD_ALL) {
        memcpy(day, "1970-01-01", 11);
        *ms = 0;
        return;
    }
    int64_t midnight = now_s - (now_s % 86400 + 86400) % 86400 - (int64_t)back[p] * 86400;
    time_t t = (time_t)midnight;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
    *ms = (uint64_t)midnight * 1000;
}

void paging_compute(const char *limit, const char *offset, const char *page, long def_limit, long max_limit,
                    long max_offset, paging *out)
{
    out->limit = param_long_parse(limit, def_limit, 1, max_limit);
    out->page = param_long_parse(page, 1, 1, max_offset + 1);
    if (offset && *offset)
        out->offset = param_long_parse(offset, 0, 0, max_offset);
    else {
        long long o = (long long)(out->page - 1) * out->limit;
        out->offset = o > max_offset ? max_offset : (long)o;
    }
    out->page = out->offset / out->limit + 1;
}

void paging_parse(http_request *req, const queryd *q, long def_limit, paging *out)
{
    paging_compute(http_request_query(req, "limit"), http_request_query(req, "offset"), http_request_query(req, "page"),
                   def_limit, q->max_limit, q->max_offset, out);
}

bool name_normalize(const char *raw, char *out, size_t outlen)
{
    size_t n = raw ? strlen(raw) : 0;
    if (n == 0 || n > NAME_MAX_BYTES || outlen < n * 3 + 1)
        return false;
    size_t m = text_to_utf8(raw, n, out);
    m = text_strip_colors(out, m);
    out[m] = '\0';
    if (m == 0 || m > NAME_MAX_BYTES)
        return false;
    for (size_t i = 0; i < m; i++)
        if ((unsigned char)out[i] < 0x20)
            return false;
    return true;
}

/* Exactly n digits at s, as a number; -1 when they are not there. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int param_time_parse(const char *s, int64_t *out)
{
    /* Each part is read only once the text before it matched, so nothing is read past the string's end. */
    int y, mo = -1, d = -1, h = 0, mi = 0, sec = 0, off = 0;
    if (!s || (y = digits(s, 4)) < 1970 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 || s[7] != '-' ||
        (d = digits(s + 8, 2)) < 1 || d > 31)
        return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if ((h = digits(p + 1, 2)) < 0 || h > 23 || p[3] != ':' || (mi = digits(p + 4, 2)) < 0 || mi > 59 ||
            p[6] != ':' || (sec = digits(p + 7, 2)) < 0 || sec > 60)
            return -1;
        p += 9;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if ((oh = digits(p + 1, 2)) < 0 || oh > 23 || p[3] != ':' || (om = digits(p + 4, 2)) < 0 || om > 59)
                return -1;
            off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
            p += 6;
        } else {
            return -1;
        }
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    /* timegm normalises 2026-02-31 into March: such a date is not a date. */
    if (tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    *out = (int64_t)t - off;
    return 0;
}
