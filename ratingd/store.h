/* The rating_changes table (schemas/clickhouse/0004_ratings.sql): players' current ratings read from it, a match's
 * rows written to it. Rows go in as RowBinary: ClickHouse 18.16 parses decimal floats inexactly (a stored mu
 * could differ from the computed one in its last bit, and a recomputation would then drift from the daemon), while
 * its text output is exact, so values are written as their bits and read back as text. */
#ifndef MOHSTATS_RATINGD_STORE_H
#define MOHSTATS_RATINGD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytebuf.h"
#include "facts.h"
#include "hashmap.h"
#include "match_rating.h"
#include "ratingd.h"

/* A player's current rating in one family, as the map of current ratings holds it under "family\tguid". */
typedef struct {
    rating r;
    uint64_t last_ms; /* the end of the last rated match */
} stored_rating;

/* The key of the map of current ratings; returns its length (at most cap - 1; longer GUIDs are cut). */
size_t store_rating_key(char *out, size_t cap, rating_family f, const char *guid);

/* Load into ratings (a map of stored_rating *) the current ratings of guids[0 .. n) from table, every family.
 * 0 or a negative error (logged). */
int store_load_ratings(const ratingd_settings *s, const char *table, const char *const *guids, size_t n,
                       hashmap *ratings);

/* Append the RowBinary rows of one match: its own row (kind 'match': rated or not, and why), a 'player' row per
 * rated player and a 'skipped' one per member who played it but was not rated (too little of it, or on no side).
 * before/after/win_prob are per player, read for rated players only. */
int store_match_rows(bytebuf *rows, const match_ref *ref, const match_data *d, const match_plan *plan,
                     const rating *before, const rating *after, const double *win_prob);

/* INSERT rows (store_match_rows') into table, in one statement. 0 or a negative error (logged). */
int store_insert(const ratingd_settings *s, const char *table, const bytebuf *rows);

#endif
