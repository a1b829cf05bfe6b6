/* The checks of the test tools (browser_check, the dbclients_* checks): one line per check, "ok   - ..." or
 * "FAIL - ...", counted in tool_passed / tool_failed for the summary line each tool prints at its end. Each tool is
 * one translation unit, so the counters are its own. */
#ifndef MOHSTATS_TOOL_CHECK_H
#define MOHSTATS_TOOL_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static unsigned tool_passed, tool_failed;

/* Print one result line and count it. */
static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok)
        tool_passed++;
    else
        tool_failed++;
}

#endif
