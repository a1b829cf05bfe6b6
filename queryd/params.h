/* Request parameters: every value taken from a URL is checked here before it reaches a query (and is then
 * still escaped by sqlt). Numbers are clamped to their limits; identifiers have bounded length and no
 * control bytes; periods come from a fixed list. */
#ifndef MOHSTATS_PARAMS_H
#define MOHSTATS_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_server.h"
#include "queryd.h"

/* The longest GUID, map, weapon, match or server id accepted from a URL. */
#define IDENT_MAX 64
/* The longest player name (bytes, after conversion to UTF-8). */
#define NAME_MAX_BYTES 96

/* Whether s is a usable identifier: 1..max bytes, none below 0x20 nor 0x7f. */
bool ident_ok(const char *s, size_t max);

/* A number from the URL: absent, empty or malformed gives def; otherwise clamped to [min, max]. */
long param_long_parse(const char *v, long def, long min, long max);
long param_long(http_request *req, const char *name, long def, long min, long max);
/* A flag: 1, true, yes or on. */
bool param_flag(http_request *req, const char *name);

/* An RFC 3339 time (2026-01-31T20:15:00Z, fractions and +hh:mm / -hh:mm offsets allowed) or a plain date
 * (2026-01-31, midnight UTC) into epoch seconds. Returns 0, or -1 when s is not one. */
int param_time_parse(const char *s, int64_t *out);

typedef enum { PERIOD_ALL, PERIOD_DAY, PERIOD_WEEK, PERIOD_MONTH, PERIOD_YEAR } period;

/* Parse a period name (all, day, week, month, year; also today, 24h, 7d, 30d, 365d). NULL or "" is all.
 * Returns 0, or -1 for an unknown name. */
int period_parse(const char *s, period *out);
const char *period_name(period p);

/* The first UTC day a period covers, for a clock at now_s: "YYYY-MM-DD" and its midnight in epoch ms.
 * PERIOD_ALL gives 1970-01-01 and 0. */
void period_bound(period p, int64_t now_s, char day[11], uint64_t *ms);

/* Paging from limit/offset/page: offset wins over page; page is 1-based. */
typedef struct {
    long limit, offset, page;
} paging;
void paging_compute(const char *limit, const char *offset, const char *page, long def_limit, long max_limit,
                    long max_offset, paging *out);
void paging_parse(http_request *req, const queryd *q, long def_limit, paging *out);

/* A player name from the URL as the warehouse stores names: UTF-8 (CP1252 read when the bytes are not
 * UTF-8, as the game sends them) with Quake colour codes removed. Returns false when empty or too long. */
bool name_normalize(const char *raw, char *out, size_t outlen);

#endif
