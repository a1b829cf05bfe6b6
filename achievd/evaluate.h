/* Achievement evaluation: events in, per-member metric values and unlocks out. Pure logic over the state of
 * players and matches (no I/O), so that replaying the same events from the same state gives the same result:
 * the pipeline (pipeline.c) relies on that for exactly-once. */
#ifndef MOHSTATS_ACHIEVD_EVALUATE_H
#define MOHSTATS_ACHIEVD_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "criteria.h"
#include "event.h"
#include "game_vocab.h"

/* A forum achievement definition as achievd evaluates it. */
typedef struct {
    char code[65];
    uint32_t requirement; /* requirement_value, at least 1 */
    uint32_t points;
    int metric;         /* criteria_lookup; -1 when the type is unknown (skipped) */
    uint32_t threshold; /* from the type's name, else 0 */
} ach_def;

/* What the evaluator says about one (member, code): progress in the definition's units, capped at its
 * requirement; unlocked when it was reached by this event (at the event's receive time). */
typedef struct {
    uint32_t member;
    const char *code;
    uint32_t progress;
    bool unlocked;
    uint64_t at_ms;
    const char *match_key;
    const char *guid;
} ach_write;

typedef struct evaluator evaluator;

/* The forum member an event's player is, or 0 for guests (unauth_*), bots and unlinked GUIDs; received_ms is the
 * event's receive time (a link credits the events after the moment it was seen: the ones before are a backfill's). */
typedef uint32_t (*ach_member_fn)(void *arg, const char *guid, uint64_t smf_id, uint64_t received_ms);
typedef void (*ach_write_fn)(void *arg, const ach_write *w);

evaluator *evaluator_new(ach_member_fn member, ach_write_fn write, void *arg);
void evaluator_free(evaluator *ev);

/* Replace the catalogue (defs copied). A definition new since the previous catalogue is given at once to the
 * members whose metric already reached it (written at the time of their latest event). */
int evaluator_set_catalogue(evaluator *ev, const ach_def *defs, size_t n);

/* Apply one event: update the players it names (and, for match_end / team_win, every member of the match),
 * calling write for each definition whose progress moved. Returns 0 or -ENOMEM. */
int evaluator_apply(evaluator *ev, const ach_event *e);

/* Saved state: every player and match changed since the last call, serialized. each(key, blob) is called per
 * object ("p:<member>" or "m:<match_key>"); the blob is valid during the call. Clears the dirty marks. */
typedef int (*ach_state_fn)(void *arg, const char *key, const void *blob, size_t len);
int evaluator_save_dirty(evaluator *ev, ach_state_fn each, void *arg);
/* Load one saved object (as given by save). Returns 0, -EINVAL for a blob it cannot read, -ENOMEM. */
int evaluator_load(evaluator *ev, const char *key, const void *blob, size_t len);
/* Forget every player and match (before a reload). */
void evaluator_reset(evaluator *ev);

/* Add what `from` measured of member (a backfill: the member's past, replayed from ClickHouse) to what `into`
 * has: counts and sums add up, bests take the larger, sets join, unlocks join. Then progress and unlocks of the
 * member's changed metrics are written through `into` at at_ms. Returns 0 or -ENOMEM. */
int evaluator_merge(evaluator *into, const evaluator *from, uint32_t member, uint64_t at_ms);

/* Members with a loaded state, matches in memory (metrics, tests). */
size_t evaluator_players(const evaluator *ev);
size_t evaluator_matches(const evaluator *ev);
/* A member's current value of a metric (tests, operator tools); 0 when unknown. */
uint32_t evaluator_metric(const evaluator *ev, uint32_t member, const char *metric);
/* Forget matches whose last event is older than idle_ms before now_ms (ended, or a server that never ended
 * them), at most 256 per call; gone(key) is called with each one's saved-state key ("m:<match_key>"). */
void evaluator_expire_matches(evaluator *ev, uint64_t now_ms, uint64_t idle_ms,
                              void (*gone)(void *arg, const char *key), void *arg);

#endif
