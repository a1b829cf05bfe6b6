/* ratingd: skill ratings per player and game mode family, updated after each finished match (docs/ratings.md).
 *
 * The pieces: settings.c (the settings), facts.c (a finished match's facts from raw_events), store.c (the
 * rating_changes table: current ratings in, a match's rows out), rater.c (rate matches in order: the one code path
 * of the daemon and of `ratingd recompute`), worker.c (the daemon's thread: the Redis lease, a step every
 * RATING_POLL_MS), recompute.c (the command). */
#ifndef MOHSTATS_RATINGD_H
#define MOHSTATS_RATINGD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "match_rating.h"
#include "rating.h"

extern const config_var ratingd_config_vars[];

typedef struct {
    const char *clickhouse_url, *redis_url;
    match_rules rules;         /* RATING_MIN_FRACTION, RATING_MIN_MATCH_S */
    rating_model model;        /* OpenSkill's defaults */
    double inactivity_per_day; /* RATING_INACTIVITY_SIGMA_PER_DAY */
    int settle_ms;             /* RATING_SETTLE_MS */
    int idle_s;                /* RATING_MATCH_IDLE_S */
    int poll_ms;               /* RATING_POLL_MS */
    int batch_matches;         /* RATING_BATCH_MATCHES */
    int lease_ms;              /* RATINGD_LEASE_MS */
    const char *lease_key;     /* RATINGD_LEASE_KEY */
} ratingd_settings;

/* Read and check the settings; logs what is wrong. 0 or -EINVAL. */
int ratingd_settings_load(ratingd_settings *s);

#endif
