/* Leveled logging to stderr: one line per message, with time, level and daemon name. */
#ifndef MOHSTATS_LOG_H
#define MOHSTATS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Set the name printed on every line and the minimum level (from LOG_LEVEL if level < 0). */
void log_init(const char *name, int level);
int log_level_parse(const char *s); /* "debug" | "info" | "warn" | "error"; -1 if unknown */
int log_enabled(log_level level);
/* Leaves errno as it was: a caller may log a failure and then return -errno. */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One kind of line written at most once a second (a flood of refusals must not fill the disk): log_throttle_pass
 * says whether a line may be written at now_ms and counts it when not; when it may, *skipped gets how many were not
 * since the last one written. Zero-initialised: the first line passes. */
typedef struct {
    uint64_t logged_ms, unlogged;
} log_throttle;
bool log_throttle_pass(log_throttle *t, uint64_t now_ms, uint64_t *skipped);

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
