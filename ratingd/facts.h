/* The facts of finished matches: which matches are due for rating, in rating order (from raw_events' match_end
 * events and match_summary), and for each its game type, map, start, end, winner and players (from the aggregates
 * schemas/clickhouse/0010_rating_facts.sql keeps at insert, or raw_events when a match has events outside its
 * window). The same queries serve the daemon and `ratingd
 * recompute`, which is what makes both give the same rows. */
#ifndef MOHSTATS_RATINGD_FACTS_H
#define MOHSTATS_RATINGD_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "match_rating.h"
#include "ratingd.h"

/* A match due for rating. Rating order is (end_ms, match_key). */
typedef struct {
    char *match_key;
    uint64_t end_ms; /* receive time (ms) of its first match_end; of its last event when it has none */
    bool ended;
} match_ref;

typedef struct {
    match_ref *v;
    size_t n;
} match_list;

/* Matches due: ended at least RATING_SETTLE_MS ago, or without match_end and idle RATING_MATCH_IDLE_S, in rating
 * order after *after (NULL: from the first), at most limit. unrated_only leaves out the matches rating_changes
 * already has. idle_since_s (0: none) looks for matches without match_end only among those with events received
 * since then (unix seconds), so that a poll does not aggregate all of match_summary: the daemon passes a time
 * before which every idle match was already found (worker.c). 0 or a negative error (logged). */
int facts_find_matches(const ratingd_settings *s, bool unrated_only, const match_ref *after, size_t limit,
                       uint64_t idle_since_s, match_list *out);
void match_list_free(match_list *l);

/* One match's facts, owning the strings match_facts points at. */
typedef struct {
    match_facts f;
    char *gametype, *map;
    match_player *players;
} match_data;

/* The facts of refs[0 .. n), into out[0 .. n) (same order), with only the events received until each match's
 * end_ms plus RATING_SETTLE_MS (ended matches) or its end_ms (the others). Players come sorted by GUID. 0 or a
 * negative error (logged). */
int facts_load(const ratingd_settings *s, const match_ref *refs, size_t n, match_data *out);
void match_data_free(match_data *d, size_t n);

#endif
