/* Configuration from environment variables: one table of every setting, its default and its meaning. */
#ifndef MOHSTATS_CONFIG_H
#define MOHSTATS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* A parsed service URL: scheme://user:password@host:port/path?query */
typedef struct {
    char scheme[16];
    char user[128];
    char password[256];
    char host[256];
    int port;
    char path[256];  /* without the leading '/', e.g. the database name */
    char query[512]; /* without the leading '?' */
} url_parts;

/* Parse url into out; missing port becomes default_port. Returns 0 or -EINVAL. */
int url_parse(const char *url, int default_port, url_parts *out);

/* One setting: name of the environment variable, default, description (for --help). */
typedef struct {
    const char *name;
    const char *default_value;
    const char *help;
} config_var;

/* The settings every daemon shares; each daemon adds its own list. */
extern const config_var config_common_vars[];

/* The value of a setting: the environment, else its default from the tables, else NULL. */
const char *config_get(const char *name);
/* Integer setting; on a malformed value logs an error and returns the default. */
long long config_get_int(const char *name, long long fallback);
/* Integer setting that must lie within [lo, hi] and fit an int: *out, or -EINVAL after logging which setting and
 * its bounds (a malformed value counts as out of range). */
int config_get_int_in(const char *name, long long lo, long long hi, int *out);
/* Register a daemon's own settings so config_get finds their defaults and --help prints them. */
void config_register(const config_var *vars);
/* Print every registered setting, its current value (passwords masked) and help text. */
void config_print_help(const char *daemon, const char *summary);

/* Mask the password in a URL for logs: postgres://u:***@h/db. Writes into out. */
void config_redact_url(const char *url, char *out, size_t outlen);

#endif
