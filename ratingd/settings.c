/* ratingd's settings: the table --help prints (docs/configuration.md), and reading it once at start. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rating_settings.h"
#include "ratingd.h"

const config_var ratingd_config_vars[] = {
    {"RATINGD_URL", "http://127.0.0.1:8105", "where ratingd is reached (and listens unless RATINGD_LISTEN is set)"},
    {"RATINGD_LISTEN", "", "host:port ratingd binds (default: from RATINGD_URL)"},
    {"RATING_MIN_FRACTION", "0.5",
     "players who took part in less of a match than this fraction (0 to 1) are not rated for it"},
    {"RATING_MIN_MATCH_S", "60", "matches shorter than this (game time, seconds) are not rated"},
    {"RATING_SETTLE_MS", "2000",
     "a match is rated this long after its match_end was received, with the events received until then: later "
     "ones are left out, by the daemon and by `ratingd recompute` alike"},
    {"RATING_MATCH_IDLE_S", "3600",
     "a match without match_end is recorded as not rated once it has had no event for this long"},
    {"RATING_POLL_MS", "2000", "ratingd looks for finished matches this often"},
    {"RATING_BATCH_MATCHES", "500", "matches rated per step at most (1 to 20000)"},
    {"RATINGD_LEASE_MS", "10000",
     "one ratingd rates at a time; a standby takes over this long after the holder stopped renewing its lease"},
    {"RATINGD_LEASE_KEY", "mohstats:ratingd:lease", "the Redis key of that lease"},
    {NULL, NULL, NULL},
};

/* A number setting within [lo, hi]. */
static int num_setting(const char *name, double lo, double hi, double *out)
{
    const char *s = config_get(name);
    char *end = NULL;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !(v >= lo && v <= hi)) {
        log_error("%s must be a number between %g and %g", name, lo, hi);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int ratingd_settings_load(ratingd_settings *s)
{
    s->clickhouse_url = config_get("CLICKHOUSE_URL");
    s->redis_url = config_get("REDIS_URL");
    s->lease_key = config_get("RATINGD_LEASE_KEY");
    int rc = rating_model_load(&s->model);
    int n = snprintf(s->clickhouse_query_url, sizeof s->clickhouse_query_url, "%s%smax_query_size=%d",
                     s->clickhouse_url, strchr(s->clickhouse_url, '?') ? "&" : "?", RATINGD_MAX_QUERY_SIZE);
    if (n < 0 || (size_t)n >= sizeof s->clickhouse_query_url) {
        log_error("CLICKHOUSE_URL is too long");
        rc = -EINVAL;
    }
    rc |= num_setting("RATING_MIN_FRACTION", 0.01, 1, &s->rules.min_fraction);
    rc |= num_setting("RATING_MIN_MATCH_S", 0, 86400, &s->rules.min_duration_s);
    rc |= rating_inactivity_load(&s->inactivity_per_day);
    rc |= config_get_int_in("RATING_SETTLE_MS", 0, 600000, &s->settle_ms);
    rc |= config_get_int_in("RATING_MATCH_IDLE_S", 1, 30 * 86400, &s->idle_s);
    rc |= config_get_int_in("RATING_POLL_MS", 100, 600000, &s->poll_ms);
    rc |= config_get_int_in("RATING_BATCH_MATCHES", 1, RATINGD_MAX_MATCHES, &s->batch_matches);
    rc |= config_get_int_in("RATINGD_LEASE_MS", 1000, 600000, &s->lease_ms);
    if (!s->lease_key || !*s->lease_key) {
        log_error("RATINGD_LEASE_KEY is empty");
        rc = -EINVAL;
    }
    return rc ? -EINVAL : 0;
}
