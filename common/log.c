/* Leveled logging: one line per message on stderr, "2026-11-25T10:00:00.123Z ingestd INFO message". */
#include "log.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static char log_name[32] = "mohstats";
static int log_min = LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

int log_level_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

void log_init(const char *name, int level)
{
    if (name)
        snprintf(log_name, sizeof log_name, "%s", name);
    if (level < 0)
        level = log_level_parse(getenv("LOG_LEVEL"));
    log_min = level < 0 ? LOG_INFO : level;
}

int log_enabled(log_level level)
{
    return (int)level >= log_min;
}

void log_msg(log_level level, const char *fmt, ...)
{
    if ((int)level < log_min)
        return;
    /* Callers log a failure and then return -errno (the tools' and admin's files do so in many places): the
     * clock, formatting and fwrite below may set errno, so it is given back as it came. */
    int saved_errno = errno;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_name,
                     level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* One message is one line: control characters from peers never split or forge log lines. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = ' ';
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
    errno = saved_errno;
}

bool log_throttle_pass(log_throttle *t, uint64_t now_ms, uint64_t *skipped)
{
    if (now_ms - t->logged_ms < 1000) {
        t->unlogged++;
        return false;
    }
    *skipped = t->unlogged;
    t->logged_ms = now_ms;
    t->unlogged = 0;
    return true;
}
