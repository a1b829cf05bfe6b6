/* ratingd: skill ratings per player and game mode family, updated after each finished match (docs/ratings.md).
 *
 * The pieces: settings.c (the settings), facts.c (a finished match's facts from raw_events), store.c (the
 * rating_changes table: current ratings in, a match's rows out), rater.c (rate matches in order: the one code path
 * of the daemon and of `ratingd recompute`), worker.c (the daemon's thread: the Redis lease, a step every
 * RATING_POLL_MS), recompute.c and evaluate.c (the commands). */
#ifndef MOHSTATS_RATINGD_H
#define MOHSTATS_RATINGD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "match_rating.h"
#include "rating.h"

extern const config_var ratingd_config_vars[];

/* The most matches one step (or one page of a recomputation) reads, and the query size that lets it: about 50
 * bytes of SQL per match key (an array, a tuple and a cutoff) and per GUID. */
#define RATINGD_MAX_MATCHES 20000
#define RATINGD_MAX_QUERY_SIZE (16 * 1024 * 1024)

typedef struct {
    const char *clickhouse_url, *redis_url;
    /* clickhouse_url with a larger max_query_size: the queries of a step carry its match keys and GUIDs, past
     * the 256 KiB ClickHouse parses by default once a step holds a few thousand matches. */
    char clickhouse_query_url[2048];
    match_rules rules;         /* RATING_MIN_FRACTION, RATING_MIN_MATCH_S */
    rating_model model;        /* OpenSkill's defaults with RATING_BETA (rating_settings.h) */
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
