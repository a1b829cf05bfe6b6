/* Leveled logging to stderr: one line per message, with time, level and daemon name. */
#ifndef MOHSTATS_LOG_H
#define MOHSTATS_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Set the name printed on every line and the minimum level (from LOG_LEVEL if level < 0). */
void log_init(const char *name, int level);
int log_level_parse(const char *s); /* "debug" | "info" | "warn" | "error"; -1 if unknown */
int log_enabled(log_level level);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
